"""A department's sampling tasks and a task's list (tier, reasons, team, results) on screen and as CSV/XLSX,
with per entity whether the actor may record it — the use cases behind "my tasks" and the inspectors' list.

A department reads its own tasks (:func:`serving.services.sampling.task_of_department`); an inspector's own
visits are those whose team holds their roster id (their identity's ``person_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from serving.services.context import Context, use_case
from serving.services.sampling import InspectorRef, me, task_of_department
from supervision.platform.access import Role
from supervision.sampling import exports, tasks
from supervision.sampling.errors import SamplingInputError
from supervision.sampling.exports import ExportFormat
from supervision.sampling.tables import Inspector
from supervision.sampling.tasks import TaskInfo, TierShare

__all__ = [
    "MEDIA_TYPES",
    "ExportFile",
    "ListEntry",
    "TaskDetail",
    "TaskList",
    "TaskRow",
    "export_task",
    "get_task",
    "list_tasks",
]

TASK_READERS = (Role.SUPERVISOR, Role.INSPECTOR)

MEDIA_TYPES: Mapping[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class TaskRow:
    """A task with its progress: results recorded / entities on the list, and for an inspector the same
    counted over the visits they are on (None for other roles)."""

    task: TaskInfo
    done: int
    size: int
    mine: tuple[int, int] | None


@dataclass(frozen=True)
class TaskList:
    tasks: tuple[TaskRow, ...]
    inspector: InspectorRef | None


@use_case("sampling.list", roles=TASK_READERS)
def list_tasks(ctx: Context, *, period: str | None = None) -> TaskList:
    """The actor's department's tasks, oldest first (of one period if given), with their progress."""
    department = ctx.department()
    listed = tasks.list_tasks(ctx.session, period=period, department=department)
    progress = tasks.task_progress(ctx.session)
    person = me(ctx)
    mine = tasks.task_progress(ctx.session, inspector_id=person.inspector_id) if person is not None else {}
    rows = tuple(
        TaskRow(
            task=t,
            done=progress.get(t.task_id, (0, 0))[0],
            size=progress.get(t.task_id, (0, t.selected or 0))[1],
            mine=None if ctx.actor.role is not Role.INSPECTOR else mine.get(t.task_id, (0, 0)),
        )
        for t in listed
    )
    ctx.audit(
        "sampling.list",
        target=f"department:{department}",
        details={"period": period, "tasks": len(rows)},
        read=True,
    )
    return TaskList(tasks=rows, inspector=InspectorRef.of(person))


@dataclass(frozen=True)
class ListEntry:
    """One entity of a task's list: the export's columns, the visit's team, and whether the actor may
    record its result (``blocked`` None) or why not: ``done``, ``unstaffed``, ``waiting`` (no inspectors
    assigned yet), ``unlinked`` (an inspector identity not on the roster), ``not_mine`` (another team's)."""

    task_id: str
    visit_id: str | None
    uscc: str
    tier: str
    reasons: str | None
    inclusion_probability: float
    in_control_slice: bool
    items: str
    inspectors: str
    visit_status: str
    outcome: str | None
    inspected_on: date | None
    publication_due_on: date | None
    published_on: date | None
    team: tuple[str, ...]
    mine: bool
    blocked: str | None


@dataclass(frozen=True)
class TaskDetail:
    """A task, its list, and per tier the configured ratio beside the actual inclusion (selected/eligible)."""

    task: TaskInfo
    entries: tuple[ListEntry, ...]
    inspector: InspectorRef | None
    tiers: tuple[TierShare, ...] = ()


def _entry(row: Mapping[str, Any], *, is_inspector: bool, person: Inspector | None) -> ListEntry:
    team = tuple(i for i in (row["inspectors"] or "").split("; ") if i)
    mine = person is not None and person.inspector_id in team
    blocked: str | None = None
    if row["outcome"] is not None:
        blocked = "done"
    elif row["visit_status"] == "unstaffed":
        blocked = "unstaffed"
    elif row["visit_status"] != "assigned":
        blocked = "waiting"
    elif is_inspector and person is None:
        blocked = "unlinked"
    elif is_inspector and not mine:
        blocked = "not_mine"
    return ListEntry(**row, team=team, mine=mine, blocked=blocked)


@use_case("sampling.task", roles=TASK_READERS)
def get_task(ctx: Context, task_id: str, *, reasons: pl.DataFrame | None = None) -> TaskDetail:
    """A task of the actor's department with its list: tier, top reasons (from `reasons`: uscc, reasons),
    team, items and results, and per entity whether the actor may record it; per tier the configured ratio
    beside the eligible entities, the exact inclusion probability and, once drawn, selected / eligible."""
    task = task_of_department(ctx, task_id)
    frame = exports.export_frame(ctx.session, task_id, reasons=reasons)
    person = me(ctx)
    is_inspector = ctx.actor.role is Role.INSPECTOR
    entries = tuple(_entry(r, is_inspector=is_inspector, person=person) for r in frame.iter_rows(named=True))
    ctx.audit("sampling.task", target=f"task:{task_id}", details={"entities": len(entries)}, read=True)
    return TaskDetail(
        task=tasks.task_info(ctx.session, task_id),
        entries=entries,
        inspector=InspectorRef.of(person),
        tiers=tasks.tier_shares(ctx.session, task),
    )


@dataclass(frozen=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes
    rows: int


@use_case("sampling.export", roles=TASK_READERS)
def export_task(
    ctx: Context, task_id: str, *, fmt: ExportFormat = "csv", reasons: pl.DataFrame | None = None
) -> ExportFile:
    """The list of a task of the actor's department for inspectors: CSV (UTF-8 with BOM) or XLSX."""
    if fmt not in MEDIA_TYPES:
        raise SamplingInputError(f"format {fmt!r}: expected one of {sorted(MEDIA_TYPES)}", field="format")
    task_of_department(ctx, task_id)
    frame = exports.export_frame(ctx.session, task_id, reasons=reasons)
    ctx.audit(
        "sampling.export", target=f"task:{task_id}", details={"format": fmt, "rows": frame.height}, read=True
    )
    return ExportFile(
        filename=f"{task_id}.{fmt}",
        media_type=MEDIA_TYPES[fmt],
        content=exports.export_bytes(frame, fmt),
        rows=frame.height,
    )
