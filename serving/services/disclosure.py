"""双公示 of the ten kinds of administrative decisions: register them from the lake, publish one, withdraw a
revoked one, the overdue reports, the public export and the public search.

The department that made a decision publishes and withdraws it (谁产生、谁公示): acting on another
department's decision is refused. Registering reads every department's decisions from the lake, and the
overdue reports count per department (an oversight report of how each department keeps its deadlines), so
neither is filtered.

The public search (:func:`search`) filters the public export of a day. The export joins the lake and the
register and masks every row, so it is built once per (lake, register, policy, day) and kept in a small
in-process cache: the lake is append-only (its batches name its state) and every change of the register
moves its row count, last update or the counts of publications, revocations and withdrawals.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal, get_args

import polars as pl
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from serving.services.context import THE_PUBLIC, Context, use_case
from serving.services.lifecycle_types import decision_day, name_masker, own_department, read_day
from serving.services.public_views import cached_view, table_state
from supervision.lifecycle import disclosure
from supervision.platform.access import Role
from supervision.platform.clock import plausible_day
from supervision.platform.errors import DomainError
from supervision.platform.masking import PUBLIC

__all__ = [
    "DisclosureView",
    "KindSlug",
    "OverdueDepartment",
    "OverdueRecord",
    "PublicDecision",
    "RecordTable",
    "Registered",
    "SearchPage",
    "overdue",
    "overdue_records",
    "public_decisions",
    "publish",
    "register",
    "search",
    "withdraw",
]

SUPERVISOR = (Role.SUPERVISOR,)
READERS = (Role.SUPERVISOR, Role.INSPECTOR)
RecordTable = Literal["licences", "penalties", "inspections", "decisions"]
KindSlug = Literal[
    "licence",
    "penalty",
    "enforcement",
    "confirmation",
    "levy",
    "benefit",
    "adjudication",
    "compensation",
    "reward",
    "inspection",
]
assert get_args(KindSlug) == tuple(disclosure.KINDS)
assert get_args(RecordTable) == disclosure.RECORD_TABLES
WHO_MADE = "谁产生、谁公示: the department that made a decision publishes and withdraws it"
MAX_Q, MAX_DEPARTMENT, MAX_PER_PAGE, MAX_PAGE = 100, 128, 100, 10_000
MAX_OVERDUE = 5_000


class Registered(BaseModel):
    model_config = ConfigDict(frozen=True)

    registered: int = Field(description="decisions newly registered for publication")
    revocations: int = Field(
        0, description="registered decisions newly found revoked (withdrawal clock started)"
    )


class DisclosureView(BaseModel):
    """One decision to publish: its kind, deadlines and, once published or withdrawn, the days."""

    model_config = ConfigDict(frozen=True)

    record_table: RecordTable
    record_id: str
    kind: KindSlug
    uscc: str
    department: str = Field(description="the department that made the decision and publishes it")
    decided_on: date
    due_on: date = Field(description="publication deadline (rule: `rule`)")
    due_on_samr: date | None = Field(
        None,
        description="inspection results: the parallel 20-WD deadline of the publicity system (`rule_samr`)",
    )
    status: Literal["pending", "published", "withdrawn"]
    published_on: date | None
    rule: dict[str, Any]
    rule_samr: dict[str, Any] | None = None
    revoked_on: date | None = Field(None, description="the day an upheld objection revoked the decision")
    revocation: str | None = None
    withdraw_due: date | None = Field(None, description="withdrawal deadline after the revocation")
    withdraw_rule: dict[str, Any] | None = None
    withdrawn_on: date | None = None
    withdraw_reason: str | None = None

    @classmethod
    def of(cls, row: disclosure.Disclosure) -> DisclosureView:
        return cls.model_validate(row.as_dict())


class OverdueDepartment(BaseModel):
    model_config = ConfigDict(frozen=True)

    department: str
    overdue: int
    oldest_due: date
    max_working_days_late: int


class OverdueRecord(BaseModel):
    """One missed deadline: which clock (the rule's kind) a decision missed, and by how many working days."""

    model_config = ConfigDict(frozen=True)

    record_table: RecordTable
    record_id: str
    kind: KindSlug
    department: str
    status: Literal["pending", "published", "withdrawn"]
    clock: str = Field(
        description="disclosure.publish (7 WD), disclosure.publish_samr (20 WD, SAMR system), "
        "disclosure.publish_inspection (20 WD, inspection results in parallel) or disclosure.withdraw"
    )
    due: date
    working_days_late: int


class PublicDecision(BaseModel):
    """A published decision as the public sees it (personal data masked)."""

    model_config = ConfigDict(frozen=True)

    kind: KindSlug
    kind_zh: str = Field(description="行政许可, 行政处罚, 行政强制, … 行政监督检查")
    record_table: RecordTable
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
    published_on: date | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> PublicDecision:
        return cls.model_validate({**row, "kind_zh": disclosure.KINDS[row["kind"]]})


class SearchPage(BaseModel):
    """One page of the public search: the matching decisions (newest first) and how many match."""

    model_config = ConfigDict(frozen=True)

    items: list[PublicDecision]
    total: int = Field(description="decisions matching the filters")
    page: int
    per_page: int
    on: date = Field(description="the day the search shows (publicity periods as of that day)")


@use_case("disclosure.register", roles=SUPERVISOR)
def register(ctx: Context) -> Registered:
    """Register every decision of the ten kinds in the lake not yet registered, with its deadlines (20 WD for
    a market-supervision authority's licences and penalties, SAMR Order 45; 7 WD for the others,
    国办发〔2015〕51号, inspection results with the 20-WD clock in parallel), and note revocations."""
    revoked = sa.select(sa.func.count()).where(disclosure.Disclosure.revoked_on.is_not(None))
    before = ctx.session.scalar(revoked) or 0
    added = disclosure.register_from_lake(
        ctx.session, ctx.sources(), policy=ctx.policy(), now=ctx.clock.now()
    )
    revocations = (ctx.session.scalar(revoked) or 0) - before
    ctx.audit(
        "disclosure.register",
        target="disclosures",
        details={"registered": added, "revocations": revocations},
    )
    return Registered(registered=added, revocations=revocations)


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
    before the decision is refused, naming both dates; a revoked decision is refused)."""
    row = disclosure.get(ctx.session, record_table, record_id)
    own_department(
        ctx, row.department, what=f"decision {record_table}:{record_id}", act="publish", rule=WHO_MADE
    )
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = disclosure.publish(ctx.session, record_table, record_id, actor=ctx.lifecycle_actor, on=day)
    ctx.audit("disclosure.publish", target=f"disclosure:{record_table}:{record_id}", details={"on": day})
    return DisclosureView.of(row)


@use_case("disclosure.withdraw", roles=SUPERVISOR)
def withdraw(
    ctx: Context,
    record_table: str,
    record_id: str,
    *,
    reason: str,
    on: date | None = None,
    backdate_reason: str | None = None,
) -> DisclosureView:
    """Withdraw a decision of the actor's department from publication, with the reason (SAMR Order 45 art
    11: a changed or revoked decision, within ``disclosure.withdraw`` of the revocation). The public pages
    stop showing it from that day."""
    row = disclosure.get(ctx.session, record_table, record_id)
    own_department(
        ctx, row.department, what=f"decision {record_table}:{record_id}", act="withdraw", rule=WHO_MADE
    )
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = disclosure.withdraw(
        ctx.session, record_table, record_id, actor=ctx.lifecycle_actor, on=day, reason=reason
    )
    ctx.audit(
        "disclosure.withdraw",
        target=f"disclosure:{record_table}:{record_id}",
        details={"on": day, "late": row.withdraw_due is not None and day > row.withdraw_due},
    )
    return DisclosureView.of(row)


@use_case("disclosure.overdue", roles=READERS)
def overdue(
    ctx: Context, *, on: date | None = None, backdate_reason: str | None = None
) -> list[OverdueDepartment]:
    """Per department: decisions past a deadline (publication, or withdrawal after a revocation) on `on`
    (count, oldest, working days late)."""
    day = read_day(ctx, on)
    rows = disclosure.overdue_report(ctx.session, on=day)
    ctx.audit("disclosure.overdue", target="disclosures", details={"on": day, "rows": len(rows)}, read=True)
    return [OverdueDepartment.model_validate(r) for r in rows]


@use_case("disclosure.overdue_records", roles=READERS)
def overdue_records(
    ctx: Context, *, on: date | None = None, department: str | None = None, limit: int = 1000
) -> list[OverdueRecord]:
    """Every missed deadline on `on` (of one department if given), oldest first: the record, the clock it
    missed (national 7 WD, SAMR 20 WD, the inspection results' parallel 20 WD, the withdrawal) and how
    late."""
    day = read_day(ctx, on)
    if not 1 <= limit <= MAX_OVERDUE:
        raise DomainError(f"limit {limit}: expected 1 to {MAX_OVERDUE}", field="limit")
    rows = disclosure.overdue_records(ctx.session, on=day, department=department)[:limit]
    ctx.audit(
        "disclosure.overdue_records", target="disclosures", details={"on": day, "rows": len(rows)}, read=True
    )
    return [OverdueRecord.model_validate(r) for r in rows]


def _public_day(ctx: Context, on: date | None) -> date:
    """The day a public view shows: any day for staff (what was shown then), today only for the anonymous
    public — an earlier day would show again what a repair, a revocation, a withdrawal or the end of the
    publicity period has since taken off the public pages (SAMR Order 45 art 11, 13, 14)."""
    day = read_day(ctx, on)
    if ctx.actor == THE_PUBLIC and day != ctx.today:
        raise DomainError(
            f"on {day.isoformat()}: the public sees what is published today ({ctx.today.isoformat()}); what "
            "was repaired, revoked, withdrawn or whose publicity period ended is not shown again",
            field="on",
        )
    return day


# Public data (双公示 is publication): anyone, with or without a token.
@use_case("disclosure.public", roles=None, public=True)
def public_decisions(
    ctx: Context, *, on: date | None = None, backdate_reason: str | None = None
) -> list[PublicDecision]:
    """Published decisions within their publicity period on `on`: no minors, personal data masked."""
    day = _public_day(ctx, on)
    frame = _public_frame(ctx, day)
    ctx.audit("disclosure.public", target="disclosures", details={"on": day, "rows": frame.height}, read=True)
    return [PublicDecision.of(row) for row in frame.drop("_hay").to_dicts()]


@use_case("disclosure.search", roles=None, public=True)
def search(
    ctx: Context,
    *,
    kind: str | None = None,
    q: str | None = None,
    department: str | None = None,
    decided_from: date | None = None,
    decided_to: date | None = None,
    on: date | None = None,
    page: int = 1,
    per_page: int = 20,
) -> SearchPage:
    """The public search of 双公示: published decisions shown on `on` (default today), of one `kind`, whose
    party name, title, record id or USCC contains `q` (case-insensitive, literal), of one `department`
    (exact), decided between `decided_from` and `decided_to`; newest first, one page."""
    if kind is not None and kind not in disclosure.KINDS:
        raise DomainError(f"kind {kind!r}: expected one of {', '.join(disclosure.KINDS)}", field="kind")
    text = (q or "").strip()
    if len(text) > MAX_Q:
        raise DomainError(f"q: at most {MAX_Q} characters, got {len(text)}", field="q")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise DomainError("q: control characters (line breaks, tabs, NUL) are not searched", field="q")
    dept = (department or "").strip()
    if len(dept) > MAX_DEPARTMENT:
        raise DomainError(f"department: at most {MAX_DEPARTMENT} characters", field="department")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise DomainError(f"per_page {per_page}: expected 1 to {MAX_PER_PAGE}", field="per_page")
    if not 1 <= page <= MAX_PAGE:
        raise DomainError(f"page {page}: expected 1 to {MAX_PAGE}", field="page")
    if decided_from is not None:
        plausible_day(decided_from, field="decided_from")
    if decided_to is not None:
        plausible_day(decided_to, field="decided_to")
    if decided_from is not None and decided_to is not None and decided_to < decided_from:
        raise DomainError(
            f"decided_to {decided_to.isoformat()}: before decided_from {decided_from.isoformat()}",
            field="decided_to",
        )
    day = _public_day(ctx, on)
    frame = _public_frame(ctx, day)
    if kind is not None:
        frame = frame.filter(pl.col("kind") == kind)
    if dept:
        frame = frame.filter(pl.col("authority") == dept)
    if decided_from is not None:
        frame = frame.filter(pl.col("decided_on") >= decided_from)
    if decided_to is not None:
        frame = frame.filter(pl.col("decided_on") <= decided_to)
    if text:
        frame = frame.filter(pl.col("_hay").str.contains(text.lower(), literal=True))
    rows = frame.slice((page - 1) * per_page, per_page).drop("_hay").to_dicts()
    ctx.audit("disclosure.search", target="disclosures", details={"on": day, "rows": frame.height}, read=True)
    return SearchPage(
        items=[PublicDecision.of(r) for r in rows], total=frame.height, page=page, per_page=per_page, on=day
    )


# The fields `q` searches, each on its own line of the haystack (`q` has no control character, so it never
# matches across two fields).
_SEARCHED = ("party_name", "title", "record_id", "uscc")


def _public_frame(ctx: Context, day: date) -> pl.DataFrame:
    """The public export of `day` with a lower-cased haystack column ``_hay`` of the searched fields, newest
    first; built once per state of the lake, the register and the policy (public_views.cached_view)."""
    d = disclosure.Disclosure
    register = table_state(
        ctx,
        sa.func.count(),
        sa.func.max(d.updated_at),
        sa.func.count(d.published_on),
        sa.func.count(d.withdrawn_on),
        sa.func.count(d.revoked_on),
    )

    def build() -> pl.DataFrame:
        frame = disclosure.public_export(
            ctx.session, ctx.sources(), on=day, mask_name=name_masker(PUBLIC), policy=ctx.policy()
        )
        return frame.sort(
            ["decided_on", "record_table", "record_id"], descending=[True, False, False]
        ).with_columns(
            pl.concat_str([pl.col(c).fill_null("") for c in _SEARCHED], separator="\n")
            .str.to_lowercase()
            .alias("_hay")
        )

    return cached_view(ctx, "disclosure.public", build, day=day, db_state=register)
