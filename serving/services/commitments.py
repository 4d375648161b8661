"""Credit commitments (信用承诺): the templates, make, fulfil, breach, interview; the public 信用承诺 column.

A commitment is made to the actor's department (a government system, e.g. the licensing platform of 告知
承诺制, names the department it is made to; the regulated entity, for its own USCC, names one of the
departments on the platform); only a supervisor of that department records its fulfilment, its breach or the
interview after it.

A 告知承诺 (a template with a check matter) runs the embedded check first (:func:`checks.evaluate`) and is
refused (422, exit 1: the entity and matter break a rule of the policy, as any other rule refusal) for an
entity on a severe list, within the exclusion after a breach, or where the check answers 不适用告知承诺制;
the answer carries the check (incentives, 容缺受理 of the documents named as missing). A breach changes the
entity's features (commitments_breached_*): it is re-scored at once, and the answer says what that did.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving import rescore
from serving.services import checks, publication, zone
from serving.services.checks import CheckView
from serving.services.context import Context, own_entity, use_case
from serving.services.lifecycle_types import (
    Rescored,
    decision_day,
    filing_department,
    own_department,
)
from supervision.lifecycle import commitments
from supervision.platform.access import Role
from supervision.platform.errors import DomainError

__all__ = [
    "CommitmentBreach",
    "CommitmentMade",
    "CommitmentView",
    "TemplateView",
    "breach",
    "fulfil",
    "interview",
    "make",
    "public_column",
    "templates",
]

MAKERS = (Role.SUPERVISOR, Role.SYSTEM, Role.ENTITY)
SUPERVISOR = (Role.SUPERVISOR,)


class TemplateView(BaseModel):
    model_config = ConfigDict(frozen=True)

    matter: str
    title: str
    commitment_type: str
    due_days: int = Field(description="days from the commitment to its deadline (0: none)")
    text: str
    check_matter: str | None = Field(
        None, description="a 告知承诺: the check matter run before it is made (None: not checked)"
    )


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


class CommitmentMade(CommitmentView):
    """A commitment made, and the embedded check run before it (a 告知承诺; None for other templates)."""

    check: CheckView | None


class CommitmentBreach(CommitmentView):
    """A breached commitment and what re-scoring the entity did."""

    rescore: Rescored


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


# Public data (the 信用承诺 column is published): the whole column at once, for the CLI's export; the API and
# the pages page through the same rows (publication.commitments_column: GET /public/commitments).
@use_case("commitments.public", roles=None, public=True)
def public_column(ctx: Context) -> list[publication.PublishedCommitment]:
    """Every commitment as the public sees it: made here or ingested, names masked, no minor's."""
    rows = publication.commitment_rows(ctx)
    ctx.audit("commitments.public", target="commitments", details={"rows": len(rows)}, read=True)
    return [publication.PublishedCommitment.model_validate(row) for row in rows]


def _entity_department(ctx: Context, uscc: str, department: str | None, on: date | None) -> str:
    """The department the entity's own commitment is made to: one it names, among the platform's."""
    own_entity(ctx, uscc)
    if on is not None:
        raise DomainError("made_on: an entity commits on the day it commits (leave it out)", field="made_on")
    known = zone.known_departments(ctx)
    if department is None or department not in known:
        raise DomainError(
            f"department {department!r}: name the department the commitment is made to, one of "
            f"{', '.join(known) or '(none on the platform)'}",
            field="department",
        )
    return department


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
    missing_documents: list[str] | None = None,
) -> CommitmentMade:
    """Record a commitment on the matter's template, made to the actor's department (a system names it); a
    告知承诺 runs the embedded check of its matter first and is refused by the policy's rules."""
    entity = ctx.actor.role is Role.ENTITY
    if entity:
        to = _entity_department(ctx, uscc, department, on)
        day = decision_day(ctx, None, field="made_on")
    else:
        to = filing_department(ctx, department)
        day = decision_day(ctx, on, field="made_on", backdate_reason=backdate_reason)
    found = commitments.load_templates()
    template = found.get(matter)
    result = None
    if template is not None and template.check_matter is not None:
        result = checks.evaluate(
            ctx, uscc=uscc, matter=template.check_matter, day=day, missing_documents=missing_documents
        )
    row = commitments.make(
        ctx.session,
        actor=ctx.lifecycle_actor,
        uscc=uscc,
        matter=matter,
        department=to,
        made_on=day,
        licence_id=licence_id,
        signatory=signatory,
        templates=found,
        check=result,
        sources=ctx.sources(),
        policy=ctx.policy(),
    )
    ctx.audit(
        "commitments.make",
        target=_target(row.commitment_id),
        details={
            "uscc": uscc,
            "matter": matter,
            "made_to": to,
            "on": day,
            "check_id": None if result is None else result.check_id,
        },
    )
    # The check carries the current tier: never shown to the entity (zone.RISK_INTERNAL); its id is audited.
    check = None if result is None or entity else CheckView.model_validate(result.as_dict())
    return CommitmentMade(**CommitmentView.of(row).model_dump(), check=check)


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
) -> CommitmentBreach:
    """The commitment is breached: a record the features count, so the entity is re-scored at once."""
    _made_to(ctx, commitment_id, "determine")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = commitments.breach(
        ctx.session, commitment_id, actor=ctx.lifecycle_actor, on=day, facts=facts, lake=ctx.lake
    )
    # Re-scored now, on the lake that has just received the breach (commitments_breached_*).
    result = rescore.rescore(
        ctx.session,
        ctx.settings,
        uscc=row.uscc,
        on=day,
        reason=f"commitment {commitment_id} breached",
        # The commitment's lake row is written when it is determined (here: breached), so the lake without
        # it is the features as they stood before the breach.
        decision=rescore.DecisionRef("commitments", commitment_id),
        champion=ctx.champion,
    )
    ctx.audit(
        "commitments.breach",
        target=_target(commitment_id),
        details={"on": day, "rescore": result.status},
    )
    return CommitmentBreach(**CommitmentView.of(row).model_dump(), rescore=Rescored.of(result))


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
