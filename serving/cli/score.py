"""``creditwatch score``: score every entity with the champion as of a date (analysts; the local operator
may). One service: :func:`serving.services.scoring.run_scores`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from serving.cli.state import State
from serving.services import scoring

DaskAddress = Annotated[
    str | None,
    typer.Option(
        "--dask",
        metavar="ADDRESS",
        help="run on the Dask scheduler at this address (tcp://HOST:8786); docs/scaling.md",
    ),
]
DaskLocal = Annotated[
    int | None,
    typer.Option("--dask-local", metavar="N", help="run on a local Dask cluster of N worker processes"),
]
Partitions = Annotated[
    int | None,
    typer.Option("--partitions", help="partitions of a Dask run (default: twice the workers)"),
]


def dask_options(dask: str | None, dask_local: int | None, partitions: int | None) -> scoring.Cluster | None:
    """The cluster of ``--dask`` / ``--dask-local`` / ``--partitions`` (checked by the service,
    :meth:`serving.services.scoring.Cluster.check`); None: the single-process run."""
    if dask is None and dask_local is None and partitions is None:
        return None
    return scoring.Cluster(address=dask, local_workers=dask_local, partitions=partitions)


def register(root: typer.Typer) -> None:
    root.command("score", help="Analyst: score every entity with the champion as of a date.")(score)


def score(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="score as of this date (YYYY-MM-DD)")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Parquet file; default HOME/scores/as_of=DATE.parquet (the features scored always go to "
            "HOME/features/as_of=DATE.parquet)",
        ),
    ] = None,
    reasons: Annotated[int, typer.Option(help="top reasons per entity (0: none, faster)")] = 3,
    dask: DaskAddress = None,
    dask_local: DaskLocal = None,
    partitions: Partitions = None,
) -> None:
    """Score every registered entity with the champion: probability, tier, model version, top reasons; keep
    the features scored in HOME/features/as_of=DATE.parquet (the API explains the stored scores from them)."""
    state: State = ctx.obj
    day = state.day(as_of, option="--as-of")
    cluster = dask_options(dask, dask_local, partitions)
    with state.context() as c, state.err.status(f"scoring as of {day}") as status:
        run = scoring.run_scores(c, as_of=day, out=out, reasons=reasons, progress=status.update, dask=cluster)
    rows = [asdict(t) for t in run.tiers]
    state.emit(
        {
            "as_of": run.as_of,
            "model_version": run.model_version,
            "entities": run.entities,
            "path": run.path,
            "features_path": run.features_path,
            "manifest_path": run.manifest_path,
            "tiers": rows,
        },
        rows=rows,
        columns=["tier", "entities", "mean_probability"],
        title=f"{run.entities} entities scored as of {run.as_of} by version {run.model_version} → {run.path}",
    )
