"""Joint-punishment lists: propose (prior notice), approve (四眼原则), respond, list, rectify, interview,
exits; the listing department's reads."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import context_dep
from serving.api.types import BackdateReason, OnIn, Uscc
from serving.services import lists
from serving.services.context import Context
from serving.services.lists import ListCaseDecision, ListCaseView, OverdueListing, PersonFlag

router = APIRouter(prefix="/lists", tags=["lists"])
CaseId = Annotated[str, Path(min_length=1, max_length=40)]


class ProposeIn(BaseModel):
    """A proposal of the caller's department (the listing department is the caller's)."""

    model_config = ConfigDict(extra="forbid")

    uscc: Uscc
    list_type: str = Field(min_length=1, max_length=32, examples=["severe_dishonesty"])
    reasons: str = Field(min_length=1, max_length=4000)
    basis: str = Field(min_length=1, max_length=4000)
    proposed_on: date | None = Field(None, description="default: today (China); not after today")
    backdate_reason: BackdateReason = None


class RespondIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response: str = Field(min_length=1, max_length=4000)


class ListIn(OnIn):
    basis_document_no: str = Field(min_length=1, max_length=128)


class InterviewIn(OnIn):
    reason: str = Field(min_length=1, max_length=4000)


class WithdrawIn(OnIn):
    reasons: str = Field(min_length=1, max_length=4000)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Propose a listing (the prior notice)")
def propose(body: ProposeIn, ctx: Annotated[Context, context_dep(lists.propose)]) -> ListCaseView:
    return lists.propose(
        ctx,
        uscc=body.uscc,
        list_type=body.list_type,
        reasons=body.reasons,
        basis=body.basis,
        on=body.proposed_on,
        backdate_reason=body.backdate_reason,
    )


@router.post("/{case_id}/approve", summary="Second approver of a proposed listing (四眼原则)")
def approve(case_id: CaseId, body: OnIn, ctx: Annotated[Context, context_dep(lists.approve)]) -> ListCaseView:
    return lists.approve(ctx, case_id, on=body.on, backdate_reason=body.backdate_reason)


@router.post("/{case_id}/response", summary="The party's statement (陈述申辩) on a proposed case")
def respond(
    case_id: CaseId, body: RespondIn, ctx: Annotated[Context, context_dep(lists.respond)]
) -> ListCaseView:
    return lists.respond(ctx, case_id, response=body.response)


@router.post("/{case_id}/withdraw", summary="Drop a proposal")
def withdraw(
    case_id: CaseId, body: WithdrawIn, ctx: Annotated[Context, context_dep(lists.withdraw)]
) -> ListCaseView:
    return lists.withdraw(
        ctx, case_id, reasons=body.reasons, on=body.on, backdate_reason=body.backdate_reason
    )


@router.post(
    "/{case_id}/list", summary="List the entity on the basis document (a record meeting the list's criteria)"
)
def list_entity(
    case_id: CaseId, body: ListIn, ctx: Annotated[Context, context_dep(lists.list_case)]
) -> ListCaseDecision:
    return lists.list_case(
        ctx,
        case_id,
        basis_document_no=body.basis_document_no,
        on=body.on,
        backdate_reason=body.backdate_reason,
    )


@router.post("/{case_id}/publish", summary="The listing was published (名单公示)")
def publish(case_id: CaseId, body: OnIn, ctx: Annotated[Context, context_dep(lists.publish)]) -> ListCaseView:
    return lists.publish(ctx, case_id, on=body.on, backdate_reason=body.backdate_reason)


@router.post("/{case_id}/rectified", summary="The party rectified (整改到位)")
def rectified(
    case_id: CaseId, body: OnIn, ctx: Annotated[Context, context_dep(lists.rectify)]
) -> ListCaseView:
    return lists.rectify(ctx, case_id, on=body.on, backdate_reason=body.backdate_reason)


@router.post("/{case_id}/interview", summary="The listing department's interview (谁认定、谁约谈)")
def interview(
    case_id: CaseId, body: InterviewIn, ctx: Annotated[Context, context_dep(lists.interview)]
) -> ListCaseView:
    return lists.interview(ctx, case_id, reason=body.reason, on=body.on, backdate_reason=body.backdate_reason)


@router.post("/{case_id}/exit", summary="Early exit on application")
def exit_on_application(
    case_id: CaseId, body: OnIn, ctx: Annotated[Context, context_dep(lists.exit_on_application)]
) -> ListCaseDecision:
    return lists.exit_on_application(ctx, case_id, on=body.on, backdate_reason=body.backdate_reason)


@router.post("/expire", summary="Exit every case of the department at its maximum period")
def expire(body: OnIn, ctx: Annotated[Context, context_dep(lists.expire)]) -> list[ListCaseDecision]:
    return lists.expire(ctx, on=body.on, backdate_reason=body.backdate_reason)


@router.get("/interviews-due", summary="The department's listed cases past the rectification deadline")
def interviews_due(
    ctx: Annotated[Context, context_dep(lists.interviews_due)], on: Annotated[date | None, Query()] = None
) -> list[ListCaseView]:
    return lists.interviews_due(ctx, on=on)


@router.get("/overdue", summary="The department's listed cases not published by their deadline")
def overdue(
    ctx: Annotated[Context, context_dep(lists.overdue)], on: Annotated[date | None, Query()] = None
) -> list[OverdueListing]:
    return lists.overdue(ctx, on=on)


@router.get("/persons/{person_key}", summary="A person's accountability flags (personal credit file)")
def person_file(
    person_key: Annotated[str, Path(min_length=1, max_length=64)],
    ctx: Annotated[Context, context_dep(lists.person_file)],
) -> list[PersonFlag]:
    return lists.person_file(ctx, person_key)


@router.get("/{case_id}", summary="One case of the department")
def get_case(case_id: CaseId, ctx: Annotated[Context, context_dep(lists.get)]) -> ListCaseView:
    return lists.get(ctx, case_id)
