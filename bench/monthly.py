"""The monthly monitoring run at city scale, against the single score run (issue 15).

    python -m bench monthly --entities 1000000              # writes the docs/benchmarks.md section
    python -m bench monthly --entities 20000 --no-write     # a quick look

What an operator's cron job runs each month (docs/operations.md, "Monthly monitoring"): ``creditwatch score``
(every entity: features, calibrated probability, tier and the top reasons by SHAP), ``creditwatch warnings
run`` (the rules between this run and the last), ``creditwatch monitor compare`` (the tier migration matrix
and the risers explained by the change of their SHAP values) and ``creditwatch monitor feedback``
(calibration per tier, drift, fairness). The single score run is the first of these alone; the benchmark
times each command of the month as a separate process, its wall time and peak resident memory (``ru_maxrss``
of that child, read with ``os.wait4``), so the monthly run's cost shows as a multiple of the score run's.

The city: ``CityConfig(entities=N, shock_share=0.03, shock_months=2)`` — shocks in its last two months, so
the warnings have something to find. The model: trained on a small city of the same generator (``--train-
entities``; the features are the catalog's, whatever the city's size) and promoted in the big city's home:
training is not part of the monthly run. The previous month's score run is made first (untimed but
reported), then the month's cron job is timed. ``--compare-top`` sets how many risers are explained (the
service's maximum, 100, by default: the most a supervisor's page asks for); ``--explain-sample`` also times
the explanation of the change for that many entities at once (:func:`models.monitoring.probability_change`),
the per-entity cost of explaining every riser.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from bench.report import write_section

TODAY = date(2026, 11, 27)
PREVIOUS = date(2026, 5, 31)  # the month-end before the city's last day
CURRENT = date(2026, 6, 30)  # CityConfig's end_date


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    peak_mb: float


def _run(cmd: list[str], env: dict[str, str]) -> tuple[int, str, str, float, float]:
    """Run ``cmd``; return code, stdout, stderr, wall seconds and the child's peak RSS (MB) via wait4."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), seconds, usage.ru_maxrss / 1024


def cli(home: Path, *args: str) -> tuple[Step, Any]:
    """``creditwatch --home HOME --json ARGS`` in a child process: the step's time and memory, its JSON."""
    exe = Path(sys.executable).with_name("creditwatch")
    env = {**os.environ, "CREDITWATCH_DEMO": "1"}
    code, out, err, seconds, peak = _run([str(exe), "--home", str(home), "--json", *args], env)
    if code != 0:
        raise RuntimeError(f"creditwatch {' '.join(args)} failed ({code}): {(out + err)[-2000:]}")
    step = Step(" ".join(args), seconds, peak)
    print(f"  {step.name}: {step.seconds:.1f} s, {step.peak_mb:,.0f} MB", flush=True)
    return step, json.loads(out)


def prepare(root: Path, entities: int, train_entities: int, say: Any) -> Path:
    """Generate and ingest the city, train on a small city of the same generator, promote; the home."""
    from bench._city import city_lake
    from features.build import FeatureConfig
    from features.lake import sources
    from serving.settings import load_settings
    from supervision.platform.db import make_engine, upgrade
    from training.labels import labelled_features
    from training.registry import Registry
    from training.run import TrainConfig, catalog_feature_infos, train

    home = root / "home"
    settings = load_settings(home=home)
    if (home / "ready").exists():
        say(f"reusing {home}")
        return home
    say(f"generating {entities:,} entities")
    home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    salt = settings.person_salt
    # Shocks in the last two months, so the warnings have something to find.
    city_lake(
        root,
        entities=entities,
        seed=11,
        lake=settings.lake_dir,
        salt=salt,
        today=TODAY,
        shock_share=0.03,
        shock_months=2,
    )
    say(f"training on a city of {train_entities:,} entities")
    small_lake = city_lake(
        root / "train-city",
        entities=train_entities,
        seed=12,
        salt=salt,
        today=TODAY,
        shock_share=0.03,
        shock_months=2,
    )
    frame = labelled_features(sources(small_lake))
    infos, categorical = catalog_feature_infos(FeatureConfig().catalog)
    _, record = train(
        frame,
        infos=infos,
        categorical=categorical,
        config=TrainConfig(num_threads=1, random_state=0),
        tracking_uri=settings.mlflow_uri,
        artifact_location=settings.mlflow_artifacts_dir,
    )
    Registry(settings.mlflow_uri).promote(record.version, who="bench", why="monthly bench")
    (home / "ready").write_text("ok\n", encoding="utf-8")
    return home


def explain_sample(home: Path, n: int) -> dict[str, Any]:
    """Time :func:`models.monitoring.probability_change` for ``n`` entities (the first ``n`` by code) of the
    two runs' feature files, in this process."""
    from models.monitoring import probability_change
    from serving.champion import load_champion
    from serving.settings import load_settings

    model, _ = load_champion(load_settings(home=home).mlflow_uri)
    prev = pl.read_parquet(home / "features" / f"as_of={PREVIOUS}.parquet")
    cur = pl.read_parquet(home / "features" / f"as_of={CURRENT}.parquet")
    usccs = cur.get_column("uscc").sort().head(n).to_list()
    started = time.perf_counter()
    change = probability_change(model, prev, cur, usccs)
    seconds = time.perf_counter() - started
    return {"entities": change.entities.height, "seconds": round(seconds, 2)}


def run(
    entities: int, train_entities: int, top: int, sample: int, work: Path | None, say: Any
) -> dict[str, Any]:
    root = work or Path(tempfile.mkdtemp(prefix="bench-monthly-"))
    try:
        home = prepare(root, entities, train_entities, say)
        cli(home, "db", "upgrade")  # a reused home made by an older version
        load = os.getloadavg()[0]
        done = home / "scores" / f"as_of={PREVIOUS}.manifest.json"
        if done.exists():  # a reused home: last month's run is there already
            previous = Step(f"score --as-of {PREVIOUS} (reused)", float("nan"), float("nan"))
        else:
            say(f"previous month: score as of {PREVIOUS}")
            previous, _ = cli(home, "score", "--as-of", PREVIOUS.isoformat())
        month: list[Step] = []
        say(f"the month: score as of {CURRENT}")
        step, scored = cli(home, "score", "--as-of", CURRENT.isoformat())
        month.append(step)
        say("warnings run")
        step, warned = cli(home, "warnings", "run", "--as-of", CURRENT.isoformat())
        month.append(step)
        say(f"monitor compare --top {top}")
        step, compared = cli(home, "monitor", "compare", "--top", str(top))
        month.append(step)
        say("monitor feedback")
        step, _ = cli(home, "monitor", "feedback")
        month.append(step)
        sampled = explain_sample(home, sample) if sample else None
    finally:
        if work is None:
            shutil.rmtree(root, ignore_errors=True)
    return {
        "generated": entities,
        "entities": scored["entities"],
        "previous": previous,
        "month": month,
        "warnings": warned,
        "risers_explained": len(compared["risers"]),
        "sample": sampled,
        "load": round(load, 1),
    }


def _write_docs(r: dict[str, Any], command: str) -> None:
    score = r["month"][0]
    base = score.seconds
    total = sum(s.seconds for s in r["month"])
    rows = "\n".join(
        f"| `creditwatch {s.name}` | {s.seconds:.1f} s | {s.peak_mb:,.0f} MB | {s.seconds / base:.2f} |"
        for s in r["month"]
    )
    sample = r["sample"]
    sampled = (
        ""
        if sample is None
        else f"""
Explaining the change for more entities at once: `models.monitoring.probability_change` on
{sample["entities"]:,} entities took {sample["seconds"]:.1f} s in one process (exact TreeSHAP of both runs'
rows, then the per-dimension sums and the top features per entity): about
{sample["seconds"] / max(sample["entities"], 1) * 1e3:.2f} ms an entity, so every one of {r["entities"]:,}
entities would take about {sample["seconds"] / max(sample["entities"], 1) * r["entities"] / 60:.0f} min on one
core — the reason the monthly job explains the risers a supervisor reads, not the whole city.
"""
    )
    found = r["warnings"]["found"]
    section = f"""## Monthly monitoring run at city scale

Command: `{command}` — machine: {platform.machine()}, 2 vCPU, Python {platform.python_version()}, polars
{pl.__version__} (shared machine: load average {r["load"]:.1f} at the start). Each command is its own process;
peak memory is that process's maximum resident set (`ru_maxrss` through `os.wait4`).

The month of the cron job in `docs/operations.md` on a synthetic city of {r["generated"]:,} entities, of which
{r["entities"]:,} are open on the day and scored (shocks in its last two months); the previous month's run
already made.{(" " + r["note"]) if r.get("note") else ""}

| step | wall | peak memory | × the score run |
|---|---|---|---|
{rows}
| **the monthly run** | **{total:.1f} s** | | **{total / score.seconds:.2f}** |

The score run includes the features of every entity (the related-party graph) and the top reasons (SHAP) of
each. The warnings found: {", ".join(f"{k} {v:,}" for k, v in found.items())}. `monitor compare` explained
{r["risers_explained"]} risers by the change of their SHAP values.
{sampled}"""
    write_section(section)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--train-entities", type=int, default=20_000)
    ap.add_argument("--compare-top", type=int, default=100)
    ap.add_argument("--explain-sample", type=int, default=10_000)
    ap.add_argument("--work", type=Path, default=None, help="keep the city and home here (reused if present)")
    ap.add_argument("--no-write", action="store_true", help="print results, do not touch docs/benchmarks.md")
    ap.add_argument(
        "--json",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bench-monthly.json",
        help="write the results here",
    )
    ap.add_argument("--write-from", type=Path, help="write the docs section from a results file; run nothing")
    args = ap.parse_args()
    command = f"python -m bench monthly --entities {args.entities}"
    if args.write_from is not None:
        saved = json.loads(args.write_from.read_text(encoding="utf-8"))
        saved["previous"] = Step(**saved["previous"])
        saved["month"] = [Step(**s) for s in saved["month"]]
        _write_docs(saved, saved.pop("command"))
        return
    os.environ.setdefault("CREDITWATCH_DEMO", "1")
    say = lambda m: print(m, flush=True)  # noqa: E731
    r = run(args.entities, args.train_entities, args.compare_top, args.explain_sample, args.work, say)
    for s in r["month"]:
        print(f"{s.name}: {s.seconds:.1f} s, {s.peak_mb:,.0f} MB")
    print(json.dumps({k: v for k, v in r.items() if k not in ("month", "previous")}, default=str, indent=2))
    saved = {
        **r,
        "previous": asdict(r["previous"]),
        "month": [asdict(s) for s in r["month"]],
        "command": command,
    }
    args.json.write_text(json.dumps(saved, indent=2, default=str), encoding="utf-8")
    print(f"results: {args.json}")
    if not args.no_write:
        _write_docs(r, command)


if __name__ == "__main__":
    main()
