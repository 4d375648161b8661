"""Enforcement points enforce (issue 12): ``commitments make`` runs the embedded check first and refuses a
告知承诺 for an entity on a severe list, within the exclusion after a breach, or where the check answers
不适用告知承诺制, with the rule and the day the exclusion ends (API and CLI, one service); the check answers
with incentives, 容缺受理 for qualifying entities only, and the date of the score behind its tier; a breach
re-scores the entity at once.

Fast tests on the small hand-made lake and SQLite; the slow one re-scores with the trained champion of
tests/serving/test_rescore.py's city.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.build import build_features
from features.lake import sources
from features.lifecycle import without_rows
from serving.api.app import create_app
from serving.cli import app
from serving.settings import Settings
from supervision.lifecycle import scores
from supervision.lifecycle.records import Lake, write_rows
from supervision.lifecycle.regimes import load_policy
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import error as _error
from tests.serving.api_city import issue
from tests.serving.api_city import ok as _ok
from tests.serving.test_rescore import AFTER, DECIDED, City, city  # noqa: F401 (the module's fixture)
from tests.supervision.lifecycle_lake import AUTHORITY, AUTHORITY_DIVISION, TODAY, E, build_lake

runner = CliRunner()
MAKE = {"matter": "food_business_licence", "department": AUTHORITY}
LATE = "纸质承诺书补录"


@pytest.fixture
def engine(settings: Settings) -> Iterator[sa.Engine]:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def lake(settings: Settings) -> Lake:
    """The lifecycle lake in the home; E[5] on the court's list until 2027-06-30, E[6] on the red list."""
    lake = build_lake(settings.home)
    rows = [
        {
            "entry_id": "L-COURT",
            "uscc": E[5],
            "list_type": "court_dishonest_debtor",
            "basis": "最高人民法院关于公布失信被执行人名单信息的若干规定第一条",
            "basis_document_no": "(2026)苏0902执123号",
            "listed_on": date(2026, 6, 30),
            "planned_end": date(2027, 6, 30),
            "authority": "盐城市亭湖区人民法院",
        },
        {
            "entry_id": "L-RED",
            "uscc": E[6],
            "list_type": "red_list",
            "basis": "诚信示范企业认定办法",
            "basis_document_no": "盐信红〔2026〕3号",
            "listed_on": date(2026, 3, 2),
            "authority": AUTHORITY,
        },
    ]
    write_rows(lake, "list_entries", rows, source="enforcement-lists", today=TODAY)
    return lake


@pytest.fixture
def auth(engine: sa.Engine) -> dict[Role, dict[str, str]]:
    return {r: issue(engine, r, department=AUTHORITY, division=AUTHORITY_DIVISION) for r in Role}


@pytest.fixture
def client(settings: Settings, engine: sa.Engine, lake: Lake) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as c:
        yield c


def _cli(settings: Settings, command: str, headers: dict[str, str]) -> tuple[int, Any]:
    token = headers["Authorization"].removeprefix("Bearer ")
    args = ["--home", str(settings.home), "--json", "--as", token, *shlex.split(command)]
    result = runner.invoke(app, args, obj=china_half_past_midnight())
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def _score_file(home: Path, tiers: dict[str, str], day: date = date(2026, 11, 1)) -> None:
    (home / "scores").mkdir(exist_ok=True)
    frame = {"uscc": list(tiers), "probability": [0.01] * len(tiers), "tier": list(tiers.values())}
    pl.DataFrame(frame).write_parquet(home / "scores" / f"as_of={day.isoformat()}.parquet")


# ------------------------------------------------------------------------------ make refuses
def test_make_is_refused_for_a_severe_listed_entity_with_the_day_the_exclusion_ends(
    settings: Settings, client: TestClient, auth: dict[Role, dict[str, str]]
) -> None:
    system = auth[Role.SYSTEM]
    body = {**MAKE, "uscc": E[4], "made_on": "2026-11-27"}
    err = _error(client.post("/commitments", json=body, headers=system), 422, "validation")
    # L-SEV has no planned end: the list's maximum period of the lifecycle policy ends it.
    listed = date(2024, 1, 10)
    rule = load_policy(settings.lifecycle_policy).in_force("list.max.severe_dishonesty", on=listed)
    assert rule is not None
    assert "on the severe_dishonesty list (entry L-SEV" in err["message"]
    assert f"until {rule.end(listed).isoformat()}" in err["message"]
    assert "国办发〔2020〕42号" in err["message"] and err["field"] == "uscc"
    # The court's list is a severe list too; its planned end is the day, through the CLI as well.
    code, out = _cli(
        settings,
        f"commitments make --uscc {E[5]} --matter business_registration --department {AUTHORITY}",
        system,
    )
    assert code == 1, out
    assert "court_dishonest_debtor list (entry L-COURT" in out["error"] and "until 2027-06-30" in out["error"]


def test_make_is_refused_within_the_breach_exclusion_and_accepted_after_it(
    client: TestClient, auth: dict[Role, dict[str, str]]
) -> None:
    system, sup = auth[Role.SYSTEM], auth[Role.SUPERVISOR]
    first = {**MAKE, "uscc": E[0], "made_on": "2025-06-02", "backdate_reason": LATE}
    made = _ok(client.post("/commitments", json=first, headers=system), 201)
    assert made["check"]["matter"] == "market_access" and made["check"]["restricted"] is False
    breach = {"facts": "未在期限内具备许可条件", "on": "2025-07-01", "backdate_reason": LATE}
    _ok(client.post(f"/commitments/{made['commitment_id']}/breach", json=breach, headers=sup))
    within = {**MAKE, "uscc": E[0], "made_on": "2026-06-30", "backdate_reason": LATE}
    err = _error(client.post("/commitments", json=within, headers=system), 422, "validation")
    assert f"commitment {made['commitment_id']} breached on 2025-07-01" in err["message"]
    assert (
        "no 告知承诺 until 2026-07-01" in err["message"] and "commitment.breach_exclusion" in err["message"]
    )
    after = {**within, "made_on": "2026-07-01"}
    assert _ok(client.post("/commitments", json=after, headers=system), 201)["status"] == "pending"
    # A template that is not a 告知承诺 is not checked: the entity may still promise (e.g. to repair).
    voluntary = {"matter": "voluntary", "department": AUTHORITY, "uscc": E[4]}
    assert _ok(client.post("/commitments", json=voluntary, headers=system), 201)["check"] is None


def test_make_is_refused_where_the_check_answers_no_commitment(
    settings: Settings, engine: sa.Engine, lake: Lake, auth: dict[Role, dict[str, str]]
) -> None:
    system = auth[Role.SYSTEM]
    body = {**MAKE, "uscc": E[3], "made_on": "2026-11-27"}
    # The shipped catalog restricts the abnormal list's market access in nothing: E[3] may commit.
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as c:
        assert _ok(c.post("/commitments", json=body, headers=system), 201)["check"]["restricted"] is False
    custom = settings.home / "measures.toml"
    custom.write_text(
        '[[measure]]\nlist_type = "abnormal_operations"\nmatter = "market_access"\nsubject = "entity"\n'
        'restriction = "不适用告知承诺制"\nbasis = "本市规定第五条"\nconfidence = "U"\n'
        "no_commitment = true\n",
        encoding="utf-8",
    )
    local = settings.model_copy(update={"restriction_catalog": custom})
    with TestClient(create_app(local, engine=engine, clock=china_half_past_midnight())) as c:
        again = {**body, "matter": "business_registration"}
        err = _error(c.post("/commitments", json=again, headers=system), 422, "validation")
        assert "the check answers 不适用告知承诺制 for matter market_access" in err["message"]
        assert "本市规定第五条" in err["message"] and "severe" not in err["message"]
        checked = _ok(c.post("/check", json={"uscc": E[3], "matter": "market_access"}, headers=system))
        assert [r["no_commitment"] for r in checked["restrictions"]] == [True]


# ------------------------------------------------------------------------------ the check's answer
def test_check_gives_incentives_with_basis_and_the_date_of_the_score(
    settings: Settings, client: TestClient, auth: dict[Role, dict[str, str]]
) -> None:
    system = auth[Role.SYSTEM]
    _score_file(settings.home, {E[0]: "A", E[1]: "B", E[4]: "D"})
    red = _ok(client.post("/check", json={"uscc": E[6], "matter": "market_access"}, headers=system))
    assert red["tier"] is None and red["score_as_of"] is None
    assert [i["code"] for i in red["incentives"]] == [
        "green_channel",
        "missing_documents_accepted",
        "simplified_procedure",
        "fewer_inspections",
    ]
    assert all(i["qualified_by"] == ["list:red_list"] and "33号" in i["basis"] for i in red["incentives"])
    a = _ok(client.post("/check", json={"uscc": E[0], "matter": "bidding"}, headers=system))
    assert (a["tier"], a["score_as_of"]) == ("A", "2026-11-01")
    assert [(i["code"], i["qualified_by"]) for i in a["incentives"]] == [
        ("simplified_procedure", ["tier:A"]),
        ("fewer_inspections", ["tier:A"]),
    ]
    b = _ok(client.post("/check", json={"uscc": E[1], "matter": "bidding"}, headers=system))
    assert (b["tier"], b["score_as_of"], b["incentives"]) == ("B", "2026-11-01", [])
    code, severe = _cli(settings, f"check run --uscc {E[4]} --matter bidding", system)
    assert code == 0 and (severe["tier"], severe["score_as_of"]) == ("D", "2026-11-01")
    assert severe["incentives"] == [] and "severe_dishonesty" in severe["incentives_withheld"]
    catalog = _ok(client.get("/restrictions/incentives", headers=auth[Role.INSPECTOR]))
    assert {m["code"]: m["tiers"] for m in catalog}["fewer_inspections"] == ["A"]
    code, rows = _cli(settings, "check incentives", auth[Role.INSPECTOR])
    assert code == 0 and [r["code"] for r in rows] == [m["code"] for m in catalog]


def test_missing_documents_are_accepted_only_for_entities_the_catalog_allows(
    settings: Settings, client: TestClient, auth: dict[Role, dict[str, str]]
) -> None:
    system = auth[Role.SYSTEM]
    _score_file(settings.home, {E[0]: "A", E[1]: "C"})
    docs = ["食品安全管理制度文本"]
    tier_a = {"uscc": E[0], "matter": "market_access", "missing_documents": docs}
    got = _ok(client.post("/check", json=tier_a, headers=system))["missing_documents"]
    assert (
        got["accepted"] is True
        and got["incentive"] == "missing_documents_accepted"
        and got["documents"] == docs
    )
    tier_c = _ok(client.post("/check", json={**tier_a, "uscc": E[1]}, headers=system))["missing_documents"]
    assert tier_c["accepted"] is False and tier_c["reason"].startswith("required:")
    # A commitment naming missing documents: granted in its check for tier A; required (not refused) for C.
    made = _ok(
        client.post("/commitments", json={**MAKE, "uscc": E[0], "missing_documents": docs}, headers=system),
        201,
    )
    assert made["check"]["missing_documents"]["accepted"] is True
    code, out = _cli(
        settings,
        f"commitments make --uscc {E[1]} --matter food_business_licence --department {AUTHORITY} "
        "--missing-document 食品安全管理制度文本",
        system,
    )
    assert code == 0, out
    assert out["check"]["missing_documents"]["accepted"] is False and out["status"] == "pending"


# ------------------------------------------------------------------------------ breach re-scores
def test_a_breach_answers_with_its_rescore(client: TestClient, auth: dict[Role, dict[str, str]]) -> None:
    made = _ok(
        client.post(
            "/commitments", json={**MAKE, "uscc": E[0], "made_on": "2026-11-02"}, headers=auth[Role.SYSTEM]
        ),
        201,
    )
    breach = {"facts": "逾期", "on": "2026-11-27"}
    out = _ok(
        client.post(
            f"/commitments/{made['commitment_id']}/breach", json=breach, headers=auth[Role.SUPERVISOR]
        )
    )
    # No registry in this home: the breach stands and says why it was not re-scored.
    assert out["status"] == "breached" and out["rescore"]["status"] == "skipped"
    assert "no model registry" in out["rescore"]["reason"]


@pytest.mark.slow
def test_a_breach_rescores_the_entity_with_the_champion(city: City) -> None:  # noqa: F811
    lake = sources(city.settings.lake_dir)
    with session_scope(city.engine) as s:
        done = {e.uscc for e in s.scalars(sa.select(scores.ScoreEntry))}
    # An entity the other tests have not re-scored, on no list (a 告知承诺 is refused to listed ones).
    listed = set(lake["list_entries"].select("uscc").collect()["uscc"].to_list())
    uscc = next(
        u
        for u in build_features(lake, as_of=DECIDED).select("uscc").collect()["uscc"].sort().to_list()
        if u not in listed and u not in done
    )
    system = issue(city.engine, Role.SYSTEM, name="licensing", department="市场监管局")
    sup = issue(city.engine, Role.SUPERVISOR, name="enforcer", department="市场监管局", person_id="enf-1")
    with TestClient(create_app(city.settings, engine=city.engine, clock=china_half_past_midnight())) as c:
        body = {
            "uscc": uscc,
            "matter": "food_business_licence",
            "department": "市场监管局",
            "made_on": "2026-10-01",
        }
        made = _ok(c.post("/commitments", json=body, headers=system), 201)
        breach = {"facts": "未具备许可条件", "on": DECIDED.isoformat()}
        out = _ok(c.post(f"/commitments/{made['commitment_id']}/breach", json=breach, headers=sup))
    r = out["rescore"]
    assert r["status"] == "rescored", r
    assert r["model_version"] == city.version and r["as_of"] == AFTER.isoformat()
    after = (
        build_features(sources(city.settings.lake_dir), as_of=AFTER).filter(pl.col("uscc") == uscc).collect()
    )
    before = (
        build_features(sources(city.settings.lake_dir), as_of=DECIDED)
        .filter(pl.col("uscc") == uscc)
        .collect()
    )
    assert after["commitments_breached_n_365d"].item() == before["commitments_breached_n_365d"].item() + 1
    assert r["after"]["probability"] == pytest.approx(
        float(city.model.score(after, reasons=0)["probability"][0]), abs=1e-9
    )
    # "before" is the same day on the lake without the breach's commitment row (the decision isolated).
    unbreached = (
        build_features(
            without_rows(sources(city.settings.lake_dir), {"commitments": {made["commitment_id"]}}),
            as_of=AFTER,
        )
        .filter(pl.col("uscc") == uscc)
        .collect()
    )
    assert r["before"]["as_of"] == AFTER.isoformat()
    assert r["before"]["probability"] == pytest.approx(
        float(city.model.score(unbreached, reasons=0)["probability"][0]), abs=1e-9
    )
    with session_scope(city.engine) as s:
        rows = scores.history(s, uscc)
        assert rows[-1].id == r["history_id"] and made["commitment_id"] in rows[-1].reason
