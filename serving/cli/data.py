"""``creditwatch data``: the analyst's commands on the record lake, each defined in its own module."""

from __future__ import annotations

import typer

from serving.cli import data_generate, data_ingest

app = typer.Typer(no_args_is_help=True)
for _module in (data_ingest, data_generate):
    for _name, _command in _module.COMMANDS.items():
        app.command(_name)(_command)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="data", help="Analysts: generate, ingest and govern the record lake.")
