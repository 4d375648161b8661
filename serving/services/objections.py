"""Objections (异议): file, mark 异议处理中, decide (an upheld one re-scores the entity), record the
withdrawal of the changed or revoked decision's publication, and the handling department's own queue.

The department handling an objection is the filer's own (a person of a department), or the one a government
system names when it files for a party. The regulated entity files against a record of its own credit
record in the lake (its USCC, a table open to it); the department that produced the record handles it
(谁产生、谁负责: the record's authority or department column). Only a supervisor of that department marks
or decides it, and a department reads only the objections it handles.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serving import rescore
from serving.services import zone
from serving.services.context import Context, own_entity, use_case
from serving.services.lifecycle_types import (
    Rescored,
    decision_day,
    filing_department,
    own_department,
    read_day,
)
from supervision.lifecycle import objections
from supervision.platform.access import Role
from supervision.platform.errors import ConflictError, DomainError

__all__ = [
    "ObjectionDecision",
    "ObjectionView",
    "OverdueObjection",
    "decide",
    "file",
    "get",
    "list_objections",
    "mark",
    "overdue",
    "withdraw",
]

FILERS = (Role.SUPERVISOR, Role.INSPECTOR, Role.SYSTEM, Role.ENTITY)
WHO_PRODUCED = "谁产生、谁负责: the department that produced a record handles objections to it"
DECIDERS = (Role.SUPERVISOR,)
READERS = (Role.SUPERVISOR, Role.INSPECTOR)


class ObjectionView(BaseModel):
    """One objection, its deadlines and, once decided, the outcome."""

    model_config = ConfigDict(frozen=True)

    objection_id: str
    uscc: str
    record_table: str
    record_id: str
    filer: str
    grounds: str
    department: str = Field(description="the department handling it")
    status: Literal["filed", "marked", "upheld", "rejected"]
    label: str | None = Field(description="异议处理中 while marked")
    under_objection: bool
    filed_on: date
    mark_due: date
    decide_due: date
    marked_on: date | None
    decided_on: date | None
    resolution: Literal["corrected", "revoked"] | None
    reasons: str | None
    correction: dict[str, Any] | None
    notice: str | None = Field(description="the notice to the party of a wrongful listing removed")
    withdraw_due: date | None = Field(
        description="upheld: the publication of the changed or revoked decision is withdrawn by this day "
        "(objection.withdraw_revoked, SAMR Order 45 art 11: 3 working days)"
    )
    withdrawn_on: date | None = Field(description="the day the department recorded the withdrawal")
    rules: dict[str, Any] = Field(description="the policy rules that fixed the deadlines")

    @classmethod
    def of(cls, row: objections.Objection) -> ObjectionView:
        return cls.model_validate(row.as_dict())


class ObjectionDecision(ObjectionView):
    """A decided objection and what re-scoring the entity did (an upheld one only)."""

    rescore: Rescored


class OverdueObjection(BaseModel):
    model_config = ConfigDict(frozen=True)

    objection_id: str
    department: str
    uscc: str
    status: str
    deadline: Literal["mark", "decide", "withdraw"]
    due: date
    working_days_late: int


def _target(objection_id: str) -> str:
    return f"objection:{objection_id}"


def _handled(ctx: Context, objection_id: str, act: str) -> objections.Objection:
    row = objections.get(ctx.session, objection_id)
    own_department(ctx, row.department, what=f"objection {objection_id}", act=act)
    return row


def _entity_handler(
    ctx: Context, uscc: str, record_table: str, record_id: str, department: str | None, on: date | None
) -> str:
    """The department handling the entity's objection: the producer of the record, read from the lake; the
    record must be the entity's own (its ``uscc`` in the lake) and not already under its objection."""
    own_entity(ctx, uscc)
    if on is not None:
        raise DomainError("filed_on: an entity files on the day it files (leave it out)", field="filed_on")
    if department is not None:
        raise DomainError(
            f"department: leave it out; the department that produced the record handles it ({WHO_PRODUCED})",
            field="department",
        )
    t, row = zone.open_record(ctx, record_table, record_id)
    own_entity(ctx, str(row["uscc"]), what=f"{record_table}:{record_id}")
    handler = zone.department_of(t, row)
    if handler is None:
        raise DomainError(
            f"{record_table}:{record_id}: the record names no department that produced it, so no department "
            f"can handle an objection to it here ({WHO_PRODUCED}); object to the department that recorded it",
            field="record_id",
        )
    for open_row in objections.list_objections(ctx.session, uscc=uscc):
        if (open_row.record_table, open_row.record_id) == (record_table, record_id) and open_row.status in (
            "filed",
            "marked",
        ):
            raise ConflictError(
                f"{record_table}:{record_id}: objection {open_row.objection_id} against it is still open "
                f"({open_row.status}, decision due {open_row.decide_due.isoformat()})",
                field="record_id",
            )
    return handler


@use_case("objections.file", roles=FILERS)
def file(
    ctx: Context,
    *,
    uscc: str,
    record_table: str,
    record_id: str,
    grounds: str,
    department: str | None = None,
    on: date | None = None,
    backdate_reason: str | None = None,
) -> ObjectionView:
    """File an objection with the actor's department (a system names the handling one; the entity's goes to
    the department that produced its record); its deadlines are fixed now, in working days from the filing
    day."""
    if ctx.actor.role is Role.ENTITY:
        handler = _entity_handler(ctx, uscc, record_table, record_id, department, on)
        day = decision_day(ctx, None, field="filed_on")
    else:
        handler = filing_department(ctx, department)
        day = decision_day(ctx, on, field="filed_on", backdate_reason=backdate_reason)
    row = objections.file(
        ctx.session,
        actor=ctx.lifecycle_actor,
        uscc=uscc,
        record_table=record_table,
        record_id=record_id,
        grounds=grounds,
        department=handler,
        filed_on=day,
        policy=ctx.policy(),
    )
    ctx.audit(
        "objections.file",
        target=_target(row.objection_id),
        details={"uscc": uscc, "record": f"{record_table}:{record_id}", "handled_by": handler, "on": day},
    )
    return ObjectionView.of(row)


@use_case("objections.mark", roles=DECIDERS)
def mark(
    ctx: Context, objection_id: str, *, on: date | None = None, backdate_reason: str | None = None
) -> ObjectionView:
    """Mark the disputed record 异议处理中 (the handling department)."""
    _handled(ctx, objection_id, "mark")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = objections.mark(ctx.session, objection_id, actor=ctx.lifecycle_actor, on=day)
    ctx.audit("objections.mark", target=_target(objection_id), details={"on": day})
    return ObjectionView.of(row)


@use_case("objections.decide", roles=DECIDERS)
def decide(
    ctx: Context,
    objection_id: str,
    *,
    upheld: bool,
    reasons: str,
    resolution: str | None = None,
    correction: dict[str, Any] | None = None,
    on: date | None = None,
    backdate_reason: str | None = None,
) -> ObjectionDecision:
    """Uphold (the record is corrected or revoked, the lake gets the decision and the entity is re-scored at
    once) or reject with reasons (the handling department)."""
    _handled(ctx, objection_id, "decide")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    decision = objections.decide(
        ctx.session,
        objection_id,
        actor=ctx.lifecycle_actor,
        on=day,
        upheld=upheld,
        reasons=reasons,
        resolution=resolution,
        correction=correction,
        lake=ctx.lake,
        policy=ctx.policy(),
    )
    row = decision.objection
    if row.status == "upheld":
        # Re-scored now, on the lake that has just received the decision.
        result = rescore.rescore(
            ctx.session,
            ctx.settings,
            uscc=row.uscc,
            on=day,
            reason=f"objection {row.objection_id} upheld ({row.resolution})",
            decision=rescore.DecisionRef("objections", row.objection_id),
            champion=ctx.champion,
        )
    else:
        result = rescore.skipped("objection rejected: the record stands, nothing to re-score")
    ctx.audit(
        "objections.decide",
        target=_target(objection_id),
        details={
            "outcome": row.status,
            "resolution": row.resolution,
            "on": day,
            "withdraw_due": row.withdraw_due,
            "rescore": result.status,
        },
    )
    return ObjectionDecision(**ObjectionView.of(row).model_dump(), rescore=Rescored.of(result))


@use_case("objections.withdraw", roles=DECIDERS)
def withdraw(
    ctx: Context, objection_id: str, *, on: date | None = None, backdate_reason: str | None = None
) -> ObjectionView:
    """Record that the publication of the decision an upheld objection changed or revoked was withdrawn
    (the handling department; due by ``withdraw_due``)."""
    _handled(ctx, objection_id, "record the withdrawal of")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = objections.withdraw(ctx.session, objection_id, actor=ctx.lifecycle_actor, on=day)
    ctx.audit(
        "objections.withdraw",
        target=_target(objection_id),
        details={"on": day, "withdraw_due": row.withdraw_due},
    )
    return ObjectionView.of(row)


@use_case("objections.get", roles=READERS)
def get(ctx: Context, objection_id: str) -> ObjectionView:
    """One objection the actor's department handles (another department's is refused)."""
    row = _handled(ctx, objection_id, "read")
    ctx.audit("objections.get", target=_target(objection_id), read=True)
    return ObjectionView.of(row)


@use_case("objections.list", roles=READERS)
def list_objections(
    ctx: Context, *, uscc: str | None = None, status: str | None = None
) -> list[ObjectionView]:
    """The objections the actor's department handles, optionally of one entity or in one status."""
    department = ctx.department()
    rows = objections.list_objections(ctx.session, uscc=uscc, status=status, department=department)
    ctx.audit(
        "objections.list",
        target=f"department:{department}",
        details={"uscc": uscc, "status": status, "rows": len(rows)},
        read=True,
    )
    return [ObjectionView.of(row) for row in rows]


@use_case("objections.overdue", roles=READERS)
def overdue(
    ctx: Context, *, on: date | None = None, backdate_reason: str | None = None
) -> list[OverdueObjection]:
    """The actor's department's objections past a deadline on `on`: open ones past marking or deciding,
    upheld ones past ``withdraw_due`` while the 双公示 register shows the decision published and no withdrawal
    is recorded."""
    department = ctx.department()
    day = read_day(ctx, on)
    rows = objections.overdue(ctx.session, on=day, department=department)
    ctx.audit(
        "objections.overdue",
        target=f"department:{department}",
        details={"on": day, "rows": len(rows)},
        read=True,
    )
    return [OverdueObjection.model_validate(r) for r in rows]
