"""``creditwatch monitor``: two score runs compared (``compare``) and the model's feedback loop
(``feedback``). Each command calls one service of :mod:`serving.services.monitoring`; reads, audited. Run
monthly after ``creditwatch score`` (the cron line is in docs/operations.md)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

import typer

from serving.cli.state import State
from serving.services import monitoring

monitor_app = typer.Typer(no_args_is_help=True)

AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="the run (YYYY-MM-DD; default: the newest)")]


def register(root: typer.Typer) -> None:
    root.add_typer(
        monitor_app,
        name="monitor",
        help="Analyst, supervisor: score runs compared, calibration, drift, fairness, retraining advice.",
    )


def _day(state: State, text: str | None, option: str) -> date | None:
    return None if text is None else state.day(text, option=option)


@monitor_app.command("compare")
def compare(
    ctx: typer.Context,
    as_of: AsOfOpt = None,
    previous: Annotated[
        str | None, typer.Option("--previous", help="the run compared with (default: the one before)")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="how many risers to explain (0–100)")] = 10,
) -> None:
    """Tier migration between two runs and the entities whose probability rose most, explained by the change
    of their SHAP values per indicator dimension."""
    state: State = ctx.obj
    cur = _day(state, as_of, "--as-of")
    prev = _day(state, previous, "--previous")
    with state.context() as c:
        found = monitoring.compare_runs(c, as_of=cur, previous=prev, top=top)
    payload = asdict(found)
    if state.json:
        state.emit(payload)
        return
    cells = {(m.from_tier, m.to_tier): m.entities for m in found.migration}
    rows = [
        {"from \\ to": a, **{b: cells.get((a, b), 0) for b in found.tiers}, "left": found.left.get(a, 0)}
        for a in found.tiers
    ]
    rows.append({"from \\ to": "entered", **{b: found.entered.get(b, 0) for b in found.tiers}, "left": ""})
    state.emit(
        payload,
        rows=rows,
        columns=["from \\ to", *found.tiers, "left"],
        title=f"tiers {found.previous.as_of} (v{found.previous.model_version}) → "
        f"{found.current.as_of} (v{found.current.model_version})",
    )
    risers = [
        {
            "uscc": r.uscc,
            "tiers": f"{r.previous_tier} → {r.tier}",
            "probability": f"{r.previous_probability:.3f} → {r.probability:.3f} ({r.change:+.3f})",
            "what changed": "; ".join(
                f"{d.en} {d.change:+.2f}" for d in r.dimensions if abs(d.change) >= 0.005
            ),
        }
        for r in found.risers
    ]
    state.emit(
        payload, rows=risers, columns=["uscc", "tiers", "probability", "what changed"], title="top risers"
    )
    for note in found.notes:
        state.console.print(f"note: {note}")


@monitor_app.command("feedback")
def feedback(ctx: typer.Context, as_of: AsOfOpt = None) -> None:
    """Calibration per tier (all inspections and the random control slice) with Wilson intervals, feature
    drift (PSI), fairness per district and ownership type, alerts and the retraining recommendation."""
    state: State = ctx.obj
    cur = _day(state, as_of, "--as-of")
    with state.context() as c:
        found = monitoring.feedback(c, as_of=cur)
    payload = asdict(found)
    if state.json:
        state.emit(payload)
        return
    state.emit(
        payload,
        rows=[
            {
                "slice": r.slice,
                "tier": r.tier,
                "n": r.n,
                "predicted": f"{r.predicted:.3f}",
                "observed": f"{r.observed:.3f}",
                "95% CI": "" if r.ci_low is None else f"{r.ci_low:.3f}–{r.ci_high:.3f}",
                "alert": "ALERT" if r.alert else ("" if r.judged else "too few"),
            }
            for r in found.calibration
        ],
        title=f"calibration of the run {found.current.as_of} (v{found.model_version})",
    )
    drifted = [d for d in found.drift if d.level in ("major", "minor")]
    state.emit(
        payload,
        rows=[
            {"against": d.against, "feature": d.feature, "psi": f"{d.psi:.3f}", "level": d.level}
            for d in drifted[:30]
        ],
        columns=["against", "feature", "psi", "level"],
        title=f"drift (reference: {found.reference_kind} {found.reference})",
    )
    for a in found.alerts:
        state.console.print(f"[red]alert[/red] {a.kind} {a.subject}: {a.message}")
    verdict = "RETRAIN" if found.retrain else "no retraining"
    state.console.print(f"[bold]{verdict}[/bold]: {found.reason_en}")
    for note in found.notes:
        state.console.print(f"note: {note}")
