"""Objections (异议): file, mark 异议处理中, decide, record the withdrawal of a revoked decision, and the
handling department's reads."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import context_dep
from serving.api.types import BackdateReason, OnIn, Uscc
from serving.services import objections
from serving.services.context import Context
from serving.services.objections import ObjectionDecision, ObjectionView, OverdueObjection

router = APIRouter(prefix="/objections", tags=["objections"])
ObjectionId = Annotated[str, Path(min_length=1, max_length=40)]
Status = Literal["filed", "marked", "upheld", "rejected"]


class ObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: Uscc
    record_table: str = Field(min_length=1, max_length=32, examples=["penalties"])
    record_id: str = Field(min_length=1, max_length=128)
    grounds: str = Field(min_length=1, max_length=4000)
    department: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="only a system filing for a party: the department that handles it (a person's objection "
        "goes to their own department)",
    )
    filed_on: date | None = Field(None, description="default: today (China); not after today")
    backdate_reason: BackdateReason = None


class DecisionIn(OnIn):
    outcome: Literal["upheld", "rejected"]
    reasons: str = Field(min_length=1, max_length=4000)
    resolution: Literal["corrected", "revoked"] | None = None
    correction: dict[str, Any] | None = None


@router.post("", status_code=status.HTTP_201_CREATED, summary="File an objection")
def file_objection(body: ObjectionIn, ctx: Annotated[Context, context_dep(objections.file)]) -> ObjectionView:
    return objections.file(
        ctx,
        uscc=body.uscc,
        record_table=body.record_table,
        record_id=body.record_id,
        grounds=body.grounds,
        department=body.department,
        on=body.filed_on,
        backdate_reason=body.backdate_reason,
    )


@router.post("/{objection_id}/mark", summary="Mark the record 异议处理中 (the handling department)")
def mark_objection(
    objection_id: ObjectionId, body: OnIn, ctx: Annotated[Context, context_dep(objections.mark)]
) -> ObjectionView:
    return objections.mark(ctx, objection_id, on=body.on, backdate_reason=body.backdate_reason)


@router.post(
    "/{objection_id}/decision",
    summary="Uphold (correct or revoke the record; the entity is re-scored) or reject an objection",
)
def decide_objection(
    objection_id: ObjectionId, body: DecisionIn, ctx: Annotated[Context, context_dep(objections.decide)]
) -> ObjectionDecision:
    return objections.decide(
        ctx,
        objection_id,
        upheld=body.outcome == "upheld",
        reasons=body.reasons,
        resolution=body.resolution,
        correction=body.correction,
        on=body.on,
        backdate_reason=body.backdate_reason,
    )


@router.post(
    "/{objection_id}/withdrawal",
    summary="Record the withdrawal of the publication of a decision an upheld objection changed or revoked",
)
def withdraw_objection(
    objection_id: ObjectionId, body: OnIn, ctx: Annotated[Context, context_dep(objections.withdraw)]
) -> ObjectionView:
    return objections.withdraw(ctx, objection_id, on=body.on, backdate_reason=body.backdate_reason)


@router.get(
    "/overdue",
    summary="The department's objections past a deadline: marking, deciding, withdrawing a revoked decision",
)
def overdue_objections(
    ctx: Annotated[Context, context_dep(objections.overdue)], on: Annotated[date | None, Query()] = None
) -> list[OverdueObjection]:
    return objections.overdue(ctx, on=on)


@router.get("/{objection_id}", summary="One objection the department handles")
def get_objection(
    objection_id: ObjectionId, ctx: Annotated[Context, context_dep(objections.get)]
) -> ObjectionView:
    return objections.get(ctx, objection_id)


@router.get("", summary="The objections the department handles, optionally of one entity or in one status")
def list_objections(
    ctx: Annotated[Context, context_dep(objections.list_objections)],
    uscc: Annotated[Uscc | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
) -> list[ObjectionView]:
    return objections.list_objections(ctx, uscc=uscc, status=status)
