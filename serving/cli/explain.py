"""``creditwatch explain``: one entity's score, tier and reasons with a waterfall chart (needs ``--as``: it
reads an entity's detail). One service: :func:`serving.services.entities.explain`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from serving.cli.state import State
from serving.services import entities


def register(root: typer.Typer) -> None:
    root.command("explain", help="Supervisor: one entity's score, tier and reasons, with a waterfall chart.")(
        explain
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
    folder = out or state.settings.workspace.explanations
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
        "score_as_of": one.score_as_of,
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
        f"[bold]{uscc}[/bold] scored as of {one.score_as_of} (评分日期) — probability {one.probability:.3f}, "
        f"tier [bold]{one.tier}[/bold]"
        f" (model tier {one.model_tier}, expected violation rate {rate:.3f}; "
        f"model version {one.model_version})"
    )
    rows = [{"zh": r.zh, "en": r.en} for r in one.reasons]
    state.emit(payload, rows=rows, columns=["zh", "en"], title="reasons / 原因")
    dims = [{"dimension": d.dimension, "log_odds": f"{d.contribution:+.3f}"} for d in one.dimensions]
    state.emit(payload, rows=dims, columns=["dimension", "log_odds"], title="per dimension (log-odds)")
    state.console.print("charts: " + ", ".join(str(p) for p in paths))
