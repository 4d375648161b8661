"""The department's queue of what entities (and others) filed and it has to decide, each on its clock.

Objections (filed: to mark, then to decide; marked: to decide), repair applications (applied: to accept;
accepted: to decide), self-reports (submitted: to verify or reject) and statements (陈述申辩: a proposed
listing whose party has answered, awaiting the department's decision). Every item carries its due day and
the working days from today to it (negative: that many working days late), counted on the State Council
calendar (:mod:`supervision.platform.calendar`), and the actions its state allows. A department sees only its
own queue; the decisions are the existing use cases (objections, repairs, self-reports).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from serving.services.context import Context, use_case
from serving.services.lifecycle_types import read_day
from supervision.lifecycle import lists, objections, repairs, self_reports
from supervision.lifecycle.documents import repair_documents
from supervision.platform.access import Role
from supervision.platform.calendar import working_days_between

__all__ = ["Queue", "QueueItem", "list_queue"]

READERS = (Role.SUPERVISOR, Role.INSPECTOR)
Kind = Literal["objection", "repair", "self_report", "statement"]


class QueueItem(BaseModel):
    """One open item: what, whose, in which state, the clock that runs and what may be done now."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    item_id: str = Field(description="objection, repair, self-report or list case id")
    uscc: str
    status: str
    filed_on: date = Field(description="filed, applied, submitted or proposed on")
    summary: str = Field(description="the record, topic or list concerned")
    detail: str | None = Field(None, description="grounds, content or the party's statement")
    clock: Literal["mark", "decide", "accept", "verify", "statement"] = Field(
        description="the deadline that runs: mark (异议处理中), decide, accept (受理), verify, or the end of "
        "the statement period (a listing decided after it)"
    )
    due: date
    working_days_left: int = Field(
        description="working days from today to `due` (0: due today; negative: that many working days late)"
    )
    late: bool
    actions: list[str] = Field(description="the decisions its state allows (the forms of /ui/queues)")
    documents: dict[str, str] = Field(
        default_factory=dict, description="attached documents: route or file → SHA-256"
    )


class Queue(BaseModel):
    """The department's open items, the most urgent first."""

    model_config = ConfigDict(frozen=True)

    department: str
    on: date = Field(description="the day the clocks are read on (today in China)")
    items: list[QueueItem]
    counts: dict[str, int] = Field(description="open items by kind")


def _item(
    today: date,
    *,
    kind: Kind,
    item_id: str,
    uscc: str,
    status: str,
    filed_on: date,
    summary: str,
    detail: str | None,
    clock: Literal["mark", "decide", "accept", "verify", "statement"],
    due: date,
    actions: list[str],
    documents: dict[str, str] | None = None,
) -> QueueItem:
    left = working_days_between(today, due)
    return QueueItem(
        kind=kind,
        item_id=item_id,
        uscc=uscc,
        status=status,
        filed_on=filed_on,
        summary=summary,
        detail=detail,
        clock=clock,
        due=due,
        working_days_left=left,
        late=today > due,
        actions=actions,
        documents=documents or {},
    )


def _objections(ctx: Context, department: str, today: date) -> list[QueueItem]:
    out = []
    for row in objections.list_objections(ctx.session, department=department):
        if row.status not in ("filed", "marked"):
            continue
        # Filed: the mark (异议处理中) is due first; marked: the decision.
        filed = row.status == "filed"
        out.append(
            _item(
                today,
                kind="objection",
                item_id=row.objection_id,
                uscc=row.uscc,
                status=row.status,
                filed_on=row.filed_on,
                summary=f"{row.record_table}:{row.record_id}",
                detail=row.grounds,
                clock="mark" if filed else "decide",
                due=row.mark_due if filed else row.decide_due,
                actions=["mark"] if filed else ["uphold", "reject"],
            )
        )
    return out


def _repairs(ctx: Context, department: str, today: date) -> list[QueueItem]:
    out = []
    for row in repairs.list_repairs(ctx.session, department=department):
        if row.status == "applied":
            clock, due, actions = "accept", row.accept_due, ["accept", "reject"]
        elif row.status == "accepted" and row.decide_due is not None:
            clock, due, actions = "decide", row.decide_due, ["approve", "reject"]
        else:
            continue
        out.append(
            _item(
                today,
                kind="repair",
                item_id=row.repair_id,
                uscc=row.uscc,
                status=row.status,
                filed_on=row.applied_on,
                summary=f"{row.record_table}:{row.record_id}",
                detail=row.commitment,
                clock=clock,  # type: ignore[arg-type]  # one of the two literals above
                due=due,
                actions=actions,
                documents=repair_documents(ctx.session, row.repair_id),
            )
        )
    return out


def _self_reports(ctx: Context, department: str, today: date) -> list[QueueItem]:
    return [
        _item(
            today,
            kind="self_report",
            item_id=row.report_id,
            uscc=row.uscc,
            status=row.status,
            filed_on=row.submitted_on,
            summary=row.topic,
            detail=row.content,
            clock="verify",
            due=row.due,
            actions=["verify", "reject"],
            documents={f"document_{i + 1}": sha for i, sha in enumerate(row.documents or [])},
        )
        for row in self_reports.list_reports(ctx.session, department=department, status="submitted")
    ]


def _statements(ctx: Context, department: str, today: date) -> list[QueueItem]:
    rows = ctx.session.scalars(
        sa.select(lists.ListCase)
        .where(
            lists.ListCase.department == department,
            lists.ListCase.status == "proposed",
            lists.ListCase.response.is_not(None),
        )
        .order_by(lists.ListCase.proposed_on, lists.ListCase.case_id)
    )
    return [
        _item(
            today,
            kind="statement",
            item_id=row.case_id,
            uscc=row.uscc,
            status=row.status,
            filed_on=row.proposed_on,
            summary=row.list_type,
            detail=row.response,
            clock="statement",
            due=row.response_due,
            actions=["list", "withdraw"],
        )
        for row in rows
    ]


@use_case("queues.list", roles=READERS)
def list_queue(ctx: Context, *, kind: Kind | None = None) -> Queue:
    """The actor's department's open items (of one `kind`, if given), the earliest due first."""
    department = ctx.department()
    today = read_day(ctx, None)
    makers = {
        "objection": _objections,
        "repair": _repairs,
        "self_report": _self_reports,
        "statement": _statements,
    }
    items = [
        item
        for name, make in makers.items()
        if kind is None or kind == name
        for item in make(ctx, department, today)
    ]
    items.sort(key=lambda i: (i.due, i.kind, i.item_id))
    counts = {
        name: sum(1 for i in items if i.kind == name) for name in makers if kind is None or kind == name
    }
    ctx.audit(
        "queues.list",
        target=f"department:{department}",
        details={"kind": kind, "rows": len(items)},
        read=True,
    )
    return Queue(department=department, on=today, items=items, counts=counts)
