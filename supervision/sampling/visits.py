"""Visits: a period's drawn lists merged into one visit per entity (进一次门、查多项事), inspectors drawn with
recusal."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from supervision.sampling.assignment import assign_inspectors
from supervision.sampling.draw import merge_visits
from supervision.sampling.errors import TaskStateError, UnknownEntityError
from supervision.sampling.roster import inspectors_frame
from supervision.sampling.tables import (
    AssignmentExclusion,
    InspectionResult,
    SamplingTask,
    TaskAssignment,
    TaskSelection,
    Visit,
)
from supervision.sampling.tasks import get_task

__all__ = [
    "PeriodAssignment",
    "assign_period",
    "previous_inspectors",
    "teams",
    "visit_departments",
    "visit_on_list",
    "waiting_departments",
]


@dataclass(frozen=True)
class PeriodAssignment:
    visits: int
    assigned: int
    unstaffed: pl.DataFrame
    exclusions: int


def previous_inspectors(session: Session, usccs: Iterable[str]) -> pl.DataFrame:
    """The inspectors of each entity's latest recorded inspection (they are recused next time)."""
    wanted = sorted(set(usccs))
    rows: list[tuple[str, str, date]] = []
    for chunk_start in range(0, len(wanted), 1000):
        chunk = wanted[chunk_start : chunk_start + 1000]
        rows += session.execute(
            sa.select(Visit.uscc, TaskAssignment.inspector_id, InspectionResult.inspected_on)
            .join(InspectionResult, InspectionResult.visit_id == Visit.visit_id)
            .join(TaskAssignment, TaskAssignment.visit_id == Visit.visit_id)
            .where(Visit.uscc.in_(chunk))
        ).all()
    df = pl.DataFrame(
        rows, schema={"uscc": pl.String(), "inspector_id": pl.String(), "on": pl.Date()}, orient="row"
    )
    return df.filter(pl.col("on") == pl.col("on").max().over("uscc")).select("uscc", "inspector_id")


def assign_period(
    session: Session,
    period: str,
    *,
    links: pl.DataFrame | None = None,
    team_size: int = 2,
    max_visits: int | None = None,
) -> PeriodAssignment:
    """Merge the period's drawn lists into visits (one per entity) and draw the inspectors of new visits.

    ``links``: (uscc, person_key) of each entity's legal representative, shareholders and controllers.
    The inspector draw is seeded from the SHA-256 of the participating tasks' revealed seeds, so anyone
    holding them can re-run it.
    """
    pending = session.scalars(
        sa.select(TaskSelection)
        .join(SamplingTask, SamplingTask.task_id == TaskSelection.task_id)
        .where(SamplingTask.period == period, TaskSelection.visit_id.is_(None))
        .order_by(TaskSelection.uscc, TaskSelection.task_id)
    ).all()
    if not pending:
        raise TaskStateError(f"period {period!r}: no drawn selection waits for a visit")
    tasks = {
        t.task_id: t for t in session.scalars(sa.select(SamplingTask).where(SamplingTask.period == period))
    }
    inspectors, declared = inspectors_frame(session)
    if inspectors.height == 0:
        raise TaskStateError(
            "the inspector roster is empty: import it first (creditwatch sample inspectors import)"
        )
    by_uscc: dict[str, list[TaskSelection]] = {}
    for sel in pending:
        by_uscc.setdefault(sel.uscc, []).append(sel)
    merged = merge_visits(
        pl.DataFrame(
            {
                "task_id": [s.task_id for s in pending],
                "department": [tasks[s.task_id].department for s in pending],
                "uscc": [s.uscc for s in pending],
                "items": [list(s.items) for s in pending],
            },
            schema={
                "task_id": pl.String(),
                "department": pl.String(),
                "uscc": pl.String(),
                "items": pl.List(pl.String()),
            },
        )
    )
    rounds = dict(
        session.execute(
            sa.select(Visit.uscc, sa.func.count()).where(Visit.period == period).group_by(Visit.uscc)
        ).all()
    )
    new_visits: list[Visit] = []
    for uscc, items in merged.select("uscc", "items").iter_rows():
        round_no = int(rounds.get(uscc, 0)) + 1
        new_visits.append(
            Visit(
                visit_id=f"{period}-{uscc}-{round_no}",
                period=period,
                uscc=uscc,
                round=round_no,
                items=list(items),
                status="planned",
                unstaffed_reason=None,
            )
        )
    session.add_all(new_visits)
    session.flush()  # the visits exist before the selections point at them (foreign key)
    for visit in new_visits:
        for sel in by_uscc[visit.uscc]:
            sel.visit_id = visit.visit_id
    session.flush()

    # Qualifications name bare check items; a visit needs every item of every department it covers.
    visits = pl.DataFrame(
        {
            "visit_id": [v.visit_id for v in new_visits],
            "uscc": [v.uscc for v in new_visits],
            "items": [sorted({i.split(": ", 1)[1] for i in v.items}) for v in new_visits],
        },
        schema={"visit_id": pl.String(), "uscc": pl.String(), "items": pl.List(pl.String())},
    )
    seeds = sorted(
        bytes.fromhex(tasks[s.task_id].revealed_seed or "")
        for s in pending  # every pending selection belongs to a drawn task (seed revealed)
    )
    seed = hashlib.sha256(b"".join(sorted(set(seeds)))).digest()
    result = assign_inspectors(
        visits,
        inspectors,
        seed=seed,
        declared=declared,
        links=links,
        previous=previous_inspectors(session, visits["uscc"].to_list()),
        team_size=team_size,
        max_visits=max_visits,
    )
    if result.assignments.height:
        session.execute(sa.insert(TaskAssignment), result.assignments.to_dicts())
    if result.exclusions.height:
        session.execute(sa.insert(AssignmentExclusion), result.exclusions.to_dicts())
    reasons = dict(result.unstaffed.select("visit_id", "reason").iter_rows())
    for v in new_visits:
        if v.visit_id in reasons:
            v.status, v.unstaffed_reason = "unstaffed", reasons[v.visit_id]
        else:
            v.status = "assigned"
    session.flush()
    return PeriodAssignment(
        visits=len(new_visits),
        assigned=len(new_visits) - len(reasons),
        unstaffed=result.unstaffed,
        exclusions=result.exclusions.height,
    )


def teams(session: Session, visit_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each visit's team (inspector ids, sorted)."""
    teams: dict[str, list[str]] = {}
    ids = sorted(set(visit_ids))
    for start in range(0, len(ids), 1000):
        for v, i in session.execute(
            sa.select(TaskAssignment.visit_id, TaskAssignment.inspector_id)
            .where(TaskAssignment.visit_id.in_(ids[start : start + 1000]))
            .order_by(TaskAssignment.visit_id, TaskAssignment.inspector_id)
        ):
            teams.setdefault(v, []).append(i)
    return teams


def visit_on_list(session: Session, task_id: str, uscc: str) -> Visit:
    """The visit of an entity on a task's list (refused when it is not on the list or not visited yet)."""
    get_task(session, task_id)
    sel = session.get(TaskSelection, (task_id, uscc))
    if sel is None:
        raise UnknownEntityError(f"uscc {uscc!r} is not on the list of task {task_id}")
    if sel.visit_id is None:
        raise TaskStateError(
            f"task {task_id}, uscc {uscc}: no visit yet — assign the period's inspectors first"
        )
    visit = session.get(Visit, sel.visit_id)
    assert visit is not None  # foreign key
    return visit


def visit_departments(session: Session, visit_id: str) -> list[str]:
    """The departments whose tasks the visit covers (one for a plain visit, several for a joint one)."""
    return sorted(
        session.scalars(
            sa.select(SamplingTask.department)
            .join(TaskSelection, TaskSelection.task_id == SamplingTask.task_id)
            .where(TaskSelection.visit_id == visit_id)
            .distinct()
        )
    )


def waiting_departments(session: Session, period: str) -> list[str]:
    """The departments with a drawn selection of `period` that waits for a visit."""
    return sorted(
        session.scalars(
            sa.select(SamplingTask.department)
            .join(TaskSelection, TaskSelection.task_id == SamplingTask.task_id)
            .where(SamplingTask.period == period, TaskSelection.visit_id.is_(None))
            .distinct()
        )
    )


def busiest_inspector(session: Session) -> str | None:
    """The roster inspector on the most visits (ties: the smallest id), or None without assignments."""
    count = sa.func.count(TaskAssignment.visit_id)
    row = session.execute(
        sa.select(TaskAssignment.inspector_id, count)
        .group_by(TaskAssignment.inspector_id)
        .order_by(count.desc(), TaskAssignment.inspector_id)
        .limit(1)
    ).first()
    return None if row is None else str(row[0])
