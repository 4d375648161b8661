"""Sampling routes over HTTP on SQLite with a hand-made score file: create → draw → list → export → verify →
assign → record, roles per route, typed errors; and the domain matrix is the app's."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features import uscc as uscc_rules
from models.risk_model import REASON_DTYPE
from serving.api.app import create_app, role_matrix
from serving.settings import Settings
from supervision.platform import audit
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from supervision.sampling import roster, tables
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, DEPARTMENT, DOMAIN_MATRIX, OTHER_DEPARTMENT, issue, tokens
from tests.serving.api_city import error as _error
from tests.serving.api_city import ok as _ok

SAMPLING_ROUTES = [r for r in DOMAIN_MATRIX if r[1].startswith("/sampling")]
ITEM = "食品安全检查"
USCCS = [uscc_rules.complete(f"91320900MA{i:07d}") for i in range(200)]
TIERS = ["A", "B", "C", "D"]


def test_domain_routes_are_in_the_matrix() -> None:
    prefixes = ("entities", "scores", "models", "sampling")
    assert [row for row in role_matrix() if row[1].split("/")[1] in prefixes] == DOMAIN_MATRIX


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


def _write_scores(home: Path) -> pl.DataFrame:
    reasons = [
        [
            {
                "feature": "penalties_n_1095d",
                "dimension": "law_abiding",
                "value": str(i % 3),
                "contribution": 0.1 * (i % 3),
                "zh": f"近三年行政处罚{i % 3}次",
                "en": f"{i % 3} penalties in three years",
            }
        ]
        for i in range(len(USCCS))
    ]
    frame = pl.DataFrame(
        {
            "uscc": USCCS,
            "tier": [TIERS[i % 4] for i in range(len(USCCS))],
            "probability": [0.05 + 0.2 * (i % 4) for i in range(len(USCCS))],
            "model_version": ["1"] * len(USCCS),
        }
    ).with_columns(pl.Series("reasons", reasons, dtype=REASON_DTYPE))
    (home / "scores").mkdir()
    frame.write_parquet(home / "scores" / f"as_of={AS_OF}.parquet")
    return frame


@pytest.fixture
def client(settings: Settings, home: Path, engine: sa.Engine) -> Iterator[TestClient]:
    _write_scores(home)
    inspectors = pl.DataFrame(
        {
            "inspector_id": [f"I{i:02d}" for i in range(6)],
            "name": [f"检查员{i}" for i in range(6)],
            "department": ["市场监管局"] * 6,
            "division_code": ["320900"] * 6,
            "qualifications": [ITEM] * 6,
            "active": ["true"] * 6,
        }
    )
    with session_scope(engine) as session:
        roster.import_inspectors(session, inspectors, salt=settings.person_salt)
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as c:
        yield c


@pytest.fixture
def auth(engine: sa.Engine) -> dict[Role, dict[str, str]]:
    return tokens(engine)


# The department is the caller's (DEPARTMENT for every token of `auth`).
TASK = {
    "items": [ITEM],
    "period": "2026Q4",
    "count": 20,
    "as_of": AS_OF.isoformat(),
}


def test_task_flow_over_http(client: TestClient, auth: dict[Role, dict[str, str]], engine: sa.Engine) -> None:
    sup, ins = auth[Role.SUPERVISOR], auth[Role.INSPECTOR]
    created = _ok(client.post("/sampling/tasks", json={**TASK, "task_id": "T1"}, headers=sup), 201)
    assert (
        created["status"] == "created"
        and created["eligible"] == len(USCCS)
        and created["revealed_seed"] is None
    )
    assert len(created["seed_sha256"]) == 64
    _error(client.post("/sampling/tasks", json={**TASK, "task_id": "T1"}, headers=sup), 409, "conflict")

    drawn = _ok(client.post("/sampling/tasks/T1/draw", headers=sup))
    assert drawn["status"] == "drawn" and drawn["selected"] == 20 and drawn["revealed_seed"]
    assert sum(t["selected"] for t in drawn["tiers"]) == 20
    _error(client.post("/sampling/tasks/T1/draw", headers=sup), 409, "conflict")

    listed = _ok(client.get("/sampling/tasks", headers=ins))
    assert [t["task_id"] for t in listed] == ["T1"]
    assert _ok(client.get("/sampling/tasks", params={"period": "2025Q1"}, headers=ins)) == []
    detail = _ok(client.get("/sampling/tasks/T1", headers=ins))
    assert len(detail["entities"]) == 20 and all(
        e["reasons"].startswith("近三年") for e in detail["entities"]
    )

    verified = _ok(client.get("/sampling/tasks/T1/verify", headers=auth[Role.ANALYST]))
    assert verified["ok"] and verified["checks"] and all(c["ok"] for c in verified["checks"])

    assigned = _ok(client.post("/sampling/periods/2026Q4/assign", json={}, headers=sup))
    assert assigned["visits"] == 20 and assigned["assigned"] == 20

    detail = _ok(client.get("/sampling/tasks/T1", headers=ins))
    first = detail["entities"][0]
    recorder = first["inspectors"].split("; ")[0]
    result = {
        "uscc": first["uscc"],
        "outcome": "violation",
        "inspected_on": AS_OF.isoformat(),
        "recorded_by": recorder,
        "findings": "过期食品",
    }
    # 谁检查、谁录入: the generic inspector token's person id is on no roster row; another inspector's id is
    # refused too.
    refused = _error(client.post("/sampling/tasks/T1/results", json=result, headers=ins), 403, "forbidden")
    assert "not linked to the roster" in refused["message"]
    ins = issue(engine, Role.INSPECTOR, name="recorder", person_id=recorder)
    with session_scope(engine) as s:
        colleague = s.scalars(
            sa.select(tables.Inspector.inspector_id).where(tables.Inspector.inspector_id != recorder)
        ).first()
        assert colleague is not None
    other = issue(engine, Role.INSPECTOR, name="colleague", person_id=colleague)
    refused = _error(client.post("/sampling/tasks/T1/results", json=result, headers=other), 403, "forbidden")
    assert refused["field"] == "recorded_by" and recorder in refused["message"]
    recorded = _ok(client.post("/sampling/tasks/T1/results", json=result, headers=ins), 201)
    assert recorded["visit_id"] == first["visit_id"] and recorded["publication_due_on"] > AS_OF.isoformat()
    _error(client.post("/sampling/tasks/T1/results", json=result, headers=ins), 409, "conflict")
    outsider = {**result, "uscc": detail["entities"][1]["uscc"], "recorded_by": "nobody"}
    # A supervisor records for a member of the visit's team only.
    _error(client.post("/sampling/tasks/T1/results", json=outsider, headers=sup), 422, "validation")
    off_list = {**result, "uscc": next(u for u in USCCS if u not in {e["uscc"] for e in detail["entities"]})}
    _error(client.post("/sampling/tasks/T1/results", json=off_list, headers=ins), 404, "not_found")
    _error(
        client.post("/sampling/tasks/T1/results", json={**result, "outcome": "fine"}, headers=ins),
        422,
        "validation",
    )

    csv_response = client.get("/sampling/tasks/T1/export", headers=ins)
    assert csv_response.status_code == 200 and csv_response.headers["content-type"].startswith("text/csv")
    assert 'filename="T1.csv"' in csv_response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    assert len(rows) == 20 and {r["uscc"] for r in rows} == {e["uscc"] for e in detail["entities"]}
    assert next(r for r in rows if r["uscc"] == first["uscc"])["outcome"] == "violation"
    xlsx = client.get("/sampling/tasks/T1/export", params={"format": "xlsx"}, headers=sup)
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.max_row == 21 and sheet.cell(1, 3).value == "统一社会信用代码 USCC"
    _error(client.get("/sampling/tasks/T1/export", params={"format": "pdf"}, headers=sup), 422, "validation")

    with session_scope(engine) as session:
        actions = [(e.action, e.target, e.result) for e in audit.entries(session, limit=1000)]
    assert ("sampling.create", "task:T1", "ok") in actions and ("sampling.draw", "task:T1", "ok") in actions
    assert ("sampling.result", "task:T1", "ok") in actions and (
        "sampling.assign",
        "period:2026Q4",
        "ok",
    ) in actions


def test_errors_are_typed(client: TestClient, auth: dict[Role, dict[str, str]]) -> None:
    sup = auth[Role.SUPERVISOR]
    _error(client.post("/sampling/tasks/NOPE/draw", headers=sup), 404, "not_found")
    _error(client.get("/sampling/tasks/NOPE", headers=sup), 404, "not_found")
    _error(client.get("/sampling/tasks/NOPE/verify", headers=sup), 404, "not_found")
    _error(client.get("/sampling/tasks/bad%20id", headers=sup), 422, "validation")
    both = {**TASK, "ratio": 0.1}
    _error(client.post("/sampling/tasks", json=both, headers=sup), 422, "validation")  # count and ratio
    _error(client.post("/sampling/tasks", json={**TASK, "items": []}, headers=sup), 422, "validation")
    _error(client.post("/sampling/tasks", json={**TASK, "extra": 1}, headers=sup), 422, "validation")
    _error(
        client.post("/sampling/tasks", json={**TASK, "tier_ratios": {"E": 1.0}}, headers=sup),
        422,
        "validation",
    )
    created = _ok(client.post("/sampling/tasks", json=TASK, headers=sup), 201)
    _error(
        client.get(f"/sampling/tasks/{created['task_id']}/verify", headers=sup), 409, "conflict"
    )  # not drawn


def test_create_without_scores_is_a_conflict(
    client: TestClient, auth: dict[Role, dict[str, str]], home: Path
) -> None:
    shutil.rmtree(home / "scores")
    error = _error(client.post("/sampling/tasks", json=TASK, headers=auth[Role.SUPERVISOR]), 409, "conflict")
    assert "creditwatch score" in error["message"]


def _drawn_and_assigned(client: TestClient, sup: dict[str, str], task_id: str = "T1") -> list[dict[str, Any]]:
    """Create, draw and assign a task of `sup`'s department; its list."""
    _ok(client.post("/sampling/tasks", json={**TASK, "task_id": task_id}, headers=sup), 201)
    _ok(client.post(f"/sampling/tasks/{task_id}/draw", headers=sup))
    _ok(client.post("/sampling/periods/2026Q4/assign", json={}, headers=sup))
    return list(_ok(client.get(f"/sampling/tasks/{task_id}", headers=sup))["entities"])


def test_a_visit_of_today_in_china_is_accepted_at_half_past_midnight(
    client: TestClient, auth: dict[Role, dict[str, str]], engine: sa.Engine
) -> None:
    # The app's clock is 00:30 in Beijing: the UTC date is still yesterday, and today's visit is not "future".
    entity = _drawn_and_assigned(client, auth[Role.SUPERVISOR])[0]
    recorder = entity["inspectors"].split("; ")[0]
    me = issue(engine, Role.INSPECTOR, name="recorder", person_id=recorder)
    today = china_half_past_midnight().today()
    result = {"uscc": entity["uscc"], "outcome": "no_problem"}
    tomorrow = {**result, "inspected_on": (today + timedelta(days=1)).isoformat()}
    refused = _error(client.post("/sampling/tasks/T1/results", json=tomorrow, headers=me), 422, "validation")
    assert (
        refused["field"] == "inspected_on" and f"today in China is {today.isoformat()}" in refused["message"]
    )
    recorded = _ok(
        client.post(
            "/sampling/tasks/T1/results", json={**result, "inspected_on": today.isoformat()}, headers=me
        ),
        201,
    )
    assert recorded["recorded_by"] == recorder  # as themselves: no recorded_by in the body


def test_an_inspector_records_only_their_own_visits_as_their_roster_id(
    client: TestClient, auth: dict[Role, dict[str, str]], engine: sa.Engine
) -> None:
    entities = _drawn_and_assigned(client, auth[Role.SUPERVISOR])
    entity = entities[0]
    team = entity["inspectors"].split("; ")
    outsider = next(f"I{i:02d}" for i in range(6) if f"I{i:02d}" not in team)
    result = {"uscc": entity["uscc"], "outcome": "violation", "inspected_on": AS_OF.isoformat()}
    # Another inspector's visit: refused, whatever recorder is named.
    theirs = issue(engine, Role.INSPECTOR, name="outsider", person_id=outsider)
    error = _error(client.post("/sampling/tasks/T1/results", json=result, headers=theirs), 403, "forbidden")
    assert f"is not {outsider}'s" in error["message"] and "谁检查、谁录入" in error["message"]
    _error(
        client.post("/sampling/tasks/T1/results", json={**result, "recorded_by": team[0]}, headers=theirs),
        403,
        "forbidden",
    )
    # The token's name is not who the inspector is: a token named after a team member, without a person id.
    named = issue(engine, Role.INSPECTOR, name=team[0], person_id=None)
    error = _error(client.post("/sampling/tasks/T1/results", json=result, headers=named), 403, "forbidden")
    assert error["field"] == "actor.person_id" and "no person id" in error["message"]
    with session_scope(engine) as session:
        assert not session.scalars(sa.select(tables.InspectionResult)).all()
    assert (
        _ok(
            client.post(
                "/sampling/tasks/T1/results",
                json=result,
                headers=issue(engine, Role.INSPECTOR, person_id=team[1]),
            ),
            201,
        )["recorded_by"]
        == team[1]
    )
    # A supervisor must name the team member recorded for.
    second = {**result, "uscc": entities[1]["uscc"]}
    error = _error(
        client.post("/sampling/tasks/T1/results", json=second, headers=auth[Role.SUPERVISOR]),
        422,
        "validation",
    )
    assert error["field"] == "recorded_by"


def test_a_department_acts_on_its_own_tasks(
    client: TestClient, auth: dict[Role, dict[str, str]], engine: sa.Engine
) -> None:
    entity = _drawn_and_assigned(client, auth[Role.SUPERVISOR])[0]
    recorder = entity["inspectors"].split("; ")[0]
    other_sup = issue(engine, Role.SUPERVISOR, department=OTHER_DEPARTMENT, person_id="S-OTHER")
    other_ins = issue(engine, Role.INSPECTOR, department=OTHER_DEPARTMENT, person_id=recorder)
    # Creating for another department is refused; the task is always the caller's.
    error = _error(
        client.post(
            "/sampling/tasks", json={**TASK, "department": OTHER_DEPARTMENT}, headers=auth[Role.SUPERVISOR]
        ),
        403,
        "forbidden",
    )
    assert error["field"] == "department"
    created = _ok(client.post("/sampling/tasks", json={**TASK, "task_id": "O1"}, headers=other_sup), 201)
    assert created["department"] == OTHER_DEPARTMENT
    # Lists show the caller's department's tasks only.
    assert [t["task_id"] for t in _ok(client.get("/sampling/tasks", headers=other_sup))] == ["O1"]
    assert [t["task_id"] for t in _ok(client.get("/sampling/tasks", headers=auth[Role.INSPECTOR]))] == ["T1"]
    # Another department's task: no draw, list, export or record — even by a member of the visit's team.
    result = {"uscc": entity["uscc"], "outcome": "violation", "inspected_on": AS_OF.isoformat()}
    for method, path, body, headers in [
        ("POST", "/sampling/tasks/O1/draw", None, auth[Role.SUPERVISOR]),
        ("GET", "/sampling/tasks/T1", None, other_sup),
        ("GET", "/sampling/tasks/T1/export", None, other_ins),
        ("POST", "/sampling/tasks/T1/results", result, other_ins),
        ("POST", "/sampling/tasks/T1/results", {**result, "recorded_by": recorder}, other_sup),
    ]:
        error = _error(client.request(method, path, json=body, headers=headers), 403, "forbidden")
        assert "a department acts on its own tasks" in error["message"], (method, path)
    # Anyone may verify a draw, whatever their department.
    assert _ok(client.get("/sampling/tasks/T1/verify", headers=other_ins))["ok"]
    with session_scope(engine) as session:
        denied = [e for e in audit.entries(session, limit=1000) if e.result == "denied"]
    assert {e.action for e in denied} >= {
        "sampling.draw",
        "sampling.task",
        "sampling.export",
        "sampling.result",
    }


def test_a_joint_period_merges_the_departments_lists(
    client: TestClient, auth: dict[Role, dict[str, str]], engine: sa.Engine
) -> None:
    sup = auth[Role.SUPERVISOR]
    other_sup = issue(engine, Role.SUPERVISOR, department=OTHER_DEPARTMENT, person_id="S-OTHER")
    census = {**TASK, "count": None, "ratio": 1.0, "control_share": 0.0}
    for headers, task_id in ((sup, "M1"), (other_sup, "E1")):
        _ok(client.post("/sampling/tasks", json={**census, "task_id": task_id}, headers=headers), 201)
        _ok(client.post(f"/sampling/tasks/{task_id}/draw", headers=headers))
    # A department without a task in the period does not assign it.
    third = issue(engine, Role.SUPERVISOR, department="亭湖区应急管理局", person_id="S-3")
    error = _error(client.post("/sampling/periods/2026Q4/assign", json={}, headers=third), 403, "forbidden")
    assert DEPARTMENT in error["message"] and OTHER_DEPARTMENT in error["message"]
    assigned = _ok(client.post("/sampling/periods/2026Q4/assign", json={}, headers=other_sup))
    assert assigned["departments"] == sorted([DEPARTMENT, OTHER_DEPARTMENT])
    assert assigned["visits"] == len(USCCS)  # one joint visit per entity, not one per task
    mine = _ok(client.get("/sampling/tasks/M1", headers=sup))["entities"]
    theirs = {e["uscc"]: e for e in _ok(client.get("/sampling/tasks/E1", headers=other_sup))["entities"]}
    entity = next(e for e in mine if e["visit_status"] == "assigned")
    assert theirs[entity["uscc"]]["visit_id"] == entity["visit_id"]
    assert DEPARTMENT in entity["items"] and OTHER_DEPARTMENT in entity["items"]
    # The joint visit's one result, recorded through the other department's task, is on both lists.
    recorder = entity["inspectors"].split("; ")[0]
    result = {
        "uscc": entity["uscc"],
        "outcome": "violation",
        "inspected_on": AS_OF.isoformat(),
        "recorded_by": recorder,
    }
    _ok(client.post("/sampling/tasks/E1/results", json=result, headers=other_sup), 201)
    again = next(
        e
        for e in _ok(client.get("/sampling/tasks/M1", headers=sup))["entities"]
        if e["uscc"] == entity["uscc"]
    )
    assert again["outcome"] == "violation"
    _error(client.post("/sampling/tasks/M1/results", json=result, headers=sup), 409, "conflict")


@pytest.mark.parametrize(
    ("method", "template", "roles"), SAMPLING_ROUTES, ids=[f"{m} {p}" for m, p, _ in SAMPLING_ROUTES]
)
def test_each_sampling_route_admits_only_its_roles(
    client: TestClient, auth: dict[Role, dict[str, str]], method: str, template: str, roles: frozenset[Role]
) -> None:
    _ok(client.post("/sampling/tasks", json={**TASK, "task_id": "T9"}, headers=auth[Role.SUPERVISOR]), 201)
    path = template.replace("{task_id}", "T9").replace("{period}", "2026Q4")
    for role in Role:
        body: dict[str, Any] | None = {} if method == "POST" else None
        response = client.request(method, path, json=body, headers=auth[role])
        if role in roles:
            # Admitted: an empty body (422), a task not drawn yet (409) or an empty period are all that is
            # left.
            assert response.status_code in (200, 201, 409, 422), (role, response.text)
        else:
            _error(response, 403, "forbidden")
    _error(client.request(method, path), 401, "unauthenticated")


def test_without_a_model_or_registry(
    client: TestClient, auth: dict[Role, dict[str, str]], home: Path
) -> None:
    got = _ok(client.get("/models/champion", headers=auth[Role.SYSTEM]))
    assert got["serving"] is False and got["version"] is None and got["registry_champion"] is None
    assert got["scores_as_of"] == AS_OF.isoformat() and got["scores_model_version"] == "1"
    assert _ok(client.get("/models", headers=auth[Role.ANALYST])) == []
    body = {"who": "li", "why": "test"}
    error = _error(client.post("/models/rollback", json=body, headers=auth[Role.ANALYST]), 409, "conflict")
    assert "nothing to roll back" in error["message"]
    assert not (home / "mlflow.db").exists()  # asking did not create a registry


def test_batch_is_audited_with_its_count(
    client: TestClient, auth: dict[Role, dict[str, str]], engine: sa.Engine
) -> None:
    got = _ok(client.post("/scores/batch", json={"usccs": USCCS[:3]}, headers=auth[Role.SYSTEM]))
    assert [i["score"]["tier"] for i in got["items"]] == ["A", "B", "C"]
    with session_scope(engine) as session:
        entry = audit.entries(session, target="scores:batch", limit=10)[-1]
    assert (entry.action, entry.role, entry.result) == ("scores.batch", "system", "ok")
    assert entry.details["entities"] == 3
