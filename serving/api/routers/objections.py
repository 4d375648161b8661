"""Objections (异议): file, mark 异议处理中, decide, list and the overdue report."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from serving import rescore
from serving.api import lifecycle
from serving.api.deps import Principal, SessionDep, SettingsDep, require_roles
from serving.api.trail import audited
from supervision import objections
from supervision.access import Role

router = APIRouter(prefix="/objections", tags=["objections"])
FileDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.INSPECTOR, Role.SYSTEM)]
DecideDep = Annotated[Principal, require_roles(Role.SUPERVISOR)]
ReadDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.INSPECTOR)]
ObjectionId = Annotated[str, Path(min_length=1, max_length=40)]


class ObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: str = Field(min_length=18, max_length=18)
    record_table: str = Field(min_length=1, max_length=32, examples=["penalties"])
    record_id: str = Field(min_length=1, max_length=128)
    grounds: str = Field(min_length=1, max_length=4000)
    department: str = Field(min_length=1, max_length=128, description="department that handles it")
    filed_on: date | None = Field(None, description="default: today (China)")


class OnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date | None = Field(None, description="default: today (China)")


class DecisionIn(OnIn):
    outcome: Literal["upheld", "rejected"]
    reasons: str = Field(min_length=1, max_length=4000)
    resolution: Literal["corrected", "revoked"] | None = None
    correction: dict[str, Any] | None = None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[audited("objections.file")],
    summary="File an objection",
)
def file_objection(
    body: ObjectionIn, principal: FileDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    row = objections.file(
        session,
        actor=lifecycle.actor(principal),
        uscc=body.uscc,
        record_table=body.record_table,
        record_id=body.record_id,
        grounds=body.grounds,
        department=body.department,
        filed_on=body.filed_on or lifecycle.today(),
        policy=lifecycle.policy(settings),
    )
    return row.as_dict()


@router.post(
    "/{objection_id}/mark",
    dependencies=[audited("objections.mark", target="objection_id", prefix="objection:")],
    summary="Mark the record 异议处理中",
)
def mark_objection(
    objection_id: ObjectionId, body: OnIn, principal: DecideDep, session: SessionDep
) -> dict[str, Any]:
    row = objections.mark(
        session, objection_id, actor=lifecycle.actor(principal), on=body.on or lifecycle.today()
    )
    return row.as_dict()


@router.post(
    "/{objection_id}/decision",
    dependencies=[audited("objections.decide", target="objection_id", prefix="objection:")],
    summary="Uphold (correct or revoke the record) or reject an objection",
)
def decide_objection(
    objection_id: ObjectionId,
    body: DecisionIn,
    principal: DecideDep,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> dict[str, Any]:
    on = body.on or lifecycle.today()
    decision = objections.decide(
        session,
        objection_id,
        actor=lifecycle.actor(principal),
        on=on,
        upheld=body.outcome == "upheld",
        reasons=body.reasons,
        resolution=body.resolution,
        correction=body.correction,
        lake=lifecycle.lake(settings),
    )
    row = decision.objection
    if row.status == "upheld":
        # The entity is re-scored now, on the lake that has just received the decision.
        result = rescore.rescore(
            session,
            settings,
            uscc=row.uscc,
            on=on,
            reason=f"objection {row.objection_id} upheld ({row.resolution})",
            champion=lifecycle.champion(request),
        )
    else:
        result = rescore.skipped("objection rejected: the record stands, nothing to re-score")
    return {**row.as_dict(), "notice": decision.notice, "rescore": result.as_dict()}


@router.get("/overdue", summary="Open objections past their marking or decision deadline")
def overdue_objections(
    principal: ReadDep, session: SessionDep, on: Annotated[date | None, Query()] = None
) -> list[dict[str, Any]]:
    return objections.overdue(session, on=on or lifecycle.today())


@router.get("/{objection_id}", summary="One objection")
def get_objection(objection_id: ObjectionId, principal: ReadDep, session: SessionDep) -> dict[str, Any]:
    return objections.get(session, objection_id).as_dict()


@router.get("", summary="Objections, optionally of one entity or in one status")
def list_objections(
    principal: ReadDep,
    session: SessionDep,
    uscc: Annotated[str | None, Query(max_length=18)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> list[dict[str, Any]]:
    return [row.as_dict() for row in objections.list_objections(session, uscc=uscc, status=status)]
