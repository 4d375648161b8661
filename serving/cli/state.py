"""What every CLI command receives: the settings read once at start-up, and how to print results."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from features.lake import atomic_write
from serving.services.context import Context, Door, local_operator
from serving.settings import Settings
from supervision.platform import access, audit, checkpoints
from supervision.platform.access import Principal
from supervision.platform.clock import Clock, SystemClock
from supervision.platform.db import current_revision, head_revision, make_engine, session_scope, upgrade
from supervision.platform.errors import DomainError, ErrorKind
from supervision.platform.spreadsheets import csv_bytes


def _default(value: object) -> object:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# Options every command group spells the same way.
OnOpt = Annotated[str | None, typer.Option("--on", help="YYYY-MM-DD (default: today in China)")]
UsccOpt = Annotated[str, typer.Option("--uscc", help="unified social credit code (统一社会信用代码)")]
BackdateOpt = Annotated[
    str | None,
    typer.Option(
        "--backdate-reason",
        help="why a decision dated further back than the policy allows (decision.backdate) is entered late; "
        "audited",
    ),
]

# Exit codes of the domain's refusals, by kind: the one table of the CLI (the API's is serving/api/errors.py).
KIND_EXIT: dict[ErrorKind, int] = {
    ErrorKind.VALIDATION: 1,
    ErrorKind.FORBIDDEN: 3,
    ErrorKind.NOT_FOUND: 4,
    ErrorKind.CONFLICT: 5,
    ErrorKind.BUSY: 75,  # EX_TEMPFAIL: try again later
}


@dataclass
class State:
    settings: Settings
    json: bool = False
    console: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))
    clock: Clock = field(default_factory=SystemClock)
    # The API token the operator acts with (`--as`, CREDITWATCH_OPERATOR_TOKEN); None: the local operator.
    operator_token: str | None = None

    @contextmanager
    def context(self, *, write: bool = True) -> Iterator[Context]:
        """A use case's context: a session on the configured database (see :func:`prepare_database`), the
        operator's identity (checked in its own short transaction first) and the China clock.

        ``write=True``: the session starts as a writer holding the audit chain's lock (SQLite cannot turn a
        read transaction into a write one once another connection has committed). A long use case (an
        ingest) passes ``write=False`` and takes the lock itself when it has computed what to write
        (:meth:`Context.lock_for_write`), so other writers are not held up meanwhile. A domain refusal becomes
        one line and the exit code of its kind; nothing of the transaction stays."""
        try:
            with ready_engine(self) as engine:
                with session_scope(engine) as lookup:
                    actor = self.actor(lookup)
                with session_scope(engine) as session:
                    if write:
                        audit.lock(session)
                    yield Context(
                        settings=self.settings,
                        session=session,
                        clock=self.clock,
                        actor=actor,
                        door=Door("cli", "cli"),
                    )
        except DomainError as exc:
            raise self.fail(str(exc), code=KIND_EXIT[exc.kind]) from exc

    def actor(self, session: Session) -> Principal:
        """Who runs the command: the holder of the operator token, or the local operator (no role)."""
        if self.operator_token is None:
            return local_operator()
        principal = access.authenticate(session, self.operator_token, now=self.clock.now())
        if principal is None:
            raise self.fail(
                "--as: the operator token is invalid, revoked or expired", code=KIND_EXIT[ErrorKind.FORBIDDEN]
            )
        return principal

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

    def day(self, text: str | None, *, option: str = "--on") -> date:
        """A date option: YYYY-MM-DD, or today in China (the state's clock) when not given."""
        if text is None:
            return self.clock.today()
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self.fail(f"{option} {text!r}: expected a date YYYY-MM-DD") from None

    def show(self, payload: Any, title: str) -> None:
        """A result for people: a list as a table titled `title`, a mapping as key/value lines."""
        if isinstance(payload, list):
            self.emit(payload, rows=payload, title=title)
        else:
            self.emit(payload)

    def fail(self, message: str, code: int = 1) -> typer.Exit:
        """Report an error (JSON on stdout with --json) and return the Exit to raise."""
        if self.json:
            typer.echo(json.dumps({"error": message}, ensure_ascii=False))
        else:
            self.err.print(f"[red]error:[/red] {message}")
        return typer.Exit(code)


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
    """An engine on the configured database, prepared by :func:`prepare_database` (one clear error
    otherwise)."""
    engine = make_engine(state.settings.db_url)
    # Every commit that appends audit entries signs the new head outside the database.
    checkpoints.attach(engine, state.settings.audit_checkpoints())
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

    ``audit_lock``: start as a writer holding the audit chain's lock (supervision.platform.audit.lock), so
    that a unit of work that reads, then changes and audits, is not refused half-way by SQLite.
    """
    with ready_engine(state) as engine, session_scope(engine) as session:
        if audit_lock:
            audit.lock(session)
        yield session


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    """A CSV export for people: UTF-8 with BOM, no cell that spreadsheet software would run as a formula
    (supervision.platform.spreadsheets), written beside the target and renamed."""
    atomic_write(path, lambda tmp: tmp.write_bytes(csv_bytes(frame)))


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    """Write beside the target and rename (:func:`features.lake.atomic_write`). No varying writer metadata,
    so the same frame gives a byte-identical file."""
    atomic_write(path, lambda tmp: frame.write_parquet(tmp, compression="zstd", statistics=True))
