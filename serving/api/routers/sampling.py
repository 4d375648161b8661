"""Double-random sampling (双随机、一公开) over HTTP: create, draw, list, export, verify tasks, assign the
period's inspectors and record inspection results — thin wrappers over ``supervision.tasks`` like the CLI."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from features import lake as lake_io
from serving.api.deps import Principal, SessionDep, SettingsDep, require_roles
from serving.api.errors import Conflict, Forbidden, NotFound
from serving.api.routers.entities import Invalid, scores_of
from serving.api.trail import AuditDep, audited
from supervision import tasks
from supervision.access import Role
from supervision.assignment import entity_person_links
from supervision.draw import Budget, TaskParams, TaskScope
from supervision.policy import DEFAULT_RATIOS, TIERS, TierRatioPolicy

router = APIRouter(prefix="/sampling", tags=["sampling"])
ManageDep = Annotated[Principal, require_roles(Role.SUPERVISOR)]
ReadDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.INSPECTOR)]
VerifyDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST)]
RecordDep = Annotated[Principal, require_roles(Role.INSPECTOR, Role.SUPERVISOR)]
TaskId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Period = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
Code = Annotated[str, Field(min_length=1, max_length=64)]


@contextmanager
def _domain() -> Iterator[None]:
    """supervision.tasks raises typed ValueErrors before anything is flushed: each becomes a clear 4xx."""
    try:
        yield
    except tasks.UnknownTaskError as exc:
        raise NotFound(str(exc), field="path.task_id") from None
    except tasks.UnknownEntityError as exc:
        raise NotFound(str(exc), field="body.uscc") from None
    except tasks.TaskStateError as exc:
        raise Conflict(str(exc)) from None
    except FileNotFoundError as exc:
        raise Conflict(str(exc)) from None
    except ValueError as exc:
        raise Invalid(str(exc)) from None


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: str = Field(min_length=1, max_length=128)
    items: list[Code] = Field(min_length=1, max_length=50, description="check items (检查事项)")
    period: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$", examples=["2026Q4"])
    count: int | None = Field(None, ge=1, description="budget: number of entities (or give `ratio`)")
    ratio: float | None = Field(None, gt=0, le=1, description="budget: base ratio of the eligible roster")
    as_of: date | None = Field(None, description="reference date of the frequency limit; default today")
    divisions: list[Code] = []
    industries: list[Code] = []
    entity_types: list[Code] = []
    list_statuses: list[Code] = []
    tier_ratios: dict[Literal["A", "B", "C", "D"], float] = Field(
        default_factory=dict, description="overrides of the default tier ratios"
    )
    control_share: float = Field(0.10, ge=0, le=1)
    floor: float = Field(0.001, ge=0, le=1)
    frequency_days: int = Field(365, ge=0, le=3650)
    task_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class TaskOut(BaseModel):
    task_id: str
    status: str
    department: str
    period: str
    eligible: int
    budget: int
    seed_sha256: str
    roster_sha256: str
    params_sha256: str
    revealed_seed: str | None
    selected: int | None


class TierCount(BaseModel):
    tier: str
    selected: int
    control: int
    inclusion_probability: float


class DrawOut(TaskOut):
    tiers: list[TierCount]


class ListRow(BaseModel):
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


class TaskDetail(TaskOut):
    entities: list[ListRow]


class Check(BaseModel):
    check: str
    ok: bool
    detail: str


class VerifyOut(BaseModel):
    task_id: str
    ok: bool
    checks: list[Check]


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team_size: int = Field(2, ge=2, le=10, description="inspectors per visit (行政处罚法 art 42: at least 2)")
    max_visits: int | None = Field(None, ge=1)


class AssignOut(BaseModel):
    period: str
    visits: int
    assigned: int
    exclusions: int
    unstaffed: list[dict[str, Any]]


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: str = Field(min_length=18, max_length=18)
    outcome: Literal["no_problem", "violation", "serious_violation", "not_found"]
    inspected_on: date
    recorded_by: str = Field(min_length=1, max_length=64, description="inspector id (谁检查、谁录入)")
    findings: str = Field("", max_length=4000)


class ResultOut(BaseModel):
    visit_id: str
    outcome: str
    publication_due_on: date


def stored_reasons_frame(request: Request) -> pl.DataFrame | None:
    """USCC and stored top reasons (zh/en) of the newest score file, or None (the export and the pages)."""
    table = scores_of(request).latest()
    if table is None or "reasons" not in table.frame.columns:
        return None
    return table.frame.select("uscc", "reasons")


@router.post(
    "/tasks",
    status_code=status.HTTP_201_CREATED,
    dependencies=[audited("sampling.create")],
    summary="Create a task from the newest stored scores; publishes the seed, roster and parameter hashes",
)
def create_task(
    body: TaskIn,
    principal: ManageDep,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    trail: AuditDep,
) -> TaskOut:
    table = scores_of(request).latest()
    if table is None:
        raise Conflict("no stored scores to draw from: run `creditwatch score --as-of DATE` first")
    with _domain():
        ratios = dict(DEFAULT_RATIOS)
        ratios.update({t: v for t, v in body.tier_ratios.items() if t in TIERS})
        params = TaskParams(
            department=body.department,
            items=tuple(body.items),
            budget=Budget(count=body.count, ratio=body.ratio),
            as_of=body.as_of or datetime.now(UTC).date(),
            period=body.period,
            scope=TaskScope(
                divisions=tuple(body.divisions),
                industries=tuple(body.industries),
                entity_types=tuple(body.entity_types),
                list_statuses=tuple(body.list_statuses),
            ),
            policy=TierRatioPolicy(
                ratios=ratios,
                floor=body.floor,
                control_share=body.control_share,
                frequency_days=body.frequency_days,
            ),
        )
        info = tasks.create_task(
            session,
            params=params,
            roster=tasks.with_last_inspected(session, table.frame),
            snapshot_dir=settings.home / "sampling",
            task_id=body.task_id,
        )
    trail.record(session, target=f"task:{info.task_id}", details={"scores_as_of": table.as_of.isoformat()})
    return TaskOut(**info.as_dict())


@router.post(
    "/tasks/{task_id}/draw",
    dependencies=[audited("sampling.draw", target="task_id", prefix="task:")],
    summary="Draw the task's list from its snapshot and reveal the seed",
)
def draw_task(task_id: TaskId, principal: ManageDep, session: SessionDep, trail: AuditDep) -> DrawOut:
    with _domain():
        selection = tasks.draw_task(session, task_id)
        info = tasks.task_info(session, task_id).as_dict()
    by_tier = selection.group_by("tier").agg(
        selected=pl.len(),
        control=pl.col("in_control_slice").sum(),
        inclusion_probability=pl.col("inclusion_probability").first(),
    )
    trail.record(session, details={"selected": selection.height})
    return DrawOut(**info, tiers=[TierCount(**r) for r in by_tier.sort("tier").to_dicts()])


@router.get("/tasks", summary="Sampling tasks, oldest first")
def list_tasks(
    principal: ReadDep,
    session: SessionDep,
    period: Annotated[str | None, Query(max_length=32)] = None,
) -> list[TaskOut]:
    return [TaskOut(**t.as_dict()) for t in tasks.list_tasks(session, period=period)]


@router.get("/tasks/{task_id}", summary="One task with its list (tier, reasons, inspectors, results)")
def get_task(task_id: TaskId, principal: ReadDep, session: SessionDep, request: Request) -> TaskDetail:
    with _domain():
        info = tasks.task_info(session, task_id).as_dict()
        frame = tasks.export_frame(session, task_id, reasons=stored_reasons_frame(request))
    return TaskDetail(**info, entities=[ListRow(**r) for r in frame.to_dicts()])


MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get(
    "/tasks/{task_id}/export",
    summary="The list for inspectors as a CSV (UTF-8 with BOM) or XLSX download",
    response_class=Response,
    responses={200: {"content": {MEDIA["csv"]: {}, MEDIA["xlsx"]: {}}, "description": "the file"}},
)
def export_task(
    task_id: TaskId,
    principal: ReadDep,
    session: SessionDep,
    request: Request,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    with _domain():
        frame = tasks.export_frame(session, task_id, reasons=stored_reasons_frame(request))
    with tempfile.TemporaryDirectory() as tmp:
        path = tasks.write_export(frame, FsPath(tmp) / f"{task_id}.{format}")
        data = path.read_bytes()
    return Response(
        data,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{task_id}.{format}"'},
    )


@router.get(
    "/tasks/{task_id}/verify", summary="Re-run the draw from the published inputs and the revealed seed"
)
def verify_task(task_id: TaskId, principal: VerifyDep, session: SessionDep) -> VerifyOut:
    with _domain():
        report = tasks.verify_task(session, task_id)
    return VerifyOut(
        task_id=task_id, ok=report.ok, checks=[Check(check=n, ok=ok, detail=d) for n, ok, d in report.checks]
    )


@router.post(
    "/periods/{period}/assign",
    dependencies=[audited("sampling.assign", target="period", prefix="period:")],
    summary="Merge the period's drawn lists into visits and draw inspectors with recusal",
)
def assign(
    period: Period,
    body: AssignIn,
    principal: ManageDep,
    session: SessionDep,
    settings: SettingsDep,
    trail: AuditDep,
) -> AssignOut:
    relations = lake_io.scan(settings.lake_dir, "relations")
    links = entity_person_links(relations, as_of=datetime.now(UTC).date()).collect()
    with _domain():
        out = tasks.assign_period(
            session, period, links=links, team_size=body.team_size, max_visits=body.max_visits
        )
    trail.record(session, details={"visits": out.visits, "assigned": out.assigned})
    return AssignOut(
        period=period,
        visits=out.visits,
        assigned=out.assigned,
        exclusions=out.exclusions,
        unstaffed=out.unstaffed.to_dicts(),
    )


@router.post(
    "/tasks/{task_id}/results",
    status_code=status.HTTP_201_CREATED,
    dependencies=[audited("sampling.result", target="task_id", prefix="task:")],
    summary="Record a visit's result; the publication deadline (working days) starts",
)
def record_result(
    task_id: TaskId, body: ResultIn, principal: RecordDep, session: SessionDep, trail: AuditDep
) -> ResultOut:
    """谁检查、谁录入: an inspector records only their own visits (their token is issued under their roster
    ``inspector_id``); a supervisor records for any member of the visit's team."""
    if principal.role is Role.INSPECTOR:
        me = tasks.inspector_of(session, principal.name)
        if me is None:
            raise Forbidden(
                f"inspector token {principal.name!r} is not linked to the roster: issue inspectors' tokens under"
                " their inspector_id (creditwatch tokens create --role inspector --name I03)"
            )
        if body.recorded_by != me.inspector_id:
            raise Forbidden(
                f"an inspector records their own results: recorded_by must be {me.inspector_id!r},"
                f" got {body.recorded_by!r}",
                field="body.recorded_by",
            )
    with _domain():
        out = tasks.record_result(
            session,
            task_id=task_id,
            uscc=body.uscc,
            outcome=body.outcome,
            inspected_on=body.inspected_on,
            recorded_by=body.recorded_by,
            findings=body.findings,
        )
    trail.record(session, details={"uscc": body.uscc, "outcome": body.outcome, "visit_id": out["visit_id"]})
    return ResultOut(**out)
