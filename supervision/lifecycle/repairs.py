"""Credit repair (信用修复): applications with system-checked conditions, decided on working-day deadlines.

applied → accepted → approved | rejected (or applied → rejected, 不予受理). The conditions are checked
against the lake on the day of each step, under the rules in force on that day: the minimum publicity
period by severity and domain (``repair.min_publicity.<severity>[.<domain>]``, from the penalty decision),
obligations fulfilled (the department's evidence), a credit commitment, no repeat violation of the same
type, not on a blocking list, and not a penalty whose publicity never stops early. Approval writes a
``repairs`` row (and the commitment) into the lake: publicity stops, the list entry ends, features change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from supervision.lifecycle import lists
from supervision.lifecycle.records import Lake, write_rows
from supervision.lifecycle.regimes import Policy, default_policy
from supervision.lifecycle.workflow import Actor, NotFound, StateMachine, instant
from supervision.platform.calendar import working_days_between
from supervision.platform.db import Base
from supervision.platform.errors import DomainError

__all__ = [
    "MACHINE",
    "REPAIRABLE_TABLES",
    "Condition",
    "Repair",
    "RepairError",
    "accept",
    "apply",
    "approve",
    "check_conditions",
    "get",
    "handling_department",
    "overdue",
    "reject",
]

REPAIRABLE_TABLES = ("penalties", "list_entries")
# The lake key of a repairable record, by table.
_KEYS = {"penalties": "decision_no", "list_entries": "entry_id"}
MACHINE = StateMachine(
    "repair",
    {
        "applied": {"accept": "accepted", "reject": "rejected"},
        "accepted": {"approve": "approved", "reject": "rejected"},
    },
)
TierLookup = Callable[[str], str | None]


class RepairError(DomainError, ValueError):
    """A repair application that cannot be made or decided as asked."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One checked condition: its name, whether it holds, why, and the policy rule it used (if any)."""

    name: str
    ok: bool
    detail: str
    rule: dict[str, Any] | None = None


class Repair(Base):
    """One repair application for one record of the lake."""

    __tablename__ = "repairs"
    __table_args__ = (
        sa.CheckConstraint("status IN ('applied', 'accepted', 'approved', 'rejected')", name="status"),
    )

    repair_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    record_table: Mapped[str] = mapped_column(sa.String(32))
    record_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    department: Mapped[str] = mapped_column(sa.String(128), index=True)
    applicant: Mapped[str] = mapped_column(sa.String(200))
    commitment: Mapped[str | None] = mapped_column(sa.Text)
    obligations_evidence: Mapped[str | None] = mapped_column(sa.Text)
    applied_on: Mapped[date] = mapped_column(sa.Date)
    accept_due: Mapped[date] = mapped_column(sa.Date)
    accepted_on: Mapped[date | None] = mapped_column(sa.Date)
    decide_due: Mapped[date | None] = mapped_column(sa.Date)
    decided_on: Mapped[date | None] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    reasons: Mapped[str | None] = mapped_column(sa.Text)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    tier_before: Mapped[str | None] = mapped_column(sa.String(8))
    tier_after: Mapped[str | None] = mapped_column(sa.String(8))
    updated_at: Mapped[datetime]

    def as_dict(self) -> dict[str, Any]:
        return {
            c: getattr(self, c)
            for c in (
                "repair_id",
                "uscc",
                "record_table",
                "record_id",
                "department",
                "applicant",
                "commitment",
                "obligations_evidence",
                "applied_on",
                "accept_due",
                "accepted_on",
                "decide_due",
                "decided_on",
                "status",
                "reasons",
                "conditions",
                "tier_before",
                "tier_after",
            )
        }


def get(session: Session, repair_id: str) -> Repair:
    row = session.get(Repair, repair_id)
    if row is None:
        raise NotFound(f"repair {repair_id} not found")
    return row


def _one(frame: pl.LazyFrame, key: str, value: str, table: str) -> dict[str, Any]:
    rows = frame.filter(pl.col(key) == value).collect().to_dicts()
    if not rows:
        raise RepairError(f"{table} record {value!r} is not in the lake")
    return rows[-1]


def handling_department(
    sources: Mapping[str, pl.LazyFrame], *, record_table: str, record_id: str
) -> str | None:
    """The department that penalised or listed (the record's ``authority`` in the lake): it handles the
    repair. None when the record names none."""
    if record_table not in REPAIRABLE_TABLES:
        raise RepairError(f"record_table {record_table!r}: repairs apply to {', '.join(REPAIRABLE_TABLES)}")
    authority = _one(sources[record_table], _KEYS[record_table], record_id, record_table).get("authority")
    return authority.strip() or None if isinstance(authority, str) else None


def check_conditions(
    sources: Mapping[str, pl.LazyFrame],
    *,
    uscc: str,
    record_table: str,
    record_id: str,
    on: date,
    commitment: str | None,
    obligations_evidence: str | None,
    policy: Policy | None = None,
) -> list[Condition]:
    """Every repair condition for the record on ``on`` (rules in force on ``on``)."""
    policy = policy or default_policy()
    if record_table not in REPAIRABLE_TABLES:
        raise RepairError(f"record_table {record_table!r}: repairs apply to {', '.join(REPAIRABLE_TABLES)}")
    record = _one(sources[record_table], _KEYS[record_table], record_id, record_table)
    if record["uscc"] != uscc:
        raise RepairError(f"{record_table} record {record_id!r} belongs to {record['uscc']}, not {uscc}")
    out: list[Condition] = []
    if record_table == "penalties":
        start = record["decided_on"]
        severity, domain = record["severity"], record["domain"]
        channels = (
            (f"repair.min_publicity.samr.{severity}.{domain}", f"repair.min_publicity.samr.{severity}"),
            (f"repair.min_publicity.{severity}.{domain}", f"repair.min_publicity.{severity}"),
        )
        # Each channel's most specific rule in force on `on`; the channel asking longest governs.
        found = [
            next((r for r in (policy.in_force(k, on=on) for k in kinds) if r is not None), None)
            for kinds in channels
        ]
        rules = [r for r in found if r is not None]
        if not rules:
            raise RepairError(
                f"no repair.min_publicity rule for severity {severity!r} in force on {on.isoformat()}"
            )
        never = policy.set("never_stop_early")
        out.append(
            Condition(
                "stoppable_kind",
                record["penalty_kind"] not in never,
                f"penalty kind {record['penalty_kind']}"
                + (" is never stopped early (Order 45 art 14)" if record["penalty_kind"] in never else ""),
            )
        )
        repeats = (
            sources["penalties"]
            .filter(
                (pl.col("uscc") == uscc)
                & (pl.col("violation_type") == record["violation_type"])
                & (pl.col("decision_no") != record_id)
                & (pl.col("decided_on") > start)
                & (pl.col("decided_on") <= on)
            )
            .select("decision_no")
            .collect()
            .to_series()
            .to_list()
        )
        out.append(
            Condition(
                "no_repeat",
                not repeats,
                f"later penalties for {record['violation_type']}: {', '.join(repeats)}"
                if repeats
                else f"no later penalty for {record['violation_type']}",
            )
        )
    else:
        start = record["listed_on"]
        rules = [policy.rules_for(f"list.min.{record['list_type']}", on=on)]
    rule = max(rules, key=lambda r: r.end(start))
    earliest = rule.end(start)
    out.append(
        Condition(
            "minimum_period",
            earliest <= on,
            f"from {start.isoformat()}: "
            + "; ".join(f"{r.regime} {r.kind} {r.value} {r.unit} → {r.end(start).isoformat()}" for r in rules)
            + f"; earliest {earliest.isoformat()}",
            rule.as_dict(),
        )
    )
    out.append(
        Condition(
            "obligations_fulfilled",
            bool(obligations_evidence and obligations_evidence.strip()),
            "evidence: " + obligations_evidence
            if obligations_evidence and obligations_evidence.strip()
            else "no evidence that the penalty's obligations are fulfilled",
        )
    )
    out.append(
        Condition(
            "credit_commitment",
            bool(commitment and commitment.strip()),
            "commitment given" if commitment and commitment.strip() else "no public credit commitment",
        )
    )
    blocking = set(policy.set("blocking_lists"))
    active = (
        lists.lake_entries_active(sources, uscc=uscc, on=on)
        .select("entry_id", "list_type")
        .filter(pl.col("list_type").is_in(sorted(blocking)) & (pl.col("entry_id") != record_id))
        .collect()
    )
    listed = [f"{t}:{e}" for e, t in active.rows()]
    out.append(
        Condition(
            "not_on_blocking_list",
            not listed,
            f"on {', '.join(listed)}" if listed else "on no abnormal or severe list",
        )
    )
    return out


def _repair_id(uscc: str, record_table: str, record_id: str, applied_on: date) -> str:
    digest = hashlib.sha256(f"{uscc}|{record_table}|{record_id}|{applied_on}".encode()).hexdigest()
    return f"REP-{digest[:16].upper()}"


def apply(
    session: Session,
    sources: Mapping[str, pl.LazyFrame],
    *,
    actor: Actor,
    uscc: str,
    record_table: str,
    record_id: str,
    department: str,
    applied_on: date,
    commitment: str | None = None,
    obligations_evidence: str | None = None,
    policy: Policy | None = None,
    tiers: TierLookup | None = None,
) -> Repair:
    """Record an application, its conditions as checked today and its acceptance deadline."""
    policy = policy or default_policy()
    if not department or not department.strip():
        raise RepairError("department: required (the department that penalised or listed handles the repair)")
    conditions = check_conditions(
        sources,
        uscc=uscc,
        record_table=record_table,
        record_id=record_id,
        on=applied_on,
        commitment=commitment,
        obligations_evidence=obligations_evidence,
        policy=policy,
    )
    repair_id = _repair_id(uscc, record_table, record_id, applied_on)
    if session.get(Repair, repair_id) is not None:
        raise RepairError(f"repair {repair_id}: already applied for on {applied_on.isoformat()}")
    open_ = session.scalar(
        sa.select(Repair.repair_id).where(
            Repair.record_table == record_table,
            Repair.record_id == record_id,
            Repair.status.in_(("applied", "accepted", "approved")),
        )
    )
    if open_ is not None:
        raise RepairError(f"{record_table} record {record_id!r}: repair {open_} is already open or approved")
    accept_rule = policy.rules_for("repair.accept", on=applied_on)
    row = Repair(
        repair_id=repair_id,
        uscc=uscc,
        record_table=record_table,
        record_id=record_id,
        department=department,
        applicant=actor.name,
        commitment=commitment,
        obligations_evidence=obligations_evidence,
        applied_on=applied_on,
        accept_due=accept_rule.end(applied_on),
        status="applied",
        conditions=[asdict(c) for c in conditions],
        tier_before=tiers(uscc) if tiers else None,
        updated_at=instant(actor.at),
    )
    session.add(row)
    session.flush()
    MACHINE.record(
        session,
        actor=actor,
        object_id=repair_id,
        action="apply",
        before=None,
        after="applied",
        on=applied_on,
        details={"record": f"{record_table}:{record_id}", "failed": [c.name for c in conditions if not c.ok]},
    )
    return row


def _check_day(row: Repair, on: date) -> None:
    if on < row.applied_on:
        raise RepairError(f"repair {row.repair_id}: {on.isoformat()} is before the application")


def accept(
    session: Session, repair_id: str, *, actor: Actor, on: date, policy: Policy | None = None
) -> Repair:
    """Accept a complete application (受理); the decision deadline runs from today."""
    policy = policy or default_policy()
    row = get(session, repair_id)
    after = MACHINE.next_state(repair_id, row.status, "accept")
    _check_day(row, on)
    decide_rule = policy.rules_for("repair.decide", on=on)
    before = row.status
    row.status, row.accepted_on, row.decide_due, row.updated_at = (
        after,
        on,
        decide_rule.end(on),
        instant(actor.at),
    )
    MACHINE.record(
        session,
        actor=actor,
        object_id=repair_id,
        action="accept",
        before=before,
        after=after,
        on=on,
        details={"decide_due": row.decide_due, "late": on > row.accept_due},
    )
    return row


def approve(
    session: Session,
    repair_id: str,
    sources: Mapping[str, pl.LazyFrame],
    *,
    actor: Actor,
    on: date,
    lake: Lake | None = None,
    policy: Policy | None = None,
    tiers: TierLookup | None = None,
) -> Repair:
    """Approve when every condition holds on ``on``; the lake gets the repair (and the commitment)."""
    policy = policy or default_policy()
    row = get(session, repair_id)
    after = MACHINE.next_state(repair_id, row.status, "approve")
    _check_day(row, on)
    conditions = check_conditions(
        sources,
        uscc=row.uscc,
        record_table=row.record_table,
        record_id=row.record_id,
        on=on,
        commitment=row.commitment,
        obligations_evidence=row.obligations_evidence,
        policy=policy,
    )
    failed = [c for c in conditions if not c.ok]
    if failed:
        raise RepairError(
            f"repair {repair_id} cannot be approved on {on.isoformat()}: "
            + "; ".join(f"{c.name}: {c.detail}" for c in failed)
            + " (reject it with these reasons instead)"
        )
    before = row.status
    row.status, row.decided_on, row.conditions, row.updated_at = (
        after,
        on,
        [asdict(c) for c in conditions],
        instant(actor.at),
    )
    if lake is not None:
        write_rows(
            lake,
            "commitments",
            [
                {
                    "commitment_id": f"CMT-{repair_id}",
                    "uscc": row.uscc,
                    "commitment_type": "credit_repair",
                    "matter": f"信用修复 {row.record_table}:{row.record_id}",
                    "made_on": row.applied_on,
                    "fulfilment": "pending",
                }
            ],
            source=f"repair-commitment-{repair_id}",
            today=on,
        )
        write_rows(
            lake,
            "repairs",
            [
                {
                    "repair_id": repair_id,
                    "uscc": row.uscc,
                    "record_table": row.record_table,
                    "record_id": row.record_id,
                    "applied_on": row.applied_on,
                    "decided_on": on,
                    "outcome": "approved",
                    "authority": row.department,
                }
            ],
            source=f"repair-{repair_id}",
            today=on,
        )
    if row.record_table == "list_entries":
        case = session.get(lists.ListCase, row.record_id)
        if case is not None and case.status in ("listed", "rectified"):
            lists.repaired(session, case.case_id, actor=actor, on=on)
    if tiers is not None:
        row.tier_after = tiers(row.uscc)
    MACHINE.record(
        session,
        actor=actor,
        object_id=repair_id,
        action="approve",
        before=before,
        after=after,
        on=on,
        details={"late": row.decide_due is not None and on > row.decide_due, "tier_before": row.tier_before},
    )
    return row


def reject(session: Session, repair_id: str, *, actor: Actor, on: date, reasons: str) -> Repair:
    """Reject (or refuse to accept) with reasons; the record keeps its publicity."""
    row = get(session, repair_id)
    after = MACHINE.next_state(repair_id, row.status, "reject")
    _check_day(row, on)
    if not reasons or not reasons.strip():
        raise RepairError(f"repair {repair_id}: reasons are required to reject")
    before = row.status
    row.status, row.decided_on, row.reasons, row.updated_at = after, on, reasons, instant(actor.at)
    MACHINE.record(
        session, actor=actor, object_id=repair_id, action="reject", before=before, after=after, on=on
    )
    return row


def list_repairs(session: Session, *, uscc: str | None = None, department: str | None = None) -> list[Repair]:
    """Applications in order, of one entity or handled by one department (if given)."""
    stmt = sa.select(Repair).order_by(Repair.applied_on, Repair.repair_id)
    if department is not None:
        stmt = stmt.where(Repair.department == department)
    if uscc is not None:
        stmt = stmt.where(Repair.uscc == uscc)
    return list(session.scalars(stmt))


def overdue(session: Session, *, on: date, department: str | None = None) -> list[dict[str, Any]]:
    """Open applications (of `department`, if given) past their acceptance or decision deadline on ``on``."""
    out = []
    for row in list_repairs(session, department=department):
        if row.status == "applied" and on > row.accept_due:
            out.append(("accept", row.accept_due, row))
        if row.status == "accepted" and row.decide_due is not None and on > row.decide_due:
            out.append(("decide", row.decide_due, row))
    return [
        {
            "repair_id": row.repair_id,
            "department": row.department,
            "uscc": row.uscc,
            "status": row.status,
            "deadline": which,
            "due": due,
            "working_days_late": working_days_between(due, on),
        }
        for which, due, row in out
    ]
