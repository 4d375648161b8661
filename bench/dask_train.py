"""Training on Dask: the single-process fit vs ``lightgbm.dask`` on a local cluster (``--dask-local N``), on
the same labelled inspections of a synthetic city, over several seeds.

Run: ``.venv/bin/python -m bench.dask_train [--city 60000] [--years 5] [--seed 3] [--seeds 5] [--workers 2]
[--no-write]``. Generates and ingests the city, builds the labelled features once, then runs
``fit_risk_model`` (the whole fit: LightGBM, cross-fitted calibration, tiers, evaluation; no MLflow) with
``random_state`` 0 … seeds-1, in this process and with a ``DaskTrainer`` on a LocalCluster of ``--workers``
single-threaded workers. Results go to docs/benchmarks.md under "Training on Dask".

``--test-data``: the same comparison on the labelled frame of tests/training/test_dask_train.py (the source
of that test's tolerance: the single-process spread across seeds).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from bench.report import write_section

HEADING = "## Training on Dask"
METRICS = ("test_roc_auc", "test_pr_auc", "test_brier", "test_ece")


def city_frame(entities: int, years: int, seed: int) -> tuple[pl.DataFrame, Any, list[str], float]:
    """Labelled inspections of a generated city, its feature infos and categorical names, and the seconds."""
    import tempfile

    from bench._city import city_lake
    from features.build import FeatureConfig
    from features.lake import sources
    from training.labels import labelled_features
    from training.run import catalog_feature_infos

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        city_lake(home, entities=entities, years=years, seed=seed)
        frame = labelled_features(sources(home / "lake"))
    infos, categorical = catalog_feature_infos(FeatureConfig().catalog)
    return frame, infos, categorical, time.perf_counter() - started


def compare(
    frame: pl.DataFrame, infos: Any, categorical: list[str], config: Any, *, seeds: int, workers: int
) -> dict[str, list[dict[str, float]]]:
    """Per backend ("single", "dask"), per seed: the test metrics, the trees and the seconds of the fit."""
    from features.engine import cluster
    from training.distributed import DaskTrainer
    from training.run import fit_risk_model

    out: dict[str, list[dict[str, float]]] = {"single": [], "dask": []}

    def one(trainer: Any, seed: int) -> dict[str, float]:
        started = time.perf_counter()
        result = fit_risk_model(
            frame,
            infos=infos,
            categorical=categorical,
            config=replace(config, random_state=seed),
            trainer=trainer,
        )
        m = result.evaluation.metrics
        return {
            **{k: float(m[k]) for k in METRICS},
            "trees": float(result.model.estimator.best_iteration_),
            "seconds": time.perf_counter() - started,
        }

    for seed in range(seeds):
        out["single"].append(one(None, seed))
    started = time.perf_counter()
    with cluster(local_workers=workers) as client:
        startup = time.perf_counter() - started
        for seed in range(seeds):
            out["dask"].append(one(DaskTrainer(client), seed))
    for row in out["dask"]:
        row["cluster_start"] = startup
    return out


def _stats(values: list[float], digits: int = 4) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


DIGITS = {"test_brier": 5}


def table(runs: dict[str, list[dict[str, float]]], workers: int) -> list[str]:
    lines = [
        "| fit | " + " | ".join(METRICS) + " | trees | seconds per fit |",
        "|---|" + "---|" * (len(METRICS) + 2),
    ]
    for name, label in (("single", "one process (2 threads)"), ("dask", f"`--dask-local {workers}`")):
        rows = runs[name]
        cells = [_stats([r[k] for r in rows], DIGITS.get(k, 4)) for k in METRICS]
        trees = _stats([r["trees"] for r in rows], 1)
        secs = statistics.fmean(r["seconds"] for r in rows)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {trees} | {secs:.1f} |")
    diffs = [
        _stats([d[k] - s[k] for s, d in zip(runs["single"], runs["dask"], strict=True)], DIGITS.get(k, 4))
        for k in METRICS
    ]
    lines.append("| dask − single (same seed) | " + " | ".join(diffs) + " | | |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--city", type=int, default=60_000, help="entities in the synthetic city")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--seed", type=int, default=3, help="the synthetic city's seed")
    parser.add_argument("--seeds", type=int, default=5, help="model seeds (random_state 0 … seeds-1)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--test-data", action="store_true", help="tests/training/test_dask_train.py's frame")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from training.run import TrainConfig

    if args.test_data:
        from tests.models.factories import CATEGORICAL, INFOS, labelled_frame
        from tests.training.test_dask_train import CONFIG

        frame, infos, categorical, build_s = labelled_frame(6000, seed=11), INFOS, CATEGORICAL, 0.0
        config, data = (
            CONFIG,
            "`labelled_frame(6000, seed=11)` and `CONFIG` of tests/training/test_dask_train.py",
        )
        command = f"--test-data --seeds {args.seeds} --workers {args.workers}"
    else:
        frame, infos, categorical, build_s = city_frame(args.city, args.years, args.seed)
        config = TrainConfig()
        data = (
            f"a synthetic city of {args.city:,} entities over {args.years} years (seed {args.seed}): "
            f"{frame.height:,} labelled inspections, features built in {build_s:.0f} s; "
            "the default `TrainConfig`"
        )
        command = f"--city {args.city} --years {args.years} --seed {args.seed}"
        command += f" --seeds {args.seeds} --workers {args.workers}"
    runs = compare(frame, infos, categorical, config, seeds=args.seeds, workers=args.workers)
    startup = runs["dask"][0]["cluster_start"]
    lines = [
        HEADING,
        "",
        f"Command: `.venv/bin/python -m bench.dask_train {command}`. Data: {data}. Each row: "
        f"`fit_risk_model` (LightGBM with early stopping, cross-fitted calibration, tiers, evaluation; no "
        f"MLflow) with `random_state` 0 … {args.seeds - 1}, mean ± sd over the seeds; the dask fit runs the "
        f"LightGBM booster on a LocalCluster of {args.workers} single-threaded workers (started once, "
        f"{startup:.1f} s, not in the seconds), the rest of the run in this process. Machine: "
        f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, shared "
        "with other jobs.",
        "",
        *table(runs, args.workers),
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_section(section)


if __name__ == "__main__":
    main()
