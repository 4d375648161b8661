"""双公示: register decisions from the lake, mark published, overdue report by department, public export."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict

from serving.api import lifecycle
from serving.api.deps import PUBLIC, Principal, SessionDep, SettingsDep, require_roles
from serving.api.masking import PUBLIC as PUBLIC_AUDIENCE
from serving.api.trail import audited
from supervision import disclosure
from supervision.access import Role

router = APIRouter(prefix="/disclosure", tags=["disclosure"])
WriteDep = Annotated[Principal, require_roles(Role.SUPERVISOR)]
ReadDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.INSPECTOR)]


class OnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date | None = None


@router.post("/register", dependencies=[audited("disclosure.register")], summary="Register new decisions")
def register(principal: WriteDep, session: SessionDep, settings: SettingsDep) -> dict[str, int]:
    added = disclosure.register_from_lake(
        session, lifecycle.sources(settings), policy=lifecycle.policy(settings)
    )
    return {"registered": added}


@router.post(
    "/{record_table}/{record_id}/publish",
    dependencies=[audited("disclosure.publish", target="record_id", prefix="disclosure:")],
)
def publish(
    record_table: Literal["licences", "penalties"],
    record_id: Annotated[str, Path(min_length=1, max_length=128)],
    body: OnIn,
    principal: WriteDep,
    session: SessionDep,
) -> dict[str, Any]:
    return disclosure.publish(
        session, record_table, record_id, actor=lifecycle.actor(principal), on=body.on or lifecycle.today()
    ).as_dict()


@router.get("/overdue", summary="Per department: decisions past their publication deadline")
def overdue(
    principal: ReadDep, session: SessionDep, on: Annotated[date | None, Query()] = None
) -> list[dict[str, Any]]:
    return disclosure.overdue_report(session, on=on or lifecycle.today())


@router.get(
    "/public", dependencies=[PUBLIC], summary="Published licences and penalties (personal data masked)"
)
def public(
    session: SessionDep, settings: SettingsDep, on: Annotated[date | None, Query()] = None
) -> list[dict[str, Any]]:
    frame = disclosure.public_export(
        session,
        lifecycle.sources(settings),
        on=on or lifecycle.today(),
        mask_name=lifecycle.name_masker(PUBLIC_AUDIENCE),
        policy=lifecycle.policy(settings),
    )
    return frame.to_dicts()
