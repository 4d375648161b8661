"""``creditwatch check``: The embedded check (逢办必查) and the catalogs of restrictions and incentives.

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
MissingOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--missing-document",
        help="a document missing at filing (repeat for several): accepted (容缺受理) only for entities the "
        "incentive catalog allows",
    ),
]


def register(root: typer.Typer) -> None:
    root.add_typer(
        check_app,
        name="check",
        help="The embedded check (逢办必查) and the restriction and incentive catalogs.",
    )


@check_app.command("run")
def check_run(
    ctx: typer.Context,
    uscc: UsccOpt,
    matter: Annotated[str, typer.Option("--matter", help=", ".join(MATTERS))],
    on: OnOpt = None,
    missing: MissingOpt = None,
) -> None:
    """Restrictions, incentives, list statuses and tier (with its score date) for one entity and matter, and
    whether missing documents are accepted (容缺受理); recorded."""
    state: State = ctx.obj
    with state.context() as c:
        result = checks.check(
            c, uscc=uscc, matter=matter, on=state.day(on), missing_documents=missing
        ).model_dump()
    incentives = ", ".join(i["code"] for i in result["incentives"]) or "none"
    tier = f"tier {result['tier']} (score of {result['score_as_of']})" if result["tier"] else "no tier"
    documents = result["missing_documents"]
    title = f"restrictions ({len(result['lists'])} active list entries; {tier}; incentives: {incentives}"
    if documents is not None:
        title += f"; missing documents: {'accepted' if documents['accepted'] else documents['reason']}"
    state.emit(result, rows=result["restrictions"], title=title + ")")


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


@check_app.command("incentives")
def check_incentives(
    ctx: typer.Context, out: Annotated[Path | None, typer.Option("--out", help="write CSV here")] = None
) -> None:
    """The catalog of incentive measures (守信激励措施): matters, who qualifies, legal basis."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [measure.model_dump() for measure in checks.incentives(c)]
    if out is not None:
        flat = [{**r, **{k: ";".join(r[k]) for k in ("matters", "lists", "tiers")}} for r in rows]
        write_csv(pl.DataFrame(flat, schema=list(checks.IncentiveView.model_fields)), out)
    state.emit(
        rows, rows=rows, columns=["code", "name_zh", "matters", "lists", "tiers", "basis"], title="incentives"
    )
