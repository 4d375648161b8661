"""Voluntary self-reports (自愿注册): the entity submits, the topic's department verifies or rejects.

The entity submits for its own USCC only (the token's), dated today; the department that verifies is the
policy's for the topic (``[self_reports.departments]``), never a name the caller types. Only a supervisor of
that department verifies (the report enters the lake: the features count it) or rejects with a reason. Staff
of a department list its reports; an entity lists its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.services.context import Context, own_entity, use_case
from serving.services.filings import DocumentView, Upload, check_uploads, keep_uploads
from serving.services.lifecycle_types import decision_day, own_department
from supervision.lifecycle import self_reports
from supervision.platform.access import Role
from supervision.platform.calendar import working_days_between

__all__ = ["SelfReportView", "list_reports", "reject", "submit", "verify"]

SUBMITTERS = (Role.ENTITY,)
DECIDERS = (Role.SUPERVISOR,)
READERS = (Role.SUPERVISOR, Role.INSPECTOR, Role.ENTITY)
WHO_VERIFIES = "a self-report is verified by the department the policy names for its topic ([self_reports])"


class SelfReportView(BaseModel):
    """One self-report, its department, its clock and the decision."""

    model_config = ConfigDict(frozen=True)

    report_id: str
    uscc: str
    topic: str = Field(description="a topic of the catalog's self_reports table")
    content: str
    department: str = Field(description="the department that verifies it (the policy's for the topic)")
    submitted_by: str
    submitted_on: date
    due: date = Field(description="the decision is due by this day (the policy's working days)")
    status: Literal["submitted", "verified", "rejected"]
    decided_on: date | None
    decided_by: str | None
    reason: str | None = Field(description="why it was rejected")
    documents: list[str] = Field(description="SHA-256 of the attached documents (GET /documents/{sha256})")
    working_days_left: int | None = Field(
        None, description="while submitted: working days from today to the due day (negative: late)"
    )

    @classmethod
    def of(cls, row: self_reports.SelfReport, *, today: date | None = None) -> SelfReportView:
        left = (
            working_days_between(today, row.due) if today is not None and row.status == "submitted" else None
        )
        return cls.model_validate({**row.as_dict(), "working_days_left": left})


class SubmittedReport(SelfReportView):
    """A submission and the documents kept with it."""

    attached: list[DocumentView] = Field(default_factory=list)


def _target(report_id: str) -> str:
    return f"self_report:{report_id}"


@use_case("self_reports.submit", roles=SUBMITTERS)
def submit(
    ctx: Context,
    *,
    uscc: str,
    topic: str,
    content: str,
    documents: Mapping[str, Upload] | None = None,
) -> SubmittedReport:
    """Submit voluntary information for the entity's own USCC (dated today), with optional documents; it is
    due for a decision at the topic's department within the policy's working days."""
    own_entity(ctx, uscc)
    checked = check_uploads(ctx, dict(documents or {}))
    row = self_reports.submit(
        ctx.session,
        actor=ctx.lifecycle_actor,
        uscc=uscc,
        topic=topic,
        content=content,
        on=ctx.today,
        documents=[c.sha256 for c in checked.values()],
        policy=ctx.policy(),
    )
    keep_uploads(ctx, checked, uscc=uscc)
    ctx.audit(
        "self_reports.submit",
        target=_target(row.report_id),
        details={"uscc": uscc, "topic": topic, "department": row.department, "due": row.due},
    )
    return SubmittedReport(
        **SelfReportView.of(row, today=ctx.today).model_dump(),
        attached=[DocumentView.of(c) for c in checked.values()],
    )


def _handled(ctx: Context, report_id: str, act: str) -> self_reports.SelfReport:
    row = self_reports.get(ctx.session, report_id)
    own_department(ctx, row.department, what=f"self-report {report_id}", act=act, rule=WHO_VERIFIES)
    return row


@use_case("self_reports.verify", roles=DECIDERS, target="self_report:{report_id}")
def verify(
    ctx: Context, report_id: str, *, on: date | None = None, backdate_reason: str | None = None
) -> SelfReportView:
    """Verify (核实): the report enters the lake as a verified self_reports row."""
    _handled(ctx, report_id, "verify")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = self_reports.verify(ctx.session, report_id, actor=ctx.lifecycle_actor, on=day, lake=ctx.lake)
    ctx.audit("self_reports.verify", target=_target(report_id), details={"on": day, "uscc": row.uscc})
    return SelfReportView.of(row, today=ctx.today)


@use_case("self_reports.reject", roles=DECIDERS, target="self_report:{report_id}")
def reject(
    ctx: Context,
    report_id: str,
    *,
    reason: str,
    on: date | None = None,
    backdate_reason: str | None = None,
) -> SelfReportView:
    """Reject with a reason (required): the report never enters the lake."""
    _handled(ctx, report_id, "reject")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = self_reports.reject(
        ctx.session, report_id, actor=ctx.lifecycle_actor, on=day, reason=reason, lake=ctx.lake
    )
    ctx.audit("self_reports.reject", target=_target(report_id), details={"on": day, "uscc": row.uscc})
    return SelfReportView.of(row, today=ctx.today)


@use_case("self_reports.list", roles=READERS)
def list_reports(
    ctx: Context, *, status: Literal["submitted", "verified", "rejected"] | None = None
) -> list[SelfReportView]:
    """Staff: the reports their department verifies; an entity: its own."""
    if ctx.actor.role is Role.ENTITY:
        assert ctx.actor.uscc is not None  # check_role refuses an entity identity without one
        rows = self_reports.list_reports(ctx.session, uscc=ctx.actor.uscc, status=status)
        target = f"uscc:{ctx.actor.uscc}"
    else:
        department = ctx.department()
        rows = self_reports.list_reports(ctx.session, department=department, status=status)
        target = f"department:{department}"
    ctx.audit("self_reports.list", target=target, details={"status": status, "rows": len(rows)}, read=True)
    views = [SelfReportView.of(r, today=ctx.today) for r in rows]
    if ctx.actor.role is Role.ENTITY:  # the deciding staff member's identity is not the entity's to see
        views = [v.model_copy(update={"decided_by": None}) for v in views]
    return views
