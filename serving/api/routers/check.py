"""逢办必查: ``POST /check`` for other government systems, the outbox ``GET /events``, the measure catalog."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from serving.api import lifecycle
from serving.api.deps import AnyRoleDep, Principal, SessionDep, SettingsDep, require_roles
from serving.api.trail import AuditDep, audited
from supervision import lists, restrictions
from supervision.access import Role

router = APIRouter(tags=["check"])
SystemDep = Annotated[Principal, require_roles(Role.SYSTEM)]


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: str = Field(min_length=18, max_length=18)
    matter: str = Field(min_length=1, max_length=32, examples=list(restrictions.MATTERS))
    on: date | None = Field(None, description="default: today (China)")


@router.post(
    "/check", dependencies=[audited("check")], summary="Restrictions, tier and list statuses in one call"
)
def check(
    body: CheckIn, principal: SystemDep, session: SessionDep, settings: SettingsDep, trail: AuditDep
) -> dict[str, Any]:
    on = body.on or lifecycle.today()
    result = restrictions.check(
        session,
        lifecycle.sources(settings),
        caller=lifecycle.actor(principal),
        uscc=body.uscc,
        matter=body.matter,
        on=on,
        # The newest of the score history and the latest `creditwatch score` file; None when neither has it.
        tiers=lifecycle.tiers(settings, on, session),
        measures=lifecycle.measures(settings),
    )
    trail.record(
        session,
        target=f"uscc:{body.uscc}",
        details={"matter": body.matter, "restricted": result.restricted, "check_id": result.check_id},
    )
    return result.as_dict()


@router.get("/events", summary="List enter/exit events after an id (poll; keep the last id seen)")
def events(
    principal: SystemDep,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[dict[str, Any]]:
    return [e.as_dict() for e in lists.events_after(session, after, limit=limit)]


@router.get("/restrictions", summary="The catalog of restriction measures (惩戒措施清单)")
def catalog(principal: AnyRoleDep, settings: SettingsDep) -> list[dict[str, Any]]:
    return restrictions.catalog_frame(lifecycle.measures(settings)).to_dicts()
