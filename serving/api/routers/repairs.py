"""Credit repair (信用修复): apply (conditions checked), accept, approve (re-scored), reject; the department's
reads."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.api.deps import context_dep
from serving.api.types import BackdateReason, OnIn, Uscc
from serving.services import repairs
from serving.services.context import Context
from serving.services.repairs import OverdueRepair, RepairDecision, RepairView

router = APIRouter(prefix="/repairs", tags=["repairs"])
RepairId = Annotated[str, Path(min_length=1, max_length=40)]


class ConditionMetIn(BaseModel):
    """A repair route the application gives evidence of (the policy's [repair_conditions.catalog])."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, examples=["credit_training"])
    reference: str = Field(
        min_length=1, max_length=500, description="the certificate, report or record number that proves it"
    )


class RepairIn(BaseModel):
    """An application; the department that handles it is the record's (the one that penalised or listed)."""

    model_config = ConfigDict(extra="forbid")

    uscc: Uscc
    record_table: str = Field(min_length=1, max_length=32, examples=["penalties"])
    record_id: str = Field(min_length=1, max_length=128)
    commitment: str | None = Field(None, max_length=4000, description="the public credit commitment")
    obligations_evidence: str | None = Field(
        None, max_length=4000, description="e.g. the fine receipt number"
    )
    conditions_met: list[ConditionMetIn] = Field(
        default_factory=list,
        max_length=16,
        description="the repair routes met (credit_training, credit_report, public_service), one each; a "
        "route the record's regime requires and missing here is refused (不予受理)",
    )
    applied_on: date | None = Field(None, description="default: today (China); not after today")
    backdate_reason: BackdateReason = None

    @field_validator("conditions_met")
    @classmethod
    def _once_each(cls, given: list[ConditionMetIn]) -> list[ConditionMetIn]:
        names = [c.name for c in given]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"route(s) given twice: {', '.join(twice)}")
        return given


class RejectIn(OnIn):
    reasons: str = Field(min_length=1, max_length=4000)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Apply")
def apply_repair(body: RepairIn, ctx: Annotated[Context, context_dep(repairs.apply)]) -> RepairView:
    return repairs.apply(
        ctx,
        uscc=body.uscc,
        record_table=body.record_table,
        record_id=body.record_id,
        commitment=body.commitment,
        obligations_evidence=body.obligations_evidence,
        conditions_met={c.name: c.reference for c in body.conditions_met},
        on=body.applied_on,
        backdate_reason=body.backdate_reason,
    )


@router.post("/{repair_id}/accept", summary="Accept (受理) a complete application")
def accept_repair(
    repair_id: RepairId, body: OnIn, ctx: Annotated[Context, context_dep(repairs.accept)]
) -> RepairView:
    return repairs.accept(ctx, repair_id, on=body.on, backdate_reason=body.backdate_reason)


@router.post("/{repair_id}/approve", summary="Approve when every condition holds (the entity is re-scored)")
def approve_repair(
    repair_id: RepairId, body: OnIn, ctx: Annotated[Context, context_dep(repairs.approve)]
) -> RepairDecision:
    return repairs.approve(ctx, repair_id, on=body.on, backdate_reason=body.backdate_reason)


@router.post("/{repair_id}/reject", summary="Reject (or refuse to accept) with reasons")
def reject_repair(
    repair_id: RepairId, body: RejectIn, ctx: Annotated[Context, context_dep(repairs.reject)]
) -> RepairView:
    return repairs.reject(
        ctx, repair_id, reasons=body.reasons, on=body.on, backdate_reason=body.backdate_reason
    )


@router.get("/overdue", summary="The department's applications past their acceptance or decision deadline")
def overdue_repairs(
    ctx: Annotated[Context, context_dep(repairs.overdue)], on: Annotated[date | None, Query()] = None
) -> list[OverdueRepair]:
    return repairs.overdue(ctx, on=on)


@router.get("/{repair_id}", summary="One repair the department handles")
def get_repair(repair_id: RepairId, ctx: Annotated[Context, context_dep(repairs.get)]) -> RepairView:
    return repairs.get(ctx, repair_id)


@router.get("", summary="The repairs the department handles, optionally of one entity")
def list_repairs(
    ctx: Annotated[Context, context_dep(repairs.list_repairs)], uscc: Annotated[Uscc | None, Query()] = None
) -> list[RepairView]:
    return repairs.list_repairs(ctx, uscc=uscc)
