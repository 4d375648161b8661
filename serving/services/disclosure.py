"""双公示: register the lake's licence and penalty decisions, publish one, the overdue report, the public
export.

The department that made a decision publishes it (谁产生、谁公示): publishing another department's decision
is refused. Registering reads every department's decisions from the lake, and the overdue report counts per
department (an oversight report of how each department keeps its publication deadline), so neither is
filtered.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.services.context import Context, use_case
from serving.services.lifecycle_types import decision_day, name_masker, own_department, read_day
from supervision.lifecycle import disclosure
from supervision.platform.access import Role
from supervision.platform.masking import PUBLIC

__all__ = [
    "DisclosureView",
    "OverdueDepartment",
    "PublicDecision",
    "Registered",
    "overdue",
    "public_decisions",
    "publish",
    "register",
]

SUPERVISOR = (Role.SUPERVISOR,)
READERS = (Role.SUPERVISOR, Role.INSPECTOR)
RecordTable = Literal["licences", "penalties"]
WHO_MADE = "谁产生、谁公示: the department that made a decision publishes it"


class Registered(BaseModel):
    model_config = ConfigDict(frozen=True)

    registered: int = Field(description="decisions newly registered for publication")


class DisclosureView(BaseModel):
    """One decision to publish: its deadline and, once published, the day."""

    model_config = ConfigDict(frozen=True)

    record_table: RecordTable
    record_id: str
    uscc: str
    department: str = Field(description="the department that made the decision and publishes it")
    decided_on: date
    due_on: date
    status: Literal["pending", "published"]
    published_on: date | None
    rule: dict[str, Any]

    @classmethod
    def of(cls, row: disclosure.Disclosure) -> DisclosureView:
        return cls.model_validate(row.as_dict())


class OverdueDepartment(BaseModel):
    model_config = ConfigDict(frozen=True)

    department: str
    overdue: int
    oldest_due: date
    max_working_days_late: int


class PublicDecision(BaseModel):
    """A published penalty or licence as the public sees it (personal data masked)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["penalty", "licence"]
    record_id: str
    uscc: str
    party_name: str | None
    legal_representative: str | None
    title: str | None
    content: str | None
    facts: str | None
    basis: str | None
    decided_on: date
    authority: str | None
    publicity_until: date | None


@use_case("disclosure.register", roles=SUPERVISOR)
def register(ctx: Context) -> Registered:
    """Register every licence and publishable penalty of the lake not yet registered, with its due date (20
    WD for a market-supervision authority's, SAMR Order 45; 7 WD for the others, 国办发〔2015〕51号)."""
    added = disclosure.register_from_lake(
        ctx.session, ctx.sources(), policy=ctx.policy(), now=ctx.clock.now()
    )
    ctx.audit("disclosure.register", target="disclosures", details={"registered": added})
    return Registered(registered=added)


@use_case("disclosure.publish", roles=SUPERVISOR)
def publish(
    ctx: Context,
    record_table: str,
    record_id: str,
    *,
    on: date | None = None,
    backdate_reason: str | None = None,
) -> DisclosureView:
    """Mark a decision of the actor's department published, on a day from its decision day to today (a day
    before the decision is refused, naming both dates)."""
    row = disclosure.get(ctx.session, record_table, record_id)
    own_department(
        ctx, row.department, what=f"decision {record_table}:{record_id}", act="publish", rule=WHO_MADE
    )
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = disclosure.publish(ctx.session, record_table, record_id, actor=ctx.lifecycle_actor, on=day)
    ctx.audit("disclosure.publish", target=f"disclosure:{record_table}:{record_id}", details={"on": day})
    return DisclosureView.of(row)


@use_case("disclosure.overdue", roles=READERS)
def overdue(
    ctx: Context, *, on: date | None = None, backdate_reason: str | None = None
) -> list[OverdueDepartment]:
    """Per department: decisions past their publication deadline on `on` (count, oldest, working days
    late)."""
    day = read_day(ctx, on)
    rows = disclosure.overdue_report(ctx.session, on=day)
    ctx.audit("disclosure.overdue", target="disclosures", details={"on": day, "rows": len(rows)}, read=True)
    return [OverdueDepartment.model_validate(r) for r in rows]


# Public data (双公示 is publication): anyone, with or without a token.
@use_case("disclosure.public", roles=None, public=True)
def public_decisions(
    ctx: Context, *, on: date | None = None, backdate_reason: str | None = None
) -> list[PublicDecision]:
    """Published decisions within their publicity period on `on`: no minors, personal data masked."""
    day = read_day(ctx, on)
    frame = disclosure.public_export(
        ctx.session, ctx.sources(), on=day, mask_name=name_masker(PUBLIC), policy=ctx.policy()
    )
    ctx.audit("disclosure.public", target="disclosures", details={"on": day, "rows": frame.height}, read=True)
    return [PublicDecision.model_validate(row) for row in frame.to_dicts()]
