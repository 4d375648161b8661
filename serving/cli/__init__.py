"""The ``creditwatch`` command: one Typer app, sub-commands grouped by audience.

Each group lives in its own module with a ``register(app)`` function and is a thin wrapper over library
calls; ``--json`` switches every command from tables for people to JSON for scripts; exit code 1 on any
error or failed check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serving.cli import admin, data, db, demo, features, lifecycle, modeling, sample, uscc
from serving.cli.state import State
from serving.settings import load_settings

app = typer.Typer(
    name="creditwatch",
    help="creditwatch — risk scoring for credit-based market supervision (信用监管).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for _group in (demo, uscc, data, features, modeling, sample, db, admin, lifecycle):
    _group.register(app)


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", help="where data, database and MLflow live [env CREDITWATCH_HOME; default ./var]"
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="print JSON for scripts instead of tables")
    ] = False,
) -> None:
    ctx.obj = State(settings=load_settings(home=home), json=json_output)


def main() -> None:
    app()
