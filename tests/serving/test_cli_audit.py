"""``creditwatch audit verify`` against the signed checkpoints, and ``audit checkpoint`` after a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from serving.cli import app
from serving.settings import Settings
from supervision.platform import audit
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.supervision.test_checkpoints import _forge_append

runner = CliRunner()


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    return settings


def _cli(settings: Settings, *args: str) -> tuple[Any, Any]:
    result = runner.invoke(
        app, ["--home", str(settings.home), "--json", *args], obj=china_half_past_midnight()
    )
    return result, json.loads(result.stdout) if result.stdout.strip() else None


def test_entries_written_through_the_doors_are_covered_and_a_forged_one_is_not(migrated: Settings) -> None:
    assert _cli(migrated, "tokens", "create", "--role", "analyst", "--name", "li")[0].exit_code == 0
    result, report = _cli(migrated, "audit", "verify")
    assert result.exit_code == 0 and report["checkpoints"]["covered_seq"] == 1
    assert migrated.workspace.audit_checkpoints.exists()

    engine = make_engine(migrated.db_url)
    with session_scope(engine) as session:  # the verify is audited too: its own entry is covered
        forged = len(audit.entries(session)) + 1
    _forge_append(engine)  # someone with the database but not the key
    engine.dispose()
    result, report = _cli(migrated, "audit", "verify")
    assert result.exit_code == 1 and report["ok"] is False
    assert "not covered by a signed checkpoint" in report["reason"] and report["first_bad_id"] == forged

    # After looking at the entry, an administrator vouches for it: audited, and the head is signed again.
    result, _ = _cli(migrated, "audit", "checkpoint", "--reason", "checked against the paper log")
    assert result.exit_code == 0, result.output
    result, report = _cli(migrated, "audit", "verify")
    assert result.exit_code == 0 and report["checkpoints"]["covered_seq"] >= forged + 1
    engine = make_engine(migrated.db_url)
    with session_scope(engine) as session:
        vouched = [e for e in audit.entries(session) if e.action == "audit.checkpoint"]
    engine.dispose()
    assert [(e.details["vouched"], e.details["reason"]) for e in vouched] == [
        ([[forged, forged]], "checked against the paper log")
    ]


def test_a_broken_chain_is_never_signed(migrated: Settings) -> None:
    assert _cli(migrated, "tokens", "create", "--role", "analyst", "--name", "li")[0].exit_code == 0
    engine = make_engine(migrated.db_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_entries_no_update")
        table = audit.AuditEntry.__table__
        connection.execute(sa.update(table).where(table.c.id == 1).values(actor="someone-else#9"))
    engine.dispose()
    result, payload = _cli(migrated, "audit", "checkpoint", "--reason", "looks fine")
    assert result.exit_code == 5 and "does not verify" in payload["error"]
    assert _cli(migrated, "audit", "checkpoint", "--reason", "  ")[0].exit_code == 1
