"""Fresh, throw-away databases for tests: a SQLite file, or a uniquely named PostgreSQL database."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa

from supervision.platform.db import make_engine, upgrade

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


def _drop(admin: sa.Engine, name: str) -> None:
    with admin.connect() as connection:
        # FORCE ends sessions a failed test may have left open (PostgreSQL 13+).
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class HeadTemplates:
    """Databases migrated to head once per test process and copied for each test: a copy costs a fraction
    of running every migration again, and each test still gets a database of its own."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._sqlite: Path | None = None
        self._postgres: str | None = None

    def sqlite(self) -> Path:
        if self._sqlite is None:
            path = self._folder / "head.db"
            engine = make_engine(f"sqlite:///{path}")
            try:
                upgrade(engine)
            finally:
                engine.dispose()  # the last connection closing folds the WAL back into the file
            self._sqlite = path
        return self._sqlite

    def postgres(self) -> str:
        if self._postgres is None:
            admin = _admin_engine()
            name = f"cw_test_head_{uuid.uuid4().hex[:12]}"
            try:
                with admin.connect() as connection:
                    connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
                engine = make_engine(admin.url.set(database=name))
                try:
                    upgrade(engine)
                finally:
                    engine.dispose()  # a template must have no open sessions when it is copied
            except BaseException:
                _drop(admin, name)
                raise
            finally:
                admin.dispose()
            self._postgres = name
        return self._postgres

    def close(self) -> None:
        if self._postgres is not None:
            admin = _admin_engine()
            try:
                _drop(admin, self._postgres)
            finally:
                admin.dispose()
            self._postgres = None


@contextmanager
def fresh_postgres_url(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (unique name, safe under pytest-xdist), empty or a copy of `template`,
    dropped afterwards."""
    admin = _admin_engine()
    name = f"cw_test_{uuid.uuid4().hex[:16]}"
    try:
        with admin.connect() as connection:
            copy = f' TEMPLATE "{template}"' if template else ""
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
        try:
            yield admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            _drop(admin, name)
    finally:
        admin.dispose()


@contextmanager
def fresh_database_url(
    backend: str, tmp_path: Path, *, at_head: HeadTemplates | None = None
) -> Iterator[str]:
    """The URL of a new database of `backend` ("sqlite" or "postgresql"): empty, or at head if given the
    templates to copy."""
    if backend == "sqlite":
        # tmp_path exists, so un-migrated engines can connect too; the name is unique within the test.
        path = tmp_path / f"creditwatch-{uuid.uuid4().hex[:8]}.db"
        if at_head is not None:
            shutil.copyfile(at_head.sqlite(), path)
        yield f"sqlite:///{path}"
    elif backend == "postgresql":
        with fresh_postgres_url(at_head.postgres() if at_head is not None else None) as url:
            yield url
    else:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def backend_params() -> list[object]:
    """pytest params over both backends; the PostgreSQL one carries the `postgres` marker."""
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
