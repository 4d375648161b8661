"""Fresh, throw-away databases for tests: a SQLite file, or a uniquely named PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa

POSTGRES_ENV = "CREDITWATCH_TEST_POSTGRES_URL"
REQUIRE_ENV = "CREDITWATCH_REQUIRE_POSTGRES"
BACKENDS = ("sqlite", "postgresql")

# One reachability probe per test process (xdist workers each probe once): None = reachable, else the reason.
_probe: dict[str, str | None] = {}


def _unavailable(reason: str) -> NoReturn:
    """Skip (the default) or fail (CI sets CREDITWATCH_REQUIRE_POSTGRES=1) the PostgreSQL half of a test."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 requires PostgreSQL)", pytrace=False)
    pytest.skip(f"{reason}; the PostgreSQL half of the database tests is skipped (CI runs it: see .ci/run)")


def _admin_engine() -> sa.Engine:
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        _unavailable(f"{POSTGRES_ENV} is not set")
    parsed = sa.make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = sa.create_engine(parsed, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    shown = parsed.render_as_string(hide_password=True)
    if shown not in _probe:
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            _probe[shown] = None
        except sa.exc.OperationalError as exc:
            _probe[shown] = f"PostgreSQL at {shown} is unreachable: {str(exc.orig).strip().splitlines()[0]}"
    reason = _probe[shown]
    if reason is not None:
        engine.dispose()
        _unavailable(reason)
    return engine


@contextmanager
def fresh_postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database (unique name, safe under pytest-xdist), dropped afterwards."""
    admin = _admin_engine()
    name = f"cw_test_{uuid.uuid4().hex[:16]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                # FORCE ends sessions a failed test may have left open (PostgreSQL 13+).
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def sqlite_url(folder: Path) -> str:
    """A SQLite file (not created yet) in `folder`."""
    return f"sqlite:///{folder / 'creditwatch.db'}"


@contextmanager
def fresh_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database of `backend` ("sqlite" or "postgresql")."""
    if backend == "sqlite":
        yield sqlite_url(tmp_path)  # tmp_path exists, so un-migrated engines can connect too
    elif backend == "postgresql":
        with fresh_postgres_url() as url:
            yield url
    else:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def backend_params() -> list[object]:
    """pytest params over both backends; the PostgreSQL one carries the `postgres` marker."""
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
