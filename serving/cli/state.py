"""What every CLI command receives: the settings read once at start-up, and how to print results."""

from __future__ import annotations

import getpass
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from serving.settings import Settings
from supervision import audit
from supervision.db import current_revision, head_revision, make_engine, session_scope, upgrade


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


def operator() -> str:
    """Who runs the command, for the audit log: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli:unknown"


class DatabaseNotReady(RuntimeError):
    """The database cannot be used as it is (unreachable, or at another revision than the code's)."""


def prepare_database(engine: sa.Engine, url: str) -> None:
    """The one rule of every command: an empty database is set up (migrated to head); one at another
    revision is refused — migrating live data is a deliberate step (`creditwatch db upgrade`)."""
    try:
        revision = current_revision(engine)
        if revision is None:
            upgrade(engine)
            return
        head = head_revision()
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseNotReady(f"database {url} is unreachable: {exc.__class__.__name__}") from exc
    if revision != head:
        raise DatabaseNotReady(
            f"database {url} is at migration {revision} and this version needs {head}:"
            " run `creditwatch db upgrade` first"
        )


@contextmanager
def ready_engine(state: State) -> Iterator[sa.Engine]:
    """An engine on the configured database, prepared by :func:`prepare_database` (one clear error otherwise)."""
    engine = make_engine(state.settings.db_url)
    try:
        try:
            prepare_database(engine, state.settings.db_url)
        except DatabaseNotReady as exc:
            raise state.fail(str(exc)) from exc
        yield engine
    finally:
        engine.dispose()


@contextmanager
def open_session(state: State, *, audit_lock: bool = False) -> Iterator[Session]:
    """A session on the configured database (see :func:`prepare_database`).

    ``audit_lock``: start as a writer holding the audit chain's lock (supervision.audit.lock), so that a unit
    of work that reads, then changes and audits, is not refused half-way by SQLite.
    """
    with ready_engine(state) as engine, session_scope(engine) as session:
        if audit_lock:
            audit.lock(session)
        yield session


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    """Write beside the target and rename: a reader never sees a half-written file. No varying writer
    metadata, so the same frame gives a byte-identical file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
