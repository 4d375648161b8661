"""Early warning through its doors: the API and the CLI run → list → acknowledge → close on a real lake and
two score runs with manifests; departments see only their own warnings and only a supervisor closes, with a
note; a refused score file is never compared; a webhook subscriber (a real local HTTP server) receives the
warning from the outbox through ``creditwatch lists deliver``; the supervisor's landing page shows the open
warning in the system Chromium and acknowledges and closes it."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.uscc import complete
from serving.api.app import create_app, role_matrix
from serving.api.routers import warnings as warnings_router
from serving.cli import app as cli
from serving.services.current_score import write_manifest
from serving.settings import Settings, load_settings
from supervision.lifecycle import lists, subscriptions
from supervision.lifecycle.records import Lake, write_rows
from supervision.monitoring import warnings
from supervision.platform import access
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.serving.browser import browser, login, screenshot, serve
from tests.serving.test_filings import clock_on
from tests.supervision.lifecycle_lake import _penalty
from tests.supervision.test_subscriptions import Receiver

SUP = frozenset({Role.SUPERVISOR})
# The routes of this module and the roles they admit (tests/serving/test_api_foundation.py joins them).
WARNINGS_MATRIX: list[tuple[str, str, frozenset[Role] | str]] = [
    ("POST", "/warnings/run", frozenset({Role.ANALYST, Role.SUPERVISOR})),
    ("GET", "/warnings", frozenset({Role.SUPERVISOR, Role.INSPECTOR})),
    ("POST", "/warnings/{warning_id}/acknowledge", SUP),
    ("POST", "/warnings/{warning_id}/close", SUP),
]

RISER = complete("91320902MD0000001")  # 亭湖区 (320902): probability and tier up
PENALISED = complete("91320900MD0000002")  # city level (320900): a serious penalty in the window
DISTRICT, CITY = "亭湖区市场监管局", "盐城市市场监管局"
P, C = date(2026, 10, 1), date(2026, 11, 1)
TODAY = date(2026, 11, 5)
runner = CliRunner()


def _scores(home: Path, day: date, rows: dict[str, tuple[float, str]], *, manifest: bool = True) -> Path:
    folder = home / "scores"
    folder.mkdir(exist_ok=True)
    path = folder / f"as_of={day.isoformat()}.parquet"
    pl.DataFrame(
        {
            "uscc": list(rows),
            "probability": [p for p, _ in rows.values()],
            "tier": [t for _, t in rows.values()],
            "model_version": ["3"] * len(rows),
            "reasons": [[] for _ in rows],
        },
        schema_overrides={"reasons": pl.List(pl.String)},
    ).write_parquet(path)
    if manifest:
        write_manifest(path, kind="scores", as_of=day, rows=len(rows), model_version="3")
    return path


@pytest.fixture
def city(home: Path) -> Settings:
    """A migrated home: two entities, a serious penalty in the window, two valid score runs."""
    settings = load_settings(home=home)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    lake = Lake(dir=settings.lake_dir, salt="warnings-test-salt")
    write_rows(
        lake,
        "entities",
        [
            {
                "uscc": uscc,
                "name": f"预警测试公司{i}",
                "entity_type": "enterprise",
                "industry": "F51",
                "division_code": division,
                "established_on": date(2015, 1, 1),
                "status": "active",
            }
            for i, (uscc, division) in enumerate(((RISER, "320902"), (PENALISED, "320900")))
        ],
        source="entities",
        today=TODAY,
    )
    write_rows(
        lake,
        "penalties",
        [
            _penalty("P-SER", PENALISED, date(2026, 10, 20), severity="serious"),
            _penalty("P-OLD", PENALISED, date(2026, 9, 20), severity="serious"),  # before the window
        ],
        source="penalties",
        today=TODAY,
    )
    _scores(home, P, {RISER: (0.10, "B"), PENALISED: (0.20, "B")})
    _scores(home, C, {RISER: (0.40, "C"), PENALISED: (0.22, "B")})
    return settings


def _token(settings: Settings, role: Role, name: str, department: str | None = DISTRICT) -> str:
    engine = make_engine(settings.db_url)
    try:
        with session_scope(engine) as s:
            return access.create_token(
                s, name=name, role=role, department=department, division="320902", person_id=name
            ).token
    finally:
        engine.dispose()


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(city: Settings) -> Iterator[TestClient]:
    engine = make_engine(city.db_url)
    with TestClient(create_app(city, engine=engine, clock=clock_on(TODAY))) as c:
        yield c
    engine.dispose()


def _cli(settings: Settings, command: str, token: str | None = None) -> tuple[int, Any]:
    who = [] if token is None else ["--as", token]
    result = runner.invoke(
        cli, ["--home", str(settings.home), "--json", *who, *shlex.split(command)], obj=clock_on(TODAY)
    )
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def test_the_matrix_is_the_routers() -> None:
    assert role_matrix([warnings_router.router]) == WARNINGS_MATRIX


def test_api_run_list_acknowledge_close(city: Settings, client: TestClient) -> None:
    analyst = _h(_token(city, Role.ANALYST, "analyst-1", department="数据中心"))
    sup = _h(_token(city, Role.SUPERVISOR, "sup-district"))
    city_sup = _h(_token(city, Role.SUPERVISOR, "sup-city", department=CITY))
    inspector = _h(_token(city, Role.INSPECTOR, "insp-district"))

    r = client.post("/warnings/run", json={"as_of": TODAY.isoformat()}, headers=analyst)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["run_as_of"], body["previous_as_of"]) == (C.isoformat(), P.isoformat())
    assert {k: v for k, v in body["found"].items() if v} == {
        "probability_rise": 1,
        "tier_up": 1,
        "serious_penalty": 1,
    }
    assert body["total_new"] == 3
    again = client.post("/warnings/run", json={}, headers=analyst).json()  # as_of: today
    assert again["total_new"] == 0 and again["found"] == body["found"]
    # An inspector may not run it; hostile bodies are refused before the service.
    assert client.post("/warnings/run", json={}, headers=inspector).status_code == 403
    assert client.post("/warnings/run", json={"as_of": "9999-12-31"}, headers=analyst).status_code == 422
    assert client.post("/warnings/run", json={"extra": 1}, headers=analyst).status_code == 422

    page = client.get("/warnings", headers=sup).json()
    assert page["department"] == DISTRICT and page["total"] == 2
    rise = next(w for w in page["items"] if w["rule"] == "probability_rise")
    assert rise["uscc"] == RISER and rise["evidence"]["before"] == 0.1 and rise["evidence"]["after"] == 0.4
    assert rise["rule_zh"] == "违规概率显著上升" and rise["department"] == DISTRICT
    theirs = client.get("/warnings", headers=city_sup).json()
    assert [(w["uscc"], w["rule"]) for w in theirs["items"]] == [(PENALISED, "serious_penalty")]
    assert theirs["items"][0]["evidence"]["records"][0]["decision_no"] == "P-SER"
    assert client.get("/warnings", headers=inspector).json()["total"] == 2
    assert client.get("/warnings?rule=tier_up", headers=sup).json()["total"] == 1
    assert client.get("/warnings?status=closed", headers=sup).json()["total"] == 0
    assert client.get("/warnings?limit=201", headers=sup).status_code == 422
    assert client.get("/warnings?rule=nonsense", headers=sup).status_code == 422
    assert client.get("/warnings", headers=analyst).status_code == 403

    wid = rise["id"]
    # Another department's supervisor: 403 naming the rule; an inspector may not act; nothing changes.
    refused = client.post(f"/warnings/{wid}/acknowledge", headers=city_sup)
    assert refused.status_code == 403 and DISTRICT in refused.text
    assert client.post(f"/warnings/{wid}/close", json={"note": "x"}, headers=city_sup).status_code == 403
    assert client.post(f"/warnings/{wid}/close", json={"note": "x"}, headers=inspector).status_code == 403
    assert client.post("/warnings/999999/acknowledge", headers=sup).status_code == 404

    acked = client.post(f"/warnings/{wid}/acknowledge", headers=sup)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assert client.post(f"/warnings/{wid}/acknowledge", headers=sup).status_code == 409
    # The note is required (absent, blank) and at most 2000 characters.
    assert client.post(f"/warnings/{wid}/close", json={}, headers=sup).status_code == 422
    blank = client.post(f"/warnings/{wid}/close", json={"note": "   "}, headers=sup)
    assert blank.status_code == 422 and "note" in blank.text
    assert client.post(f"/warnings/{wid}/close", json={"note": "x" * 2001}, headers=sup).status_code == 422
    closed = client.post(f"/warnings/{wid}/close", json={"note": "已现场核查，约谈负责人"}, headers=sup)
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["note"]) == ("closed", "已现场核查，约谈负责人")
    assert client.get("/warnings?status=open", headers=sup).json()["total"] == 1


def test_a_refused_score_file_is_never_compared(city: Settings, client: TestClient) -> None:
    analyst = _h(_token(city, Role.ANALYST, "analyst-1", department="数据中心"))
    # A newer run dropped in without its manifest is refused: the two valid runs are still compared.
    _scores(city.home, date(2026, 11, 3), {RISER: (0.99, "D")}, manifest=False)
    body = client.post("/warnings/run", json={}, headers=analyst).json()
    assert body["run_as_of"] == C.isoformat()
    # Only one valid run on or before 2026-10-15: nothing to compare, the field is named.
    r = client.post("/warnings/run", json={"as_of": "2026-10-15"}, headers=analyst)
    assert r.status_code == 422 and "as_of" in r.text and "two valid score runs" in r.text


def test_cli_run_list_ack_close(city: Settings) -> None:
    sup = _token(city, Role.SUPERVISOR, "sup-district")
    other = _token(city, Role.SUPERVISOR, "sup-city", department=CITY)
    inspector = _token(city, Role.INSPECTOR, "insp-district")
    code, out = _cli(city, "warnings run")  # the local operator, like `creditwatch score`
    assert code == 0, out
    assert out["total_new"] == 3
    code, out = _cli(city, "warnings run --as-of 2026-11-05")
    assert code == 0 and out["total_new"] == 0
    code, out = _cli(city, "warnings list --status open", sup)
    assert code == 0 and out["total"] == 2
    tier = next(w for w in out["items"] if w["rule"] == "tier_up")
    assert tier["evidence"]["before"] == "B" and tier["evidence"]["after"] == "C"
    code, out = _cli(city, f"warnings ack {tier['id']}", other)
    assert code == 3 and "belongs to" in out["error"]
    code, out = _cli(city, f"warnings ack {tier['id']}", sup)
    assert code == 0 and out["status"] == "acknowledged"
    code, out = _cli(city, f"warnings close {tier['id']} --note ' '", sup)
    assert code != 0 and "note" in out["error"]
    code, out = _cli(city, f"warnings close {tier['id']} --note 已处理", inspector)
    assert code == 3
    code, out = _cli(city, f"warnings close {tier['id']} --note 已处理", sup)
    assert code == 0 and out["status"] == "closed"
    code, out = _cli(city, "warnings list --status closed", sup)
    assert [w["id"] for w in out["items"]] == [tier["id"]]


def test_the_outbox_delivers_warnings_to_a_subscriber(city: Settings, client: TestClient) -> None:
    receiver = Receiver()
    try:
        engine = make_engine(city.db_url)
        with session_scope(engine) as s:
            subscriptions.subscribe(
                s, name="province-platform", url=receiver.url, now=datetime(2026, 11, 1, tzinfo=UTC)
            )
        engine.dispose()
        analyst = _h(_token(city, Role.ANALYST, "analyst-1", department="数据中心"))
        assert client.post("/warnings/run", json={}, headers=analyst).json()["total_new"] == 3
        code, out = _cli(city, "lists deliver")
        assert code == 0, out
        assert out == [{"subscriber": "province-platform", "delivered": 3, "status": 200, "retry_at": None}]
        (batch,) = receiver.received
        assert {e["kind"] for e in batch} == {"warning"}
        rules = sorted(e["warning"]["rule"] for e in batch)
        assert rules == ["probability_rise", "serious_penalty", "tier_up"]
        serious = next(e for e in batch if e["warning"]["rule"] == "serious_penalty")
        assert serious["uscc"] == PENALISED and serious["warning"]["department"] == CITY
        assert serious["warning"]["evidence"]["records"][0]["decision_no"] == "P-SER"
        # GET /events (list events only) does not carry them: its consumers see what they always saw.
        system = _h(_token(city, Role.SYSTEM, "platform", department="江苏省公共信用信息平台"))
        events = client.get("/events", headers=system)
        assert events.status_code == 200 and events.json() == []
        with session_scope(make_engine(city.db_url)) as s:
            assert lists.events_after(s) == []
    finally:
        receiver.close()


def test_the_supervisors_landing_page_shows_and_handles_the_open_warnings(city: Settings) -> None:
    sup = _token(city, Role.SUPERVISOR, "sup-district")
    engine = make_engine(city.db_url)
    app = create_app(city, engine=engine, clock=clock_on(TODAY))
    assert _cli(city, "warnings run")[1]["total_new"] == 3
    with session_scope(engine) as s:
        ids = {
            w.rule: w.id
            for w in s.scalars(sa.select(warnings.Warning).where(warnings.Warning.department == DISTRICT))
        }
    with serve(app) as base, browser() as br:
        page = br.new_page()
        login(page, base, sup)
        assert page.url.startswith(f"{base}/ui/entities")
        rise = page.locator(f"#warning-{ids['probability_rise']}")
        assert rise.get_attribute("data-status") == "open"
        text = rise.inner_text()
        assert "违规概率显著上升" in text and "0.100" in text and "0.400" in text and DISTRICT in text
        assert page.locator(f"#warning-{ids['tier_up']}").is_visible()
        assert page.locator("#warnings-department").inner_text() == DISTRICT
        assert PENALISED not in page.locator("#warnings").inner_text()  # another department's
        screenshot(page, "warnings-open")
        rise.locator("form.warning-ack button").click()
        page.wait_for_url(re.compile(r".*/ui/entities\?warning_done=.*"))
        rise = page.locator(f"#warning-{ids['probability_rise']}")
        assert rise.get_attribute("data-status") == "acknowledged"
        # Closing without a note: refused, the field named, nothing changed.
        rise.locator("form.warning-close button").click()
        page.wait_for_load_state("networkidle")
        error = page.locator("#warnings-error")
        assert error.is_visible() and error.get_attribute("data-field") == "note"
        page.locator(f"#note-{ids['probability_rise']}").fill("已约谈企业负责人")
        page.locator(f"#warning-{ids['probability_rise']} form.warning-close button").click()
        page.wait_for_url(re.compile(r".*/ui/entities\?warning_done=.*"))
        assert page.locator(f"#warning-{ids['probability_rise']}").count() == 0
        assert page.locator("#warnings-notice").is_visible()
        page.goto(f"{base}/ui/entities?lang=en")
        assert "probability of a violation" not in page.locator("#warnings").inner_text()
        assert "tier moved up into C/D" in page.locator("#warnings").inner_text()
    with session_scope(engine) as s:
        closed = warnings.get(s, ids["probability_rise"])
        assert (closed.status, closed.note) == ("closed", "已约谈企业负责人")
        assert closed.closed_by is not None and closed.closed_by.startswith("sup-district")
    engine.dispose()
