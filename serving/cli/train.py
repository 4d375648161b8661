"""``creditwatch train``: train a challenger on the lake's inspections and register it (analysts; the
local operator may, on its own machine). One service: :func:`serving.services.models.train`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from serving.cli.score import DaskAddress, DaskLocal, dask_options
from serving.cli.state import State
from serving.services import models


def register(root: typer.Typer) -> None:
    root.command("train", help="Analyst: train a challenger on the lake's inspections and register it.")(
        train
    )


def train(
    ctx: typer.Context,
    until: Annotated[
        str | None, typer.Option("--until", help="use inspections strictly before this date (YYYY-MM-DD)")
    ] = None,
    valid_months: Annotated[
        int, typer.Option(help="months before the test window for early stopping and calibration")
    ] = 3,
    test_months: Annotated[int, typer.Option(help="latest months held out for the test")] = 3,
    tier_mode: Annotated[
        str | None, typer.Option(help="'thresholds' or 'shares' (default: training/tiers.toml)")
    ] = None,
    budget: Annotated[float, typer.Option(help="inspection budget as a share of entities")] = 0.1,
    seed: Annotated[int, typer.Option(help="random state")] = 0,
    dask: DaskAddress = None,
    dask_local: DaskLocal = None,
) -> None:
    """Labels from inspections → features as of each inspection day → LightGBM → calibration → MLflow."""
    from training.run import TrainConfig

    state: State = ctx.obj
    cluster = dask_options(dask, dask_local, None)  # training fits one LightGBM part per worker
    day: date | None = state.day(until, option="--until") if until is not None else None
    try:
        config = TrainConfig(
            valid_months=valid_months,
            test_months=test_months,
            tier_mode=tier_mode,
            budget=budget,
            random_state=seed,
        )
    except ValueError as exc:
        raise state.fail(str(exc)) from None
    with state.context() as c, state.err.status("training") as status:
        trained = models.train(c, config=config, until=day, progress=status.update, dask=cluster)
    payload = {
        "version": trained.version,
        "run_id": trained.run_id,
        "compared_with_champion": trained.compared_with_champion,
        "windows": trained.windows,
        "metrics": trained.metrics,
    }
    rows = [{"metric": k, "value": f"{v:.4f}"} for k, v in trained.metrics.items()]
    state.emit(payload, rows=rows, columns=["metric", "value"], title=f"challenger version {trained.version}")
    if not state.json:
        state.console.print(
            f"next: `creditwatch --as TOKEN models promote {trained.version} --why REASON`"
            " (an analyst's token; gated against the champion)"
        )
