"""The filings journeys of issue 14 in the system Chromium: an entity objects and a supervisor decides it on
the department's queue; an entity applies for repair, is refused before its eligible date and accepted later
with its documents; an entity reports an honour, a supervisor verifies it on the queue and the features
count it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from features import lake as lake_io
from features.build import build_features
from serving.api.app import create_app
from serving.settings import Settings, load_settings
from supervision.lifecycle import objections, repairs, self_reports
from supervision.platform.access import Role
from supervision.platform.clock import china_today
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.serving.api_city import issue
from tests.serving.browser import browser, login, screenshot, serve
from tests.serving.test_filings import PDF, PNG, clock_on, filings_policy
from tests.supervision.lifecycle_lake import AUTHORITY, AUTHORITY_DIVISION, E, build_lake


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'filings-pages.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def fsettings(home: Path, tmp_path: Path) -> Settings:
    build_lake(home)
    return load_settings(home=home, lifecycle_policy=filings_policy(tmp_path))


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _supervisor(engine: sa.Engine) -> str:
    return _token(issue(engine, Role.SUPERVISOR, department=AUTHORITY, division=AUTHORITY_DIVISION))


def test_an_entity_objects_and_the_department_decides_on_its_queue(
    fsettings: Settings, engine: sa.Engine
) -> None:
    entity = _token(issue(engine, Role.ENTITY, name="entity-0", uscc=E[0]))
    supervisor = _supervisor(engine)
    inspector = _token(issue(engine, Role.INSPECTOR, department=AUTHORITY, division=AUTHORITY_DIVISION))
    app = create_app(fsettings, engine=engine, clock=clock_on(china_today()))
    with serve(app) as base, browser() as br:
        page = br.new_page()
        login(page, base, entity)
        # The zone's objection form (helper B1's page): the entity objects to its own penalty.
        page.goto(f"{base}/ui/zone/objections/new?record=penalties:P-GEN")
        page.fill("#grounds", "罚款金额登记有误，应为 2000 元")
        page.click("#objection-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        with session_scope(engine) as s:
            (filed,) = objections.list_objections(s, uscc=E[0])
            oid, mark_due = filed.objection_id, filed.mark_due
        assert filed.department == AUTHORITY

        # An inspector of the department sees the queue and its clock, but no decision form.
        page.context.clear_cookies()
        login(page, base, inspector)
        page.goto(f"{base}/ui/queues")
        row = page.locator(f"#item-{oid}")
        assert row.get_attribute("data-kind") == "objection"
        assert mark_due.isoformat() in row.inner_text()
        assert row.locator("form").count() == 0

        # The supervisor marks it, tries to decide without reasons (the field is named), then rejects it.
        page.context.clear_cookies()
        login(page, base, supervisor)
        page.click("nav a[href='/ui/queues']")
        page.wait_for_url(f"{base}/ui/queues")
        row = page.locator(f"#item-{oid}")
        assert re.search(r"(剩余 \d+ 个工作日|今日到期)", row.inner_text())
        screenshot(page, "queue-objection")
        row.locator("button[value=mark]").click()
        page.wait_for_url(re.compile(r".*/ui/queues\?done=.*"))
        row = page.locator(f"#item-{oid}")
        row.locator("button[value=reject]").click()
        page.wait_for_load_state("networkidle")
        error = page.locator(f"#error-{oid}-reasons")
        assert error.is_visible() and "reasons" in error.inner_text()
        assert page.locator(f"#reasons-{oid}").get_attribute("aria-invalid") == "true"
        page.locator(f"#item-{oid} #reasons-{oid}").fill("经核查，罚款金额登记无误")
        page.locator(f"#item-{oid} button[value=reject]").click()
        page.wait_for_url(re.compile(r".*/ui/queues\?done=.*"))
        assert page.locator("#notice").is_visible()
        assert page.locator(f"#item-{oid}").count() == 0
        screenshot(page, "queue-objection-decided")
    with session_scope(engine) as s:
        done = objections.get(s, oid)
        assert (done.status, done.reasons) == ("rejected", "经核查，罚款金额登记无误")


def test_an_entity_is_refused_before_its_eligible_date_and_applies_later_with_documents(
    fsettings: Settings, engine: sa.Engine
) -> None:
    entity = _token(issue(engine, Role.ENTITY, name="entity-1", uscc=E[1]))
    supervisor = _supervisor(engine)
    # P-FOOD (E[1]): a general food penalty of 2026-02-02, repairable after one year: from 2027-02-02.
    with (
        serve(create_app(fsettings, engine=engine, clock=clock_on(date(2026, 12, 7)))) as base,
        browser() as br,
    ):
        page = br.new_page()
        login(page, base, entity)
        page.goto(f"{base}/ui/zone/repairs/new")
        assert page.locator("#record option[value='penalties:P-FOOD']").count() == 1
        page.select_option("#record", "penalties:P-FOOD")
        page.fill("#commitment", "本公司承诺依法诚信经营，不再发生同类违法行为")
        page.fill("#obligations_evidence", "罚款已缴清，缴款书 3209001")
        page.set_input_files(
            "#document_credit_training",
            files=[{"name": "培训证书.pdf", "mimeType": "application/pdf", "buffer": PDF}],
        )
        page.click("#repair-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#earliest").get_attribute("data-earliest") == "2027-02-02"
        assert (
            "2027-02-02" in page.locator("#earliest").inner_text()
            and "不予受理" in page.locator("#earliest").inner_text()
        )
        # What was typed is kept; nothing was written.
        assert page.locator("#commitment").input_value().startswith("本公司承诺")
        screenshot(page, "zone-repair-refused")
    with session_scope(engine) as s:
        assert repairs.list_repairs(s) == []

    with (
        serve(create_app(fsettings, engine=engine, clock=clock_on(date(2027, 2, 3)))) as base,
        browser() as br,
    ):
        page = br.new_page()
        login(page, base, entity)
        page.goto(f"{base}/ui/zone/repairs/new?lang=en")
        page.select_option("#record", "penalties:P-FOOD")
        page.fill("#commitment", "We commit to lawful, honest business.")
        page.fill("#obligations_evidence", "Fine paid, receipt 3209001")
        # Without the training certificate its regime requires: refused, naming the document field.
        page.click("#repair-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#error-document_credit_training").is_visible()
        assert "credit_training" in page.locator("#error-document_credit_training").inner_text()
        # A renamed HTML page is refused as well.
        page.set_input_files(
            "#document_credit_training",
            files=[
                {"name": "cert.pdf", "mimeType": "application/pdf", "buffer": b"<html><script>x</script>"}
            ],
        )
        page.click("#repair-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "not a PDF, JPEG or PNG" in page.locator("#error-document_credit_training").inner_text()
        page.set_input_files(
            "#document_credit_training",
            files=[{"name": "training.png", "mimeType": "image/png", "buffer": PNG}],
        )
        page.click("#repair-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/ui/zone/repairs/new\?done=REP-.*"))
        assert page.locator("#notice").is_visible()
        screenshot(page, "zone-repair-applied")

        # The department sees it in its queue with the document, and accepts it.
        page.context.clear_cookies()
        login(page, base, supervisor)
        page.goto(f"{base}/ui/queues")
        (row,) = page.locator("tr[data-kind=repair]").all()
        assert "credit_training" in row.inner_text()
        with page.expect_download() as download:
            row.locator("a[download]").click()
        assert Path(download.value.path()).read_bytes() == PNG
        row.locator("form[action$='/accept'] button").click()
        page.wait_for_url(re.compile(r".*/ui/queues\?done=.*"))
        assert "approve" in page.locator("tr[data-kind=repair] form").first.get_attribute("action")
    with session_scope(engine) as s:
        (applied,) = repairs.list_repairs(s)
        assert (applied.uscc, applied.status, applied.applied_on) == (E[1], "accepted", date(2027, 2, 3))


def _self_report_features(settings: Settings, as_of: date) -> dict[str, object]:
    frame = build_features(lake_io.sources(settings.lake_dir), as_of=as_of).filter(pl.col("uscc") == E[0])
    (row,) = frame.collect().to_dicts()
    return {k: v for k, v in row.items() if k.startswith("self_reports_")}


def test_a_self_report_is_verified_on_the_queue_and_shows_in_the_features(
    fsettings: Settings, engine: sa.Engine
) -> None:
    entity = _token(issue(engine, Role.ENTITY, name="entity-0", uscc=E[0]))
    supervisor = _supervisor(engine)
    today = china_today()
    as_of = today + timedelta(days=1)
    before = _self_report_features(fsettings, as_of)
    with serve(create_app(fsettings, engine=engine, clock=clock_on(today))) as base, browser() as br:
        page = br.new_page()
        login(page, base, entity)
        page.goto(f"{base}/ui/zone/self-reports/new")
        # An empty content is refused at its field.
        page.select_option("#topic", "honour")
        page.evaluate("document.querySelector('#content').removeAttribute('required')")
        page.click("#self-report-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#error-content").is_visible()
        page.fill("#content", "2026年度盐城市守合同重信用企业（证书编号 SH-2026-018）")
        page.set_input_files(
            "#documents", files=[{"name": "证书.pdf", "mimeType": "application/pdf", "buffer": PDF}]
        )
        page.click("#self-report-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/ui/zone/self-reports/new\?done=SR-.*"))
        assert AUTHORITY in page.locator("#notice").inner_text()
        (mine,) = page.locator("#my-self-reports tbody tr").all()
        assert mine.get_attribute("data-status") == "submitted"
        screenshot(page, "zone-self-report")
        with session_scope(engine) as s:
            (report,) = self_reports.list_reports(s, uscc=E[0])
            rid = report.report_id

        page.context.clear_cookies()
        login(page, base, supervisor)
        page.goto(f"{base}/ui/queues")
        row = page.locator(f"#item-{rid}")
        assert row.get_attribute("data-kind") == "self_report"
        assert row.locator("[data-left]").get_attribute("data-left") == "10"  # ten working days
        screenshot(page, "queue-self-report")
        row.locator("form[action$='/verify'] button").click()
        page.wait_for_url(re.compile(r".*/ui/queues\?done=.*"))
        assert page.locator(f"#item-{rid}").count() == 0
        screenshot(page, "queue-self-report-verified")

        page.context.clear_cookies()
        login(page, base, entity)
        page.goto(f"{base}/ui/zone/self-reports/new")
        assert page.locator(f"#report-{rid}").get_attribute("data-status") == "verified"
    after = _self_report_features(fsettings, as_of)
    assert after["self_reports_n_365d"] == int(before["self_reports_n_365d"] or 0) + 1  # type: ignore[call-overload]
    assert after["self_reports_verified_share_1095d"] == 1.0
