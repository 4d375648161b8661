"""``python -m bench scale``: features + scores with reasons of one synthetic city, single process against a
Dask LocalCluster (issue 16, docs/scaling.md).

The city (``--entities``, default 200,000) is generated and ingested once into ``--work``; a small model is
trained on a second, small city and promoted in the same home (the score run needs a champion; its size does
not change what is measured). Then ``creditwatch score --as-of DATE`` runs as a child process twice: single
process (``--out`` beside the home), and with ``--dask`` on a LocalCluster of ``--workers`` single-threaded
worker processes started here. Measured: wall seconds of each run, the peak RSS of the single-process run
(``wait4``), of the Dask run's client and of each worker (``ru_maxrss`` asked from the workers after the run),
and the agreement of the two outputs (rows, tiers, reasons, largest probability difference).

``--steps`` measures the partitioned run step by step instead, in one process on one core (polars and
LightGBM on one thread, so CPU seconds are core-seconds): the functions a Dask run calls on its workers
(lake read and entity-local features, graph join, finish, SHAP and scoring, writing the parts) on a
:class:`features.engine.LocalEngine` of ``--partitions`` partitions (default 8), with every shuffle's rows and
bytes counted (what a Dask run sends between workers) — the per-core numbers docs/scaling.md extrapolates.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from features.engine import LocalEngine

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
    parser.add_argument(
        "--partitions", type=int, default=None, help="default: twice the workers (8 with --steps)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/creditwatch-bench-scale"))
    parser.add_argument("--steps", action="store_true", help="per-step core-seconds in one process")
    parser.add_argument(
        "--city-parts",
        type=int,
        default=1,
        help="generate the city in this many disjoint parts, one at a time (the generator holds one part)",
    )
    parser.add_argument(
        "--no-single",
        action="store_true",
        help="skip the single-process run (a city it cannot hold); the Dask output is compared with another "
        "run's kept in the work folder, if any",
    )
    parser.add_argument(
        "--memory-limit",
        default="auto",
        help="each worker's memory limit (e.g. 9GiB; default: the machine's memory over the workers): Dask "
        "spills a worker's data to disk from 60-70 %% of it, pauses it at 80 %% and restarts it at 95 %%",
    )
    args = parser.parse_args(argv)
    if args.city_parts < 1:
        parser.error("--city-parts must be at least 1")
    if args.steps:
        steps(args, sys.argv[1:] if argv is None else argv)
        return
    from distributed import Client, LocalCluster

    work, home = _prepare(args)
    cli = [str(Path(sys.executable).with_name("creditwatch")), "--home", str(home), "--json"]
    single_out = work / "single-scores.parquet"
    s_seconds = s_peak = None
    if not args.no_single:
        s_seconds, s_peak, _ = _timed([*cli, "score", "--as-of", AS_OF.isoformat(), "--out", str(single_out)])
        print(f"single process: {s_seconds:.1f} s, peak {s_peak} MiB", file=sys.stderr)
    dask_out = work / f"dask-{args.workers}-scores.parquet"
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
            memory_limit=args.memory_limit,
        ) as local,
        Client(local) as client,
    ):
        extra = [] if args.partitions is None else ["--partitions", str(args.partitions)]
        d_seconds, d_peak, out = _timed(
            [
                *cli,
                "score",
                "--as-of",
                AS_OF.isoformat(),
                "--dask",
                local.scheduler_address,
                "--out",
                str(dask_out),
                *extra,
            ]
        )

        # VmHWM, not ru_maxrss: a worker's ru_maxrss keeps the peak of the process it was started from.
        workers = sorted(client.run(_high_water).values())
    others = (
        [single_out] if single_out.exists() else sorted(set(work.glob("dask-*-scores.parquet")) - {dask_out})
    )
    agreement = _agreement(others[0], dask_out) if others else None
    result = {
        "entities": args.entities,
        "scored": json.loads(out)["entities"],
        "workers": args.workers,
        "single_seconds": None if s_seconds is None else round(s_seconds, 1),
        "single_peak_mib": s_peak,
        "dask_seconds": round(d_seconds, 1),
        "dask_client_peak_mib_upper_bound": d_peak,
        "dask_worker_peak_mib": workers,
        "agreement": agreement,
        "compared_with": others[0].name if others else None,
        "city_parts": args.city_parts,
        "partitions": args.partitions,
        "memory_limit": args.memory_limit,
        "bench_peak_mib": _peak_rss(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=1))


def _agreement(reference: Path, dask_out: Path) -> dict[str, Any]:
    """Rows, USCCs, tiers, reasons (by hash: a city of millions does not fit twice in this process) and the
    largest probability difference of two score runs (file or folder)."""
    from features.partitioned import parts_of

    def read(path: Path) -> pl.DataFrame:
        columns = [pl.col("uscc"), pl.col("tier"), pl.col("probability"), pl.col("reasons_zh").hash(seed=1)]
        return pl.scan_parquet(parts_of(path)).select(columns).collect().sort("uscc")

    one, two = read(reference), read(dask_out)
    return {
        "rows": [one.height, two.height],
        "same_uscc": one["uscc"].equals(two["uscc"]),
        "same_tiers": one["tier"].equals(two["tier"]),
        "same_reasons": one["reasons_zh"].equals(two["reasons_zh"]),
        "max_probability_diff": (one["probability"] - two["probability"]).abs().max(),
    }


# ------------------------------------------------------------------------------------------------ --steps
ONE_THREAD = {"POLARS_MAX_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _high_water() -> int:
    """Peak RSS (MiB) of this process image: ``VmHWM`` starts again at ``exec``, whereas ``ru_maxrss`` keeps
    the forking parent's (the city generator's) resident size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return _peak_rss()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _size(value: Any) -> int:
    """In-memory bytes of a partition: a frame, or a dict of frames (the lake read's inputs)."""
    if isinstance(value, pl.DataFrame):
        return int(value.estimated_size())
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    return 0


@dataclass
class Clock:
    """Wall and CPU seconds spent under each name."""

    wall: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), _cpu()
        try:
            yield
        finally:
            self.wall[name] += time.perf_counter() - wall
            self.cpu[name] += _cpu() - cpu
            self.calls[name] += 1


@dataclass
class CountingEngine:
    """A :class:`features.engine.LocalEngine` that times every mapped function (by name) and counts what
    every shuffle moves: rows and ``estimated_size`` bytes in, and those that change partition (what a Dask
    run sends between workers when each partition sits on another worker)."""

    inner: LocalEngine
    clock: Clock = field(default_factory=Clock)
    shuffles: list[dict[str, Any]] = field(default_factory=list)
    n: int = field(init=False)

    def __post_init__(self) -> None:
        self.n = self.inner.n

    def scatter(self, frames: Sequence[pl.DataFrame]) -> list[Any]:
        return self.inner.scatter(frames)

    def map(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        with self.clock(getattr(fn, "__name__", repr(fn))):
            return self.inner.map(fn, *args, **kwargs)

    def shuffle(self, parts: list[Any], key: str | Sequence[str]) -> list[Any]:
        from features.engine import split

        # LocalEngine.shuffle, with the pieces kept for the count.
        wall, cpu = time.perf_counter(), _cpu()
        pieces = [split(frame, key, self.n) for frame in parts]
        out = [pl.concat([p[k] for p in pieces], how="vertical") for k in range(self.n)]
        self.clock.wall["shuffle"] += time.perf_counter() - wall
        self.clock.cpu["shuffle"] += _cpu() - cpu
        self.clock.calls["shuffle"] += 1
        self.shuffles.append(
            {
                "key": key if isinstance(key, str) else ",".join(key),
                "rows": sum(f.height for f in parts),
                "bytes": sum(_size(f) for f in parts),
                "cross_rows": sum(p[k].height for s, p in enumerate(pieces) for k in range(self.n) if k != s),
                "cross_bytes": sum(
                    _size(p[k]) for s, p in enumerate(pieces) for k in range(self.n) if k != s
                ),
                "largest_part_bytes": max(_size(f) for f in out),
            }
        )
        return out

    def gather(self, parts: list[Any]) -> list[Any]:
        return self.inner.gather(parts)


def _prepare(args: argparse.Namespace) -> tuple[Path, Path]:
    from serving.settings import load_settings

    parts = getattr(args, "city_parts", 1)
    work: Path = args.work / (f"city-{args.entities}-{args.seed}" + (f"-in-{parts}" if parts > 1 else ""))
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(home=home)
    started = time.perf_counter()
    if parts > 1:
        from bench._city import city_in_parts

        city_in_parts(
            work / "parts",
            settings.lake_dir,
            entities=args.entities,
            parts=parts,
            seed=args.seed,
            salt=settings.person_salt,
            today=AS_OF,
            jobs=2,
        )
    else:
        _city(
            work / "city",
            settings.lake_dir,
            entities=args.entities,
            seed=args.seed,
            salt=settings.person_salt,
        )
    _champion(work, home)
    print(f"city and champion ready ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return work, home


def steps(args: argparse.Namespace, argv: list[str]) -> None:
    """``--steps``: the city and the champion made here (every core), then measured in a child process on
    one thread (its peak RSS is the measured run's alone)."""
    if all(os.environ.get(k) == v for k, v in ONE_THREAD.items()):
        _measure_steps(args)
        return
    _prepare(args)
    env = {**os.environ, **ONE_THREAD, "CREDITWATCH_DEMO": "1"}  # synthetic data: the demo salt is allowed
    done = subprocess.run([sys.executable, "-m", "bench.scale", *argv], env=env, check=False)
    raise SystemExit(done.returncode)


def _measure_steps(args: argparse.Namespace) -> None:
    import operator
    import shutil
    import tempfile

    from features import partitioned
    from features.build import FeatureConfig
    from features.engine import LocalEngine, Partitioned
    from features.graph_join import graph_features_partitioned
    from features.lake import sources as lake_sources
    from models.risk_model import LARGE_BATCH
    from serving.champion import load_champion
    from serving.services.scoring import _score_part, _with_reason_text
    from serving.settings import load_settings

    if pl.thread_pool_size() != 1:
        raise SystemExit(f"polars runs {pl.thread_pool_size()} threads; set POLARS_MAX_THREADS=1 first")
    load_start = os.getloadavg()
    work, home = _prepare(args)
    settings = load_settings(home=home)
    model, version = load_champion(settings.mlflow_uri)
    if hasattr(model.estimator, "num_threads"):
        model.estimator.num_threads = 1  # LightGBM on one thread (it already is below 10,000 rows)
    n = args.partitions or 8
    engine = CountingEngine(LocalEngine(n=n))
    config = FeatureConfig()
    sources = lake_sources(settings.lake_dir.resolve())
    clock = Clock()
    largest: dict[str, int] = {}
    peak: dict[str, int] = {}
    gstats: dict[str, int] = {}
    ks = Partitioned(list(range(n)))
    baseline = _high_water()  # the interpreter, polars, LightGBM, MLflow and the model, before any step

    def done(step: str, parts: list[Any]) -> None:
        largest[step] = max((_size(p) for p in parts), default=0)
        peak[step] = _high_water()
        print(f"{step}: {clock.cpu[step]:.1f} CPU s, {clock.wall[step]:.1f} s", file=sys.stderr)

    with clock("inputs"):
        inputs = Partitioned(engine.map(partitioned._inputs, sources, ks, n, AS_OF, config))
    done("inputs", inputs.parts)

    def part(name: str) -> list[Any]:
        return engine.map(operator.getitem, inputs, name)

    engine.clock = Clock()  # the graph step's functions alone
    with clock("graph"):
        graph_parts = graph_features_partitioned(
            engine,
            entities=part("entities"),
            relations=part("relations"),
            penalties=part("penalties"),
            list_entries=part("list_entries"),
            evaluations=part("evaluations"),
            rows=part("rows"),
            as_of=AS_OF,
            config=config.graph,
            policy=config.repair,
            stats=gstats,
        )
    done("graph", graph_parts)
    graph_clock, graph_shuffles = engine.clock, engine.shuffles
    engine.clock, engine.shuffles = Clock(), []  # the graph step's alone
    with clock("finish"):
        feats = engine.map(partitioned._finish, Partitioned(part("local")), Partitioned(graph_parts), config)
    done("finish", feats)
    inputs.parts.clear()  # only the features stay, as on a worker
    graph_parts.clear()

    # serving.services.scoring._score_part, split into its SHAP and its scoring halves.
    heights = [f.height for f in feats]
    population = sum(heights)
    first = next(k for k, h in enumerate(heights) if h)
    scored: list[pl.DataFrame] = []
    explained = 0  # the largest partition's SHAP values
    for frame in feats:
        if frame.height == 0:
            with clock("score"):
                scored.append(
                    _score_part(frame, model, feats[first], reasons=3, version=version, population=population)
                )
            continue
        with clock("contributions"):
            contributions = model.contributions(frame, batch=population >= LARGE_BATCH)
        explained = max(explained, _size(contributions))
        with clock("score without reasons"):  # not a step: how much of "score" the reasons take
            model.score(frame, reasons=0)
        with clock("score"):
            out = model.score(frame, reasons=3, contributions=contributions)
            scored.append(_with_reason_text(out.with_columns(pl.lit(version).alias("model_version")), 3))
    done("contributions", [])
    largest["contributions"] = explained
    done("score", scored)

    staging = Path(tempfile.mkdtemp(prefix="steps-", dir=work))
    try:
        (staging / "features").mkdir()
        (staging / "scores").mkdir()
        with clock("write"):
            for k in range(n):
                partitioned.write_part(feats[k], staging / "features", k)
                partitioned.write_part(scored[k], staging / "scores", k)
        written = sum(p.stat().st_size for p in staging.rglob("*.parquet"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    largest["write"], peak["write"] = 0, _high_water()

    order = ("inputs", "graph", "finish", "contributions", "score", "write")
    table = [
        {
            "step": step,
            "wall_s": round(clock.wall[step], 2),
            "core_s": round(clock.cpu[step], 2),
            "us_per_entity": round(1e6 * clock.cpu[step] / args.entities, 1),
            "us_per_scored": round(1e6 * clock.cpu[step] / population, 1),
            "largest_part_mib": round(largest.get(step, 0) / 2**20, 2),
            "peak_rss_mib": peak[step],
        }
        for step in order
    ]
    moved = {
        "calls": len(graph_shuffles),
        "rows": sum(s["rows"] for s in graph_shuffles),
        "bytes": sum(s["bytes"] for s in graph_shuffles),
        "cross_bytes": sum(s["cross_bytes"] for s in graph_shuffles),
        "largest_part_bytes": max(s["largest_part_bytes"] for s in graph_shuffles),
        "core_s": round(graph_clock.cpu["shuffle"], 2),
        "wall_s": round(graph_clock.wall["shuffle"], 2),
    }
    by_key: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in graph_shuffles:
        for what in ("rows", "bytes", "cross_bytes"):
            by_key[s["key"]][what] += s[what]
        by_key[s["key"]]["calls"] += 1
    functions = [
        {"fn": name, "calls": graph_clock.calls[name], "core_s": round(graph_clock.cpu[name], 2)}
        for name in sorted(graph_clock.cpu, key=lambda name: -graph_clock.cpu[name])
    ]
    result = {
        "entities": args.entities,
        "scored": population,
        "partitions": n,
        "model_version": version,
        "steps": table,
        "total_core_s": round(sum(clock.cpu[s] for s in order), 2),
        "total_wall_s": round(sum(clock.wall[s] for s in order), 2),
        "shuffles": moved,
        "shuffle_bytes_per_entity": round(moved["bytes"] / args.entities, 1),
        "shuffle_by_key": {k: dict(v) for k, v in sorted(by_key.items())},
        "graph_functions": functions,
        "graph_stats": gstats,
        "written_bytes": written,
        "peak_rss_mib": _high_water(),
        "baseline_rss_mib": baseline,
        "score_without_reasons_core_s": round(clock.cpu["score without reasons"], 2),
        "polars_threads": pl.thread_pool_size(),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=1))
    print(f"\n{args.entities:,} entities ({population:,} scored), {n} partitions, one thread\n")
    print("| step | wall s | core-s | µs/entity | µs/scored | largest part MiB | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in table:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    print(
        f"\nshuffles (graph): {moved['calls']} calls, {moved['rows']:,} rows, "
        f"{moved['bytes'] / 2**20:.1f} MiB in, {moved['cross_bytes'] / 2**20:.1f} MiB across partitions, "
        f"{moved['core_s']} core-s"
    )


if __name__ == "__main__":
    main()
