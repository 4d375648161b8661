"""Credit commitments (信用承诺): templates, make, fulfil, breach, interview; the public 信用承诺 column."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field

from serving.api import lifecycle
from serving.api.deps import PUBLIC, AnyRoleDep, Principal, SessionDep, SettingsDep, require_roles
from serving.api.masking import PUBLIC as PUBLIC_AUDIENCE
from serving.api.trail import audited
from supervision import commitments
from supervision.access import Role

router = APIRouter(prefix="/commitments", tags=["commitments"])
MakeDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.SYSTEM)]
WriteDep = Annotated[Principal, require_roles(Role.SUPERVISOR)]
CommitmentId = Annotated[str, Path(min_length=1, max_length=40)]


class MakeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: str = Field(min_length=18, max_length=18)
    matter: str = Field(min_length=1, max_length=64, examples=["food_business_licence"])
    department: str = Field(min_length=1, max_length=128)
    licence_id: str | None = Field(None, max_length=128)
    signatory: str | None = Field(None, max_length=100)
    made_on: date | None = None


class OnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date | None = None


class BreachIn(OnIn):
    facts: str = Field(min_length=1, max_length=4000)


class InterviewIn(OnIn):
    reason: str = Field(min_length=1, max_length=4000)


def _on(body: OnIn) -> date:
    return body.on or lifecycle.today()


@router.get("/templates", summary="Commitment templates per matter")
def templates(principal: AnyRoleDep) -> list[dict[str, Any]]:
    return [
        {"matter": t.matter, "title": t.title, "commitment_type": t.commitment_type, "due_days": t.due_days,
         "text": t.text}
        for t in commitments.load_templates().values()
    ]  # fmt: skip


@router.get("/public", dependencies=[PUBLIC], summary="The public 信用承诺 column (personal data masked)")
def public(session: SessionDep) -> list[dict[str, Any]]:
    return commitments.public_export(session, mask_name=lifecycle.name_masker(PUBLIC_AUDIENCE)).to_dicts()


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[audited("commitments.make")])
def make(body: MakeIn, principal: MakeDep, session: SessionDep) -> dict[str, Any]:
    return commitments.make(
        session,
        actor=lifecycle.actor(principal),
        uscc=body.uscc,
        matter=body.matter,
        department=body.department,
        made_on=body.made_on or lifecycle.today(),
        licence_id=body.licence_id,
        signatory=body.signatory,
    ).as_dict()


def _audit(action: str) -> Any:
    return audited(f"commitments.{action}", target="commitment_id", prefix="commitment:")


@router.post("/{commitment_id}/fulfil", dependencies=[_audit("fulfil")])
def fulfil(
    commitment_id: CommitmentId, body: OnIn, principal: WriteDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    return commitments.fulfil(
        session, commitment_id, actor=lifecycle.actor(principal), on=_on(body), lake=lifecycle.lake(settings)
    ).as_dict()


@router.post("/{commitment_id}/breach", dependencies=[_audit("breach")])
def breach(
    commitment_id: CommitmentId,
    body: BreachIn,
    principal: WriteDep,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    return commitments.breach(
        session, commitment_id, actor=lifecycle.actor(principal), on=_on(body), facts=body.facts,
        lake=lifecycle.lake(settings),
    ).as_dict()  # fmt: skip


@router.post("/{commitment_id}/interview", dependencies=[_audit("interview")])
def interview(
    commitment_id: CommitmentId,
    body: InterviewIn,
    principal: WriteDep,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    return commitments.interview(
        session, commitment_id, actor=lifecycle.actor(principal), on=_on(body), reason=body.reason,
        lake=lifecycle.lake(settings),
    ).as_dict()  # fmt: skip
