"""``creditwatch repairs``: Credit repair (信用修复): apply, accept, approve, reject, show, list, overdue.

Every command calls one service of :mod:`serving.services.repairs` as the holder of ``--as TOKEN``: the
department that penalised or listed handles the repair, and only it decides or reads it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from serving.cli.state import BackdateOpt, OnOpt, State, UsccOpt
from serving.services import repairs

repairs_app = typer.Typer(no_args_is_help=True)

COLUMNS = [
    "repair_id",
    "uscc",
    "record_table",
    "record_id",
    "department",
    "status",
    "accept_due",
    "decide_due",
]


def register(root: typer.Typer) -> None:
    root.add_typer(
        repairs_app,
        name="repairs",
        help="Credit repair (信用修复): apply, accept, approve, reject, show, list, overdue.",
    )


@repairs_app.command("apply")
def repair_apply(
    ctx: typer.Context,
    uscc: UsccOpt,
    record_table: Annotated[str, typer.Option("--table", help="penalties or list_entries")],
    record_id: Annotated[str, typer.Option("--record")],
    commitment: Annotated[
        str | None, typer.Option("--commitment", help="the public credit commitment")
    ] = None,
    evidence: Annotated[
        str | None, typer.Option("--evidence", help="obligations fulfilled: evidence")
    ] = None,
    conditions: Annotated[
        list[str] | None,
        typer.Option(
            "--condition",
            help="a repair route met, NAME=REFERENCE (credit_training, credit_report, public_service); "
            "repeat for each",
        ),
    ] = None,
    on: OnOpt = None,
    backdate: BackdateOpt = None,
) -> None:
    """Apply at the department that penalised or listed; prints every condition as checked by the system.
    Refused (exit 1) before the earliest eligible date, or without a route the record's regime requires."""
    state: State = ctx.obj
    routes: dict[str, str] = {}
    for given in conditions or []:
        name, sep, reference = given.partition("=")
        if not sep or name.strip() in routes:
            raise state.fail(f"--condition {given!r}: expected NAME=REFERENCE, each route once")
        routes[name.strip()] = reference
    with state.context() as c:
        row = repairs.apply(
            c,
            uscc=uscc,
            record_table=record_table,
            record_id=record_id,
            commitment=commitment,
            obligations_evidence=evidence,
            conditions_met=routes,
            on=state.day(on),
            backdate_reason=backdate,
        )
    state.show(row.model_dump(), "repair")


@repairs_app.command("accept")
def repair_accept(ctx: typer.Context, repair_id: str, on: OnOpt = None, backdate: BackdateOpt = None) -> None:
    """Accept (受理) a complete application."""
    state: State = ctx.obj
    with state.context() as c:
        row = repairs.accept(c, repair_id, on=state.day(on), backdate_reason=backdate)
    state.show(row.model_dump(), "repair")


@repairs_app.command("approve")
def repair_approve(
    ctx: typer.Context, repair_id: str, on: OnOpt = None, backdate: BackdateOpt = None
) -> None:
    """Approve when every condition holds; publicity stops, the lake gets the repair, the entity is
    re-scored."""
    state: State = ctx.obj
    with state.context() as c:
        row = repairs.approve(c, repair_id, on=state.day(on), backdate_reason=backdate)
    state.show(row.model_dump(), "repair")


@repairs_app.command("reject")
def repair_reject(
    ctx: typer.Context,
    repair_id: str,
    reasons: Annotated[str, typer.Option("--reasons")],
    on: OnOpt = None,
    backdate: BackdateOpt = None,
) -> None:
    """Reject (or refuse to accept) with reasons."""
    state: State = ctx.obj
    with state.context() as c:
        row = repairs.reject(c, repair_id, reasons=reasons, on=state.day(on), backdate_reason=backdate)
    state.show(row.model_dump(), "repair")


@repairs_app.command("show")
def repair_show(ctx: typer.Context, repair_id: str) -> None:
    """One repair your department handles."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        row = repairs.get(c, repair_id)
    state.show(row.model_dump(), "repair")


@repairs_app.command("list")
def repair_list(ctx: typer.Context, uscc: Annotated[str | None, typer.Option("--uscc")] = None) -> None:
    """The repairs your department handles."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [row.model_dump() for row in repairs.list_repairs(c, uscc=uscc)]
    state.emit(rows, rows=rows, columns=COLUMNS, title="repairs")


@repairs_app.command("overdue")
def repair_overdue(ctx: typer.Context, on: OnOpt = None) -> None:
    """Your department's applications past a deadline (exit 1 if any)."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [row.model_dump() for row in repairs.overdue(c, on=state.day(on))]
    state.show(rows, "overdue repairs")
    if rows:
        raise typer.Exit(1)
