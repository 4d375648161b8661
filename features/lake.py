"""The record lake's sources and sinks: batches of Parquet files in, catalog-typed LazyFrames out.

Layout (the only module of ``features`` that reads or writes the lake)::

    <lake>/<table>/<batch_id>/accepted.parquet    rows that passed every check, catalog schema
    <lake>/<table>/<batch_id>/quarantine.parquet  one row per (input row, failed rule)
    <lake>/<table>/<batch_id>/manifest.json       table, source, content hash, counts, sequence, time
    <lake>/.staging/<batch_id>/                   a batch being written (never read)

A batch is complete in ``.staging`` before one ``os.rename`` makes it visible, so a crash leaves either the
whole batch or nothing; stale staging folders are removed by the next write. Batches are append-only. One
writer at a time: every write holds :func:`writer_lock` (``<lake>/.writer.lock``), so concurrent ingests
(two analysts, an ingest and a lifecycle decision) queue instead of mixing their checks and sequence numbers.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from features import catalog

ACCEPTED = "accepted.parquet"
QUARANTINE = "quarantine.parquet"
MANIFEST = "manifest.json"
STAGING = ".staging"

QUARANTINE_SCHEMA = pl.Schema(
    {
        "table": pl.String(),
        "batch_id": pl.String(),
        "source": pl.String(),
        "line": pl.Int64(),
        "field": pl.String(),
        "rule": pl.String(),
        "value": pl.String(),
        "message": pl.String(),
    }
)
_SEQUENCE = "__sequence"


@dataclass(frozen=True, slots=True)
class Batch:
    """What ``manifest.json`` of one batch says."""

    batch_id: str
    table: str
    source: str
    content_sha256: str
    sequence: int
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    ignored_columns: tuple[str, ...]
    ingested_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "table": self.table,
            "source": self.source,
            "content_sha256": self.content_sha256,
            "sequence": self.sequence,
            "counts": {
                "read": self.rows_read,
                "accepted": self.rows_accepted,
                "quarantined": self.rows_quarantined,
            },
            "ignored_columns": list(self.ignored_columns),
            "ingested_at": self.ingested_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Batch:
        counts = data["counts"]
        return cls(
            batch_id=data["batch_id"],
            table=data["table"],
            source=data["source"],
            content_sha256=data["content_sha256"],
            sequence=int(data["sequence"]),
            rows_read=int(counts["read"]),
            rows_accepted=int(counts["accepted"]),
            rows_quarantined=int(counts["quarantined"]),
            ignored_columns=tuple(data["ignored_columns"]),
            ingested_at=datetime.fromisoformat(data["ingested_at"]),
        )


def batch_id_for(table: str, content_sha256: str) -> str:
    """The batch id of a file's content ingested as ``table``: the same content gets the same id."""
    digest = hashlib.sha256(f"{table}:{content_sha256}".encode()).hexdigest()
    return f"{table}-{digest[:16]}"


def batches(lake_dir: Path, table: str | None = None) -> list[Batch]:
    """Every visible batch (of one table, or all), in sequence order."""
    names = [table] if table is not None else [t.name for t in catalog.TABLES]
    found: list[Batch] = []
    for name in names:
        folder = lake_dir / name
        if not folder.is_dir():
            continue
        for manifest in folder.glob(f"*/{MANIFEST}"):
            found.append(Batch.from_json(json.loads(manifest.read_text(encoding="utf-8"))))
    return sorted(found, key=lambda b: b.sequence)


def find_batch(lake_dir: Path, table: str, content_sha256: str) -> Batch | None:
    """The batch holding this content for this table, if it was ingested already."""
    manifest = lake_dir / table / batch_id_for(table, content_sha256) / MANIFEST
    if not manifest.is_file():
        return None
    return Batch.from_json(json.loads(manifest.read_text(encoding="utf-8")))


def clean_staging(lake_dir: Path) -> list[str]:
    """Remove batches left half-written by a crash; returns their names. Call it holding :func:`writer_lock`
    (another writer's batch in progress is not a crash's)."""
    staging = lake_dir / STAGING
    if not staging.is_dir():
        return []
    removed = sorted(p.name for p in staging.iterdir())
    for name in removed:
        path = staging / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


LOCK_FILE = ".writer.lock"


class LakeBusy(RuntimeError):
    """Another writer held the lake for longer than the wait (its ingest is still running)."""


_held = threading.local()


@contextmanager
def writer_lock(
    lake_dir: Path, *, timeout: float = 300.0, on_wait: Callable[[], object] | None = None
) -> Iterator[None]:
    """One writer at a time per lake: an exclusive ``flock`` on ``<lake>/.writer.lock``, waited for up to
    ``timeout`` seconds (then :class:`LakeBusy`). Re-entrant within a thread, so an ingest that writes several
    batches holds it once. The operating system releases it when the holder dies, so a writer killed with
    ``kill -9`` leaves no stale lock; its half-written batch stays in ``.staging`` until the next writer
    cleans it up, which only a writer holding the lock does. ``on_wait`` is called once when the lock is
    taken by another writer, before waiting (a waiting run says so).
    """
    key = str(lake_dir.resolve())
    depth: dict[str, int] = _held.__dict__.setdefault("depth", {})
    if depth.get(key, 0):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    lake_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lake_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                    on_wait = None
                if time.monotonic() >= deadline:
                    raise LakeBusy(
                        f"{lake_dir}: another ingest has been writing to the lake for over {timeout:.0f} s; "
                        "try again when it has finished"
                    ) from None
                time.sleep(0.05)
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


SEQUENCE_FILE = ".sequence"


def _claim_sequence(lake_dir: Path) -> int:
    """The next batch sequence number, claimed in ``<lake>/.sequence`` before the batch becomes visible.

    Reading every manifest for the maximum made each write cost O(batches) (102 ms per batch at 1,500 batches;
    docs/benchmarks.md). The counter is written (atomically, by rename) before the batch's own rename, so a
    crash in between leaves a gap in the numbers, never a number used twice. A lake without the file (older)
    starts from its manifests once. The caller holds :func:`writer_lock`, as for the rest of the lake.
    """
    counter = lake_dir / SEQUENCE_FILE
    try:
        last = int(counter.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        last = max((b.sequence for b in batches(lake_dir)), default=0)
    claimed = last + 1
    atomic_write(counter, lambda tmp: tmp.write_text(f"{claimed}\n", encoding="ascii"), fsync=True)
    return claimed


def atomic_write(path: Path, write: Callable[[Path], object], *, fsync: bool = False) -> None:
    """Call ``write(tmp)`` on a fresh temporary file beside `path`, then rename it over `path`: a reader sees
    the old file or the new one, never half of one, and a failure leaves no temporary file behind. `fsync`
    makes the content durable before the rename (what a crash must not lose)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        if fsync:
            _fsync(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_batch(
    lake_dir: Path,
    *,
    table: str,
    source: str,
    content_sha256: str,
    accepted: pl.DataFrame,
    quarantine: pl.DataFrame,
    rows_read: int,
    rows_quarantined: int,
    ignored_columns: tuple[str, ...],
    ingested_at: datetime,
) -> Batch:
    """Write one batch atomically and return its manifest.

    ``accepted`` must have the catalog schema of ``table``; ``quarantine`` the columns of
    :data:`QUARANTINE_SCHEMA`. Raises FileExistsError if the batch is already there.
    """
    t = catalog.table(table)
    if accepted.schema != t.schema:
        raise ValueError(
            f"accepted rows of {table!r} must have the catalog schema {t.schema}, got {accepted.schema}"
        )
    if quarantine.schema != QUARANTINE_SCHEMA:
        raise ValueError(f"quarantine rows must have the schema {QUARANTINE_SCHEMA}, got {quarantine.schema}")
    if rows_read != accepted.height + rows_quarantined:
        raise ValueError(
            f"read ({rows_read}) != accepted ({accepted.height}) + quarantined ({rows_quarantined})"
        )
    batch = Batch(
        batch_id=batch_id_for(table, content_sha256),
        table=table,
        source=source,
        content_sha256=content_sha256,
        sequence=0,  # claimed below, once the batch is known to be new
        rows_read=rows_read,
        rows_accepted=accepted.height,
        rows_quarantined=rows_quarantined,
        ignored_columns=ignored_columns,
        ingested_at=ingested_at,
    )
    final = lake_dir / table / batch.batch_id
    if final.exists():
        raise FileExistsError(f"batch {batch.batch_id} of {table!r} already exists at {final}")
    batch = replace(batch, sequence=_claim_sequence(lake_dir))
    staging = lake_dir / STAGING / batch.batch_id
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    # No timestamps inside the data files: the same rows give byte-identical Parquet.
    accepted.write_parquet(staging / ACCEPTED, statistics=True)
    quarantine.write_parquet(staging / QUARANTINE, statistics=True)
    (staging / MANIFEST).write_text(
        json.dumps(batch.to_json(), ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    for name in (ACCEPTED, QUARANTINE, MANIFEST):
        _fsync(staging / name)
    final.parent.mkdir(parents=True, exist_ok=True)
    # The one step that makes the batch visible; everything before it is invisible to readers.
    os.rename(staging, final)
    _fsync(final.parent)
    return batch


def _conform(lf: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """Select the catalog columns in order; a column added to the catalog later reads as null."""
    present = lf.collect_schema()
    return lf.select(
        [
            pl.col(name).cast(dtype) if name in present else pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in schema.items()
        ]
    )


def scan_versions(lake_dir: Path, table: str) -> pl.LazyFrame:
    """Every accepted row of every batch of ``table``, with ``batch_id`` and ``sequence`` first."""
    t = catalog.table(table)
    frames = [
        _conform(pl.scan_parquet(lake_dir / table / b.batch_id / ACCEPTED), t.schema).select(
            pl.lit(b.batch_id, dtype=pl.String).alias("batch_id"),
            pl.lit(b.sequence, dtype=pl.Int64).alias("sequence"),
            pl.all(),
        )
        for b in batches(lake_dir, table)
    ]
    if not frames:
        return pl.LazyFrame(
            schema=pl.Schema({"batch_id": pl.String(), "sequence": pl.Int64(), **dict(t.schema.items())})
        )
    return pl.concat(frames, how="vertical")


def scan(lake_dir: Path, table: str) -> pl.LazyFrame:
    """The accepted rows of ``table`` in its catalog schema; versioned tables keep the latest row per key."""
    t = catalog.table(table)
    rows = scan_versions(lake_dir, table)
    if t.versioned:
        # Batches come in sequence order, so the last row of a key is the latest re-issue.
        rows = rows.unique(subset=list(t.key), keep="last", maintain_order=True)
    return rows.select(t.columns)


def scan_quarantine(lake_dir: Path, table: str | None = None) -> pl.LazyFrame:
    """Quarantined rows (table, batch_id, source, line, field, rule, value, message) in sequence order."""
    if table is not None:
        catalog.table(table)
    frames = [
        pl.scan_parquet(lake_dir / b.table / b.batch_id / QUARANTINE).select(QUARANTINE_SCHEMA.names())
        for b in batches(lake_dir, table)
    ]
    if not frames:
        return pl.LazyFrame(schema=QUARANTINE_SCHEMA)
    return pl.concat(frames, how="vertical")


def sources(lake_dir: Path) -> dict[str, pl.LazyFrame]:
    """Every catalog table as a LazyFrame (empty with its schema when nothing was ingested)."""
    return {t.name: scan(lake_dir, t.name) for t in catalog.TABLES}
