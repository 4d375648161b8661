"""Early warning on a shocked city: does the monthly warning list catch the entities whose risk jumped?

    python -m bench monitoring --entities 20000 --months 24     # writes the docs/benchmarks.md section
    python -m bench monitoring --entities 2000 --months 6 --no-write

Issue 15's check. A synthetic city is generated with shocks (``CityConfig.shock_share``: a share of the
entities whose latent risk jumps on a day of the last ``months`` months, with the records that follow;
``truth/shocks.parquet``), ingested, and a model is trained once on the inspections before the first shock
month and promoted. Then, as an operator would each month, ``creditwatch score --as-of`` runs on the day
before the first shock month (the baseline) and on each of the ``months`` month-ends, and ``creditwatch
warnings run --as-of`` after each month-end's score (through the CLI, the local operator).

Measured against the truth:

- **recall**: the share of the shocked entities with a warning (any rule) in the first run dated on or after
  their shock day or in the run after it ("within the month after it happens"); per rule, the share caught by
  that rule in that window;
- **precision**: of the (run, entity) pairs warned, the share whose entity was shocked and whose shock's
  window holds that run; per rule too, with the base rate (the share of the scored entities in a shock's
  window at a run) to compare against;
- **visible**: the share of the shocks whose incident record falls inside their window (what the record rules
  can see at most; the model's rules may see more or less).

A control run follows (``--no-control`` skips it): the same city with ``shock_visibility=0`` — the same shocks
raising the same entities' risk, but no incident records — whose data before the shocks, and so whose model,
are those of the main run: what the warnings catch when a shock shows only through the raised risk.

Deterministic: fixed seeds, one training thread; the scores and warnings depend only on the arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa

from bench.report import write_section

TODAY = date(2026, 11, 27)  # the clock of ingest; the city ends on CityConfig's end_date (2026-06-30)


@dataclass(frozen=True, slots=True)
class Setup:
    entities: int = 2_000
    months: int = 6
    seed: int = 3
    shock_share: float = 0.03
    shock_delta: float = 3.0
    shock_visibility: float = 0.9


def month_ends(first: date, last: date) -> list[date]:
    """The last day of each month from ``first``'s month to ``last`` (``last`` itself closes the series)."""
    out = []
    y, m = first.year, first.month
    while True:
        nxt = date(y + (m == 12), m % 12 + 1, 1)
        end = nxt - timedelta(days=1)
        if end >= last:
            out.append(last)
            return out
        out.append(end)
        y, m = nxt.year, nxt.month


def _cli(home: Path, *args: str) -> Any:
    from typer.testing import CliRunner

    from serving.cli import app

    result = CliRunner().invoke(app, ["--home", str(home), "--json", *args])
    if result.exit_code != 0:
        raise RuntimeError(f"creditwatch {' '.join(args)} failed: {result.output}")
    return json.loads(result.stdout)


def build(setup: Setup, root: Path, say: Callable[[str], None]) -> tuple[Path, list[date], pl.DataFrame]:
    """Generate, ingest, train and promote once, score the baseline and every month-end, run the warnings.

    Returns the home, the run days (baseline first) and the shocks' truth."""
    from features.build import FeatureConfig
    from features.ingest import ingest_paths
    from features.lake import sources
    from features.synth import CityConfig, generate
    from serving.settings import load_settings
    from supervision.platform.db import make_engine, upgrade
    from training.labels import labelled_features
    from training.registry import Registry
    from training.run import TrainConfig, catalog_feature_infos, train

    config = CityConfig(
        entities=setup.entities,
        seed=setup.seed,
        shock_share=setup.shock_share,
        shock_months=setup.months,
        shock_delta=setup.shock_delta,
        shock_visibility=setup.shock_visibility,
    )
    say(f"generating {setup.entities:,} entities with shocks")
    generate(config, root / "city", today=TODAY)
    home = root / "home"
    home.mkdir(parents=True)
    settings = load_settings(home=home)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    say("ingesting")
    ingest_paths(
        sorted(p for p in (root / "city").iterdir() if p.is_file()),
        lake_dir=settings.lake_dir,
        salt=settings.person_salt,
        today=TODAY,
    )
    start = config.shock_start
    say(f"training on the inspections before {start}")
    frame = labelled_features(sources(settings.lake_dir), until=start)
    infos, categorical = catalog_feature_infos(FeatureConfig().catalog)
    _, record = train(
        frame,
        infos=infos,
        categorical=categorical,
        config=TrainConfig(
            valid_months=4,
            test_months=4,
            num_threads=1,
            random_state=0,
            estimator={
                "n_estimators": 60,
                "learning_rate": 0.1,
                "num_leaves": 15,
                "early_stopping_rounds": 10,
            },
        ),
        tracking_uri=settings.mlflow_uri,
        artifact_location=settings.mlflow_artifacts_dir,
    )
    Registry(settings.mlflow_uri).promote(record.version, who="bench", why="monitoring bench")
    runs = [start - timedelta(days=1), *month_ends(start, config.end_date)]
    for i, day in enumerate(runs):
        say(f"run {i}/{len(runs) - 1}: score as of {day}")
        _cli(home, "score", "--as-of", day.isoformat(), "--reasons", "0")
        if i:
            _cli(home, "warnings", "run", "--as-of", day.isoformat())
    return home, runs, pl.read_parquet(root / "city" / "truth" / "shocks.parquet")


def warnings_of(home: Path) -> pl.DataFrame:
    """Every warning kept in the home's database: run_as_of, uscc, rule."""
    from serving.settings import load_settings
    from supervision.monitoring.warnings import Warning
    from supervision.platform.db import make_engine

    engine = make_engine(load_settings(home=home).db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(Warning.run_as_of, Warning.uscc, Warning.rule)).all()
    finally:
        engine.dispose()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"run_as_of": pl.Date, "uscc": pl.String, "rule": pl.String},
        orient="row",
    )


def measure(runs: list[date], shocks: pl.DataFrame, warned: pl.DataFrame, scored: int) -> dict[str, Any]:
    """Recall, precision and visibility of the warnings against the shocks' truth (see the module text)."""
    days = runs[1:]  # the month-ends with warnings
    run_idx = pl.Series("run", np.arange(len(days)))
    day_of = pl.DataFrame({"run": run_idx, "run_as_of": pl.Series(days, dtype=pl.Date)})
    # The shock's window: the first run on or after the shock, and the one after it.
    first = np.searchsorted(np.array(days, dtype="datetime64[D]"), shocks["shock_on"].to_numpy(), side="left")
    s = shocks.with_columns(first=pl.Series(first)).filter(pl.col("first") < len(days))
    window = pl.concat(
        [s.select("uscc", "shock_on", "incident_on", run=pl.col("first") + k) for k in (0, 1)]
    ).filter(pl.col("run") < len(days))
    window = window.join(day_of, on="run")
    w = warned.join(day_of, on="run_as_of")
    hits = w.join(window.select("uscc", "run"), on=["uscc", "run"], how="inner")
    n_shocked = s.height
    caught = hits.select(pl.col("uscc").n_unique()).item() if hits.height else 0
    last_in_window = window.group_by("uscc").agg(pl.col("run_as_of").max().alias("until"))
    visible = (
        s.join(last_in_window, on="uscc")
        .filter(pl.col("incident_on").is_not_null() & (pl.col("incident_on") <= pl.col("until")))
        .height
    )
    pairs = w.select("run", "uscc").unique()
    true_pairs = pairs.join(window.select("uscc", "run"), on=["uscc", "run"], how="inner").height
    rules = sorted(set(warned["rule"].to_list()) | {"any"})
    per_rule: dict[str, dict[str, float | int]] = {}
    for rule in rules:
        wr = w if rule == "any" else w.filter(pl.col("rule") == rule)
        hr = hits if rule == "any" else hits.filter(pl.col("rule") == rule)
        pr = wr.select("run", "uscc").unique()
        tp = pr.join(window.select("uscc", "run"), on=["uscc", "run"], how="inner").height
        per_rule[rule] = {
            "warnings": pr.height,
            "caught": hr["uscc"].n_unique(),
            "recall": hr["uscc"].n_unique() / n_shocked if n_shocked else float("nan"),
            "precision": tp / pr.height if pr.height else float("nan"),
        }
    per_run = [
        {
            "run_as_of": d.isoformat(),
            "warned": int(pairs.filter(pl.col("run") == i).height),
            "shocked_in_window": int(window.filter(pl.col("run") == i).height),
        }
        for i, d in enumerate(days)
    ]
    return {
        "runs": len(days),
        "scored": scored,
        "shocked": n_shocked,
        "caught": caught,
        "recall": caught / n_shocked if n_shocked else float("nan"),
        "visible": visible / n_shocked if n_shocked else float("nan"),
        "warned_pairs": pairs.height,
        "precision": true_pairs / pairs.height if pairs.height else float("nan"),
        "base_rate": window.height / (scored * len(days)) if scored else float("nan"),
        "rules": per_rule,
        "per_run": per_run,
    }


def run(
    setup: Setup, work: Path | None = None, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Build the shocked city's monthly series and measure the warnings (see the module text). Without
    ``work``, in a temporary folder removed at the end."""
    say = progress or (lambda _: None)
    # Synthetic data: the demo mode admits the built-in person salt (a real city sets a secret of its own).
    os.environ.setdefault("CREDITWATCH_DEMO", "1")
    root = work or Path(tempfile.mkdtemp(prefix="bench-monitoring-"))
    load = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        home, runs, shocks = build(setup, root, say)
        scored = pl.read_parquet(home / "scores" / f"as_of={runs[-1].isoformat()}.parquet").height
        result = measure(runs, shocks, warnings_of(home), scored)
    finally:
        if work is None:
            shutil.rmtree(root, ignore_errors=True)
    result |= {
        "setup": {
            "entities": setup.entities,
            "months": setup.months,
            "seed": setup.seed,
            "shock_share": setup.shock_share,
            "shock_delta": setup.shock_delta,
            "shock_visibility": setup.shock_visibility,
        },
        "first_run": runs[1].isoformat(),
        "last_run": runs[-1].isoformat(),
        "seconds": round(time.perf_counter() - started, 1),
        "load": round(load, 1),
    }
    return result


def table(r: dict[str, Any]) -> str:
    """The per-rule table (markdown)."""
    lines = [
        "| rule | (run, entity) warnings | shocked caught | recall | precision |",
        "|---|---|---|---|---|",
    ]
    for rule, v in sorted(r["rules"].items(), key=lambda kv: (kv[0] != "any", kv[0])):
        lines.append(
            f"| {rule} | {v['warnings']:,} | {v['caught']:,} | {v['recall']:.3f} | {v['precision']:.3f} |"
        )
    return "\n".join(lines)


def _write_docs(r: dict[str, Any], command: str, control: dict[str, Any] | None) -> None:
    s = r["setup"]
    if control is None:
        latent = ""
    else:
        model = {k: control["rules"].get(k, {"caught": 0})["caught"] for k in ("probability_rise", "tier_up")}
        reading = (
            " A shock that only raises the risk leaves too few records within a month (the raised complaint"
            " and listing rates are yearly) for the model's probability to move by more than `min_rise` or"
            " into C/D: the recall above is the record rules catching the incidents."
            if control["recall"] < r["recall"] / 2
            else ""
        )
        latent = f"""
**Control: the same shocks without incident records** (`--shock-visibility 0`, the same city and model
before the shocks): recall {control["recall"]:.3f} ({control["caught"]:,} of {control["shocked"]:,}; the
model's rules `probability_rise` {model["probability_rise"]}, `tier_up` {model["tier_up"]}), precision
{control["precision"]:.3f} against the same base rate.{reading}
"""
    ranked = sorted(((v["warnings"], k) for k, v in r["rules"].items() if k != "any"), reverse=True)
    busiest = ", ".join(f"`{k}` ({n:,})" for n, k in ranked[:3])
    seconds = r["seconds"] + (control["seconds"] if control is not None else 0.0)
    section = f"""## Early warning on a shocked city

Command: `{command}` — machine: {platform.machine()}, 2 vCPU, Python {platform.python_version()}, polars
{pl.__version__} (shared machine: load average {r["load"]:.1f} at the start). {r["seconds"]:.0f} s for the
city's generation, ingest, one training, {r["runs"] + 1} score runs and {r["runs"]} warning runs;
{seconds:.0f} s with the control run.

The city: `CityConfig(entities={s["entities"]:,}, seed={s["seed"]}, shock_share={s["shock_share"]},
shock_months={s["months"]}, shock_delta={s["shock_delta"]}, shock_visibility={s["shock_visibility"]})` —
{r["shocked"]:,} entities shocked in {r["runs"]} months (`docs/synthetic-city.md`, "Shocks"). One model
trained on the inspections before the first shock month, then `creditwatch score` on the day before it and on
each month-end from {r["first_run"]} to {r["last_run"]}, and `creditwatch warnings run` after each, with the
rules of `supervision/monitoring/warnings.toml` as shipped.

**Recall {r["recall"]:.3f}** ({r["caught"]:,} of {r["shocked"]:,} shocked entities warned in the first run
on or after their shock or the next; issue 15 asks ≥ 0.80). The shocks' incident records fall in that window
for {r["visible"]:.3f} of them (the generator's `shock_visibility` {s["shock_visibility"]}, less the incidents
that fall after the city's last day): recall rests on that assumption of the generator, see the control below.
**Precision {r["precision"]:.3f}** of the {r["warned_pairs"]:,} (run, entity) warnings, against a base rate
of {r["base_rate"]:.4f} (the share of scored entities in a shock's window at a run): most warnings are for
entities without a shock — the most frequent rules are {busiest}.

{table(r)}

Per rule, "shocked caught" counts the shocked entities that rule warned inside their window, and precision is
the share of that rule's (run, entity) warnings that fall in a shock's window.
`tests/serving/test_shock_recall.py` checks recall ≥ 0.80 on a small city (2,000 entities, 6 monthly runs).
{latent}"""
    write_section(section)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--shock-share", type=float, default=0.03)
    ap.add_argument("--shock-delta", type=float, default=3.0)
    ap.add_argument("--shock-visibility", type=float, default=0.9)
    ap.add_argument(
        "--json",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bench-monitoring.json",
        help="write the full results (per rule, per run, the control) here",
    )
    ap.add_argument("--no-write", action="store_true", help="print results, do not touch docs/benchmarks.md")
    ap.add_argument("--no-control", action="store_true", help="skip the control run without incidents")
    args = ap.parse_args()
    setup = Setup(
        entities=args.entities,
        months=args.months,
        seed=args.seed,
        shock_share=args.shock_share,
        shock_delta=args.shock_delta,
        shock_visibility=args.shock_visibility,
    )
    say = lambda m: print(m, flush=True)  # noqa: E731
    r = run(setup, progress=say)
    control = None
    if not args.no_control and setup.shock_visibility > 0:
        say("control: the same city without incident records")
        control = run(replace(setup, shock_visibility=0.0), progress=say)
    for name, result in (("shocked city", r), ("control", control)):
        if result is None:
            continue
        print(f"{name}:")
        print(table(result))
        summary = {k: v for k, v in result.items() if k not in ("rules", "per_run")}
        print(json.dumps(summary, indent=2, default=str))
    args.json.write_text(json.dumps({"run": r, "control": control}, indent=2, default=str), encoding="utf-8")
    print(f"results: {args.json}")
    if not args.no_write:
        command = f"python -m bench monitoring --entities {args.entities} --months {args.months}"
        _write_docs(r, command, control)


if __name__ == "__main__":
    main()
