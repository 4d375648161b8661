"""``creditwatch disclosure``: 双公示: register, publish, overdue, public export.

Every command calls one service of :mod:`serving.services.disclosure` as the holder of ``--as TOKEN``: a
department publishes its own decisions (谁产生、谁公示).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from serving.cli.state import BackdateOpt, OnOpt, State, write_csv
from serving.services import disclosure

disclosure_app = typer.Typer(no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(
        disclosure_app, name="disclosure", help="双公示: register, publish, overdue, public export."
    )


@disclosure_app.command("register")
def disclosure_register(ctx: typer.Context) -> None:
    """Register the lake's new licence and penalty decisions for publication."""
    state: State = ctx.obj
    with state.context() as c:
        result = disclosure.register(c)
    state.emit(result.model_dump())


@disclosure_app.command("publish")
def disclosure_publish(
    ctx: typer.Context, record_table: str, record_id: str, on: OnOpt = None, backdate: BackdateOpt = None
) -> None:
    """Mark a decision of your department published."""
    state: State = ctx.obj
    with state.context() as c:
        row = disclosure.publish(c, record_table, record_id, on=state.day(on), backdate_reason=backdate)
    state.show(row.model_dump(), "disclosure")


@disclosure_app.command("overdue")
def disclosure_overdue(ctx: typer.Context, on: OnOpt = None) -> None:
    """Per department: decisions past their publication deadline (exit 1 if any)."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [row.model_dump() for row in disclosure.overdue(c, on=state.day(on))]
    state.show(rows, "overdue publications")
    if rows:
        raise typer.Exit(1)


@disclosure_app.command("export")
def disclosure_export(
    ctx: typer.Context, out: Annotated[Path, typer.Option("--out", help="CSV file")], on: OnOpt = None
) -> None:
    """Public export: published, within publicity, no minors, personal data masked."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [row.model_dump() for row in disclosure.public_decisions(c, on=state.day(on))]
    write_csv(pl.DataFrame(rows, schema=list(disclosure.PublicDecision.model_fields)), out)
    state.emit({"rows": len(rows), "out": out})
