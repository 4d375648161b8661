"""Results of double-random visits: recording one (谁检查、谁录入), publishing it (谁公开), the overdue
report, a task's estimates and the inspection records for training — one use case each.

Authority beyond the role, checked here against ``ctx.actor`` (docs/sampling.md, "Who may do what"):

- 谁检查、谁录入 (domain-rules §2.7): an inspector records only a visit they are on the team of, always as
  themselves — the identity's ``person_id`` is their roster ``inspector_id`` (not the token's name, not a
  typed recorder). A supervisor of the task's department records on behalf of a member of the visit's team.
- A department acts on its own tasks: recording goes through a task of the actor's department (a joint
  visit's one result is recorded through any of its departments' tasks); publishing is for a supervisor of a
  department the visit covers; the overdue report is the actor's department's.
- Estimates and the inspection records are aggregates for model work: analysts read every task's,
  supervisors their department's.

"Today" is ``ctx.today``, the date in China: a visit dated today is accepted at any hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from serving.services.context import Context, use_case
from serving.services.sampling import SUPERVISORS, me, task_of_department
from supervision.platform.access import Role
from supervision.platform.errors import ForbiddenError
from supervision.sampling import estimates, results, visits
from supervision.sampling.errors import SamplingInputError, UnknownTaskError
from supervision.sampling.results import PUBLICATION_WORKING_DAYS

__all__ = [
    "EstimateRow",
    "OverdueRow",
    "Published",
    "RecordedResult",
    "inspection_records",
    "overdue_report",
    "publish_result",
    "record_result",
    "task_estimates",
]

RECORDERS = (Role.INSPECTOR, Role.SUPERVISOR)
MODEL_READERS = (Role.SUPERVISOR, Role.ANALYST)


@dataclass(frozen=True)
class RecordedResult:
    visit_id: str
    outcome: str
    recorded_by: str
    publication_due_on: date


def _recorder(ctx: Context, task_id: str, uscc: str, recorded_by: str | None) -> str:
    """Who the result is recorded as: an inspector is themselves and must be on the visit's team; a
    supervisor names a member of it (the domain checks the team)."""
    if ctx.actor.role is not Role.INSPECTOR:
        if not recorded_by:
            raise SamplingInputError(
                "recorded_by: a supervisor records on behalf of a member of the visit's team: name them "
                "(谁检查、谁录入)",
                field="recorded_by",
            )
        return recorded_by
    person = me(ctx)
    if person is None:
        held = "no person id" if not ctx.actor.person_id else f"person id {ctx.actor.person_id!r}"
        raise ForbiddenError(
            f"inspector {ctx.actor.actor} has {held}, so it is not linked to the roster: an inspector's "
            "token carries their roster inspector_id "
            "(creditwatch tokens create --role inspector --person I03)",
            field="actor.person_id",
        )
    if recorded_by and recorded_by != person.inspector_id:
        raise ForbiddenError(
            f"an inspector records their own results: recorded_by must be {person.inspector_id!r} or left "
            f"out, got {recorded_by!r} (谁检查、谁录入)",
            field="recorded_by",
        )
    visit = visits.visit_on_list(ctx.session, task_id, uscc)
    team = visits.teams(ctx.session, [visit.visit_id]).get(visit.visit_id, [])
    if person.inspector_id not in team:
        raise ForbiddenError(
            f"visit {visit.visit_id} is not {person.inspector_id}'s: an inspector records only the visits "
            "they are on the team of (谁检查、谁录入)"
        )
    return person.inspector_id


@use_case("sampling.result", roles=RECORDERS)
def record_result(
    ctx: Context,
    task_id: str,
    *,
    uscc: str,
    outcome: str,
    inspected_on: date,
    findings: str = "",
    recorded_by: str | None = None,
    publication_working_days: int = PUBLICATION_WORKING_DAYS,
) -> RecordedResult:
    """Record what the visit to `uscc` on a task of the actor's department found (dated today in China or
    earlier); the publication clock (working days) starts."""
    task_of_department(ctx, task_id)
    recorder = _recorder(ctx, task_id, uscc, recorded_by)
    out = results.record_result(
        ctx.session,
        task_id=task_id,
        uscc=uscc,
        outcome=outcome,
        inspected_on=inspected_on,
        recorded_by=recorder,
        today=ctx.today,
        findings=findings,
        publication_working_days=publication_working_days,
    )
    ctx.audit(
        "sampling.result",
        target=f"task:{task_id}",
        details={
            "uscc": uscc,
            "outcome": outcome,
            "visit_id": out["visit_id"],
            "recorded_by": recorder,
            "inspected_on": inspected_on.isoformat(),
        },
    )
    return RecordedResult(
        visit_id=out["visit_id"],
        outcome=outcome,
        recorded_by=recorder,
        publication_due_on=out["publication_due_on"],
    )


@dataclass(frozen=True)
class Published:
    visit_id: str
    published_on: date


@use_case("sampling.publish", roles=SUPERVISORS)
def publish_result(ctx: Context, visit_id: str, *, on: date | None = None) -> Published:
    """Mark a visit's result as published on the enterprise credit information publicity system (default:
    today in China), by a supervisor of a department the visit covers."""
    departments = visits.visit_departments(ctx.session, visit_id)
    if not departments:
        raise UnknownTaskError(f"no visit {visit_id!r} on any task's list", field="visit_id")
    acting = ctx.department()
    if acting not in departments:
        raise ForbiddenError(
            f"visit {visit_id} is {', '.join(departments)}'s; {ctx.actor.actor} acts for {acting}",
            field="visit_id",
        )
    day = on or ctx.today
    results.mark_published(ctx.session, visit_id, published_on=day, today=ctx.today)
    ctx.audit("sampling.publish", target=f"visit:{visit_id}", details={"published_on": day.isoformat()})
    return Published(visit_id=visit_id, published_on=day)


@dataclass(frozen=True)
class OverdueRow:
    department: str
    results: int
    published: int
    unpublished: int
    overdue: int


@use_case("sampling.overdue", roles=SUPERVISORS)
def overdue_report(ctx: Context, *, on: date | None = None) -> list[OverdueRow]:
    """The actor's department's results: recorded, published, unpublished and past the publication deadline
    on `on` (default: today in China)."""
    department = ctx.department()
    day = on or ctx.today
    rows = results.overdue_report(ctx.session, today=day, department=department)
    ctx.audit(
        "sampling.overdue", target=f"department:{department}", details={"on": day.isoformat()}, read=True
    )
    return [OverdueRow(**row) for row in rows]


@dataclass(frozen=True)
class EstimateRow:
    """Overall (``tier`` "all") or one tier; a rate without any result to estimate from is None."""

    tier: str
    population: int
    inspected: int
    violations: int
    ht_rate: float | None
    rate: float | None
    std_error: float | None
    ci_low: float | None
    ci_high: float | None
    predicted_rate: float | None


def _readable(ctx: Context, task_id: str | None) -> str | None:
    """The department whose results the actor reads: their own (supervisors; a task must be theirs), or
    every department's (analysts)."""
    if ctx.actor.role is Role.ANALYST:
        return None
    if task_id is not None:
        task_of_department(ctx, task_id)
    return ctx.department()


def _without_nan(row: dict[str, Any]) -> dict[str, Any]:
    # NaN (a tier without inspections) means "no estimate": None, which JSON and tables can show.
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


@use_case("sampling.estimate", roles=MODEL_READERS)
def task_estimates(
    ctx: Context, task_id: str, *, population: pl.DataFrame | None = None
) -> list[EstimateRow]:
    """Horvitz–Thompson violation rate of the task's eligible population with a 95% interval, overall and per
    tier, beside the predicted rate (`population`'s ``probability``)."""
    _readable(ctx, task_id)
    frame = estimates.task_estimates(ctx.session, task_id, population=population)
    ctx.audit("sampling.estimate", target=f"task:{task_id}", details={"tiers": frame.height - 1}, read=True)
    return [EstimateRow(**_without_nan(row)) for row in frame.to_dicts()]


@use_case("sampling.records", roles=MODEL_READERS)
def inspection_records(ctx: Context, *, task_id: str | None = None) -> pl.DataFrame:
    """Results as rows of the catalog's ``inspections`` table (with their inclusion probability) for ingest
    and training: a supervisor's department's, or every department's for an analyst."""
    department = _readable(ctx, task_id)
    frame = results.inspection_records(ctx.session, task_id=task_id, department=department)
    ctx.audit(
        "sampling.records",
        target="inspection_results" if task_id is None else f"task:{task_id}",
        details={"rows": frame.height},
        read=True,
    )
    return frame
