"""The database layer on SQLite and PostgreSQL: migrations up and down, metadata vs migrations,
transactions."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import supervision
from supervision.platform import db
from supervision.platform.ledger import IngestBatch

SHA = "0123456789abcdef" * 4


def _batch(batch_id: str = "b-1", **overrides: object) -> IngestBatch:
    values: dict[str, object] = {
        "batch_id": batch_id,
        "table_name": "entities",
        "source": "entities.csv",
        "content_sha256": SHA,
        "rows_read": 3,
        "rows_accepted": 2,
        "rows_quarantined": 1,
        "ingested_at": datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
    }
    values.update(overrides)
    return IngestBatch(**values)


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, db.import_models()))


def _count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(IngestBatch)).scalar_one()


def test_head_is_the_newest_numbered_migration() -> None:
    # Revisions are numbered "0001", "0002", ... and each file starts with its number.
    numbers = sorted(p.name[:4] for p in (db.MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    assert numbers[0] == "0001"
    assert db.head_revision() == numbers[-1]


def test_upgrade_from_empty_reaches_head(engine_at_base: sa.Engine) -> None:
    assert db.current_revision(engine_at_base) is None
    db.upgrade(engine_at_base)
    assert db.current_revision(engine_at_base) == db.head_revision()
    assert {"alembic_version", "ingest_batch"} <= _tables(engine_at_base)


def test_upgrade_again_is_a_no_op_that_keeps_data(db_engine: sa.Engine) -> None:
    with db.session_scope(db_engine) as session:
        session.add(_batch())
    db.upgrade(db_engine)
    db.upgrade(db_engine)
    assert db.current_revision(db_engine) == db.head_revision()
    assert _count(db_engine) == 1


def test_downgrade_to_base_and_up_again(db_engine: sa.Engine) -> None:
    db.downgrade(db_engine, "base")
    assert db.current_revision(db_engine) is None
    assert _tables(db_engine) == {"alembic_version"}
    db.upgrade(db_engine)
    assert db.current_revision(db_engine) == db.head_revision()
    assert _count(db_engine) == 0


def test_orm_metadata_matches_the_migrations(db_engine: sa.Engine) -> None:
    assert _differences(db_engine) == []


def test_metadata_comparison_sees_a_missing_table(engine_at_base: sa.Engine) -> None:
    # The check above can fail: an un-migrated database differs by every table of the models.
    added = {diff[1].name for diff in _differences(engine_at_base) if diff[0] == "add_table"}
    assert added == set(db.import_models().tables)


def test_every_module_of_models_is_registered() -> None:
    # A model that Alembic's env never imports would be invisible to the metadata check above.
    for info in pkgutil.walk_packages(supervision.__path__, "supervision."):
        if not info.name.startswith("supervision.platform.migrations"):
            importlib.import_module(info.name)
    defining = {mapper.class_.__module__ for mapper in db.Base.registry.mappers}
    missing = sorted(defining - set(db.MODEL_MODULES))
    assert not missing, f"add {missing} to supervision.platform.db.MODEL_MODULES"
    assert set(db.MODEL_MODULES) <= defining  # and no stale entries


def test_check_constraints_exist_with_conventional_names(db_engine: sa.Engine) -> None:
    # Autogenerate does not compare CHECK constraints, so compare their names here.
    inspector = sa.inspect(db_engine)
    for table in db.import_models().sorted_tables:
        declared = {
            str(c.name) for c in table.constraints if isinstance(c, sa.CheckConstraint) and c.name is not None
        }
        assert {c["name"] for c in inspector.get_check_constraints(table.name)} == declared
    assert {c["name"] for c in inspector.get_check_constraints("ingest_batch")} == {
        "ck_ingest_batch_rows_balance",
        "ck_ingest_batch_rows_non_negative",
        "ck_ingest_batch_content_sha256_length",
    }
    assert inspector.get_pk_constraint("ingest_batch")["name"] == "pk_ingest_batch"


def test_session_scope_commits(db_engine: sa.Engine) -> None:
    with db.session_scope(db_engine) as session:
        session.add(_batch("b-1"))
        session.add(_batch("b-2"))
    assert _count(db_engine) == 2


def test_session_scope_rolls_back_everything_on_error(db_engine: sa.Engine) -> None:
    with pytest.raises(RuntimeError, match="boom"), db.session_scope(db_engine) as session:
        session.add(_batch("b-1"))
        session.flush()  # the row reached the database inside the transaction
        raise RuntimeError("boom")
    assert _count(db_engine) == 0


def test_ddl_is_transactional(db_engine: sa.Engine) -> None:
    # A migration that fails half-way must leave no table behind; on SQLite this needs our own BEGIN.
    with pytest.raises(RuntimeError, match="half-way"), db_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
        raise RuntimeError("half-way")
    assert "half_done" not in _tables(db_engine)


def test_savepoint_rolls_back_only_the_nested_part(db_engine: sa.Engine) -> None:
    with db.session_scope(db_engine) as session:
        session.add(_batch("kept"))
        session.flush()
        with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
            session.add(_batch("broken", rows_read=99))
    with db.session_scope(db_engine) as session:
        assert session.scalars(sa.select(IngestBatch.batch_id)).all() == ["kept"]


def test_naive_datetimes_are_refused(db_engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), db.session_scope(db_engine) as session:
        session.add(_batch(ingested_at=datetime(2026, 1, 5, 9, 30)))
        session.flush()
    assert _count(db_engine) == 0


def test_sqlite_pragmas_foreign_keys_and_wal(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


def test_in_memory_sqlite_works_without_wal() -> None:
    engine = db.make_engine("sqlite://")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "memory"
    finally:
        engine.dispose()


def test_upgrade_creates_the_sqlite_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "creditwatch.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        assert db.current_revision(engine) is None
        assert not path.parent.exists()  # asking for the revision creates nothing
        db.upgrade(engine)
        assert path.is_file()
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["postgresql://u@db.example/cw", "postgres://u@db.example/cw"])
def test_postgres_urls_use_psycopg3(url: str) -> None:
    engine = db.make_engine(url)  # no connection is made
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.url.database == "cw"
    finally:
        engine.dispose()


def test_sqlite_path() -> None:
    assert db.sqlite_path("sqlite:////srv/cw/creditwatch.db") == Path("/srv/cw/creditwatch.db")
    assert db.sqlite_path("sqlite://") is None
    assert db.sqlite_path("sqlite:///:memory:") is None
    assert db.sqlite_path("postgresql+psycopg://u@h/cw") is None


def test_migrations_are_package_files() -> None:
    # Shipped by setuptools: migrations/ and versions/ are packages, the template is package data.
    assert (db.MIGRATIONS_DIR / "__init__.py").is_file()
    assert (db.MIGRATIONS_DIR / "env.py").is_file()
    assert (db.MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (db.MIGRATIONS_DIR / "versions" / "__init__.py").is_file()
    assert (db.MIGRATIONS_DIR / "versions" / "0001_ingest_ledger.py").is_file()
