"""Credit commitments (信用承诺): templates, make, fulfil, breach, interview; the public 信用承诺 column."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import context_dep
from serving.api.routers.check import MissingDocuments
from serving.api.types import BackdateReason, OnIn, Uscc
from serving.services import commitments
from serving.services.commitments import (
    CommitmentBreach,
    CommitmentMade,
    CommitmentView,
    TemplateView,
)
from serving.services.context import Context

router = APIRouter(prefix="/commitments", tags=["commitments"])
CommitmentId = Annotated[str, Path(min_length=1, max_length=40)]


class MakeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: Uscc
    matter: str = Field(min_length=1, max_length=64, examples=["food_business_licence"])
    department: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="only a system recording a commitment: the department it is made to (a person's goes to "
        "their own department)",
    )
    licence_id: str | None = Field(None, max_length=128)
    signatory: str | None = Field(None, max_length=100)
    made_on: date | None = Field(None, description="default: today (China); not after today")
    backdate_reason: BackdateReason = None
    missing_documents: MissingDocuments = None


class BreachIn(OnIn):
    facts: str = Field(min_length=1, max_length=4000)


class InterviewIn(OnIn):
    reason: str = Field(min_length=1, max_length=4000)


@router.get("/templates", summary="Commitment templates per matter")
def templates(ctx: Annotated[Context, context_dep(commitments.templates)]) -> list[TemplateView]:
    return commitments.templates(ctx)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Record a commitment (a 告知承诺 after the embedded check: refused for a listed entity, within "
    "the exclusion after a breach, or where the check answers 不适用告知承诺制)",
)
def make(body: MakeIn, ctx: Annotated[Context, context_dep(commitments.make)]) -> CommitmentMade:
    return commitments.make(
        ctx,
        uscc=body.uscc,
        matter=body.matter,
        department=body.department,
        licence_id=body.licence_id,
        signatory=body.signatory,
        on=body.made_on,
        backdate_reason=body.backdate_reason,
        missing_documents=body.missing_documents,
    )


@router.post("/{commitment_id}/fulfil", summary="The commitment is fulfilled")
def fulfil(
    commitment_id: CommitmentId, body: OnIn, ctx: Annotated[Context, context_dep(commitments.fulfil)]
) -> CommitmentView:
    return commitments.fulfil(ctx, commitment_id, on=body.on, backdate_reason=body.backdate_reason)


@router.post(
    "/{commitment_id}/breach", summary="The commitment is breached (a record the features count; re-scored)"
)
def breach(
    commitment_id: CommitmentId, body: BreachIn, ctx: Annotated[Context, context_dep(commitments.breach)]
) -> CommitmentBreach:
    return commitments.breach(
        ctx, commitment_id, facts=body.facts, on=body.on, backdate_reason=body.backdate_reason
    )


@router.post("/{commitment_id}/interview", summary="The department's interview after a breach")
def interview(
    commitment_id: CommitmentId,
    body: InterviewIn,
    ctx: Annotated[Context, context_dep(commitments.interview)],
) -> CommitmentView:
    return commitments.interview(
        ctx, commitment_id, reason=body.reason, on=body.on, backdate_reason=body.backdate_reason
    )
