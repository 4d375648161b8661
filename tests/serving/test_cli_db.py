"""``creditwatch db`` through Typer's CliRunner, on the SQLite default under --home and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from serving.cli import app
from supervision.platform.db import downgrade, head_revision, make_engine, session_scope
from supervision.platform.ledger import record_batch
from tests.conftest import china_half_past_midnight
from tests.supervision.databases import backend_params, fresh_database_url

runner = CliRunner()


class Target:
    """Where the CLI's database is: the home folder always, plus CREDITWATCH_DATABASE_URL for PostgreSQL."""

    def __init__(self, home: Path, url: str) -> None:
        self.home = home
        self.url = url

    def run(self, *args: str) -> Any:
        # A wide terminal, so that rich does not shorten the cells the tests look for.
        return runner.invoke(
            app, ["--home", str(self.home), *args], env={"COLUMNS": "200"}, obj=china_half_past_midnight()
        )

    def json(self, *args: str) -> Any:
        result = self.run("--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture(params=backend_params())
def target(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Target]:
    home = tmp_path / "home"
    if request.param == "sqlite":
        monkeypatch.delenv("CREDITWATCH_DATABASE_URL", raising=False)
        yield Target(home, f"sqlite:///{home / 'creditwatch.db'}")
    else:
        with fresh_database_url("postgresql", tmp_path) as url:
            monkeypatch.setenv("CREDITWATCH_DATABASE_URL", url)
            yield Target(home, url)


def _record(url: str, batch_id: str, table: str = "entities") -> None:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            record_batch(
                session,
                batch_id=batch_id,
                table=table,
                source=f"{table}.csv",
                content_sha256=batch_id[0] * 64,
                rows_read=5,
                rows_accepted=4,
                rows_quarantined=1,
                ingested_at=datetime(2026, 2, 1, 9, 0, tzinfo=UTC),
            )
    finally:
        engine.dispose()


def test_current_on_a_fresh_database_reports_no_revision(target: Target) -> None:
    report = target.json("db", "current")
    assert report["revision"] is None
    assert report["head"] == head_revision()
    assert report["up_to_date"] is False
    assert not (target.home / "creditwatch.db").exists()  # looking changes nothing


def test_upgrade_migrates_to_head_and_is_idempotent(target: Target) -> None:
    first = target.json("db", "upgrade")
    assert (first["revision"], first["up_to_date"]) == (head_revision(), True)
    assert target.json("db", "upgrade")["revision"] == head_revision()
    assert target.json("db", "current")["revision"] == head_revision()
    result = target.run("db", "upgrade")  # the lines for people name the revision too
    assert result.exit_code == 0
    assert f"revision: {head_revision()}" in result.stdout


def test_sqlite_default_lives_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDITWATCH_DATABASE_URL", raising=False)
    home = tmp_path / "not" / "yet" / "there"
    report = Target(home, "").json("db", "upgrade")
    assert report["database"] == f"sqlite:///{home.resolve() / 'creditwatch.db'}"
    assert (home / "creditwatch.db").is_file()


def test_batches_lists_the_ledger(target: Target) -> None:
    target.json("db", "upgrade")
    assert target.json("db", "batches") == []
    _record(target.url, "b-2", "penalties")
    _record(target.url, "a-1")
    listed = target.json("db", "batches")
    assert [row["batch_id"] for row in listed] == ["a-1", "b-2"]  # same instant: ordered by id
    assert listed[1]["table"] == "penalties"
    assert (listed[1]["rows_read"], listed[1]["rows_accepted"], listed[1]["rows_quarantined"]) == (5, 4, 1)
    assert datetime.fromisoformat(listed[0]["ingested_at"]) == datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    assert [row["batch_id"] for row in target.json("db", "batches", "--table", "penalties")] == ["b-2"]
    # --json after the command works as well as before it
    result = target.run("db", "batches", "--json")
    assert result.exit_code == 0 and [r["batch_id"] for r in json.loads(result.stdout)] == ["a-1", "b-2"]
    table = target.run("db", "batches")
    assert table.exit_code == 0
    assert "a-1" in table.stdout and "penalties" in table.stdout
    assert "2026-02-01 09:00:00" in table.stdout


def test_an_empty_database_is_set_up_and_one_behind_is_refused(target: Target) -> None:
    # Empty: any command sets it up (as `db upgrade` would) and goes on.
    assert target.json("db", "batches") == []
    assert target.json("db", "current")["revision"] == head_revision()
    # Behind the code's migrations: refused with what to run; nothing is migrated behind the operator's back.
    engine = make_engine(target.url)
    try:
        downgrade(engine, "0008")
    finally:
        engine.dispose()
    result = target.run("--json", "db", "batches")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert "at migration 0008" in error and f"needs {head_revision()}" in error
    assert "run `creditwatch db upgrade` first" in error
    assert target.json("db", "current")["revision"] == "0008"


def test_unreachable_database_fails_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 1 on localhost refuses connections at once.
    monkeypatch.setenv("CREDITWATCH_DATABASE_URL", "postgresql+psycopg://cw:secret@127.0.0.1:1/cw")
    result = runner.invoke(
        app, ["--home", str(tmp_path), "--json", "db", "upgrade"], obj=china_half_past_midnight()
    )
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error.startswith("cannot use the database postgresql+psycopg://cw:***@127.0.0.1:1/cw")
    assert "secret" not in result.output


def test_a_database_from_a_newer_release_fails_clearly(target: Target) -> None:
    # A revision this code does not know (e.g. the database was migrated by a newer release).
    target.json("db", "upgrade")
    engine = make_engine(target.url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    result = target.run("--json", "db", "upgrade")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error.startswith("migrations of ") and "9999" in error


def test_db_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["db", "--help"], obj=china_half_past_midnight())
    assert result.exit_code == 0
    for command in ("upgrade", "current", "batches"):
        assert command in result.stdout
