"""``creditwatch disclosure``: 双公示 of the ten kinds: register, publish, withdraw, overdue, search, public
export.

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
        disclosure_app,
        name="disclosure",
        help="双公示: register, publish, withdraw, overdue, search, public export.",
    )


@disclosure_app.command("register")
def disclosure_register(ctx: typer.Context) -> None:
    """Register the lake's new decisions of the ten kinds for publication, and note revocations."""
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


@disclosure_app.command("withdraw")
def disclosure_withdraw(
    ctx: typer.Context,
    record_table: str,
    record_id: str,
    reason: Annotated[str, typer.Option("--reason", help="why it is withdrawn (shown with the withdrawal)")],
    on: OnOpt = None,
    backdate: BackdateOpt = None,
) -> None:
    """Withdraw a published decision of your department that was changed or revoked (Order 45 art 11)."""
    state: State = ctx.obj
    with state.context() as c:
        row = disclosure.withdraw(
            c, record_table, record_id, reason=reason, on=state.day(on), backdate_reason=backdate
        )
    state.show(row.model_dump(), "disclosure")


@disclosure_app.command("overdue")
def disclosure_overdue(
    ctx: typer.Context,
    on: OnOpt = None,
    records: Annotated[
        bool, typer.Option("--records", help="every missed deadline with its clock, not the counts")
    ] = False,
    department: Annotated[
        str | None, typer.Option("--department", help="with --records: one department")
    ] = None,
) -> None:
    """Per department: decisions past their publication or withdrawal deadline (exit 1 if any)."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        if records:
            found = disclosure.overdue_records(c, on=state.day(on), department=department)
            rows = [row.model_dump() for row in found]
        else:
            rows = [row.model_dump() for row in disclosure.overdue(c, on=state.day(on))]
    state.show(rows, "overdue publications")
    if rows:
        raise typer.Exit(1)


@disclosure_app.command("search")
def disclosure_search(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option("--kind", help="one of the ten kinds, e.g. penalty")] = None,
    q: Annotated[
        str | None, typer.Option("--q", help="part of a party name, title, record id or USCC")
    ] = None,
    department: Annotated[str | None, typer.Option("--department")] = None,
    on: OnOpt = None,
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    per_page: Annotated[int, typer.Option("--per-page", min=1, max=100)] = 20,
) -> None:
    """The public 双公示 search, as the public pages show it (personal data masked)."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        found = disclosure.search(
            c, kind=kind, q=q, department=department, on=state.day(on), page=page, per_page=per_page
        )
    if state.json:
        state.emit(found.model_dump())
        return
    rows = [item.model_dump() for item in found.items]
    state.show(rows, f"双公示: {found.total} decisions, page {found.page}")


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
