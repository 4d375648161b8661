"""``creditwatch features``: build point-in-time feature tables, cross-check lists."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from serving.cli.score import DaskAddress, DaskLocal, Partitions, dask_options
from serving.cli.state import State
from serving.services import scoring

app = typer.Typer(no_args_is_help=True)


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (expected YYYY-MM-DD)") from None


@app.command("build")
def build(
    ctx: typer.Context,
    as_of: Annotated[list[str], typer.Option("--as-of", help="as-of date YYYY-MM-DD (repeatable)")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="output Parquet file (one date) or folder; default HOME/features/"),
    ] = None,
    dask: DaskAddress = None,
    dask_local: DaskLocal = None,
    partitions: Partitions = None,
) -> None:
    """Build the feature table from the lake at each as-of date: one Parquet file per date (with --dask or
    --dask-local: one partitioned Parquet folder per date, built on a Dask cluster)."""
    state: State = ctx.obj
    dates = [_parse_date(v) for v in as_of]
    cluster = dask_options(dask, dask_local, partitions)
    with state.context() as c, state.err.status("building features") as status:
        built = scoring.build_features(c, dates=dates, out=out, progress=status.update, dask=cluster)
    rows = [{**asdict(f), "as_of": f.as_of.isoformat(), "path": str(f.path)} for f in built]
    state.emit({"built": rows}, rows=rows, columns=["as_of", "rows", "columns", "seconds", "path"])


@app.command("crosscheck")
def crosscheck(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="as-of date YYYY-MM-DD; default today (China)")
    ] = None,
) -> None:
    """List entities on a red list and a black list at once, and persons linked to both sides
    (红黑名单交叉比对)."""
    state: State = ctx.obj
    day = _parse_date(as_of) if as_of is not None else state.day(None)
    with state.context() as c:
        found = scoring.crosscheck(c, on=day)
    payload = {
        "as_of": found.as_of.isoformat(),
        "entities": found.entities.to_dicts(),
        "persons": found.persons.to_dicts(),
    }
    if state.json:
        state.emit(payload)
        return

    def flat(frame: pl.DataFrame) -> list[dict[str, object]]:
        return [
            {k: ", ".join(v) if isinstance(v, list) else v for k, v in r.items()} for r in frame.to_dicts()
        ]

    state.emit(
        payload,
        rows=flat(found.entities),
        columns=found.entities.columns,
        title=f"entities on both sides, {day}",
    )
    state.emit(
        payload,
        rows=flat(found.persons),
        columns=found.persons.columns,
        title=f"persons linked to both sides, {day}",
    )


@app.command("catalog")
def catalog(
    ctx: typer.Context,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="print the generated docs/features.md section")
    ] = False,
) -> None:
    """The feature catalog: name, labels, dimension, direction of every feature."""
    from features.indicators import CATALOG, DIMENSIONS, indicators_markdown

    state: State = ctx.obj
    if markdown:
        typer.echo(indicators_markdown())
        return
    rows = [
        {
            "name": i.name,
            "zh": i.zh,
            "en": i.en,
            "dimension": i.dimension,
            "dimension_zh": DIMENSIONS[i.dimension][0],
            "direction": i.direction,
            "dtype": str(i.dtype),
            "template_zh": i.template_zh,
            "template_en": i.template_en,
        }
        for i in CATALOG
    ]
    state.emit(rows, rows=rows, columns=["name", "zh", "dimension", "direction", "dtype"], title="features")


def register(root: typer.Typer) -> None:
    """Add the ``features`` group to the root app."""
    root.add_typer(app, name="features", help="Analysts: build feature tables, cross-check red/black lists.")
