"""Lifecycle API: roles per route, full flows over HTTP on a real lake and SQLite, clear 409s for bad steps,
and the authority rules: a department acts on and reads its own cases (谁认定、谁约谈), a listing needs a
second approver of the same department (四眼原则), the department is the token's, never a typed name."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from serving.api.app import create_app, role_matrix
from serving.settings import Settings
from supervision.platform import access, audit
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import OTHER_DEPARTMENT, issue
from tests.serving.api_city import error as _error
from tests.serving.api_city import ok as _ok
from tests.supervision.lifecycle_lake import AUTHORITY, AUTHORITY_DIVISION, E, build_lake

SUP = frozenset({Role.SUPERVISOR})
READ = frozenset({Role.SUPERVISOR, Role.INSPECTOR})
ANY = access.STAFF_ROLES  # roles=None: every staff role, never the entity

# Imported by tests/serving/test_api_foundation.py: the app's whole matrix is its MATRIX plus these rows.
LIFECYCLE_MATRIX: list[tuple[str, str, frozenset[Role] | str]] = [
    # The entity files too, on its own records (the service checks the object: tests/serving/test_zone.py).
    ("POST", "/objections", frozenset({Role.SUPERVISOR, Role.INSPECTOR, Role.SYSTEM, Role.ENTITY})),
    ("POST", "/objections/{objection_id}/mark", SUP),
    ("POST", "/objections/{objection_id}/decision", SUP),
    ("POST", "/objections/{objection_id}/withdrawal", SUP),
    ("GET", "/objections/overdue", READ),
    ("GET", "/objections/{objection_id}", READ),
    ("GET", "/objections", READ),
    ("POST", "/repairs", frozenset({Role.SUPERVISOR, Role.SYSTEM, Role.ENTITY})),
    ("POST", "/repairs/{repair_id}/accept", SUP),
    ("POST", "/repairs/{repair_id}/approve", SUP),
    ("POST", "/repairs/{repair_id}/reject", SUP),
    ("GET", "/repairs/overdue", READ),
    ("GET", "/repairs/{repair_id}", READ),
    ("GET", "/repairs", READ),
    ("POST", "/lists", SUP),
    ("POST", "/lists/{case_id}/approve", SUP),
    ("POST", "/lists/{case_id}/response", frozenset({Role.SUPERVISOR, Role.SYSTEM, Role.ENTITY})),
    ("POST", "/lists/{case_id}/withdraw", SUP),
    ("POST", "/lists/{case_id}/list", SUP),
    ("POST", "/lists/{case_id}/publish", SUP),
    ("POST", "/lists/{case_id}/rectified", SUP),
    ("POST", "/lists/{case_id}/interview", SUP),
    ("POST", "/lists/{case_id}/exit", SUP),
    ("POST", "/lists/expire", SUP),
    ("GET", "/lists/interviews-due", frozenset({Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST})),
    ("GET", "/lists/overdue", frozenset({Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST})),
    ("GET", "/lists/persons/{person_key}", frozenset({Role.SUPERVISOR, Role.ANALYST})),
    ("GET", "/lists/{case_id}", frozenset({Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST})),
    ("POST", "/check", frozenset({Role.SYSTEM})),
    ("GET", "/events", frozenset({Role.SYSTEM})),
    ("GET", "/restrictions", ANY),
    ("GET", "/restrictions/incentives", ANY),
    ("GET", "/commitments/templates", ANY),
    ("POST", "/commitments", frozenset({Role.SUPERVISOR, Role.SYSTEM, Role.ENTITY})),
    ("POST", "/commitments/{commitment_id}/fulfil", SUP),
    ("POST", "/commitments/{commitment_id}/breach", SUP),
    ("POST", "/commitments/{commitment_id}/interview", SUP),
    ("POST", "/disclosure/register", SUP),
    ("POST", "/disclosure/{record_table}/{record_id}/publish", SUP),
    ("POST", "/disclosure/{record_table}/{record_id}/withdraw", SUP),
    ("GET", "/disclosure/overdue", READ),
    ("GET", "/disclosure/overdue/records", READ),
    ("GET", "/disclosure/public", "public"),
    ("GET", "/disclosure/search", "public"),
    (
        "POST",
        "/reports",
        frozenset({Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST, Role.SYSTEM, Role.ENTITY}),
    ),
    ("GET", "/reports/{report_no}/verify", ANY),
]


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
def auth(engine: sa.Engine) -> dict[Role, dict[str, str]]:
    """A person of the lake's department (the one that penalised and listed: city level) for each role."""
    return {r: issue(engine, r, department=AUTHORITY, division=AUTHORITY_DIVISION) for r in Role}


@pytest.fixture
def second(engine: sa.Engine) -> dict[str, str]:
    """Another supervisor of the same department: the second approver of a listing."""
    return issue(
        engine,
        Role.SUPERVISOR,
        name="supervisor-2",
        department=AUTHORITY,
        division=AUTHORITY_DIVISION,
        person_id="supervisor-2",
    )


@pytest.fixture
def other(engine: sa.Engine) -> dict[str, str]:
    """A supervisor of another department."""
    return issue(engine, Role.SUPERVISOR, name="other-dept", department=OTHER_DEPARTMENT, person_id="x")


@pytest.fixture
def client(settings: Settings, home: Path, engine: sa.Engine) -> Iterator[TestClient]:
    build_lake(home)
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as c:
        yield c


def test_lifecycle_routes_are_in_the_matrix() -> None:
    lifecycle = [
        row
        for row in role_matrix()
        if row[1].split("/")[1]
        in {
            "objections",
            "repairs",
            "lists",
            "check",
            "events",
            "restrictions",
            "commitments",
            "disclosure",
            "reports",
        }
    ]
    assert lifecycle == LIFECYCLE_MATRIX


@pytest.mark.parametrize(
    ("method", "template", "roles"), LIFECYCLE_MATRIX, ids=[f"{m} {p}" for m, p, _ in LIFECYCLE_MATRIX]
)
def test_each_route_admits_only_its_roles(
    client: TestClient,
    auth: dict[Role, dict[str, str]],
    method: str,
    template: str,
    roles: frozenset[Role] | str,
) -> None:
    path = (
        template.replace("{objection_id}", "OBJ-X")
        .replace("{repair_id}", "REP-X")
        .replace("{case_id}", "LST-X")
        .replace("{commitment_id}", "CMT-X")
        .replace("{record_table}", "penalties")
        .replace("{record_id}", "P-X")
        .replace("{report_no}", "CR-X")
        .replace("{person_key}", "k" * 64)
    )
    for role in Role:
        response = client.request(method, path, json={} if method == "POST" else None, headers=auth[role])
        if roles == "public" or role in roles:
            # Admitted: the empty body, the missing query or the unknown id is the only problem left.
            assert response.status_code in (200, 404, 422), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
    assert client.request(method, path).status_code == (200 if roles == "public" else 401)


def test_objection_flow_and_forbidden_step_over_http(
    client: TestClient, auth: dict[Role, dict[str, str]]
) -> None:
    sup = auth[Role.SUPERVISOR]
    filed = _ok(
        client.post(
            "/objections",
            json={
                "uscc": E[0],
                "record_table": "penalties",
                "record_id": "P-GEN",
                "grounds": "金额有误",
                "department": AUTHORITY,
                "filed_on": "2026-11-02",
            },
            headers=auth[Role.SYSTEM],
        ),
        201,
    )
    oid = filed["objection_id"]
    assert (filed["status"], filed["mark_due"], filed["decide_due"]) == ("filed", "2026-11-03", "2026-11-09")
    early = client.post(
        f"/objections/{oid}/decision",
        json={"outcome": "upheld", "reasons": "r", "resolution": "revoked", "on": "2026-11-03"},
        headers=sup,
    )
    assert early.status_code == 409
    assert early.json()["error"]["message"] == (
        f"objection {oid} is 'filed': 'uphold' is not allowed (allowed: mark)"
    )
    assert (
        _ok(client.post(f"/objections/{oid}/mark", json={"on": "2026-11-03"}, headers=sup))["label"]
        == "异议处理中"
    )
    decided = _ok(
        client.post(
            f"/objections/{oid}/decision",
            json={"outcome": "upheld", "reasons": "核实有误", "resolution": "revoked", "on": "2026-11-04"},
            headers=sup,
        )
    )
    assert decided["status"] == "upheld"
    missing = client.post(
        f"/objections/{oid}/decision", json={"outcome": "rejected", "reasons": "x"}, headers=sup
    )
    assert missing.status_code == 409
    assert _ok(client.get("/objections/overdue", params={"on": "2026-12-31"}, headers=sup)) == []
    assert client.get("/objections/OBJ-NOPE", headers=sup).json()["error"]["type"] == "not_found"


def test_repair_list_check_and_events_over_http(
    client: TestClient, auth: dict[Role, dict[str, str]], second: dict[str, str]
) -> None:
    sup, system = auth[Role.SUPERVISOR], auth[Role.SYSTEM]
    applied = _ok(
        client.post(
            "/repairs",
            json={
                "uscc": E[0],
                "record_table": "penalties",
                "record_id": "P-GEN",
                "commitment": "承诺",
                "obligations_evidence": "缴款凭证",
                "applied_on": "2026-11-02",
            },
            headers=system,
        ),
        201,
    )
    assert all(c["ok"] for c in applied["conditions"]) and applied["department"] == AUTHORITY
    rid = applied["repair_id"]
    _ok(client.post(f"/repairs/{rid}/accept", json={"on": "2026-11-03"}, headers=sup))
    assert (
        _ok(client.post(f"/repairs/{rid}/approve", json={"on": "2026-11-04"}, headers=sup))["status"]
        == "approved"
    )

    case = _ok(
        client.post(
            "/lists",
            json={
                "uscc": E[2],
                "list_type": "severe_dishonesty",
                "reasons": "提供虚假材料",
                "basis": "严重违法失信名单管理办法",
                "proposed_on": "2026-10-12",
            },
            headers=sup,
        ),
        201,
    )
    cid = case["case_id"]
    assert "陈述、申辩" in case["notice"] and case["department"] == AUTHORITY
    _ok(client.post(f"/lists/{cid}/approve", json={"on": "2026-10-13"}, headers=second))
    _ok(
        client.post(
            f"/lists/{cid}/list",
            json={"basis_document_no": "P-REVOKE", "on": "2026-10-26"},
            headers=sup,
        )
    )
    checked = _ok(
        client.post(
            "/check",
            json={"uscc": E[2], "matter": "government_procurement", "on": "2026-11-02"},
            headers=system,
        )
    )
    assert checked["restricted"] and checked["lists"][0]["entry_id"] == cid
    assert {r["list_type"] for r in checked["restrictions"]} == {"severe_dishonesty"}
    events = _ok(client.get("/events", params={"after": 0}, headers=system))
    assert [(e["event"], e["case_id"]) for e in events] == [("listed", cid)]
    assert _ok(client.get("/events", params={"after": events[-1]["id"]}, headers=system)) == []
    bad = client.post("/check", json={"uscc": E[6], "matter": "loans"}, headers=system)
    assert bad.status_code == 422 and "matter 'loans'" in bad.json()["error"]["message"]


ID_RE = re.compile(r"\d{17}[\dXx]")


def test_commitments_disclosure_and_reports_over_http(
    client: TestClient, auth: dict[Role, dict[str, str]]
) -> None:
    sup, system = auth[Role.SUPERVISOR], auth[Role.SYSTEM]
    made = _ok(
        client.post(
            "/commitments",
            json={
                "uscc": E[0],
                "matter": "food_business_licence",
                "department": AUTHORITY,
                "signatory": "张三丰",
                "made_on": "2026-09-01",
            },
            headers=system,
        ),
        201,
    )
    cid = made["commitment_id"]
    _ok(
        client.post(
            f"/commitments/{cid}/breach", json={"facts": "逾期未具备条件", "on": "2026-10-08"}, headers=sup
        )
    )
    again = client.post(f"/commitments/{cid}/fulfil", json={"on": "2026-10-09"}, headers=sup)
    assert again.status_code == 409 and "'breached'" in again.json()["error"]["message"]
    column = [c for c in _ok(client.get("/public/commitments"))["items"] if c["commitment_id"] == cid]
    assert [c["signatory"] for c in column] == ["张**"] and column[0]["status"] == "breached"

    assert _ok(client.post("/disclosure/register", headers=sup))["registered"] == 7
    _ok(client.post("/disclosure/penalties/P-REVOKE/publish", json={"on": "2026-11-02"}, headers=sup))
    overdue = _ok(client.get("/disclosure/overdue", params={"on": "2026-11-27"}, headers=sup))
    assert overdue == [
        {
            "department": AUTHORITY,
            "overdue": 6,
            # P-REP1 and P-SEV of 2024-01-08, market supervision's: 20 WD (disclosure.publish_samr).
            "oldest_due": "2024-02-04",
            "max_working_days_late": overdue[0]["max_working_days_late"],
        }
    ]
    public = client.get("/disclosure/public")  # the public sees today's publication (no other day)
    rows = _ok(public)
    assert client.get("/disclosure/public", params={"on": "2026-11-27"}).status_code == 422
    assert [r["record_id"] for r in rows] == ["P-REVOKE"] and rows[0]["legal_representative"] == "张*"
    assert not ID_RE.search(public.text) and not ID_RE.search(client.get("/public/commitments").text)

    issued = client.post("/reports", json={"uscc": E[4], "on": "2026-11-27"}, headers=auth[Role.INSPECTOR])
    assert issued.status_code == 200 and issued.headers["content-type"].startswith("text/html")
    number, digest = issued.headers["X-Report-No"], issued.headers["X-Report-Hash"]
    assert number in issued.text and "L-SEV" in issued.text
    assert (
        _ok(client.get(f"/reports/{number}/verify", params={"hash": digest}, headers=system))["valid"] is True
    )
    assert (
        _ok(client.get(f"/reports/{number}/verify", params={"hash": "0" * 64}, headers=system))["valid"]
        is False
    )
    pdf = client.post("/reports", json={"uscc": E[4], "on": "2026-11-27", "format": "pdf"}, headers=sup)
    assert pdf.content.startswith(b"%PDF-") and pdf.headers["X-Report-Hash"] == digest


def test_tier_and_score_come_from_the_latest_score_file(
    client: TestClient, auth: dict[Role, dict[str, str]], home: Path
) -> None:
    (home / "scores").mkdir()
    row = {
        "uscc": [E[4]],
        "probability": [0.91],
        "tier": ["D"],
        "reasons_zh": ["严重失信名单在列；处罚次数多"],
    }
    pl.DataFrame(row).write_parquet(home / "scores" / "as_of=2026-11-01.parquet")
    pl.DataFrame({**row, "tier": ["A"]}).write_parquet(home / "scores" / "as_of=2026-12-01.parquet")
    body = {"uscc": E[4], "matter": "bidding", "on": "2026-11-27"}
    assert _ok(client.post("/check", json=body, headers=auth[Role.SYSTEM]))["tier"] == "D"
    early = {**body, "on": "2026-10-01"}
    assert _ok(client.post("/check", json=early, headers=auth[Role.SYSTEM]))["tier"] is None
    report = {"uscc": E[4], "on": "2026-11-27"}
    supervisor = client.post("/reports", json=report, headers=auth[Role.SUPERVISOR]).text
    inspector = client.post("/reports", json=report, headers=auth[Role.INSPECTOR]).text
    assert "信用风险评估" in supervisor and "处罚次数多" in supervisor and "0.91" in supervisor
    assert "信用风险评估" not in inspector and "处罚次数多" not in inspector


def test_restriction_catalog_is_configurable(
    settings: Settings, home: Path, engine: sa.Engine, auth: dict[Role, dict[str, str]]
) -> None:
    build_lake(home)
    custom = home / "measures.toml"
    custom.write_text(
        '[[measure]]\nlist_type = "abnormal_operations"\nmatter = "fiscal_funds"\nsubject = "entity"\n'
        'restriction = "本市财政资金项目不予支持"\nbasis = "本市规定"\nconfidence = "U"\n',
        encoding="utf-8",
    )
    app = create_app(
        settings.model_copy(update={"restriction_catalog": custom}),
        engine=engine,
        clock=china_half_past_midnight(),
    )
    with TestClient(app) as c:
        assert [m["restriction"] for m in _ok(c.get("/restrictions", headers=auth[Role.SYSTEM]))] == [
            "本市财政资金项目不予支持"
        ]
        body = {"uscc": E[3], "matter": "fiscal_funds", "on": "2026-11-27"}
        got = _ok(c.post("/check", json=body, headers=auth[Role.SYSTEM]))
        assert [r["basis"] for r in got["restrictions"]] == ["本市规定"]


# ------------------------------------------------------------------------------------------- authority
def _propose(client: TestClient, headers: dict[str, str], uscc: str = E[2]) -> str:
    body = {"uscc": uscc, "list_type": "severe_dishonesty", "reasons": "提供虚假材料", "basis": "办法第二条"}
    body["proposed_on"] = "2026-10-12"
    return str(_ok(client.post("/lists", json=body, headers=headers), 201)["case_id"])


def test_the_department_is_the_tokens_not_a_typed_one(
    client: TestClient, auth: dict[Role, dict[str, str]]
) -> None:
    sup, system = auth[Role.SUPERVISOR], auth[Role.SYSTEM]
    filing = {
        "uscc": E[0],
        "record_table": "penalties",
        "record_id": "P-GEN",
        "grounds": "g",
        "filed_on": "2026-11-02",
    }
    error = _error(
        client.post("/objections", json={**filing, "department": OTHER_DEPARTMENT}, headers=sup),
        403,
        "forbidden",
    )
    assert "their own department" in error["message"] and error["field"] == "department"
    assert _ok(client.post("/objections", json=filing, headers=sup), 201)["department"] == AUTHORITY
    error = _error(client.post("/objections", json=filing, headers=system), 422, "validation")
    assert "required when a system files" in error["message"]
    # The typed department inputs are gone where the actor's department (or the record's) is the truth.
    proposal = {"uscc": E[6], "list_type": "severe_dishonesty", "reasons": "r", "basis": "b"}
    _error(client.post("/lists", json={**proposal, "department": AUTHORITY}, headers=sup), 422, "validation")
    repair = {"uscc": E[0], "record_table": "penalties", "record_id": "P-GEN"}
    _error(client.post("/repairs", json={**repair, "department": AUTHORITY}, headers=sup), 422, "validation")


def test_a_token_without_a_department_may_not_act_or_read_a_queue(
    client: TestClient, engine: sa.Engine
) -> None:
    with session_scope(engine) as s:
        legacy = {
            "Authorization": f"Bearer {access.create_token(s, name='legacy', role=Role.SUPERVISOR).token}"
        }
    error = _error(client.get("/objections", headers=legacy), 403, "forbidden")
    assert "no department" in error["message"]
    body = {"uscc": E[6], "list_type": "severe_dishonesty", "reasons": "r", "basis": "b"}
    _error(client.post("/lists", json=body, headers=legacy), 403, "forbidden")


def test_another_department_may_not_decide_or_read_an_objection_or_repair(
    client: TestClient, auth: dict[Role, dict[str, str]], other: dict[str, str]
) -> None:
    sup = auth[Role.SUPERVISOR]
    filing = {
        "uscc": E[0],
        "record_table": "penalties",
        "record_id": "P-GEN",
        "grounds": "g",
        "filed_on": "2026-11-02",
    }
    oid = _ok(client.post("/objections", json=filing, headers=sup), 201)["objection_id"]
    for method, path, body in [
        ("POST", f"/objections/{oid}/mark", {"on": "2026-11-03"}),
        ("POST", f"/objections/{oid}/decision", {"outcome": "rejected", "reasons": "r", "on": "2026-11-03"}),
        ("GET", f"/objections/{oid}", None),
    ]:
        error = _error(client.request(method, path, json=body, headers=other), 403, "forbidden")
        assert f"belongs to {AUTHORITY}" in error["message"]
    assert _ok(client.get("/objections", headers=other)) == []
    assert [o["objection_id"] for o in _ok(client.get("/objections", headers=sup))] == [oid]
    assert _ok(client.get("/objections/overdue", params={"on": "2026-12-01"}, headers=other)) == []

    repair = {"uscc": E[0], "record_table": "penalties", "record_id": "P-GEN", "commitment": "c"}
    repair |= {"obligations_evidence": "e", "applied_on": "2026-11-02"}
    error = _error(client.post("/repairs", json=repair, headers=other), 403, "forbidden")
    assert "penalised or listed" in error["message"]
    rid = _ok(client.post("/repairs", json=repair, headers=auth[Role.SYSTEM]), 201)["repair_id"]
    for action, body in [("accept", {}), ("approve", {}), ("reject", {"reasons": "r"})]:
        _error(client.post(f"/repairs/{rid}/{action}", json=body, headers=other), 403, "forbidden")
    _error(client.get(f"/repairs/{rid}", headers=other), 403, "forbidden")
    assert _ok(client.get("/repairs", headers=other)) == []
    assert _ok(client.get("/repairs/overdue", params={"on": "2026-12-01"}, headers=other)) == []
    assert (
        _ok(client.post(f"/repairs/{rid}/accept", json={"on": "2026-11-03"}, headers=sup))["status"]
        == "accepted"
    )


def test_only_the_listing_department_acts_on_its_case(
    client: TestClient, auth: dict[Role, dict[str, str]], second: dict[str, str], other: dict[str, str]
) -> None:
    sup = auth[Role.SUPERVISOR]
    cid = _propose(client, sup)
    for action, body in [
        ("approve", {}),
        ("response", {"response": "r"}),
        ("withdraw", {"reasons": "r"}),
        ("list", {"basis_document_no": "d"}),
    ]:
        error = _error(client.post(f"/lists/{cid}/{action}", json=body, headers=other), 403, "forbidden")
        assert "谁认定、谁约谈" in error["message"], action
    _ok(client.post(f"/lists/{cid}/approve", json={"on": "2026-10-13"}, headers=second))
    listing = {"basis_document_no": "P-REVOKE", "on": "2026-10-20"}
    _ok(client.post(f"/lists/{cid}/list", json=listing, headers=sup))
    for action, body in [
        ("interview", {"reason": "逾期", "on": "2026-11-20"}),
        ("rectified", {}),
        ("exit", {}),
    ]:
        error = _error(client.post(f"/lists/{cid}/{action}", json=body, headers=other), 403, "forbidden")
        assert "谁认定、谁约谈" in error["message"], action
    _error(client.get(f"/lists/{cid}", headers=other), 403, "forbidden")
    assert _ok(client.get("/lists/interviews-due", params={"on": "2026-11-20"}, headers=other)) == []
    assert _ok(client.post("/lists/expire", json={"on": "2026-11-27"}, headers=other)) == []
    interviewed = _ok(
        client.post(f"/lists/{cid}/interview", json={"reason": "逾期", "on": "2026-11-20"}, headers=sup)
    )
    assert interviewed["interviewed_on"] == "2026-11-20"


def test_four_eyes_a_second_person_of_the_department_approves_over_http(
    client: TestClient,
    engine: sa.Engine,
    auth: dict[Role, dict[str, str]],
    second: dict[str, str],
    other: dict[str, str],
) -> None:
    sup = auth[Role.SUPERVISOR]
    cid = _propose(client, sup)
    listing = {"basis_document_no": "P-REVOKE", "on": "2026-10-20"}
    error = _error(client.post(f"/lists/{cid}/list", json=listing, headers=sup), 403, "forbidden")
    assert "四眼原则" in error["message"] and "a city department" in error["message"]
    error = _error(client.post(f"/lists/{cid}/approve", json={}, headers=sup), 403, "forbidden")
    assert "another person" in error["message"]  # not the proposer
    _error(
        client.post(f"/lists/{cid}/approve", json={}, headers=other), 403, "forbidden"
    )  # not another department
    approved = _ok(client.post(f"/lists/{cid}/approve", json={"on": "2026-10-13"}, headers=second))
    assert (approved["approver_person_id"], approved["approved_on"]) == ("supervisor-2", "2026-10-13")
    again = _error(client.post(f"/lists/{cid}/approve", json={}, headers=second), 409, "conflict")
    assert "already approved" in again["message"]
    assert _ok(client.post(f"/lists/{cid}/list", json=listing, headers=sup))["status"] == "listed"
    with session_scope(engine) as s:
        approvals = [e for e in audit.entries(s, limit=1000) if e.action == "lists.approve"]
    assert [e.result for e in approvals] == ["denied", "denied", "ok", "rejected"]  # refusals are audited too
    entry = approvals[2]
    assert entry.details["door"] == "api" and entry.details["department"] == AUTHORITY
    assert entry.actor.startswith("supervisor-2#") and entry.target == f"list:{cid}"
    # A level the policy does not list (the province) needs no second approver.
    province = issue(
        engine, Role.SUPERVISOR, name="prov", department="江苏省市场监督管理局", division="320000"
    )
    early = _propose(client, province, uscc=E[4])
    listing = {"basis_document_no": "P-SEV", "on": "2026-10-20"}
    assert _ok(client.post(f"/lists/{early}/list", json=listing, headers=province))["approved_by"] is None


def test_commitments_and_publication_are_the_departments_own(
    client: TestClient, auth: dict[Role, dict[str, str]], other: dict[str, str]
) -> None:
    sup = auth[Role.SUPERVISOR]
    body = {"uscc": E[0], "matter": "food_business_licence", "made_on": "2026-09-01"}
    made = _ok(client.post("/commitments", json=body, headers=sup), 201)
    assert made["department"] == AUTHORITY
    cid = made["commitment_id"]
    for action, body in [("fulfil", {}), ("breach", {"facts": "f"}), ("interview", {"reason": "r"})]:
        _error(client.post(f"/commitments/{cid}/{action}", json=body, headers=other), 403, "forbidden")
    _ok(client.post("/disclosure/register", headers=sup))
    error = _error(
        client.post("/disclosure/penalties/P-REVOKE/publish", json={}, headers=other), 403, "forbidden"
    )
    assert "谁产生、谁公示" in error["message"]


PROPOSAL_IN_2999 = {
    "uscc": E[6],
    "list_type": "severe_dishonesty",
    "reasons": "r",
    "basis": "b",
    "proposed_on": "2999-01-01",
}


@pytest.mark.parametrize(
    ("method", "path", "body", "params", "fragment"),
    [
        ("POST", "/lists", PROPOSAL_IN_2999, None, "after"),
        ("POST", "/objections/OBJ-X/mark", {"on": "9999-12-31"}, None, "after"),
        ("GET", "/objections/overdue", None, {"on": "9999-12-31"}, "after"),
        ("GET", "/disclosure/public", None, {"on": "9999-12-31"}, "after"),
        ("POST", "/reports", {"uscc": E[4], "on": "9999-12-31"}, None, "after"),
        ("POST", "/objections/OBJ-X/mark", {"on": "0001-01-01"}, None, "out of range"),
        ("GET", "/disclosure/public", None, {"on": "0001-01-01"}, "out of range"),
        ("POST", "/reports", {"uscc": E[4], "on": "0001-01-01"}, None, "out of range"),
        (
            "POST",
            "/check",
            {"uscc": E[4], "matter": "government_procurement", "on": "0001-01-01"},
            None,
            "out of range",
        ),
    ],
    ids=[
        "decision after today",
        "mark after today",
        "overdue in 9999",
        "public in 9999",
        "report in 9999",
        "mark in year 1",
        "public in year 1",
        "report in year 1",
        "check in year 1",
    ],
)
def test_a_far_day_is_a_clear_422(
    client: TestClient,
    auth: dict[Role, dict[str, str]],
    method: str,
    path: str,
    body: dict[str, object] | None,
    params: dict[str, str] | None,
    fragment: str,
) -> None:
    sup = auth[Role.SUPERVISOR]
    if path.startswith("/objections/OBJ-X"):
        filing = {
            "uscc": E[0],
            "record_table": "penalties",
            "record_id": "P-GEN",
            "grounds": "g",
            "filed_on": "2026-11-02",
        }
        oid = _ok(client.post("/objections", json=filing, headers=sup), 201)["objection_id"]
        path = path.replace("OBJ-X", oid)
    headers = auth[Role.SYSTEM] if path == "/check" else sup
    error = _error(client.request(method, path, json=body, params=params, headers=headers), 422, "validation")
    assert fragment in error["message"]
