"""``creditwatch lists``: Joint-punishment lists: notice, approval, listing, interview, exit; outbox,
webhooks.

Every command calls one service of :mod:`serving.services.lists` as the holder of ``--as TOKEN``: the listing
department is the actor's, only it acts on or reads its cases (谁认定、谁约谈), and a listing needs a second
approver of that department where the lifecycle policy asks for one (四眼原则).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from serving.cli.state import BackdateOpt, OnOpt, State, UsccOpt
from serving.services import lists

lists_app = typer.Typer(no_args_is_help=True)

CASE_COLUMNS = [
    "case_id",
    "uscc",
    "list_type",
    "department",
    "status",
    "listed_on",
    "publish_due",
    "exited_on",
]


def register(root: typer.Typer) -> None:
    root.add_typer(
        lists_app, name="lists", help="Joint-punishment lists: notice, approval, listing, interview, exit."
    )


def _case(state: State, row: lists.ListCaseView) -> None:
    state.show(row.model_dump(), "list case")


def _cases(state: State, rows: Sequence[lists.ListCaseView], title: str) -> None:
    payload = [row.model_dump() for row in rows]
    state.emit(payload, rows=payload, columns=CASE_COLUMNS, title=title)


@lists_app.command("propose")
def list_propose(
    ctx: typer.Context,
    uscc: UsccOpt,
    list_type: Annotated[str, typer.Option("--type", help="severe_dishonesty, abnormal_operations, ...")],
    reasons: Annotated[str, typer.Option("--reasons")],
    basis: Annotated[str, typer.Option("--basis")],
    on: OnOpt = None,
    backdate: BackdateOpt = None,
) -> None:
    """Open a case of your department and print the prior notice (reasons, rights, response deadline)."""
    state: State = ctx.obj
    with state.context() as c:
        row = lists.propose(
            c,
            uscc=uscc,
            list_type=list_type,
            reasons=reasons,
            basis=basis,
            on=state.day(on),
            backdate_reason=backdate,
        )
    _case(state, row)


@lists_app.command("approve")
def list_approve(ctx: typer.Context, case_id: str, on: OnOpt = None, backdate: BackdateOpt = None) -> None:
    """Approve a proposed listing as its second approver (四眼原则): another person of the department."""
    state: State = ctx.obj
    with state.context() as c:
        row = lists.approve(c, case_id, on=state.day(on), backdate_reason=backdate)
    _case(state, row)


@lists_app.command("respond")
def list_respond(
    ctx: typer.Context, case_id: str, response: Annotated[str, typer.Option("--response")]
) -> None:
    """Record the party's statement (陈述申辩) on a proposed case."""
    state: State = ctx.obj
    with state.context() as c:
        row = lists.respond(c, case_id, response=response)
    _case(state, row)


@lists_app.command("withdraw")
def list_withdraw(
    ctx: typer.Context,
    case_id: str,
    reasons: Annotated[str, typer.Option("--reasons")],
    on: OnOpt = None,
    backdate: BackdateOpt = None,
) -> None:
    """Drop a proposal (e.g. the party's response convinced the department)."""
    state: State = ctx.obj
    with state.context() as c:
        row = lists.withdraw(c, case_id, reasons=reasons, on=state.day(on), backdate_reason=backdate)
    _case(state, row)


@lists_app.command("list")
def list_list(
    ctx: typer.Context,
    case_id: str,
    document: Annotated[str, typer.Option("--document", help="basis document number")],
    on: OnOpt = None,
    backdate: BackdateOpt = None,
) -> None:
    """List the entity on the basis document (approved first where the policy asks for a second approver)."""
    state: State = ctx.obj
    with state.context() as c:
        row = lists.list_case(
            c, case_id, basis_document_no=document, on=state.day(on), backdate_reason=backdate
        )
    _case(state, row)


@lists_app.command("publish")
def list_publish(ctx: typer.Context, case_id: str, on: OnOpt = None, backdate: BackdateOpt = None) -> None:
    """Record that the listing was published (名单公示), on or after the listing day."""
    state: State = ctx.obj
    with state.context() as c:
        row = lists.publish(c, case_id, on=state.day(on), backdate_reason=backdate)
    _case(state, row)


@lists_app.command("rectified")
def list_rectified(ctx: typer.Context, case_id: str, on: OnOpt = None, backdate: BackdateOpt = None) -> None:
    """Record that the party rectified (整改到位)."""
    state: State = ctx.obj
    with state.context() as c:
        row = lists.rectify(c, case_id, on=state.day(on), backdate_reason=backdate)
    _case(state, row)


@lists_app.command("interview")
def list_interview(
    ctx: typer.Context,
    case_id: str,
    reason: Annotated[str, typer.Option("--reason")],
    on: OnOpt = None,
    backdate: BackdateOpt = None,
) -> None:
    """Your department's interview of a party it listed, after the rectification deadline (谁认定、谁约谈)."""
    state: State = ctx.obj
    with state.context() as c:
        row = lists.interview(c, case_id, reason=reason, on=state.day(on), backdate_reason=backdate)
    _case(state, row)


@lists_app.command("exit")
def list_exit(ctx: typer.Context, case_id: str, on: OnOpt = None, backdate: BackdateOpt = None) -> None:
    """Early exit on application (rectified, minimum period passed)."""
    state: State = ctx.obj
    with state.context() as c:
        row = lists.exit_on_application(c, case_id, on=state.day(on), backdate_reason=backdate)
    _case(state, row)


@lists_app.command("expire")
def list_expire(ctx: typer.Context, on: OnOpt = None, backdate: BackdateOpt = None) -> None:
    """Exit every case of your department whose maximum period has ended."""
    state: State = ctx.obj
    with state.context() as c:
        rows = lists.expire(c, on=state.day(on), backdate_reason=backdate)
    _cases(state, rows, "expired")


@lists_app.command("show")
def list_show(ctx: typer.Context, case_id: str) -> None:
    """One case of your department."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        row = lists.get(c, case_id)
    _case(state, row)


@lists_app.command("interviews-due")
def list_interviews_due(ctx: typer.Context, on: OnOpt = None) -> None:
    """Your department's listed cases past the rectification deadline, not yet interviewed."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = lists.interviews_due(c, on=state.day(on))
    _cases(state, rows, "interviews due")


@lists_app.command("overdue")
def list_overdue(ctx: typer.Context, on: OnOpt = None) -> None:
    """Your department's listed cases not published by their publication deadline (exit 1 if any)."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [row.model_dump() for row in lists.overdue(c, on=state.day(on))]
    state.show(rows, "listings not published in time")
    if rows:
        raise typer.Exit(1)


@lists_app.command("person")
def list_person(ctx: typer.Context, person_key: str) -> None:
    """A person's credit file: every listing (decided here or ingested) of an entity the person was legal
    representative or actual controller of when it was listed."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [flag.model_dump() for flag in lists.person_file(c, person_key)]
    state.show(rows, "personal accountability")


@lists_app.command("events")
def list_events(ctx: typer.Context, after: Annotated[int, typer.Option("--after", min=0)] = 0) -> None:
    """The outbox of list enter/exit events after an id."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [event.model_dump() for event in lists.events(c, after=after)]
    state.show(rows, "list events")


@lists_app.command("subscribe")
def list_subscribe(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="the subscribing system")],
    url: Annotated[str, typer.Option("--url", help="its webhook (http or https)")],
    from_event: Annotated[int, typer.Option("--from-event", min=0, help="deliver events after this id")] = 0,
) -> None:
    """Register a webhook subscriber of list enter/exit events (administrators)."""
    state: State = ctx.obj
    with state.context() as c:
        row = lists.subscribe(c, name=name, url=url, from_event=from_event)
    state.emit(row.model_dump())


@lists_app.command("deliver")
def list_deliver(ctx: typer.Context) -> None:
    """One delivery round to due subscribers (run it from a scheduler; failures back off and retry)."""
    state: State = ctx.obj
    with state.context() as c:
        rows = [delivery.model_dump() for delivery in lists.deliver(c)]
    state.show(rows, "deliveries")
