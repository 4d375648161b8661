"""``creditwatch report``: Credit reports (信用报告): issue HTML/PDF, verify.

Each command calls one service of :mod:`serving.services.reports` as the holder of ``--as TOKEN``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serving.cli.state import OnOpt, State, UsccOpt
from serving.services import reports

report_app = typer.Typer(no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(report_app, name="report", help="Credit reports (信用报告): issue HTML/PDF, verify.")


@report_app.command("issue")
def report_issue(
    ctx: typer.Context,
    uscc: UsccOpt,
    out: Annotated[Path, typer.Option("--out", help="file to write (.html or .pdf)")],
    on: OnOpt = None,
    with_score: Annotated[
        bool, typer.Option("--with-score", help="include tier, score and reasons (supervisors, analysts)")
    ] = False,
) -> None:
    """Issue a credit report; prints its number and verification hash."""
    state: State = ctx.obj
    with state.context() as c:
        report = reports.issue(
            c,
            uscc=uscc,
            on=state.day(on),
            format="pdf" if out.suffix.lower() == ".pdf" else "html",
            with_score=with_score,
        )
    out.write_bytes(report.content)
    state.emit(
        {
            "report_no": report.report_no,
            "hash": report.content_sha256,
            "out": out,
            "score_as_of": report.score_as_of,
        }
    )


@report_app.command("verify")
def report_verify(ctx: typer.Context, report_no: str, content_hash: str) -> None:
    """Exit 1 unless a report with this number was issued with this hash."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        result = reports.verify(c, report_no, content_hash)
    state.emit(result.model_dump())
    if not result.valid:
        raise typer.Exit(1)
