"""Joint-punishment lists (失信联合惩戒对象名单): propose with the prior notice, approve (四眼原则), list,
rectify, interview, exit; the listing department's reads; the outbox and its webhook subscribers.

The department that lists is the actor's (its token). Only a supervisor of the listing department approves,
lists, withdraws, records the rectification, interviews or exits a case (谁认定、谁约谈, 国办发〔2019〕35号
§(九)); a department reads only its own cases. Where the lifecycle policy asks for it
(``[lists] second_approver_levels``, SAMR Order 44: city and county departments) a listing needs a second
approver: another person of the same department, before ``list``.

A listing stands on a record of the lake that meets the list's criteria (``[list_criteria]`` of the
lifecycle policy): the proposal needs one on the proposal day, the listing names one (``basis_document_no``)
in force on the listing day. Entering and leaving a list change the entity's features: ``list``, the exit on
application and the automatic exit re-score the entity at once and return what that did.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serving import rescore
from serving.services.context import Context, own_entity, use_case
from serving.services.lifecycle_types import (
    OWN_CASES,
    WHO_LISTS,
    Rescored,
    decision_day,
    own_department,
    read_day,
)
from supervision.lifecycle import lists, subscriptions
from supervision.platform.access import Role
from supervision.platform.errors import ConflictError, ForbiddenError

__all__ = [
    "Delivery",
    "ListCaseDecision",
    "ListCaseView",
    "ListEventView",
    "OverdueListing",
    "PersonFlag",
    "SubscriberView",
    "approve",
    "deliver",
    "events",
    "exit_on_application",
    "expire",
    "get",
    "interview",
    "interviews_due",
    "list_case",
    "overdue",
    "person_file",
    "propose",
    "publish",
    "rectify",
    "respond",
    "subscribe",
    "withdraw",
]

SUPERVISOR = (Role.SUPERVISOR,)
RESPONDERS = (Role.SUPERVISOR, Role.SYSTEM, Role.ENTITY)
READERS = (Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST)
# Person keys are for supervisors and analysts only (supervision/platform/masking.py).
PERSON_READERS = (Role.SUPERVISOR, Role.ANALYST)
FOUR_EYES = (
    "四眼原则: a listing by a department of a level in the lifecycle policy's [lists] second_approver_levels "
    "(SAMR Order 44: city and county) is approved by a second person of that department"
)


class AccountablePerson(BaseModel):
    model_config = ConfigDict(frozen=True)

    person_key: str
    relation_type: str


class ListCaseView(BaseModel):
    """One listing case: the prior notice, the listing and its periods, exits, and who proposed and
    approved."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    uscc: str
    list_type: str
    department: str = Field(description="the listing department (谁认定、谁约谈)")
    reasons: str
    basis: str
    status: Literal["proposed", "listed", "rectified", "withdrawn", "exited"]
    proposed_on: date
    notice: str
    response_due: date
    response: str | None
    basis_document_no: str | None
    listed_on: date | None
    rectification_due: date | None
    rectified_on: date | None
    interviewed_on: date | None
    min_exit_on: date | None
    max_end: date | None
    exited_on: date | None
    exit_reason: str | None
    accountable: list[AccountablePerson]
    rules: dict[str, Any]
    proposed_by: str | None
    proposer_person_id: str | None
    approved_by: str | None = Field(description="the second approver (四眼原则), once approved")
    approver_person_id: str | None
    approved_on: date | None
    publish_due: date | None = Field(
        description="the listing is published by this day (list.publish, working days from the listing)"
    )
    published_on: date | None

    @classmethod
    def of(cls, row: lists.ListCase) -> ListCaseView:
        return cls.model_validate(row.as_dict())


class ListCaseDecision(ListCaseView):
    """A listing or an exit and what re-scoring the entity did (its features change with the list)."""

    rescore: Rescored


class OverdueListing(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    department: str
    uscc: str
    status: str
    deadline: Literal["publish"]
    due: date
    working_days_late: int


class PersonFlag(BaseModel):
    """One listing of an entity the person was legal representative or actual controller of when listed."""

    model_config = ConfigDict(frozen=True)

    case_id: str = Field(description="the case decided here, or the lake's entry id")
    uscc: str
    list_type: str
    relation_type: str
    listed_on: date
    active: bool
    source: Literal["case", "lake"] = Field(description="a case decided here, or an ingested list entry")
    authority: str = Field(description="the listing department or authority")


class ListEventView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    at: datetime
    event: Literal["listed", "exited"]
    case_id: str
    uscc: str
    list_type: str
    on: date
    reason: str | None


class SubscriberView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    url: str
    active: bool
    last_event_id: int
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


class Delivery(BaseModel):
    model_config = ConfigDict(frozen=True)

    subscriber: str
    delivered: int
    status: int | None = Field(
        description="the webhook's HTTP status (0: unreachable; null: nothing to send)"
    )
    retry_at: datetime | None = None


def _target(case_id: str) -> str:
    return f"list:{case_id}"


def _listing(ctx: Context, case_id: str, act: str) -> lists.ListCase:
    """The case, if the actor is of its listing department (谁认定、谁约谈)."""
    row = lists.get(ctx.session, case_id)
    own_department(ctx, row.department, what=f"list case {case_id}", act=act, rule=WHO_LISTS)
    return row


def _rescored(
    ctx: Context, row: lists.ListCase, on: date, event: str, decision: rescore.DecisionRef | None
) -> ListCaseDecision:
    """The case and the entity re-scored now, on the lake as the decision of ``on`` left it; ``decision`` is
    the lake row it wrote (compared without it), None for an exit at the maximum (the entry's planned end
    already ends it in the lake: nothing to compare, the after-score is recorded)."""
    result = rescore.rescore(
        ctx.session,
        ctx.settings,
        uscc=row.uscc,
        on=on,
        reason=f"list case {row.case_id} {event} ({row.list_type})",
        decision=() if decision is None else decision,
        champion=ctx.champion,
    )
    return ListCaseDecision(**ListCaseView.of(row).model_dump(), rescore=Rescored.of(result))


def _needs_second_approver(ctx: Context) -> bool:
    """Whether a listing by the actor's department needs a second approver: its level is in the policy's
    list, or unknown (a token without a division cannot show that it is exempt)."""
    level = ctx.actor.level
    return level is None or level in ctx.policy().second_approver_levels


@use_case("lists.propose", roles=SUPERVISOR)
def propose(
    ctx: Context,
    *,
    uscc: str,
    list_type: str,
    reasons: str,
    basis: str,
    on: date | None = None,
    backdate_reason: str | None = None,
) -> ListCaseView:
    """Open a case for the actor's department with the prior notice (reasons, basis, the party's rights and
    response deadline); the proposer is recorded for the four-eyes rule."""
    department = ctx.department()
    day = decision_day(ctx, on, field="proposed_on", backdate_reason=backdate_reason)
    row = lists.propose(
        ctx.session,
        ctx.sources(),
        actor=ctx.lifecycle_actor,
        uscc=uscc,
        list_type=list_type,
        department=department,
        reasons=reasons,
        basis=basis,
        proposed_on=day,
        policy=ctx.policy(),
        person_id=ctx.actor.person_id,
    )
    ctx.audit(
        "lists.propose",
        target=_target(row.case_id),
        details={"uscc": uscc, "list_type": list_type, "on": day, "response_due": row.response_due},
    )
    return ListCaseView.of(row)


@use_case("lists.approve", roles=SUPERVISOR)
def approve(
    ctx: Context, case_id: str, *, on: date | None = None, backdate_reason: str | None = None
) -> ListCaseView:
    """The second approver of a proposed listing (四眼原则): a person of the listing department other than
    the proposer."""
    row = _listing(ctx, case_id, "approve")
    person = ctx.actor.person_id
    if person is None:
        raise ForbiddenError(
            f"list case {case_id}: {ctx.actor.actor} has no person id; the second approver is a named person "
            f"({FOUR_EYES}): act with a token issued with --person",
            field="actor.person_id",
        )
    if person == row.proposer_person_id or ctx.actor.actor == row.proposed_by:
        raise ForbiddenError(
            f"list case {case_id}: proposed by {row.proposed_by} ({row.proposer_person_id}); the approver "
            f"must be another person ({FOUR_EYES})",
            field="actor.person_id",
        )
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = lists.approve(ctx.session, case_id, actor=ctx.lifecycle_actor, on=day, person_id=person)
    ctx.audit(
        "lists.approve",
        target=_target(case_id),
        details={"on": day, "proposed_by": row.proposed_by, "level": ctx.actor.level},
    )
    return ListCaseView.of(row)


@use_case("lists.respond", roles=RESPONDERS)
def respond(ctx: Context, case_id: str, *, response: str) -> ListCaseView:
    """Record the party's statement (陈述申辩) on a proposed case: made by the entity itself on its own case
    (once, by the notice's response deadline), brought by a government system for the party, or taken down by
    the listing department."""
    entity = ctx.actor.role is Role.ENTITY
    if entity:
        case = lists.get(ctx.session, case_id)
        own_entity(ctx, case.uscc, what=f"list case {case_id}")
        if case.status == "proposed" and ctx.today > case.response_due:
            raise ConflictError(
                f"list case {case_id}: the statement was due by {case.response_due.isoformat()} (the prior "
                "notice's response deadline, list.notice_response); contact the listing department",
                field="response",
            )
        if case.response is not None:
            raise ConflictError(f"list case {case_id}: a statement is already recorded", field="response")
    elif ctx.actor.role is not Role.SYSTEM:
        _listing(ctx, case_id, "take the response for")
    row = lists.respond(ctx.session, case_id, actor=ctx.lifecycle_actor, response=response)
    ctx.audit("lists.respond", target=_target(case_id), details={"length": len(response)})
    view = ListCaseView.of(row)
    if entity:  # the staff's identities and the persons' keys are not the entity's to see
        hidden: dict[str, Any] = {
            "accountable": [],
            "proposer_person_id": None,
            "approver_person_id": None,
            "proposed_by": None,
            "approved_by": None,
        }
        view = view.model_copy(update=hidden)
    return view


@use_case("lists.withdraw", roles=SUPERVISOR)
def withdraw(
    ctx: Context, case_id: str, *, reasons: str, on: date | None = None, backdate_reason: str | None = None
) -> ListCaseView:
    """Drop a proposal (e.g. the party's response convinced the department)."""
    _listing(ctx, case_id, "withdraw")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = lists.withdraw(ctx.session, case_id, actor=ctx.lifecycle_actor, on=day, reasons=reasons)
    ctx.audit("lists.withdraw", target=_target(case_id), details={"on": day})
    return ListCaseView.of(row)


@use_case("lists.list", roles=SUPERVISOR)
def list_case(
    ctx: Context,
    case_id: str,
    *,
    basis_document_no: str,
    on: date | None = None,
    backdate_reason: str | None = None,
) -> ListCaseDecision:
    """List the entity on the basis document, a record of the entity meeting the list's criteria (the second
    approver first, where the policy asks for one); fixes the rectification, publication, minimum and
    maximum dates; the lake and the outbox get the listing and the entity is re-scored at once."""
    row = _listing(ctx, case_id, "list")
    lists.MACHINE.next_state(case_id, row.status, "list")  # a case past `proposed` is a conflict first
    if row.approved_on is None and _needs_second_approver(ctx):
        level = ctx.actor.level or "unknown-level"
        raise ForbiddenError(
            f"list case {case_id}: a listing by a {level} department needs a second approver first "
            f"({FOUR_EYES}): another person of {row.department} approves it "
            f"(`creditwatch lists approve {case_id}`, "
            f"POST /lists/{case_id}/approve)",
            field="approved_by",
        )
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = lists.list_case(
        ctx.session,
        case_id,
        ctx.sources(),
        actor=ctx.lifecycle_actor,
        on=day,
        basis_document_no=basis_document_no,
        lake=ctx.lake,
        policy=ctx.policy(),
    )
    # supervision.lifecycle.lists: a listing writes its list_entries row under the case id.
    decision = _rescored(ctx, row, day, "listed", rescore.DecisionRef("list_entries", row.case_id))
    ctx.audit(
        "lists.list",
        target=_target(case_id),
        details={
            "on": day,
            "basis_document_no": basis_document_no,
            "approved_by": row.approved_by,
            "rescore": decision.rescore.status,
        },
    )
    return decision


@use_case("lists.publish", roles=SUPERVISOR)
def publish(
    ctx: Context, case_id: str, *, on: date | None = None, backdate_reason: str | None = None
) -> ListCaseView:
    """Record that the listing was published (名单公示), by the listing department."""
    _listing(ctx, case_id, "publish")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = lists.publish(ctx.session, case_id, actor=ctx.lifecycle_actor, on=day)
    late = row.publish_due is not None and day > row.publish_due
    ctx.audit("lists.publish", target=_target(case_id), details={"on": day, "late": late})
    return ListCaseView.of(row)


@use_case("lists.rectify", roles=SUPERVISOR)
def rectify(
    ctx: Context, case_id: str, *, on: date | None = None, backdate_reason: str | None = None
) -> ListCaseView:
    """Record that the party rectified (整改到位)."""
    _listing(ctx, case_id, "record the rectification of")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = lists.rectify(ctx.session, case_id, actor=ctx.lifecycle_actor, on=day)
    ctx.audit("lists.rectify", target=_target(case_id), details={"on": day})
    return ListCaseView.of(row)


@use_case("lists.interview", roles=SUPERVISOR)
def interview(
    ctx: Context, case_id: str, *, reason: str, on: date | None = None, backdate_reason: str | None = None
) -> ListCaseView:
    """The listing department's warning interview after the rectification deadline (谁认定、谁约谈)."""
    _listing(ctx, case_id, "interview")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = lists.interview(
        ctx.session,
        case_id,
        actor=ctx.lifecycle_actor,
        on=day,
        department=ctx.department(),
        reason=reason,
        lake=ctx.lake,
    )
    ctx.audit("lists.interview", target=_target(case_id), details={"on": day})
    return ListCaseView.of(row)


@use_case("lists.exit", roles=SUPERVISOR)
def exit_on_application(
    ctx: Context, case_id: str, *, on: date | None = None, backdate_reason: str | None = None
) -> ListCaseDecision:
    """Early exit on application: rectified, and the minimum period has passed; the entity is re-scored."""
    _listing(ctx, case_id, "exit")
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    row = lists.exit_on_application(ctx.session, case_id, actor=ctx.lifecycle_actor, on=day, lake=ctx.lake)
    # ... and an exit on application a repairs row EXIT-<case id> that ends the entry.
    decision = _rescored(
        ctx, row, day, "exited on application", rescore.DecisionRef("repairs", f"EXIT-{row.case_id}")
    )
    ctx.audit("lists.exit", target=_target(case_id), details={"on": day, "rescore": decision.rescore.status})
    return decision


@use_case("lists.expire", roles=SUPERVISOR)
def expire(
    ctx: Context, *, on: date | None = None, backdate_reason: str | None = None
) -> list[ListCaseDecision]:
    """Exit every case of the actor's department whose maximum period has ended (dated at the maximum);
    each entity is re-scored as of its exit."""
    department = ctx.department()
    day = decision_day(ctx, on, backdate_reason=backdate_reason)
    rows = lists.expire(ctx.session, actor=ctx.lifecycle_actor, on=day, department=department)
    decisions = []
    for row in rows:
        assert row.exited_on is not None  # the maximum's end
        decisions.append(_rescored(ctx, row, row.exited_on, "expired", None))
    ctx.audit(
        "lists.expire",
        target=f"department:{department}",
        details={"on": day, "cases": [row.case_id for row in rows]},
    )
    return decisions


@use_case("lists.interviews_due", roles=READERS)
def interviews_due(
    ctx: Context, *, on: date | None = None, backdate_reason: str | None = None
) -> list[ListCaseView]:
    """The actor's department's listed cases past the rectification deadline, not yet interviewed."""
    department = ctx.department()
    day = read_day(ctx, on)
    rows = lists.interviews_due(ctx.session, on=day, department=department)
    ctx.audit(
        "lists.interviews_due",
        target=f"department:{department}",
        details={"on": day, "rows": len(rows)},
        read=True,
    )
    return [ListCaseView.of(row) for row in rows]


@use_case("lists.overdue", roles=READERS)
def overdue(ctx: Context, *, on: date | None = None) -> list[OverdueListing]:
    """The actor's department's listed cases not published by their publication deadline on `on`."""
    department = ctx.department()
    day = read_day(ctx, on)
    rows = lists.overdue(ctx.session, on=day, department=department)
    ctx.audit(
        "lists.overdue",
        target=f"department:{department}",
        details={"on": day, "rows": len(rows)},
        read=True,
    )
    return [OverdueListing.model_validate(r) for r in rows]


@use_case("lists.person", roles=PERSON_READERS)
def person_file(ctx: Context, person_key: str) -> list[PersonFlag]:
    """A person's accountability flags across every listing, decided here or ingested into the lake (the
    court's, another department's): a listing is published (名单公示) and joint punishment (联合惩戒) is every
    department's to apply, so this is not filtered."""
    flags = lists.person_flags(ctx.session, ctx.sources(), person_key, on=ctx.today)
    ctx.audit("lists.person", target=f"person:{person_key}", details={"rows": len(flags)}, read=True)
    return [PersonFlag.model_validate(flag) for flag in flags]


@use_case("lists.get", roles=READERS)
def get(ctx: Context, case_id: str) -> ListCaseView:
    """One case of the actor's department (another department's is refused)."""
    row = lists.get(ctx.session, case_id)
    own_department(ctx, row.department, what=f"list case {case_id}", act="read", rule=OWN_CASES)
    ctx.audit("lists.get", target=_target(case_id), read=True)
    return ListCaseView.of(row)


@use_case("lists.events", roles=(Role.SYSTEM,))
def events(ctx: Context, *, after: int = 0, limit: int = 500) -> list[ListEventView]:
    """The outbox of enter/exit events after an id (a subscriber polls with the last id it saw)."""
    rows = lists.events_after(ctx.session, after, limit=limit)
    ctx.audit("lists.events", target="list_events", details={"after": after, "rows": len(rows)}, read=True)
    return [ListEventView.model_validate(row.as_dict()) for row in rows]


@use_case("lists.subscribe", roles=(Role.ADMIN,))
def subscribe(ctx: Context, *, name: str, url: str, from_event: int = 0) -> SubscriberView:
    """Register a webhook subscriber of list enter/exit events (an administrator: events leave the system)."""
    row = subscriptions.subscribe(ctx.session, name=name, url=url, now=ctx.clock.now(), from_event=from_event)
    ctx.audit("lists.subscribe", target=f"subscriber:{row.id}", details={"name": name, "url": url})
    return SubscriberView.model_validate(row.as_dict())


@use_case("lists.deliver", roles=(Role.ADMIN,), local=True)
def deliver(ctx: Context) -> list[Delivery]:
    """One delivery round to the due subscribers (a scheduler on the server runs it; failures back off)."""
    report = subscriptions.deliver_due(ctx.session, now=ctx.clock.now())
    ctx.audit(
        "lists.deliver",
        target="event_subscribers",
        details={"delivered": sum(r["delivered"] for r in report), "subscribers": len(report)},
    )
    return [Delivery.model_validate(r) for r in report]
