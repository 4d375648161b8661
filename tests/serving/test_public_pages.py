"""Issue 14, the public without signing in: the 信用承诺 column, the measure catalogs, the red and black
lists, the court-debtor list and report verification, as ``/public`` API routes and ``/ui/public`` pages.

On the lifecycle test lake (tests/supervision/lifecycle_lake.py) plus entries that left their list (exited,
ran out, repaired, revoked on an objection), a company whose legal representative is a minor, an individual
business named after its operator and a court-debtor entry; a listing decided here goes through the API's
steps. Every route and page answers without a token; a person's name never appears in clear, a minor's record
never at all; hostile inputs are 422s; and a real Chromium visits every page without signing in."""

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

from features.identity import check_digit
from features.ingest import ingest_paths
from features.uscc import complete
from serving.api.app import create_app, role_matrix
from serving.api.routers import public as public_routes
from serving.services import commitments, publication
from serving.services.context import THE_PUBLIC, Context, Door
from serving.settings import Settings
from serving.web import i18n
from serving.web.messages import public as public_messages
from supervision.lifecycle.records import Lake, write_rows
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from supervision.platform.errors import DomainError
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import issue
from tests.serving.api_city import ok as _ok
from tests.serving.browser import browser, screenshot, serve
from tests.supervision.lifecycle_lake import AUTHORITY, AUTHORITY_DIVISION, SALT, TODAY, E, build_lake

MINOR_CO = complete("91320902MB0000001")  # its legal representative was born in 2015
COURT_CO = complete("91320902MB0000002")
SHOP = complete("92320902MA0000003")  # an individual business, named after its operator
SHOP_OWNER = "王小明"
MINOR_NAME = "未成年人测试公司"
MINOR_ID = "11010520150101001" + check_digit("11010520150101001")
ADULT_ID = "11010519491231002X"
PHONE = "13812345678"

# In force today: the lake's L-ABN and L-SEV (build_lake), L-RED, L-SHOP; L-COURT on the court's list.
IN_FORCE = {"L-ABN", "L-SEV", "L-RED", "L-SHOP"}
GONE = {"L-EXIT", "L-PLANNED", "L-REPAIRED", "L-REVOKED"}
MINORS = {"L-MINOR", "L-MINOR-COURT"}

API_ROUTES = [
    "/public/commitments",
    "/public/measures",
    "/public/lists",
    "/public/court-debtors",
    f"/public/reports/CR-{E[0]}-20261127-0123456789",
]
PAGES = [
    "/ui/public",
    "/ui/public/commitments",
    "/ui/public/measures",
    "/ui/public/lists",
    "/ui/public/court-debtors",
    "/ui/public/verify",
]


def _more(root: Path, lake: Lake) -> None:
    """The entries, entities and persons of this module, through the real ingest."""
    src = root / "public-src"
    src.mkdir()
    pl.DataFrame(
        {
            "uscc": [MINOR_CO, COURT_CO, SHOP],
            "name": [MINOR_NAME, "法院测试公司", SHOP_OWNER],
            "entity_type": ["enterprise", "enterprise", "individual_business"],
            "industry": ["H62"] * 3,
            "division_code": ["320902"] * 3,
            "established_on": [date(2020, 1, 1)] * 3,
            "status": ["active"] * 3,
        }
    ).write_parquet(src / "entities.parquet")
    pl.DataFrame({"id_number": [MINOR_ID, ADULT_ID], "name": ["小明", SHOP_OWNER]}).write_csv(
        src / "persons.csv"
    )
    pl.DataFrame(
        {
            "relation_id": ["R-MINOR", "R-SHOP"],
            "uscc": [MINOR_CO, SHOP],
            "relation_type": ["legal_representative", "legal_representative"],
            "person_id_number": [MINOR_ID, ADULT_ID],
            "valid_from": [date(2020, 1, 1), date(2020, 1, 1)],
        }
    ).write_csv(src / "relations.csv")

    def entry(entry_id: str, uscc: str, list_type: str, listed: date, **extra: Any) -> dict[str, Any]:
        return {
            "entry_id": entry_id,
            "uscc": uscc,
            "list_type": list_type,
            "basis": "严重违法失信名单管理办法",
            "basis_document_no": f"盐市监〔2025〕{entry_id}",
            "reason": None,
            "listed_on": listed,
            "planned_end": None,
            "exited_on": None,
            "exit_reason": None,
            "authority": AUTHORITY,
            **extra,
        }

    pl.DataFrame(
        [
            entry("L-EXIT", E[0], "severe_dishonesty", date(2024, 2, 1), exited_on=date(2025, 1, 1)),
            entry("L-PLANNED", E[1], "abnormal_operations", date(2023, 1, 1), planned_end=date(2024, 1, 1)),
            entry("L-REPAIRED", E[5], "severe_dishonesty", date(2024, 3, 1)),
            entry("L-REVOKED", E[6], "abnormal_operations", date(2024, 4, 1)),
            entry("L-RED", E[0], "red_list", date(2025, 5, 1), planned_end=date(2028, 5, 1)),
            entry(
                "L-COURT",
                COURT_CO,
                "court_dishonest_debtor",
                date(2025, 6, 1),
                reason=f"拒不履行生效判决，联系电话{PHONE}",
            ),
            entry("L-MINOR", MINOR_CO, "severe_dishonesty", date(2025, 6, 1)),
            entry("L-MINOR-COURT", MINOR_CO, "court_dishonest_debtor", date(2025, 6, 2)),
            entry("L-SHOP", SHOP, "severe_dishonesty", date(2025, 7, 1), reason="销售假冒伪劣商品"),
        ]
    ).write_parquet(src / "list_entries.parquet")
    pl.DataFrame(
        {
            "repair_id": ["R-1"],
            "uscc": [E[5]],
            "record_table": ["list_entries"],
            "record_id": ["L-REPAIRED"],
            "applied_on": [date(2025, 1, 10)],
            "decided_on": [date(2025, 2, 1)],
            "outcome": ["approved"],
            "authority": [AUTHORITY],
        }
    ).write_parquet(src / "repairs.parquet")
    pl.DataFrame(
        {
            "objection_id": ["O-1"],
            "uscc": [E[6]],
            "record_table": ["list_entries"],
            "record_id": ["L-REVOKED"],
            "filed_on": [date(2025, 2, 1)],
            "decided_on": [date(2025, 3, 1)],
            "outcome": ["upheld"],
            "resolution": ["revoked"],
        }
    ).write_parquet(src / "objections.parquet")
    pl.DataFrame(
        {
            "commitment_id": ["C-LAKE", "C-MINOR"],
            "uscc": [E[1], MINOR_CO],
            "commitment_type": ["voluntary", "voluntary"],
            "matter": ["守法诚信经营承诺", "未成年人公司承诺"],
            "made_on": [date(2025, 3, 1), date(2025, 4, 1)],
            "fulfilment": ["pending", "pending"],
        }
    ).write_parquet(src / "commitments.parquet")
    ingest_paths([src], lake_dir=lake.dir, salt=SALT, today=TODAY)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("public-template") / "api.db"
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
def lake(settings: Settings, home: Path) -> Lake:
    lake = build_lake(home)
    assert lake.dir == settings.lake_dir
    _more(home, lake)
    return lake


@pytest.fixture
def auth(engine: sa.Engine) -> dict[Role, dict[str, str]]:
    return {r: issue(engine, r, department=AUTHORITY, division=AUTHORITY_DIVISION) for r in Role}


def _client(settings: Settings, engine: sa.Engine, **overrides: Any) -> TestClient:
    # A generous rate: these tests make many anonymous calls from one address (the limit has its own test).
    limits = {"rate_limit_burst": 10_000, **overrides}
    app = create_app(settings.model_copy(update=limits), engine=engine, clock=china_half_past_midnight())
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def client(settings: Settings, engine: sa.Engine, lake: Lake) -> Iterator[TestClient]:
    with _client(settings, engine) as c:
        yield c


def _ids(body: dict[str, Any]) -> set[str]:
    return {item["entry_id"] for item in body["items"]}


def _everything(client: TestClient) -> list[str]:
    """Every public answer and page (both languages) as text."""
    texts = [client.get(p).text for p in API_ROUTES]
    texts += [client.get(p, params={"per_page": 100}).text for p in API_ROUTES[:4:2]]
    for lang in ("zh", "en"):
        texts += [client.get(p, params={"lang": lang}).text for p in PAGES]
        texts.append(
            client.get("/ui/public/lists", params={"list_type": "severe_dishonesty", "lang": lang}).text
        )
    return texts


# --------------------------------------------------------------------------------------------- doors
def test_every_public_route_and_page_answers_without_a_token(client: TestClient) -> None:
    client.cookies.clear()
    for path in API_ROUTES:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"].startswith("application/json")
    for path in PAGES:
        for lang in ("zh", "en"):
            r = client.get(path, params={"lang": lang})
            assert r.status_code == 200, (path, lang, r.text[-300:])
            assert "text/html" in r.headers["content-type"] and "<html" in r.text
            assert "Content-Security-Policy" in r.headers
    # The staff routes around them still need a token.
    assert client.get("/lists/overdue").status_code == 401
    assert (
        client.get(f"/reports/CR-{E[0]}-20261127-0123456789/verify", params={"hash": "0" * 64}).status_code
        == 401
    )
    assert client.post("/reports", json={"uscc": E[0]}).status_code == 401
    assert client.get("/ui/entities").status_code == 303  # to the login form


def test_the_routes_are_public_in_the_matrix_and_the_pages_link_each_other(client: TestClient) -> None:
    rows = [row for row in role_matrix() if row[1].startswith("/public/")]
    assert rows == [
        ("GET", "/public/commitments", "public"),
        ("GET", "/public/measures", "public"),
        ("GET", "/public/lists", "public"),
        ("GET", "/public/court-debtors", "public"),
        ("GET", "/public/reports/{report_no}", "public"),
    ]
    assert [row for row in role_matrix([public_routes.router])] == rows
    index = client.get("/ui/public").text
    for target in [*PAGES[1:], "/ui/public/decisions"]:
        assert f'href="{target}"' in index, target
    assert 'href="/ui/public"' in client.get("/ui/login").text


def test_openapi_describes_the_public_routes_with_typed_schemas(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    expected = {
        "/public/commitments": "CommitmentPage",
        "/public/measures": "MeasureCatalog",
        "/public/lists": "ListingPage",
        "/public/court-debtors": "ListingPage",
        "/public/reports/{report_no}": "ReportCheck",
    }
    schemas = spec["components"]["schemas"]
    for path, model in expected.items():
        op = spec["paths"][path]["get"]
        assert op["x-roles"] == ["public"], path
        assert not op.get("security"), path  # no token asked for
        ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{model}", path
        assert "429" in op["responses"], path  # limited per address
        assert ("422" in op["responses"]) == (path != "/public/measures"), path
    assert schemas["ListingPage"]["properties"]["items"]["items"]["$ref"].endswith("/PublishedListing")
    assert schemas["CommitmentPage"]["properties"]["items"]["items"]["$ref"].endswith("/PublishedCommitment")
    assert set(schemas["ReportCheck"]["properties"]) == {
        "report_no",
        "issued",
        "uscc",
        "as_of",
        "issued_at",
        "hash_checked",
        "hash_matches",
    }
    per_page = next(p for p in spec["paths"]["/public/lists"]["get"]["parameters"] if p["name"] == "per_page")
    assert per_page["schema"]["maximum"] == 100


# ---------------------------------------------------------------------------------------------- lists
def test_lists_show_what_is_in_force_today_and_nothing_that_left(client: TestClient) -> None:
    body = _ok(client.get("/public/lists"))
    assert body["on"] == china_half_past_midnight().today().isoformat()
    assert _ids(body) == IN_FORCE and body["total"] == len(IN_FORCE)
    assert not _ids(body) & (GONE | MINORS)
    court = _ok(client.get("/public/court-debtors"))
    assert _ids(court) == {"L-COURT"} and court["list_types"] == ["court_dishonest_debtor"]
    assert _ids(_ok(client.get("/public/lists", params={"list_type": "red_list"}))) == {"L-RED"}
    assert _ids(_ok(client.get("/public/lists", params={"list_type": "abnormal_operations"}))) == {"L-ABN"}
    assert _ids(_ok(client.get("/public/lists", params={"uscc": E[0]}))) == {"L-RED"}
    # Newest listing first; each row names its list, basis, authority and dates.
    listed = [item["listed_on"] for item in body["items"]]
    assert listed == sorted(listed, reverse=True)
    red = next(item for item in body["items"] if item["entry_id"] == "L-RED")
    assert red == {
        "entry_id": "L-RED",
        "uscc": E[0],
        "name": "测试公司0",
        "list_type": "red_list",
        "basis": "严重违法失信名单管理办法",
        "basis_document_no": "盐市监〔2025〕L-RED",
        "reason": None,
        "authority": AUTHORITY,
        "listed_on": "2025-05-01",
        "planned_end": "2028-05-01",
        "source": "lake",
    }
    page = client.get("/ui/public/lists", params={"list_type": "red_list"}).text
    assert 'data-entry="L-RED"' in page and 'data-entry="L-SEV"' not in page
    court_page = client.get("/ui/public/court-debtors").text
    assert 'data-entry="L-COURT"' in court_page and 'data-entry="L-SEV"' not in court_page


def test_a_listing_decided_here_is_public_once_published(
    client: TestClient, auth: dict[Role, dict[str, str]], engine: sa.Engine
) -> None:
    sup = auth[Role.SUPERVISOR]
    second = issue(
        engine,
        Role.SUPERVISOR,
        name="supervisor-2",
        department=AUTHORITY,
        division=AUTHORITY_DIVISION,
        person_id="supervisor-2",
    )
    body = {
        "uscc": E[2],
        "list_type": "severe_dishonesty",
        "reasons": f"提供虚假材料，经办人电话{PHONE}",
        "basis": "严重违法失信名单管理办法",
        "proposed_on": "2026-10-12",
    }
    cid = _ok(client.post("/lists", json=body, headers=sup), 201)["case_id"]
    _ok(client.post(f"/lists/{cid}/approve", json={"on": "2026-10-13"}, headers=second))
    listing = {"basis_document_no": "P-REVOKE", "on": "2026-10-26"}
    assert _ok(client.post(f"/lists/{cid}/list", json=listing, headers=sup))["status"] == "listed"
    # Listed (and in the lake for the features), but not published yet: not on the public list.
    assert cid not in _ids(_ok(client.get("/public/lists")))
    _ok(client.post(f"/lists/{cid}/publish", json={"on": "2026-10-28"}, headers=sup))
    response = client.get("/public/lists", params={"list_type": "severe_dishonesty"})
    row = next(item for item in _ok(response)["items"] if item["entry_id"] == cid)
    assert (row["uscc"], row["source"], row["authority"], row["listed_on"]) == (
        E[2],
        "here",
        AUTHORITY,
        "2026-10-26",
    )
    assert row["planned_end"] is not None and row["basis_document_no"] == "P-REVOKE"
    assert PHONE not in response.text and "138****5678" in row["reason"]


# ------------------------------------------------------------------------------------ personal data
def test_names_are_masked_and_minors_never_appear(
    client: TestClient, auth: dict[Role, dict[str, str]]
) -> None:
    made = {
        "uscc": E[0],
        "matter": "voluntary",
        "signatory": "李四光",
        "made_on": "2026-09-01",
    }
    _ok(client.post("/commitments", json=made, headers=auth[Role.SUPERVISOR]), 201)
    shop = next(i for i in _ok(client.get("/public/lists"))["items"] if i["entry_id"] == "L-SHOP")
    assert shop["name"] == "王**"  # an individual business's name is its operator's
    court = _ok(client.get("/public/court-debtors"))["items"][0]
    assert PHONE not in court["reason"] and "138****5678" in court["reason"]
    for text in _everything(client):
        assert SHOP_OWNER not in text and "李四光" not in text and "小明" not in text
        assert MINOR_CO not in text and MINOR_NAME not in text and "L-MINOR" not in text
        assert PHONE not in text and ADULT_ID not in text and MINOR_ID not in text
    assert "李**" in client.get("/ui/public/commitments").text


def test_the_commitments_column_has_both_sources(
    client: TestClient, auth: dict[Role, dict[str, str]], lake: Lake
) -> None:
    sup = auth[Role.SUPERVISOR]
    made = {"uscc": E[0], "matter": "voluntary", "signatory": "张三丰", "made_on": "2026-09-01"}
    here = _ok(client.post("/commitments", json=made, headers=sup), 201)["commitment_id"]
    kept = {**made, "uscc": E[3], "made_on": "2026-09-02"}
    revoked = _ok(client.post("/commitments", json=kept, headers=sup), 201)["commitment_id"]
    breach = {"facts": "逾期未履行", "on": "2026-10-08"}
    _ok(client.post(f"/commitments/{revoked}/breach", json=breach, headers=sup))
    # An objection against the breach determination is upheld (revoked): the column says so.
    write_rows(
        lake,
        "objections",
        [
            {
                "objection_id": "O-C",
                "uscc": E[3],
                "record_table": "commitments",
                "record_id": revoked,
                "filed_on": date(2026, 10, 10),
                "decided_on": date(2026, 10, 20),
                "outcome": "upheld",
                "resolution": "revoked",
            }
        ],
        source="objection-c",
        today=TODAY,
    )
    body = _ok(client.get("/public/commitments"))
    rows = {c["commitment_id"]: c for c in body["items"]}
    assert set(rows) == {here, revoked, "C-LAKE"} and body["total"] == 3  # never C-MINOR
    assert rows[here]["source"] == "here" and rows[here]["signatory"] == "张**"
    assert rows[here]["status"] == "pending" and rows[here]["name"] == "测试公司0"
    assert rows[revoked]["status"] == "revoked"
    lake_row = rows["C-LAKE"]
    assert (lake_row["source"], lake_row["title"], lake_row["status"], lake_row["signatory"]) == (
        "lake",
        "守法诚信经营承诺",
        "pending",
        None,
    )
    assert [c["commitment_id"] for c in body["items"]] == [revoked, here, "C-LAKE"]  # newest first
    page = client.get("/ui/public/commitments").text
    assert f'data-commitment="{here}"' in page and 'data-commitment="C-LAKE"' in page
    assert 'data-status="revoked"' in page and "张三丰" not in page
    # A commitment made here by a company whose legal representative is a minor: in neither column.
    minor = {**made, "uscc": MINOR_CO, "made_on": "2026-09-03"}
    minors = _ok(client.post("/commitments", json=minor, headers=sup), 201)["commitment_id"]
    assert minors not in {c["commitment_id"] for c in _ok(client.get("/public/commitments"))["items"]}
    # The CLI's export of the whole column (commitments.public) shares the rows: no minor's there either.
    state = client.app.state  # type: ignore[attr-defined]
    with session_scope(state.engine) as s:
        at = Context(settings=state.settings, session=s, clock=state.clock, actor=THE_PUBLIC, door=Door("t"))
        whole = commitments.public_column(at)
    assert minors not in {c.commitment_id for c in whole} and MINOR_CO not in {c.uscc for c in whole}


def test_the_measure_catalogs_are_the_configured_ones(client: TestClient) -> None:
    body = _ok(client.get("/public/measures"))
    assert body["restrictions"] and body["incentives"]
    assert {m["list_type"] for m in body["restrictions"]} >= {"severe_dishonesty", "abnormal_operations"}
    page = client.get("/ui/public/measures", params={"lang": "zh"}).text
    assert page.count("<tr data-list=") == len(body["restrictions"])
    assert page.count("<tr data-incentive=") == len(body["incentives"])
    assert body["incentives"][0]["name_zh"] in page


# ------------------------------------------------------------------------------------- verification
def test_report_verification_by_number(client: TestClient, auth: dict[Role, dict[str, str]]) -> None:
    issued = client.post("/reports", json={"uscc": E[4], "on": "2026-11-27"}, headers=auth[Role.SUPERVISOR])
    assert issued.status_code == 200, issued.text
    number, digest = issued.headers["X-Report-No"], issued.headers["X-Report-Hash"]
    answer = _ok(client.get(f"/public/reports/{number}", params={"hash": digest}))
    assert answer["issued"] is True and answer["hash_matches"] is True and answer["hash_checked"] is True
    assert (answer["uscc"], answer["as_of"]) == (E[4], "2026-11-27") and answer["issued_at"]
    assert set(answer) == {
        "report_no",
        "issued",
        "uscc",
        "as_of",
        "issued_at",
        "hash_checked",
        "hash_matches",
    }
    assert (
        _ok(client.get(f"/public/reports/{number}", params={"hash": digest.upper()}))["hash_matches"] is True
    )
    assert _ok(client.get(f"/public/reports/{number}", params={"hash": "0" * 64}))["hash_matches"] is False
    no_hash = _ok(client.get(f"/public/reports/{number}"))
    assert no_hash["issued"] is True and no_hash["hash_checked"] is False and no_hash["hash_matches"] is None
    unknown = _ok(client.get(f"/public/reports/CR-{E[4]}-20261127-0000000000", params={"hash": digest}))
    assert unknown["issued"] is False and unknown["uscc"] is None and unknown["hash_matches"] is None
    # Never the report's content.
    assert "L-SEV" not in client.get(f"/public/reports/{number}").text

    page = client.get("/ui/public/verify", params={"report_no": number, "hash": digest}).text
    assert 'data-issued="true"' in page and 'data-hash="match"' in page and E[4] in page
    assert f"{china_half_past_midnight().today():%Y-%m-%d} 00:30" in page  # issued at, in China
    page = client.get("/ui/public/verify", params={"report_no": f" {number.lower()} ", "hash": "f" * 64}).text
    assert 'data-issued="true"' in page and 'data-hash="differs"' in page
    page = client.get("/ui/public/verify", params={"report_no": f"CR-{E[4]}-20261127-0000000000"}).text
    assert 'data-issued="false"' in page


# ------------------------------------------------------------------------------------ paging and input
def test_paging_limits(client: TestClient) -> None:
    first = _ok(client.get("/public/lists", params={"per_page": 1}))
    assert (first["total"], first["page"], first["per_page"], len(first["items"])) == (len(IN_FORCE), 1, 1, 1)
    seen = set()
    for number in range(1, len(IN_FORCE) + 1):
        seen |= _ids(_ok(client.get("/public/lists", params={"per_page": 1, "page": number})))
    assert seen == IN_FORCE
    beyond = _ok(client.get("/public/lists", params={"per_page": 1, "page": len(IN_FORCE) + 1}))
    assert beyond["items"] == [] and beyond["total"] == len(IN_FORCE)
    for path in ("/public/lists", "/public/commitments", "/public/court-debtors"):
        for params in ({"per_page": 101}, {"per_page": 0}, {"page": 0}, {"page": "x"}, {"per_page": 10**9}):
            r = client.get(path, params=params)
            assert r.status_code == 422 and r.json()["error"]["type"] == "validation", (path, params)
    assert client.get("/ui/public/lists", params={"page": 0}).status_code == 422
    # The use case holds the limit whatever the door.
    state = client.app.state  # type: ignore[attr-defined]
    with session_scope(state.engine) as session:
        ctx = Context(state.settings, session, state.clock, THE_PUBLIC, Door("test"))
        for bad in ({"per_page": 101}, {"per_page": 0}, {"page": 0}):
            with pytest.raises(DomainError) as refused:
                publication.commitments_column(ctx, **bad)
            assert refused.value.field == next(iter(bad)), bad


HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' OR 1=1 --",
    "CR-../../etc/passwd",
    "\u202e\u0000\ufeff",
    "x" * 400,
    "名单" * 100,
]


def test_hostile_strings_are_clear_422s_never_500s(client: TestClient) -> None:
    for text in HOSTILE:
        for path, params in (
            ("/public/lists", {"list_type": text}),
            ("/public/lists", {"uscc": text}),
            ("/public/court-debtors", {"uscc": text}),
            (f"/public/reports/CR-{E[0]}-20261127-0123456789", {"hash": text}),
        ):
            r = client.get(path, params=params)
            assert r.status_code == 422, (path, text, r.text)
            assert r.json()["error"]["field"].startswith("query."), r.text
        r = client.get("/public/reports/" + text.replace("/", "%2F").replace("\u0000", "%00"))
        assert r.status_code in (404, 422), (text, r.status_code)
        page = client.get("/ui/public/verify", params={"report_no": text})
        assert page.status_code == 422 and "<script>alert" not in page.text and "<img src=x" not in page.text
        assert 'data-field="report_no"' in page.text or 'data-status="422"' in page.text
        page = client.get("/ui/public/lists", params={"list_type": text})
        assert page.status_code == 422 and "<script>alert" not in page.text and "<img src=x" not in page.text
    page = client.get(
        "/ui/public/verify", params={"report_no": f"CR-{E[0]}-20261127-0123456789", "hash": "<b>"}
    )
    assert page.status_code == 422 and 'data-field="hash"' in page.text and "<b>" not in page.text
    huge = client.get("/ui/public/verify", params={"report_no": "x" * 10_000})
    assert huge.status_code == 422 and 'data-status="422"' in huge.text
    assert client.get("/public/reports/" + "C" * 10_000).status_code in (404, 414, 422)


def test_the_public_is_rate_limited_per_address(settings: Settings, engine: sa.Engine, lake: Lake) -> None:
    with _client(settings, engine, rate_limit_burst=3, rate_limit_per_minute=1) as c:
        for _ in range(3):
            assert c.get("/public/measures").status_code == 200
        limited = c.get("/public/lists")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["type"] == "rate_limited"
        page = c.get("/ui/public/lists")
        assert page.status_code == 429 and "<html" in page.text
        assert c.get("/health").status_code == 200  # health checks are not the public's pages


def test_every_public_message_has_both_languages() -> None:
    for key, (zh, en) in public_messages.MESSAGES.items():
        assert key.startswith("public.") and zh and en, key
        assert re.search(r"[\u4e00-\u9fff]", zh), key
        assert i18n.t(key, "en") == en


# ---------------------------------------------------------------------------------------------- browser
def test_a_visitor_reads_every_public_page_without_signing_in(
    settings: Settings, engine: sa.Engine, lake: Lake, auth: dict[Role, dict[str, str]]
) -> None:
    app = create_app(
        settings.model_copy(update={"rate_limit_burst": 10_000}),
        engine=engine,
        clock=china_half_past_midnight(),
    )
    with TestClient(app) as c:
        issued = c.post("/reports", json={"uscc": E[4], "on": "2026-11-27"}, headers=auth[Role.SUPERVISOR])
        number, digest = issued.headers["X-Report-No"], issued.headers["X-Report-Hash"]
    with serve(app) as base, browser() as b:
        page = b.new_page()
        page.goto(f"{base}/ui/login?lang=zh")
        page.click("#public-link")
        page.wait_for_url(f"{base}/ui/public")
        assert page.locator("h1").inner_text() == "信用信息公示"
        screenshot(page, "public-index")
        for href in ("/ui/public/commitments", "/ui/public/measures", "/ui/public/court-debtors"):
            page.goto(f"{base}/ui/public")
            page.click(f"a[href='{href}']")
            page.wait_for_url(f"{base}{href}")
            assert "/ui/login" not in page.url
        assert page.locator("tr[data-entry='L-COURT']").count() == 1

        page.goto(f"{base}/ui/public/lists")
        assert page.locator("tbody tr").count() == len(IN_FORCE)
        page.select_option("#list_type", "red_list")
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*list_type=red_list.*"))
        assert page.locator("tbody tr").count() == 1
        assert page.locator("tr[data-entry='L-RED']").count() == 1
        screenshot(page, "public-lists")
        body = page.content()
        assert SHOP_OWNER not in body and MINOR_NAME not in body

        page.goto(f"{base}/ui/public/verify")
        page.fill("#report_no", number)
        page.fill("#hash", digest)
        page.click("button[type=submit]")
        page.wait_for_selector("#verification")
        assert page.locator("#verification").get_attribute("data-issued") == "true"
        assert page.locator("#verification").get_attribute("data-hash") == "match"
        screenshot(page, "public-verify")
        page.fill("#report_no", "<script>alert(1)</script>")
        page.fill("#hash", "")
        page.click("button[type=submit]")
        page.wait_for_selector("[role=alert][data-field=report_no]")
        page.goto(f"{base}/ui/public/lists?lang=en")
        assert page.locator("h1").inner_text() == "Red and black lists"
        page.close()


def test_signed_in_staff_see_the_same_public_pages(client: TestClient, engine: sa.Engine) -> None:
    token = issue(engine, Role.SUPERVISOR, name="sup-page", department=AUTHORITY)["Authorization"].split()[1]
    assert client.post("/ui/login", data={"token": token}).status_code == 303
    r = client.get("/ui/public/lists")
    assert r.status_code == 200 and 'data-entry="L-SEV"' in r.text
