"""``creditwatch features``: build point-in-time feature tables, cross-check lists."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from serving.cli.state import State, write_parquet_atomic

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
) -> None:
    """Build the feature table from the lake at each as-of date: one Parquet file per date."""
    from features.build import build_features
    from features.lake import sources

    state: State = ctx.obj
    dates = sorted({_parse_date(v) for v in as_of})
    lake = sources(state.settings.lake_dir)
    if out is not None and out.suffix == ".parquet" and len(dates) > 1:
        raise state.fail(f"--out {out} is one file but {len(dates)} dates were given; pass a folder")
    rows = []
    with state.err.status("building features") as status:
        for d in dates:
            status.update(f"building features as of {d}")
            started = datetime.now()
            frame = build_features(lake, as_of=d).collect()
            if out is not None and out.suffix == ".parquet":
                path = out
            else:
                path = (out or state.settings.home / "features") / f"as_of={d.isoformat()}.parquet"
            write_parquet_atomic(frame, path)
            rows.append(
                {
                    "as_of": d.isoformat(),
                    "rows": frame.height,
                    "columns": frame.width,
                    "seconds": round((datetime.now() - started).total_seconds(), 2),
                    "path": str(path),
                }
            )
    state.emit({"built": rows}, rows=rows, columns=["as_of", "rows", "columns", "seconds", "path"])


@app.command("crosscheck")
def crosscheck(
    ctx: typer.Context,
    as_of: Annotated[str | None, typer.Option("--as-of", help="as-of date YYYY-MM-DD; default today")] = None,
) -> None:
    """List entities on a red list and a black list at once, and persons linked to both sides (红黑名单交叉比对)."""
    from features.crosscheck import entity_conflicts, person_conflicts
    from features.lake import sources

    state: State = ctx.obj
    d = _parse_date(as_of) if as_of else date.today()
    lake = sources(state.settings.lake_dir)
    entities, persons = pl.collect_all(
        [entity_conflicts(lake, as_of=d), person_conflicts(lake, as_of=d).drop("person_key")]
    )
    payload = {"as_of": d.isoformat(), "entities": entities.to_dicts(), "persons": persons.to_dicts()}
    if state.json:
        state.emit(payload)
        return

    def flat(frame: pl.DataFrame) -> list[dict[str, object]]:
        return [
            {k: ", ".join(v) if isinstance(v, list) else v for k, v in r.items()} for r in frame.to_dicts()
        ]

    state.emit(payload, rows=flat(entities), columns=entities.columns, title=f"entities on both sides, {d}")
    state.emit(
        payload, rows=flat(persons), columns=persons.columns, title=f"persons linked to both sides, {d}"
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
