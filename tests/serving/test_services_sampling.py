"""Every sampling use case through the CLI (`creditwatch --as TOKEN sample ...`), each audited by the service
with the actor, role, department and door; the API's door writes the same action."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.uscc import complete
from serving.api.app import create_app
from serving.cli import app
from serving.services import sampling, sampling_lists, sampling_results
from serving.settings import load_settings
from supervision.platform import audit
from supervision.platform.db import make_engine, session_scope
from tests.conftest import china_half_past_midnight

runner = CliRunner()
DEPARTMENT = "亭湖区市场监督管理局"
ITEM = "食品经营"


def _cli(home: Path, *args: str) -> Any:
    result = runner.invoke(app, ["--home", str(home), "--json", *args], obj=china_half_past_midnight())
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _entries(home: Path) -> list[audit.AuditEntry]:
    engine = make_engine(load_settings(home=home).db_url)
    try:
        with session_scope(engine) as session:
            return audit.entries(session, limit=1000)
    finally:
        engine.dispose()


@pytest.fixture
def city(tmp_path: Path) -> dict[str, Path]:
    n = 30
    scores = pl.DataFrame(
        {
            "uscc": [complete(f"91320902MA{i:07d}") for i in range(n)],
            "tier": (["A"] * 15 + ["B"] * 8 + ["C"] * 4 + ["D"] * 3),
            "probability": [0.1] * n,
            "reasons": [["reason"]] * n,
        }
    )
    scores.write_parquet(tmp_path / "scores.parquet")
    lines = ["inspector_id,name,department,division_code,qualifications,active"]
    lines += [f"I{i},检查员{i},{DEPARTMENT},320902,{ITEM},是" for i in range(4)]
    (tmp_path / "inspectors.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {
        "home": tmp_path / "home",
        "scores": tmp_path / "scores.parquet",
        "roster": tmp_path / "inspectors.csv",
    }


def _issue(home: Path, role: str, person: str) -> tuple[str, str]:
    """(token, the audit log's actor) of a person of DEPARTMENT."""
    issued = _cli(
        home,
        "tokens",
        "create",
        "--role",
        role,
        "--name",
        f"{role}-{person}",
        "--department",
        DEPARTMENT,
        "--division",
        "320902",
        "--person",
        person,
    )
    return issued["token"], f"{role}-{person}#{issued['id']}"


def test_each_sampling_use_case_is_audited_with_who_and_the_door(
    city: dict[str, Path], tmp_path: Path
) -> None:
    home, scores = city["home"], str(city["scores"])
    sup, sup_actor = _issue(home, "supervisor", "S1")
    analyst, analyst_actor = _issue(home, "analyst", "A1")
    as_sup = ["--as", sup, "sample"]
    _cli(home, *as_sup, "inspectors", "import", str(city["roster"]))
    _cli(home, *as_sup, "inspectors", "list")
    _cli(home, *as_sup, "inspectors", "deactivate", "I3")
    _cli(
        home,
        *as_sup,
        "create",
        "--scores",
        scores,
        "--item",
        ITEM,
        "--period",
        "P1",
        "--count",
        "5",
        "--task-id",
        "T1",
    )
    _cli(home, *as_sup, "draw", "T1")
    _cli(home, "--as", analyst, "sample", "verify", "T1")
    _cli(home, *as_sup, "assign", "P1")
    _cli(home, *as_sup, "list")
    entity = _cli(home, *as_sup, "list", "--task", "T1")[0]
    _cli(home, *as_sup, "export", "T1", "--out", str(tmp_path / "T1.csv"))
    inspector, inspector_actor = _issue(home, "inspector", entity["inspectors"].split("; ")[0])
    recorded = _cli(
        home,
        "--as",
        inspector,
        "sample",
        "results",
        "record",
        "T1",
        entity["uscc"],
        "--outcome",
        "violation",
        "--inspected-on",
        china_half_past_midnight().today().isoformat(),
    )
    _cli(home, *as_sup, "results", "publish", recorded["visit_id"])
    _cli(home, *as_sup, "results", "overdue")
    _cli(home, "--as", analyst, "sample", "results", "estimate", "T1", "--scores", scores)
    _cli(home, "--as", analyst, "sample", "results", "export", "--out", str(tmp_path / "records.parquet"))

    expected = {
        "sampling.roster.import": sup_actor,
        "sampling.roster.list": sup_actor,
        "sampling.roster.active": sup_actor,
        "sampling.create": sup_actor,
        "sampling.draw": sup_actor,
        "sampling.verify": analyst_actor,
        "sampling.assign": sup_actor,
        "sampling.list": sup_actor,
        "sampling.task": sup_actor,
        "sampling.export": sup_actor,
        "sampling.result": inspector_actor,
        "sampling.publish": sup_actor,
        "sampling.overdue": sup_actor,
        "sampling.estimate": analyst_actor,
        "sampling.records": analyst_actor,
    }
    use_cases = [
        getattr(module, name)
        for module in (sampling, sampling_lists, sampling_results)
        for name in module.__all__
        if hasattr(getattr(module, name), "action")
    ]
    assert {fn.action for fn in use_cases} == set(expected)  # every use case is exercised here
    entries = {e.action: e for e in _entries(home)}  # the last entry of each action
    for action, actor in expected.items():
        entry = entries[action]
        assert (entry.actor, entry.result) == (actor, "ok"), action
        assert entry.role == actor.split("-")[0], action
        assert entry.details["department"] == DEPARTMENT and entry.details["door"] == "cli", action
    assert entries["sampling.result"].details["recorded_by"] == entity["inspectors"].split("; ")[0]
    assert entries["sampling.create"].target == "task:T1"


def test_the_api_audits_the_same_action(city: dict[str, Path]) -> None:
    home = city["home"]
    sup, sup_actor = _issue(home, "supervisor", "S1")
    _cli(
        home,
        "--as",
        sup,
        "sample",
        "create",
        "--scores",
        str(city["scores"]),
        "--item",
        ITEM,
        "--period",
        "P1",
        "--count",
        "5",
        "--task-id",
        "T1",
    )
    settings = load_settings(home=home)
    engine = make_engine(settings.db_url)
    try:
        with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as client:
            response = client.post("/sampling/tasks/T1/draw", headers={"Authorization": f"Bearer {sup}"})
            assert response.status_code == 200, response.text
    finally:
        engine.dispose()
    drawn = [e for e in _entries(home) if e.action == "sampling.draw"]
    assert [(e.actor, e.details["door"], e.details["department"]) for e in drawn] == [
        (sup_actor, "api", DEPARTMENT)
    ]


def test_results_for_model_work_are_scoped_by_role(city: dict[str, Path], tmp_path: Path) -> None:
    home = city["home"]
    sup, _ = _issue(home, "supervisor", "S1")
    analyst, _ = _issue(home, "analyst", "A1")
    _cli(home, "--as", sup, "sample", "inspectors", "import", str(city["roster"]))
    _cli(
        home,
        "--as",
        sup,
        "sample",
        "create",
        "--scores",
        str(city["scores"]),
        "--item",
        ITEM,
        "--period",
        "P1",
        "--count",
        "5",
        "--task-id",
        "T1",
    )
    _cli(home, "--as", sup, "sample", "draw", "T1")
    _cli(home, "--as", sup, "sample", "assign", "P1")
    entity = _cli(home, "--as", sup, "sample", "list", "--task", "T1")[0]
    _cli(
        home,
        "--as",
        sup,
        "sample",
        "results",
        "record",
        "T1",
        entity["uscc"],
        "--outcome",
        "violation",
        "--inspected-on",
        "2026-11-02",
        "--by",
        entity["inspectors"].split("; ")[0],
    )
    other = _cli(
        home, "tokens", "create", "--role", "supervisor", "--name", "other", "--department", "消防救援"
    )
    out = tmp_path / "records.parquet"
    assert _cli(home, "--as", other["token"], "sample", "results", "export", "--out", str(out))["rows"] == 0
    assert _cli(home, "--as", sup, "sample", "results", "export", "--out", str(out))["rows"] == 1
    assert _cli(home, "--as", analyst, "sample", "results", "export", "--out", str(out))["rows"] == 1
    refused = runner.invoke(
        app,
        ["--home", str(home), "--json", "--as", other["token"], "sample", "results", "estimate", "T1"],
        obj=china_half_past_midnight(),
    )
    assert refused.exit_code == 3 and "a department acts on its own tasks" in refused.stdout
    assert _cli(home, "--as", analyst, "sample", "results", "estimate", "T1")[0]["inspected"] == 1
