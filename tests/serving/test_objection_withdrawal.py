"""The withdrawal deadline of a changed or revoked decision (issue 12): an upheld objection gets
`withdraw_due` (`objection.withdraw_revoked`, 3 working days, SAMR Order 45 art 11), shown in its answer; the
overdue report lists it once passed while the 双公示 register shows the decision published and no withdrawal
is recorded."""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from serving.api.app import create_app
from serving.cli import app
from serving.settings import Settings
from supervision.platform.access import Role
from supervision.platform.db import make_engine, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import OTHER_DEPARTMENT, issue
from tests.serving.api_city import error as _error
from tests.serving.api_city import ok as _ok
from tests.supervision.lifecycle_lake import AUTHORITY, AUTHORITY_DIVISION, E, build_lake

runner = CliRunner()


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "api.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(migrated: Path, tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{shutil.copyfile(migrated, tmp_path / 'api.db')}")
    yield engine
    engine.dispose()


@pytest.fixture
def client(settings: Settings, home: Path, engine: sa.Engine) -> Iterator[TestClient]:
    build_lake(home)
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as c:
        yield c


def _upheld(
    client: TestClient, sup: dict[str, str], record_id: str, uscc: str, *, days: tuple[str, str, str]
) -> dict[str, Any]:
    filed, marked, decided = days
    filing = {"uscc": uscc, "record_table": "penalties", "record_id": record_id, "grounds": "处罚决定已撤销"}
    oid = _ok(client.post("/objections", json={**filing, "filed_on": filed}, headers=sup), 201)[
        "objection_id"
    ]
    _ok(client.post(f"/objections/{oid}/mark", json={"on": marked}, headers=sup))
    decision = {"outcome": "upheld", "resolution": "revoked", "reasons": "复议撤销", "on": decided}
    return dict(_ok(client.post(f"/objections/{oid}/decision", json=decision, headers=sup)))


def test_an_upheld_revocation_is_withdrawn_within_three_working_days(
    client: TestClient, engine: sa.Engine
) -> None:
    sup = issue(engine, Role.SUPERVISOR, department=AUTHORITY, division=AUTHORITY_DIVISION)
    _ok(client.post("/disclosure/register", headers=sup))
    _ok(client.post("/disclosure/penalties/P-GEN/publish", json={"on": "2025-03-10"}, headers=sup))
    # Upheld on Wed 2026-11-04: withdrawn by Mon 2026-11-09 (Thu, Fri, Mon).
    decided = _upheld(client, sup, "P-GEN", E[0], days=("2026-11-02", "2026-11-03", "2026-11-04"))
    oid = decided["objection_id"]
    assert decided["withdraw_due"] == "2026-11-09" and decided["withdrawn_on"] is None
    assert decided["rules"]["withdraw"]["kind"] == "objection.withdraw_revoked"
    assert _ok(client.get(f"/objections/{oid}", headers=sup))["withdraw_due"] == "2026-11-09"
    assert _ok(client.get("/objections/overdue", params={"on": "2026-11-09"}, headers=sup)) == []
    late = _ok(client.get("/objections/overdue", params={"on": "2026-11-10"}, headers=sup))
    assert late == [
        {
            "objection_id": oid,
            "department": AUTHORITY,
            "uscc": E[0],
            "status": "upheld",
            "deadline": "withdraw",
            "due": "2026-11-09",
            "working_days_late": 1,
        }
    ]
    other = issue(engine, Role.SUPERVISOR, name="other", department=OTHER_DEPARTMENT, person_id="x")
    _error(
        client.post(f"/objections/{oid}/withdrawal", json={"on": "2026-11-10"}, headers=other),
        403,
        "forbidden",
    )
    withdrawn = _ok(client.post(f"/objections/{oid}/withdrawal", json={"on": "2026-11-10"}, headers=sup))
    assert withdrawn["withdrawn_on"] == "2026-11-10"
    assert _ok(client.get("/objections/overdue", params={"on": "2026-11-27"}, headers=sup)) == []
    again = _error(client.post(f"/objections/{oid}/withdrawal", json={}, headers=sup), 409, "conflict")
    assert "recorded on 2026-11-10" in again["message"]


def test_nothing_to_withdraw_when_unpublished_or_rejected(client: TestClient, engine: sa.Engine) -> None:
    sup = issue(engine, Role.SUPERVISOR, department=AUTHORITY, division=AUTHORITY_DIVISION)
    _ok(client.post("/disclosure/register", headers=sup))  # P-FOOD registered, never published
    decided = _upheld(client, sup, "P-FOOD", E[1], days=("2026-11-02", "2026-11-03", "2026-11-04"))
    assert decided["withdraw_due"] == "2026-11-09"
    assert _ok(client.get("/objections/overdue", params={"on": "2026-11-27"}, headers=sup)) == []
    filing = {"uscc": E[5], "record_table": "penalties", "record_id": "P-REP1", "grounds": "g"}
    oid = _ok(client.post("/objections", json={**filing, "filed_on": "2026-11-02"}, headers=sup), 201)
    oid = oid["objection_id"]
    _ok(client.post(f"/objections/{oid}/mark", json={"on": "2026-11-03"}, headers=sup))
    rejected = {"outcome": "rejected", "reasons": "记录无误", "on": "2026-11-04"}
    assert _ok(client.post(f"/objections/{oid}/decision", json=rejected, headers=sup))["withdraw_due"] is None
    refused = _error(client.post(f"/objections/{oid}/withdrawal", json={}, headers=sup), 409, "conflict")
    assert "'rejected': 'withdraw' is not allowed" in refused["message"]


def _cli(settings: Settings, command: str, token: str) -> tuple[int, Any]:
    result = runner.invoke(
        app,
        ["--home", str(settings.home), "--json", "--as", token, *shlex.split(command)],
        obj=china_half_past_midnight(),
    )
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def test_the_cli_reports_and_records_the_withdrawal(settings: Settings) -> None:
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
        token = issue(engine, Role.SUPERVISOR, department=AUTHORITY, division=AUTHORITY_DIVISION)
    finally:
        engine.dispose()
    sup = token["Authorization"].removeprefix("Bearer ")
    build_lake(settings.home)
    assert _cli(settings, "disclosure register", sup)[0] == 0
    assert _cli(settings, "disclosure publish penalties P-REVOKE --on 2024-05-20", sup)[0] == 0
    filing = f"objections file --uscc {E[2]} --table penalties --record P-REVOKE --grounds g --on 2026-11-02"
    code, filed = _cli(settings, filing, sup)
    assert code == 0, filed
    oid = filed["objection_id"]
    assert _cli(settings, f"objections mark {oid} --on 2026-11-03", sup)[0] == 0
    decide = f"objections decide {oid} --upheld --resolution corrected --reasons 金额更正 --on 2026-11-04"
    code, decided = _cli(settings, decide, sup)
    assert code == 0 and decided["withdraw_due"] == "2026-11-09"
    code, late = _cli(settings, "objections overdue --on 2026-11-12", sup)
    assert code == 1 and [(r["deadline"], r["working_days_late"]) for r in late] == [("withdraw", 3)]
    code, withdrawn = _cli(settings, f"objections withdrawn {oid} --on 2026-11-12", sup)
    assert code == 0 and withdrawn["withdrawn_on"] == "2026-11-12"
    assert _cli(settings, "objections overdue --on 2026-11-27", sup) == (0, [])
