"""``creditwatch commitments``: Credit commitments (信用承诺): templates, make, fulfil, breach, interview,
export.

Every command calls one service of :mod:`serving.services.commitments` as the holder of ``--as TOKEN``: a
commitment is made to the actor's department, which alone records its fulfilment, breach or interview.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from serving.cli.check import MissingOpt
from serving.cli.state import BackdateOpt, OnOpt, State, UsccOpt, write_csv
from serving.services import commitments, publication

commitments_app = typer.Typer(no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(commitments_app, name="commitments", help="Credit commitments (信用承诺).")


@commitments_app.command("templates")
def commitment_templates(ctx: typer.Context) -> None:
    """The commitment templates, one per matter."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [t.model_dump() for t in commitments.templates(c)]
    state.emit(rows, rows=rows, columns=["matter", "title", "commitment_type", "due_days"], title="templates")


@commitments_app.command("make")
def commitment_make(
    ctx: typer.Context,
    uscc: UsccOpt,
    matter: Annotated[str, typer.Option("--matter", help="template, e.g. food_business_licence")],
    department: Annotated[
        str | None,
        typer.Option("--department", help="only a system: the department the commitment is made to"),
    ] = None,
    licence_id: Annotated[str | None, typer.Option("--licence")] = None,
    signatory: Annotated[str | None, typer.Option("--signatory")] = None,
    on: OnOpt = None,
    backdate: BackdateOpt = None,
    missing: MissingOpt = None,
) -> None:
    """Record a commitment made to your department (a 告知承诺 runs the embedded check first and is refused
    for a listed entity, within the exclusion after a breach, or where the check answers 不适用告知承诺制)."""
    state: State = ctx.obj
    with state.context() as c:
        row = commitments.make(
            c,
            uscc=uscc,
            matter=matter,
            department=department,
            licence_id=licence_id,
            signatory=signatory,
            on=state.day(on),
            backdate_reason=backdate,
            missing_documents=missing,
        )
    state.show(row.model_dump(), "commitment")


@commitments_app.command("fulfil")
def commitment_fulfil(
    ctx: typer.Context, commitment_id: str, on: OnOpt = None, backdate: BackdateOpt = None
) -> None:
    """The commitment is fulfilled."""
    state: State = ctx.obj
    with state.context() as c:
        row = commitments.fulfil(c, commitment_id, on=state.day(on), backdate_reason=backdate)
    state.show(row.model_dump(), "commitment")


@commitments_app.command("breach")
def commitment_breach(
    ctx: typer.Context,
    commitment_id: str,
    facts: Annotated[str, typer.Option("--facts")],
    on: OnOpt = None,
    backdate: BackdateOpt = None,
) -> None:
    """The commitment is breached (a record the features count; the entity is re-scored at once)."""
    state: State = ctx.obj
    with state.context() as c:
        row = commitments.breach(c, commitment_id, facts=facts, on=state.day(on), backdate_reason=backdate)
    state.show(row.model_dump(), "commitment")


@commitments_app.command("interview")
def commitment_interview(
    ctx: typer.Context,
    commitment_id: str,
    reason: Annotated[str, typer.Option("--reason")],
    on: OnOpt = None,
    backdate: BackdateOpt = None,
) -> None:
    """Your department's interview after a breach."""
    state: State = ctx.obj
    with state.context() as c:
        row = commitments.interview(
            c, commitment_id, reason=reason, on=state.day(on), backdate_reason=backdate
        )
    state.show(row.model_dump(), "commitment")


@commitments_app.command("export")
def commitment_export(
    ctx: typer.Context, out: Annotated[Path, typer.Option("--out", help="CSV file")]
) -> None:
    """The public 信用承诺 column as CSV (names masked as for the public)."""
    state: State = ctx.obj
    with state.context(write=False) as c:
        rows = [row.model_dump() for row in commitments.public_column(c)]
    write_csv(pl.DataFrame(rows, schema=list(publication.PublishedCommitment.model_fields)), out)
    state.emit({"rows": len(rows), "out": out})
