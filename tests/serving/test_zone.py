"""The credit service zone (信用服务专区), entity side (issue 14): what the entity sees of itself, what it
files through the staff's own use cases, and that it sees and acts on its own USCC only — and never its risk
classification (domain-rules §3.4)."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from serving.api.app import create_app, role_matrix
from serving.services.zone import RISK_INTERNAL
from serving.settings import Settings
from supervision.lifecycle import commitments, lists, objections, repairs, scores
from supervision.lifecycle.records import Lake, write_rows
from supervision.lifecycle.reports import CreditReport
from supervision.platform import audit
from supervision.platform.access import Role
from supervision.platform.clock import china_today
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import error as _error
from tests.serving.api_city import issue
from tests.serving.api_city import ok as _ok
from tests.supervision.lifecycle_lake import AUTHORITY, AUTHORITY_DIVISION, TODAY, E, build_lake

ENTITY = frozenset({Role.ENTITY})
# Imported by tests/serving/test_api_foundation.py (the lead wires it): the zone's routes and their roles.
ZONE_MATRIX: list[tuple[str, str, frozenset[Role] | str]] = [
    ("GET", "/zone/record", ENTITY),
    ("POST", "/zone/objections", ENTITY),
    ("POST", "/zone/commitments", ENTITY),
    ("POST", "/zone/notices/{case_id}/statement", ENTITY),
    ("POST", "/zone/report", ENTITY),
]

A, B, LISTED = (
    E[2],
    E[0],
    E[4],
)  # A: a serious penalty (P-REVOKE) and a prior notice; B: P-GEN; LISTED: severe
# The secret a supervisor's report shows and the entity must never see: a stored score of A.
SECRET_PROBABILITY = 0.8765
SECRET_REASONS = ("内部理由甲：近12个月行政处罚2次", "内部理由乙：关联方在严重失信名单")
FORBIDDEN_KEY = re.compile(r"probab|tier|shap|score|reason_codes|contribution", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "zone.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(migrated: Path, tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{shutil.copyfile(migrated, tmp_path / 'zone.db')}")
    yield engine
    engine.dispose()


@pytest.fixture
def staff(engine: sa.Engine) -> dict[Role, dict[str, str]]:
    """A person of the department that produced the lake's records, for each staff role."""
    return {
        r: issue(engine, r, department=AUTHORITY, division=AUTHORITY_DIVISION)
        for r in Role
        if r is not Role.ENTITY
    }


@pytest.fixture
def entity_a(engine: sa.Engine) -> dict[str, str]:
    return issue(engine, Role.ENTITY, name="entity-a", uscc=A)


@pytest.fixture
def entity_b(engine: sa.Engine) -> dict[str, str]:
    return issue(engine, Role.ENTITY, name="entity-b", uscc=B)


@pytest.fixture
def lake(home: Path) -> Lake:
    return build_lake(home)


@pytest.fixture
def client(settings: Settings, lake: Lake, engine: sa.Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as c:
        yield c


@pytest.fixture
def notice(client: TestClient, staff: dict[Role, dict[str, str]]) -> str:
    """A prior notice to A, proposed today by a supervisor through the service (its response is due later)."""
    body = {"uscc": A, "list_type": "severe_dishonesty", "reasons": "吊销许可证件", "basis": "办法第二条"}
    return str(_ok(client.post("/lists", json=body, headers=staff[Role.SUPERVISOR]), 201)["case_id"])


@pytest.fixture
def secret_score(engine: sa.Engine) -> None:
    """A stored score of A (tier D) that a supervisor's report prints."""
    today = china_today()
    with session_scope(engine) as s:
        scores.record(
            s,
            uscc=A,
            as_of=today,
            decided_on=today - timedelta(days=1),
            probability=SECRET_PROBABILITY,
            tier="D",
            model_version="7",
            reason="test",
            reasons_zh="；".join(SECRET_REASONS),
        )


def _rows(engine: sa.Engine, model: Any) -> int:
    with session_scope(engine) as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _audit(engine: sa.Engine) -> list[audit.AuditEntry]:
    with session_scope(engine) as s:
        rows = audit.entries(s, limit=100_000)
        s.expunge_all()
        return rows


def _walk(value: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}.{k}", k
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, value


def assert_no_risk_classification(body: Any, where: str) -> None:
    """No key about a probability, tier, score or SHAP reason, and none of A's secret values, in `body`."""
    for path, item in _walk(body):
        if path.endswith(f".{item}") and isinstance(item, str):  # a key
            assert not FORBIDDEN_KEY.search(item), f"{where}: key {path}"
        text = str(item)
        assert str(SECRET_PROBABILITY) not in text, f"{where}: {path}"
        assert not any(r in text for r in SECRET_REASONS), f"{where}: {path}"


def assert_no_risk_classification_in_text(text: str, where: str) -> None:
    assert str(SECRET_PROBABILITY) not in text, where
    assert not any(r in text for r in SECRET_REASONS), where
    for marker in ('class="tier', "信用风险评估", "风险分类：", "分类：D", "tier-D", "违法概率"):
        assert marker not in text, f"{where}: {marker}"


# ------------------------------------------------------------------------------------------------ routes
def test_the_zone_routes_admit_the_entity_only() -> None:
    mine = {(m, p) for m, p, _ in ZONE_MATRIX}  # /zone/repairs and /zone/self-reports are issue 14's too
    assert [row for row in role_matrix() if row[:2] in mine] == ZONE_MATRIX
    # The staff's use cases now admit the entity as well, on its own objects (the services check): their staff
    # routes list it; every other lifecycle route stays staff-only.
    admitting = {(m, p) for m, p, roles in role_matrix() if roles != "public" and Role.ENTITY in roles}
    lifecycle = {
        p for _, p in admitting if p.startswith(("/objections", "/commitments", "/lists", "/reports"))
    }
    assert {(m, p) for m, p in admitting if p in lifecycle} == {
        ("POST", "/objections"),
        ("POST", "/commitments"),
        ("POST", "/lists/{case_id}/response"),
        ("POST", "/reports"),
    }


def test_the_openapi_document_describes_every_zone_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for method, path, _ in ZONE_MATRIX:
        op = spec["paths"][path][method.lower()]
        assert op["x-roles"] == ["entity"], path
        assert op["summary"], path
    assert "ZoneView" in spec["components"]["schemas"]
    body = spec["paths"]["/zone/objections"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/ZoneObjectionIn")
    zone_view = spec["components"]["schemas"]["ZoneView"]
    assert not any(FORBIDDEN_KEY.search(k) for k in zone_view["properties"])


# ------------------------------------------------------------------------------------------ what it sees
def test_the_entity_sees_its_own_record_with_states_and_deadlines(
    client: TestClient, engine: sa.Engine, entity_a: dict[str, str], notice: str, secret_score: None
) -> None:
    view = _ok(client.get("/zone/record", headers=entity_a))
    assert view["uscc"] == A and view["registration"]["name"] == "测试公司2"
    records = {(r["record_table"], r["record_id"]): r for r in view["records"]}
    assert set(records) == {("penalties", "P-REVOKE")}  # only its own: P-GEN is B's
    penalty = records[("penalties", "P-REVOKE")]
    assert penalty["state"] == "in_force" and penalty["department"] == AUTHORITY
    assert penalty["openness"] == "public" and penalty["objectionable"]
    # A market-supervision licence revocation: SAMR Order 45 art 13, 3 years from the decision.
    assert penalty["publicity_end"] == "2027-05-06"
    names = {f["name"] for f in penalty["fields"]}
    assert names >= {"penalty_kind", "authority", "decided_on"} and not names & {"decision_no", "uscc"}
    (case,) = view["lists"]
    assert (case["case_id"], case["status"], case["department"]) == (notice, "proposed", AUTHORITY)
    (waiting,) = view["notices"]
    assert waiting["case_id"] == notice and waiting["can_state"] and waiting["response"] is None
    assert waiting["clock"]["working_days_left"] >= 1 and waiting["clock"]["working_days_late"] is None
    assert AUTHORITY in view["departments"]
    assert {t["matter"] for t in view["templates"]} >= {"voluntary", "food_business_licence"}
    assert view["not_shown"] == RISK_INTERNAL
    assert_no_risk_classification(view, "GET /zone/record")
    reads = [e for e in _audit(engine) if e.action == "zone.record"]
    assert reads and reads[-1].target == f"uscc:{A}" and reads[-1].role == "entity"


def test_the_record_shows_revoked_corrected_and_repaired_states(
    client: TestClient, lake: Lake, entity_b: dict[str, str]
) -> None:
    write_rows(
        lake,
        "objections",
        [
            {
                "objection_id": "OBJ-LAKE-1",
                "uscc": B,
                "record_table": "penalties",
                "record_id": "P-GEN",
                "filed_on": date(2025, 4, 1),
                "marked_on": date(2025, 4, 2),
                "decided_on": date(2025, 5, 6),
                "outcome": "upheld",
                "resolution": "corrected",
            }
        ],
        source="test",
        today=TODAY,
    )
    records = {r["record_id"]: r for r in _ok(client.get("/zone/record", headers=entity_b))["records"]}
    assert records["P-GEN"]["state"] == "corrected" and not records["P-GEN"]["objectionable"]
    assert records["P-GEN"]["why_not"] == "zone.why_not.decided"


# ------------------------------------------------------------------------------------------ what it does
def test_the_entity_objects_and_the_producing_department_sees_it(
    client: TestClient, engine: sa.Engine, staff: dict[Role, dict[str, str]], entity_a: dict[str, str]
) -> None:
    body = {"record_table": "penalties", "record_id": "P-REVOKE", "grounds": "<b>处罚对象有误</b>"}
    filed = _ok(client.post("/zone/objections", json=body, headers=entity_a), 201)
    assert (filed["uscc"], filed["department"], filed["status"]) == (A, AUTHORITY, "filed")
    assert filed["grounds"] == "<b>处罚对象有误</b>"  # stored as typed; pages escape it
    queue = _ok(client.get("/objections", headers=staff[Role.SUPERVISOR]))
    assert [o["objection_id"] for o in queue] == [filed["objection_id"]]
    view = _ok(client.get("/zone/record", headers=entity_a))
    (mine,) = view["objections"]
    assert mine["clock"]["due"] == filed["mark_due"] and mine["clock"]["working_days_left"] >= 0
    (record,) = view["records"]
    assert record["state"] == "under_objection" and record["why_not"] == "zone.why_not.pending"
    # Once open, a second one against the same record is a conflict; nothing new is written.
    _error(client.post("/zone/objections", json=body, headers=entity_a), 409, "conflict")
    assert _rows(engine, objections.Objection) == 1
    entries = [e for e in _audit(engine) if e.action == "objections.file"]
    assert [e.result for e in entries] == ["ok", "rejected"] and entries[0].role == "entity"


def test_an_objection_names_a_record_of_its_own_with_a_producing_department(
    client: TestClient, engine: sa.Engine, lake: Lake, entity_a: dict[str, str]
) -> None:
    write_rows(
        lake,
        "commitments",
        [
            {
                "commitment_id": "CMT-LAKE-A",
                "uscc": A,
                "commitment_type": "voluntary",
                "matter": "守法经营",
                "made_on": date(2025, 1, 2),
                "fulfilment": "breached",
                "fulfilment_on": date(2025, 6, 2),
            }
        ],
        source="test",
        today=TODAY,
    )
    post = lambda **b: client.post("/zone/objections", json={"grounds": "g", **b}, headers=entity_a)  # noqa: E731
    err = _error(post(record_table="commitments", record_id="CMT-LAKE-A"), 422, "validation")
    assert err["field"] == "record_id" and "names no department" in err["message"]
    err = _error(post(record_table="evaluations", record_id="EV-1"), 422, "validation")
    assert err["field"] == "record_table"
    err = _error(post(record_table="penalties", record_id="P-NOPE"), 404, "not_found")
    _error(post(record_table="penalties", record_id="P-GEN"), 403, "forbidden")  # B's record
    # The staff route admits the entity's use case too, with the same checks: no department, no date.
    staff_route = {"uscc": A, "record_table": "penalties", "record_id": "P-REVOKE", "grounds": "g"}
    err = _error(
        client.post("/objections", json={**staff_route, "department": "别的局"}, headers=entity_a),
        422,
        "validation",
    )
    assert err["field"] == "department"
    err = _error(
        client.post("/objections", json={**staff_route, "filed_on": "2026-01-05"}, headers=entity_a),
        422,
        "validation",
    )
    assert err["field"] == "filed_on"
    _error(client.post("/objections", json={**staff_route, "uscc": B}, headers=entity_a), 403, "forbidden")
    assert _rows(engine, objections.Objection) == 0


def test_the_entity_answers_a_prior_notice_once_by_its_deadline(
    client: TestClient, engine: sa.Engine, entity_a: dict[str, str], notice: str
) -> None:
    url = f"/zone/notices/{notice}/statement"
    stated = _ok(client.post(url, json={"statement": "已整改，申请从轻"}, headers=entity_a))
    assert stated == {
        "case_id": notice,
        "list_type": "severe_dishonesty",
        "department": AUTHORITY,
        "status": "proposed",
        "response_due": stated["response_due"],
        "response": "已整改，申请从轻",
    }
    err = _error(client.post(url, json={"statement": "再次陈述"}, headers=entity_a), 409, "conflict")
    assert err["field"] == "response"
    (waiting,) = _ok(client.get("/zone/record", headers=entity_a))["notices"]
    assert waiting["response"] == "已整改，申请从轻" and not waiting["can_state"]
    _error(
        client.post("/zone/notices/NOPE/statement", json={"statement": "x"}, headers=entity_a),
        404,
        "not_found",
    )


def test_a_statement_after_the_response_deadline_is_refused(
    client: TestClient, engine: sa.Engine, staff: dict[Role, dict[str, str]]
) -> None:
    body = {
        "uscc": LISTED,
        "list_type": "severe_dishonesty",
        "reasons": "r",
        "basis": "b",
        "proposed_on": "2026-10-12",
    }
    case = _ok(client.post("/lists", json=body, headers=staff[Role.SUPERVISOR]), 201)
    assert date.fromisoformat(case["response_due"]) < china_today()
    listed = issue(engine, Role.ENTITY, name="entity-listed", uscc=LISTED)
    url = f"/zone/notices/{case['case_id']}/statement"
    err = _error(client.post(url, json={"statement": "迟到的陈述"}, headers=listed), 409, "conflict")
    assert "was due by" in err["message"] and err["field"] == "response"
    with session_scope(engine) as s:
        assert lists.get(s, case["case_id"]).response is None


def test_the_entity_commits_on_a_template_and_sees_no_tier(
    client: TestClient,
    engine: sa.Engine,
    staff: dict[Role, dict[str, str]],
    entity_a: dict[str, str],
    secret_score: None,
) -> None:
    made = _ok(
        client.post(
            "/zone/commitments",
            json={"matter": "food_business_licence", "department": AUTHORITY},
            headers=entity_a,
        ),
        201,
    )
    assert (made["uscc"], made["department"], made["status"]) == (A, AUTHORITY, "pending")
    assert "check" not in made
    assert_no_risk_classification(made, "POST /zone/commitments")
    # The staff route admits the entity's use case too: the answer carries no check (the check has the tier).
    via_staff = _ok(
        client.post(
            "/commitments", json={"uscc": A, "matter": "voluntary", "department": AUTHORITY}, headers=entity_a
        ),
        201,
    )
    assert via_staff["check"] is None
    err = _error(
        client.post(
            "/zone/commitments", json={"matter": "voluntary", "department": "不存在的局"}, headers=entity_a
        ),
        422,
        "validation",
    )
    assert err["field"] == "department" and AUTHORITY in err["message"]
    commitments_here = _ok(client.get("/zone/record", headers=entity_a))["commitments"]
    assert {c["matter"] for c in commitments_here} == {"food_business_licence", "voluntary"}
    assert _rows(engine, commitments.Commitment) == 2


def test_a_listed_entity_may_not_make_a_checked_commitment(client: TestClient, engine: sa.Engine) -> None:
    listed = issue(engine, Role.ENTITY, name="entity-listed", uscc=LISTED)
    issue(engine, Role.SUPERVISOR, department=AUTHORITY, division=AUTHORITY_DIVISION)
    body = {"matter": "food_business_licence", "department": AUTHORITY}
    err = _error(client.post("/zone/commitments", json=body, headers=listed), 422, "validation")
    assert "refused" in err["message"]
    assert _rows(engine, commitments.Commitment) == 0
    _ok(client.post("/zone/commitments", json={**body, "matter": "credit_repair"}, headers=listed), 201)


def test_the_entity_downloads_its_report_without_the_score_and_it_verifies(
    client: TestClient,
    engine: sa.Engine,
    staff: dict[Role, dict[str, str]],
    entity_a: dict[str, str],
    secret_score: None,
) -> None:
    r = client.post("/zone/report", json={}, headers=entity_a)
    assert r.status_code == 200, r.text
    number, digest = r.headers["X-Report-No"], r.headers["X-Report-Hash"]
    assert number.startswith(f"CR-{A}-") and "attachment" in r.headers["Content-Disposition"]
    assert "X-Score-As-Of" not in r.headers
    assert number in r.text and digest in r.text
    assert_no_risk_classification_in_text(html.unescape(r.text), "POST /zone/report")
    verified = _ok(
        client.get(f"/reports/{number}/verify", params={"hash": digest}, headers=staff[Role.ANALYST])
    )
    assert verified["valid"] and verified["uscc"] == A
    # A supervisor's report of A carries the score: the secret is real, and the entity's copy left it out.
    sup = client.post("/reports", json={"uscc": A}, headers=staff[Role.SUPERVISOR])
    assert str(SECRET_PROBABILITY) in sup.text and SECRET_REASONS[0] in html.unescape(sup.text)
    pdf = client.post("/zone/report", json={"format": "pdf"}, headers=entity_a)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


# ------------------------------------------------------------------------------- object-level security
def test_another_entity_reaches_none_of_a_objects(
    client: TestClient,
    engine: sa.Engine,
    staff: dict[Role, dict[str, str]],
    entity_a: dict[str, str],
    entity_b: dict[str, str],
    notice: str,
) -> None:
    filed = _ok(
        client.post(
            "/zone/objections",
            json={"record_table": "penalties", "record_id": "P-REVOKE", "grounds": "g"},
            headers=entity_a,
        ),
        201,
    )
    before = (
        _rows(engine, objections.Objection),
        _rows(engine, commitments.Commitment),
        _rows(engine, CreditReport),
        _rows(engine, repairs.Repair),
    )
    seen = len(_audit(engine))
    attempts = [
        # the zone's own routes: A's record, A's case
        ("POST", "/zone/objections", {"record_table": "penalties", "record_id": "P-REVOKE", "grounds": "g"}),
        ("POST", f"/zone/notices/{notice}/statement", {"statement": "冒名陈述"}),
        # the staff routes that admit the entity's use cases: A's USCC named in the body
        (
            "POST",
            "/objections",
            {"uscc": A, "record_table": "penalties", "record_id": "P-REVOKE", "grounds": "g"},
        ),
        ("POST", "/commitments", {"uscc": A, "matter": "voluntary", "department": AUTHORITY}),
        (
            "POST",
            "/repairs",
            {"uscc": A, "record_table": "penalties", "record_id": "P-REVOKE", "commitment": "c"},
        ),
        ("POST", f"/lists/{notice}/response", {"response": "冒名陈述"}),
        ("POST", "/reports", {"uscc": A}),
        # staff reads of A's objects
        ("GET", f"/objections/{filed['objection_id']}", None),
        ("GET", f"/lists/{notice}", None),
        ("GET", f"/entities/{A}", None),
    ]
    for method, url, body in attempts:
        r = client.request(method, url, json=body, headers=entity_b)
        assert r.status_code in (403, 404), (url, r.status_code, r.text)
        assert A not in r.text.replace(f"uscc {A}", "") or r.status_code == 403, url
    after = (
        _rows(engine, objections.Objection),
        _rows(engine, commitments.Commitment),
        _rows(engine, CreditReport),
        _rows(engine, repairs.Repair),
    )
    assert after == before
    with session_scope(engine) as s:
        assert lists.get(s, notice).response is None
    refused = [e for e in _audit(engine)[seen:] if e.result in ("denied", "rejected")]
    assert len(refused) == len(attempts) and all(e.actor.startswith("entity-b") for e in refused)
    # B's own record never lists A's.
    view = _ok(client.get("/zone/record", headers=entity_b))
    assert A not in str(view) and view["objections"] == [] and view["notices"] == []


def test_staff_tokens_are_refused_on_the_zone_and_the_entity_on_staff_routes(
    client: TestClient, staff: dict[Role, dict[str, str]], entity_a: dict[str, str]
) -> None:
    for role, headers in staff.items():
        for method, path, _ in ZONE_MATRIX:
            url = path.replace("{case_id}", "CASE")
            r = client.request(method, url, json={}, headers=headers)
            assert r.status_code == 403, (role, url, r.status_code)
    for method, url in (
        ("GET", "/objections"),
        ("GET", "/repairs"),
        ("GET", "/lists/overdue"),
        ("POST", "/lists"),
        ("GET", f"/entities/{A}"),
        ("GET", f"/entities/{A}/score"),
        ("GET", "/reports/CR-1/verify?hash=" + "0" * 64),
        ("GET", "/commitments/templates"),
        ("GET", "/models/champion"),
    ):
        assert client.request(method, url, json={}, headers=entity_a).status_code == 403, url


def test_hostile_input_is_refused_naming_the_field_and_the_limit(
    client: TestClient, engine: sa.Engine, entity_a: dict[str, str], notice: str
) -> None:
    huge = "异" * 100_000
    body = {"record_table": "penalties", "record_id": "P-REVOKE", "grounds": huge}
    err = _error(client.post("/zone/objections", json=body, headers=entity_a), 422, "validation")
    assert "grounds" in err["message"] and "4000" in err["message"]
    err = _error(
        client.post(f"/zone/notices/{notice}/statement", json={"statement": huge}, headers=entity_a),
        422,
        "validation",
    )
    assert "statement" in err["message"] and "4000" in err["message"]
    err = _error(client.post("/zone/report", json={"on": "9999-12-31"}, headers=entity_a), 422, "validation")
    assert "9999-12-31" in err["message"]
    err = _error(
        client.post("/zone/objections", json={**body, "grounds": "g", "uscc": B}, headers=entity_a),
        422,
        "validation",
    )  # the USCC is the token's: not a field of the body
    assert _rows(engine, objections.Objection) == 0
    with session_scope(engine) as s:
        assert lists.get(s, notice).response is None


def test_the_zone_needs_a_lake_record_of_the_entity(client: TestClient, engine: sa.Engine) -> None:
    stranger = issue(engine, Role.ENTITY, name="entity-unknown")  # a valid USCC the lake does not hold
    err = _error(client.get("/zone/record", headers=stranger), 404, "not_found")
    assert "no such entity" in err["message"]


def test_the_report_day_is_checked(client: TestClient, entity_a: dict[str, str]) -> None:
    r = client.post(
        "/zone/report", json={"on": (china_today() - timedelta(days=400)).isoformat()}, headers=entity_a
    )
    assert r.status_code == 200 and r.headers["X-Report-No"].startswith(f"CR-{A}-")


# ------------------------------------------------------------------------------------ pages (TestClient)
def _sign_in(client: TestClient, headers: dict[str, str]) -> str:
    from serving.web.auth import COOKIE, csrf_token

    client.cookies.clear()
    token = headers["Authorization"].removeprefix("Bearer ")
    r = client.post("/ui/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_token(client.cookies[COOKIE])


def test_every_zone_page_shows_no_risk_classification(
    client: TestClient, entity_a: dict[str, str], notice: str, secret_score: None
) -> None:
    csrf = _sign_in(client, entity_a)
    landing = client.get("/ui", follow_redirects=True)
    assert landing.url.path == "/ui/zone"
    pages = [
        client.get("/ui/zone"),
        client.get("/ui/zone?lang=en"),
        client.get("/ui/zone/objections/new?record=penalties:P-REVOKE"),
        client.get("/ui/zone/commitments/new"),
        client.get(f"/ui/zone/notices/{notice}"),
        client.get("/ui/zone/report"),
        client.post("/ui/zone/report", data={"csrf": csrf, "format": "html"}),
    ]
    for r in pages:
        assert r.status_code == 200, (r.url, r.text[:500])
        assert_no_risk_classification_in_text(html.unescape(r.text), str(r.url))
    assert "P-REVOKE" in pages[0].text and "/ui/zone/repairs/new" in pages[0].text
    assert "/ui/zone/self-reports/new" in pages[0].text
    assert "Credit service zone" in pages[1].text


def test_the_pages_refuse_another_entity_and_staff(
    client: TestClient,
    engine: sa.Engine,
    staff: dict[Role, dict[str, str]],
    entity_b: dict[str, str],
    notice: str,
) -> None:
    csrf = _sign_in(client, entity_b)
    assert client.get(f"/ui/zone/notices/{notice}").status_code == 404
    r = client.post(f"/ui/zone/notices/{notice}/statement", data={"csrf": csrf, "statement": "冒名"})
    assert r.status_code == 403
    r = client.post(
        "/ui/zone/objections", data={"csrf": csrf, "record": "penalties:P-REVOKE", "grounds": "g"}
    )
    assert r.status_code == 403 and 'data-field="record"' in r.text
    assert _rows(engine, objections.Objection) == 0
    with session_scope(engine) as s:
        assert lists.get(s, notice).response is None
    _sign_in(client, staff[Role.SUPERVISOR])
    for url in ("/ui/zone", "/ui/zone/objections/new", "/ui/zone/commitments/new", "/ui/zone/report"):
        assert client.get(url).status_code == 403, url


def test_a_bad_form_names_the_field_and_keeps_the_values(
    client: TestClient, engine: sa.Engine, entity_a: dict[str, str], notice: str
) -> None:
    csrf = _sign_in(client, entity_a)
    huge = "<script>alert(1)</script>" + "异" * 100_000
    r = client.post(
        "/ui/zone/objections", data={"csrf": csrf, "record": "penalties:P-REVOKE", "grounds": huge}
    )
    assert r.status_code == 422
    assert 'id="error-grounds"' in r.text and "grounds: String should have at most 4000 characters" in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text and "<script>alert(1)" not in r.text
    assert 'value="penalties:P-REVOKE" selected' in r.text
    r = client.post("/ui/zone/objections", data={"csrf": csrf, "record": "", "grounds": "理由"})
    assert r.status_code == 422 and 'id="error-record"' in r.text and ">理由</textarea>" in r.text
    r = client.post("/ui/zone/commitments", data={"csrf": csrf, "matter": "voluntary", "department": "某局"})
    assert (
        r.status_code == 422 and 'id="error-department"' in r.text and 'value="voluntary" checked' in r.text
    )
    r = client.post("/ui/zone/report", data={"csrf": csrf, "on": "9999-12-31", "format": "html"})
    assert r.status_code == 422 and 'id="error-on"' in r.text and 'value="9999-12-31"' in r.text
    r = client.post(f"/ui/zone/notices/{notice}/statement", data={"csrf": csrf, "statement": huge})
    assert r.status_code == 422 and 'id="error-statement"' in r.text
    r = client.post("/ui/zone/objections", data={"record": "penalties:P-REVOKE", "grounds": "g"})  # no csrf
    assert r.status_code == 403
    assert _rows(engine, objections.Objection) == 0 and _rows(engine, commitments.Commitment) == 0
    with session_scope(engine) as s:
        assert lists.get(s, notice).response is None
