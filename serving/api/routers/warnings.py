"""Early warning (信用风险预警): run the rules between two score runs, the department's warnings, acknowledge
and close them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import context_dep
from serving.services import warnings
from serving.services.context import Context
from serving.services.warnings import PAGE_MAX, RuleName, RunResult, WarningPage, WarningView
from supervision.monitoring.warnings import NOTE_MAX

router = APIRouter(prefix="/warnings", tags=["warnings"])
WarningId = Annotated[int, Path(ge=1, le=2**62)]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: date | None = Field(
        None, description="compare the newest valid score run on or before this day (default: today, China)"
    )


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=NOTE_MAX, description="what was done about the warning")


@router.post("/run", summary="Run the early-warning rules between the two newest valid score runs")
def run(body: RunIn, ctx: Annotated[Context, context_dep(warnings.run)]) -> RunResult:
    return warnings.run(ctx, as_of=body.as_of)


@router.get("", summary="The department's warnings (newest run first; filter by status and rule)")
def list_warnings(
    ctx: Annotated[Context, context_dep(warnings.list_warnings)],
    status: Annotated[Literal["open", "acknowledged", "closed"] | None, Query()] = None,
    rule: Annotated[RuleName | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
) -> WarningPage:
    return warnings.list_warnings(ctx, status=status, rule=rule, offset=offset, limit=limit)


@router.post("/{warning_id}/acknowledge", summary="The department has seen the warning")
def acknowledge(
    warning_id: WarningId, ctx: Annotated[Context, context_dep(warnings.acknowledge)]
) -> WarningView:
    return warnings.acknowledge(ctx, warning_id)


@router.post("/{warning_id}/close", summary="Close the warning with a note (what was done)")
def close(
    warning_id: WarningId, body: CloseIn, ctx: Annotated[Context, context_dep(warnings.close)]
) -> WarningView:
    return warnings.close(ctx, warning_id, note=body.note)
