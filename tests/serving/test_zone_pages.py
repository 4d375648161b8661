"""The entity's journey through the credit service zone in the system Chromium (issue 14): it signs in with
its token and lands on its zone, sees its records, objects to one (the producing department's queue shows it),
answers a prior notice, makes a commitment and downloads its credit report, whose number verifies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from serving.api.app import create_app
from serving.settings import Settings
from supervision.lifecycle import objections
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import issue
from tests.serving.browser import browser, login, screenshot, serve
from tests.supervision.lifecycle_lake import AUTHORITY, AUTHORITY_DIVISION, E, build_lake

A = E[2]  # a serious penalty P-REVOKE of the producing department


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    path = tmp_path / "zone-pages.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def test_an_entity_objects_answers_commits_and_downloads_its_report(
    settings: Settings, home: Path, engine: sa.Engine
) -> None:
    build_lake(home)
    supervisor = issue(engine, Role.SUPERVISOR, department=AUTHORITY, division=AUTHORITY_DIVISION)
    analyst = issue(engine, Role.ANALYST, department=AUTHORITY, division=AUTHORITY_DIVISION)
    entity = issue(engine, Role.ENTITY, name="entity-a", uscc=A)
    app = create_app(settings, engine=engine, clock=china_half_past_midnight())
    with serve(app) as base, browser() as br, httpx.Client(base_url=base) as api:
        # A supervisor of the producing department proposes a listing: the prior notice the entity answers.
        proposal = {
            "uscc": A,
            "list_type": "severe_dishonesty",
            "reasons": "吊销许可证件",
            "basis": "办法第二条",
        }
        r = api.post("/lists", json=proposal, headers=supervisor)
        assert r.status_code == 201, r.text
        case_id = r.json()["case_id"]

        page = br.new_page()
        login(page, base, _token(entity))
        assert page.url == f"{base}/ui/zone"
        row = page.locator("#record-penalties-P-REVOKE")
        assert row.get_attribute("data-state") == "in_force"
        assert "2027-05-06" in row.inner_text()  # publicity end: SAMR Order 45 art 13, 3 years
        assert page.locator(f"#notice-{case_id}").count() == 1
        assert page.locator("#not-shown").is_visible()
        page.evaluate("() => document.fonts.ready")  # the first page of a cold browser: CJK fonts loaded
        screenshot(page, "zone-record")

        # An objection against its penalty: handled by the department that produced it.
        row.locator("a").click()
        page.wait_for_url(re.compile(r".*/ui/zone/objections/new\?record=.*"))
        assert page.locator("#record").input_value() == "penalties:P-REVOKE"
        page.fill("#grounds", "处罚对象有误：<b>不是本公司</b>")
        page.click("#objection-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/ui/zone\?done=objection.*"))
        assert page.locator("#notice").is_visible()
        assert page.locator("#record-penalties-P-REVOKE").get_attribute("data-state") == "under_objection"
        objection = page.locator("#objections tbody tr")
        assert objection.count() == 1 and AUTHORITY in objection.inner_text()
        screenshot(page, "zone-objection-filed")
        queue = api.get("/objections", headers=supervisor).json()
        assert [(o["uscc"], o["record_id"], o["grounds"]) for o in queue] == [
            (A, "P-REVOKE", "处罚对象有误：<b>不是本公司</b>")
        ]

        # The statement (陈述申辩) on the prior notice.
        page.click(f"#notice-{case_id} a")
        page.wait_for_url(f"{base}/ui/zone/notices/{case_id}")
        page.fill("#statement", "已停止违法行为并整改完毕，请求不予列入。")
        page.click("#statement-form button[type=submit]")
        page.wait_for_url(re.compile(rf".*/ui/zone/notices/{case_id}\?done=stated"))
        assert page.locator("#response").inner_text() == "已停止违法行为并整改完毕，请求不予列入。"
        assert page.locator("#closed").is_visible()
        screenshot(page, "zone-notice-statement")
        assert api.get(f"/lists/{case_id}", headers=supervisor).json()["response"].startswith("已停止")

        # A commitment on a template, made to the department.
        page.goto(f"{base}/ui/zone/commitments/new")
        page.check("#matter-voluntary")
        page.select_option("#department", AUTHORITY)
        page.click("#commitment-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/ui/zone\?done=commitment.*"))
        assert "主动型信用承诺书" in page.locator("#commitments tbody").inner_text()

        # The credit report: shown in the browser with its number and hash, which verify.
        page.goto(f"{base}/ui/zone/report")
        page.click("#report-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        text = page.locator("body").inner_text()
        number = re.search(r"CR-[0-9A-Z]{18}-\d{8}-[0-9A-F]{10}", text)
        digest = re.search(r"[0-9a-f]{64}", text)
        assert number and digest, text[:400]
        screenshot(page, "zone-report")
        verified = api.get(
            f"/reports/{number.group(0)}/verify", params={"hash": digest.group(0)}, headers=analyst
        )
        assert verified.status_code == 200 and verified.json()["valid"] is True
        for marker in ("信用风险评估", "分类：", "评分日期"):
            assert marker not in text

        # In English too.
        page.goto(f"{base}/ui/zone?lang=en")
        assert page.locator("h1").inner_text().startswith("Credit service zone")
    with session_scope(engine) as s:
        assert len(objections.list_objections(s, uscc=A)) == 1
