"""``creditwatch train | score | explain | models``: the analyst's model commands.

Each command calls one service (:mod:`serving.services.models`, :mod:`~serving.services.scoring`,
:mod:`~serving.services.entities`), which checks the identity and writes the audit entry the API writes:
training and scoring run on one's own machine (the local operator may), an explanation reads an entity's
detail and a registry move decides what serves — both need ``--as TOKEN`` (an analyst's for a move).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from serving.cli.state import State
from serving.services import entities, models, scoring

models_app = typer.Typer(no_args_is_help=True)

WHO_HELP = "deprecated and ignored: a move is recorded as made by the holder of --as TOKEN"
WHO_WARNING = (
    "[yellow]warning:[/yellow] --who is deprecated and ignored: the move is recorded as yours (--as)"
)


def register(root: typer.Typer) -> None:
    """Add ``train``, ``score``, ``explain`` and the ``models`` group to the root app."""
    root.command("train", help="Analyst: train a challenger on the lake's inspections and register it.")(
        train
    )
    root.command("score", help="Analyst: score every entity with the champion as of a date.")(score)
    root.command("explain", help="Supervisor: one entity's score, tier and reasons, with a waterfall chart.")(
        explain
    )
    root.add_typer(models_app, name="models", help="Analyst: list, compare, promote and roll back models.")


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()}


def _who_ignored(state: State, who: str | None) -> None:
    if who is not None:
        state.err.print(WHO_WARNING)


def train(
    ctx: typer.Context,
    until: Annotated[
        str | None, typer.Option("--until", help="use inspections strictly before this date (YYYY-MM-DD)")
    ] = None,
    valid_months: Annotated[
        int, typer.Option(help="months before the test window for early stopping and calibration")
    ] = 3,
    test_months: Annotated[int, typer.Option(help="latest months held out for the test")] = 3,
    tier_mode: Annotated[str, typer.Option(help="'thresholds' or 'shares'")] = "thresholds",
    budget: Annotated[float, typer.Option(help="inspection budget as a share of entities")] = 0.1,
    seed: Annotated[int, typer.Option(help="random state")] = 0,
) -> None:
    """Labels from inspections → features as of each inspection day → LightGBM → calibration → MLflow."""
    from training.run import TrainConfig

    state: State = ctx.obj
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
        trained = models.train(c, config=config, until=day, progress=status.update)
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
) -> None:
    """Score every registered entity with the champion: probability, tier, model version, top reasons; keep
    the features scored in HOME/features/as_of=DATE.parquet (the API explains the stored scores from them)."""
    state: State = ctx.obj
    day = state.day(as_of, option="--as-of")
    with state.context() as c, state.err.status(f"scoring as of {day}") as status:
        run = scoring.run_scores(c, as_of=day, out=out, reasons=reasons, progress=status.update)
    rows = [asdict(t) for t in run.tiers]
    state.emit(
        {
            "as_of": run.as_of,
            "model_version": run.model_version,
            "entities": run.entities,
            "path": run.path,
            "features_path": run.features_path,
            "tiers": rows,
        },
        rows=rows,
        columns=["tier", "entities", "mean_probability"],
        title=f"{run.entities} entities scored as of {run.as_of} by version {run.model_version} → {run.path}",
    )


def explain(
    ctx: typer.Context,
    uscc: Annotated[str, typer.Argument(help="the entity's Unified Social Credit Code")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="date (YYYY-MM-DD); default today (China)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="folder for the waterfall chart; default HOME/explanations")
    ] = None,
    top: Annotated[int, typer.Option(help="number of reasons")] = 5,
) -> None:
    """One entity's score, tier, reasons (zh/en) and per-dimension contributions; draws its SHAP waterfall."""
    from models import charts

    state: State = ctx.obj
    day = state.day(as_of, option="--as-of")
    with state.context() as c:
        one = entities.explain(c, uscc, as_of=day, top=top)
    names = {
        f.feature: (f.zh if charts.label_language() == "zh" else f.en) or f.feature for f in one.features
    }
    folder = out or state.settings.home / "explanations"
    paths = charts.waterfall(
        {f.feature: f.contribution for f in one.features},
        one.base_value,
        folder / f"{uscc}-{day.isoformat()}",
        labels=names,
        values={f.feature: f.value for f in one.features},
        title=f"{uscc} as of {day}: p={one.probability:.3f}, tier {one.tier} (model v{one.model_version})",
    )
    reasons = [asdict(r) for r in one.reasons]
    payload = {
        "uscc": uscc,
        "as_of": day,
        "model_version": one.model_version,
        "probability": one.probability,
        "model_tier": one.model_tier,
        "tier": one.tier,
        "expected_rate": one.expected_rate,
        "raw_score": one.raw_score,
        "base_value": one.base_value,
        "dimensions": {d.dimension: d.contribution for d in one.dimensions},
        "reasons": reasons,
        "features_from": one.features_from,
        "charts": [str(p) for p in paths],
    }
    if state.json:
        state.emit(payload)
        return
    rate = one.expected_rate if one.expected_rate is not None else float("nan")
    state.console.print(
        f"[bold]{uscc}[/bold] as of {day} — probability {one.probability:.3f}, tier [bold]{one.tier}[/bold]"
        f" (model tier {one.model_tier}, expected violation rate {rate:.3f}; model version {one.model_version})"
    )
    rows = [{"zh": r.zh, "en": r.en} for r in one.reasons]
    state.emit(payload, rows=rows, columns=["zh", "en"], title="reasons / 原因")
    dims = [{"dimension": d.dimension, "log_odds": f"{d.contribution:+.3f}"} for d in one.dimensions]
    state.emit(payload, rows=dims, columns=["dimension", "log_odds"], title="per dimension (log-odds)")
    state.console.print("charts: " + ", ".join(str(p) for p in paths))


@models_app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Every registered version with its test metrics; the champion is marked."""
    state: State = ctx.obj
    with state.context() as c:
        rows = [asdict(v) for v in models.list_versions(c)]
    state.emit(
        rows,
        rows=[_shown({k: v for k, v in r.items() if k != "run_id"}) for r in rows],
        columns=["version", "champion", "created", "test_roc_auc", "test_pr_auc", "test_ece", "promoted_by"],
        title="creditwatch-risk",
    )


@models_app.command("compare")
def compare(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="version")],
    b: Annotated[str | None, typer.Argument(help="version (default: the champion)")] = None,
) -> None:
    """Metrics of two versions side by side, and the gate's verdict for ``a`` against the champion."""
    state: State = ctx.obj
    with state.context() as c:
        found = models.compare(c, a, b)
    metrics = [
        {"metric": r.metric, found.a: r.a, found.b: r.b, "difference": r.difference} for r in found.metrics
    ]
    payload = {"a": found.a, "b": found.b, "metrics": metrics, "gate": asdict(found.gate)}
    shown = [_shown(r) for r in metrics if str(r["metric"]).startswith(("test_", "control_", "psi"))]
    state.emit(
        payload,
        rows=shown,
        columns=["metric", found.a, found.b, "difference"],
        title=f"version {found.a} vs {found.b}",
    )
    if not state.json:
        verdict = "PASS" if found.gate.passed else "FAIL"
        state.console.print(f"gate for version {found.a}: {verdict} — {found.gate.reason}")


@models_app.command("promote")
def promote(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="version to make champion")],
    why: Annotated[str, typer.Option("--why", help="why (recorded)")],
    force: Annotated[
        bool, typer.Option("--force", help="promote despite a failed gate (recorded as such)")
    ] = False,
    who: Annotated[str | None, typer.Option("--who", help=WHO_HELP, hidden=True)] = None,
) -> None:
    """Move the ``champion`` alias to VERSION if it passes the gate (as the analyst holding ``--as TOKEN``)."""
    state: State = ctx.obj
    _who_ignored(state, who)
    with state.context() as c:
        move = models.promote(c, version, why=why, force=force)
    state.emit(asdict(move))


@models_app.command("rollback")
def rollback(
    ctx: typer.Context,
    why: Annotated[str, typer.Option("--why", help="why (recorded)")],
    who: Annotated[str | None, typer.Option("--who", help=WHO_HELP, hidden=True)] = None,
) -> None:
    """Move ``champion`` back to the version before its latest move (as the analyst holding ``--as TOKEN``)."""
    state: State = ctx.obj
    _who_ignored(state, who)
    with state.context() as c:
        move = models.rollback(c, why=why)
    state.emit(asdict(move))
