"""``python -m bench scale``: features + scores with reasons of one synthetic city, single process against a
Dask LocalCluster (issue 16, docs/scaling.md).

The city (``--entities``, default 200,000) is generated and ingested once into ``--work``; a small model is
trained on a second, small city and promoted in the same home (the score run needs a champion; its size does
not change what is measured). Then ``creditwatch score --as-of DATE`` runs as a child process twice: single
process (``--out`` beside the home), and with ``--dask`` on a LocalCluster of ``--workers`` single-threaded
worker processes started here. Measured: wall seconds of each run, the peak RSS of the single-process run
(``wait4``), of the Dask run's client and of each worker (``ru_maxrss`` asked from the workers after the run),
and the agreement of the two outputs (rows, tiers, reasons, largest probability difference).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

AS_OF = date(2026, 11, 27)


def _city(root: Path, lake: Path, *, entities: int, seed: int, salt: str) -> None:
    from features.ingest import ingest_paths
    from features.synth import generate
    from features.synth.city import CityConfig

    if lake.is_dir() and any(lake.iterdir()):
        return
    generate(CityConfig(entities=entities, seed=seed), root, today=AS_OF)
    ingest_paths(sorted(p for p in root.iterdir() if p.is_file()), lake_dir=lake, salt=salt, today=AS_OF)


def _champion(work: Path, home: Path) -> None:
    """A small model promoted in ``home`` (trained on a city of 3,000 entities)."""
    from features.build import FeatureConfig
    from features.lake import sources
    from serving.settings import load_settings
    from training.labels import labelled_features
    from training.registry import Registry
    from training.run import TrainConfig, catalog_feature_infos, train

    settings = load_settings(home=home)
    marker = work / "champion.txt"
    if marker.exists():
        return
    _city(work / "small-city", work / "small-lake", entities=3000, seed=11, salt=settings.person_salt)
    frame = labelled_features(sources(work / "small-lake"))
    infos, categorical = catalog_feature_infos(FeatureConfig().catalog)
    config = TrainConfig(
        valid_months=4,
        test_months=4,
        num_threads=1,
        estimator={"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15, "early_stopping_rounds": 10},
    )
    _, record = train(
        frame,
        infos=infos,
        categorical=categorical,
        config=config,
        tracking_uri=settings.mlflow_uri,
        artifact_location=settings.mlflow_artifacts_dir,
    )
    Registry(settings.mlflow_uri).promote(record.version, who="bench", why="bench scale")
    marker.write_text(record.version)


def _timed(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MiB) and stdout of a child process."""
    started = time.perf_counter()
    env = {**os.environ, "CREDITWATCH_DEMO": "1"}  # synthetic data: the demo salt is allowed
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    # The child's own rusage: the largest of the children waited for so far (the runs are sequential and the
    # single-process run goes first, so the Dask client's figure is an upper bound).
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return seconds, peak, out


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__)
    parser.add_argument("--entities", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=None, help="default: twice the workers")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/creditwatch-bench-scale"))
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    from serving.settings import load_settings

    work: Path = args.work / f"city-{args.entities}-{args.seed}"
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(home=home)
    started = time.perf_counter()
    _city(work / "city", settings.lake_dir, entities=args.entities, seed=args.seed, salt=settings.person_salt)
    _champion(work, home)
    print(f"city and champion ready ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    cli = [str(Path(sys.executable).with_name("creditwatch")), "--home", str(home), "--json"]
    single_out = work / "single-scores.parquet"
    s_seconds, s_peak, _ = _timed([*cli, "score", "--as-of", AS_OF.isoformat(), "--out", str(single_out)])
    print(f"single process: {s_seconds:.1f} s, peak {s_peak} MiB", file=sys.stderr)
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
        ) as local,
        Client(local) as client,
    ):
        extra = [] if args.partitions is None else ["--partitions", str(args.partitions)]
        d_seconds, d_peak, out = _timed(
            [*cli, "score", "--as-of", AS_OF.isoformat(), "--dask", local.scheduler_address, *extra]
        )

        def worker_peak() -> int:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

        workers = sorted(client.run(worker_peak).values())
    answer = json.loads(out)
    from features.partitioned import read_run

    single = pl.read_parquet(single_out)
    dask = read_run(Path(answer["path"]))
    agreement: dict[str, Any] = {
        "rows": [single.height, dask.height],
        "same_uscc": single["uscc"].equals(dask["uscc"]),
        "same_tiers": single["tier"].equals(dask["tier"]),
        "same_reasons": single["reasons_zh"].equals(dask["reasons_zh"]),
        "max_probability_diff": (single["probability"] - dask["probability"]).abs().max(),
    }
    result = {
        "entities": args.entities,
        "scored": single.height,
        "workers": args.workers,
        "single_seconds": round(s_seconds, 1),
        "single_peak_mib": s_peak,
        "dask_seconds": round(d_seconds, 1),
        "dask_client_peak_mib_upper_bound": d_peak,
        "dask_worker_peak_mib": workers,
        "agreement": agreement,
        "bench_peak_mib": _peak_rss(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
