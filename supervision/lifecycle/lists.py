"""Joint-punishment lists (失信联合惩戒对象名单): prior notice → listing → rectification → interview → exit.

proposed (prior notice: reasons, basis, rights, response deadline; a second approver of the department
where the policy asks for one, 四眼原则) → listed (basis document) → rectified;
when the rectification deadline passes unrectified, the listing department interviews (谁认定、谁约谈);
exit on application after the minimum period (from ``rectified``), automatic exit at the maximum, or
revoked by an upheld objection. Periods come from the policy in force on the listing day. Every change is
audited and written to an outbox that subscribers poll (逢办必查 triggered mode); listings, interviews and
early exits go into the lake (``list_entries``, ``interviews``, ``repairs``) for the features.

What a listing stands on is the policy's ``[list_criteria]`` (:func:`list_criteria`): the proposal needs a
qualifying record of the entity on the proposal day (the notice states the facts) and the listing names one
(``basis_document_no``), checked again on the listing day (it may have been revoked or repaired since). A
listed case is published by ``publish_due`` (``list.publish``, working days from the listing); the person
file (:func:`person_flags`) joins every listing, ingested or decided here, to the persons accountable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from features.catalog import BY_NAME, LIST_TYPES, SEVERITIES
from features.graph import relations_in_force
from features.indicators import BLACK_LISTS
from features.lifecycle import lifecycle_sources, list_entry_end
from features.uscc import is_valid as uscc_is_valid
from supervision.lifecycle import workflow
from supervision.lifecycle.records import Lake, write_rows
from supervision.lifecycle.regimes import CONFIDENCES, Policy, PolicyError, default_policy
from supervision.lifecycle.workflow import Actor, StateMachine, get_row, instant
from supervision.platform.calendar import working_days_between
from supervision.platform.db import Base
from supervision.platform.errors import DomainError, ErrorKind

__all__ = [
    "MACHINE",
    "Ground",
    "ListCase",
    "ListCriteria",
    "ListError",
    "ListEvent",
    "accountable_persons",
    "approve",
    "basis_record",
    "events_after",
    "exit_on_application",
    "expire",
    "get",
    "interview",
    "interviews_due",
    "list_case",
    "list_criteria",
    "overdue",
    "person_flags",
    "propose",
    "publish",
    "qualifying_records",
    "rectify",
    "revoke",
    "withdraw",
]

LIST_NAMES = {
    "severe_dishonesty": "严重失信主体名单",
    "abnormal_operations": "经营异常名录",
    "court_dishonest_debtor": "失信被执行人名单",
}
ACCOUNTABLE_RELATIONS = ("legal_representative", "actual_controller")
MACHINE = StateMachine(
    "list",
    {
        "proposed": {"approve": "proposed", "list": "listed", "withdraw": "withdrawn"},
        "listed": {
            "publish": "listed",
            "rectify": "rectified",
            "interview": "listed",
            "expire": "exited",
            "revoke": "exited",
            "repair": "exited",
        },
        "rectified": {
            "publish": "rectified",
            "exit_on_application": "exited",
            "expire": "exited",
            "revoke": "exited",
            "repair": "exited",
        },
    },
)


class ListError(DomainError, ValueError):
    """A listing step that cannot be taken as asked (deadline not reached, wrong department, bad field)."""


class ListCase(Base):
    """One entity's listing case on one list."""

    __tablename__ = "list_cases"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('proposed', 'listed', 'rectified', 'withdrawn', 'exited')", name="status"
        ),
    )

    case_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    list_type: Mapped[str] = mapped_column(sa.String(32), index=True)
    department: Mapped[str] = mapped_column(sa.String(128), index=True)
    reasons: Mapped[str] = mapped_column(sa.Text)
    basis: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    proposed_on: Mapped[date] = mapped_column(sa.Date)
    notice: Mapped[str] = mapped_column(sa.Text)
    response_due: Mapped[date] = mapped_column(sa.Date)
    response: Mapped[str | None] = mapped_column(sa.Text)
    basis_document_no: Mapped[str | None] = mapped_column(sa.String(128))
    listed_on: Mapped[date | None] = mapped_column(sa.Date)
    rectification_due: Mapped[date | None] = mapped_column(sa.Date)
    rectified_on: Mapped[date | None] = mapped_column(sa.Date)
    interviewed_on: Mapped[date | None] = mapped_column(sa.Date)
    min_exit_on: Mapped[date | None] = mapped_column(sa.Date)
    max_end: Mapped[date | None] = mapped_column(sa.Date)
    exited_on: Mapped[date | None] = mapped_column(sa.Date)
    exit_reason: Mapped[str | None] = mapped_column(sa.String(16))
    accountable: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    rules: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime]
    # Who proposed and who approved the listing (四眼原则, migration 0011): the audit name and the person id.
    proposed_by: Mapped[str | None] = mapped_column(sa.String(200))
    proposer_person_id: Mapped[str | None] = mapped_column(sa.String(64))
    approved_by: Mapped[str | None] = mapped_column(sa.String(200))
    approver_person_id: Mapped[str | None] = mapped_column(sa.String(64))
    approved_on: Mapped[date | None] = mapped_column(sa.Date)
    # Publication of the listing (list.publish, migration 0014): due by, and the day it was published.
    publish_due: Mapped[date | None] = mapped_column(sa.Date)
    published_on: Mapped[date | None] = mapped_column(sa.Date)

    def as_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns if c.name != "updated_at"}


class ListEvent(Base):
    """Outbox of list enter/exit events; subscribers poll ``events_after(last id seen)``.

    ``kind`` says whose event it is: ``list`` (a case entered or left a list; what ``GET /events`` and the
    change feed carry) or ``warning`` (an early warning opened, :mod:`supervision.monitoring.warnings`, with
    its content in ``data``), which webhook subscribers receive too (migration 0020)."""

    __tablename__ = "list_events"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(sa.String(16))
    case_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    list_type: Mapped[str] = mapped_column(sa.String(32))
    on: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str | None] = mapped_column(sa.String(16))
    kind: Mapped[str] = mapped_column(sa.String(16), default="list", server_default="list", index=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "event": self.event,
            "case_id": self.case_id,
            "uscc": self.uscc,
            "list_type": self.list_type,
            "on": self.on,
            "reason": self.reason,
        }


# The record tables a listing can stand on and the column that says a record's kind (the catalog's structure;
# which kinds qualify for which list is the policy's [list_criteria]).
BASIS_KIND_COLUMNS = {"penalties": "penalty_kind", "inspections": "outcome"}
SECTION = "list_criteria"


@dataclass(frozen=True, slots=True)
class Ground:
    """Records that can ground a listing: of ``table``, of one of ``kinds``, at least ``min_severity``."""

    table: str
    kinds: tuple[str, ...]
    min_severity: str | None = None

    @property
    def id_column(self) -> str:
        (key,) = BY_NAME[self.table].key
        return key

    @property
    def date_column(self) -> str:
        column = BY_NAME[self.table].event_date
        assert column is not None  # every basis table has one (checked when parsed)
        return column

    @property
    def kind_column(self) -> str:
        return BASIS_KIND_COLUMNS[self.table]

    def matches(self, record: Mapping[str, Any]) -> bool:
        if record.get(self.kind_column) not in self.kinds:
            return False
        if self.min_severity is None:
            return True
        severity = record.get("severity")
        return severity in SEVERITIES and SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity)

    def describe(self) -> str:
        severity = f", severity {self.min_severity} or worse" if self.min_severity else ""
        return f"{self.table} with {self.kind_column} {'/'.join(self.kinds)}{severity}"


@dataclass(frozen=True, slots=True)
class ListCriteria:
    """What a listing on ``list_type`` stands on: ``grounds`` (none: not listed by a department here)."""

    list_type: str
    grounds: tuple[Ground, ...]
    source: str
    confidence: str

    def describe(self) -> str:
        what = "; ".join(g.describe() for g in self.grounds) or "no record of the lake"
        return f"[{SECTION}.{self.list_type}] {what} ({self.source})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "list_type": self.list_type,
            "records": [
                {"table": g.table, "kinds": list(g.kinds), "min_severity": g.min_severity}
                for g in self.grounds
            ],
            "source": self.source,
            "confidence": self.confidence,
        }


def _ground(entry: Any, where: str) -> Ground:
    if not isinstance(entry, dict):
        raise PolicyError(f"{where}: expected a table with table, kinds and optionally min_severity")
    unknown = sorted(set(entry) - {"table", "kinds", "min_severity"})
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(unknown)}")
    name = entry.get("table")
    if name not in BASIS_KIND_COLUMNS:
        raise PolicyError(
            f"{where} table: {name!r} is not a table a listing can stand on; "
            f"expected one of {', '.join(BASIS_KIND_COLUMNS)}"
        )
    allowed = BY_NAME[name].field(BASIS_KIND_COLUMNS[name]).enum or ()
    kinds = entry.get("kinds")
    if not isinstance(kinds, list) or not kinds or not all(k in allowed for k in kinds):
        raise PolicyError(
            f"{where} kinds: {kinds!r} must be a non-empty list of {name}.{BASIS_KIND_COLUMNS[name]} values "
            f"({', '.join(allowed)})"
        )
    severity = entry.get("min_severity")
    if severity is not None:
        if "severity" not in BY_NAME[name].columns:
            raise PolicyError(f"{where} min_severity: {name} records have no severity")
        if severity not in SEVERITIES:
            raise PolicyError(f"{where} min_severity: {severity!r} must be one of {', '.join(SEVERITIES)}")
    return Ground(table=name, kinds=tuple(kinds), min_severity=severity)


def list_criteria(policy: Policy | None = None) -> dict[str, ListCriteria]:
    """The policy's ``[list_criteria]``, one entry per list a department lists on (every black list);
    errors name the table and the key."""
    policy = policy or default_policy()
    section = policy.section(SECTION)
    where = f"{policy.origin} [{SECTION}"
    listable = [t for t in LIST_TYPES if t != "red_list"]
    unknown = sorted(set(section) - set(listable))
    if unknown:
        raise PolicyError(
            f"{where}]: unknown list type(s) {', '.join(unknown)}; expected {', '.join(listable)}"
        )
    missing = [t for t in listable if t not in section]
    if missing:
        raise PolicyError(f"{where}]: no criteria for {', '.join(missing)} (records = [] if none qualifies)")
    out = {}
    for list_type in listable:
        entry, at = section[list_type], f"{where}.{list_type}]"
        if not isinstance(entry, dict):
            raise PolicyError(f"{at}: expected a table with source, confidence and records")
        extra = sorted(set(entry) - {"source", "confidence", "records"})
        if extra:
            raise PolicyError(f"{at}: unknown key(s) {', '.join(extra)}")
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            raise PolicyError(f"{at} source: required (the article the criteria come from)")
        if entry.get("confidence") not in CONFIDENCES:
            raise PolicyError(f"{at} confidence: {entry.get('confidence')!r} must be one of V, P, U")
        records = entry.get("records")
        if not isinstance(records, list):
            raise PolicyError(
                f"{at} records: required, a list of {{table, kinds, min_severity}} ([] if none)"
            )
        out[list_type] = ListCriteria(
            list_type=list_type,
            grounds=tuple(_ground(r, f"{at} records[{i}]") for i, r in enumerate(records)),
            source=source,
            confidence=entry["confidence"],
        )
    return out


def _criteria(list_type: str, policy: Policy) -> ListCriteria:
    """The criteria of ``list_type``; a list no record of the lake can ground is not listed here."""
    criteria = list_criteria(policy)[list_type]
    if not criteria.grounds:
        raise ListError(
            f"list_type {list_type!r}: not listed by a department here, no record of the lake can ground it "
            f"({criteria.describe()})",
            field="list_type",
        )
    return criteria


def _in_force(sources: Mapping[str, pl.LazyFrame], ground: Ground, *, on: date) -> pl.LazyFrame:
    """The records of the ground's table as they stand on ``on`` (decisions dated ``on`` count): revoked
    ones gone (an inspection's finding voided), repaired penalties gone."""
    return lifecycle_sources(sources, as_of=on + timedelta(days=1))[ground.table]


def _basis_row(ground: Ground, record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "table": ground.table,
        "record_id": record[ground.id_column],
        "kind": record[ground.kind_column],
        "severity": record.get("severity"),
        "dated": record[ground.date_column],
        "authority": record.get("authority") or record.get("department"),
    }


def qualifying_records(
    sources: Mapping[str, pl.LazyFrame], criteria: ListCriteria, *, uscc: str, on: date
) -> list[dict[str, Any]]:
    """The records of ``uscc`` that meet ``criteria`` on ``on``: dated on or before it and in force then."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for ground in criteria.grounds:
        rows = (
            _in_force(sources, ground, on=on)
            .filter((pl.col("uscc") == uscc) & (pl.col(ground.date_column) <= on))
            .collect()
            .to_dicts()
        )
        for record in rows:
            if ground.matches(record):
                row = _basis_row(ground, record)
                out.setdefault((row["table"], row["record_id"]), row)
    return sorted(out.values(), key=lambda r: (r["dated"], r["table"], r["record_id"]))


def basis_record(
    sources: Mapping[str, pl.LazyFrame], criteria: ListCriteria, *, uscc: str, document: str, on: date
) -> dict[str, Any]:
    """The record ``document`` names, if it grounds a listing of ``uscc`` on ``on`` under ``criteria``;
    a ListError on ``basis_document_no`` naming the rule it breaks if not."""
    field = "basis_document_no"
    rule = criteria.describe()
    tables = sorted({g.table for g in criteria.grounds})
    found = []
    for name in tables:
        ground = next(g for g in criteria.grounds if g.table == name)
        found += [
            (name, r) for r in sources[name].filter(pl.col(ground.id_column) == document).collect().to_dicts()
        ]
    if not found:
        raise ListError(
            f"basis_document_no {document!r}: no record of the lake ({', '.join(tables)}) has this number; "
            f"a listing stands on an existing record: {rule}",
            field=field,
        )
    name, record = found[0]
    ground = next(g for g in criteria.grounds if g.table == name)
    if record["uscc"] != uscc:
        raise ListError(
            f"basis_document_no {document!r}: a {name} record of {record['uscc']}, not of {uscc}; "
            "a listing stands on a record of the entity listed",
            field=field,
        )
    dated = record[ground.date_column]
    if dated > on:
        raise ListError(
            f"basis_document_no {document!r}: dated {dated.isoformat()}, after the listing day "
            f"{on.isoformat()}; a listing stands on a record dated on or before it",
            field=field,
        )
    standing = next(
        (
            r
            for r in _in_force(sources, ground, on=on)
            .filter(pl.col(ground.id_column) == document)
            .collect()
            .to_dicts()
        ),
        None,
    )
    if standing is None:
        raise ListError(
            f"basis_document_no {document!r}: no longer in force on {on.isoformat()} (revoked by an upheld "
            "objection or repaired); a listing stands on a record in force on the listing day",
            field=field,
        )
    matching = [g for g in criteria.grounds if g.table == name and g.matches(standing)]
    if not matching:
        severity = f", severity {standing['severity']}" if standing.get("severity") else ""
        raise ListError(
            f"basis_document_no {document!r}: a {name} record with {ground.kind_column} "
            f"{standing[ground.kind_column]}{severity} does not meet the criteria of "
            f"{criteria.list_type}: {rule}",
            field=field,
        )
    return _basis_row(matching[0], standing)


def lake_entries_active(sources: Mapping[str, pl.LazyFrame], *, uscc: str, on: date) -> pl.LazyFrame:
    """The lake's list entries of ``uscc`` active on ``on`` (objections and repairs applied)."""
    return _active_entries(sources, usccs=[uscc], on=on)


def _list_case_id(uscc: str, list_type: str, proposed_on: date, department: str) -> str:
    return workflow.case_id("LST", uscc, list_type, proposed_on, department)


def get(session: Session, case_id: str) -> ListCase:
    return get_row(session, ListCase, case_id, "list case")


def _step(session: Session, row: ListCase, action: str, actor: Actor, on: date, **details: Any) -> None:
    after = MACHINE.next_state(row.case_id, row.status, action)
    if on < row.proposed_on:
        raise ListError(f"list case {row.case_id}: {on.isoformat()} is before the prior notice")
    before, row.status, row.updated_at = row.status, after, instant(actor.at)
    MACHINE.record(
        session,
        actor=actor,
        object_id=row.case_id,
        action=action,
        before=before,
        after=after,
        on=on,
        details=details,
    )


def _event(
    session: Session, row: ListCase, event: str, on: date, at: datetime, reason: str | None = None
) -> None:
    session.add(
        ListEvent(
            at=at,
            event=event,
            case_id=row.case_id,
            uscc=row.uscc,
            list_type=row.list_type,
            on=on,
            reason=reason,
        )
    )


def accountable_persons(sources: Mapping[str, pl.LazyFrame], *, uscc: str, on: date) -> list[dict[str, Any]]:
    """Legal representative and actual controller of ``uscc`` on ``on`` (person keys from the lake's
    relations in force then: the graph's rule, with the decision's day counted)."""
    rel = (
        relations_in_force(sources["relations"], as_of=on + timedelta(days=1), roles=ACCOUNTABLE_RELATIONS)
        .filter((pl.col("uscc") == uscc) & pl.col("person_key").is_not_null())
        .select("person_key", "relation_type")
        .unique()
        .sort("relation_type", "person_key")
        .collect()
    )
    return rel.to_dicts()


def propose(
    session: Session,
    sources: Mapping[str, pl.LazyFrame],
    *,
    actor: Actor,
    uscc: str,
    list_type: str,
    department: str,
    reasons: str,
    basis: str,
    proposed_on: date,
    policy: Policy | None = None,
    person_id: str | None = None,
) -> ListCase:
    """Open a case with the prior notice (告知): reasons, basis, the facts (the entity's records that meet the
    list's criteria on the proposal day: none, no notice), the party's rights and response deadline.

    The proposer (``actor`` and its ``person_id``) is recorded: a second approver must be someone else."""
    policy = policy or default_policy()
    if not uscc_is_valid(uscc):
        raise ListError(f"uscc {uscc!r}: not a valid unified social credit code (GB 32100)")
    if list_type not in LIST_TYPES or list_type == "red_list":
        raise ListError(
            f"list_type {list_type!r}: expected one of {', '.join(t for t in LIST_TYPES if t != 'red_list')}"
        )
    for name, value in (("department", department), ("reasons", reasons), ("basis", basis)):
        if not value or not value.strip():
            raise ListError(f"{name}: required", field=name)
    criteria = _criteria(list_type, policy)
    facts = qualifying_records(sources, criteria, uscc=uscc, on=proposed_on)
    if not facts:
        raise ListError(
            f"basis: {uscc} has no record on or before {proposed_on.isoformat()} that meets the criteria of "
            f"{list_type}: {criteria.describe()}",
            field="basis",
        )
    response_rule = policy.rules_for("list.notice_response", on=proposed_on)
    response_due = response_rule.end(proposed_on)
    case_id = _list_case_id(uscc, list_type, proposed_on, department)
    if session.get(ListCase, case_id) is not None:
        raise ListError(f"list case {case_id}: already proposed on {proposed_on.isoformat()}")
    notice = (
        f"{department} 拟将 {uscc} 列入{LIST_NAMES.get(list_type, list_type)}。"
        f"事由：{reasons}。依据：{basis}。"
        f"所据记录：{'、'.join(f['record_id'] for f in facts)}。"
        f"当事人享有陈述、申辩的权利，可在 {response_due.isoformat()} 前提出书面意见；"
        "逾期未提出的，视为放弃。"
    )
    row = ListCase(
        case_id=case_id,
        uscc=uscc,
        list_type=list_type,
        department=department,
        reasons=reasons,
        basis=basis,
        status="proposed",
        proposed_on=proposed_on,
        notice=notice,
        response_due=response_due,
        accountable=[],
        rules={
            "notice_response": response_rule.as_dict(),
            "criteria": criteria.as_dict(),
            "facts": [{**f, "dated": f["dated"].isoformat()} for f in facts],
        },
        updated_at=instant(actor.at),
        proposed_by=actor.name,
        proposer_person_id=person_id,
    )
    session.add(row)
    session.flush()
    MACHINE.record(
        session,
        actor=actor,
        object_id=case_id,
        action="propose",
        before=None,
        after="proposed",
        on=proposed_on,
        details={"uscc": uscc, "list_type": list_type, "response_due": response_due},
    )
    return row


def respond(session: Session, case_id: str, *, actor: Actor, response: str) -> ListCase:
    """Record the party's statement (陈述申辩) on a proposed case; the department must consider it."""
    row = get(session, case_id)
    if row.status != "proposed":
        raise ListError(f"list case {case_id} is {row.status!r}: a response is taken only while proposed")
    row.response, row.updated_at = response, instant(actor.at)
    MACHINE.record(
        session,
        actor=actor,
        object_id=case_id,
        action="respond",
        before="proposed",
        after="proposed",
        on=row.proposed_on,
    )
    return row


def approve(session: Session, case_id: str, *, actor: Actor, on: date, person_id: str | None) -> ListCase:
    """Record the second approver of a proposed listing (四眼原则); who may approve is the caller's rule."""
    row = get(session, case_id)
    MACHINE.next_state(case_id, row.status, "approve")
    if row.approved_on is not None:
        raise ListError(
            f"list case {case_id}: already approved on {row.approved_on.isoformat()} by {row.approved_by}",
            kind=ErrorKind.CONFLICT,
        )
    _step(session, row, "approve", actor, on, person_id=person_id)
    row.approved_by, row.approver_person_id, row.approved_on = actor.name, person_id, on
    return row


def withdraw(session: Session, case_id: str, *, actor: Actor, on: date, reasons: str) -> ListCase:
    """Drop a proposal (e.g. the party's response convinced the department)."""
    row = get(session, case_id)
    _step(session, row, "withdraw", actor, on, reasons=reasons)
    return row


def list_case(
    session: Session,
    case_id: str,
    sources: Mapping[str, pl.LazyFrame],
    *,
    actor: Actor,
    on: date,
    basis_document_no: str,
    lake: Lake | None = None,
    policy: Policy | None = None,
) -> ListCase:
    """List the entity (列入) on the basis document: a record of the entity that meets the list's criteria
    on the listing day (:func:`basis_record`); fixes the rectification, publication, minimum and maximum
    dates."""
    policy = policy or default_policy()
    row = get(session, case_id)
    MACHINE.next_state(case_id, row.status, "list")
    if row.response is None and on <= row.response_due:
        raise ListError(
            f"list case {case_id}: the party may respond until {row.response_due.isoformat()}; "
            "list after that day or once its response is recorded"
        )
    if not basis_document_no or not basis_document_no.strip():
        raise ListError(
            "basis_document_no: required (the judicial or administrative decision)", field="basis_document_no"
        )
    if on < row.proposed_on:
        raise ListError(f"list case {case_id}: {on.isoformat()} is before the prior notice", field="on")
    record = basis_record(
        sources, _criteria(row.list_type, policy), uscc=row.uscc, document=basis_document_no, on=on
    )
    rect = policy.rules_for("list.rectification", on=on)
    # SAMR Order 44: published within 20 WD; no deadline before a rule takes effect.
    publication = policy.in_force("list.publish", on=on)
    minimum = policy.rules_for(f"list.min.{row.list_type}", on=on)
    maximum = policy.rules_for(f"list.max.{row.list_type}", on=on)
    _step(session, row, "list", actor, on, basis_document_no=basis_document_no)
    row.listed_on, row.basis_document_no = on, basis_document_no
    row.rectification_due, row.min_exit_on, row.max_end = rect.end(on), minimum.end(on), maximum.end(on)
    row.publish_due = None if publication is None else publication.end(on)
    row.rules = {
        **row.rules,
        "basis_record": {**record, "dated": record["dated"].isoformat()},
        "rectification": rect.as_dict(),
        "min": minimum.as_dict(),
        "max": maximum.as_dict(),
        **({} if publication is None else {"publish": publication.as_dict()}),
    }
    row.accountable = accountable_persons(sources, uscc=row.uscc, on=on)
    _event(session, row, "listed", on, instant(actor.at))
    if lake is not None:
        write_rows(
            lake,
            "list_entries",
            [
                {
                    "entry_id": row.case_id,
                    "uscc": row.uscc,
                    "list_type": row.list_type,
                    "basis": row.basis,
                    "basis_document_no": basis_document_no,
                    "reason": row.reasons,
                    "listed_on": on,
                    "planned_end": row.max_end,
                    "authority": row.department,
                }
            ],
            source=f"list-{row.case_id}",
            today=on,
        )
    return row


def publish(session: Session, case_id: str, *, actor: Actor, on: date) -> ListCase:
    """Record that the listing was published (名单公示), once, on or after the listing day."""
    row = get(session, case_id)
    MACHINE.next_state(case_id, row.status, "publish")
    assert row.listed_on is not None  # set when listed
    if row.published_on is not None:
        raise ListError(
            f"list case {case_id}: already published on {row.published_on.isoformat()}",
            kind=ErrorKind.CONFLICT,
        )
    if on < row.listed_on:
        raise ListError(
            f"list case {case_id}: published_on {on.isoformat()} is before the listing "
            f"({row.listed_on.isoformat()}); a listing is published on or after the day it is decided",
            field="on",
        )
    _step(session, row, "publish", actor, on, late=row.publish_due is not None and on > row.publish_due)
    row.published_on = on
    return row


def overdue(session: Session, *, on: date, department: str | None = None) -> list[dict[str, Any]]:
    """Listed cases (of `department`, if given) not published by their publication deadline on ``on``,
    with the working days late (the objections' and repairs' overdue reports have the same shape)."""
    stmt = sa.select(ListCase).where(
        ListCase.status.in_(("listed", "rectified")),
        ListCase.published_on.is_(None),
        ListCase.publish_due < on,
    )
    if department is not None:
        stmt = stmt.where(ListCase.department == department)
    out = []
    for row in session.scalars(stmt.order_by(ListCase.publish_due, ListCase.case_id)):
        assert row.publish_due is not None
        out.append(
            {
                "case_id": row.case_id,
                "department": row.department,
                "uscc": row.uscc,
                "status": row.status,
                "deadline": "publish",
                "due": row.publish_due,
                "working_days_late": working_days_between(row.publish_due, on),
            }
        )
    return out


def rectify(session: Session, case_id: str, *, actor: Actor, on: date) -> ListCase:
    """Record that the party rectified (整改到位)."""
    row = get(session, case_id)
    _step(session, row, "rectify", actor, on)
    row.rectified_on = on
    return row


def interviews_due(session: Session, *, on: date, department: str | None = None) -> list[ListCase]:
    """Listed cases (of `department`, if given) whose rectification deadline passed before ``on`` with no
    rectification or interview."""
    stmt = sa.select(ListCase).where(
        ListCase.status == "listed",
        ListCase.rectification_due < on,
        ListCase.interviewed_on.is_(None),
    )
    if department is not None:
        stmt = stmt.where(ListCase.department == department)
    return list(session.scalars(stmt.order_by(ListCase.rectification_due, ListCase.case_id)))


def interview(
    session: Session,
    case_id: str,
    *,
    actor: Actor,
    on: date,
    department: str,
    reason: str,
    lake: Lake | None = None,
) -> ListCase:
    """The listing department's warning interview (谁认定、谁约谈) after the rectification deadline."""
    row = get(session, case_id)
    MACHINE.next_state(case_id, row.status, "interview")
    if department != row.department:
        raise ListError(
            f"list case {case_id}: the interview is held by the listing department {row.department!r} "
            f"(谁认定、谁约谈), not {department!r}"
        )
    assert row.rectification_due is not None  # set when listed
    if on <= row.rectification_due:
        raise ListError(
            f"list case {case_id}: the rectification deadline {row.rectification_due.isoformat()} "
            "has not passed"
        )
    _step(session, row, "interview", actor, on, reason=reason)
    row.interviewed_on = on
    if lake is not None:
        write_rows(
            lake,
            "interviews",
            [
                {
                    "interview_id": f"INT-{row.case_id}-{on.isoformat()}",
                    "uscc": row.uscc,
                    "held_on": on,
                    "authority": department,
                    "reason": reason,
                    "related_record": row.case_id,
                }
            ],
            source=f"interview-{row.case_id}-{on.isoformat()}",
            today=on,
        )
    return row


def _exit(session: Session, row: ListCase, action: str, reason: str, actor: Actor, on: date) -> None:
    _step(session, row, action, actor, on, exit_reason=reason)
    row.exited_on, row.exit_reason = on, reason
    _event(session, row, "exited", on, instant(actor.at), reason)


def exit_on_application(
    session: Session, case_id: str, *, actor: Actor, on: date, lake: Lake | None = None
) -> ListCase:
    """Early exit (提前移出) on application: rectified and the minimum period has passed."""
    row = get(session, case_id)
    MACHINE.next_state(case_id, row.status, "exit_on_application")
    assert row.min_exit_on is not None and row.listed_on is not None
    if on < row.min_exit_on:
        raise ListError(
            f"list case {case_id}: exit on application from {row.min_exit_on.isoformat()} "
            f"(minimum {row.rules['min']['value']} {row.rules['min']['unit']}, {row.rules['min']['regime']})"
        )
    _exit(session, row, "exit_on_application", "repaired", actor, on)
    if lake is not None:
        write_rows(
            lake,
            "repairs",
            [
                {
                    "repair_id": f"EXIT-{row.case_id}",
                    "uscc": row.uscc,
                    "record_table": "list_entries",
                    "record_id": row.case_id,
                    "applied_on": on,
                    "decided_on": on,
                    "outcome": "approved",
                    "authority": row.department,
                }
            ],
            source=f"list-exit-{row.case_id}",
            today=on,
        )
    return row


def expire(session: Session, *, actor: Actor, on: date, department: str | None = None) -> list[ListCase]:
    """Automatic exit of every case (of `department`, if given) whose maximum period ended on or before
    ``on`` (the lake's planned_end)."""
    stmt = sa.select(ListCase).where(ListCase.status.in_(("listed", "rectified")), ListCase.max_end <= on)
    if department is not None:
        stmt = stmt.where(ListCase.department == department)
    done = []
    for row in session.scalars(stmt.order_by(ListCase.max_end, ListCase.case_id)):
        assert row.max_end is not None
        _exit(session, row, "expire", "expired", actor, row.max_end)
        done.append(row)
    return done


def revoke(session: Session, case_id: str, *, actor: Actor, on: date) -> ListCase:
    """Remove a wrongful listing (an upheld objection; the objection row carries it into the lake)."""
    row = get(session, case_id)
    _exit(session, row, "revoke", "revoked", actor, on)
    return row


def repaired(session: Session, case_id: str, *, actor: Actor, on: date) -> ListCase:
    """Exit after an approved credit repair of the entry (the repairs row carries it into the lake)."""
    row = get(session, case_id)
    _exit(session, row, "repair", "repaired", actor, on)
    return row


def events_after(
    session: Session, after: int = 0, *, limit: int = 500, kinds: Sequence[str] = ("list",)
) -> list[ListEvent]:
    """Outbox events of `kinds` (list events by default) with id > ``after`` in id order (a subscriber keeps
    the last id it processed)."""
    stmt = (
        sa.select(ListEvent)
        .where(ListEvent.id > after, ListEvent.kind.in_(list(kinds)))
        .order_by(ListEvent.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def active_cases(session: Session, *, uscc: str, on: date) -> list[ListCase]:
    """Cases of ``uscc`` listed on ``on`` (listed or rectified, not exited)."""
    stmt = sa.select(ListCase).where(
        ListCase.uscc == uscc, ListCase.status.in_(("listed", "rectified")), ListCase.listed_on <= on
    )
    return list(session.scalars(stmt.order_by(ListCase.listed_on, ListCase.case_id)))


def person_flags(
    session: Session, sources: Mapping[str, pl.LazyFrame], person_key: str, *, on: date
) -> list[dict[str, Any]]:
    """Every listing (active on ``on`` or past) of an entity whose legal representative or actual controller
    the person was on the listing day: the cases decided here (their ``accountable`` at listing) and the
    lake's black-list entries (ingested, e.g. from the court or another department), a case written to the
    lake counted once."""
    out = []
    cases = set()
    for row in session.scalars(
        sa.select(ListCase).where(ListCase.listed_on.is_not(None)).order_by(ListCase.case_id)
    ):
        cases.add(row.case_id)
        for person in row.accountable:
            if person["person_key"] == person_key:
                out.append(
                    {
                        "case_id": row.case_id,
                        "uscc": row.uscc,
                        "list_type": row.list_type,
                        "relation_type": person["relation_type"],
                        "listed_on": row.listed_on,
                        "active": row.status in ("listed", "rectified"),
                        "source": "case",
                        "authority": row.department,
                    }
                )
    out += _lake_flags(sources, person_key, on=on, skip=cases)
    return sorted(out, key=lambda f: (f["listed_on"], f["case_id"], f["relation_type"]))


def _lake_flags(
    sources: Mapping[str, pl.LazyFrame], person_key: str, *, on: date, skip: set[str]
) -> list[dict[str, Any]]:
    """The lake's black-list entries of the entities the person was accountable for on the listing day."""
    roles = (
        sources["relations"]
        .filter((pl.col("person_key") == person_key) & pl.col("relation_type").is_in(ACCOUNTABLE_RELATIONS))
        .collect()
    )
    usccs = sorted(set(roles["uscc"]))
    if not usccs:
        return []
    entries = (
        sources["list_entries"]
        .filter(pl.col("uscc").is_in(usccs) & pl.col("list_type").is_in(BLACK_LISTS))
        .filter(~pl.col("entry_id").is_in(sorted(skip)))
        .sort("listed_on", "entry_id")
        .collect()
    )
    active = set(_active_entries(sources, usccs=usccs, on=on).select("entry_id").collect()["entry_id"])
    out = []
    for entry in entries.to_dicts():
        in_force = (
            relations_in_force(roles.lazy(), as_of=entry["listed_on"] + timedelta(days=1))
            .filter(pl.col("uscc") == entry["uscc"])
            .select("relation_type")
            .unique()
            .sort("relation_type")
            .collect()
        )
        for relation_type in in_force["relation_type"]:
            out.append(
                {
                    "case_id": entry["entry_id"],
                    "uscc": entry["uscc"],
                    "list_type": entry["list_type"],
                    "relation_type": relation_type,
                    "listed_on": entry["listed_on"],
                    "active": entry["entry_id"] in active,
                    "source": "lake",
                    "authority": entry["authority"],
                }
            )
    return out


def _active_entries(sources: Mapping[str, pl.LazyFrame], *, usccs: Sequence[str], on: date) -> pl.LazyFrame:
    """The lake's list entries of ``usccs`` active on ``on`` (objections and repairs applied)."""
    # Decisions dated on `on` count (features see decisions strictly before as_of, hence the day after).
    seen = lifecycle_sources(sources, as_of=on + timedelta(days=1))
    return seen["list_entries"].filter(
        pl.col("uscc").is_in(list(usccs))
        & (pl.col("listed_on") <= on)
        & (list_entry_end().is_null() | (list_entry_end() > on))
    )
