"""Repairs follow the issuing authority, over the API and the CLI (issue 12): the environment bureau's penalty
gets the national earliest date, the market regulator's the SAMR one; an application before that date is
refused (422 / exit 1) naming the field and the date; a route the regime requires is named when missing."""

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
from tests.serving.api_city import error as _error
from tests.serving.api_city import issue
from tests.serving.api_city import ok as _ok
from tests.supervision.lifecycle_lake import (
    AUTHORITY,
    AUTHORITY_DIVISION,
    ENV_AUTHORITY,
    E,
    add_environment_penalties,
    build_lake,
)

runner = CliRunner()
APPLY = {"commitment": "承诺守法经营", "obligations_evidence": "缴款凭证 2026-001"}


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
    add_environment_penalties(build_lake(home))
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as c:
        yield c


def _env(engine: sa.Engine) -> dict[str, str]:
    """A supervisor of the environment bureau: it handles the repair of its own penalty."""
    return issue(engine, Role.SUPERVISOR, department=ENV_AUTHORITY, division=AUTHORITY_DIVISION)


def _minimum(view: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in view["conditions"] if c["name"] == "minimum_period")


def test_environment_bureau_penalty_gets_the_national_date_over_http(
    client: TestClient, engine: sa.Engine
) -> None:
    env = _env(engine)
    body = {"uscc": E[6], "record_table": "penalties", "record_id": "P-ENV", **APPLY}
    # Decided 2026-06-01: the national 3 months end on 2026-09-01 (not the SAMR system's 2026-12-01).
    early = _error(
        client.post("/repairs", json={**body, "applied_on": "2026-08-31"}, headers=env), 422, "validation"
    )
    assert early["field"] == "applied_on"
    assert "earliest eligible date 2026-09-01" in early["message"] and "不予受理" in early["message"]
    assert _ok(client.get("/repairs", headers=env)) == []  # nothing recorded: nothing to go overdue
    applied = _ok(client.post("/repairs", json={**body, "applied_on": "2026-09-01"}, headers=env), 201)
    assert (applied["regime"], applied["department"]) == ("national", ENV_AUTHORITY)
    assert _minimum(applied)["ok"] and _minimum(applied)["detail"].endswith("earliest 2026-09-01")
    assert _ok(client.get("/repairs/overdue", params={"on": "2026-09-04"}, headers=env)) == []


def test_market_supervision_penalty_gets_the_samr_date_over_http(
    client: TestClient, engine: sa.Engine
) -> None:
    sup = issue(engine, Role.SUPERVISOR, department=AUTHORITY, division=AUTHORITY_DIVISION)
    body = {"uscc": E[0], "record_table": "penalties", "record_id": "P-GEN", **APPLY}
    early = _error(
        client.post("/repairs", json={**body, "applied_on": "2025-09-02"}, headers=sup), 422, "validation"
    )
    assert early["field"] == "applied_on" and "earliest eligible date 2025-09-03" in early["message"]
    applied = _ok(client.post("/repairs", json={**body, "applied_on": "2025-09-03"}, headers=sup), 201)
    assert applied["regime"] == "samr"
    assert _minimum(applied)["rule"]["kind"] == "repair.min_publicity.samr.general"


def test_a_missing_route_is_named_over_http(client: TestClient, engine: sa.Engine) -> None:
    env = _env(engine)
    # P-ENV-SER: serious, 2021-06-01; in 2022 the national rule (527号) asked a credit training and a report.
    body = {
        "uscc": E[6],
        "record_table": "penalties",
        "record_id": "P-ENV-SER",
        "applied_on": "2022-06-01",
        **APPLY,
    }
    training = {"name": "credit_training", "reference": "培训结业证书 2022-017"}
    missing = _error(
        client.post("/repairs", json={**body, "conditions_met": [training]}, headers=env), 422, "validation"
    )
    assert missing["field"] == "conditions_met" and "missing credit_report (信用报告" in missing["message"]
    twice = client.post("/repairs", json={**body, "conditions_met": [training, training]}, headers=env)
    assert twice.status_code == 422 and "given twice: credit_training" in twice.text
    report = {"name": "credit_report", "reference": "信用报告 XY-2022-88"}
    applied = _ok(
        client.post("/repairs", json={**body, "conditions_met": [training, report]}, headers=env), 201
    )
    assert applied["conditions_met"] == {
        "credit_training": "培训结业证书 2022-017",
        "credit_report": "信用报告 XY-2022-88",
    }
    assert {c["name"]: c["ok"] for c in applied["conditions"]}["credit_report"] is True


def _cli(settings: Settings, command: str, token: str) -> tuple[int, Any]:
    result = runner.invoke(
        app,
        ["--home", str(settings.home), "--json", "--as", token, *shlex.split(command)],
        obj=china_half_past_midnight(),
    )
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def test_the_cli_refuses_early_and_incomplete_applications(settings: Settings) -> None:
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
        token = _env(engine)["Authorization"].removeprefix("Bearer ")
    finally:
        engine.dispose()
    add_environment_penalties(build_lake(settings.home))
    apply = f"repairs apply --uscc {E[6]} --table penalties --commitment c --evidence e"
    code, refused = _cli(settings, f"{apply} --record P-ENV --on 2026-08-31", token)
    assert (
        code == 1
        and "applied_on 2026-08-31: before the earliest eligible date 2026-09-01" in refused["error"]
    )
    code, refused = _cli(settings, f"{apply} --record P-ENV-SER --on 2022-06-01", token)
    assert code == 1 and "missing credit_training" in refused["error"] and "credit_report" in refused["error"]
    code, refused = _cli(
        settings, f"{apply} --record P-ENV-SER --on 2022-06-01 --condition credit_training", token
    )
    assert code == 1 and "NAME=REFERENCE" in refused["error"]
    routes = "--condition 'credit_training=培训结业证书 2022-017' --condition credit_report=XY-2022-88"
    code, applied = _cli(settings, f"{apply} --record P-ENV-SER --on 2022-06-01 {routes}", token)
    assert code == 0, applied
    assert applied["regime"] == "national" and applied["conditions_met"]["credit_report"] == "XY-2022-88"
    code, applied = _cli(settings, f"{apply} --record P-ENV --on 2026-09-01", token)
    assert code == 0 and _minimum(applied)["detail"].endswith("earliest 2026-09-01")
