"""``creditwatch uscc check CODE...``: each verdict with its reason; exit 1 if any code is invalid."""

from __future__ import annotations

from typing import Annotated

import typer

from serving.cli.state import State
from serving.services import entities

app = typer.Typer(no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="uscc", help="Everyone: check Unified Social Credit Codes (GB 32100-2015).")


@app.command("check")
def check(
    ctx: typer.Context,
    codes: Annotated[list[str], typer.Argument(help="one or more 18-character codes")],
) -> None:
    """Check codes at all three levels (format, mod-31 check character, embedded GB 11714 digit)."""
    state: State = ctx.obj
    verdicts = entities.check_codes(codes, allow=state.settings.uscc_allow_list)
    rows = [{"code": v.code, "status": v.status.value, "ok": v.ok, "reason": v.reason} for v in verdicts]
    state.emit(rows, rows=rows, columns=["code", "status", "ok", "reason"], title="USCC (GB 32100-2015)")
    if not all(v.ok for v in verdicts):
        raise typer.Exit(1)
