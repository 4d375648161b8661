"""``creditwatch train | score | explain | models``: the analyst's model commands (thin wrappers)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from serving.cli.state import State, write_parquet_atomic

models_app = typer.Typer(no_args_is_help=True)


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


def _date(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (expected YYYY-MM-DD)") from None


def _registry(state: State) -> Any:
    from training.registry import Registry

    return Registry(state.settings.mlflow_uri)


def _champion(state: State) -> tuple[Any, str]:
    """(model, version) through the loader the API and re-scoring share; never creates a registry."""
    from serving.champion import NoChampion, load_champion

    try:
        return load_champion(state.settings.mlflow_uri)
    except NoChampion as exc:
        raise state.fail(str(exc)) from None


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
    from features.lake import sources
    from training.run import TrainConfig, train_from_sources

    state: State = ctx.obj
    config = TrainConfig(
        valid_months=valid_months,
        test_months=test_months,
        tier_mode=tier_mode,
        budget=budget,
        random_state=seed,
    )
    lake = sources(state.settings.lake_dir)
    try:
        with state.err.status("training") as status:
            result, record = train_from_sources(
                lake,
                tracking_uri=state.settings.mlflow_uri,
                artifact_location=state.settings.mlflow_artifacts_dir,
                config=config,
                until=_date(until) if until else None,
                progress=lambda msg: status.update(msg),
            )
    except ValueError as exc:
        raise state.fail(str(exc)) from None
    m = result.evaluation.metrics
    metrics = {k: m[k] for k in sorted(m) if k.startswith(("test_", "control_", "psi"))}
    payload = {
        "version": record.version,
        "run_id": record.run_id,
        "compared_with_champion": record.champion_version,
        "windows": {k: {kk: str(vv) for kk, vv in v.items()} for k, v in result.windows.items()},
        "metrics": metrics,
    }
    rows = [{"metric": k, "value": f"{v:.4f}"} for k, v in metrics.items()]
    state.emit(payload, rows=rows, columns=["metric", "value"], title=f"challenger version {record.version}")
    if not state.json:
        state.console.print(
            f"next: `creditwatch models promote {record.version} --who NAME --why REASON` (gated against the champion)"
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
    from features.build import build_features
    from features.lake import sources

    state: State = ctx.obj
    day = _date(as_of)
    model, version = _champion(state)
    with state.err.status(f"building features as of {day}"):
        feats = build_features(sources(state.settings.lake_dir), as_of=day).collect()
    if feats.height == 0:
        raise state.fail(f"no entities registered before {day} in the lake {state.settings.lake_dir}")
    with state.err.status(f"scoring {feats.height} entities with version {version}"):
        scored = model.score(feats, reasons=reasons)
    scored = scored.with_columns(pl.lit(version).alias("model_version"))
    if reasons:
        scored = scored.with_columns(
            pl.col("reasons").list.eval(pl.element().struct.field("zh")).list.join("；").alias("reasons_zh"),
            pl.col("reasons").list.eval(pl.element().struct.field("en")).list.join("; ").alias("reasons_en"),
        )
    path = out or state.settings.home / "scores" / f"as_of={day.isoformat()}.parquet"
    # The features the scores were computed from, where `features build` puts them: the API explains a
    # stored score from this row instead of rebuilding the entity's features from the lake (docs/api.md).
    # Written first, so a score file never exists without the features it came from.
    features_path = state.settings.home / "features" / f"as_of={day.isoformat()}.parquet"
    write_parquet_atomic(feats, features_path)
    write_parquet_atomic(scored, path)
    summary = (
        scored.group_by("tier")
        .agg(pl.len().alias("entities"), pl.col("probability").mean().alias("mean_probability"))
        .sort("tier")
    )
    rows = [
        {"tier": r["tier"], "entities": r["entities"], "mean_probability": round(r["mean_probability"], 4)}
        for r in summary.iter_rows(named=True)
    ]
    state.emit(
        {
            "as_of": day,
            "model_version": version,
            "entities": scored.height,
            "path": path,
            "features_path": features_path,
            "tiers": rows,
        },
        rows=rows,
        columns=["tier", "entities", "mean_probability"],
        title=f"{scored.height} entities scored as of {day} by version {version} → {path}",
    )


def explain(
    ctx: typer.Context,
    uscc: Annotated[str, typer.Argument(help="the entity's Unified Social Credit Code")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="date (YYYY-MM-DD); default today")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="folder for the waterfall chart; default HOME/explanations")
    ] = None,
    top: Annotated[int, typer.Option(help="number of reasons")] = 5,
) -> None:
    """One entity's score, tier, reasons (zh/en) and per-dimension contributions; draws its SHAP waterfall."""
    from features import uscc as uscc_rules
    from features.build import build_for_events
    from features.lake import sources
    from models import charts

    state: State = ctx.obj
    verdict = uscc_rules.validate(uscc, allow=state.settings.uscc_allow_list)
    if not verdict.ok:
        raise state.fail(f"{uscc!r} is not a valid USCC: {verdict.reason}")
    day = _date(as_of)
    lake = sources(state.settings.lake_dir)
    known = lake["entities"].filter(pl.col("uscc") == uscc).select("uscc").collect()
    if known.height == 0:
        raise state.fail(f"{uscc} is not in the lake's entity register")
    model, version = _champion(state)
    events = pl.LazyFrame({"uscc": [uscc], "as_of": [day]})
    feats = build_for_events(lake, events).collect()
    one = model.explain_one(feats, k=top)
    labels = {i.name: (i.zh if charts.label_language() == "zh" else i.en) for i in model.feature_infos}
    contrib = {c["feature"]: c["contribution"] for c in one["contributions"]}
    values = {c["feature"]: c["value"] for c in one["contributions"]}
    folder = out or state.settings.home / "explanations"
    paths = charts.waterfall(
        contrib,
        one["base_value"],
        folder / f"{uscc}-{day.isoformat()}",
        labels=labels,
        values=values,
        title=f"{uscc} as of {day}: p={one['probability']:.3f}, tier {one['tier']} (model v{version})",
    )
    payload = {
        "uscc": uscc,
        "as_of": day,
        "model_version": version,
        "probability": one["probability"],
        "model_tier": one["model_tier"],
        "tier": one["tier"],
        "expected_rate": one["expected_rate"],
        "raw_score": one["raw_score"],
        "base_value": one["base_value"],
        "dimensions": one["dimensions"],
        "reasons": one["reasons"],
        "charts": [str(p) for p in paths],
    }
    if state.json:
        state.emit(payload)
        return
    state.console.print(
        f"[bold]{uscc}[/bold] as of {day} — probability {one['probability']:.3f}, tier [bold]{one['tier']}[/bold]"
        f" (model tier {one['model_tier']}, expected violation rate {one['expected_rate'] or float('nan'):.3f};"
        f" model version {version})"
    )
    rows = [{"zh": r["zh"], "en": r["en"]} for r in one["reasons"]]
    state.emit(payload, rows=rows, columns=["zh", "en"], title="reasons / 原因")
    dims = [{"dimension": k, "log_odds": f"{v:+.3f}"} for k, v in one["dimensions"].items()]
    state.emit(payload, rows=dims, columns=["dimension", "log_odds"], title="per dimension (log-odds)")
    state.console.print("charts: " + ", ".join(str(p) for p in paths))


@models_app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Every registered version with its test metrics; the champion is marked."""
    state: State = ctx.obj
    rows = _registry(state).versions()
    shown = [
        {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items() if k != "run_id"} for r in rows
    ]
    state.emit(
        rows,
        rows=shown,
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
    registry = _registry(state)
    other = b or registry.champion()
    if other is None:
        raise state.fail("no champion to compare with; give two versions")
    rows = registry.compare(a, other)
    gate = registry.gate(a)
    payload = {
        "a": a,
        "b": other,
        "metrics": rows,
        "gate": {"passed": gate.passed, "reason": gate.reason, "checks": gate.checks},
    }
    shown = [
        {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()}
        for r in rows
        if r["metric"].startswith(("test_", "control_", "psi"))
    ]
    state.emit(
        payload, rows=shown, columns=["metric", a, other, "difference"], title=f"version {a} vs {other}"
    )
    if not state.json:
        state.console.print(f"gate for version {a}: {'PASS' if gate.passed else 'FAIL'} — {gate.reason}")


@models_app.command("promote")
def promote(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="version to make champion")],
    who: Annotated[str, typer.Option("--who", help="who decides (recorded)")],
    why: Annotated[str, typer.Option("--why", help="why (recorded)")],
    force: Annotated[
        bool, typer.Option("--force", help="promote despite a failed gate (recorded as such)")
    ] = False,
) -> None:
    """Move the ``champion`` alias to VERSION if it passes the gate."""
    from training.registry import GateError

    state: State = ctx.obj
    try:
        gate = _registry(state).promote(version, who=who, why=why, force=force)
    except (GateError, ValueError) as exc:
        raise state.fail(str(exc)) from None
    except Exception as exc:  # MLflow's own errors (unknown version) arrive as MlflowException
        raise state.fail(f"cannot promote version {version}: {exc}") from None
    state.emit(
        {"champion": version, "gate": {"passed": gate.passed, "reason": gate.reason}, "who": who, "why": why}
    )


@models_app.command("rollback")
def rollback(
    ctx: typer.Context,
    who: Annotated[str, typer.Option("--who", help="who decides (recorded)")],
    why: Annotated[str, typer.Option("--why", help="why (recorded)")],
) -> None:
    """Move ``champion`` back to the version before its latest move."""
    state: State = ctx.obj
    try:
        version = _registry(state).rollback(who=who, why=why)
    except ValueError as exc:
        raise state.fail(str(exc)) from None
    state.emit({"champion": version, "who": who, "why": why})
