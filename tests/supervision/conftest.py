"""Database fixtures: `db_engine` (migrated to head) and `engine_at_base` (empty), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from supervision.db import make_engine, upgrade
from tests.supervision.databases import backend_params, fresh_database_url


@pytest.fixture(params=backend_params())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database: a SQLite file in tmp_path, or a new PostgreSQL database."""
    with fresh_database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine_at_base(db_url: str) -> Iterator[sa.Engine]:
    """An engine on a database no migration has touched."""
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def db_engine(engine_at_base: sa.Engine) -> sa.Engine:
    """An engine on a fresh database upgraded to the newest revision."""
    upgrade(engine_at_base)
    return engine_at_base
