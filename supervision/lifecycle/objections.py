"""Objections (异议): filed → marked 异议处理中 → upheld (corrected | revoked) or rejected, on working-day
deadlines.

Deadlines come from the lifecycle policy (``objection.mark``, ``objection.decide``, counted from the filing
day, regime in force on that day). Every change is audited; an upheld objection becomes an ``objections``
row in the lake, so the features drop a revoked record or mark a corrected one; an upheld objection against
a list entry is a wrongful listing, removed with a notice to the party. An upheld objection changed or
revoked the decision, whose publication is withdrawn by ``withdraw_due`` (``objection.withdraw_revoked``,
3 WD from the decision, SAMR Order 45 art 11): the department records the day it withdrew it
(``withdraw``), and the overdue report lists the objection past that date while the 双公示 register shows
the decision published and no withdrawal is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from features.catalog import RECORD_TABLES
from features.uscc import is_valid as uscc_is_valid
from supervision.lifecycle import lists
from supervision.lifecycle.disclosure import Disclosure
from supervision.lifecycle.records import Lake, write_rows
from supervision.lifecycle.regimes import Policy, default_policy
from supervision.lifecycle.workflow import Actor, StateMachine, case_id, get_row, instant
from supervision.platform.calendar import working_days_between
from supervision.platform.db import Base
from supervision.platform.errors import DomainError, ErrorKind

__all__ = [
    "MACHINE",
    "Objection",
    "ObjectionError",
    "decide",
    "file",
    "get",
    "list_objections",
    "mark",
    "overdue",
    "withdraw",
]

STATUSES = ("filed", "marked", "upheld", "rejected")
RESOLUTIONS = ("corrected", "revoked")
MACHINE = StateMachine(
    "objection",
    {
        "filed": {"mark": "marked"},
        # Deciding needs the 异议处理中 mark first: the public must see the record is disputed meanwhile.
        "marked": {"uphold": "upheld", "reject": "rejected"},
        # The changed or revoked decision's publication is withdrawn (recorded once, SAMR Order 45 art 11).
        "upheld": {"withdraw": "upheld"},
    },
)


class ObjectionError(DomainError, ValueError):
    """An objection that cannot be filed or decided as asked (bad field, missing reason)."""


class Objection(Base):
    """One objection against one record of the lake."""

    __tablename__ = "objections"
    __table_args__ = (
        sa.CheckConstraint("status IN ('filed', 'marked', 'upheld', 'rejected')", name="status"),
        sa.CheckConstraint("resolution IS NULL OR resolution IN ('corrected', 'revoked')", name="resolution"),
    )

    objection_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    record_table: Mapped[str] = mapped_column(sa.String(32))
    record_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    filer: Mapped[str] = mapped_column(sa.String(200))
    grounds: Mapped[str] = mapped_column(sa.Text)
    department: Mapped[str] = mapped_column(sa.String(128), index=True)
    filed_on: Mapped[date] = mapped_column(sa.Date)
    mark_due: Mapped[date] = mapped_column(sa.Date)
    decide_due: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    marked_on: Mapped[date | None] = mapped_column(sa.Date)
    decided_on: Mapped[date | None] = mapped_column(sa.Date)
    resolution: Mapped[str | None] = mapped_column(sa.String(16))
    reasons: Mapped[str | None] = mapped_column(sa.Text)
    correction: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    notice: Mapped[str | None] = mapped_column(sa.Text)
    # Upheld: the day the publication of the changed or revoked decision is to be withdrawn by, and was.
    withdraw_due: Mapped[date | None] = mapped_column(sa.Date)
    withdrawn_on: Mapped[date | None] = mapped_column(sa.Date)
    rules: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime]

    def as_dict(self) -> dict[str, Any]:
        return {
            "objection_id": self.objection_id,
            "uscc": self.uscc,
            "record_table": self.record_table,
            "record_id": self.record_id,
            "filer": self.filer,
            "grounds": self.grounds,
            "department": self.department,
            "status": self.status,
            "label": "异议处理中" if self.status == "marked" else None,
            "under_objection": self.status in ("filed", "marked"),
            "filed_on": self.filed_on,
            "mark_due": self.mark_due,
            "decide_due": self.decide_due,
            "marked_on": self.marked_on,
            "decided_on": self.decided_on,
            "resolution": self.resolution,
            "reasons": self.reasons,
            "correction": self.correction,
            "notice": self.notice,
            "withdraw_due": self.withdraw_due,
            "withdrawn_on": self.withdrawn_on,
            "rules": self.rules,
        }


def _objection_id(uscc: str, record_table: str, record_id: str, filed_on: date, filer: str) -> str:
    return case_id("OBJ", uscc, record_table, record_id, filed_on, filer)


def get(session: Session, objection_id: str) -> Objection:
    return get_row(session, Objection, objection_id, "objection")


def file(
    session: Session,
    *,
    actor: Actor,
    uscc: str,
    record_table: str,
    record_id: str,
    grounds: str,
    department: str,
    filed_on: date,
    policy: Policy | None = None,
) -> Objection:
    """File an objection; its deadlines are fixed now from the rules in force on ``filed_on``."""
    policy = policy or default_policy()
    if not uscc_is_valid(uscc):
        raise ObjectionError(f"uscc {uscc!r}: not a valid unified social credit code (GB 32100)")
    if record_table not in RECORD_TABLES:
        raise ObjectionError(f"record_table {record_table!r}: expected one of {', '.join(RECORD_TABLES)}")
    for name, value in (("record_id", record_id), ("grounds", grounds), ("department", department)):
        if not value or not value.strip():
            raise ObjectionError(f"{name}: required")
    mark_rule = policy.rules_for("objection.mark", on=filed_on)
    decide_rule = policy.rules_for("objection.decide", on=filed_on)
    objection_id = _objection_id(uscc, record_table, record_id, filed_on, actor.name)
    if session.get(Objection, objection_id) is not None:
        raise ObjectionError(
            f"objection {objection_id}: this filer already filed it on {filed_on.isoformat()}"
        )
    row = Objection(
        objection_id=objection_id,
        uscc=uscc,
        record_table=record_table,
        record_id=record_id,
        filer=actor.name,
        grounds=grounds,
        department=department,
        filed_on=filed_on,
        mark_due=mark_rule.end(filed_on),
        decide_due=decide_rule.end(filed_on),
        status="filed",
        rules={"mark": mark_rule.as_dict(), "decide": decide_rule.as_dict()},
        updated_at=instant(actor.at),
    )
    session.add(row)
    session.flush()
    MACHINE.record(
        session,
        actor=actor,
        object_id=objection_id,
        action="file",
        before=None,
        after="filed",
        on=filed_on,
        details={"uscc": uscc, "record": f"{record_table}:{record_id}", "mark_due": row.mark_due},
    )
    return row


def _check_day(row: Objection, on: date) -> None:
    if on < row.filed_on:
        raise ObjectionError(
            f"objection {row.objection_id}: {on.isoformat()} is before it was filed "
            f"({row.filed_on.isoformat()})"
        )


def mark(session: Session, objection_id: str, *, actor: Actor, on: date) -> Objection:
    """Mark the disputed record 异议处理中."""
    row = get(session, objection_id)
    after = MACHINE.next_state(objection_id, row.status, "mark")
    _check_day(row, on)
    before, row.status, row.marked_on, row.updated_at = row.status, after, on, instant(actor.at)
    MACHINE.record(
        session,
        actor=actor,
        object_id=objection_id,
        action="mark",
        before=before,
        after=after,
        on=on,
        details={"late": on > row.mark_due},
    )
    return row


@dataclass(frozen=True, slots=True)
class Decision:
    """What :func:`decide` did: the objection and, for a wrongful listing, the notice text."""

    objection: Objection
    notice: str | None


def decide(
    session: Session,
    objection_id: str,
    *,
    actor: Actor,
    on: date,
    upheld: bool,
    reasons: str,
    resolution: str | None = None,
    correction: dict[str, Any] | None = None,
    lake: Lake | None = None,
    policy: Policy | None = None,
) -> Decision:
    """Uphold (the record is ``corrected`` or ``revoked``) or reject (reasons recorded) a marked objection.

    With ``lake`` the decision is also written as an ``objections`` row that the features apply. An upheld
    one gets ``withdraw_due`` from ``objection.withdraw_revoked`` in force on the decision day (none before
    the rule takes effect).
    """
    policy = policy or default_policy()
    row = get(session, objection_id)
    action = "uphold" if upheld else "reject"
    after = MACHINE.next_state(objection_id, row.status, action)
    _check_day(row, on)
    if not reasons or not reasons.strip():
        raise ObjectionError(f"objection {objection_id}: reasons are required for a decision")
    if upheld and resolution not in RESOLUTIONS:
        raise ObjectionError(
            f"objection {objection_id}: an upheld objection needs resolution 'corrected' or 'revoked',"
            f" got {resolution!r}"
        )
    if not upheld and resolution is not None:
        raise ObjectionError(f"objection {objection_id}: a rejected objection has no resolution")
    if correction is not None and resolution != "corrected":
        raise ObjectionError(f"objection {objection_id}: a correction goes with resolution 'corrected'")
    notice = None
    if upheld and row.record_table == "list_entries":
        # 国办发〔2019〕35号 §(十七): a wrongful listing is remedied, and the party is told so.
        notice = (
            f"经核查，{row.uscc} 的名单记录 {row.record_id} 列入有误，已于 {on.isoformat()} "
            f"{'撤销' if resolution == 'revoked' else '更正'}并移出名单。理由：{reasons}"
        )
    before = row.status
    if upheld and row.record_table == "list_entries":
        case = session.get(lists.ListCase, row.record_id)
        if case is not None and case.status in ("listed", "rectified"):
            lists.revoke(session, case.case_id, actor=actor, on=on)
    row.status, row.decided_on, row.reasons = after, on, reasons
    row.resolution, row.correction, row.notice, row.updated_at = (
        resolution,
        correction,
        notice,
        instant(actor.at),
    )
    withdraw_rule = policy.in_force("objection.withdraw_revoked", on=on) if upheld else None
    if withdraw_rule is not None:
        row.withdraw_due = withdraw_rule.end(on)
        row.rules = {**row.rules, "withdraw": withdraw_rule.as_dict()}
    if lake is not None:
        write_rows(
            lake,
            "objections",
            [
                {
                    "objection_id": row.objection_id,
                    "uscc": row.uscc,
                    "record_table": row.record_table,
                    "record_id": row.record_id,
                    "filed_on": row.filed_on,
                    "marked_on": row.marked_on,
                    "decided_on": on,
                    "outcome": after,
                    "resolution": resolution,
                }
            ],
            source=f"objection-{row.objection_id}",
            today=on,
        )
    MACHINE.record(
        session,
        actor=actor,
        object_id=objection_id,
        action=action,
        before=before,
        after=after,
        on=on,
        details={
            "resolution": resolution,
            "late": on > row.decide_due,
            "notice": notice is not None,
            "withdraw_due": row.withdraw_due,
        },
    )
    return Decision(objection=row, notice=notice)


def withdraw(session: Session, objection_id: str, *, actor: Actor, on: date) -> Objection:
    """Record that the publication of the decision an upheld objection changed or revoked was withdrawn on
    ``on`` (SAMR Order 45 art 11: within ``withdraw_due``)."""
    row = get(session, objection_id)
    after = MACHINE.next_state(objection_id, row.status, "withdraw")
    if row.withdrawn_on is not None:
        raise ObjectionError(
            f"objection {objection_id}: the withdrawal was recorded on {row.withdrawn_on.isoformat()}",
            kind=ErrorKind.CONFLICT,
        )
    if row.decided_on is not None and on < row.decided_on:
        raise ObjectionError(
            f"on {on.isoformat()}: before the objection was upheld ({row.decided_on.isoformat()})", field="on"
        )
    row.withdrawn_on, row.updated_at = on, instant(actor.at)
    MACHINE.record(
        session,
        actor=actor,
        object_id=objection_id,
        action="withdraw",
        before=row.status,
        after=after,
        on=on,
        details={
            "record": f"{row.record_table}:{row.record_id}",
            "late": row.withdraw_due is not None and on > row.withdraw_due,
        },
    )
    return row


def _published(session: Session, row: Objection, on: date) -> bool:
    """Whether the 双公示 register shows the objection's record published on ``on`` (so there is a
    publication to withdraw)."""
    published = session.scalar(
        sa.select(Disclosure.published_on).where(
            Disclosure.record_table == row.record_table,
            Disclosure.record_id == row.record_id,
            Disclosure.status == "published",
        )
    )
    return published is not None and published <= on


def list_objections(
    session: Session, *, uscc: str | None = None, status: str | None = None, department: str | None = None
) -> list[Objection]:
    """Objections in filing order, of one entity, in one status or handled by one department (if given)."""
    stmt = sa.select(Objection).order_by(Objection.filed_on, Objection.objection_id)
    if department is not None:
        stmt = stmt.where(Objection.department == department)
    if uscc is not None:
        stmt = stmt.where(Objection.uscc == uscc)
    if status is not None:
        if status not in STATUSES:
            raise ObjectionError(f"status {status!r}: expected one of {', '.join(STATUSES)}")
        stmt = stmt.where(Objection.status == status)
    return list(session.scalars(stmt))


def overdue(session: Session, *, on: date, department: str | None = None) -> list[dict[str, Any]]:
    """Objections (of `department`, if given) past a deadline on ``on``: which deadline, and by how many
    working days. Open ones past marking or deciding; upheld ones past ``withdraw_due`` whose decision the
    双公示 register shows published with no withdrawal recorded."""
    out: list[tuple[str, date, Objection]] = []
    for row in list_objections(session, department=department):
        if row.status == "filed" and on > row.mark_due:
            out.append(("mark", row.mark_due, row))
        if row.status in ("filed", "marked") and on > row.decide_due:
            out.append(("decide", row.decide_due, row))
        due = row.withdraw_due
        pending = row.status == "upheld" and row.withdrawn_on is None
        if pending and due is not None and on > due and _published(session, row, on):
            out.append(("withdraw", due, row))
    return [
        {
            "objection_id": row.objection_id,
            "department": row.department,
            "uscc": row.uscc,
            "status": row.status,
            "deadline": which,
            "due": due,
            "working_days_late": working_days_between(due, on),
        }
        for which, due, row in out
    ]
