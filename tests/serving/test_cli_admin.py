"""``creditwatch tokens``, ``audit verify`` and ``serve`` through the real CLI on a migrated SQLite home."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from typer.testing import CliRunner

from serving.cli import app
from serving.settings import Settings
from supervision.platform import access, audit
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight

runner = CliRunner()


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    return settings


def _run(settings: Settings, *args: str) -> Any:
    return runner.invoke(app, ["--home", str(settings.home), *args], obj=china_half_past_midnight())


def _json(settings: Settings, *args: str) -> Any:
    result = _run(settings, "--json", *args)
    return result, json.loads(result.stdout) if result.stdout.strip() else None


def _entries(settings: Settings) -> list[audit.AuditEntry]:
    engine = make_engine(settings.db_url)
    try:
        with session_scope(engine) as session:
            return audit.entries(session, limit=1000)
    finally:
        engine.dispose()


def test_create_prints_the_token_once_and_stores_its_hash(migrated: Settings) -> None:
    result, payload = _json(migrated, "tokens", "create", "--role", "supervisor", "--name", "zhang")
    assert result.exit_code == 0, result.output
    token = payload["token"]
    assert payload["role"] == "supervisor" and payload["name"] == "zhang" and payload["active"]
    raw = Path(migrated.db_url.removeprefix("sqlite:///")).read_bytes()
    assert token.encode() not in raw  # not in the database file, in any table
    assert hashlib.sha256(token.encode()).hexdigest().encode() in raw
    engine = make_engine(migrated.db_url)
    with session_scope(engine) as session:
        principal = access.authenticate(session, token)
    engine.dispose()
    assert principal is not None and principal.role == access.Role.SUPERVISOR
    listed = _run(migrated, "--json", "tokens", "list").stdout
    assert token not in listed and json.loads(listed)[0]["prefix"] == payload["prefix"]
    (entry,) = _entries(migrated)
    assert (entry.action, entry.target, entry.source, entry.result) == (
        "tokens.create",
        "token:1",
        "cli",
        "ok",
    )
    assert entry.actor.startswith("cli:") and token not in json.dumps(entry.details)


def test_table_output_shows_the_token_on_its_own_line(migrated: Settings) -> None:
    result = _run(migrated, "tokens", "create", "--role", "inspector", "--name", "wang")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("cw_")]
    assert len(lines) == 1 and access.TOKEN_PATTERN.match(lines[0])


def test_bad_role_and_name_fail_with_the_rule(migrated: Settings) -> None:
    result, payload = _json(migrated, "tokens", "create", "--role", "root", "--name", "x")
    assert (
        result.exit_code == 1
        and "unknown role 'root'" in payload["error"]
        and "inspector" in payload["error"]
    )
    result, payload = _json(migrated, "tokens", "create", "--role", "admin", "--name", "a;b")
    assert result.exit_code == 1 and "token name" in payload["error"]
    assert _entries(migrated) == []


def test_revoke_stops_the_token_and_is_audited(migrated: Settings) -> None:
    _, created = _json(migrated, "tokens", "create", "--role", "analyst", "--name", "li")
    result, revoked = _json(migrated, "tokens", "revoke", str(created["id"]))
    assert result.exit_code == 0 and revoked["active"] is False and revoked["revoked_at"]
    engine = make_engine(migrated.db_url)
    with session_scope(engine) as session:
        assert access.authenticate(session, created["token"]) is None
    engine.dispose()
    assert [e.action for e in _entries(migrated)] == ["tokens.create", "tokens.revoke"]
    result, payload = _json(migrated, "tokens", "revoke", "999")
    # exit code of a refusal of kind not_found (serving/cli/state.py KIND_EXIT)
    assert result.exit_code == 4 and payload == {"error": "no API token with id 999"}


def test_audit_verify_detects_tampering(migrated: Settings) -> None:
    for name in ("a", "b", "c"):
        _run(migrated, "tokens", "create", "--role", "system", "--name", name)
    result, report = _json(migrated, "audit", "verify")
    assert result.exit_code == 0 and report["ok"] and report["entries"] == 3
    anchor = report["anchor"]
    assert anchor == f"3:{report['head_hash']}"
    assert _run(migrated, "audit", "verify", "--anchor", anchor).exit_code == 0
    engine = make_engine(migrated.db_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER audit_entries_no_delete")
        connection.execute(sa.text("DELETE FROM audit_entries WHERE id = 2"))
    engine.dispose()
    result, report = _json(migrated, "audit", "verify")
    assert result.exit_code == 1
    assert not report["ok"] and report["first_bad_id"] == 2 and "deleted" in report["reason"]
    human = _run(migrated, "audit", "verify")
    assert human.exit_code == 1 and "first_bad_id: 2" in human.stdout


def test_a_malformed_anchor_is_refused(migrated: Settings) -> None:
    result, payload = _json(migrated, "audit", "verify", "--anchor", "3:nothex")
    assert result.exit_code == 1 and "SEQ:HASH" in payload["error"]


def test_a_database_behind_the_code_says_what_to_run(settings: Settings) -> None:
    engine = make_engine(settings.db_url)
    upgrade(engine, "0002")
    engine.dispose()
    for args in (["tokens", "list"], ["audit", "verify"], ["serve"]):
        result, payload = _json(settings, *args)
        assert result.exit_code == 1, args
        assert "creditwatch db upgrade" in payload["error"]


def test_serve_runs_one_uvicorn_worker_on_localhost(migrated: Settings) -> None:
    # The configuration `creditwatch serve` hands uvicorn (the real server runs in
    # tests/serving/test_forwarded.py).
    from serving.api.app import create_app
    from serving.cli.serve import server_config

    config = server_config(migrated, create_app(migrated), host="127.0.0.1", port=8000)
    assert isinstance(config.app, FastAPI)
    assert (config.host, config.port, config.workers) == ("127.0.0.1", 8000, 1)
    assert config.proxy_headers is False  # no X-Forwarded-For believed without configured proxies
