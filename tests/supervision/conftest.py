"""Database fixtures: `db_engine` (at head) and `engine_at_base` (empty), each on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from supervision.platform.db import make_engine
from tests.supervision.databases import HeadTemplates, backend_params, fresh_database_url


@pytest.fixture(scope="session")
def head_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadTemplates]:
    """Per test process (each xdist worker has its own): databases at head that tests get copies of."""
    templates = HeadTemplates(tmp_path_factory.mktemp("db-head"))
    yield templates
    templates.close()


@pytest.fixture(params=backend_params())
def db_backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgresql" (skipped, or failed under CREDITWATCH_REQUIRE_POSTGRES=1, if unreachable)."""
    return str(request.param)


@pytest.fixture
def db_url(db_backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database: a SQLite file in tmp_path, or a new PostgreSQL database."""
    with fresh_database_url(db_backend, tmp_path) as url:
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
def db_engine(db_backend: str, tmp_path: Path, head_templates: HeadTemplates) -> Iterator[sa.Engine]:
    """An engine on a fresh database of its own at the newest revision (a copy of a migrated template)."""
    with fresh_database_url(db_backend, tmp_path, at_head=head_templates) as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()
