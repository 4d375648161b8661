"""What every CLI command receives: the settings read once at start-up, and how to print results."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from serving.settings import Settings


def _default(value: object) -> object:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@dataclass
class State:
    settings: Settings
    json: bool = False
    console: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))

    def emit(
        self,
        payload: Any,
        *,
        rows: Sequence[Mapping[str, Any]] | None = None,
        columns: Sequence[str] | None = None,
        title: str | None = None,
    ) -> None:
        """Print ``payload`` as JSON, or ``rows`` as a table (falling back to key/value lines)."""
        if self.json:
            typer.echo(json.dumps(payload, ensure_ascii=False, default=_default, indent=2))
            return
        if rows is not None:
            cols = list(columns or (rows[0].keys() if rows else []))
            table = Table(*cols, title=title)
            for row in rows:
                table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in cols))
            self.console.print(table)
        elif isinstance(payload, Mapping):
            for k, v in payload.items():
                self.console.print(f"[bold]{k}[/bold]: {v}")
        else:
            self.console.print(payload)

    def fail(self, message: str, code: int = 1) -> typer.Exit:
        """Report an error (JSON on stdout with --json) and return the Exit to raise."""
        if self.json:
            typer.echo(json.dumps({"error": message}, ensure_ascii=False))
        else:
            self.err.print(f"[red]error:[/red] {message}")
        return typer.Exit(code)
