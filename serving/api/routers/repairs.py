"""Credit repair (信用修复): apply (conditions checked), accept, approve, reject, overdue report."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from serving import rescore
from serving.api import lifecycle
from serving.api.deps import Principal, SessionDep, SettingsDep, require_roles
from serving.api.trail import audited
from supervision import repairs
from supervision.access import Role

router = APIRouter(prefix="/repairs", tags=["repairs"])
ApplyDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.SYSTEM)]
DecideDep = Annotated[Principal, require_roles(Role.SUPERVISOR)]
ReadDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.INSPECTOR)]
RepairId = Annotated[str, Path(min_length=1, max_length=40)]


class RepairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: str = Field(min_length=18, max_length=18)
    record_table: str = Field(min_length=1, max_length=32, examples=["penalties"])
    record_id: str = Field(min_length=1, max_length=128)
    department: str = Field(min_length=1, max_length=128)
    commitment: str | None = Field(None, max_length=4000, description="the public credit commitment")
    obligations_evidence: str | None = Field(
        None, max_length=4000, description="e.g. the fine receipt number"
    )
    applied_on: date | None = None


class OnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date | None = None


class RejectIn(OnIn):
    reasons: str = Field(min_length=1, max_length=4000)


@router.post(
    "", status_code=status.HTTP_201_CREATED, dependencies=[audited("repairs.apply")], summary="Apply"
)
def apply_repair(
    body: RepairIn, principal: ApplyDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    row = repairs.apply(
        session,
        lifecycle.sources(settings),
        actor=lifecycle.actor(principal),
        uscc=body.uscc,
        record_table=body.record_table,
        record_id=body.record_id,
        department=body.department,
        applied_on=body.applied_on or lifecycle.today(),
        commitment=body.commitment,
        obligations_evidence=body.obligations_evidence,
        policy=lifecycle.policy(settings),
        tiers=lifecycle.tiers(settings, body.applied_on or lifecycle.today(), session),
    )
    return row.as_dict()


@router.post(
    "/{repair_id}/accept", dependencies=[audited("repairs.accept", target="repair_id", prefix="repair:")]
)
def accept_repair(
    repair_id: RepairId, body: OnIn, principal: DecideDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    on = body.on or lifecycle.today()
    return repairs.accept(
        session, repair_id, actor=lifecycle.actor(principal), on=on, policy=lifecycle.policy(settings)
    ).as_dict()


@router.post(
    "/{repair_id}/approve", dependencies=[audited("repairs.approve", target="repair_id", prefix="repair:")]
)
def approve_repair(
    repair_id: RepairId,
    body: OnIn,
    principal: DecideDep,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> dict[str, Any]:
    on = body.on or lifecycle.today()
    row = repairs.approve(
        session,
        repair_id,
        lifecycle.sources(settings),
        actor=lifecycle.actor(principal),
        on=on,
        lake=lifecycle.lake(settings),
        policy=lifecycle.policy(settings),
        # Fallback when re-scoring is skipped: the stored tier (score history or score file) at approval.
        tiers=lifecycle.tiers(settings, on, session),
    )
    result = rescore.rescore(session, settings, uscc=row.uscc, on=on, reason=f"repair {repair_id} approved",
                             champion=lifecycle.champion(request))  # fmt: skip
    if result.tier_after is not None:
        row.tier_after = result.tier_after
    return {**row.as_dict(), "rescore": result.as_dict()}


@router.post(
    "/{repair_id}/reject", dependencies=[audited("repairs.reject", target="repair_id", prefix="repair:")]
)
def reject_repair(
    repair_id: RepairId, body: RejectIn, principal: DecideDep, session: SessionDep
) -> dict[str, Any]:
    on = body.on or lifecycle.today()
    return repairs.reject(
        session, repair_id, actor=lifecycle.actor(principal), on=on, reasons=body.reasons
    ).as_dict()


@router.get("/overdue", summary="Applications past their acceptance or decision deadline")
def overdue_repairs(
    principal: ReadDep, session: SessionDep, on: Annotated[date | None, Query()] = None
) -> list[dict[str, Any]]:
    return repairs.overdue(session, on=on or lifecycle.today())


@router.get("/{repair_id}")
def get_repair(repair_id: RepairId, principal: ReadDep, session: SessionDep) -> dict[str, Any]:
    return repairs.get(session, repair_id).as_dict()


@router.get("")
def list_repairs(
    principal: ReadDep, session: SessionDep, uscc: Annotated[str | None, Query(max_length=18)] = None
) -> list[dict[str, Any]]:
    return [row.as_dict() for row in repairs.list_repairs(session, uscc=uscc)]
