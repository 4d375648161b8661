"""The feature table built partition by partition (issue 16), and the partitioned Parquet it is written as.

:func:`build_partitioned` takes the lake's sources (LazyFrames: the plans, read where they run) and an
:class:`features.engine.Engine` of ``n`` partitions, and returns ``n`` handles of feature frames: partition
``k`` holds the entities whose USCC hashes to ``k`` (:func:`features.engine.partition_of`), sorted by USCC.
Each partition's first task reads the lake itself, every entity-keyed table filtered to its partition (the
filter is pushed into the Parquet scan); the entity-local features are :mod:`features.build`'s own functions
(``_features_at(..., graph=False)``); the graph features, which cross partitions, come from
:func:`features.graph_join.graph_features_partitioned` (a distributed join of the edge list with the node
attributes); the two are joined, filled and conformed as :func:`features.build.build_features` does. The
union of the partitions equals ``build_features(sources, as_of=...)``.

Partitioned output (the sink of a partitioned run)::

    <parent>/<name>/part-00000.parquet … part-<n-1>.parquet   the run: one file per partition
    <parent>/.staging/<name>.<token>/                         a run being written (never read)

Workers write their parts into the staging folder (each part through a temporary name and a rename, so a
task killed mid-write and retried leaves one whole file); :func:`publish` checks that every part is there,
fsyncs them and makes the run visible with one rename of the folder. A killed run leaves only its staging
folder, which the next run of the same target removes (:func:`open_staging`). Readers take a target that is
a file (a single-process run) or a folder (:func:`parts_of`, :func:`content_sha256`).
"""

from __future__ import annotations

import hashlib
import operator
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from features.build import FeatureConfig, _features_at, _fill, _not_graph, _sources, population_at
from features.catalog import BY_NAME
from features.engine import Engine, Partitioned, partition_of
from features.graph_join import REQUIRED as GRAPH_COLUMNS
from features.graph_join import graph_features_partitioned
from features.lifecycle import lifecycle_sources
from features.profiles import conform

STAGING = ".staging"
PART = "part-{k:05d}.parquet"

# Tables whose rows belong to the entity in ``uscc``: read per partition. Objections and repairs are read
# whole: they are joined to records by record id, and a record's objection is needed wherever the record is.
LOCAL_TABLES = frozenset(
    name for name, t in BY_NAME.items() if "uscc" in t.schema and name not in ("objections", "repairs")
)

GraphJoin = Callable[..., list[Any]]


def partition_sources(sources: Mapping[str, pl.LazyFrame], k: int, n: int) -> dict[str, pl.LazyFrame]:
    """The catalog tables as partition ``k`` of ``n`` sees them: entity-keyed tables cut to its USCCs."""
    mine = partition_of(pl.col("uscc"), n) == k
    return {name: lf.filter(mine) if name in LOCAL_TABLES else lf for name, lf in _sources(sources).items()}


def _inputs(
    sources: Mapping[str, pl.LazyFrame], k: int, n: int, as_of: date, config: FeatureConfig
) -> dict[str, pl.DataFrame]:
    """One partition read from the lake: the graph's inputs (lifecycle applied as build.py applies it),
    the population and its entity-local features."""
    src = partition_sources(sources, k, n)
    live = lifecycle_sources(src, as_of=as_of, policy=config.repair, corrected_stops_counting=True)
    population = population_at(src["entities"], as_of=as_of)
    local = _features_at(src, population, as_of=as_of, config=config, graph=False)
    names = ("entities", "relations", "penalties", "list_entries", "evaluations", "rows", "local")
    # The graph's inputs cut to the columns it reads: they stay in memory until the graph is done, and the
    # tables' text columns (a penalty's facts and content, an entity's name) would be most of it.
    graph_inputs = {
        "entities": src["entities"],
        "relations": src["relations"],
        "penalties": live["penalties"],
        "list_entries": live["list_entries"],
        "evaluations": live["evaluations"],
    }
    frames = pl.collect_all(
        [*(_graph_columns(name, lf) for name, lf in graph_inputs.items()), population, local]
    )
    return dict(zip(names, frames, strict=True))


def _graph_columns(table: str, lf: pl.LazyFrame) -> pl.LazyFrame:
    """``lf`` cut to what the graph reads of ``table``: its required columns and those the lifecycle added
    (a repair's or a correction's dates)."""
    added = [c for c in lf.collect_schema() if c not in BY_NAME[table].schema]
    return lf.select(*GRAPH_COLUMNS[table], *added)


def _finish(local: pl.DataFrame, graph: pl.DataFrame | pl.LazyFrame, config: FeatureConfig) -> pl.DataFrame:
    """Entity-local and graph features of one partition joined, filled, conformed and sorted by USCC."""
    schema = config.schema
    graph_cols = [c for c in schema if c not in ("uscc", "as_of") and not _not_graph(c)]
    out = local.lazy().join(
        graph.lazy().select("uscc", *graph_cols), on="uscc", how="left", maintain_order="left"
    )
    return _fill(out, config).pipe(conform, schema, name="build_features").sort("as_of", "uscc").collect()


def build_partitioned(
    engine: Engine,
    sources: Mapping[str, pl.LazyFrame],
    *,
    as_of: date,
    config: FeatureConfig = FeatureConfig(),
    graph: GraphJoin | None = None,
) -> list[Any]:
    """The feature table at ``as_of`` as ``engine.n`` partition handles (see the module); ``graph`` is the
    partitioned graph step (default :func:`features.graph_join.graph_features_partitioned`)."""
    if graph is None:
        graph = graph_features_partitioned
    n = engine.n
    inputs = Partitioned(engine.map(_inputs, sources, Partitioned(list(range(n))), n, as_of, config))

    names = ("entities", "relations", "penalties", "list_entries", "evaluations", "rows", "local")
    entities, relations, penalties, list_entries, evaluations, rows, local = (
        engine.map(operator.getitem, inputs, name) for name in names
    )
    del inputs  # each table has a handle of its own: the partitions' dicts are let go once taken apart
    graph_parts = graph(
        engine,
        entities=entities,
        relations=relations,
        penalties=penalties,
        list_entries=list_entries,
        evaluations=evaluations,
        rows=rows,
        as_of=as_of,
        config=config.graph,
        policy=config.repair,
    )
    return engine.map(_finish, Partitioned(local), Partitioned(graph_parts), config)


def height(frame: pl.DataFrame) -> int:
    return frame.height


# ------------------------------------------------------------------------------------ partitioned output
def part_name(k: int) -> str:
    return PART.format(k=k)


def parts_of(path: Path) -> list[Path]:
    """The Parquet files of a run: the file itself, or a partitioned folder's parts in partition order."""
    return sorted(path.glob("part-*.parquet")) if path.is_dir() else [path]


def blobs_of(path: Path) -> list[tuple[str, bytes]]:
    """(name, bytes) of every file of a run (read once: its checksum and its frame come from the same
    bytes)."""
    return [(p.name, p.read_bytes()) for p in parts_of(path)]


def blobs_sha256(blobs: list[tuple[str, bytes]], *, folder: bool) -> str:
    """The SHA-256 of a file's bytes; of a folder: of the lines ``<part name> <part SHA-256>`` sorted by name
    (a part changed, added, removed or renamed changes it)."""
    if not folder:
        ((_, data),) = blobs
        return hashlib.sha256(data).hexdigest()
    lines = "".join(f"{name} {hashlib.sha256(data).hexdigest()}\n" for name, data in sorted(blobs))
    return hashlib.sha256(lines.encode()).hexdigest()


def content_sha256(path: Path) -> str:
    """:func:`blobs_sha256` of the run at ``path`` (file or folder)."""
    return blobs_sha256(blobs_of(path), folder=path.is_dir())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_part(frame: pl.DataFrame, staging: str | Path, k: int) -> tuple[int, int]:
    """Write partition ``k`` into a run's staging folder (runs on a worker); returns (k, rows). The folder
    must exist: a run abandoned meanwhile (its staging removed by the next run) fails instead of writing."""
    folder = Path(staging)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: the run's staging folder is gone (the run was abandoned)")
    target = folder / part_name(k)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        # The single-process writer's settings (serving.services.scoring._write): same bytes per frame.
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        _fsync(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return k, frame.height


def clean_staging(target: Path) -> list[str]:
    """Remove what killed runs of ``target`` left in its staging folder; returns the names removed."""
    root = target.parent / STAGING
    if not root.is_dir():
        return []
    removed = sorted(p.name for p in root.iterdir() if p.name.startswith(f"{target.name}."))
    for name in removed:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


def open_staging(target: Path) -> Path:
    """A fresh staging folder for a run of ``target`` (earlier runs' leftovers removed first)."""
    clean_staging(target)
    root = target.parent / STAGING
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"{target.name}.{uuid.uuid4().hex}"
    folder.mkdir()
    return folder.resolve()  # the workers write there: an absolute path, whatever their working folder


def _set_aside(target: Path) -> Path | None:
    """Move an earlier run at ``target`` (file or folder) into the staging area; None if there is none."""
    if not target.exists():
        return None
    root = target.parent / STAGING
    root.mkdir(parents=True, exist_ok=True)
    aside = root / f"{target.name}.replaced-{uuid.uuid4().hex}"
    os.rename(target, aside)
    return aside


def _remove(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def publish(staging: Path, target: Path, parts: int) -> None:
    """Make a staged run visible at ``target`` with one rename, once its ``parts`` files are all there and
    durable. Leftovers of killed tasks (temporary files) are removed first; a missing part is an error (the
    staging folder stays for the next run to remove, nothing becomes visible). An earlier run at ``target``
    is moved aside just before and removed after."""
    expected = {part_name(k) for k in range(parts)}
    present = {p.name for p in staging.iterdir()}
    missing = sorted(expected - present)
    if missing:
        raise RuntimeError(f"{staging}: parts {missing} were not written; nothing published")
    for name in sorted(present - expected):
        _remove(staging / name)
    for name in sorted(expected):
        _fsync(staging / name)
    _fsync(staging)
    aside = _set_aside(target)
    # The one step that makes the run visible.
    os.rename(staging, target)
    _fsync(target.parent)
    _remove(aside)


def write_run(engine: Engine, parts: list[Any], target: Path) -> int:
    """``parts`` (``engine.n`` handles of frames) written as a partitioned run at ``target``: staged by the
    workers, then published with one rename; returns the rows written. A failure removes the staging."""
    staging = open_staging(target)
    try:
        ks = Partitioned(list(range(engine.n)))
        written = engine.gather(engine.map(write_part, Partitioned(parts), str(staging), ks))
        publish(staging, target, engine.n)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sum(rows for _, rows in written)


def replace_with_file(target: Path, write: Callable[[Path], object]) -> None:
    """``write(target)`` where ``target`` may hold a partitioned run (a folder cannot be renamed over by a
    file): the folder is set aside first and removed after."""
    aside = _set_aside(target) if target.is_dir() else None
    write(target)
    _remove(aside)


def read_run(path: Path) -> pl.DataFrame:
    """A run's rows (file or folder); a folder's rows sorted by USCC, as a single-process file has them."""
    frame = pl.read_parquet(parts_of(path)) if path.is_dir() else pl.read_parquet(path)
    return frame.sort("uscc") if path.is_dir() else frame
