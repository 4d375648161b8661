"""The record lake's use cases: ingest files (lake batches, their ledger rows and the audit entry), and read
the quarantine, the lake's summary and the 重错码治理 report.

Each admits an analyst, or the local operator on the lake's own machine (``local=True``). The ingest date
is today in China (``ctx.today``): a row dated today is never "in the future", whatever the hour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from features import catalog, governance, ingest, lake
from serving.services.context import Context, use_case
from supervision.platform import ledger
from supervision.platform.access import Role
from supervision.platform.errors import BusyError, ConflictError, DomainError

__all__ = [
    "IngestResult",
    "LakeSummary",
    "QuarantinePage",
    "Step",
    "governance_report",
    "ingest_files",
    "lake_summary",
    "quarantine_rows",
]

ANALYST = (Role.ANALYST,)


@dataclass(frozen=True, slots=True)
class Step:
    """How far an ingest is: `done` of `total` files, and a line on the last one done."""

    done: int
    total: int
    line: str


@dataclass(frozen=True, slots=True)
class IngestResult:
    """One batch per file in ingest order, the ingest date, and what stopped the run if a file did (the
    batches before it are in the lake and the ledger; nothing of that file is)."""

    batches: tuple[ingest.BatchReport, ...]
    today: date
    failure: str | None = None

    @property
    def totals(self) -> dict[str, int]:
        return {
            "read": sum(b.rows_read for b in self.batches),
            "accepted": sum(b.rows_accepted for b in self.batches),
            "quarantined": sum(b.rows_quarantined for b in self.batches),
            "batches": len(self.batches),
        }


@dataclass(frozen=True, slots=True)
class QuarantinePage:
    """Quarantine rows matching a filter: how many there are, and the first `limit` of them."""

    total: int
    rows: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class LakeSummary:
    """Rows per catalog table (batches, read, accepted, quarantined, in the lake), and quarantine per rule."""

    tables: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]


def _table(table: str | None) -> None:
    if table is not None:
        try:
            catalog.table(table)
        except ValueError as exc:
            raise DomainError(str(exc), field="table") from None


def _ingest_date(ctx: Context, today: date | None) -> date:
    if today is None:
        return ctx.today
    if today > ctx.today:
        raise DomainError(
            f"today {today.isoformat()}: after today in China ({ctx.today.isoformat()}); rows dated in the "
            "future would pass the past_date rule",
            field="today",
        )
    return today


def _record(ctx: Context, batches: Sequence[ingest.BatchReport]) -> None:
    """Every batch in the ledger, in the use case's transaction (recording a batch again changes nothing)."""
    for b in batches:
        try:
            ledger.record_batch(
                ctx.session,
                batch_id=b.batch_id,
                table=b.table,
                source=b.source,
                content_sha256=b.content_sha256,
                rows_read=b.rows_read,
                rows_accepted=b.rows_accepted,
                rows_quarantined=b.rows_quarantined,
                ingested_at=b.ingested_at,
            )
        except ValueError as exc:
            raise ConflictError(
                f"{exc} (the batch is in the lake; the ledger is unchanged)", field="ledger"
            ) from exc


WAITING = "waiting for another ingest into this lake to finish (one writer at a time)"


@use_case("data.ingest", roles=ANALYST, local=True)
def ingest_files(
    ctx: Context,
    paths: Sequence[Path],
    *,
    table: str | None = None,
    today: date | None = None,
    progress: Callable[[Step], None] | None = None,
) -> IngestResult:
    """Check files against the record catalog: good rows into the lake, bad rows to quarantine, one batch
    per file, each recorded in the ledger. `today` (the past_date rule's day) defaults to today in China
    and may not be later. A file that cannot be read stops the run; the batches before it stay."""
    _table(table)
    day = _ingest_date(ctx, today)
    try:
        planned = ingest.plan(paths, table=table)
    except ingest.IngestError as exc:
        raise DomainError(str(exc), field="paths") from None
    settings = ctx.settings
    if progress is not None:
        progress(Step(0, len(planned), "ingesting"))
    batches: list[ingest.BatchReport] = []
    failure = None
    written = ingest.ingest_planned(
        planned,
        lake_dir=settings.lake_dir,
        salt=settings.person_salt,
        today=day,
        allow=settings.uscc_allow_list,
        on_wait=lambda: progress(Step(0, len(planned), WAITING)) if progress is not None else None,
    )
    try:
        for (path, _), report in zip(planned, written, strict=True):
            batches.append(report)
            if progress is not None:
                progress(Step(len(batches), len(planned), ingest.describe(path, report)))
    except ingest.IngestError as exc:
        failure = f"{exc} (nothing of this file was written)"
    except lake.LakeBusy as exc:
        if not batches:
            raise BusyError(str(exc), field="lake") from None
        failure = f"{exc} (nothing of this file was written)"
    ctx.lock_for_write()  # only now: the lake work above held no lock other writers wait for
    _record(ctx, batches)
    result = IngestResult(batches=tuple(batches), today=day, failure=failure)
    ctx.audit(
        "data.ingest",
        target="lake",
        details={
            "today": day.isoformat(),
            "batches": [b.batch_id for b in batches],
            "ingested": sum(b.status == "ingested" for b in batches),
            "already_ingested": sum(b.status == "already_ingested" for b in batches),
            **{k: v for k, v in result.totals.items() if k != "batches"},
            "failure": failure,
        },
        result="ok" if failure is None else "error",
    )
    return result


@use_case("data.quarantine", roles=ANALYST, local=True)
def quarantine_rows(
    ctx: Context, *, table: str | None = None, rule: str | None = None, limit: int = 50
) -> QuarantinePage:
    """Quarantined rows (file, line, field, rule, value, message), of one table and rule if given; the first
    `limit` of them (0: all)."""
    _table(table)
    known = (*ingest.RULES, *ingest.PUSH_RULES)
    if rule is not None and rule not in known:
        raise DomainError(f"unknown rule {rule!r}; expected one of {', '.join(known)}", field="rule")
    if limit < 0:
        raise DomainError(f"limit {limit}: must be 0 (all) or more", field="limit")
    rows = lake.scan_quarantine(ctx.settings.lake_dir, table)
    if rule is not None:
        rows = rows.filter(pl.col("rule") == rule)
    counted, head = pl.collect_all([rows.select(pl.len()), rows.head(limit) if limit else rows])
    page = QuarantinePage(total=counted.item(), rows=head.to_dicts())
    ctx.audit(
        "data.quarantine",
        target="lake",
        details={"table": table, "rule": rule, "total": page.total, "shown": len(page.rows)},
        read=True,
    )
    return page


@use_case("data.summary", roles=ANALYST, local=True)
def lake_summary(ctx: Context) -> LakeSummary:
    """Rows per catalog table (batches, read, accepted, quarantined, now in the lake), and quarantine per
    table and rule (quarantine entries, and the input rows behind them)."""
    lake_dir = ctx.settings.lake_dir
    all_batches = lake.batches(lake_dir)
    tables: list[dict[str, Any]] = []
    for t in catalog.TABLES:
        mine = [b for b in all_batches if b.table == t.name]
        tables.append(
            {
                "table": t.name,
                "zh": t.zh,
                "batches": len(mine),
                "read": sum(b.rows_read for b in mine),
                "accepted": sum(b.rows_accepted for b in mine),
                "quarantined": sum(b.rows_quarantined for b in mine),
                "rows_in_lake": lake.scan(lake_dir, t.name).select(pl.len()).collect().item(),
            }
        )
    by_rule = (
        lake.scan_quarantine(lake_dir)
        .group_by("table", "rule")
        .agg(pl.len().alias("quarantine_rows"), pl.struct("batch_id", "line").n_unique().alias("input_rows"))
        .sort("table", "rule")
        .collect()
        .to_dicts()
    )
    ctx.audit("data.summary", target="lake", details={"batches": len(all_batches)}, read=True)
    return LakeSummary(tables=tables, quarantine=by_rule)


@use_case("data.governance", roles=ANALYST, local=True)
def governance_report(ctx: Context) -> governance.GovernanceReport:
    """重错码治理: invalid codes, one code under several names, one name under several codes (per 10,000)."""
    report = governance.from_lake(ctx.settings.lake_dir, allow=ctx.settings.uscc_allow_list)
    ctx.audit(
        "data.governance",
        target="lake",
        details={"entities": report.entities, **{f.kind: f.count for f in report.findings}},
        read=True,
    )
    return report
