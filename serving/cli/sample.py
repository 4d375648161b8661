"""``creditwatch sample``: double-random sampling tasks, draws and results."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app (filled in by the issue that builds them)."""
