"""Lifecycle decisions into the record lake as catalog rows, so that features and scores see them.

Decisions (an upheld objection, an approved repair, a listing, a breached commitment, an interview) become
rows of the catalog tables ``objections``, ``repairs``, ``list_entries``, ``commitments`` and
``interviews``. They go through :func:`features.ingest.ingest_file`, the same checks as any source file
(references to known entities, dates not in the future, enums), one batch per decision; a row the
checks refuse raises :class:`RecordRejected` and the caller's database transaction rolls back.
Those tables are not versioned, so a row is written once, when its decision is final.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from features import catalog
from features.ingest import BatchReport, ingest_file
from features.lake import LakeBusy, scan_quarantine
from supervision.platform.errors import BusyError, DomainError

__all__ = ["Lake", "RecordRejected", "write_rows"]


class RecordRejected(DomainError, ValueError):
    """The lake's checks refused a lifecycle row (the message names the field and the rule)."""


@dataclass(frozen=True, slots=True)
class Lake:
    """Where lifecycle rows go: the lake folder and the person-key salt ingest needs."""

    dir: Path
    salt: str


def write_rows(
    lake: Lake, table: str, rows: Sequence[Mapping[str, Any]], *, source: str, today: date
) -> BatchReport:
    """Write ``rows`` (catalog columns of ``table``; missing ones null) as one lake batch."""
    t = catalog.table(table)
    unknown = sorted({k for row in rows for k in row} - set(t.columns))
    if unknown:
        raise ValueError(f"{table}: unknown column(s) {', '.join(unknown)}; catalog columns: {t.columns}")
    frame = pl.DataFrame([{c: row.get(c) for c in t.columns} for row in rows], schema=t.schema)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in source)[:120]
    with tempfile.TemporaryDirectory(prefix="creditwatch-lifecycle-") as tmp:
        path = Path(tmp) / f"{table}-{safe}.parquet"
        frame.write_parquet(path)
        try:
            report = ingest_file(path, table=table, lake_dir=lake.dir, salt=lake.salt, today=today)
        except LakeBusy as exc:
            raise BusyError(f"{table} row(s) of {source}: {exc}", field="lake") from None
    if report.rows_quarantined:
        problems = (
            scan_quarantine(lake.dir, table)
            .filter(pl.col("batch_id") == report.batch_id)
            .select("field", "rule", "message")
            .collect()
            .rows()
        )
        detail = "; ".join(f"{f}: {rule} ({msg})" for f, rule, msg in problems)
        raise RecordRejected(f"{table} row(s) of {source} refused by the lake checks: {detail}")
    return report
