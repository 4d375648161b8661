"""The public 双公示 search (issue 14): ``GET /disclosure/search`` and the page ``/ui/public/decisions``, both
without a token; the withdrawal route (the publishing department only); the OpenAPI document's typed schemas;
and the page in the system Chromium.

On the lifecycle test lake plus one decision of each of the seven other kinds, an inspection result, a
licence, and a decision of an individual business named after its operator; registered and published through
the API by the deciding department."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.ingest import ingest_paths
from features.uscc import complete
from serving.api.app import create_app
from serving.settings import Settings
from supervision.lifecycle.disclosure import KINDS
from supervision.lifecycle.records import Lake
from supervision.platform.access import Role
from supervision.platform.db import make_engine, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import error as _error
from tests.serving.api_city import issue
from tests.serving.api_city import ok as _ok
from tests.serving.browser import browser, screenshot, serve
from tests.supervision.lifecycle_lake import (
    AUTHORITY,
    AUTHORITY_DIVISION,
    AUTHORITY_USCC,
    SALT,
    TODAY,
    E,
    build_lake,
)

HRSS = "盐城市人力资源和社会保障局"  # decides the seven other kinds here
SHOP = complete("92320902MA0000003")
SHOP_OWNER = "王小明"
DECIDED = date(2026, 9, 30)
ON = "2026-11-27"
SEVEN = ("enforcement", "confirmation", "levy", "benefit", "adjudication", "compensation", "reward")


def _more(root: Path, lake: Lake) -> None:
    src = root / "search-src"
    src.mkdir()
    pl.DataFrame(
        {
            "uscc": [SHOP],
            "name": [SHOP_OWNER],
            "entity_type": ["individual_business"],
            "industry": ["H62"],
            "division_code": ["320902"],
            "established_on": [date(2018, 1, 1)],
            "status": ["active"],
        }
    ).write_parquet(src / "entities-shop.parquet")
    rows = [
        {
            "decision_id": f"D-{kind.upper()}",
            "uscc": E[0],
            "kind": kind,
            "title": f"{KINDS[kind]}决定书",
            "content": "依法作出决定",
            "basis": "依据",
            "decided_on": DECIDED,
            "authority": HRSS,
            "authority_uscc": AUTHORITY_USCC,
        }
        for kind in SEVEN
    ]
    rows.append(
        {
            "decision_id": "D-SHOP",
            "uscc": SHOP,
            "kind": "reward",
            "title": "诚信经营户奖励决定",
            "content": "奖励",
            "basis": "依据",
            "decided_on": date(2026, 10, 12),
            "authority": HRSS,
            "authority_uscc": AUTHORITY_USCC,
        }
    )
    pl.DataFrame(rows).write_parquet(src / "decisions.parquet")
    pl.DataFrame(
        {
            "inspection_id": ["I-1"],
            "task_id": ["T-1"],
            "uscc": [E[1]],
            "department": [AUTHORITY],
            "inspected_on": [DECIDED],
            "inspectors": ["INS-1;INS-2"],
            "outcome": ["violation"],
            "findings": ["未按规定公示年度报告"],
            "selection_probability": [0.05],
            "in_control_slice": [False],
        }
    ).write_parquet(src / "inspections.parquet")
    reports = ingest_paths([src], lake_dir=lake.dir, salt=SALT, today=TODAY)
    assert all(r.rows_quarantined == 0 for r in reports), reports


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("search-template") / "api.db"
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
def app(settings: Settings, home: Path, engine: sa.Engine) -> Any:
    lake = build_lake(home)
    assert lake.dir == settings.lake_dir
    _more(home, lake)
    limits = {"rate_limit_burst": 10_000}
    # The public sees today's publication only: the app's today is the day the tests look at.
    clock = china_half_past_midnight(date.fromisoformat(ON))
    return create_app(settings.model_copy(update=limits), engine=engine, clock=clock)


def _who(engine: sa.Engine, department: str, name: str) -> dict[str, str]:
    return issue(engine, Role.SUPERVISOR, name=name, department=department, division=AUTHORITY_DIVISION)


@pytest.fixture
def client(app: Any, engine: sa.Engine) -> Iterator[TestClient]:
    """The app with every decision registered and published on its decision day by its own department."""
    market, hrss = _who(engine, AUTHORITY, "sup-ms"), _who(engine, HRSS, "sup-hrss")
    with TestClient(app) as c:
        _ok(c.post("/disclosure/register", headers=market))
        for kind in SEVEN:
            _ok(
                c.post(
                    f"/disclosure/decisions/D-{kind.upper()}/publish", json={"on": "2026-10-09"}, headers=hrss
                )
            )
        _ok(c.post("/disclosure/decisions/D-SHOP/publish", json={"on": "2026-10-12"}, headers=hrss))
        _ok(c.post("/disclosure/inspections/I-1/publish", json={"on": "2026-10-09"}, headers=market))
        _ok(c.post("/disclosure/penalties/P-FOOD/publish", json={"on": "2026-10-09"}, headers=market))
        yield c


def test_the_search_answers_without_a_token(client: TestClient) -> None:
    everything = _ok(client.get("/disclosure/search", params={"on": ON, "per_page": 100}))
    ids = [i["record_id"] for i in everything["items"]]
    # P-FOOD (a low fine of market supervision, February) left the pages after 3 months (Order 45 art 13).
    assert everything["total"] == len(ids) == 7 + 1 + 1 and "P-FOOD" not in ids
    assert ids[0] == "D-SHOP"  # newest first
    kinds = {i["kind"]: i["kind_zh"] for i in everything["items"]}
    assert kinds["inspection"] == "行政监督检查" and kinds["adjudication"] == "行政裁决"
    assert {k: v for k, v in KINDS.items() if k in kinds} == kinds
    # The operator's name of an individual business is masked; a company's name is not.
    shop = next(i for i in everything["items"] if i["record_id"] == "D-SHOP")
    assert SHOP_OWNER not in str(everything) and shop["party_name"].startswith("王")
    # Filters: kind, q over name / title / id / USCC, department, decision dates; paging.
    one = _ok(client.get("/disclosure/search", params={"on": ON, "kind": "levy"}))
    assert [i["record_id"] for i in one["items"]] == ["D-LEVY"] and one["total"] == 1
    assert _ok(client.get("/disclosure/search", params={"on": ON, "q": "行政裁决"}))["total"] == 1
    assert _ok(client.get("/disclosure/search", params={"on": ON, "q": E[1].lower()}))["total"] == 1
    assert _ok(client.get("/disclosure/search", params={"on": ON, "q": "测试公司0"}))["total"] == 7
    assert _ok(client.get("/disclosure/search", params={"on": ON, "department": AUTHORITY}))["total"] == 1
    dated = {"on": ON, "decided_from": "2026-10-01", "decided_to": "2026-10-31"}
    assert [i["record_id"] for i in _ok(client.get("/disclosure/search", params=dated))["items"]] == [
        "D-SHOP"
    ]
    page2 = _ok(client.get("/disclosure/search", params={"on": ON, "per_page": 3, "page": 2}))
    assert (page2["page"], page2["per_page"], page2["total"]) == (2, 3, 9)
    assert [i["record_id"] for i in page2["items"]] == ids[3:6]
    # The default day is the app's today (China), and the public may not ask for another day: an earlier one
    # would show again what a repair, revocation, withdrawal or the end of a publicity period took off.
    assert _ok(client.get("/disclosure/search"))["on"] == ON
    earlier = _error(client.get("/disclosure/search", params={"on": "2026-11-26"}), 422, "validation")
    assert earlier["field"] == "on" and "today" in earlier["message"]
    # Over 100 per page is a 422 naming the field.
    refused = _error(client.get("/disclosure/search", params={"per_page": 101}), 422, "validation")
    assert "per_page" in refused["field"]


def test_only_the_publishing_department_withdraws(client: TestClient, engine: sa.Engine) -> None:
    market, hrss = _who(engine, AUTHORITY, "sup-ms2"), _who(engine, HRSS, "sup-hrss2")
    body = {"on": ON, "reason": "决定已被撤销"}
    _error(client.post("/disclosure/decisions/D-LEVY/withdraw", json=body, headers=market), 403, "forbidden")
    _error(client.post("/disclosure/decisions/D-LEVY/withdraw", json=body), 401, "unauthenticated")
    empty = _error(
        client.post("/disclosure/decisions/D-LEVY/withdraw", json={"on": ON, "reason": ""}, headers=hrss),
        422,
        "validation",
    )
    assert "reason" in empty["field"]
    done = _ok(client.post("/disclosure/decisions/D-LEVY/withdraw", json=body, headers=hrss))
    assert (done["status"], done["withdrawn_on"], done["kind"]) == ("withdrawn", ON, "levy")
    assert _ok(client.get("/disclosure/search", params={"on": ON, "kind": "levy"}))["total"] == 0
    # The export and the search agree.
    assert "D-LEVY" not in {d["record_id"] for d in _ok(client.get("/disclosure/public", params={"on": ON}))}
    _error(client.post("/disclosure/decisions/D-LEVY/withdraw", json=body, headers=hrss), 409, "conflict")


def test_openapi_describes_the_search_and_the_withdrawal(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/disclosure/search"]["get"]
    assert op["x-roles"] == ["public"] and not op.get("security")
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/SearchPage"
    schemas = spec["components"]["schemas"]
    assert set(schemas["SearchPage"]["properties"]) == {"items", "total", "page", "per_page", "on"}
    assert schemas["SearchPage"]["properties"]["items"]["items"]["$ref"].endswith("/PublicDecision")
    assert set(schemas["PublicDecision"]["properties"]["kind"]["enum"]) == set(KINDS)
    params = {p["name"]: p for p in op["parameters"]}
    assert params["per_page"]["schema"]["maximum"] == 100
    assert params["q"]["schema"]["anyOf"][0]["maxLength"] == 100
    withdraw = spec["paths"]["/disclosure/{record_table}/{record_id}/withdraw"]["post"]
    assert withdraw["x-roles"] == ["supervisor"]
    body = withdraw["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/DisclosureWithdrawIn")
    records = spec["paths"]["/disclosure/overdue/records"]["get"]["responses"]["200"]["content"]
    assert records["application/json"]["schema"]["items"]["$ref"].endswith("/OverdueRecord")


def test_the_public_page_in_chromium(client: TestClient, app: Any) -> None:
    with serve(app) as base, browser() as b:
        page = b.new_page()
        page.goto(f"{base}/ui/public/decisions?lang=zh")
        assert "/ui/login" not in page.url
        assert page.locator("h1").inner_text() == "双公示信息查询"
        # The kind filter offers the ten kinds by their Chinese names.
        options = page.locator("#kind option").all_inner_texts()
        assert options[1:] == list(KINDS.values())
        assert page.locator("tbody tr").count() == 9
        page.select_option("#kind", "inspection")
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*kind=inspection.*"))
        assert page.locator("tbody tr").count() == 1
        assert page.locator("tr[data-record='inspections:I-1'] td").first.inner_text() == "行政监督检查"
        # A keyword and a date range; paging keeps the filters.
        page.goto(f"{base}/ui/public/decisions?per_page=4")
        assert page.locator("tbody tr").count() == 4
        page.click("a[rel=next]")
        page.wait_for_url(re.compile(r".*page=2.*"))
        assert "per_page=4" in page.url and page.locator("tbody tr").count() == 4
        page.goto(f"{base}/ui/public/decisions")
        page.fill("#q", "测试公司0")
        page.fill("#decided_from", "2026-09-01")
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("tbody tr").count() == 7
        assert SHOP_OWNER not in page.content()
        screenshot(page, "public-decisions")
        # A hostile keyword is shown as text, never run; a bad field is named on the page.
        page.goto(f"{base}/ui/public/decisions?q=%3Cscript%3Ealert(1)%3C/script%3E")
        assert page.locator("#q").input_value() == "<script>alert(1)</script>"
        assert page.locator("[data-state=no-match]").count() == 1
        for query, field in (("per_page=101", "per_page"), ("decided_to=9999-99-99", "decided_to")):
            response = page.goto(f"{base}/ui/public/decisions?{query}")
            assert response is not None and response.status == 422
            assert page.locator(f"[role=alert][data-field={field}]").count() == 1
        # English: the same page, the kinds with their English names beside the Chinese.
        page.goto(f"{base}/ui/public/decisions?lang=en&kind=reward")
        assert page.locator("h1").inner_text() == "Administrative decisions (双公示)"
        assert "行政奖励" in page.locator("tbody").inner_text()
