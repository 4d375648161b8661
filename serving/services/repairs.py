"""Credit repair (信用修复): apply (every condition checked), accept, approve (the entity is re-scored at
once), reject, and the handling department's own queue.

The department that penalised or listed handles the repair: the record's ``authority`` in the lake (the
acting department when the record names none). A person applies only at their own department (a government
system applies for the party at whichever department it is); only a supervisor of that department accepts,
approves or rejects it, and a department reads only the repairs it handles.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serving import rescore
from serving.services.context import Context, own_entity, use_case
from serving.services.filings import Upload, check_uploads, keep_uploads
from serving.services.lifecycle_types import (
    DayError,
    Rescored,
    decision_day,
    own_department,
    read_day,
    tier_lookup,
)
from supervision.lifecycle import repairs
from supervision.lifecycle.documents import repair_documents
from supervision.platform.access import Role

__all__ = [
    "OverdueRepair",
    "RepairDecision",
    "RepairView",
    "accept",
    "apply",
    "approve",
    "get",
    "list_repairs",
    "overdue",
    "reject",
]

# The entity applies for its own records (信用服务专区), with the documents its regime requires.
APPLICANTS = (Role.SUPERVISOR, Role.SYSTEM, Role.ENTITY)
DECIDERS = (Role.SUPERVISOR,)
READERS = (Role.SUPERVISOR, Role.INSPECTOR)
# 国市监信规〔2021〕3号: the application goes to the department that made the penalty (or the listing).
HANDLER_RULE = "a repair is handled by the department that penalised or listed, 国市监信规〔2021〕3号"


class ConditionView(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    ok: bool
    detail: str
    rule: dict[str, Any] | None = Field(None, description="the policy rule the condition used")


class RepairView(BaseModel):
    """One repair application, its conditions as last checked, and the decision."""

    model_config = ConfigDict(frozen=True)

    repair_id: str
    uscc: str
    record_table: str
    record_id: str
    department: str = Field(description="the department handling it (the record's authority)")
    applicant: str
    commitment: str | None
    obligations_evidence: str | None
    regime: str | None = Field(
        description="the repair regime of the record's issuing authority ([repair_authorities] of the policy)"
    )
    conditions_met: dict[str, str] = Field(
        description="the repair routes the application gives evidence of: route → reference"
    )
    applied_on: date
    accept_due: date
    accepted_on: date | None
    decide_due: date | None
    decided_on: date | None
    status: Literal["applied", "accepted", "approved", "rejected"]
    reasons: str | None
    conditions: list[ConditionView]
    tier_before: str | None
    tier_after: str | None
    documents: dict[str, str] = Field(
        default_factory=dict,
        description="the documents attached, route → SHA-256 (GET /documents/{sha256})",
    )

    @classmethod
    def of(cls, row: repairs.Repair, documents: Mapping[str, str] | None = None) -> RepairView:
        return cls.model_validate(
            {**row.as_dict(), "conditions_met": row.conditions_met or {}, "documents": dict(documents or {})}
        )


class RepairDecision(RepairView):
    """An approved repair and what re-scoring the entity did."""

    rescore: Rescored


class OverdueRepair(BaseModel):
    model_config = ConfigDict(frozen=True)

    repair_id: str
    department: str
    uscc: str
    status: str
    deadline: Literal["accept", "decide"]
    due: date
    working_days_late: int


def _target(repair_id: str) -> str:
    return f"repair:{repair_id}"


def _handled(ctx: Context, repair_id: str, act: str) -> repairs.Repair:
    row = repairs.get(ctx.session, repair_id)
    own_department(ctx, row.department, what=f"repair {repair_id}", act=act)
    return row


@use_case("repairs.apply", roles=APPLICANTS)
def apply(
    ctx: Context,
    *,
    uscc: str,
    record_table: str,
    record_id: str,
    commitment: str | None = None,
    obligations_evidence: str | None = None,
    conditions_met: Mapping[str, str] | None = None,
    on: date | None = None,
    backdate_reason: str | None = None,
    documents: Mapping[str, Upload] | None = None,
) -> RepairView:
    """Record an application at the department that penalised or listed; every condition is checked and
    recorded, and the acceptance deadline fixed. Refused (不予受理, 422) before the earliest eligible date of
    the record's repair regime, naming the date, and without evidence of a route the regime requires
    (credit training, credit report, public-interest service), naming it.

    The entity applies for its own records only (the record's USCC in the lake, 403 otherwise), dated today,
    and attaches a document (PDF, JPEG, PNG) for each route its regime requires: `documents` maps a route to
    its upload. Uploads are checked first and kept only when the application is recorded."""
    what = f"{record_table} record {record_id}"
    sources = ctx.sources()
    entity = ctx.actor.role is Role.ENTITY
    if entity:
        owner = repairs.record_uscc(sources, record_table=record_table, record_id=record_id)
        own_entity(ctx, owner, what=what)
        own_entity(ctx, uscc)
        if on is not None and on != ctx.today:
            raise DayError(
                f"applied_on {on.isoformat()}: an entity's application is dated the day it is made "
                f"({ctx.today.isoformat()})",
                field="applied_on",
            )
    day = decision_day(ctx, on, field="applied_on", backdate_reason=backdate_reason)
    named = repairs.handling_department(sources, record_table=record_table, record_id=record_id)
    if entity and named is None:
        raise repairs.RepairError(
            f"{what}: names no department that penalised or listed; apply at that department in person",
            field="record_id",
        )
    handler = named or ctx.department()
    if ctx.actor.role not in (Role.SYSTEM, Role.ENTITY):  # a system or the party applies wherever it was made
        own_department(ctx, handler, what=what, act="take a repair application for", rule=HANDLER_RULE)
    routes = dict(documents or {})
    checked = check_uploads(ctx, {f"document_{name}": upload for name, upload in routes.items()})
    row = repairs.apply(
        ctx.session,
        sources,
        actor=ctx.lifecycle_actor,
        uscc=uscc,
        record_table=record_table,
        record_id=record_id,
        department=handler,
        applied_on=day,
        commitment=commitment,
        obligations_evidence=obligations_evidence,
        conditions_met=conditions_met,
        policy=ctx.policy(),
        tiers=tier_lookup(ctx, day),
        documents={name: checked[f"document_{name}"].sha256 for name in routes},
        documents_required=entity,
    )
    keep_uploads(ctx, checked, uscc=uscc)
    attached = {name: checked[f"document_{name}"].sha256 for name in routes}
    ctx.audit(
        "repairs.apply",
        target=_target(row.repair_id),
        details={
            "uscc": uscc,
            "record": f"{record_table}:{record_id}",
            "handled_by": handler,
            "regime": row.regime,
            "conditions_met": sorted(row.conditions_met or {}),
            "failed": [c["name"] for c in row.conditions if not c["ok"]],
            "documents": attached,
        },
    )
    view = RepairView.of(row, attached)
    if entity:
        # Risk classification is internal (国市监信发〔2022〕6号; docs/lifecycle.md): the entity's own answer
        # carries no tier, and no staff identity.
        return view.model_copy(update={"tier_before": None, "tier_after": None})
    return view


@use_case("repairs.accept", roles=DECIDERS)
def accept(
    ctx: Context, repair_id: str, *, on: date | None = None, backdate_reason: str | None = None
) -> RepairView:
    """Accept a complete application (受理); the decision deadline runs from that day."""
    _handled(ctx, repair_id, "accept")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = repairs.accept(ctx.session, repair_id, actor=ctx.lifecycle_actor, on=day, policy=ctx.policy())
    ctx.audit("repairs.accept", target=_target(repair_id), details={"on": day})
    return RepairView.of(row)


@use_case("repairs.approve", roles=DECIDERS)
def approve(
    ctx: Context, repair_id: str, *, on: date | None = None, backdate_reason: str | None = None
) -> RepairDecision:
    """Approve when every condition holds on the day: publicity stops, the lake gets the repair, the entity
    is re-scored at once and ``tier_after`` is the new tier (the stored one if re-scoring was skipped)."""
    _handled(ctx, repair_id, "approve")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = repairs.approve(
        ctx.session,
        repair_id,
        ctx.sources(),
        actor=ctx.lifecycle_actor,
        on=day,
        lake=ctx.lake,
        policy=ctx.policy(),
        tiers=tier_lookup(ctx, day),
    )
    reason = f"repair {repair_id} approved"
    result = rescore.rescore(
        ctx.session,
        ctx.settings,
        uscc=row.uscc,
        on=day,
        reason=reason,
        # The lake rows of the approval (supervision.lifecycle.repairs.approve): the repair, its commitment.
        decision=(
            rescore.DecisionRef("repairs", repair_id),
            rescore.DecisionRef("commitments", f"CMT-{repair_id}"),
        ),
        champion=ctx.champion,
    )
    if result.tier_after is not None:
        row.tier_after = result.tier_after
    ctx.audit(
        "repairs.approve",
        target=_target(repair_id),
        details={"on": day, "tier_after": row.tier_after, "rescore": result.status},
    )
    return RepairDecision(**RepairView.of(row).model_dump(), rescore=Rescored.of(result))


@use_case("repairs.reject", roles=DECIDERS)
def reject(
    ctx: Context, repair_id: str, *, reasons: str, on: date | None = None, backdate_reason: str | None = None
) -> RepairView:
    """Reject (or refuse to accept) with reasons; the record keeps its publicity."""
    _handled(ctx, repair_id, "reject")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = repairs.reject(ctx.session, repair_id, actor=ctx.lifecycle_actor, on=day, reasons=reasons)
    ctx.audit("repairs.reject", target=_target(repair_id), details={"on": day})
    return RepairView.of(row)


@use_case("repairs.get", roles=READERS)
def get(ctx: Context, repair_id: str) -> RepairView:
    """One repair the actor's department handles (another department's is refused)."""
    row = _handled(ctx, repair_id, "read")
    ctx.audit("repairs.get", target=_target(repair_id), read=True)
    return RepairView.of(row, repair_documents(ctx.session, repair_id))


@use_case("repairs.list", roles=READERS)
def list_repairs(ctx: Context, *, uscc: str | None = None) -> list[RepairView]:
    """The repairs the actor's department handles, optionally of one entity."""
    department = ctx.department()
    rows = repairs.list_repairs(ctx.session, uscc=uscc, department=department)
    ctx.audit(
        "repairs.list",
        target=f"department:{department}",
        details={"uscc": uscc, "rows": len(rows)},
        read=True,
    )
    return [RepairView.of(row) for row in rows]


@use_case("repairs.overdue", roles=READERS)
def overdue(
    ctx: Context, *, on: date | None = None, backdate_reason: str | None = None
) -> list[OverdueRepair]:
    """The actor's department's open applications past their acceptance or decision deadline on `on`."""
    department = ctx.department()
    day = read_day(ctx, on)
    rows = repairs.overdue(ctx.session, on=day, department=department)
    ctx.audit(
        "repairs.overdue",
        target=f"department:{department}",
        details={"on": day, "rows": len(rows)},
        read=True,
    )
    return [OverdueRepair.model_validate(r) for r in rows]
