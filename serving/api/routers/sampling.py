"""Double-random sampling (双随机、一公开) over HTTP: create, draw, list, export, verify tasks, assign the
period's inspectors and record inspection results — each route calls one use case of
``serving.services.sampling*`` (the CLI and the inspector's pages call the same ones)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import polars as pl
from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import context_dep
from serving.api.routers.entities import scores_of
from serving.api.types import Uscc
from serving.services import sampling, sampling_lists, sampling_results
from serving.services.context import Context
from supervision.sampling.tasks import TaskInfo, TierShare

router = APIRouter(prefix="/sampling", tags=["sampling"])
TaskId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Period = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
Code = Annotated[str, Field(min_length=1, max_length=64)]
Outcome = Literal["no_problem", "violation", "serious_violation", "not_found"]
Tier = Literal["A", "B", "C", "D"]


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="optional: the task is the caller's department's; naming another department is refused",
    )
    items: list[Code] = Field(min_length=1, max_length=50, description="check items (检查事项)")
    period: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$", examples=["2026Q4"])
    count: int | None = Field(None, ge=1, description="budget: number of entities (or give `ratio`)")
    ratio: float | None = Field(None, gt=0, le=1, description="budget: base ratio of the eligible roster")
    as_of: date | None = Field(
        None, description="the task's date: rest periods are reckoned back from it; default today (China)"
    )
    divisions: list[Code] = []
    industries: list[Code] = []
    entity_types: list[Code] = []
    list_statuses: list[Code] = []
    tier_ratios: dict[Tier, float] = Field(
        default_factory=dict, description="overrides of the sampling policy file's tier ratios"
    )
    rest_days: dict[Tier, Annotated[int, Field(ge=0, le=3650)]] = Field(
        default_factory=dict,
        description="overrides of the policy file's rest period per tier: days after an inspection (in the "
        "lake or recorded here) during which the entity is not drawn",
    )
    control_share: float | None = Field(None, ge=0, le=1, description="default: the policy file's")
    floor: float | None = Field(None, ge=0, le=1, description="default: the policy file's")
    task_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    def spec(self) -> sampling.TaskSpec:
        return sampling.TaskSpec(
            items=tuple(self.items),
            period=self.period,
            count=self.count,
            ratio=self.ratio,
            as_of=self.as_of,
            divisions=tuple(self.divisions),
            industries=tuple(self.industries),
            entity_types=tuple(self.entity_types),
            list_statuses=tuple(self.list_statuses),
            tier_ratios={str(tier): ratio for tier, ratio in self.tier_ratios.items()},
            rest_days={str(tier): days for tier, days in self.rest_days.items()},
            control_share=self.control_share,
            floor=self.floor,
            task_id=self.task_id,
            department=self.department,
        )


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

    @classmethod
    def of(cls, info: TaskInfo) -> TaskOut:
        return cls(**info.as_dict())


class TierOut(BaseModel):
    """A tier's configured ratio beside the inclusion it actually had in the task."""

    tier: str
    ratio: float = Field(description="configured ratio: a relative intensity, not a probability")
    range_low: float = Field(description="the configured range of the ratio")
    range_high: float
    rest_days: int = Field(description="rest period after an inspection (0: never rested)")
    in_scope: int = Field(description="entities of the tier in the task's scope")
    rested: int = Field(description="of them, left out as inspected within the rest period")
    eligible: int
    inclusion_probability: float = Field(description="exact design probability of each eligible entity")
    selected: int | None = Field(description="drawn (null before the draw)")
    control: int | None = Field(description="of them, drawn in the uniform control slice")
    actual_inclusion: float | None = Field(
        description="actual inclusion probability: selected / eligible (null before the draw)"
    )

    @classmethod
    def of(cls, share: TierShare) -> TierOut:
        return cls(**vars(share), rested=share.rested)


class DrawOut(TaskOut):
    tiers: list[TierOut]


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

    @classmethod
    def of(cls, entry: sampling_lists.ListEntry) -> ListRow:
        return cls(**{name: getattr(entry, name) for name in cls.model_fields})


class TaskDetail(TaskOut):
    tiers: list[TierOut] = Field(description="per tier: the configured ratio beside the actual inclusion")
    total: int = Field(description="entities on the whole list")
    matched: int = Field(description="entities the filters keep")
    page: int = Field(description="the page returned (1 when not paged)")
    per_page: int | None = Field(description="page size (null: every matching entity)")
    entities: list[ListRow] = Field(description="the matching entities of the page, by USCC")


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


class UnstaffedOut(BaseModel):
    visit_id: str
    uscc: str
    reason: str = Field(description="why the roster cannot staff the visit (counts of candidates)")


class AssignOut(BaseModel):
    period: str
    departments: list[str] = Field(description="the departments whose waiting lists were merged")
    visits: int
    assigned: int
    exclusions: int
    unstaffed: list[UnstaffedOut]


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: Uscc
    outcome: Outcome
    inspected_on: date = Field(description="the day of the visit: today in China or earlier")
    recorded_by: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="the team member a supervisor records for; an inspector records as themselves "
        "(谁检查、谁录入)",
    )
    findings: str = Field("", max_length=4000)


class ResultOut(BaseModel):
    visit_id: str
    outcome: str
    recorded_by: str
    publication_due_on: date


def stored_reasons_frame(request: Request) -> pl.DataFrame | None:
    """USCC and stored top reasons (zh/en) of the newest score file, or None (the list, the export, the
    pages)."""
    table = scores_of(request).latest()
    if table is None or "reasons" not in table.frame.columns:
        return None
    return table.frame.select("uscc", "reasons")


def stored_scores(request: Request) -> sampling.Scores | None:
    """The newest stored score file as the roster a task draws from, or None."""
    table = scores_of(request).latest()
    return None if table is None else sampling.Scores(table.frame, f"score_file:{table.as_of.isoformat()}")


@router.post(
    "/tasks",
    status_code=status.HTTP_201_CREATED,
    summary="Create a task of the caller's department from the newest stored scores; publishes the hashes",
)
def create_task(
    body: TaskIn, request: Request, ctx: Annotated[Context, context_dep(sampling.create_task)]
) -> TaskOut:
    return TaskOut.of(sampling.create_task(ctx, body.spec(), scores=stored_scores(request)))


@router.post("/tasks/{task_id}/draw", summary="Draw the task's list from its snapshot and reveal the seed")
def draw_task(task_id: TaskId, ctx: Annotated[Context, context_dep(sampling.draw_task)]) -> DrawOut:
    drawn = sampling.draw_task(ctx, task_id)
    return DrawOut(
        **TaskOut.of(drawn.task).model_dump(),
        tiers=[TierOut.of(t) for t in drawn.tiers],
    )


@router.get("/tasks", summary="The caller's department's sampling tasks, oldest first")
def list_tasks(
    ctx: Annotated[Context, context_dep(sampling_lists.list_tasks)],
    period: Annotated[str | None, Query(max_length=32)] = None,
) -> list[TaskOut]:
    return [TaskOut.of(row.task) for row in sampling_lists.list_tasks(ctx, period=period).tasks]


@router.get(
    "/tasks/{task_id}",
    summary="One task with its list (tier, reasons, inspectors, results), filtered and optionally paged",
)
def get_task(
    task_id: TaskId,
    request: Request,
    ctx: Annotated[Context, context_dep(sampling_lists.get_task)],
    district: Annotated[
        str | None,
        Query(
            pattern=r"^\d{2}(\d{2}){0,2}$", description="division code or prefix (3209 city, 320902 district)"
        ),
    ] = None,
    tier: Annotated[Tier | None, Query()] = None,
    status: Annotated[
        Literal["done", "pending", "unstaffed", "waiting"] | None,
        Query(description="recorded, staffed and waiting for a result, unstaffed, or not yet assigned"),
    ] = None,
    mine: Annotated[
        bool, Query(description="only the visits whose team holds the caller (inspectors)")
    ] = False,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[
        int | None,
        Query(ge=1, le=sampling_lists.MAX_PER_PAGE, description="page size; omitted: every matching entity"),
    ] = None,
) -> TaskDetail:
    detail = sampling_lists.get_task(
        ctx,
        task_id,
        reasons=stored_reasons_frame(request),
        query=sampling_lists.ListQuery(
            district=district, tier=tier, status=status, mine=mine, page=page, per_page=per_page
        ),
    )
    return TaskDetail(
        **TaskOut.of(detail.task).model_dump(),
        tiers=[TierOut.of(t) for t in detail.tiers],
        total=detail.total,
        matched=detail.matched,
        page=detail.page,
        per_page=detail.per_page,
        entities=[ListRow.of(e) for e in detail.entries],
    )


@router.get(
    "/tasks/{task_id}/export",
    summary="The list for inspectors as a CSV (UTF-8 with BOM) or XLSX download",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in sampling_lists.MEDIA_TYPES.values()},
            "description": "the file",
        }
    },
)
def export_task(
    task_id: TaskId,
    request: Request,
    ctx: Annotated[Context, context_dep(sampling_lists.export_task)],
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    return file_response(
        sampling_lists.export_task(ctx, task_id, fmt=format, reasons=stored_reasons_frame(request))
    )


def file_response(file: sampling_lists.ExportFile) -> Response:
    """An export as a download (the pages answer with the same bytes)."""
    return Response(
        file.content,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


@router.get(
    "/tasks/{task_id}/verify", summary="Re-run the draw from the published inputs and the revealed seed"
)
def verify_task(task_id: TaskId, ctx: Annotated[Context, context_dep(sampling.verify_task)]) -> VerifyOut:
    report = sampling.verify_task(ctx, task_id)
    return VerifyOut(
        task_id=task_id, ok=report.ok, checks=[Check(check=n, ok=ok, detail=d) for n, ok, d in report.checks]
    )


@router.post(
    "/periods/{period}/assign",
    summary="Merge the period's drawn lists into visits and draw inspectors with recusal",
)
def assign(
    period: Period, body: AssignIn, ctx: Annotated[Context, context_dep(sampling.assign_period)]
) -> AssignOut:
    out = sampling.assign_period(ctx, period, team_size=body.team_size, max_visits=body.max_visits)
    return AssignOut(
        period=out.period,
        departments=list(out.departments),
        visits=out.visits,
        assigned=out.assigned,
        exclusions=out.exclusions,
        unstaffed=[UnstaffedOut(**vars(u)) for u in out.unstaffed],
    )


@router.post(
    "/tasks/{task_id}/results",
    status_code=status.HTTP_201_CREATED,
    summary="Record a visit's result; the publication deadline (working days) starts",
)
def record_result(
    task_id: TaskId, body: ResultIn, ctx: Annotated[Context, context_dep(sampling_results.record_result)]
) -> ResultOut:
    """谁检查、谁录入: an inspector records only the visits they are on the team of, as themselves; a
    supervisor of the task's department records for a member of the visit's team (``recorded_by``)."""
    out = sampling_results.record_result(
        ctx,
        task_id,
        uscc=body.uscc,
        outcome=body.outcome,
        inspected_on=body.inspected_on,
        findings=body.findings,
        recorded_by=body.recorded_by,
    )
    return ResultOut(**vars(out))
