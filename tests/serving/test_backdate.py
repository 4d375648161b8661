"""A decision dated further back than the lifecycle policy's ``decision.backdate`` rule (shipped: 30 days)
needs a reason, which the use case's audit entry keeps (issue 12, "Dates and bases are checked"). The rest
of the suite runs on a policy without the limit (tests/conftest.py); these tests use the shipped file."""

from __future__ import annotations

import json
import shlex
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from serving.api.app import create_app
from serving.cli import app
from serving.settings import Settings, load_settings
from supervision.platform import audit
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import issue as issue_header
from tests.serving.test_cli_lifecycle import issue
from tests.supervision.lifecycle_lake import AUTHORITY, E, build_lake

runner = CliRunner()
CLOCK = china_half_past_midnight()
TODAY = CLOCK.today()
SHIPPED = Path(str(resources.files("supervision.lifecycle") / "policy" / "lifecycle.toml"))


@pytest.fixture
def shipped(home: Path) -> Settings:
    settings = load_settings(home=home, lifecycle_policy=SHIPPED)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    build_lake(settings.home)
    return settings


def _cli(settings: Settings, command: str, token: str) -> tuple[int, Any]:
    result = runner.invoke(
        app,
        ["--home", str(settings.home), "--json", "--as", token, *shlex.split(command)],
        obj=CLOCK,
        env={"CREDITWATCH_LIFECYCLE_POLICY": str(SHIPPED)},
    )
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def _last_entry(settings: Settings, action: str) -> dict[str, Any]:
    engine = make_engine(settings.db_url)
    try:
        with session_scope(engine) as s:
            row = s.scalars(
                sa.select(audit.AuditEntry)
                .where(audit.AuditEntry.action == action)
                .order_by(audit.AuditEntry.id.desc())
            ).first()
            assert row is not None, f"no {action} entry"
            return dict(row.details or {})
    finally:
        engine.dispose()


def _filing(day: str) -> str:
    return f"objections file --uscc {E[0]} --table penalties --record P-GEN --grounds 金额有误 --on {day}"


def test_a_decision_within_the_limit_needs_no_reason(shipped: Settings) -> None:
    sup = issue(shipped, Role.SUPERVISOR, "sup-1")
    day = (TODAY - timedelta(days=30)).isoformat()
    code, filed = _cli(shipped, _filing(day), sup)
    assert code == 0, filed
    assert "backdated" not in _last_entry(shipped, "objections.file")


def test_a_decision_further_back_needs_a_reason_from_the_cli(shipped: Settings) -> None:
    sup = issue(shipped, Role.SUPERVISOR, "sup-1")
    day = (TODAY - timedelta(days=31)).isoformat()
    code, err = _cli(shipped, _filing(day), sup)
    assert code == 1 and "backdate_reason" in err["error"], err
    assert "decision.backdate" in err["error"] and day in err["error"]

    code, filed = _cli(shipped, f"{_filing(day)} --backdate-reason '纸质异议补录'", sup)
    assert code == 0, filed
    assert _last_entry(shipped, "objections.file")["backdated"] == {
        "filed_on": {"day": day, "reason": "纸质异议补录"}
    }


def test_a_decision_further_back_needs_a_reason_over_http(shipped: Settings) -> None:
    engine = make_engine(shipped.db_url)
    try:
        sup = issue_header(engine, Role.SUPERVISOR, department=AUTHORITY)
    finally:
        engine.dispose()
    day = (TODAY - timedelta(days=45)).isoformat()
    body = {
        "uscc": E[0],
        "record_table": "penalties",
        "record_id": "P-GEN",
        "grounds": "金额有误",
        "filed_on": day,
    }
    with TestClient(create_app(shipped, clock=CLOCK)) as client:
        refused = client.post("/objections", json=body, headers=sup)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["field"] == "backdate_reason"
        blank = client.post("/objections", json={**body, "backdate_reason": "   "}, headers=sup)
        assert blank.status_code == 422, blank.text
        filed = client.post("/objections", json={**body, "backdate_reason": "系统故障补录"}, headers=sup)
        assert filed.status_code == 201, filed.text
        oid = filed.json()["objection_id"]
        marked = client.post(
            f"/objections/{oid}/mark", json={"on": day, "backdate_reason": "同日标注"}, headers=sup
        )
        assert marked.status_code == 200, marked.text
    assert _last_entry(shipped, "objections.mark")["backdated"]["on"]["reason"] == "同日标注"
