"""Lifecycle API: roles per route, full flows over HTTP on a real lake and SQLite, clear 409s for bad steps."""

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
from supervision import access
from supervision.access import Role
from supervision.db import make_engine, session_scope, upgrade
from tests.serving.api_city import ok as _ok
from tests.supervision.lifecycle_lake import E, build_lake

SUP = frozenset({Role.SUPERVISOR})
READ = frozenset({Role.SUPERVISOR, Role.INSPECTOR})
ANY = frozenset(Role)

# Imported by tests/serving/test_api_foundation.py: the app's whole matrix is its MATRIX plus these rows.
LIFECYCLE_MATRIX: list[tuple[str, str, frozenset[Role] | str]] = [
    ("POST", "/objections", frozenset({Role.SUPERVISOR, Role.INSPECTOR, Role.SYSTEM})),
    ("POST", "/objections/{objection_id}/mark", SUP),
    ("POST", "/objections/{objection_id}/decision", SUP),
    ("GET", "/objections/overdue", READ),
    ("GET", "/objections/{objection_id}", READ),
    ("GET", "/objections", READ),
    ("POST", "/repairs", frozenset({Role.SUPERVISOR, Role.SYSTEM})),
    ("POST", "/repairs/{repair_id}/accept", SUP),
    ("POST", "/repairs/{repair_id}/approve", SUP),
    ("POST", "/repairs/{repair_id}/reject", SUP),
    ("GET", "/repairs/overdue", READ),
    ("GET", "/repairs/{repair_id}", READ),
    ("GET", "/repairs", READ),
    ("POST", "/lists", SUP),
    ("POST", "/lists/{case_id}/response", frozenset({Role.SUPERVISOR, Role.SYSTEM})),
    ("POST", "/lists/{case_id}/withdraw", SUP),
    ("POST", "/lists/{case_id}/list", SUP),
    ("POST", "/lists/{case_id}/rectified", SUP),
    ("POST", "/lists/{case_id}/interview", SUP),
    ("POST", "/lists/{case_id}/exit", SUP),
    ("POST", "/lists/expire", SUP),
    ("GET", "/lists/interviews-due", frozenset({Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST})),
    ("GET", "/lists/persons/{person_key}", frozenset({Role.SUPERVISOR, Role.ANALYST})),
    ("GET", "/lists/{case_id}", frozenset({Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST})),
    ("POST", "/check", frozenset({Role.SYSTEM})),
    ("GET", "/events", frozenset({Role.SYSTEM})),
    ("GET", "/restrictions", ANY),
    ("GET", "/commitments/templates", ANY),
    ("GET", "/commitments/public", "public"),
    ("POST", "/commitments", frozenset({Role.SUPERVISOR, Role.SYSTEM})),
    ("POST", "/commitments/{commitment_id}/fulfil", SUP),
    ("POST", "/commitments/{commitment_id}/breach", SUP),
    ("POST", "/commitments/{commitment_id}/interview", SUP),
    ("POST", "/disclosure/register", SUP),
    ("POST", "/disclosure/{record_table}/{record_id}/publish", SUP),
    ("GET", "/disclosure/overdue", READ),
    ("GET", "/disclosure/public", "public"),
    ("POST", "/reports", frozenset({Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST, Role.SYSTEM})),
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
    with session_scope(engine) as s:
        return {
            r: {"Authorization": f"Bearer {access.create_token(s, name=f'{r.value}-user', role=r).token}"}
            for r in Role
        }


@pytest.fixture
def client(settings: Settings, home: Path, engine: sa.Engine) -> Iterator[TestClient]:
    build_lake(home)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def test_lifecycle_routes_are_in_the_matrix() -> None:
    lifecycle = [row for row in role_matrix() if row[1].split("/")[1] in {"objections", "repairs", "lists", "check",
                 "events", "restrictions", "commitments", "disclosure", "reports"}]  # fmt: skip
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
        template.replace("{objection_id}", "OBJ-X").replace("{repair_id}", "REP-X").replace("{case_id}", "LST-X")
        .replace("{commitment_id}", "CMT-X").replace("{record_table}", "penalties").replace("{record_id}", "P-X")
        .replace("{report_no}", "CR-X").replace("{person_key}", "k" * 64)
    )  # fmt: skip
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
            json={"uscc": E[0], "record_table": "penalties", "record_id": "P-GEN", "grounds": "金额有误",
                  "department": "盐城市市场监管局", "filed_on": "2026-11-02"},
            headers=auth[Role.SYSTEM],
        ),
        201,
    )  # fmt: skip
    oid = filed["objection_id"]
    assert (filed["status"], filed["mark_due"], filed["decide_due"]) == ("filed", "2026-11-03", "2026-11-09")
    early = client.post(f"/objections/{oid}/decision", json={"outcome": "upheld", "reasons": "r",
                                                               "resolution": "revoked", "on": "2026-11-03"}, headers=sup)  # fmt: skip
    assert early.status_code == 409
    assert early.json()["error"]["message"] == (
        f"objection {oid} is 'filed': 'uphold' is not allowed (allowed: mark)"
    )
    assert (
        _ok(client.post(f"/objections/{oid}/mark", json={"on": "2026-11-03"}, headers=sup))["label"]
        == "异议处理中"
    )
    decided = _ok(client.post(f"/objections/{oid}/decision", json={"outcome": "upheld", "reasons": "核实有误",
                                                                     "resolution": "revoked", "on": "2026-11-04"},
                              headers=sup))  # fmt: skip
    assert decided["status"] == "upheld"
    missing = client.post(
        f"/objections/{oid}/decision", json={"outcome": "rejected", "reasons": "x"}, headers=sup
    )
    assert missing.status_code == 409
    assert _ok(client.get("/objections/overdue", params={"on": "2026-12-31"}, headers=sup)) == []
    assert client.get("/objections/OBJ-NOPE", headers=sup).json()["error"]["type"] == "not_found"


def test_repair_list_check_and_events_over_http(client: TestClient, auth: dict[Role, dict[str, str]]) -> None:
    sup, system = auth[Role.SUPERVISOR], auth[Role.SYSTEM]
    applied = _ok(
        client.post(
            "/repairs",
            json={"uscc": E[0], "record_table": "penalties", "record_id": "P-GEN", "department": "盐城市市场监管局",
                  "commitment": "承诺", "obligations_evidence": "缴款凭证", "applied_on": "2026-11-02"},
            headers=system,
        ),
        201,
    )  # fmt: skip
    assert all(c["ok"] for c in applied["conditions"])
    rid = applied["repair_id"]
    _ok(client.post(f"/repairs/{rid}/accept", json={"on": "2026-11-03"}, headers=sup))
    assert (
        _ok(client.post(f"/repairs/{rid}/approve", json={"on": "2026-11-04"}, headers=sup))["status"]
        == "approved"
    )

    case = _ok(
        client.post(
            "/lists",
            json={"uscc": E[6], "list_type": "severe_dishonesty", "department": "盐城市市场监管局",
                  "reasons": "提供虚假材料", "basis": "严重违法失信名单管理办法", "proposed_on": "2026-10-12"},
            headers=sup,
        ),
        201,
    )  # fmt: skip
    cid = case["case_id"]
    assert "陈述、申辩" in case["notice"]
    _ok(
        client.post(
            f"/lists/{cid}/list",
            json={"basis_document_no": "盐市监严〔2026〕1号", "on": "2026-10-26"},
            headers=sup,
        )
    )
    checked = _ok(client.post("/check", json={"uscc": E[6], "matter": "government_procurement", "on": "2026-11-02"},
                              headers=system))  # fmt: skip
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
    made = _ok(client.post("/commitments", json={"uscc": E[0], "matter": "food_business_licence",
                                                  "department": "盐城市市场监管局", "signatory": "张三丰",
                                                  "made_on": "2026-09-01"}, headers=system), 201)  # fmt: skip
    cid = made["commitment_id"]
    _ok(
        client.post(
            f"/commitments/{cid}/breach", json={"facts": "逾期未具备条件", "on": "2026-10-08"}, headers=sup
        )
    )
    again = client.post(f"/commitments/{cid}/fulfil", json={"on": "2026-10-09"}, headers=sup)
    assert again.status_code == 409 and "'breached'" in again.json()["error"]["message"]
    column = _ok(client.get("/commitments/public"))
    assert [c["signatory"] for c in column] == ["张**"] and column[0]["status"] == "breached"

    assert _ok(client.post("/disclosure/register", headers=sup))["registered"] == 7
    _ok(client.post("/disclosure/penalties/P-REVOKE/publish", json={"on": "2026-11-02"}, headers=sup))
    overdue = _ok(client.get("/disclosure/overdue", params={"on": "2026-11-27"}, headers=sup))
    assert overdue == [{"department": "盐城市市场监管局", "overdue": 6, "oldest_due": "2024-01-17",
                        "max_working_days_late": overdue[0]["max_working_days_late"]}]  # fmt: skip
    public = client.get("/disclosure/public", params={"on": "2026-11-27"})
    rows = _ok(public)
    assert [r["record_id"] for r in rows] == ["P-REVOKE"] and rows[0]["legal_representative"] == "张*"
    assert not ID_RE.search(public.text) and not ID_RE.search(client.get("/commitments/public").text)

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


def test_restriction_catalog_is_configurable(settings: Settings, home: Path, engine: sa.Engine,
                                             auth: dict[Role, dict[str, str]]) -> None:  # fmt: skip
    build_lake(home)
    custom = home / "measures.toml"
    custom.write_text(
        '[[measure]]\nlist_type = "abnormal_operations"\nmatter = "fiscal_funds"\nsubject = "entity"\n'
        'restriction = "本市财政资金项目不予支持"\nbasis = "本市规定"\nconfidence = "U"\n',
        encoding="utf-8",
    )
    app = create_app(settings.model_copy(update={"restriction_catalog": custom}), engine=engine)
    with TestClient(app) as c:
        assert [m["restriction"] for m in _ok(c.get("/restrictions", headers=auth[Role.SYSTEM]))] == [
            "本市财政资金项目不予支持"
        ]
        body = {"uscc": E[3], "matter": "fiscal_funds", "on": "2026-11-27"}
        got = _ok(c.post("/check", json=body, headers=auth[Role.SYSTEM]))
        assert [r["basis"] for r in got["restrictions"]] == ["本市规定"]
