"""``creditwatch sectors``: risk across districts × industry sections (``table``) and the sector risk report
(``report --format html|xlsx --out FILE``). Each command calls one service of
:mod:`serving.services.sectors`; reads, audited. Analysts and supervisors (or the local operator)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from serving.cli.state import State
from serving.services import sectors

sectors_app = typer.Typer(no_args_is_help=True)

AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="the run (YYYY-MM-DD; default: the newest)")]


def register(root: typer.Typer) -> None:
    root.add_typer(
        sectors_app,
        name="sectors",
        help="Analyst, supervisor: risk per district × industry section, its trend, the report.",
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


@sectors_app.command("table")
def table(
    ctx: typer.Context,
    as_of: AsOfOpt = None,
    by: Annotated[
        str, typer.Option("--by", help="district_section (default), district or section")
    ] = "district_section",
) -> None:
    """Per cell: entities, mean probability, share in C/D, inspections, violations and the realised
    violation rate (shown from the monitoring policy's min_n inspections)."""
    state: State = ctx.obj
    day = None if as_of is None else state.day(as_of, option="--as-of")
    with state.context() as c:
        found = sectors.table(c, as_of=day, by=by)
    payload = asdict(found)
    state.emit(
        payload,
        rows=[
            {
                "district": r.district or "—",
                "section": r.section or "—",
                "entities": r.entities,
                "mean p": _pct(r.mean_probability),
                "C/D": _pct(r.share_cd),
                "inspections": r.inspections,
                "violations": r.violations,
                "realised": _pct(r.violation_rate) if r.sufficient else "insufficient",
            }
            for r in found.rows
        ],
        title=f"sector risk of the run {found.as_of} (rates from {found.min_n} inspections)",
    )


@sectors_app.command("trend")
def trend(
    ctx: typer.Context,
    by: Annotated[
        str, typer.Option("--by", help="section (default), district or district_section")
    ] = "section",
) -> None:
    """Mean probability and share in C/D per cell for every valid score run."""
    state: State = ctx.obj
    with state.context() as c:
        found = sectors.trend(c, by=by)
    state.emit(
        asdict(found),
        rows=[
            {
                "run": p.run,
                "district": p.district or "",
                "section": p.section or "",
                "entities": p.entities,
                "mean p": _pct(p.mean_probability),
                "C/D": _pct(p.share_cd),
            }
            for p in found.points
        ],
        title="sector risk over the runs",
    )


@sectors_app.command("report")
def report(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="the file to write")],
    as_of: AsOfOpt = None,
    format: Annotated[str, typer.Option("--format", help="html (default) or xlsx")] = "html",
) -> None:
    """The sector risk report: HTML (heat map and trend inline, the table) or XLSX (the table)."""
    state: State = ctx.obj
    day = None if as_of is None else state.day(as_of, option="--as-of")
    with state.context() as c:
        made = sectors.report(c, as_of=day, format=format)
    try:
        out.write_bytes(made.content)
    except OSError as exc:
        raise state.fail(f"--out {out}: cannot write ({exc.strerror})") from None
    state.emit({"out": str(out), "filename": made.filename, "bytes": len(made.content), "format": format})
