"""Sector risk (issue 15) on the small synthetic city with its score runs (the monitoring tests' city: two
runs and a back-filled one that judges the inspections): the table, the trend and the report through the
API, the CLI and the page (and a real Chromium); the numbers recomputed independently from the stored score
file; the XLSX opened with openpyxl; the HTML report self-contained; roles; bad input."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features import lake as lake_io
from serving.api.app import create_app, role_matrix
from serving.cli import app as cli
from supervision.platform.access import Role
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, EARLIER, City, error, ok, raw_token, sign_in
from tests.serving.test_monitoring import BACKFILL, city, client  # noqa: F401  (the module's city)

pytestmark = pytest.mark.slow  # the module's city: generate, ingest, train, score three times

READERS = frozenset({Role.ANALYST, Role.SUPERVISOR})
# Wired into tests/serving/test_api_foundation.py (the app's matrix lists every route).
SECTORS_MATRIX: list[tuple[str, str, frozenset[Role] | str]] = [
    ("GET", "/sectors", READERS),
    ("GET", "/sectors/trend", READERS),
    ("GET", "/sectors/report", READERS),
]


def _cli(home: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--home", str(home), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ------------------------------------------------------------------------------------------------ roles
def test_the_routes_are_in_the_apps_matrix() -> None:
    rows = role_matrix()
    for row in SECTORS_MATRIX:
        assert row in rows


@pytest.mark.parametrize("path", ["/sectors", "/sectors/trend", "/sectors/report"])
@pytest.mark.parametrize("role", [r for r in Role if r not in READERS])
def test_other_roles_are_refused(client: TestClient, city: City, path: str, role: Role) -> None:  # noqa: F811
    error(client.get(path, headers=city.tokens[role]), 403, "forbidden")


@pytest.mark.parametrize("role", [Role.INSPECTOR, Role.ENTITY])
def test_the_page_refuses_other_roles(client: TestClient, city: City, role: Role) -> None:  # noqa: F811
    sign_in(client, city, role)
    r = client.get("/ui/sectors")
    report = client.get("/ui/sectors/report", params={"format": "xlsx"})
    client.cookies.clear()
    assert r.status_code == 403, r.text[:500]
    assert report.status_code == 403


# ------------------------------------------------------------------------------------------------ table
def test_the_table_agrees_with_the_score_file(client: TestClient, city: City) -> None:  # noqa: F811
    body = ok(client.get("/sectors", headers=city.tokens[Role.ANALYST]))
    assert body["as_of"] == AS_OF.isoformat() and body["by"] == "district_section"
    assert body["runs"] == [BACKFILL.isoformat(), EARLIER.isoformat(), AS_OF.isoformat()]
    scores = pl.read_parquet(city.settings.home / "scores" / f"as_of={AS_OF}.parquet")
    ents = (
        lake_io.scan(city.settings.lake_dir, "entities")
        .select("uscc", "division_code", "industry")
        .collect()
        .unique("uscc", keep="first")
    )
    joined = scores.join(ents, on="uscc", how="left").with_columns(
        pl.col("industry").str.slice(0, 1).str.to_uppercase().alias("section")
    )
    assert sum(r["entities"] for r in body["rows"]) == scores.height == body["entities"]
    # One cell recomputed independently: the biggest.
    big = max(body["rows"], key=lambda r: r["entities"])
    mine = joined.filter((pl.col("division_code") == big["district"]) & (pl.col("section") == big["section"]))
    assert big["entities"] == mine.height
    assert big["mean_probability"] == pytest.approx(mine["probability"].mean())
    assert big["share_cd"] == pytest.approx(mine["tier"].is_in(["C", "D"]).mean())
    assert big["section_zh"] and big["section_en"]
    # Inspections judged: the same count as the monitoring feedback; rates shown only from min_n.
    fed = ok(client.get("/monitoring/feedback", headers=city.tokens[Role.ANALYST]))
    assert body["inspections"] == fed["inspections"] > 0
    assert sum(r["inspections"] for r in body["rows"]) == body["inspections"]
    assert body["min_n"] == 30
    for r in body["rows"]:
        assert r["sufficient"] == (r["inspections"] >= body["min_n"])
        if r["sufficient"]:
            assert r["violation_rate"] == pytest.approx(r["violations"] / r["inspections"])
        else:
            assert r["violation_rate"] is None
    by_section = ok(client.get("/sectors", params={"by": "section"}, headers=city.tokens[Role.SUPERVISOR]))
    assert all(r["district"] is None for r in by_section["rows"])
    assert any(r["sufficient"] for r in by_section["rows"])  # a margin gathers enough inspections
    assert sum(r["inspections"] for r in by_section["rows"]) == body["inspections"]
    earlier = ok(
        client.get("/sectors", params={"as_of": EARLIER.isoformat()}, headers=city.tokens[Role.ANALYST])
    )
    assert earlier["as_of"] == EARLIER.isoformat() and earlier["runs"][-1] == EARLIER.isoformat()


def test_bad_input_is_refused(client: TestClient, city: City) -> None:  # noqa: F811
    h = city.tokens[Role.ANALYST]
    assert client.get("/sectors", params={"as_of": "9999-01-01"}, headers=h).status_code == 422
    assert client.get("/sectors", params={"as_of": "<script>"}, headers=h).status_code == 422
    assert client.get("/sectors", params={"by": "industry"}, headers=h).status_code == 422
    found = error(client.get("/sectors", params={"as_of": "2026-01-01"}, headers=h), 404, "not_found")
    assert "2026-01-01" in found["message"]
    assert client.get("/sectors/report", params={"format": "pdf"}, headers=h).status_code == 422
    assert client.get("/sectors/trend", params={"by": "x"}, headers=h).status_code == 422


def test_the_trend_covers_the_runs(client: TestClient, city: City) -> None:  # noqa: F811
    body = ok(client.get("/sectors/trend", headers=city.tokens[Role.ANALYST]))
    assert body["runs"] == [BACKFILL.isoformat(), EARLIER.isoformat(), AS_OF.isoformat()]
    assert {p["run"] for p in body["points"]} == set(body["runs"])
    table = ok(client.get("/sectors", params={"by": "section"}, headers=city.tokens[Role.ANALYST]))
    last = {p["section"]: p for p in body["points"] if p["run"] == AS_OF.isoformat()}
    for r in table["rows"]:
        if r["entities"]:
            assert last[r["section"]]["mean_probability"] == pytest.approx(r["mean_probability"])


# ------------------------------------------------------------------------------------------------ report
def test_the_xlsx_report_opens_and_has_the_rows(client: TestClient, city: City) -> None:  # noqa: F811
    import openpyxl

    r = client.get("/sectors/report", params={"format": "xlsx"}, headers=city.tokens[Role.SUPERVISOR])
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-disposition"] == f'attachment; filename="sector-risk-{AS_OF}.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    sheet = book["sectors"]
    rows = list(sheet.iter_rows(values_only=True))
    table = ok(client.get("/sectors", headers=city.tokens[Role.SUPERVISOR]))
    assert len(rows) == 1 + len(table["rows"])
    assert "district" in str(rows[0][0]) and "entities" in " ".join(str(c) for c in rows[0])
    assert sum(int(row[4]) for row in rows[1:]) == table["entities"]


def test_the_html_report_is_self_contained(client: TestClient, city: City) -> None:  # noqa: F811
    r = client.get("/sectors/report", params={"format": "html"}, headers=city.tokens[Role.ANALYST])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "attachment" in r.headers["content-disposition"]
    text = r.text
    assert 'data-chart-svg="sector-heat"' in text and 'data-chart-svg="sector-trend"' in text
    assert text.count("<svg") == 2 and "<script" not in text
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|url\(", text, flags=re.IGNORECASE)
    assert "制造业" in text or "批发和零售业" in text


def test_the_cli_answers_as_the_api(client: TestClient, city: City, tmp_path: Path) -> None:  # noqa: F811
    cli_table = _cli(city.settings.home, "sectors", "table")
    api = ok(client.get("/sectors", headers=city.tokens[Role.ANALYST]))
    assert [(r["district"], r["section"], r["entities"], r["violations"]) for r in cli_table["rows"]] == [
        (r["district"], r["section"], r["entities"], r["violations"]) for r in api["rows"]
    ]
    out = tmp_path / "sectors.xlsx"
    made = _cli(city.settings.home, "sectors", "report", "--format", "xlsx", "--out", str(out))
    assert made["bytes"] == out.stat().st_size > 0
    api_xlsx = client.get("/sectors/report", params={"format": "xlsx"}, headers=city.tokens[Role.ANALYST])
    import openpyxl

    assert [list(r) for r in openpyxl.load_workbook(out)["sectors"].iter_rows(values_only=True)] == [
        list(r)
        for r in openpyxl.load_workbook(io.BytesIO(api_xlsx.content))["sectors"].iter_rows(values_only=True)
    ]
    bad = CliRunner().invoke(
        cli, ["--home", str(city.settings.home), "sectors", "report", "--format", "pdf", "--out", str(out)]
    )
    assert bad.exit_code != 0 and "format" in bad.output
    table = CliRunner().invoke(
        cli, ["--home", str(city.settings.home), "sectors", "table", "--by", "section"]
    )
    assert table.exit_code == 0 and "sector risk" in table.output


# ------------------------------------------------------------------------------------------------ page
@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("role", [Role.ANALYST, Role.SUPERVISOR])
def test_the_page_shows_the_pictures(client: TestClient, city: City, role: Role, lang: str) -> None:  # noqa: F811
    sign_in(client, city, role)
    r = client.get("/ui/sectors", params={"lang": lang})
    share = client.get("/ui/sectors", params={"lang": lang, "metric": "share_cd"})
    bad = client.get("/ui/sectors", params={"metric": "evil"})
    download = client.get("/ui/sectors/report", params={"format": "xlsx"})
    client.cookies.clear()
    assert r.status_code == 200, r.text[:1000]
    text = r.text
    assert 'data-chart-svg="sector-heat" data-metric="mean_probability"' in text
    assert 'data-chart-svg="sector-trend"' in text and 'id="table"' in text
    assert ("风险热力图" in text) == (lang == "zh")
    assert 'href="/ui/sectors"' in text  # in the visitor's menu
    assert 'data-chart-svg="sector-heat" data-metric="share_cd"' in share.text
    assert bad.status_code in (400, 422)
    assert download.status_code == 200 and download.content[:2] == b"PK"


def test_a_real_browser_sees_the_sectors_page(city: City) -> None:  # noqa: F811
    from tests.serving.browser import browser, login, screenshot, serve

    app = create_app(city.settings, engine=city.engine, clock=china_half_past_midnight())
    with serve(app) as base, browser() as b:
        page = b.new_page()
        login(page, base, raw_token(city, Role.SUPERVISOR))
        page.goto(f"{base}/ui/sectors?lang=en")
        heat = page.locator("svg[data-chart-svg=sector-heat]")
        assert heat.count() == 1 and page.locator("svg[data-chart-svg=sector-trend]").count() == 1
        assert heat.locator("g[data-cell]").count() >= 2
        assert page.locator("svg[data-chart-svg=sector-trend] polyline").count() >= 2
        box = heat.bounding_box()
        assert box is not None and box["width"] > 200
        page.select_option("#metric", "share_cd")
        page.click("#metric-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("svg[data-chart-svg=sector-heat][data-metric=share_cd]").count() == 1
        screenshot(page, "sectors")
