"""A department's sampling tasks and a task's list (tier, reasons, team, results) on screen and as CSV/XLSX,
with per entity whether the actor may record it — the use cases behind "my tasks" and the inspectors' list.

A department reads its own tasks (:func:`serving.services.sampling.task_of_department`); an inspector's own
visits are those whose team holds their roster id (their identity's ``person_id``). A list is filtered
(district, tier, status, mine) and paged here, once, for the API and the pages alike (:class:`ListQuery`):
a task of a whole city draws hundreds of entities, too many for one page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import polars as pl

from features.uscc import division_code
from serving.services.context import Context, use_case
from serving.services.sampling import InspectorRef, me, task_of_department
from supervision.platform.access import Role
from supervision.sampling import exports, tasks
from supervision.sampling.errors import SamplingInputError, TaskStateError
from supervision.sampling.exports import ExportFormat
from supervision.sampling.tables import Inspector, SamplingTask
from supervision.sampling.tasks import TaskInfo, TierShare

__all__ = [
    "MEDIA_TYPES",
    "ExportFile",
    "ListEntry",
    "ListQuery",
    "TaskDetail",
    "TaskList",
    "TaskRow",
    "export_task",
    "get_task",
    "list_tasks",
]

TASK_READERS = (Role.SUPERVISOR, Role.INSPECTOR)
# Where a visit stands, as the list shows it: recorded, staffed and waiting for its result, without anyone
# to send, or drawn but not yet assigned to inspectors.
VisitState = Literal["done", "pending", "unstaffed", "waiting"]
STATES: tuple[VisitState, ...] = ("done", "pending", "unstaffed", "waiting")
LIST_TIERS = ("A", "B", "C", "D")
PER_PAGE = 50
MAX_PER_PAGE = 200
# A district is a GB/T 2260 division code or a prefix of it: 2 digits the province, 4 the city, 6 a district.
DISTRICT = re.compile(r"\d{2}(\d{2}){0,2}")

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
    district: str = ""  # 6-digit division code: the task roster's, else the USCC's positions 3–8

    @property
    def state(self) -> VisitState:
        if self.outcome is not None:
            return "done"
        if self.visit_status == "assigned":
            return "pending"
        if self.visit_status == "unstaffed":
            return "unstaffed"
        return "waiting"  # drawn, but the period's inspectors are not assigned yet


@dataclass(frozen=True)
class ListQuery:
    """Which part of a task's list to return: filters (each None: any) and a page.

    ``district`` is a division code or its prefix (``3209`` the city, ``320902`` a district); ``mine`` keeps
    the visits whose team holds the inspector's roster id; ``per_page`` None returns every matching entity
    (the API's default, as before paging), otherwise at most :data:`MAX_PER_PAGE`. ``highlight`` names an
    entity to return beside the page, wherever it falls (the notice after recording its result).
    """

    district: str | None = None
    tier: str | None = None
    status: str | None = None
    mine: bool = False
    page: int = 1
    per_page: int | None = PER_PAGE
    highlight: str | None = None

    def checked(self) -> ListQuery:
        """The query itself, or a :class:`SamplingInputError` naming the first bad field."""
        if self.district is not None and not DISTRICT.fullmatch(self.district):
            raise SamplingInputError(
                f"district {self.district[:16]!r}: expected a division code or its prefix (2, 4 or 6 digits, "
                "e.g. 3209 or 320902)",
                field="district",
            )
        if self.tier is not None and self.tier not in LIST_TIERS:
            raise SamplingInputError(
                f"tier {self.tier[:16]!r}: expected one of {list(LIST_TIERS)}", field="tier"
            )
        if self.status is not None and self.status not in STATES:
            raise SamplingInputError(
                f"status {self.status[:16]!r}: expected one of {list(STATES)}", field="status"
            )
        if self.page < 1:
            raise SamplingInputError(f"page {self.page}: pages start at 1", field="page")
        if self.page > 1 and self.per_page is None:
            raise SamplingInputError(f"page {self.page}: give per_page to page the list", field="page")
        if self.per_page is not None and not 1 <= self.per_page <= MAX_PER_PAGE:
            raise SamplingInputError(
                f"per_page {self.per_page}: expected 1 to {MAX_PER_PAGE}", field="per_page"
            )
        return self

    def matches(self, entry: ListEntry) -> bool:
        return (
            (self.district is None or entry.district.startswith(self.district))
            and (self.tier is None or entry.tier == self.tier)
            and (self.status is None or entry.state == self.status)
            and (not self.mine or entry.mine)
        )


@dataclass(frozen=True)
class TaskDetail:
    """A task, (a page of) its list, and per tier the configured ratio beside the actual inclusion
    (selected/eligible).

    ``total`` and ``done`` count the whole list, ``matched`` the entities the filters keep; ``entries`` are
    those of ``page`` (``first`` is the 1-based position of its first entity, 0 when the page is empty);
    ``districts`` are the division codes on the whole list, for a filter to offer."""

    task: TaskInfo
    entries: tuple[ListEntry, ...]
    inspector: InspectorRef | None
    tiers: tuple[TierShare, ...] = ()
    total: int = 0
    done: int = 0
    matched: int = 0
    page: int = 1
    per_page: int | None = None
    districts: tuple[str, ...] = ()
    highlighted: ListEntry | None = None

    @property
    def pages(self) -> int:
        if self.per_page is None:
            return 1
        return max(1, -(-self.matched // self.per_page))

    @property
    def first(self) -> int:
        return 0 if not self.entries else (self.page - 1) * (self.per_page or 0) + 1

    @property
    def last(self) -> int:
        return self.first + len(self.entries) - 1 if self.entries else 0


def _districts(task: SamplingTask, usccs: list[str]) -> dict[str, str]:
    """uscc → 6-digit division code: the task's roster snapshot's (what the draw's scope filtered on), else
    the USCC's registering authority (positions 3–8) when the snapshot has none or is gone."""
    known: dict[str, str] = {}
    try:
        roster = tasks.snapshot(task)
    except TaskStateError:
        roster = None
    if roster is not None and "division_code" in roster.columns and usccs:
        found = roster.filter(pl.col("uscc").is_in(usccs)).select("uscc", "division_code")
        known = {u: d for u, d in found.iter_rows() if d}
    return {u: known.get(u) or division_code(u) for u in usccs}


def _entry(
    row: Mapping[str, Any], *, is_inspector: bool, person: Inspector | None, district: str = ""
) -> ListEntry:
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
    return ListEntry(**row, team=team, mine=mine, blocked=blocked, district=district)


@use_case("sampling.task", roles=TASK_READERS)
def get_task(
    ctx: Context,
    task_id: str,
    *,
    reasons: pl.DataFrame | None = None,
    query: ListQuery = ListQuery(per_page=None),
) -> TaskDetail:
    """A task of the actor's department with (a page of) its list: tier, top reasons (from `reasons`: uscc,
    reasons), team, items and results, and per entity whether the actor may record it; per tier the
    configured ratio beside the eligible entities, the exact inclusion probability and, once drawn,
    selected / eligible. `query` filters and pages the list (every entity by default); a bad filter is a
    :class:`SamplingInputError` naming it, and ``mine`` is for inspectors (other roles have no visits)."""
    query = query.checked()
    if query.mine and ctx.actor.role is not Role.INSPECTOR:
        raise SamplingInputError(
            "mine: only an inspector has visits of their own (a roster id on their token); other roles "
            "read the whole list",
            field="mine",
        )
    task = task_of_department(ctx, task_id)
    frame = exports.export_frame(ctx.session, task_id, reasons=reasons)
    person = me(ctx)
    is_inspector = ctx.actor.role is Role.INSPECTOR
    where = _districts(task, frame["uscc"].to_list())
    everything = [
        _entry(r, is_inspector=is_inspector, person=person, district=where.get(r["uscc"], ""))
        for r in frame.iter_rows(named=True)
    ]
    matched = [e for e in everything if query.matches(e)]
    if query.per_page is None:
        shown = matched
    else:
        start = (query.page - 1) * query.per_page
        if start >= len(matched) and query.page > 1:
            pages = max(1, -(-len(matched) // query.per_page))
            raise SamplingInputError(
                f"page {query.page}: {len(matched)} entities match, {pages} page(s) of {query.per_page}",
                field="page",
            )
        shown = matched[start : start + query.per_page]
    ctx.audit(
        "sampling.task",
        target=f"task:{task_id}",
        details={
            "entities": len(everything),
            "matched": len(matched),
            "shown": len(shown),
            "filters": {
                k: v
                for k, v in (
                    ("district", query.district),
                    ("tier", query.tier),
                    ("status", query.status),
                    ("mine", query.mine or None),
                    ("page", query.page if query.per_page is not None else None),
                    ("per_page", query.per_page),
                )
                if v is not None
            },
        },
        read=True,
    )
    return TaskDetail(
        task=tasks.task_info(ctx.session, task_id),
        entries=tuple(shown),
        inspector=InspectorRef.of(person),
        tiers=tasks.tier_shares(ctx.session, task),
        total=len(everything),
        done=sum(e.outcome is not None for e in everything),
        matched=len(matched),
        page=query.page,
        per_page=query.per_page,
        districts=tuple(sorted({e.district for e in everything if e.district})),
        highlighted=next((e for e in everything if e.uscc == query.highlight), None)
        if query.highlight
        else None,
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
