"""``creditwatch warnings``: early warning (信用风险预警): run the rules between two score runs, list the
department's warnings, acknowledge and close them.

Every command calls one service of :mod:`serving.services.warnings`: ``run`` as an analyst or supervisor
(or the local operator, like ``creditwatch score``); ``list`` as a supervisor or inspector of the department;
``ack`` and ``close`` as a supervisor of the warning's department (``--as TOKEN``).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from serving.cli.state import State
from serving.services import warnings

warnings_app = typer.Typer(no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(warnings_app, name="warnings", help="Early warning (信用风险预警).")


@warnings_app.command("run")
def warnings_run(
    ctx: typer.Context,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="the newest valid score run on or before this day (default: today)"),
    ] = None,
) -> None:
    """Compare the newest valid score run on or before --as-of with the one before it; keep new warnings."""
    state: State = ctx.obj
    day = None if as_of is None else state.day(as_of, option="--as-of")
    with state.context() as c:
        result = warnings.run(c, as_of=day)
    payload = result.model_dump()
    if state.json:
        state.emit(payload)
        return
    state.console.print(
        f"run {result.run_as_of} vs {result.previous_as_of}: {result.total_new} new warning(s)"
    )
    rows = [{"rule": r, "found": n, "new": result.new[r]} for r, n in result.found.items()]
    state.emit(payload, rows=rows, columns=["rule", "found", "new"], title="warnings")


@warnings_app.command("list")
def warnings_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="open, acknowledged or closed")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="one rule of warnings.toml")] = None,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    limit: Annotated[int, typer.Option("--limit", min=1, max=warnings.PAGE_MAX)] = 50,
) -> None:
    """Your department's warnings, newest run first."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        page = warnings.list_warnings(c, status=status, rule=rule, offset=offset, limit=limit)
    payload = page.model_dump()
    rows = [
        {**w.model_dump(), "evidence": json.dumps(w.evidence, ensure_ascii=False, sort_keys=True)}
        for w in page.items
    ]
    state.emit(
        payload,
        rows=rows,
        columns=["id", "run_as_of", "uscc", "rule", "status", "evidence"],
        title=f"warnings of {page.department} ({page.total})",
    )


@warnings_app.command("ack")
def warnings_ack(ctx: typer.Context, warning_id: int) -> None:
    """Acknowledge a warning of your department."""
    state: State = ctx.obj
    with state.context() as c:
        row = warnings.acknowledge(c, warning_id)
    state.show(row.model_dump(), "warning")


@warnings_app.command("close")
def warnings_close(
    ctx: typer.Context,
    warning_id: int,
    note: Annotated[str, typer.Option("--note", help="what was done (required, at most 2000 characters)")],
) -> None:
    """Close a warning of your department with a note."""
    state: State = ctx.obj
    with state.context() as c:
        row = warnings.close(c, warning_id, note=note)
    state.show(row.model_dump(), "warning")
