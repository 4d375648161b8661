"""``creditwatch check``: The embedded check (逢办必查) and the restriction catalog.

Each command calls one service of :mod:`serving.services.checks`; a check runs as the system of
``--as TOKEN``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from serving.cli.state import OnOpt, State, UsccOpt, write_csv
from serving.services import checks
from supervision.lifecycle.restrictions import MATTERS

check_app = typer.Typer(no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(check_app, name="check", help="The embedded check (逢办必查) and the restriction catalog.")


@check_app.command("run")
def check_run(
    ctx: typer.Context,
    uscc: UsccOpt,
    matter: Annotated[str, typer.Option("--matter", help=", ".join(MATTERS))],
    on: OnOpt = None,
) -> None:
    """Restrictions, list statuses and tier for one entity and matter; recorded."""
    state: State = ctx.obj
    with state.context() as c:
        result = checks.check(c, uscc=uscc, matter=matter, on=state.day(on)).model_dump()
    state.emit(
        result,
        rows=result["restrictions"],
        title=f"restrictions ({len(result['lists'])} active list entries)",
    )


@check_app.command("catalog")
def check_catalog(
    ctx: typer.Context, out: Annotated[Path | None, typer.Option("--out", help="write CSV here")] = None
) -> None:
    """The catalog of restriction measures (惩戒措施清单)."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [measure.model_dump() for measure in checks.catalog(c)]
    if out is not None:
        write_csv(pl.DataFrame(rows, schema=list(checks.MeasureView.model_fields)), out)
    state.emit(rows, rows=rows, title="restriction measures")
