"""双公示: licence and penalty decisions due online within the configured working days; overdue report;
export.

Decisions are registered from the lake (warnings are not published, SAMR Order 45 art 2) and get a due date
by the rule in force on the decision day: ``disclosure.publish_samr`` (SAMR Order 45 art 9, 20 WD) for a
decision of a market-supervision authority, ``disclosure.publish`` (国办发〔2015〕51号, 7 WD) for the others.
A decision is published on or after the day it was made. The public export shows published decisions only
while their publicity period runs (:func:`publicity_end`: ``publicity_until`` when the source gives it, else
the maximum in force on the decision day, by authority and severity), never after an approved repair or a
revocation (the lake's lifecycle applies them), never records of minors, and masks personal data with the
masker the caller passes; ID, phone and bank-card numbers in free text are masked as well
(masking.mask_free_text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from features.lifecycle import lifecycle_sources
from supervision.lifecycle.regimes import Policy, PolicyError, Rule, default_policy
from supervision.lifecycle.repairs import repair_rules
from supervision.lifecycle.workflow import Actor, NotFound, StateMachine, instant
from supervision.platform.calendar import working_days_between
from supervision.platform.db import Base
from supervision.platform.errors import DomainError
from supervision.platform.masking import mask_free_text, minor_by_year

__all__ = [
    "MACHINE",
    "Disclosure",
    "DisclosureError",
    "get",
    "market_supervision",
    "overdue_report",
    "public_export",
    "publicity_end",
    "publish",
    "publish_rule",
    "register_from_lake",
]

MACHINE = StateMachine("disclosure", {"pending": {"publish": "published"}})
# The publication deadlines: national (国办发〔2015〕51号) and on the SAMR system (Order 45 art 9).
PUBLISH, PUBLISH_SAMR = "disclosure.publish", "disclosure.publish_samr"


class DisclosureError(DomainError, ValueError):
    """A publication that cannot be recorded as asked."""


class Disclosure(Base):
    """One licence or penalty decision to publish."""

    __tablename__ = "disclosures"
    __table_args__ = (sa.CheckConstraint("status IN ('pending', 'published')", name="status"),)

    record_table: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    record_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    department: Mapped[str] = mapped_column(sa.String(128), index=True)
    decided_on: Mapped[date] = mapped_column(sa.Date)
    due_on: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    published_on: Mapped[date | None] = mapped_column(sa.Date)
    rule: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime]

    def as_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns if c.name != "updated_at"}


def register_from_lake(
    session: Session,
    sources: Mapping[str, pl.LazyFrame],
    *,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> int:
    """Register every licence and publishable penalty of the lake not yet registered; returns how many.

    `now` stamps the rows (the use case's clock; the system clock's when None)."""
    policy = policy or default_policy()
    known = {(t, i) for t, i in session.execute(sa.select(Disclosure.record_table, Disclosure.record_id))}
    lic = sources["licences"].select(
        pl.lit("licences").alias("t"), pl.col("licence_id").alias("id"), "uscc", "authority", "decided_on"
    )
    pen = (
        sources["penalties"]
        .filter(pl.col("penalty_kind") != "warning")
        .select(
            pl.lit("penalties").alias("t"),
            pl.col("decision_no").alias("id"),
            "uscc",
            "authority",
            "decided_on",
        )
    )
    added = 0
    now = instant(now)
    is_samr = market_supervision(policy)
    for t, rid, uscc, authority, decided_on in pl.concat([lic, pen]).sort("t", "id").collect().rows():
        if (t, rid) in known:
            continue
        rule = publish_rule(decided_on, samr=is_samr(authority), policy=policy)
        session.add(
            Disclosure(
                record_table=t,
                record_id=rid,
                uscc=uscc,
                department=authority,
                decided_on=decided_on,
                due_on=rule.end(decided_on),
                status="pending",
                rule=rule.as_dict(),
                updated_at=now,
            )
        )
        added += 1
    session.flush()
    return added


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


def publish_rule(decided_on: date, *, samr: bool, policy: Policy) -> Rule:
    """The publication deadline of a decision made on `decided_on`: the SAMR system's
    (``disclosure.publish_samr``) for a market-supervision authority's (`samr`) once it is in force, else the
    national ``disclosure.publish``."""
    rule = policy.in_force(PUBLISH_SAMR, on=decided_on) if samr else None
    return rule if rule is not None else policy.rules_for(PUBLISH, on=decided_on)


def get(session: Session, record_table: str, record_id: str) -> Disclosure:
    row = session.get(Disclosure, (record_table, record_id))
    if row is None:
        raise NotFound(f"disclosure {record_table}:{record_id} not found (register it from the lake first)")
    return row


def publish(session: Session, record_table: str, record_id: str, *, actor: Actor, on: date) -> Disclosure:
    row = get(session, record_table, record_id)
    after = MACHINE.next_state(f"{record_table}:{record_id}", row.status, "publish")
    if on < row.decided_on:
        raise DisclosureError(
            f"on {on.isoformat()}: before the decision {record_table}:{record_id} of "
            f"{row.decided_on.isoformat()}; a decision is published on or after the day it is made",
            field="on",
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
        details={"late": on > row.due_on},
    )
    return row


def overdue_report(session: Session, *, on: date) -> list[dict[str, Any]]:
    """Per department: decisions unpublished past their due date on ``on`` (count, oldest due, max WD
    late)."""
    rows = session.scalars(
        sa.select(Disclosure)
        .where(Disclosure.status == "pending", Disclosure.due_on < on)
        .order_by(Disclosure.department)
    )
    report: dict[str, dict[str, Any]] = {}
    for r in rows:
        d = report.setdefault(
            r.department,
            {"department": r.department, "overdue": 0, "oldest_due": r.due_on, "max_working_days_late": 0},
        )
        d["overdue"] += 1
        d["oldest_due"] = min(d["oldest_due"], r.due_on)
    for d in report.values():
        # The oldest decision is the latest one: one count per department, not a day-by-day walk per row.
        d["max_working_days_late"] = working_days_between(d["oldest_due"], on)
    return sorted(report.values(), key=lambda d: (-d["overdue"], d["department"]))


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


def public_export(
    session: Session,
    sources: Mapping[str, pl.LazyFrame],
    *,
    on: date,
    mask_name: Callable[[str], str],
    policy: Policy | None = None,
) -> pl.DataFrame:
    """Published penalties and licences visible on ``on`` for the public, personal data masked."""
    policy = policy or default_policy()
    published = pl.DataFrame(
        session.execute(
            sa.select(Disclosure.record_table, Disclosure.record_id, Disclosure.published_on).where(
                Disclosure.status == "published", Disclosure.published_on <= on
            )
        ).all(),
        schema={"record_table": pl.String, "record_id": pl.String, "published_on": pl.Date},
        orient="row",
    ).lazy()
    # Lifecycle as of the day after: decisions dated `on` already apply (repairs, revocations).
    seen = lifecycle_sources(sources, as_of=on + timedelta(days=1))
    minors = _minors(sources)
    pen = (
        seen["penalties"]
        .join(
            published.filter(pl.col("record_table") == "penalties"),
            left_on="decision_no",
            right_on="record_id",
        )
        .collect()
    )
    is_samr = market_supervision(policy)
    ends = [
        publicity_end(r, samr=is_samr(r["authority"]), policy=policy)
        for r in pen.select(
            "publicity_until", "decided_on", "severity", "penalty_kind", "fine_amount", "authority"
        ).to_dicts()
    ]
    pen = pen.with_columns(pl.Series("publicity_until", ends, dtype=pl.Date)).filter(
        pl.col("publicity_until") > on
    )
    minor_uscc = _minor_usccs(minors, pen)
    pen = pen.filter(~pl.col("uscc").is_in(minor_uscc))
    # An individual business (个体工商户) is often named after its operator: treat its name as personal.
    personal = set(
        sources["entities"]
        .filter(pl.col("entity_type") == "individual_business")
        .select("uscc")
        .collect()["uscc"]
    )
    pen_rows = [
        {
            "kind": "penalty",
            "record_id": r["decision_no"],
            "uscc": r["uscc"],
            "party_name": mask_name(r["party_name"]) if r["uscc"] in personal else r["party_name"],
            "legal_representative": mask_name(r["legal_representative"])
            if r["legal_representative"]
            else None,
            "title": r["violation_type"],
            "content": mask_free_text(r["content"]),
            "facts": mask_free_text(r["facts"]),
            "basis": r["basis"],
            "decided_on": r["decided_on"],
            "authority": r["authority"],
            "publicity_until": r["publicity_until"],
        }
        for r in pen.sort("decided_on", "decision_no").to_dicts()
    ]
    lic = (
        seen["licences"]
        .join(
            published.filter(pl.col("record_table") == "licences"), left_on="licence_id", right_on="record_id"
        )
        .filter(pl.col("valid_to").is_null() | (pl.col("valid_to") >= on))
        .sort("decided_on", "licence_id")
        .collect()
    )
    minor_lic = _minor_usccs(minors, lic)
    lic_rows = [
        {
            "kind": "licence",
            "record_id": r["licence_id"],
            "uscc": r["uscc"],
            "party_name": None,
            "legal_representative": None,
            "title": r["licence_name"],
            "content": mask_free_text(r["matter"]),
            "facts": None,
            "basis": None,
            "decided_on": r["decided_on"],
            "authority": r["authority"],
            "publicity_until": r["valid_to"],
        }
        for r in lic.filter(~pl.col("uscc").is_in(minor_lic)).to_dicts()
    ]
    schema = {
        "kind": pl.String,
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
    }
    return pl.DataFrame(pen_rows + lic_rows, schema=schema)
