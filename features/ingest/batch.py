"""Paths in; one checked lake batch per file out, with its BatchReport (files planned in catalog order)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import polars as pl

from features import catalog, lake
from features.catalog import Table
from features.ingest.checks import Producer, validate
from features.ingest.readers import FORMATS, READERS, IngestError, format_of


@dataclass(frozen=True, slots=True)
class BatchReport:
    """The outcome of one file: where it went and how many rows were read, accepted and quarantined."""

    batch_id: str
    table: str
    source: str
    content_sha256: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    status: Literal["ingested", "already_ingested"]
    ignored_columns: tuple[str, ...]
    ingested_at: datetime


def table_for(path: Path) -> str | None:
    """The catalog table a file belongs to by its stem (``penalties-2024.gbk.csv`` → ``penalties``)."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    matches = [
        t.name
        for t in catalog.TABLES
        if stem == t.name or any(stem.startswith(t.name + sep) for sep in ("-", "_", "."))
    ]
    return max(matches, key=len) if matches else None


def plan(paths: Sequence[Path], *, table: str | None = None) -> list[tuple[Path, str]]:
    """The files to ingest and their tables, in catalog table order (entities and persons first).

    A directory means the files directly in it with a known format, sorted by name. Raises
    :class:`IngestError` for a missing path, an unknown format or a file that maps to no table.
    """
    if table is not None:
        try:
            catalog.table(table)
        except ValueError as exc:
            raise IngestError(str(exc)) from None
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p
                for p in path.iterdir()
                if p.is_file() and not p.name.startswith(".") and format_of(p) is not None
            )
        elif path.is_file():
            if format_of(path) is None:
                raise IngestError(f"{path}: unknown format; expected one of {sorted(FORMATS)}")
            files.append(path)
        else:
            raise IngestError(f"{path}: no such file or directory")
    planned: list[tuple[Path, str]] = []
    for path in files:
        name = table or table_for(path)
        if name is None:
            raise IngestError(
                f"{path}: cannot tell its table from the file name; name it after one of "
                f"{[t.name for t in catalog.TABLES]} (e.g. penalties-2024.csv) or pass --table"
            )
        planned.append((path, name))
    order = {t.name: i for i, t in enumerate(catalog.TABLES)}
    # Stable: within a table the files keep the order given (a directory's files by name).
    return sorted(planned, key=lambda item: order[item[1]])


def _known_values(lake_dir: Path, table: Table) -> dict[str, pl.LazyFrame]:
    known: dict[str, pl.LazyFrame] = {}
    for f in table.fields:
        if f.references is not None:
            ref_table, ref_column = f.references.split(".")
            known[f.references] = lake.scan(lake_dir, ref_table).select(ref_column)
    return known


def ingest_file(
    path: Path,
    *,
    table: str,
    lake_dir: Path,
    salt: str,
    today: date,
    allow: Iterable[str] = (),
) -> BatchReport:
    """Ingest one file as ``table`` (see :func:`ingest_paths`), holding the lake's writer lock: the duplicate
    check, the key checks against the lake and the batch's sequence number see no other writer's half-work."""
    with lake.writer_lock(lake_dir):
        return _ingest_file(path, table=table, lake_dir=lake_dir, salt=salt, today=today, allow=allow)


def ingest_data(
    data: bytes,
    *,
    fmt: str,
    table: str,
    source: str,
    content_sha256: str,
    lake_dir: Path,
    salt: str,
    today: date,
    allow: Iterable[str] = (),
    producer: Producer | None = None,
) -> BatchReport:
    """Ingest bytes in a reader's format (``csv``, ``parquet``, ``jsonl``) as one batch of ``table`` under the
    lake's writer lock: the checks, quarantine and atomic batch of a file (:func:`ingest_file`), for a batch
    that is no file (a department's push). ``content_sha256`` identifies the batch (the same content is
    ``already_ingested``); ``producer`` adds the 谁产生、谁报送 rule."""
    if fmt not in READERS:
        raise IngestError(f"unknown format {fmt!r}; expected one of {sorted(READERS)}")
    with lake.writer_lock(lake_dir):
        lake.clean_staging(lake_dir)  # a batch killed half-way is no batch: only its staging folder is left
        return _ingest_data(
            data,
            fmt=fmt,
            table=table,
            source=source,
            sha=content_sha256,
            lake_dir=lake_dir,
            salt=salt,
            today=today,
            allow=allow,
            producer=producer,
        )


def _ingest_file(
    path: Path, *, table: str, lake_dir: Path, salt: str, today: date, allow: Iterable[str]
) -> BatchReport:
    fmt = format_of(path)
    if fmt is None:
        raise IngestError(f"{path}: unknown format; expected one of {sorted(FORMATS)}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot read ({exc.strerror})") from None
    sha = hashlib.sha256(data).hexdigest()
    return _ingest_data(
        data,
        fmt=fmt,
        table=table,
        source=str(path),
        sha=sha,
        lake_dir=lake_dir,
        salt=salt,
        today=today,
        allow=allow,
    )


def _ingest_data(
    data: bytes,
    *,
    fmt: str,
    table: str,
    source: str,
    sha: str,
    lake_dir: Path,
    salt: str,
    today: date,
    allow: Iterable[str],
    producer: Producer | None = None,
) -> BatchReport:
    t = catalog.table(table)
    done = lake.find_batch(lake_dir, table, sha)
    if done is None:
        try:
            raw = READERS[fmt](data)
        except IngestError as exc:
            raise IngestError(f"{source}: {exc}") from None
        checked = validate(
            raw,
            table=t,
            salt=salt,
            today=today,
            allow=allow,
            known=_known_values(lake_dir, t),
            existing_keys=None if t.versioned else lake.scan(lake_dir, table).select(list(t.key)),
            producer=producer,
        )
        batch_id = lake.batch_id_for(table, sha)
        quarantine = checked.quarantine.select(
            pl.lit(table, dtype=pl.String).alias("table"),
            pl.lit(batch_id, dtype=pl.String).alias("batch_id"),
            pl.lit(source, dtype=pl.String).alias("source"),
            pl.all(),
        )
        done = lake.write_batch(
            lake_dir,
            table=table,
            source=source,
            content_sha256=sha,
            accepted=checked.accepted,
            quarantine=quarantine,
            rows_read=checked.rows_read,
            rows_quarantined=checked.rows_quarantined,
            ignored_columns=checked.ignored_columns,
            ingested_at=datetime.now(UTC),
        )
        status: Literal["ingested", "already_ingested"] = "ingested"
    else:
        status = "already_ingested"
    return BatchReport(
        batch_id=done.batch_id,
        table=done.table,
        source=done.source,
        content_sha256=done.content_sha256,
        rows_read=done.rows_read,
        rows_accepted=done.rows_accepted,
        rows_quarantined=done.rows_quarantined,
        status=status,
        ignored_columns=done.ignored_columns,
        ingested_at=done.ingested_at,
    )


def ingest_planned(
    planned: Sequence[tuple[Path, str]],
    *,
    lake_dir: Path,
    salt: str,
    today: date,
    allow: Iterable[str] = (),
    on_wait: Callable[[], object] | None = None,
) -> Iterator[BatchReport]:
    """Ingest planned files (:func:`plan`) one after the other, giving each file's report once its batch is
    in the lake: a caller stopped by an :class:`IngestError` keeps the reports of the files before.
    ``on_wait`` is called once if another writer holds the lake (this run waits for it)."""
    allow = tuple(allow)
    with lake.writer_lock(lake_dir, on_wait=on_wait):
        lake.clean_staging(lake_dir)
        for path, name in planned:
            yield ingest_file(path, table=name, lake_dir=lake_dir, salt=salt, today=today, allow=allow)


def describe(path: Path, report: BatchReport) -> str:
    """One line on a file's batch, for progress displays."""
    return (
        f"{path.name} → {report.table}: {report.status} (read {report.rows_read}, accepted "
        f"{report.rows_accepted}, quarantined {report.rows_quarantined})"
    )


def ingest_paths(
    paths: Sequence[Path],
    *,
    lake_dir: Path,
    salt: str,
    today: date,
    allow: Iterable[str] = (),
    table: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[BatchReport]:
    """Ingest files (a directory means the files in it) into the lake, one batch per file.

    Files go in catalog table order so that entities and persons are known before the records that
    reference them. ``progress`` is called once per file when it is done. Raises :class:`IngestError`
    before anything is written if a path is missing or maps to no table.
    """
    planned = plan(paths, table=table)
    reports = []
    batches = ingest_planned(planned, lake_dir=lake_dir, salt=salt, today=today, allow=allow)
    for (path, _), report in zip(planned, batches, strict=True):
        reports.append(report)
        if progress is not None:
            progress(describe(path, report))
    return reports
