"""Lifecycle API: roles per route, full flows over HTTP on a real lake and SQLite, clear 409s for bad steps."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from serving.api.app import create_app, role_matrix
from serving.settings import Settings
from supervision import access
from supervision.access import Role
from supervision.db import make_engine, session_scope, upgrade
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
    ("GET", "/lists/{case_id}", frozenset({Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST})),
    ("POST", "/check", frozenset({Role.SYSTEM})),
    ("GET", "/events", frozenset({Role.SYSTEM})),
    ("GET", "/restrictions", ANY),
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


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_lifecycle_routes_are_in_the_matrix() -> None:
    lifecycle = [row for row in role_matrix() if row[1].split("/")[1] in {"objections", "repairs", "lists", "check",
                                                                           "events", "restrictions"}]  # fmt: skip
    assert lifecycle == LIFECYCLE_MATRIX


@pytest.mark.parametrize(
    ("method", "template", "roles"), LIFECYCLE_MATRIX, ids=[f"{m} {p}" for m, p, _ in LIFECYCLE_MATRIX]
)
def test_each_route_admits_only_its_roles(
    client: TestClient, auth: dict[Role, dict[str, str]], method: str, template: str, roles: frozenset[Role]
) -> None:
    path = (
        template.replace("{objection_id}", "OBJ-X")
        .replace("{repair_id}", "REP-X")
        .replace("{case_id}", "LST-X")
    )
    for role in Role:
        response = client.request(method, path, json={} if method == "POST" else None, headers=auth[role])
        if role in roles:
            # Admitted: the empty body or the unknown id is the only problem left.
            assert response.status_code in (200, 404, 422), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
    assert client.request(method, path).status_code == 401


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
