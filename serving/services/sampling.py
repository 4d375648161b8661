"""Double-random sampling (双随机、一公开): the inspector roster, tasks, draws and a period's assignment — one
use case each, called by the API (``/sampling``), the inspector's pages (``/ui/tasks``) and ``creditwatch
sample``. A task's list and its exports are in :mod:`serving.services.sampling_lists`; results, publication
and estimates in :mod:`serving.services.sampling_results`.

Authority beyond the role, checked here against ``ctx.actor`` (docs/sampling.md, "Who may do what"):

- A department acts on its own tasks. A task is created for the actor's department (naming another one is
  refused); drawing, exporting and reading a task's list are for people of the task's department (its
  supervisors and inspectors); a list of tasks shows the actor's department's. Verifying a draw stays open
  to every role that may verify, and to the local operator: anyone can re-run a published draw.
- A period's assignment merges the waiting lists of every department with a drawn task in that period into
  joint visits (进一次门、查多项事); a supervisor of one of those departments runs it for all of them.
- The roster (执法检查人员名录库) is the area's, shared by its departments: supervisors maintain it.

"Today" is ``ctx.today``, the date in China.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from features import lake as lake_io
from serving.services.context import Context, use_case
from supervision.platform.access import Role
from supervision.platform.clock import plausible_day
from supervision.platform.errors import ForbiddenError
from supervision.sampling import results, roster, tasks, visits
from supervision.sampling.assignment import entity_person_links
from supervision.sampling.draw import Budget, TaskParams, TaskScope, VerificationReport
from supervision.sampling.errors import SamplingInputError, TaskStateError
from supervision.sampling.ratios import TIERS, TierRatioPolicy, default_policy
from supervision.sampling.tables import Inspector, SamplingTask
from supervision.sampling.tasks import TaskInfo, TierShare

__all__ = [
    "Drawn",
    "InspectorRef",
    "InspectorRow",
    "PeriodAssigned",
    "RosterImported",
    "Scores",
    "TaskSpec",
    "UnstaffedVisit",
    "assign_period",
    "create_task",
    "draw_task",
    "import_roster",
    "list_inspectors",
    "set_inspector_active",
    "verify_task",
]

SUPERVISORS = (Role.SUPERVISOR,)
VERIFIERS = (Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST)


# --------------------------------------------------------------------------------------------- authority
def task_of_department(ctx: Context, task_id: str) -> SamplingTask:
    """The task, if the actor is a person of its department (404 for an unknown task, then 403)."""
    task = tasks.get_task(ctx.session, task_id)
    acting = ctx.department()
    if task.department != acting:
        raise ForbiddenError(
            f"task {task_id} belongs to {task.department}; {ctx.actor.actor} acts for {acting}, and a "
            "department acts on its own tasks",
            field="task_id",
        )
    return task


def me(ctx: Context) -> Inspector | None:
    """The roster inspector an inspector's identity is (its ``person_id`` is their ``inspector_id``); None
    for other roles and for an inspector identity that is not on the roster."""
    if ctx.actor.role is not Role.INSPECTOR:
        return None
    return roster.inspector_of(ctx.session, ctx.actor.person_id)


@dataclass(frozen=True)
class InspectorRef:
    """Who "I" am on the roster."""

    inspector_id: str
    name: str
    department: str

    @classmethod
    def of(cls, person: Inspector | None) -> InspectorRef | None:
        return None if person is None else cls(person.inspector_id, person.name, person.department)


# --------------------------------------------------------------------------------------------- roster
@dataclass(frozen=True)
class RosterImported:
    source: str
    created: int
    updated: int


@use_case("sampling.roster.import", roles=SUPERVISORS)
def import_roster(ctx: Context, frame: pl.DataFrame, *, source: str) -> RosterImported:
    """Insert or replace inspectors from a roster table (every row checked before any is written)."""
    counts = roster.import_inspectors(
        ctx.session, frame, salt=ctx.settings.person_salt, allow=ctx.settings.uscc_allow_list
    )
    ctx.audit("sampling.roster.import", target="inspectors", details={"source": source, **counts})
    return RosterImported(source=source, created=counts["created"], updated=counts["updated"])


@dataclass(frozen=True)
class InspectorRow:
    """One inspector as the roster is listed (the person key is never shown)."""

    inspector_id: str
    name: str
    department: str
    division_code: str
    qualifications: tuple[str, ...]
    active: bool
    declared_conflicts: int


@use_case("sampling.roster.list", roles=SUPERVISORS)
def list_inspectors(ctx: Context) -> list[InspectorRow]:
    people = roster.list_inspectors(ctx.session)
    ctx.audit("sampling.roster.list", target="inspectors", details={"inspectors": len(people)}, read=True)
    return [
        InspectorRow(
            inspector_id=p.inspector_id,
            name=p.name,
            department=p.department,
            division_code=p.division_code,
            qualifications=tuple(p.qualifications),
            active=p.active,
            declared_conflicts=len(p.declared_conflicts),
        )
        for p in people
    ]


@use_case("sampling.roster.active", roles=SUPERVISORS)
def set_inspector_active(ctx: Context, inspector_id: str, *, active: bool) -> bool:
    """Put an inspector on (or take them off) the roster of those who can be drawn; returns `active`."""
    roster.set_inspector_active(ctx.session, inspector_id, active=active)
    ctx.audit("sampling.roster.active", target=f"inspector:{inspector_id}", details={"active": active})
    return active


# --------------------------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class Scores:
    """A scored roster to draw from (uscc, tier, division_code, industry, …) and where it came from."""

    frame: pl.DataFrame
    source: str


@dataclass(frozen=True)
class TaskSpec:
    """What a supervisor asks for; the department is the actor's (naming another one is refused).

    ``tier_ratios`` and ``rest_days`` override the sampling policy file's values per tier; ``floor`` and
    ``control_share`` left None take the file's (supervision/sampling/policy.toml)."""

    items: tuple[str, ...]
    period: str
    count: int | None = None
    ratio: float | None = None
    as_of: date | None = None
    divisions: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()
    list_statuses: tuple[str, ...] = ()
    tier_ratios: Mapping[str, float] = field(default_factory=dict)
    rest_days: Mapping[str, int] = field(default_factory=dict)
    control_share: float | None = None
    floor: float | None = None
    task_id: str | None = None
    department: str | None = None


def _params(spec: TaskSpec, *, department: str, today: date) -> TaskParams:
    for name, given in (("tier_ratios", spec.tier_ratios), ("rest_days", spec.rest_days)):
        unknown = sorted(set(given) - set(TIERS))
        if unknown:
            raise SamplingInputError(f"{name}: {unknown} are not tiers; expected {list(TIERS)}", field=name)
    policy = default_policy()
    return TaskParams(
        department=department,
        items=spec.items,
        budget=Budget(count=spec.count, ratio=spec.ratio),
        as_of=today if spec.as_of is None else plausible_day(spec.as_of, field="as_of"),
        period=spec.period,
        scope=TaskScope(
            divisions=spec.divisions,
            industries=spec.industries,
            entity_types=spec.entity_types,
            list_statuses=spec.list_statuses,
        ),
        policy=TierRatioPolicy(
            ratios={**policy.ratios, **spec.tier_ratios},
            ranges=policy.ranges,
            floor=policy.floor if spec.floor is None else spec.floor,
            control_share=policy.control_share if spec.control_share is None else spec.control_share,
            rest_days={**policy.rest_days, **spec.rest_days},
        ),
    )


@use_case("sampling.create", roles=SUPERVISORS)
def create_task(ctx: Context, spec: TaskSpec, *, scores: Scores | None) -> TaskInfo:
    """Create a task of the actor's department from `scores`: publishes SHA-256 of the secret seed, the
    roster snapshot and the parameters. The rest periods count every inspection the system knows on or
    before the task's date: the lake's `inspections`, the results recorded here and the scores' own
    `last_inspected_on`; the snapshot keeps the date used, so a verification re-derives the same roster."""
    department = ctx.department()
    if spec.department is not None and spec.department != department:
        raise ForbiddenError(
            f"department {spec.department!r}: {ctx.actor.actor} acts for {department}, and a department "
            "creates its own tasks",
            field="department",
        )
    if scores is None:
        raise TaskStateError("no stored scores to draw from: run `creditwatch score --as-of DATE` first")
    missing = [c for c in ("uscc", "tier") if c not in scores.frame.columns]
    if missing:
        raise SamplingInputError(f"scores {scores.source}: missing columns {missing}", field="scores")
    params = _params(spec, department=department, today=ctx.today)
    info = tasks.create_task(
        ctx.session,
        params=params,
        roster=results.with_last_inspected(
            ctx.session,
            scores.frame,
            as_of=params.as_of,
            inspections=lake_io.scan(ctx.settings.lake_dir, "inspections"),
        ),
        snapshot_dir=ctx.workspace.sampling,
        task_id=spec.task_id,
    )
    ctx.audit(
        "sampling.create",
        target=f"task:{info.task_id}",
        details={
            "scores": scores.source,
            "period": info.period,
            "eligible": info.eligible,
            "budget": info.budget,
        },
    )
    return info


@dataclass(frozen=True)
class Drawn:
    """The drawn task and, per tier, its configured ratio beside its actual inclusion (selected/eligible)."""

    task: TaskInfo
    tiers: tuple[TierShare, ...]


@use_case("sampling.draw", roles=SUPERVISORS)
def draw_task(ctx: Context, task_id: str) -> Drawn:
    """Draw the list of a task of the actor's department from its snapshot and reveal the seed."""
    task = task_of_department(ctx, task_id)
    selection = tasks.draw_task(ctx.session, task_id)
    shares = tasks.tier_shares(ctx.session, task)
    ctx.audit(
        "sampling.draw",
        target=f"task:{task_id}",
        details={
            "selected": selection.height,
            "actual_inclusion": {s.tier: s.actual_inclusion for s in shares},
        },
    )
    return Drawn(task=tasks.task_info(ctx.session, task_id), tiers=shares)


@use_case("sampling.verify", roles=VERIFIERS, local=True)
def verify_task(
    ctx: Context, task_id: str, *, roster_frame: pl.DataFrame | None = None
) -> VerificationReport:
    """Re-run a drawn task from its published inputs (its snapshot, or the verifier's `roster_frame`) and the
    revealed seed. Open to anyone who may verify, whatever their department (that is the point of it)."""
    report = tasks.verify_task(ctx.session, task_id, roster=roster_frame)
    ctx.audit(
        "sampling.verify",
        target=f"task:{task_id}",
        details={"ok": report.ok, "roster": "snapshot" if roster_frame is None else "given"},
        read=True,
    )
    return report


# --------------------------------------------------------------------------------------------- periods
@dataclass(frozen=True)
class UnstaffedVisit:
    visit_id: str
    uscc: str
    reason: str


@dataclass(frozen=True)
class PeriodAssigned:
    period: str
    departments: tuple[str, ...]
    visits: int
    assigned: int
    exclusions: int
    unstaffed: tuple[UnstaffedVisit, ...]


@use_case("sampling.assign", roles=SUPERVISORS)
def assign_period(
    ctx: Context,
    period: str,
    *,
    team_size: int = 2,
    max_visits: int | None = None,
    links: pl.DataFrame | None = None,
) -> PeriodAssigned:
    """Merge the period's waiting lists into visits (joint where several departments drew an entity) and
    draw their inspectors with recusal. `links`: (uscc, person_key) of each entity's legal representative,
    shareholders and controllers; by default the lake's relations in force today."""
    acting = ctx.department()
    waiting = visits.waiting_departments(ctx.session, period)
    if waiting and acting not in waiting:
        raise ForbiddenError(
            f"period {period}: {acting} has no drawn task waiting in it ({', '.join(waiting)} have); a "
            "department assigns the periods it takes part in",
            field="period",
        )
    if links is None:
        relations = lake_io.scan(ctx.settings.lake_dir, "relations")
        links = entity_person_links(relations, as_of=ctx.today).collect()
    out = visits.assign_period(ctx.session, period, links=links, team_size=team_size, max_visits=max_visits)
    ctx.audit(
        "sampling.assign",
        target=f"period:{period}",
        details={"departments": waiting, "visits": out.visits, "assigned": out.assigned},
    )
    return PeriodAssigned(
        period=period,
        departments=tuple(waiting),
        visits=out.visits,
        assigned=out.assigned,
        exclusions=out.exclusions,
        unstaffed=tuple(
            UnstaffedVisit(**row) for row in out.unstaffed.select("visit_id", "uscc", "reason").to_dicts()
        ),
    )
