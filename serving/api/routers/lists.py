"""Joint-punishment lists: propose (prior notice), respond, list, rectify, interview, exits, cases."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from serving.api import lifecycle
from serving.api.deps import Principal, SessionDep, SettingsDep, require_roles
from serving.api.trail import audited
from supervision import lists
from supervision.access import Role

router = APIRouter(prefix="/lists", tags=["lists"])
WriteDep = Annotated[Principal, require_roles(Role.SUPERVISOR)]
RespondDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.SYSTEM)]
ReadDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST)]
# Person keys are visible to supervisors and analysts only (serving/api/masking.py).
PersonDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.ANALYST)]
CaseId = Annotated[str, Path(min_length=1, max_length=40)]


def _audit(action: str) -> Any:
    return audited(f"lists.{action}", target="case_id", prefix="list:")


class ProposeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: str = Field(min_length=18, max_length=18)
    list_type: str = Field(min_length=1, max_length=32, examples=["severe_dishonesty"])
    department: str = Field(min_length=1, max_length=128)
    reasons: str = Field(min_length=1, max_length=4000)
    basis: str = Field(min_length=1, max_length=4000)
    proposed_on: date | None = None


class OnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date | None = None


class RespondIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response: str = Field(min_length=1, max_length=4000)


class ListIn(OnIn):
    basis_document_no: str = Field(min_length=1, max_length=128)


class InterviewIn(OnIn):
    department: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=4000)


class WithdrawIn(OnIn):
    reasons: str = Field(min_length=1, max_length=4000)


def _on(body: OnIn) -> date:
    return body.on or lifecycle.today()


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[audited("lists.propose")])
def propose(
    body: ProposeIn, principal: WriteDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    return lists.propose(
        session,
        actor=lifecycle.actor(principal),
        uscc=body.uscc,
        list_type=body.list_type,
        department=body.department,
        reasons=body.reasons,
        basis=body.basis,
        proposed_on=body.proposed_on or lifecycle.today(),
        policy=lifecycle.policy(settings),
    ).as_dict()


@router.post("/{case_id}/response", dependencies=[_audit("respond")])
def respond(case_id: CaseId, body: RespondIn, principal: RespondDep, session: SessionDep) -> dict[str, Any]:
    return lists.respond(session, case_id, actor=lifecycle.actor(principal), response=body.response).as_dict()


@router.post("/{case_id}/withdraw", dependencies=[_audit("withdraw")])
def withdraw(case_id: CaseId, body: WithdrawIn, principal: WriteDep, session: SessionDep) -> dict[str, Any]:
    return lists.withdraw(
        session, case_id, actor=lifecycle.actor(principal), on=_on(body), reasons=body.reasons
    ).as_dict()


@router.post("/{case_id}/list", dependencies=[_audit("list")])
def list_entity(
    case_id: CaseId, body: ListIn, principal: WriteDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    return lists.list_case(
        session,
        case_id,
        lifecycle.sources(settings),
        actor=lifecycle.actor(principal),
        on=_on(body),
        basis_document_no=body.basis_document_no,
        lake=lifecycle.lake(settings),
        policy=lifecycle.policy(settings),
    ).as_dict()


@router.post("/{case_id}/rectified", dependencies=[_audit("rectify")])
def rectified(case_id: CaseId, body: OnIn, principal: WriteDep, session: SessionDep) -> dict[str, Any]:
    return lists.rectify(session, case_id, actor=lifecycle.actor(principal), on=_on(body)).as_dict()


@router.post("/{case_id}/interview", dependencies=[_audit("interview")])
def interview(
    case_id: CaseId, body: InterviewIn, principal: WriteDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    return lists.interview(
        session,
        case_id,
        actor=lifecycle.actor(principal),
        on=_on(body),
        department=body.department,
        reason=body.reason,
        lake=lifecycle.lake(settings),
    ).as_dict()


@router.post("/{case_id}/exit", dependencies=[_audit("exit")])
def exit_on_application(
    case_id: CaseId, body: OnIn, principal: WriteDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    return lists.exit_on_application(
        session, case_id, actor=lifecycle.actor(principal), on=_on(body), lake=lifecycle.lake(settings)
    ).as_dict()


@router.post(
    "/expire", dependencies=[audited("lists.expire")], summary="Exit every case at its maximum period"
)
def expire(body: OnIn, principal: WriteDep, session: SessionDep) -> list[dict[str, Any]]:
    return [row.as_dict() for row in lists.expire(session, actor=lifecycle.actor(principal), on=_on(body))]


@router.get("/interviews-due", summary="Listed cases past the rectification deadline, not yet interviewed")
def interviews_due(
    principal: ReadDep, session: SessionDep, on: Annotated[date | None, Query()] = None
) -> list[dict[str, Any]]:
    return [row.as_dict() for row in lists.interviews_due(session, on=on or lifecycle.today())]


@router.get("/persons/{person_key}", summary="A person's accountability flags (personal credit file)")
def person_file(
    person_key: Annotated[str, Path(min_length=1, max_length=64)], principal: PersonDep, session: SessionDep
) -> list[dict[str, Any]]:
    return lists.person_flags(session, person_key)


@router.get("/{case_id}")
def get_case(case_id: CaseId, principal: ReadDep, session: SessionDep) -> dict[str, Any]:
    return lists.get(session, case_id).as_dict()
