"""Credit commitments (信用承诺): the templates, make, fulfil, breach, interview; the public 信用承诺 column.

A commitment is made to the actor's department (a government system, e.g. the licensing platform of 告知
承诺制, names the department it is made to); only a supervisor of that department records its fulfilment,
its breach or the interview after it.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.services.context import Context, use_case
from serving.services.lifecycle_types import (
    decision_day,
    filing_department,
    name_masker,
    own_department,
)
from supervision.lifecycle import commitments
from supervision.platform.access import Role
from supervision.platform.masking import PUBLIC

__all__ = [
    "CommitmentView",
    "PublicCommitment",
    "TemplateView",
    "breach",
    "fulfil",
    "interview",
    "make",
    "public_column",
    "templates",
]

MAKERS = (Role.SUPERVISOR, Role.SYSTEM)
SUPERVISOR = (Role.SUPERVISOR,)


class TemplateView(BaseModel):
    model_config = ConfigDict(frozen=True)

    matter: str
    title: str
    commitment_type: str
    due_days: int = Field(description="days from the commitment to its deadline (0: none)")
    text: str


class CommitmentView(BaseModel):
    """One commitment and its fulfilment."""

    model_config = ConfigDict(frozen=True)

    commitment_id: str
    uscc: str
    matter: str
    commitment_type: str
    title: str
    text: str
    licence_id: str | None
    signatory: str | None
    department: str = Field(description="the department the commitment is made to")
    made_on: date
    due_on: date | None
    status: Literal["pending", "fulfilled", "breached", "interviewed"]
    determined_on: date | None
    breach_facts: str | None
    interviewed_on: date | None

    @classmethod
    def of(cls, row: commitments.Commitment) -> CommitmentView:
        return cls.model_validate(row.as_dict())


class PublicCommitment(BaseModel):
    """A row of the public 信用承诺 column: the signatory masked, ID numbers in the text masked."""

    model_config = ConfigDict(frozen=True)

    commitment_id: str
    uscc: str
    title: str
    text: str
    licence_id: str | None
    signatory: str | None
    made_on: date
    due_on: date | None
    status: str
    determined_on: date | None


def _target(commitment_id: str) -> str:
    return f"commitment:{commitment_id}"


def _made_to(ctx: Context, commitment_id: str, act: str) -> None:
    row = commitments.get(ctx.session, commitment_id)
    own_department(ctx, row.department, what=f"commitment {commitment_id}", act=act)


# The templates are configuration: readable on one's own machine too (no token).
@use_case("commitments.templates", roles=None, public=True)
def templates(ctx: Context) -> list[TemplateView]:
    """The commitment templates, one per matter."""
    found = commitments.load_templates()
    ctx.audit("commitments.templates", target="commitment_templates", details={"rows": len(found)}, read=True)
    return [TemplateView.model_validate(asdict(t)) for t in found.values()]


# Public data (the 信用承诺 column is published): anyone, with or without a token.
@use_case("commitments.public", roles=None, public=True)
def public_column(ctx: Context) -> list[PublicCommitment]:
    """Every commitment as the public sees it (names masked for the public audience)."""
    frame = commitments.public_export(ctx.session, mask_name=name_masker(PUBLIC))
    ctx.audit("commitments.public", target="commitments", details={"rows": frame.height}, read=True)
    return [PublicCommitment.model_validate(row) for row in frame.to_dicts()]


@use_case("commitments.make", roles=MAKERS)
def make(
    ctx: Context,
    *,
    uscc: str,
    matter: str,
    department: str | None = None,
    licence_id: str | None = None,
    signatory: str | None = None,
    on: date | None = None,
    backdate_reason: str | None = None,
) -> CommitmentView:
    """Record a commitment on the matter's template, made to the actor's department (a system names it)."""
    to = filing_department(ctx, department)
    day = decision_day(ctx, on, field="made_on", backdate_reason=backdate_reason)
    row = commitments.make(
        ctx.session,
        actor=ctx.lifecycle_actor,
        uscc=uscc,
        matter=matter,
        department=to,
        made_on=day,
        licence_id=licence_id,
        signatory=signatory,
    )
    ctx.audit(
        "commitments.make",
        target=_target(row.commitment_id),
        details={"uscc": uscc, "matter": matter, "made_to": to, "on": day},
    )
    return CommitmentView.of(row)


@use_case("commitments.fulfil", roles=SUPERVISOR)
def fulfil(
    ctx: Context, commitment_id: str, *, on: date | None = None, backdate_reason: str | None = None
) -> CommitmentView:
    """The commitment is fulfilled (the lake gets its final state)."""
    _made_to(ctx, commitment_id, "determine")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = commitments.fulfil(ctx.session, commitment_id, actor=ctx.lifecycle_actor, on=day, lake=ctx.lake)
    ctx.audit("commitments.fulfil", target=_target(commitment_id), details={"on": day})
    return CommitmentView.of(row)


@use_case("commitments.breach", roles=SUPERVISOR)
def breach(
    ctx: Context,
    commitment_id: str,
    *,
    facts: str,
    on: date | None = None,
    backdate_reason: str | None = None,
) -> CommitmentView:
    """The commitment is breached: a record the features count."""
    _made_to(ctx, commitment_id, "determine")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = commitments.breach(
        ctx.session, commitment_id, actor=ctx.lifecycle_actor, on=day, facts=facts, lake=ctx.lake
    )
    ctx.audit("commitments.breach", target=_target(commitment_id), details={"on": day})
    return CommitmentView.of(row)


@use_case("commitments.interview", roles=SUPERVISOR)
def interview(
    ctx: Context,
    commitment_id: str,
    *,
    reason: str,
    on: date | None = None,
    backdate_reason: str | None = None,
) -> CommitmentView:
    """The department's interview after a breach."""
    _made_to(ctx, commitment_id, "interview")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = commitments.interview(
        ctx.session, commitment_id, actor=ctx.lifecycle_actor, on=day, reason=reason, lake=ctx.lake
    )
    ctx.audit("commitments.interview", target=_target(commitment_id), details={"on": day})
    return CommitmentView.of(row)
