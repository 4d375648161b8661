"""``creditwatch objections``: Objections (异议): file, mark, decide, withdrawn, show, list, overdue.

Every command calls one service of :mod:`serving.services.objections` as the holder of ``--as TOKEN``: the
department handling an objection is the filer's own, and only it marks, decides or reads it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from serving.cli.state import BackdateOpt, OnOpt, State, UsccOpt
from serving.services import objections

objections_app = typer.Typer(no_args_is_help=True)

COLUMNS = ["objection_id", "uscc", "record_id", "department", "status", "mark_due", "decide_due"]


def register(root: typer.Typer) -> None:
    root.add_typer(
        objections_app,
        name="objections",
        help="Objections (异议): file, mark, decide, withdrawn, show, list, overdue.",
    )


@objections_app.command("file")
def objection_file(
    ctx: typer.Context,
    uscc: UsccOpt,
    record_table: Annotated[
        str, typer.Option("--table", help="table of the disputed record, e.g. penalties")
    ],
    record_id: Annotated[str, typer.Option("--record", help="the disputed record's id")],
    grounds: Annotated[str, typer.Option("--grounds")],
    department: Annotated[
        str | None,
        typer.Option(
            "--department",
            help="only a system filing for a party: the department that handles it "
            "(a person files with their own)",
        ),
    ] = None,
    on: OnOpt = None,
    backdate: BackdateOpt = None,
) -> None:
    """File an objection with your department; prints its deadlines (working days)."""
    state: State = ctx.obj
    with state.context() as c:
        row = objections.file(
            c,
            uscc=uscc,
            record_table=record_table,
            record_id=record_id,
            grounds=grounds,
            department=department,
            on=state.day(on),
            backdate_reason=backdate,
        )
    state.show(row.model_dump(), "objection")


@objections_app.command("mark")
def objection_mark(
    ctx: typer.Context, objection_id: str, on: OnOpt = None, backdate: BackdateOpt = None
) -> None:
    """Mark the disputed record 异议处理中."""
    state: State = ctx.obj
    with state.context() as c:
        row = objections.mark(c, objection_id, on=state.day(on), backdate_reason=backdate)
    state.show(row.model_dump(), "objection")


@objections_app.command("decide")
def objection_decide(
    ctx: typer.Context,
    objection_id: str,
    reasons: Annotated[str, typer.Option("--reasons")],
    upheld: Annotated[bool, typer.Option("--upheld/--rejected")] = False,
    resolution: Annotated[str | None, typer.Option("--resolution", help="corrected or revoked")] = None,
    on: OnOpt = None,
    backdate: BackdateOpt = None,
) -> None:
    """Uphold (record corrected or revoked; the lake gets the decision, the entity is re-scored) or reject."""
    state: State = ctx.obj
    with state.context() as c:
        row = objections.decide(
            c,
            objection_id,
            upheld=upheld,
            reasons=reasons,
            resolution=resolution,
            on=state.day(on),
            backdate_reason=backdate,
        )
    state.show(row.model_dump(), "objection")


@objections_app.command("withdrawn")
def objection_withdrawn(
    ctx: typer.Context, objection_id: str, on: OnOpt = None, backdate: BackdateOpt = None
) -> None:
    """Record that the publication of the decision an upheld objection changed or revoked was withdrawn
    (due within 3 working days of the decision, SAMR Order 45 art 11)."""
    state: State = ctx.obj
    with state.context() as c:
        row = objections.withdraw(c, objection_id, on=state.day(on), backdate_reason=backdate)
    state.show(row.model_dump(), "objection")


@objections_app.command("show")
def objection_show(ctx: typer.Context, objection_id: str) -> None:
    """One objection your department handles."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        row = objections.get(c, objection_id)
    state.show(row.model_dump(), "objection")


@objections_app.command("list")
def objection_list(
    ctx: typer.Context,
    uscc: Annotated[str | None, typer.Option("--uscc")] = None,
    status: Annotated[str | None, typer.Option("--status", help="filed, marked, upheld or rejected")] = None,
) -> None:
    """The objections your department handles."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [row.model_dump() for row in objections.list_objections(c, uscc=uscc, status=status)]
    state.emit(rows, rows=rows, columns=COLUMNS, title="objections")


@objections_app.command("overdue")
def objection_overdue(ctx: typer.Context, on: OnOpt = None) -> None:
    """Your department's objections past a deadline: marking, deciding, withdrawing a revoked decision's
    publication (exit 1 if any)."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [row.model_dump() for row in objections.overdue(c, on=state.day(on))]
    state.show(rows, "overdue objections")
    if rows:
        raise typer.Exit(1)
