"""Sector models on the synthetic city (issue 15): per key sector of ``training/sectors.toml``, the sector
model against the general model on the sector's test rows, through the champion gate.

Run: ``.venv/bin/python -m bench sectors [--city 20000] [--years 5] [--seed 3] [--no-write]`` (or ``make bench
NAME=sectors ARGS='--city 20000'``). Generate, ingest, labels and point-in-time features, the city's entities
as of the training cut-off (the tier cut-offs' population), ``fit_risk_model`` (the general model) and
``training.sectors.with_sector_models`` — exactly what ``creditwatch train`` does, without MLflow. Prints the
per-sector table and writes it to docs/benchmarks.md under "Sector models".
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from bench.report import write_section

HEADING = "## Sector models"


def run(entities: int, years: int, seed: int) -> str:
    from bench._city import city_lake
    from features.build import FeatureConfig
    from features.lake import sources
    from models.routed import RoutedRiskModel
    from training.labels import labelled_features
    from training.run import TrainConfig, catalog_feature_infos, fit_risk_model, population_features
    from training.sectors import SHOWN, card_lines, load_sector_policy, with_sector_models

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        city_lake(home, entities=entities, years=years, seed=seed)
        lake = sources(home / "lake")
        frame = labelled_features(lake)
        fc = FeatureConfig()
        population = population_features(lake, frame, feature_config=fc)
    prepared = time.perf_counter()
    infos, categorical = catalog_feature_infos(fc.catalog)
    config = TrainConfig()
    general = fit_risk_model(
        frame, infos=infos, categorical=categorical, config=config, population=population
    )
    fitted = time.perf_counter()
    policy = load_sector_policy()
    result = with_sector_models(
        general, frame, infos=infos, categorical=categorical, population=population, policy=policy
    )
    sectors_s = time.perf_counter() - fitted

    def row(name: str, metrics: dict[str, float]) -> str:
        return f"| {name} | " + " | ".join(f"{metrics.get(k, float('nan')):.4f}" for k in SHOWN) + " |"

    table = card_lines(result.sectors, policy)[3:]  # the card's table, without its heading and prose
    lines = [
        HEADING,
        "",
        f"Command: `.venv/bin/python -m bench sectors --city {entities} --years {years} --seed {seed}` "
        f"(machine: 2 vCPU, 24 GB, Python 3.11, {platform.machine()}; shared with other jobs): generate, "
        f"ingest, labels and point-in-time features ({frame.height:,} labelled inspections, "
        f"{population.height:,} entities for the tier cut-offs; {prepared - started:.0f} s), the general "
        f"model with the default `TrainConfig` ({fitted - prepared:.0f} s), then the sector models of "
        f"`training/sectors.toml` ({sectors_s:.0f} s) — what `creditwatch train` does, without MLflow.",
        "",
        "Per key sector: the general model and the sector model on the sector's test rows (the general "
        "model's test months, the same IPW weights); **gate**: the champion gate's tolerances "
        "(`training/registry.py` `gate_checks`); **verdict**: kept only if the gate passes and "
        f"`{policy.metric}` gains at least {policy.margin}.",
        "",
        *table,
        "All test rows of the test months (IPW-weighted): the general model, and the model `creditwatch "
        "train` registers (the general model with the won sectors routed to their models; the same model "
        "when none won).",
        "",
        "| model | " + " | ".join(SHOWN) + " |",
        "|---|" + "---|" * len(SHOWN),
        row("general", general.evaluation.metrics),
        row(
            "registered" + (" (routed)" if isinstance(result.model, RoutedRiskModel) else ""),
            result.evaluation.metrics,
        ),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--city", type=int, default=20_000, help="entities of the synthetic city")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--seed", type=int, default=3, help="the synthetic city's seed")
    parser.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    text = run(args.city, args.years, args.seed)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
