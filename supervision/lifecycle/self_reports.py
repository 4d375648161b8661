"""Voluntary self-reports (自愿注册): an entity's own information, verified by a department before it counts.

submitted → verified | rejected. An entity submits a topic of the catalog's ``self_reports`` table (honours,
qualifications and certifications, social contributions …), a bounded text and optional documents; the
department that verifies it is the one the policy names for the topic (``[self_reports.departments]`` of the
lifecycle policy), with a clock of ``decide_working_days`` working days. A supervisor of that department
verifies it, or rejects it with a reason. Only a verified report enters the lake, as one ``self_reports``
row (``verified = true``, ``verified_on``) written through :func:`~supervision.lifecycle.records.write_rows`
like every lifecycle decision, so the features (``self_reports_n_*``) count it; a rejected one never does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from features import catalog
from features.lake import scan
from supervision.lifecycle.records import Lake, write_rows
from supervision.lifecycle.regimes import CONFIDENCES, Policy, PolicyError, default_policy
from supervision.lifecycle.workflow import Actor, StateMachine, case_id, get_row, instant
from supervision.platform.calendar import due_date
from supervision.platform.db import Base
from supervision.platform.errors import ConflictError, DomainError

__all__ = [
    "CONTENT_MAX",
    "MACHINE",
    "TOPICS",
    "SelfReport",
    "SelfReportError",
    "SelfReportRules",
    "get",
    "list_reports",
    "reject",
    "self_report_rules",
    "submit",
    "verify",
]

# The topics of the catalog's self_reports table (its enum): what an entity may report.
TOPICS: tuple[str, ...] = tuple(catalog.table("self_reports").field("topic").enum or ())
CONTENT_MAX = 2000
REASON_MAX = 2000
DOCUMENTS_MAX = 5
MACHINE = StateMachine("self_report", {"submitted": {"verify": "verified", "reject": "rejected"}})


class SelfReportError(DomainError, ValueError):
    """A self-report that cannot be submitted or decided as asked."""


@dataclass(frozen=True, slots=True)
class SelfReportRules:
    """``[self_reports]`` of the lifecycle policy: the department of each topic and the decision clock."""

    departments: Mapping[str, str]
    decide_working_days: int
    source: str
    confidence: str

    def department_of(self, topic: str) -> str:
        try:
            return self.departments[topic]
        except KeyError:
            raise SelfReportError(
                f"topic {topic!r}: no department verifies it ([self_reports.departments]: "
                f"{', '.join(self.departments)})",
                field="topic",
            ) from None


def self_report_rules(policy: Policy | None = None) -> SelfReportRules:
    """``[self_reports]`` of the policy, checked (topics of the catalog, a positive clock)."""
    policy = policy or default_policy()
    section = policy.section("self_reports")
    where = f"{policy.origin} [self_reports]"
    days = section.get("decide_working_days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 250:
        raise PolicyError(f"{where} decide_working_days: a whole number of working days, 1-250")
    source = section.get("source")
    if not isinstance(source, str) or not source.strip():
        raise PolicyError(f"{where} source: required")
    confidence = section.get("confidence")
    if confidence not in CONFIDENCES:
        raise PolicyError(f"{where} confidence: one of {', '.join(CONFIDENCES)}")
    departments = section.get("departments")
    if not isinstance(departments, Mapping) or not departments:
        raise PolicyError(f"{where}.departments: topic → department")
    out: dict[str, str] = {}
    for topic, department in departments.items():
        if topic not in TOPICS:
            raise PolicyError(f"{where}.departments {topic!r}: not a self-report topic ({', '.join(TOPICS)})")
        if not isinstance(department, str) or not department.strip():
            raise PolicyError(f"{where}.departments {topic}: the department's name")
        out[topic] = department.strip()
    return SelfReportRules(
        departments=out, decide_working_days=days, source=source, confidence=str(confidence)
    )


class SelfReport(Base):
    """One voluntary self-report and its verification."""

    __tablename__ = "self_reports"
    __table_args__ = (sa.CheckConstraint("status IN ('submitted', 'verified', 'rejected')", name="status"),)

    report_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    topic: Mapped[str] = mapped_column(sa.String(32))
    content: Mapped[str] = mapped_column(sa.Text)
    department: Mapped[str] = mapped_column(sa.String(128), index=True)
    submitted_by: Mapped[str] = mapped_column(sa.String(200))
    submitted_on: Mapped[date] = mapped_column(sa.Date)
    due: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    decided_on: Mapped[date | None] = mapped_column(sa.Date)
    decided_by: Mapped[str | None] = mapped_column(sa.String(200))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    # SHA-256 of the documents attached (supervision.lifecycle.documents).
    documents: Mapped[list[str]] = mapped_column(sa.JSON)
    rules: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime]

    def as_dict(self) -> dict[str, Any]:
        return {
            c: getattr(self, c)
            for c in (
                "report_id",
                "uscc",
                "topic",
                "content",
                "department",
                "submitted_by",
                "submitted_on",
                "due",
                "status",
                "decided_on",
                "decided_by",
                "reason",
                "documents",
            )
        }


def _report_id(uscc: str, topic: str, content: str, on: date) -> str:
    return case_id("SR", uscc, topic, on, content)


def get(session: Session, report_id: str) -> SelfReport:
    return get_row(session, SelfReport, report_id, "self-report")


def submit(
    session: Session,
    *,
    actor: Actor,
    uscc: str,
    topic: str,
    content: str,
    on: date,
    documents: Sequence[str] = (),
    policy: Policy | None = None,
) -> SelfReport:
    """Record a submission at the topic's department, due in the policy's working days."""
    rules = self_report_rules(policy)
    if topic not in TOPICS:
        raise SelfReportError(f"topic {topic!r}: one of {', '.join(TOPICS)}", field="topic")
    text = (content or "").strip()
    if not text:
        raise SelfReportError(
            "content: required (what is reported, with its issuer and number)", field="content"
        )
    if len(text) > CONTENT_MAX:
        raise SelfReportError(f"content: {len(text)} characters, at most {CONTENT_MAX}", field="content")
    if len(documents) > DOCUMENTS_MAX:
        raise SelfReportError(f"documents: at most {DOCUMENTS_MAX}", field="documents")
    department = rules.department_of(topic)
    report_id = _report_id(uscc, topic, text, on)
    if session.get(SelfReport, report_id) is not None:
        raise SelfReportError(
            f"self-report {report_id}: the same report was already submitted on {on.isoformat()}",
            field="content",
        )
    row = SelfReport(
        report_id=report_id,
        uscc=uscc,
        topic=topic,
        content=text,
        department=department,
        submitted_by=actor.name,
        submitted_on=on,
        due=due_date(on, rules.decide_working_days),
        status="submitted",
        documents=sorted(set(documents)),
        rules={
            "decide_working_days": rules.decide_working_days,
            "source": rules.source,
            "confidence": rules.confidence,
        },
        updated_at=instant(actor.at),
    )
    session.add(row)
    session.flush()
    MACHINE.record(
        session,
        actor=actor,
        object_id=report_id,
        action="submit",
        before=None,
        after="submitted",
        on=on,
        details={"uscc": uscc, "topic": topic, "department": department, "due": row.due},
    )
    return row


def _check_day(row: SelfReport, on: date) -> None:
    if on < row.submitted_on:
        raise SelfReportError(
            f"on {on.isoformat()}: before the submission ({row.submitted_on.isoformat()})", field="on"
        )


def in_lake(lake: Lake, report_id: str) -> date | None:
    """The day the lake says `report_id` was verified, if a verified row of it is there.

    The lake is written before the database commits: a verification whose commit then failed leaves its row
    in the lake while the register still says ``submitted``. Verifying again must not write it twice (the
    lake refuses a second row of the key), and rejecting it would leave a verified row counting."""
    found = (
        scan(lake.dir, "self_reports")
        .filter(pl.col("report_id") == report_id)
        .select("verified_on")
        .collect()
    )
    return None if found.height == 0 else found["verified_on"][0]


def verify(session: Session, report_id: str, *, actor: Actor, on: date, lake: Lake | None) -> SelfReport:
    """Verify: the report enters the lake as a verified ``self_reports`` row (the features count it); a row
    already there from an earlier attempt whose commit failed is kept, not written again."""
    row = get(session, report_id)
    after = MACHINE.next_state(report_id, row.status, "verify")
    _check_day(row, on)
    row.status, row.decided_on, row.decided_by, row.updated_at = after, on, actor.name, instant(actor.at)
    if lake is not None and in_lake(lake, report_id) is None:
        write_rows(
            lake,
            "self_reports",
            [
                {
                    "report_id": report_id,
                    "uscc": row.uscc,
                    "topic": row.topic,
                    "content": row.content,
                    "reported_on": row.submitted_on,
                    "verified": True,
                    "verified_on": on,
                }
            ],
            source=f"self-report-{report_id}",
            today=on,
        )
    MACHINE.record(
        session,
        actor=actor,
        object_id=report_id,
        action="verify",
        before="submitted",
        after=after,
        on=on,
        details={"late": on > row.due},
    )
    return row


def reject(
    session: Session, report_id: str, *, actor: Actor, on: date, reason: str, lake: Lake | None = None
) -> SelfReport:
    """Reject with a reason: the report never enters the lake (refused if an earlier verification whose
    commit failed already put it there: verify it to bring the register in line)."""
    row = get(session, report_id)
    after = MACHINE.next_state(report_id, row.status, "reject")
    _check_day(row, on)
    verified = None if lake is None else in_lake(lake, report_id)
    if verified is not None:
        raise ConflictError(
            f"self-report {report_id}: the lake already holds it as verified on {verified.isoformat()} (an "
            "earlier verification whose commit failed); verify it to bring the register in line",
            field="status",
        )
    text = (reason or "").strip()
    if not text:
        raise SelfReportError(
            "reason: required to reject a self-report (the entity is told why)", field="reason"
        )
    if len(text) > REASON_MAX:
        raise SelfReportError(f"reason: at most {REASON_MAX} characters", field="reason")
    row.status, row.decided_on, row.decided_by, row.reason, row.updated_at = (
        after,
        on,
        actor.name,
        text,
        instant(actor.at),
    )
    MACHINE.record(
        session,
        actor=actor,
        object_id=report_id,
        action="reject",
        before="submitted",
        after=after,
        on=on,
        details={"late": on > row.due},
    )
    return row


def list_reports(
    session: Session, *, department: str | None = None, uscc: str | None = None, status: str | None = None
) -> list[SelfReport]:
    """Reports in submission order, of one department, entity or status (if given)."""
    stmt = sa.select(SelfReport).order_by(SelfReport.submitted_on, SelfReport.report_id)
    if department is not None:
        stmt = stmt.where(SelfReport.department == department)
    if uscc is not None:
        stmt = stmt.where(SelfReport.uscc == uscc)
    if status is not None:
        stmt = stmt.where(SelfReport.status == status)
    return list(session.scalars(stmt))
