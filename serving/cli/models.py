"""``creditwatch models``: list, compare, promote and roll back registered versions. Each command calls one
service of :mod:`serving.services.models`; a move needs ``--as`` an analyst and writes the audit entry the API
writes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from serving.cli.state import State
from serving.services import models

models_app = typer.Typer(no_args_is_help=True)

WHO_HELP = "deprecated and ignored: a move is recorded as made by the holder of --as TOKEN"
WHO_WARNING = (
    "[yellow]warning:[/yellow] --who is deprecated and ignored: the move is recorded as yours (--as)"
)


def register(root: typer.Typer) -> None:
    root.add_typer(models_app, name="models", help="Analyst: list, compare, promote and roll back models.")


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()}


def _who_ignored(state: State, who: str | None) -> None:
    if who is not None:
        state.err.print(WHO_WARNING)


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
    """Move the ``champion`` alias to VERSION if it passes the gate (as the analyst holding
    ``--as TOKEN``)."""
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
    """Move ``champion`` back to the version before its latest move (as the analyst holding
    ``--as TOKEN``)."""
    state: State = ctx.obj
    _who_ignored(state, who)
    with state.context() as c:
        move = models.rollback(c, why=why)
    state.emit(asdict(move))
