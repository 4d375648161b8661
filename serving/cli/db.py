"""``creditwatch db``: administrators' commands on the operational database (migrate, revision, ledger)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
import typer
from alembic.util import CommandError

from serving.cli.state import State, ready_engine
from supervision.platform import db, ledger

app = typer.Typer(no_args_is_help=True)

T = TypeVar("T")

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for scripts instead of a table")]

# The table for people: short headings so that it fits a terminal; --json keeps every field and full names.
BATCH_COLUMNS = ["batch_id", "table", "source", "read", "accepted", "quarantined", "ingested_at (UTC)"]


def _display(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "batch_id": row["batch_id"],
        "table": row["table"],
        "source": row["source"],
        "read": row["rows_read"],
        "accepted": row["rows_accepted"],
        "quarantined": row["rows_quarantined"],
        "ingested_at (UTC)": row["ingested_at"].strftime("%Y-%m-%d %H:%M:%S"),
    }


def register(root: typer.Typer) -> None:
    root.add_typer(
        app, name="db", help="Administrators: migrate the operational database and read the ingest ledger."
    )


def _state(ctx: typer.Context, json_output: bool) -> State:
    state: State = ctx.obj
    if json_output:
        state.json = True
    return state


@contextmanager
def _engine(state: State) -> Iterator[sa.Engine]:
    engine = db.make_engine(state.settings.db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _shown(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _run(state: State, engine: sa.Engine, action: Callable[[], T]) -> T:
    """Run a database action; connection, SQL and migration errors become one clear line and exit code 1."""
    try:
        return action()
    except sa.exc.OperationalError as exc:
        raise state.fail(f"cannot use the database {_shown(engine)}: {exc.orig}") from exc
    except sa.exc.SQLAlchemyError as exc:
        raise state.fail(f"database error on {_shown(engine)}: {exc}") from exc
    except (CommandError, RuntimeError) as exc:  # Alembic: unknown revision in the database, branched history
        raise state.fail(f"migrations of {_shown(engine)}: {exc}") from exc


def _revision_report(state: State, engine: sa.Engine, revision: str | None) -> dict[str, Any]:
    head = _run(state, engine, db.head_revision)
    return {"database": _shown(engine), "revision": revision, "head": head, "up_to_date": revision == head}


@app.command("upgrade")
def upgrade(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Migrate the configured database to the newest revision (creates it if empty); prints the revision."""
    state = _state(ctx, json_output)
    with _engine(state) as engine:

        def migrate() -> str | None:
            db.upgrade(engine)
            return db.current_revision(engine)

        state.emit(_revision_report(state, engine, _run(state, engine, migrate)))


@app.command("current")
def current(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Show the revision the configured database is at and whether it is the newest (changes nothing)."""
    state = _state(ctx, json_output)
    with _engine(state) as engine:
        revision = _run(state, engine, lambda: db.current_revision(engine))
        state.emit(_revision_report(state, engine, revision))


@app.command("batches")
def batches(
    ctx: typer.Context,
    table: Annotated[str | None, typer.Option("--table", help="only the batches of this table")] = None,
    json_output: JsonOption = False,
) -> None:
    """List the ingest ledger: every batch recorded, oldest first, with its row balance."""
    state = _state(ctx, json_output)
    with ready_engine(state) as engine:

        def read() -> list[dict[str, Any]]:
            with db.session_scope(engine) as session:
                return ledger.list_batches(session, table=table)

        rows = _run(state, engine, read)
        state.emit(
            rows,
            rows=[_display(row) for row in rows],
            columns=BATCH_COLUMNS,
            title=f"Ingest ledger: {len(rows)} batch(es), oldest first",
        )
