"""Operational database: engine factory (SQLite or PostgreSQL), sessions, the ORM base and Alembic
migrations."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")

# Explicit constraint names: PostgreSQL and SQLite name anonymous constraints differently, and Alembic can
# only drop or alter (SQLite batch mode) a constraint it can name.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Every module that defines ORM models on `Base`: Alembic's env and the metadata-vs-migrations test import
# them all. A new module of models goes here (tests/supervision/test_db.py fails until it does), and its
# tables into a new migration.
MODEL_MODULES: tuple[str, ...] = (
    "supervision.platform.ledger",
    "supervision.sampling.tables",
    "supervision.platform.access",
    "supervision.platform.audit",
    "supervision.platform.buckets",
    "supervision.lifecycle.objections",
    "supervision.lifecycle.repairs",
    "supervision.lifecycle.lists",
    "supervision.lifecycle.restrictions",
    "supervision.lifecycle.commitments",
    "supervision.lifecycle.disclosure",
    "supervision.lifecycle.reports",
    "supervision.lifecycle.subscriptions",
    "supervision.lifecycle.scores",
    "supervision.lifecycle.documents",
    "supervision.lifecycle.self_reports",
    "supervision.monitoring.warnings",
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware instant stored in UTC: SQLite keeps no offset, PostgreSQL returns the session zone."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give a timezone-aware instant (e.g. UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: stored as UTC without an offset
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every ORM model of the operational database."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}  # noqa: RUF012 - SQLAlchemy reads this class attribute


def import_models() -> sa.MetaData:
    """Import every module of ORM models so that `Base.metadata` knows all tables; return it."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


def _normalise_url(url: str | sa.URL) -> sa.URL:
    parsed = sa.make_url(url)
    # psycopg 3 is the installed PostgreSQL driver; a bare postgresql:// would ask for psycopg2.
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def sqlite_path(url: str | sa.URL) -> Path | None:
    """The file of a file-backed SQLite URL; None for other backends and in-memory databases."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in {"", ":memory:"} or parsed.query.get("mode") == "memory" or database.startswith("file:"):
        return None
    return Path(database)


def _configure_sqlite(engine: sa.Engine, *, wal: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 driver (see `_on_begin`); the pragmas then run outside a
        # transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")  # off by default in SQLite, per connection
            # `INSERT OR REPLACE` deletes the row it replaces without firing DELETE triggers unless recursive
            # triggers are on: with them on, the audit log's append-only triggers refuse it too.
            cursor.execute("PRAGMA recursive_triggers=ON")
            if wal:
                # Readers (API, CLI) do not block the writer and vice versa.
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # sqlite3's legacy transaction control emits no BEGIN before DDL or SAVEPOINT, so migrations and
        # nested transactions would autocommit piecemeal; emitting BEGIN ourselves makes them atomic
        # (SQLAlchemy's documented recipe, valid on Python 3.11).
        connection.exec_driver_sql("BEGIN")


def make_engine(url: str | sa.URL, **kwargs: Any) -> sa.Engine:
    """An engine for `url`: SQLite (foreign keys on, WAL for files) or PostgreSQL through psycopg 3.

    Touches nothing on disk: `upgrade` creates a SQLite file's folder.
    """
    parsed = _normalise_url(url)
    backend = parsed.get_backend_name()
    options: dict[str, Any] = {"pool_pre_ping": True}
    if backend == "postgresql":
        options["connect_args"] = {"application_name": "creditwatch", "connect_timeout": 10}
    options.update(kwargs)
    engine = sa.create_engine(parsed, **options)
    if backend == "sqlite":
        _configure_sqlite(engine, wal=sqlite_path(parsed) is not None)
    return engine


@contextmanager
def session_scope(engine: sa.Engine) -> Iterator[Session]:
    """A session whose work is committed when the block ends and rolled back if it raises."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic configuration built in code: the package's migrations, optionally bound to `connection`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration shipped with the code (the history is linear: 0001 ← 0002 ← ...)."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(
            f"the migrations in {MIGRATIONS_DIR / 'versions'} must form one line, "
            f"found heads {sorted(heads)}:"
            " set each new migration's down_revision to the previous newest revision"
        )
    return heads[0]


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (default: the newest) in one transaction; a no-op when there."""
    path = sqlite_path(engine.url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: sa.Engine, revision: str) -> None:
    """Migrate the database back to `revision` ("base" removes every table); for tests and rollbacks."""
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at; None for an empty (never migrated) database."""
    path = sqlite_path(engine.url)
    if path is not None and not path.exists():
        return None  # connecting would create the file (or fail on a missing folder)
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
