"""Inspection results: recording a visit's outcome (谁检查、谁录入), the publication clock (谁公开), records
for training."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from features.catalog import INSPECTION_OUTCOMES, INSPECTIONS
from supervision.platform.calendar import due_date
from supervision.sampling.errors import SamplingInputError, TaskStateError, UnknownTaskError
from supervision.sampling.tables import InspectionResult, SamplingTask, TaskSelection, Visit, utcnow
from supervision.sampling.visits import teams, visit_on_list

__all__ = [
    "PUBLICATION_WORKING_DAYS",
    "inspection_records",
    "lake_last_inspected",
    "last_inspected",
    "mark_published",
    "overdue_report",
    "record_result",
    "with_last_inspected",
]

# 企业信息公示暂行条例 art 6: publicised within 20 working days (domain-rules §2.7); configurable per call.
PUBLICATION_WORKING_DAYS = 20


def record_result(
    session: Session,
    *,
    task_id: str,
    uscc: str,
    outcome: str,
    inspected_on: date,
    recorded_by: str,
    today: date,
    findings: str = "",
    publication_working_days: int = PUBLICATION_WORKING_DAYS,
) -> dict[str, Any]:
    """Record what the visit to ``uscc`` (on ``task_id``'s list) found; the publication clock starts.

    ``today`` is the date in China (the caller's clock): a visit dated later is refused. ``recorded_by`` must
    be on the visit's team (谁检查、谁录入); who may name whom is the caller's rule
    (serving.services.sampling).
    """
    if outcome not in INSPECTION_OUTCOMES:
        raise SamplingInputError(
            f"outcome {outcome!r}: expected one of {list(INSPECTION_OUTCOMES)}", field="outcome"
        )
    if not recorded_by.strip():
        raise SamplingInputError(
            "recorded_by: the inspector who records the result is required (谁检查、谁录入)",
            field="recorded_by",
        )
    if inspected_on > today:
        raise SamplingInputError(
            f"inspected_on {inspected_on.isoformat()} is in the future "
            f"(today in China is {today.isoformat()})",
            field="inspected_on",
        )
    if not 1 <= publication_working_days <= 365:
        raise SamplingInputError(
            f"publication_working_days {publication_working_days}: must lie in [1, 365]",
            field="publication_working_days",
        )
    visit = visit_on_list(session, task_id, uscc)
    if visit.status == "unstaffed":
        raise TaskStateError(f"visit {visit.visit_id} has no inspectors: {visit.unstaffed_reason}")
    if session.get(InspectionResult, visit.visit_id) is not None:
        raise TaskStateError(f"visit {visit.visit_id} already has a result")
    team = teams(session, [visit.visit_id]).get(visit.visit_id, [])
    if recorded_by not in team:
        raise SamplingInputError(
            f"recorded_by {recorded_by!r} is not assigned to visit {visit.visit_id} (team: {team})",
            field="recorded_by",
        )
    due = due_date(inspected_on, publication_working_days)
    session.add(
        InspectionResult(
            visit_id=visit.visit_id,
            outcome=outcome,
            findings=findings,
            inspected_on=inspected_on,
            recorded_by=recorded_by,
            recorded_at=utcnow(),
            publication_due_on=due,
            published_on=None,
        )
    )
    visit.status = "inspected"
    session.flush()
    return {"visit_id": visit.visit_id, "outcome": outcome, "publication_due_on": due}


def mark_published(session: Session, visit_id: str, *, published_on: date, today: date) -> InspectionResult:
    """The visit's result was published on the enterprise credit information publicity system on that day."""
    result = session.get(InspectionResult, visit_id)
    if result is None:
        raise UnknownTaskError(f"visit {visit_id!r} has no recorded result", field="visit_id")
    if published_on < result.inspected_on:
        raise SamplingInputError(
            f"published_on {published_on} is before the inspection ({result.inspected_on})",
            field="published_on",
        )
    if published_on > today:
        raise SamplingInputError(
            f"published_on {published_on} is in the future (today in China is {today})", field="published_on"
        )
    result.published_on = published_on
    session.flush()
    return result


def overdue_report(session: Session, *, today: date, department: str | None = None) -> list[dict[str, Any]]:
    """Per department (or of one): results recorded, published, unpublished and overdue (past the
    deadline)."""
    q = (
        sa.select(SamplingTask.department, InspectionResult.publication_due_on, InspectionResult.published_on)
        .join(TaskSelection, TaskSelection.task_id == SamplingTask.task_id)
        .join(InspectionResult, InspectionResult.visit_id == TaskSelection.visit_id)
    )
    if department is not None:
        q = q.where(SamplingTask.department == department)
    report: dict[str, dict[str, Any]] = {}
    for dept, due, published in session.execute(q).all():
        r = report.setdefault(
            dept, {"department": dept, "results": 0, "published": 0, "unpublished": 0, "overdue": 0}
        )
        r["results"] += 1
        if published is not None:
            r["published"] += 1
        else:
            r["unpublished"] += 1
            r["overdue"] += int(due < today)
    return [report[d] for d in sorted(report)]


def inspection_records(
    session: Session, *, task_id: str | None = None, department: str | None = None
) -> pl.DataFrame:
    """Results as rows of the catalog's ``inspections`` table (one per task and visit), for training: all, or
    of one task and/or one department."""
    q = (
        sa.select(
            TaskSelection.task_id,
            TaskSelection.uscc,
            TaskSelection.items,
            TaskSelection.inclusion_probability,
            TaskSelection.in_control_slice,
            SamplingTask.department,
            InspectionResult,
        )
        .join(SamplingTask, SamplingTask.task_id == TaskSelection.task_id)
        .join(InspectionResult, InspectionResult.visit_id == TaskSelection.visit_id)
        .order_by(TaskSelection.task_id, TaskSelection.uscc)
    )
    if task_id is not None:
        q = q.where(TaskSelection.task_id == task_id)
    if department is not None:
        q = q.where(SamplingTask.department == department)
    rows = session.execute(q).all()
    by_visit = teams(session, [r[6].visit_id for r in rows])
    return pl.DataFrame(
        [
            {
                "inspection_id": f"{res.visit_id}/{tid}",
                "task_id": tid,
                "uscc": uscc,
                "department": dept,
                "check_items": ";".join(items),
                "inspected_on": res.inspected_on,
                "inspectors": ";".join(by_visit.get(res.visit_id, [])),
                "outcome": res.outcome,
                "findings": res.findings,
                "selection_probability": prob,
                "in_control_slice": ctrl,
            }
            for tid, uscc, items, prob, ctrl, dept, res in rows
        ],
        schema=INSPECTIONS.schema,
    )


def last_inspected(session: Session, *, as_of: date | None = None) -> pl.DataFrame:
    """(uscc, last_inspected_on) from the results recorded here (on or before ``as_of`` if given)."""
    q = (
        sa.select(Visit.uscc, sa.func.max(InspectionResult.inspected_on))
        .join(InspectionResult, InspectionResult.visit_id == Visit.visit_id)
        .group_by(Visit.uscc)
        .order_by(Visit.uscc)
    )
    if as_of is not None:
        q = q.where(InspectionResult.inspected_on <= as_of)
    rows = session.execute(q).all()
    return pl.DataFrame(
        [tuple(r) for r in rows], schema={"uscc": pl.String(), "last_inspected_on": pl.Date()}, orient="row"
    )


def lake_last_inspected(inspections: pl.LazyFrame, *, as_of: date | None = None) -> pl.DataFrame:
    """(uscc, last_inspected_on) from the lake's ``inspections`` table (on or before ``as_of`` if given)."""
    rows = inspections.select("uscc", "inspected_on").filter(pl.col("inspected_on").is_not_null())
    if as_of is not None:
        rows = rows.filter(pl.col("inspected_on") <= as_of)
    return (
        rows.group_by("uscc")
        .agg(last_inspected_on=pl.col("inspected_on").max().cast(pl.Date))
        .sort("uscc")
        .collect()
    )


def with_last_inspected(
    session: Session,
    roster: pl.DataFrame,
    *,
    as_of: date | None = None,
    inspections: pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """The roster with ``last_inspected_on`` = the latest inspection the system knows of: the roster's own
    column (if any), the results recorded here and the lake's ``inspections`` (if given) — each counted
    only when dated on or before ``as_of`` (if given). The rest periods of a draw are reckoned from it."""
    known = [last_inspected(session, as_of=as_of)]
    if inspections is not None:
        known.append(lake_last_inspected(inspections, as_of=as_of))
    dates = [pl.col("last_inspected_on").cast(pl.Date)] if "last_inspected_on" in roster.columns else []
    if as_of is not None and dates:
        dates = [pl.when(dates[0] <= as_of).then(dates[0])]
    out = roster
    for i, frame in enumerate(known):
        name = f"_known_{i}"
        out = out.join(frame.rename({"last_inspected_on": name}), on="uscc", how="left")
        dates.append(pl.col(name))
    names = [f"_known_{i}" for i in range(len(known))]
    return out.with_columns(last_inspected_on=pl.max_horizontal(*dates)).drop(names)
