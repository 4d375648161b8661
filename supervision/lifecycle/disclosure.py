"""双公示 of the ten kinds of administrative decisions: registered from the lake, due online within the
configured working days, withdrawn when revoked, shown to the public while their publicity period runs.

What is registered (:data:`KINDS`): 行政许可 (the lake's ``licences``), 行政处罚 (``penalties``), 行政监督检查
(``inspections``: the double-random results) and the seven kinds of the ``decisions`` table (行政强制, 确认,
征收, 给付, 裁决, 补偿, 奖励; 国办发〔2019〕35号). A warning (警告) is registered only for an authority whose
regime ``[disclosure] warnings_published_by`` lists (the national rule); never for a market-supervision
authority (SAMR Order 45 art 2: warning-only penalties are not published; a policy naming that regime is
refused).

Clocks, by the rule in force on the decision day: every kind is due within ``disclosure.publish``
(国办发〔2015〕51号, 7 WD), except a market-supervision authority's licences and penalties, due on the SAMR
system within ``disclosure.publish_samr`` (SAMR Order 45 art 9, 20 WD). Inspection results keep, in parallel,
the enterprise-publicity system's ``disclosure.publish_inspection`` (企业信息公示暂行条例 art 6, 20 WD) as
``due_on_samr``; :func:`overdue_records` names the clock a record missed.

A decision is published on or after the day it was made, and never once revoked. A revocation (an upheld
objection with resolution ``revoked``, in the lake or in the objections register) starts the withdrawal clock
``disclosure.withdraw`` (SAMR Order 45 art 11, 3 WD): the publishing department records the withdrawal
(:func:`withdraw`); a published revoked decision not withdrawn by then is overdue.

The public export (:func:`public_export`) shows a decision published on or before the day and not withdrawn
by it, while its publicity period runs: penalties by :func:`publicity_end` (minor / general / serious, SAMR
low / other), licences while valid (``valid_to``, else ``publicity.licence``), every other kind
``publicity_until`` when the record gives it, else ``publicity.<kind>``. Never after an approved repair or a
revocation (the lake's lifecycle applies them), never records of minors; personal data are masked with the
masker the caller passes, and ID, phone and bank-card numbers in free text as well (masking.mask_free_text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from features.catalog import DECISION_KINDS
from features.lifecycle import lifecycle_sources, objection_state
from supervision.lifecycle.regimes import Policy, PolicyError, Rule, default_policy
from supervision.lifecycle.repairs import repair_rules
from supervision.lifecycle.workflow import Actor, NotFound, StateMachine, instant
from supervision.platform.calendar import is_working_day, working_days_between
from supervision.platform.db import Base
from supervision.platform.errors import DomainError, ErrorKind
from supervision.platform.masking import mask_free_text, minor_by_year

__all__ = [
    "KINDS",
    "MACHINE",
    "RECORD_TABLES",
    "Disclosure",
    "DisclosureError",
    "due_rules",
    "get",
    "mark_revocations",
    "market_supervision",
    "overdue_records",
    "overdue_report",
    "public_export",
    "publicity_end",
    "publish",
    "publish_rule",
    "register_from_lake",
    "warnings_published",
    "withdraw",
]

# The ten kinds: slug → 中文 (the order of 国办发〔2019〕35号's list, licensing and penalty first).
KINDS: dict[str, str] = {
    "licence": "行政许可",
    "penalty": "行政处罚",
    "enforcement": "行政强制",
    "confirmation": "行政确认",
    "levy": "行政征收",
    "benefit": "行政给付",
    "adjudication": "行政裁决",
    "compensation": "行政补偿",
    "reward": "行政奖励",
    "inspection": "行政监督检查",
}
assert set(DECISION_KINDS) < set(KINDS)
# The lake tables registered, and the kind of each row (``decisions`` carries its own).
RECORD_TABLES = ("licences", "penalties", "inspections", "decisions")
TABLE_KIND = {"licences": "licence", "penalties": "penalty", "inspections": "inspection"}
STATUSES = ("pending", "published", "withdrawn")
# A withdrawal records why (SAMR Order 45 art 11: state the reason).
REASON_MAX = 500

MACHINE = StateMachine(
    "disclosure",
    {
        "pending": {"publish": "published", "withdraw": "withdrawn"},
        "published": {"withdraw": "withdrawn"},
    },
)
# The publication deadlines: national (国办发〔2015〕51号), on the SAMR system (Order 45 art 9), the
# inspection results' parallel clock (企业信息公示暂行条例 art 6), and the withdrawal of a revoked decision
# (Order 45 art 11).
PUBLISH, PUBLISH_SAMR = "disclosure.publish", "disclosure.publish_samr"
PUBLISH_INSPECTION, WITHDRAW = "disclosure.publish_inspection", "disclosure.withdraw"
# The publicity period of a kind without 公示截止期 (penalties have their own rules: publicity_end).
PUBLICITY_KINDS = tuple(k for k in KINDS if k != "penalty")


def _in_list(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class DisclosureError(DomainError, ValueError):
    """A publication or withdrawal that cannot be recorded as asked."""


class Disclosure(Base):
    """One administrative decision to publish (双公示), its deadlines and, once revoked, its withdrawal."""

    __tablename__ = "disclosures"
    __table_args__ = (
        sa.CheckConstraint(_in_list("status", STATUSES), name="status"),
        sa.CheckConstraint(_in_list("record_table", RECORD_TABLES), name="record_table"),
        sa.CheckConstraint(_in_list("kind", KINDS), name="kind"),
    )

    record_table: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    record_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), index=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    department: Mapped[str] = mapped_column(sa.String(128), index=True)
    decided_on: Mapped[date] = mapped_column(sa.Date)
    due_on: Mapped[date] = mapped_column(sa.Date)
    # Inspection results: the enterprise-publicity system's 20-WD clock, kept beside the national one.
    due_on_samr: Mapped[date | None] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    published_on: Mapped[date | None] = mapped_column(sa.Date)
    rule: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    rule_samr: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # The revocation (an upheld objection) that starts the withdrawal clock, and the withdrawal.
    revoked_on: Mapped[date | None] = mapped_column(sa.Date)
    revocation: Mapped[str | None] = mapped_column(sa.String(200))
    withdraw_due: Mapped[date | None] = mapped_column(sa.Date)
    withdraw_rule: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    withdrawn_on: Mapped[date | None] = mapped_column(sa.Date)
    withdraw_reason: Mapped[str | None] = mapped_column(sa.String(REASON_MAX))
    updated_at: Mapped[datetime]

    def as_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns if c.name != "updated_at"}


# ---------------------------------------------------------------------------------------------- policy
def market_supervision(policy: Policy) -> Callable[[str | None], bool]:
    """Whether an authority (a record's 处罚机关/许可机关) is market supervision's: its regime under
    ``[repair_authorities]`` (the repairs' matcher, :meth:`RepairRules.regime_of`) is the one
    ``[disclosure] market_supervision_regime`` names."""
    rules = repair_rules(policy)
    regime = policy.section("disclosure").get("market_supervision_regime")
    if not isinstance(regime, str) or regime not in rules.regimes:
        raise PolicyError(
            f"{policy.origin}: [disclosure] market_supervision_regime {regime!r} must name a regime of "
            f"[repair_authorities] ({', '.join(rules.regimes)})"
        )
    return lambda authority: rules.regime_of(authority).name == regime


def warnings_published(policy: Policy) -> Callable[[str | None], bool]:
    """Whether an authority's warnings (警告) are published: its regime is one of ``[disclosure]
    warnings_published_by``. The market-supervision regime may not be listed (SAMR Order 45 art 2)."""
    rules = repair_rules(policy)
    section = policy.section("disclosure")
    listed = section.get("warnings_published_by")
    if not isinstance(listed, list) or not all(isinstance(r, str) and r in rules.regimes for r in listed):
        raise PolicyError(
            f"{policy.origin}: [disclosure] warnings_published_by {listed!r} must list regimes of "
            f"[repair_authorities] ({', '.join(rules.regimes)})"
        )
    samr = section.get("market_supervision_regime")
    if samr in listed:
        raise PolicyError(
            f"{policy.origin}: [disclosure] warnings_published_by names {samr!r}, the market-supervision "
            "regime: SAMR Order 45 art 2 publishes no warning-only penalty"
        )
    names = frozenset(listed)
    return lambda authority: rules.regime_of(authority).name in names


def publish_rule(decided_on: date, *, samr: bool, policy: Policy) -> Rule:
    """The publication deadline of a licence or penalty made on `decided_on`: the SAMR system's
    (``disclosure.publish_samr``) for a market-supervision authority's (`samr`) once it is in force, else the
    national ``disclosure.publish``."""
    rule = policy.in_force(PUBLISH_SAMR, on=decided_on) if samr else None
    return rule if rule is not None else policy.rules_for(PUBLISH, on=decided_on)


def due_rules(kind: str, decided_on: date, *, samr: bool, policy: Policy) -> tuple[Rule, Rule | None]:
    """(the deadline, the parallel deadline or None) of a decision of `kind` made on `decided_on`: licences
    and penalties by :func:`publish_rule`; inspection results the national ``disclosure.publish`` and, in
    parallel, ``disclosure.publish_inspection``; every other kind the national rule."""
    if kind not in KINDS:
        raise DisclosureError(f"kind {kind!r}: expected one of {', '.join(KINDS)}", field="kind")
    if kind in ("licence", "penalty"):
        return publish_rule(decided_on, samr=samr, policy=policy), None
    national = policy.rules_for(PUBLISH, on=decided_on)
    if kind == "inspection":
        return national, policy.in_force(PUBLISH_INSPECTION, on=decided_on)
    return national, None


# ---------------------------------------------------------------------------------------------- register
def _lake_decisions(sources: Mapping[str, pl.LazyFrame]) -> pl.DataFrame:
    """(table, id, kind, uscc, authority, decided_on, penalty_kind) of every decision of the four tables."""
    none = pl.lit(None, dtype=pl.String).alias("penalty_kind")
    return (
        pl.concat(
            [
                sources["licences"].select(
                    pl.lit("licences").alias("t"),
                    pl.col("licence_id").alias("id"),
                    pl.lit("licence").alias("kind"),
                    "uscc",
                    "authority",
                    "decided_on",
                    none,
                ),
                sources["penalties"].select(
                    pl.lit("penalties").alias("t"),
                    pl.col("decision_no").alias("id"),
                    pl.lit("penalty").alias("kind"),
                    "uscc",
                    "authority",
                    "decided_on",
                    "penalty_kind",
                ),
                sources["inspections"].select(
                    pl.lit("inspections").alias("t"),
                    pl.col("inspection_id").alias("id"),
                    pl.lit("inspection").alias("kind"),
                    "uscc",
                    pl.col("department").alias("authority"),
                    pl.col("inspected_on").alias("decided_on"),
                    none,
                ),
                sources["decisions"].select(
                    pl.lit("decisions").alias("t"),
                    pl.col("decision_id").alias("id"),
                    "kind",
                    "uscc",
                    "authority",
                    "decided_on",
                    none,
                ),
            ]
        )
        .sort("t", "id")
        .collect()
    )


def register_from_lake(
    session: Session,
    sources: Mapping[str, pl.LazyFrame],
    *,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> int:
    """Register every decision of the ten kinds in the lake not yet registered (warnings only where the
    policy publishes them), with its deadlines; then note the revocations (:func:`mark_revocations`).
    Returns how many were registered.

    `now` stamps the rows (the use case's clock; the system clock's when None)."""
    policy = policy or default_policy()
    now = instant(now)
    known = {(t, i) for t, i in session.execute(sa.select(Disclosure.record_table, Disclosure.record_id))}
    is_samr, warns = market_supervision(policy), warnings_published(policy)
    samr_of: dict[str | None, bool] = {}
    warns_of: dict[str | None, bool] = {}
    # Many decisions share a day: one working-day count per (rule, day).
    ends: dict[tuple[Rule, date], date] = {}

    def end(rule: Rule, day: date) -> date:
        key = (rule, day)
        if key not in ends:
            ends[key] = rule.end(day)
        return ends[key]

    added = 0
    for t, rid, kind, uscc, authority, decided_on, penalty_kind in _lake_decisions(sources).rows():
        if (t, rid) in known:
            continue
        if penalty_kind == "warning":
            if authority not in warns_of:
                warns_of[authority] = warns(authority)
            if not warns_of[authority]:
                continue  # Order 45 art 2 (market supervision): a warning is not published
        if authority not in samr_of:
            samr_of[authority] = is_samr(authority)
        rule, parallel = due_rules(kind, decided_on, samr=samr_of[authority], policy=policy)
        session.add(
            Disclosure(
                record_table=t,
                record_id=rid,
                kind=kind,
                uscc=uscc,
                department=authority,
                decided_on=decided_on,
                due_on=end(rule, decided_on),
                due_on_samr=end(parallel, decided_on) if parallel is not None else None,
                status="pending",
                rule=rule.as_dict(),
                rule_samr=parallel.as_dict() if parallel is not None else None,
                updated_at=now,
            )
        )
        added += 1
    session.flush()
    mark_revocations(session, sources, policy=policy, now=now)
    return added


def _revocations(session: Session, sources: Mapping[str, pl.LazyFrame]) -> dict[tuple[str, str], tuple]:
    """(table, id) → (day, what) of the earliest revocation of each record: upheld objections with resolution
    ``revoked`` in the lake and in the objections register."""
    # Imported here: the objections module reads this one's table (a revoked decision's publication).
    from supervision.lifecycle.objections import Objection

    found: dict[tuple[str, str], tuple[date, str]] = {}
    lake = (
        sources["objections"]
        .filter(
            (pl.col("outcome") == "upheld")
            & (pl.col("resolution") == "revoked")
            & pl.col("decided_on").is_not_null()
            & pl.col("record_table").is_in(list(RECORD_TABLES))
        )
        .select("record_table", "record_id", "decided_on", "objection_id")
        .collect()
        .rows()
    )
    register = session.execute(
        sa.select(Objection.record_table, Objection.record_id, Objection.decided_on, Objection.objection_id)
        .where(
            Objection.status == "upheld",
            Objection.resolution == "revoked",
            Objection.decided_on.is_not(None),
            Objection.record_table.in_(RECORD_TABLES),
        )
        .order_by(Objection.objection_id)
    ).all()
    for table, record_id, day, objection_id in [*lake, *register]:
        key = (table, record_id)
        if key not in found or day < found[key][0]:
            found[key] = (day, f"objection {objection_id} upheld: revoked")
    return found


def mark_revocations(
    session: Session,
    sources: Mapping[str, pl.LazyFrame],
    *,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> int:
    """Note every registered decision revoked since (an upheld objection, lake or register) with its
    withdrawal deadline (``disclosure.withdraw`` in force on the revocation day); returns how many."""
    policy = policy or default_policy()
    now = instant(now)
    marked = 0
    for key, (day, what) in sorted(_revocations(session, sources).items()):
        row = session.get(Disclosure, key)
        if row is None or row.revoked_on is not None:
            continue
        rule = policy.in_force(WITHDRAW, on=day)
        row.revoked_on, row.revocation, row.updated_at = day, what[:200], now
        row.withdraw_due = rule.end(day) if rule is not None else None
        row.withdraw_rule = rule.as_dict() if rule is not None else None
        marked += 1
    session.flush()
    return marked


def get(session: Session, record_table: str, record_id: str) -> Disclosure:
    row = session.get(Disclosure, (record_table, record_id))
    if row is None:
        raise NotFound(f"disclosure {record_table}:{record_id} not found (register it from the lake first)")
    return row


# ---------------------------------------------------------------------------------------------- decisions
def publish(session: Session, record_table: str, record_id: str, *, actor: Actor, on: date) -> Disclosure:
    """Record that a decision was published on ``on`` (on or after its decision day; never once revoked)."""
    row = get(session, record_table, record_id)
    after = MACHINE.next_state(f"{record_table}:{record_id}", row.status, "publish")
    if on < row.decided_on:
        raise DisclosureError(
            f"on {on.isoformat()}: before the decision {record_table}:{record_id} of "
            f"{row.decided_on.isoformat()}; a decision is published on or after the day it is made",
            field="on",
        )
    if row.revoked_on is not None:
        raise DisclosureError(
            f"decision {record_table}:{record_id} was revoked on {row.revoked_on.isoformat()} "
            f"({row.revocation}): a revoked decision is withdrawn, not published",
            kind=ErrorKind.CONFLICT,
        )
    before, row.status, row.published_on, row.updated_at = row.status, after, on, instant(actor.at)
    MACHINE.record(
        session,
        actor=actor,
        object_id=f"{record_table}:{record_id}",
        action="publish",
        before=before,
        after=after,
        on=on,
        details={
            "late": on > row.due_on,
            "late_samr": row.due_on_samr is not None and on > row.due_on_samr,
        },
    )
    return row


def withdraw(
    session: Session, record_table: str, record_id: str, *, actor: Actor, on: date, reason: str
) -> Disclosure:
    """Record that a decision's publication was withdrawn on ``on`` with `reason` (SAMR Order 45 art 11: a
    changed or revoked decision, within ``withdraw_due`` of its revocation). A pending decision withdrawn is
    never published; withdrawing twice is a conflict."""
    row = get(session, record_table, record_id)
    after = MACHINE.next_state(f"{record_table}:{record_id}", row.status, "withdraw")
    text = (reason or "").strip()
    if not text:
        raise DisclosureError("reason: a withdrawal states its reason (SAMR Order 45 art 11)", field="reason")
    if len(text) > REASON_MAX:
        raise DisclosureError(f"reason: at most {REASON_MAX} characters, got {len(text)}", field="reason")
    start = row.published_on or row.decided_on
    if on < start:
        what = "publication" if row.published_on else "decision"
        raise DisclosureError(
            f"on {on.isoformat()}: before the {what} of {record_table}:{record_id} on {start.isoformat()}",
            field="on",
        )
    before = row.status
    row.status, row.withdrawn_on, row.withdraw_reason = after, on, text
    row.updated_at = instant(actor.at)
    MACHINE.record(
        session,
        actor=actor,
        object_id=f"{record_table}:{record_id}",
        action="withdraw",
        before=before,
        after=after,
        on=on,
        details={
            "reason": text,
            "revoked_on": row.revoked_on,
            "late": row.withdraw_due is not None and on > row.withdraw_due,
        },
    )
    return row


# ---------------------------------------------------------------------------------------------- overdue
def _working_days_late(dues: Iterable[date], on: date) -> dict[date, int]:
    """Working days from each due day to ``on`` (as :func:`working_days_between`), by one walk over the
    calendar instead of one per record."""
    wanted = sorted(set(dues))
    if not wanted:
        return {}
    cumulative: dict[date, int] = {}
    count, day = 0, wanted[0]
    cumulative[day] = 0
    while day < on:
        day += timedelta(days=1)
        count += is_working_day(day)
        cumulative[day] = count
    return {d: count - cumulative[d] if d <= on else working_days_between(d, on) for d in wanted}


def overdue_records(session: Session, *, on: date, department: str | None = None) -> list[dict[str, Any]]:
    """Every deadline missed on ``on``, one row per (record, clock): an unpublished decision past its
    national or parallel deadline (``clock`` = the rule's kind), a published revoked one not withdrawn by
    ``withdraw_due`` (``disclosure.withdraw``); oldest first."""
    d = Disclosure
    pending = (d.status == "pending") & d.revoked_on.is_(None) & ((d.due_on < on) | (d.due_on_samr < on))
    unwithdrawn = (d.status == "published") & (d.withdraw_due < on)
    stmt = sa.select(d).where(pending | unwithdrawn)
    if department is not None:
        stmt = stmt.where(d.department == department)
    missed: list[tuple[date, str, Disclosure]] = []
    for r in session.scalars(stmt):
        if r.status == "pending":
            if r.due_on < on:
                missed.append((r.due_on, str(r.rule.get("kind", PUBLISH)), r))
            if r.due_on_samr is not None and r.due_on_samr < on:
                samr = str((r.rule_samr or {}).get("kind", PUBLISH_INSPECTION))
                missed.append((r.due_on_samr, samr, r))
        elif r.withdraw_due is not None:
            missed.append((r.withdraw_due, WITHDRAW, r))
    late = _working_days_late((due for due, _, _ in missed), on)
    missed.sort(key=lambda m: (m[0], m[2].department, m[2].record_table, m[2].record_id, m[1]))
    return [
        {
            "record_table": r.record_table,
            "record_id": r.record_id,
            "kind": r.kind,
            "department": r.department,
            "status": r.status,
            "clock": clock,
            "due": due,
            "working_days_late": late[due],
        }
        for due, clock, r in missed
    ]


def overdue_report(session: Session, *, on: date) -> list[dict[str, Any]]:
    """Per department: decisions past a deadline on ``on`` (count of decisions, oldest due, max WD late);
    :func:`overdue_records` lists them with the clock each missed."""
    report: dict[str, dict[str, Any]] = {}
    counted: set[tuple[str, str]] = set()
    for item in overdue_records(session, on=on):
        dep = report.setdefault(
            item["department"],
            {
                "department": item["department"],
                "overdue": 0,
                "oldest_due": item["due"],
                "max_working_days_late": 0,
            },
        )
        if (item["record_table"], item["record_id"]) not in counted:
            counted.add((item["record_table"], item["record_id"]))
            dep["overdue"] += 1
        if item["due"] <= dep["oldest_due"]:
            dep["oldest_due"], dep["max_working_days_late"] = item["due"], item["working_days_late"]
    return sorted(report.values(), key=lambda r: (-r["overdue"], r["department"]))


# ---------------------------------------------------------------------------------------------- publicity
def publicity_end(penalty: Mapping[str, Any], *, samr: bool, policy: Policy) -> date:
    """The day a published penalty's publicity ends (it is shown before that day, not on it).

    ``publicity_until`` when the record gives it (公示截止期); else the maximum in force on the decision day:
    for a market-supervision authority under SAMR Order 45 art 13 (``publicity.penalty.low`` for 通报批评 or
    a fine under ``publicity.penalty.low_fine_organisation_yuan``, ``publicity.penalty.other`` for the rest),
    otherwise the national maximum of its severity (``publicity.penalty.<minor|general|serious>``: 527号,
    NDRC Order 58, Order 36). `samr`: the authority is market supervision's (:func:`market_supervision`); its
    decisions made before Order 45 took effect follow the national rule.
    """
    if penalty.get("publicity_until") is not None:
        until: date = penalty["publicity_until"]
        return until
    decided: date = penalty["decided_on"]
    if samr:
        low = policy.in_force("publicity.penalty.low", on=decided)
        other = policy.in_force("publicity.penalty.other", on=decided)
        threshold = policy.in_force("publicity.penalty.low_fine_organisation_yuan", on=decided)
        if low is not None and other is not None and threshold is not None:
            small = penalty["penalty_kind"] == "circulated_criticism" or (
                penalty["penalty_kind"] == "fine" and (penalty.get("fine_amount") or 0) < threshold.value
            )
            return (low if small else other).end(decided)
    return policy.rules_for(f"publicity.penalty.{penalty['severity']}", on=decided).end(decided)


def _check_publicity_rules(policy: Policy) -> None:
    """Every kind but penalties has a ``publicity.<kind>`` rule: a policy without one is refused before any
    record is shown, not at the first record of that kind."""
    missing = [k for k in PUBLICITY_KINDS if policy.in_force(f"publicity.{k}", on=date.max) is None]
    if missing:
        raise PolicyError(
            f"{policy.origin}: no publicity period for {', '.join(f'publicity.{k}' for k in missing)} "
            "(how long a published decision without 公示截止期 stays on the public pages)"
        )


def _minors(sources: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    """USCCs and decision dates' persons: entities whose legal representative was a minor (birth_year)."""
    return (
        sources["relations"]
        .filter(pl.col("relation_type") == "legal_representative")
        .join(sources["persons"].select("person_key", "birth_year"), on="person_key")
        .select("uscc", "birth_year")
    )


def _is_minor_on(decided: pl.Expr, born: pl.Expr) -> pl.Expr:
    # The lake keeps the birth year only (with the masked ID number the date would rebuild the number):
    # possibly under 18 through the end of the year the person turns 18 (masking.minor_by_year).
    return minor_by_year(born, decided)


def _minor_usccs(minors: pl.LazyFrame, records: pl.DataFrame) -> list[str]:
    """USCCs of ``records`` whose legal representative was a minor on the record's decision date."""
    return (
        minors.join(records.lazy().select("uscc", "decided_on"), on="uscc")
        .filter(_is_minor_on(pl.col("decided_on"), pl.col("birth_year")))
        .select("uscc")
        .unique()
        .collect()
        .to_series()
        .to_list()
    )


SCHEMA: dict[str, Any] = {
    "kind": pl.String,
    "record_table": pl.String,
    "record_id": pl.String,
    "uscc": pl.String,
    "party_name": pl.String,
    "legal_representative": pl.String,
    "title": pl.String,
    "content": pl.String,
    "facts": pl.String,
    "basis": pl.String,
    "decided_on": pl.Date,
    "authority": pl.String,
    "publicity_until": pl.Date,
    "published_on": pl.Date,
}
# Inspection results as the public reads them (catalog INSPECTION_OUTCOMES).
INSPECTION_TITLES = {
    "no_problem": "双随机抽查：未发现问题",
    "violation": "双随机抽查：发现问题",
    "serious_violation": "双随机抽查：发现严重问题",
    "not_found": "双随机抽查：通过登记的住所或经营场所无法联系",
}


def _ends(policy: Policy, kinds: pl.Series, days: pl.Series) -> pl.Series:
    """``publicity.<kind>``'s end for each (kind, decision day), one count per distinct pair."""
    pairs = list(zip(kinds.to_list(), days.to_list(), strict=True))
    memo = {(k, d): policy.rules_for(f"publicity.{k}", on=d).end(d) for k, d in set(pairs)}
    return pl.Series("_end", [memo[p] for p in pairs], dtype=pl.Date)


def public_export(
    session: Session,
    sources: Mapping[str, pl.LazyFrame],
    *,
    on: date,
    mask_name: Callable[[str], str],
    policy: Policy | None = None,
) -> pl.DataFrame:
    """Published decisions of the ten kinds visible on ``on`` for the public, personal data masked (columns
    :data:`SCHEMA`, by decision day and record)."""
    policy = policy or default_policy()
    _check_publicity_rules(policy)
    d = Disclosure
    shown = (d.published_on <= on) & (d.withdrawn_on.is_(None) | (d.withdrawn_on > on))
    published = pl.DataFrame(
        session.execute(
            sa.select(d.record_table, d.record_id, d.published_on).where(
                d.status.in_(("published", "withdrawn")), shown
            )
        ).all(),
        schema={"record_table": pl.String, "record_id": pl.String, "published_on": pl.Date},
        orient="row",
    ).lazy()
    # Lifecycle as of the day after: decisions dated `on` already apply (repairs, revocations).
    after = on + timedelta(days=1)
    seen = lifecycle_sources(sources, as_of=after)

    def of(table: str, key: str) -> pl.DataFrame:
        return (
            seen[table]
            .join(published.filter(pl.col("record_table") == table), left_on=key, right_on="record_id")
            .with_columns(pl.col(key).alias("record_id"))
            .collect()
        )

    pen = of("penalties", "decision_no")
    is_samr = market_supervision(policy)
    samr_of = {a: is_samr(a) for a in pen["authority"].unique().to_list()}
    pen_ends = [
        publicity_end(r, samr=samr_of[r["authority"]], policy=policy)
        for r in pen.select(
            "publicity_until", "decided_on", "severity", "penalty_kind", "fine_amount", "authority"
        ).to_dicts()
    ]
    null = pl.lit(None, dtype=pl.String)
    parts = [
        pen.with_columns(pl.Series("publicity_until", pen_ends, dtype=pl.Date)).select(
            pl.lit("penalty").alias("kind"),
            "record_table",
            "record_id",
            "uscc",
            "party_name",
            "legal_representative",
            pl.col("violation_type").alias("title"),
            "content",
            "facts",
            "basis",
            "decided_on",
            "authority",
            "publicity_until",
            "published_on",
            pl.col("publicity_until").alias("_until"),
        )
    ]
    lic = of("licences", "licence_id")
    # A licence is shown while valid (on its last day too); without an end of validity, publicity.licence.
    parts.append(
        lic.with_columns(
            _ends(policy, pl.repeat("licence", lic.height, eager=True), lic["decided_on"])
        ).select(
            pl.lit("licence").alias("kind"),
            "record_table",
            "record_id",
            "uscc",
            null.alias("party_name"),
            null.alias("legal_representative"),
            pl.col("licence_name").alias("title"),
            pl.col("matter").alias("content"),
            null.alias("facts"),
            null.alias("basis"),
            "decided_on",
            "authority",
            pl.coalesce("valid_to", "_end").alias("publicity_until"),
            "published_on",
            pl.coalesce(pl.col("valid_to") + pl.duration(days=1), "_end").alias("_until"),
        )
    )
    ins = of("inspections", "inspection_id").rename({"inspected_on": "decided_on"})
    parts.append(
        ins.with_columns(
            _ends(policy, pl.repeat("inspection", ins.height, eager=True), ins["decided_on"])
        ).select(
            pl.lit("inspection").alias("kind"),
            "record_table",
            "record_id",
            "uscc",
            null.alias("party_name"),
            null.alias("legal_representative"),
            pl.col("outcome").replace_strict(INSPECTION_TITLES, return_dtype=pl.String).alias("title"),
            pl.col("findings").alias("content"),
            pl.col("check_items").alias("facts"),
            null.alias("basis"),
            "decided_on",
            pl.col("department").alias("authority"),
            pl.col("_end").alias("publicity_until"),
            "published_on",
            pl.col("_end").alias("_until"),
        )
    )
    dec = of("decisions", "decision_id")
    dec = dec.with_columns(_ends(policy, dec["kind"], dec["decided_on"]))
    parts.append(
        dec.select(
            "kind",
            "record_table",
            "record_id",
            "uscc",
            null.alias("party_name"),
            null.alias("legal_representative"),
            "title",
            "content",
            null.alias("facts"),
            "basis",
            "decided_on",
            "authority",
            pl.coalesce("publicity_until", "_end").alias("publicity_until"),
            "published_on",
            pl.coalesce("publicity_until", "_end").alias("_until"),
        )
    )
    casts: dict[Any, Any] = {**SCHEMA, "_until": pl.Date}
    frame = pl.concat([p.cast(casts) for p in parts]).filter(pl.col("_until") > on)
    # Revoked records whose row the lifecycle keeps (an inspection's finding voided) are not shown either.
    revoked = (
        objection_state(sources["objections"], as_of=after)
        .filter(pl.col("revoked"))
        .select("record_table", "record_id")
        .collect()
    )
    frame = frame.join(revoked, on=["record_table", "record_id"], how="anti")
    frame = frame.filter(~pl.col("uscc").is_in(_minor_usccs(_minors(sources), frame)))
    # The party: the entity's registered name where the record has none. An individual business (个体工商户)
    # is often named after its operator: its name is treated as personal.
    entities = sources["entities"].select("uscc", "name", "entity_type").collect()
    frame = frame.join(entities, on="uscc", how="left").with_columns(
        pl.coalesce("party_name", "name").alias("party_name")
    )
    personal = frame["entity_type"] == "individual_business"
    names = [
        mask_name(n) if n is not None and p else n
        for n, p in zip(frame["party_name"].to_list(), personal.fill_null(False).to_list(), strict=True)
    ]
    frame = frame.with_columns(
        pl.Series("party_name", names, dtype=pl.String),
        pl.Series(
            "legal_representative",
            [mask_name(v) if v else None for v in frame["legal_representative"].to_list()],
            dtype=pl.String,
        ),
        _masked(frame["content"]).alias("content"),
        _masked(frame["facts"]).alias("facts"),
    )
    return frame.select(list(SCHEMA)).sort("decided_on", "record_table", "record_id")


def _masked(texts: pl.Series) -> pl.Series:
    """Free text with ID, phone and bank-card numbers masked (one scrub per distinct text)."""
    memo = {t: mask_free_text(t) for t in texts.unique().to_list() if t is not None}
    return pl.Series([memo[t] if t is not None else None for t in texts.to_list()], dtype=pl.String)
