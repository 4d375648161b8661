"""What a listing stands on, its publication deadline, and the re-score on entering and leaving a list.

Fast tests on the hand-made lifecycle lake (plus a few records of their own) over HTTP and the CLI; the
slow one trains a real model on a synthetic city, promotes it in MLflow on SQLite, and lists and exits
entities through the API: each step re-scores at once and the check the same day reports the new tier.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.build import build_features
from features.ingest import ingest_paths
from features.lake import sources
from serving.api.app import create_app
from serving.cli import app
from serving.settings import Settings, load_settings
from supervision.lifecycle import scores
from supervision.platform import access
from supervision.platform.access import Role
from supervision.platform.calendar import add_working_days
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import error as _error
from tests.serving.api_city import issue
from tests.serving.api_city import ok as _ok
from tests.supervision.lifecycle_lake import AUTHORITY, SALT, TODAY, E, _penalty, build_lake

PROVINCE = (
    "320000"  # a province-level department lists without a second approver (四眼原则 is tested elsewhere)
)
LISTED_ON = date(2026, 10, 20)


def _extra_records(root: Path, lake_dir: Path) -> None:
    """Records of E[2] that do not ground a listing, and an inspection that grounds E[6]'s abnormal one."""
    src = root / "extra"
    src.mkdir()
    pl.DataFrame(
        [
            _penalty("P-WARN", E[2], date(2025, 5, 6), kind="warning", severity="serious"),
            _penalty("P-GONE", E[2], date(2025, 1, 2), severity="serious"),
            _penalty("P-LATE", E[2], date(2026, 11, 2), severity="serious"),
        ]
    ).write_parquet(src / "penalties.parquet")
    pl.DataFrame(
        {
            "objection_id": ["O-GONE"],
            "uscc": [E[2]],
            "record_table": ["penalties"],
            "record_id": ["P-GONE"],
            "filed_on": [date(2025, 1, 20)],
            "decided_on": [date(2025, 2, 3)],
            "outcome": ["upheld"],
            "resolution": ["revoked"],
        }
    ).write_parquet(src / "objections.parquet")
    pl.DataFrame(
        {
            "inspection_id": ["I-NF"],
            "task_id": ["T-1"],
            "uscc": [E[6]],
            "department": [AUTHORITY],
            "inspected_on": [date(2026, 9, 1)],
            "inspectors": ["ZF001;ZF002"],
            "outcome": ["not_found"],
            "selection_probability": [0.1],
            "in_control_slice": [False],
        }
    ).write_parquet(src / "inspections.parquet")
    reports = ingest_paths([src], lake_dir=lake_dir, salt=SALT, today=TODAY)
    assert all(r.rows_quarantined == 0 for r in reports), reports


@pytest.fixture
def engine(settings: Settings) -> Iterator[sa.Engine]:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sup(engine: sa.Engine) -> dict[str, str]:
    return issue(engine, Role.SUPERVISOR, department=AUTHORITY, division=PROVINCE)


@pytest.fixture
def client(settings: Settings, home: Path, engine: sa.Engine) -> Iterator[TestClient]:
    lake = build_lake(home)
    assert lake.dir == settings.lake_dir
    _extra_records(home, settings.lake_dir)
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as c:
        yield c


def _propose(client: TestClient, sup: dict[str, str], uscc: str, list_type: str = "severe_dishonesty") -> Any:
    body = {"uscc": uscc, "list_type": list_type, "reasons": "提供虚假材料", "basis": "办法第二条"}
    return client.post("/lists", json={**body, "proposed_on": "2026-10-12"}, headers=sup)


def _list(client: TestClient, sup: dict[str, str], cid: str, document: str) -> Any:
    body = {"basis_document_no": document, "on": LISTED_ON.isoformat()}
    return client.post(f"/lists/{cid}/list", json=body, headers=sup)


def test_a_listing_stands_on_an_existing_qualifying_record_of_the_entity(
    client: TestClient, sup: dict[str, str]
) -> None:
    proposed = _ok(_propose(client, sup, E[2]), 201)
    cid = proposed["case_id"]
    # The notice names the records the proposal stands on (revoked, late or warning ones are not facts).
    assert "所据记录：P-REVOKE。" in proposed["notice"]
    assert proposed["rules"]["criteria"]["list_type"] == "severe_dishonesty"
    refusals = [
        ("无此文书-XYZ", "no record of the lake (penalties) has this number"),
        ("P-SEV", f"a penalties record of {E[4]}, not of {E[2]}"),
        ("P-LATE", "dated 2026-11-02, after the listing day 2026-10-20"),
        ("P-GONE", "no longer in force on 2026-10-20 (revoked by an upheld objection or repaired)"),
        ("P-WARN", "penalty_kind warning, severity serious does not meet the criteria of severe_dishonesty"),
    ]
    for document, message in refusals:
        error = _error(_list(client, sup, cid, document), 422, "validation")
        assert message in error["message"], (document, error)
        assert error["field"] == "basis_document_no"
    assert "[list_criteria.severe_dishonesty]" in error["message"] and "Order 44" in error["message"]
    assert _ok(client.get(f"/lists/{cid}", headers=sup))["status"] == "proposed"  # nothing was listed
    listed = _ok(_list(client, sup, cid, "P-REVOKE"))
    assert listed["status"] == "listed" and listed["basis_document_no"] == "P-REVOKE"
    basis = listed["rules"]["basis_record"]
    assert (basis["table"], basis["record_id"], basis["kind"], basis["dated"]) == (
        "penalties",
        "P-REVOKE",
        "licence_revocation",
        "2024-05-06",
    )
    # No model registry here: the listing stands and says why it was not re-scored.
    assert listed["rescore"]["status"] == "skipped" and listed["rescore"]["after"] is None


def test_a_proposal_needs_a_record_meeting_the_lists_criteria(
    client: TestClient, sup: dict[str, str]
) -> None:
    error = _error(_propose(client, sup, E[6]), 422, "validation")
    assert error["field"] == "basis" and f"{E[6]} has no record on or before 2026-10-12" in error["message"]
    # E[0]'s fine is of general severity: a fine grounds a severe listing only at the heavy end.
    error = _error(_propose(client, sup, E[0]), 422, "validation")
    assert error["field"] == "basis" and "severity serious or worse" in error["message"]
    # The lake holds no court judgment: the court's list is not decided by a department here.
    error = _error(_propose(client, sup, E[2], "court_dishonest_debtor"), 422, "validation")
    assert error["field"] == "list_type" and "no record of the lake can ground it" in error["message"]
    # E[6] was not found at its address in an inspection: that grounds the abnormal-operations list.
    cid = _ok(_propose(client, sup, E[6], "abnormal_operations"), 201)["case_id"]
    listed = _ok(_list(client, sup, cid, "I-NF"))
    assert listed["rules"]["basis_record"]["kind"] == "not_found"


def test_a_listing_is_published_by_its_deadline_or_reported_overdue(
    client: TestClient, sup: dict[str, str]
) -> None:
    cid = _ok(_propose(client, sup, E[2]), 201)["case_id"]
    listed = _ok(_list(client, sup, cid, "P-REVOKE"))
    due = add_working_days(LISTED_ON, 20)  # SAMR Order 44: published within 20 WD (list.publish)
    assert listed["publish_due"] == due.isoformat() and listed["rules"]["publish"]["kind"] == "list.publish"
    assert _ok(client.get(f"/lists/{cid}", headers=sup))["publish_due"] == due.isoformat()
    assert _ok(client.get("/lists/overdue", params={"on": due.isoformat()}, headers=sup)) == []
    late_day = add_working_days(due, 2)
    late = _ok(client.get("/lists/overdue", params={"on": late_day.isoformat()}, headers=sup))
    assert late == [
        {
            "case_id": cid,
            "department": AUTHORITY,
            "uscc": E[2],
            "status": "listed",
            "deadline": "publish",
            "due": due.isoformat(),
            "working_days_late": 2,
        }
    ]
    early = client.post(f"/lists/{cid}/publish", json={"on": "2026-10-19"}, headers=sup)
    assert "before the listing" in _error(early, 422, "validation")["message"]
    published = _ok(client.post(f"/lists/{cid}/publish", json={"on": late_day.isoformat()}, headers=sup))
    assert published["published_on"] == late_day.isoformat()
    again = client.post(f"/lists/{cid}/publish", json={"on": late_day.isoformat()}, headers=sup)
    assert "already published" in _error(again, 409, "conflict")["message"]
    assert _ok(client.get("/lists/overdue", params={"on": late_day.isoformat()}, headers=sup)) == []


def test_the_cli_refuses_a_basis_document_that_exists_nowhere(settings: Settings, engine: sa.Engine) -> None:
    lake = build_lake(settings.home)
    assert lake.dir == settings.lake_dir
    with session_scope(engine) as s:
        token = access.create_token(
            s, name="sup-1", role=Role.SUPERVISOR, department=AUTHORITY, division=PROVINCE, person_id="sup-1"
        ).token

    def cli(command: str) -> tuple[int, Any]:
        result = CliRunner().invoke(
            app,
            ["--home", str(settings.home), "--json", "--as", token, *command.split()],
            obj=china_half_past_midnight(),
        )
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None

    propose = (
        "lists propose --type severe_dishonesty --reasons 提供虚假材料 --basis 办法第二条 --on 2026-10-12"
    )
    code, case = cli(f"{propose} --uscc {E[2]}")
    assert code == 0, case
    code, err = cli(f"lists list {case['case_id']} --document 无此文书-XYZ --on 2026-10-20")
    assert code == 1 and "basis_document_no '无此文书-XYZ': no record of the lake" in err["error"]
    code, err = cli(f"{propose} --uscc {E[6]}")
    assert code == 1 and "basis: " in err["error"] and "[list_criteria.severe_dishonesty]" in err["error"]
    code, listed = cli(f"lists list {case['case_id']} --document P-REVOKE --on 2026-10-20")
    assert code == 0 and listed["status"] == "listed" and listed["rescore"]["status"] == "skipped"
    code, late = cli("lists overdue --on 2026-12-01")
    assert code == 1 and [row["case_id"] for row in late] == [case["case_id"]]


# ------------------------------------------------------------------------------------------- slow
CITY_AS_OF = date(2026, 11, 27)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    from features.build import FeatureConfig
    from features.synth import generate
    from features.synth.city import CityConfig
    from training.labels import labelled_features
    from training.registry import Registry
    from training.run import catalog_feature_infos, fit_risk_model, log_run

    root = tmp_path_factory.mktemp("list-rescore-city")
    settings = load_settings(home=root / "home")
    generate(CityConfig(entities=1500, seed=2), root / "city")
    ingest_paths(
        sorted(p for p in (root / "city").iterdir() if p.is_file()),
        lake_dir=settings.lake_dir,
        salt=settings.person_salt,
        today=CITY_AS_OF,
    )
    infos, categorical = catalog_feature_infos(FeatureConfig().catalog)
    result = fit_risk_model(
        labelled_features(sources(settings.lake_dir)), infos=infos, categorical=categorical
    )
    record = log_run(
        result, tracking_uri=settings.mlflow_uri, artifact_location=settings.mlflow_artifacts_dir
    )
    Registry(settings.mlflow_uri).promote(record.version, who="test", why="list re-score tests", force=True)
    yield settings
    shutil.rmtree(root, ignore_errors=True)


def _grounded(settings: Settings, before: date, n: int) -> list[tuple[str, str]]:
    """`n` entities scored on CITY_AS_OF, never on a list, with a penalty before `before` that grounds a
    severe listing (a serious fine or a licence revocation, in force): (uscc, decision_no)."""
    lake = sources(settings.lake_dir)
    active = build_features(lake, as_of=CITY_AS_OF).select("uscc")
    listed = lake["list_entries"].select("uscc")
    grounds = (
        lake["penalties"]
        .filter(
            (pl.col("decided_on") < before)
            & (
                ((pl.col("penalty_kind") == "fine") & (pl.col("severity") == "serious"))
                | ((pl.col("penalty_kind") == "licence_revocation") & (pl.col("severity") != "minor"))
            )
        )
        .join(active, on="uscc")
        .join(listed, on="uscc", how="anti")
        .join(
            lake["objections"].select(pl.col("record_id").alias("decision_no")), on="decision_no", how="anti"
        )
        .join(lake["repairs"].select(pl.col("record_id").alias("decision_no")), on="decision_no", how="anti")
        .sort("uscc", "decision_no")
        .unique("uscc", keep="first", maintain_order=True)
        .collect()
    )
    assert grounds.height >= n, "the synthetic city should have entities with serious penalties"
    return [(r["uscc"], r["decision_no"]) for r in grounds.head(n).to_dicts()]


def _rescored(
    payload: dict[str, Any], uscc: str, on: date, engine: sa.Engine, *, isolated: bool = True
) -> None:
    r = payload["rescore"]
    assert r["status"] == "rescored", r
    assert r["as_of"] == (on + timedelta(days=1)).isoformat() and r["after"]["tier"] in "ABCD"
    if isolated:  # the decision's lake row compared away on the same day: nothing else moves
        assert r["before"]["as_of"] == r["as_of"] and r["before"]["tier"] in "ABCD"
    else:  # an exit at the maximum writes no row (the entry's planned end ends it): nothing to compare
        assert r["before"] is None
    with session_scope(engine) as s:
        entry = scores.history(s, uscc)[-1]
        assert entry.id == r["history_id"] and entry.decided_on == on and payload["case_id"] in entry.reason


@pytest.mark.slow
def test_entering_and_leaving_a_list_rescore_the_entity_at_once(city: Settings) -> None:
    engine = make_engine(city.db_url)
    upgrade(engine)
    sup = issue(engine, Role.SUPERVISOR, name="sup-prov", department=AUTHORITY, division=PROVINCE)
    system = issue(
        engine, Role.SYSTEM, name="platform", department="江苏省公共信用信息平台", division=PROVINCE
    )
    (now, now_doc), (early, early_doc), (old, old_doc) = _grounded(city, date(2023, 5, 1), 3)
    today = date(2026, 11, 20)
    with TestClient(create_app(city, engine=engine, clock=china_half_past_midnight())) as client:

        def listed(uscc: str, document: str, proposed: date, on: date) -> dict[str, Any]:
            body = {"uscc": uscc, "list_type": "severe_dishonesty", "reasons": "r", "basis": "b"}
            cid = _ok(
                client.post("/lists", json={**body, "proposed_on": proposed.isoformat()}, headers=sup), 201
            )
            listing = {"basis_document_no": document, "on": on.isoformat(), "backdate_reason": "纸质决定补录"}
            return dict(_ok(client.post(f"/lists/{cid['case_id']}/list", json=listing, headers=sup)))

        # Listed today: the check the same day reports the tier of the new score, not a stale one.
        entered = listed(now, now_doc, date(2026, 11, 2), today)
        _rescored(entered, now, today, engine)
        check = {"uscc": now, "matter": "government_procurement", "on": today.isoformat()}
        assert (
            _ok(client.post("/check", json=check, headers=system))["tier"]
            == entered["rescore"]["after"]["tier"]
        )
        # Exit on application after the minimum period (SAMR Order 44: 1 year), rectified.
        case = listed(early, early_doc, date(2025, 5, 6), date(2025, 5, 14))
        _rescored(case, early, date(2025, 5, 14), engine)
        cid = case["case_id"]
        _ok(client.post(f"/lists/{cid}/rectified", json={"on": "2025-06-03"}, headers=sup))
        exited = _ok(client.post(f"/lists/{cid}/exit", json={"on": today.isoformat()}, headers=sup))
        assert exited["status"] == "exited"
        _rescored(exited, early, today, engine)
        # Automatic exit at the maximum (3 years): re-scored as of the day it ended.
        case = listed(old, old_doc, date(2023, 5, 4), date(2023, 5, 15))
        expired = _ok(client.post("/lists/expire", json={"on": today.isoformat()}, headers=sup))
        assert [(c["case_id"], c["exited_on"]) for c in expired] == [(case["case_id"], "2026-05-15")]
        _rescored(expired[0], old, date(2026, 5, 15), engine, isolated=False)
    engine.dispose()
