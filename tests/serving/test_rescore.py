"""Re-scoring after decisions: the score history, the tier lookups that prefer it, and the no-champion path.

Fast tests on the small hand-made lake (no model registry); the slow half trains a real model on a
3,000-entity synthetic city, registers it in MLflow on SQLite in tmp and decides through the CLI and the API.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.build import FeatureConfig, build_features
from features.ingest import ingest_paths
from features.lake import sources
from features.lifecycle import without_rows
from features.synth import generate
from features.synth.city import CityConfig
from serving import rescore
from serving.api.app import create_app
from serving.cli import app
from serving.services import current_score as api_lifecycle
from serving.settings import Settings, load_settings
from supervision.lifecycle import repairs, scores
from supervision.platform import access
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.supervision.lifecycle_lake import AUTHORITY, AUTHORITY_DIVISION, E, build_lake

runner = CliRunner()


def _cli(settings: Settings, *args: str, token: str) -> tuple[int, Any]:
    result = runner.invoke(
        app, ["--home", str(settings.home), "--json", "--as", token, *args], obj=china_half_past_midnight()
    )
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def _migrate(settings: Settings) -> sa.Engine:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    return engine


def _raw_token(engine: sa.Engine, role: Role, department: str = AUTHORITY) -> str:
    """A token of a person of `department` (the lake's by default, which penalised: it decides)."""
    with session_scope(engine) as s:
        name = f"{role.value}-u"
        issued = access.create_token(
            s, name=name, role=role, department=department, division=AUTHORITY_DIVISION, person_id=name
        )
        return issued.token


def _token(engine: sa.Engine, role: Role, department: str = AUTHORITY) -> dict[str, str]:
    return {"Authorization": f"Bearer {_raw_token(engine, role, department)}"}


# ------------------------------------------------------------------------------------------- fast
@pytest.fixture
def small(settings: Settings) -> Iterator[tuple[Settings, sa.Engine]]:
    engine = _migrate(settings)
    build_lake(settings.home)
    yield settings, engine
    engine.dispose()


def test_without_a_champion_the_decision_stands_and_says_why(small: tuple[Settings, sa.Engine]) -> None:
    settings, engine = small
    sup = _raw_token(engine, Role.SUPERVISOR)
    code, filed = _cli(
        settings,
        "objections",
        "file",
        "--uscc",
        E[0],
        "--table",
        "penalties",
        "--record",
        "P-GEN",
        "--grounds",
        "依据已撤销",
        "--on",
        "2026-11-02",
        token=sup,
    )
    assert code == 0
    assert (
        _cli(settings, "objections", "mark", filed["objection_id"], "--on", "2026-11-03", token=sup)[0] == 0
    )
    code, decided = _cli(
        settings,
        "objections",
        "decide",
        filed["objection_id"],
        "--upheld",
        "--resolution",
        "revoked",
        "--reasons",
        "核实有误",
        "--on",
        "2026-11-04",
        token=sup,
    )
    assert code == 0 and decided["status"] == "upheld"
    assert decided["rescore"]["status"] == "skipped"
    assert "no model registry" in decided["rescore"]["reason"] and decided["rescore"]["after"] is None
    assert not (settings.home / "mlflow.db").exists()  # looking for a champion never creates a registry
    with session_scope(engine) as s:
        assert scores.history(s, E[0]) == []


def test_rejected_objection_is_not_rescored(small: tuple[Settings, sa.Engine]) -> None:
    settings, engine = small
    sup = _raw_token(engine, Role.SUPERVISOR)
    code, filed = _cli(
        settings,
        "objections",
        "file",
        "--uscc",
        E[0],
        "--table",
        "penalties",
        "--record",
        "P-GEN",
        "--grounds",
        "金额有误",
        "--on",
        "2026-11-02",
        token=sup,
    )
    _cli(settings, "objections", "mark", filed["objection_id"], "--on", "2026-11-03", token=sup)
    code, decided = _cli(
        settings,
        "objections",
        "decide",
        filed["objection_id"],
        "--rejected",
        "--reasons",
        "证据不足",
        "--on",
        "2026-11-04",
        token=sup,
    )
    assert code == 0 and decided["status"] == "rejected"
    assert decided["rescore"]["status"] == "skipped" and "rejected" in decided["rescore"]["reason"]


def test_api_repair_without_champion_is_approved_and_says_why(small: tuple[Settings, sa.Engine]) -> None:
    settings, engine = small
    sup = _token(engine, Role.SUPERVISOR)
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as client:
        body = {
            "uscc": E[0],
            "record_table": "penalties",
            "record_id": "P-GEN",
            "commitment": "承诺守法经营",
            "obligations_evidence": "缴款凭证 2025-001",
            "applied_on": "2026-11-02",
        }
        applied = client.post("/repairs", json=body, headers=sup)
        assert applied.status_code == 201, applied.text
        rid = applied.json()["repair_id"]
        assert (
            client.post(f"/repairs/{rid}/accept", json={"on": "2026-11-02"}, headers=sup).status_code == 200
        )
        approved = client.post(f"/repairs/{rid}/approve", json={"on": "2026-11-03"}, headers=sup)
    assert approved.status_code == 200, approved.text
    payload = approved.json()
    assert payload["status"] == "approved" and payload["rescore"]["status"] == "skipped"
    assert "train and promote" in payload["rescore"]["reason"]


def test_tier_lookups_prefer_a_newer_history_entry(small: tuple[Settings, sa.Engine]) -> None:
    settings, engine = small
    folder = settings.home / "scores"
    folder.mkdir()
    pl.DataFrame(
        {"uscc": [E[4]], "probability": [0.9], "tier": ["D"], "reasons_zh": ["名单在列"]}
    ).write_parquet(folder / "as_of=2026-11-01.parquet")
    with session_scope(engine) as s:
        scores.record(
            s,
            uscc=E[4],
            as_of=date(2026, 11, 5),
            decided_on=date(2026, 11, 4),
            probability=0.2,
            tier="B",
            model_version="7",
            reason="objection OBJ-X upheld (revoked)",
            reasons_zh="处罚已撤销",
        )
    with session_scope(engine) as s:
        assert api_lifecycle.tiers(settings, date(2026, 11, 27), s)(E[4]) == "B"
        assert api_lifecycle.tiers(settings, date(2026, 11, 3), s)(E[4]) == "D"  # before the decision
        assert api_lifecycle.tiers(settings, date(2026, 11, 27))(E[4]) == "D"  # no session: the file only
        score = api_lifecycle.report_score(settings, E[4], date(2026, 11, 27), s)
        assert score is not None and (score.tier, score.score, score.reasons) == ("B", 0.2, ["处罚已撤销"])
    system = _token(engine, Role.SYSTEM)
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as client:
        body = {"uscc": E[4], "matter": "bidding", "on": "2026-11-27"}
        assert client.post("/check", json=body, headers=system).json()["tier"] == "B"
        # A later full scoring run takes over again.
        pl.DataFrame({"uscc": [E[4]], "probability": [0.05], "tier": ["A"]}).write_parquet(
            folder / "as_of=2026-11-20.parquet"
        )
        assert client.post("/check", json=body, headers=system).json()["tier"] == "A"


def test_history_refuses_a_bad_entry(small: tuple[Settings, sa.Engine]) -> None:
    _, engine = small
    with session_scope(engine) as s:
        with pytest.raises(ValueError, match="probability"):
            scores.record(
                s,
                uscc=E[0],
                as_of=date(2026, 11, 5),
                decided_on=date(2026, 11, 4),
                probability=1.5,
                tier="A",
                model_version="1",
                reason="x",
            )
        with pytest.raises(ValueError, match="after the decision day"):
            scores.record(
                s,
                uscc=E[0],
                as_of=date(2026, 11, 4),
                decided_on=date(2026, 11, 4),
                probability=0.5,
                tier="A",
                model_version="1",
                reason="x",
            )


# ------------------------------------------------------------------------------------------- slow
AS_OF = date(2026, 11, 27)
DECIDED = date(2026, 11, 3)
AFTER = date(2026, 11, 4)


@dataclass
class City:
    settings: Settings
    engine: sa.Engine
    model: Any
    version: str
    before_promotion: rescore.Rescore


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    from training.labels import labelled_features
    from training.registry import Registry
    from training.run import catalog_feature_infos, fit_risk_model, log_run

    root = tmp_path_factory.mktemp("rescore-city")
    settings = load_settings(home=root / "home")
    generate(CityConfig(entities=3000, seed=1), root / "city")
    ingest_paths(
        sorted(p for p in (root / "city").iterdir() if p.is_file()),
        lake_dir=settings.lake_dir,
        salt=settings.person_salt,
        today=AS_OF,
    )
    infos, categorical = catalog_feature_infos(FeatureConfig().catalog)
    result = fit_risk_model(
        labelled_features(sources(settings.lake_dir)), infos=infos, categorical=categorical
    )
    record = log_run(
        result, tracking_uri=settings.mlflow_uri, artifact_location=settings.mlflow_artifacts_dir
    )
    engine = _migrate(settings)
    with session_scope(engine) as s:  # a registry with a version but no champion yet
        before_promotion = rescore.rescore(s, settings, uscc="x" * 18, on=DECIDED, reason="probe")
    registry = Registry(settings.mlflow_uri)
    registry.promote(record.version, who="test", why="re-score tests", force=True)
    yield City(settings, engine, registry.load(), record.version, before_promotion)
    engine.dispose()
    shutil.rmtree(root, ignore_errors=True)


def _penalised(city: City, skip: set[str]) -> list[tuple[str, list[str]]]:
    # Registered on AS_OF, penalties decided in 2024-2025 (inside every 1095-day window on both days).
    lake = sources(city.settings.lake_dir)
    active = build_features(lake, as_of=AS_OF).select("uscc")
    pens = (
        lake["penalties"]
        .filter(pl.col("decided_on").is_between(date(2024, 1, 1), date(2025, 12, 31)))
        .join(active, on="uscc")
        .collect()
    )
    # Most penalised first: there a revoked penalty moves the score (for an entity with one small penalty
    # the trees can be flat and before == after, which would prove nothing).
    by = pens.group_by("uscc").agg(pl.len().alias("n")).sort(["n", "uscc"], descending=[True, False])
    out = []
    for uscc in by.get_column("uscc").to_list():
        if uscc not in skip:
            out.append((uscc, pens.filter(pl.col("uscc") == uscc).get_column("decision_no").sort().to_list()))
    return out


def _features(city: City, uscc: str, day: date) -> dict[str, Any]:
    frame = (
        build_features(sources(city.settings.lake_dir), as_of=day).filter(pl.col("uscc") == uscc).collect()
    )
    return frame.row(0, named=True)


def _probability(city: City, uscc: str, day: date, without: dict[str, set[str]] | None = None) -> float:
    lake = without_rows(sources(city.settings.lake_dir), without or {})
    frame = build_features(lake, as_of=day).filter(pl.col("uscc") == uscc).collect()
    return float(city.model.score(frame, reasons=0)["probability"][0])


def _check_history(
    city: City,
    uscc: str,
    payload: dict[str, Any],
    reason: str,
    *,
    entries: int,
    decision: dict[str, set[str]],
) -> None:
    r = payload["rescore"]
    assert r["status"] == "rescored", r
    assert r["model_version"] == city.version and r["as_of"] == AFTER.isoformat()
    assert r["before"]["tier"] in "ABCD" and r["after"]["tier"] in "ABCD"
    # Both sides as of the day after, the decision isolated: "before" is the lake without the last
    # decision's rows (independently of the re-score's own path, build_for_events: the full feature table).
    assert r["before"]["as_of"] == r["after"]["as_of"] == AFTER.isoformat()
    assert r["before"]["probability"] == pytest.approx(_probability(city, uscc, AFTER, decision), abs=1e-9)
    assert r["after"]["probability"] == pytest.approx(_probability(city, uscc, AFTER), abs=1e-9)
    # A decision in the entity's favour never raises its probability (docs/model.md).
    assert r["after"]["probability"] <= r["before"]["probability"] + 1e-12
    with session_scope(city.engine) as s:
        rows = scores.history(s, uscc)
        assert len(rows) == entries and rows[-1].id == r["history_id"] and reason in rows[-1].reason
        assert (rows[-1].as_of, rows[-1].decided_on, rows[-1].model_version) == (AFTER, DECIDED, city.version)
        assert rows[-1].probability == pytest.approx(r["after"]["probability"])
        # Lookups from the decision day on see the re-score (no new score file was written).
        assert api_lifecycle.tiers(city.settings, DECIDED, s)(uscc) == r["after"]["tier"]


@pytest.mark.slow
def test_no_champion_in_an_existing_registry_is_skipped(city: City) -> None:
    assert city.before_promotion.status == "skipped"
    assert "no champion" in city.before_promotion.reason


@pytest.mark.slow
def test_cli_upheld_objections_rescore_the_entity(city: City) -> None:
    # Revoke every in-window penalty of the most penalised entity, all decided the same day.
    uscc, penalties = _penalised(city, set())[0]
    first = _features(city, uscc, DECIDED)
    sup = _raw_token(
        city.engine, Role.SUPERVISOR, "市场监管局"
    )  # files with, and decides for, its department
    for record_id in penalties:
        code, filed = _cli(
            city.settings,
            "objections",
            "file",
            "--uscc",
            uscc,
            "--table",
            "penalties",
            "--record",
            record_id,
            "--grounds",
            "依据已撤销",
            "--on",
            "2026-11-02",
            token=sup,
        )
        assert code == 0, filed
        mark = ("objections", "mark", filed["objection_id"], "--on", "2026-11-02")
        assert _cli(city.settings, *mark, token=sup)[0] == 0
        code, decided = _cli(
            city.settings,
            "objections",
            "decide",
            filed["objection_id"],
            "--upheld",
            "--resolution",
            "revoked",
            "--reasons",
            "撤销",
            "--on",
            DECIDED.isoformat(),
            token=sup,
        )
        assert code == 0 and decided["status"] == "upheld", decided
    _check_history(
        city,
        uscc,
        decided,
        filed["objection_id"],
        entries=len(penalties),
        decision={"objections": {filed["objection_id"]}},
    )
    before, after = _features(city, uscc, DECIDED), _features(city, uscc, AFTER)
    assert before["penalties_n_1095d"] == first["penalties_n_1095d"] >= len(penalties) > 0
    assert after["penalties_n_1095d"] == before["penalties_n_1095d"] - len(penalties)
    assert after["objections_upheld_n_1095d"] == before["objections_upheld_n_1095d"] + len(penalties)


@pytest.mark.slow
def test_api_approved_repairs_rescore_the_entity(city: City) -> None:
    with session_scope(city.engine) as s:
        done = {e.uscc for e in s.scalars(sa.select(scores.ScoreEntry))}
    lake = sources(city.settings.lake_dir)

    def repairable(uscc: str, no: str) -> bool:
        conditions = repairs.check_conditions(
            lake,
            uscc=uscc,
            record_table="penalties",
            record_id=no,
            on=date(2026, 11, 2),
            commitment="承诺",
            obligations_evidence="缴款凭证",
        )
        return all(c.ok for c in conditions)

    candidates = [(u, [no for no in nos if repairable(u, no)]) for u, nos in _penalised(city, done)[:40]]
    uscc, penalties = max(candidates, key=lambda c: len(c[1]))
    assert penalties, "the synthetic city should have a repairable penalty"
    # The department that penalised handles the repair: a supervisor of the penalties' authority decides.
    authorities = (
        lake["penalties"].filter(pl.col("decision_no").is_in(penalties)).select("authority").unique()
    )
    (authority,) = authorities.collect()["authority"].to_list()
    sup = _token(city.engine, Role.SUPERVISOR, authority)
    with TestClient(
        create_app(city.settings, engine=city.engine, clock=china_half_past_midnight())
    ) as client:
        for no in penalties:
            body = {
                "uscc": uscc,
                "record_table": "penalties",
                "record_id": no,
                "commitment": "承诺",
                "obligations_evidence": "缴款凭证",
                "applied_on": "2026-11-02",
            }
            applied = client.post("/repairs", json=body, headers=sup)
            assert applied.status_code == 201, applied.text
            rid = applied.json()["repair_id"]
            assert (
                client.post(f"/repairs/{rid}/accept", json={"on": "2026-11-02"}, headers=sup).status_code
                == 200
            )
            approved = client.post(f"/repairs/{rid}/approve", json={"on": DECIDED.isoformat()}, headers=sup)
            assert approved.status_code == 200, approved.text
    payload = approved.json()
    _check_history(
        city,
        uscc,
        payload,
        f"repair {rid} approved",
        entries=len(penalties),
        decision={"repairs": {rid}, "commitments": {f"CMT-{rid}"}},
    )
    assert payload["tier_after"] == payload["rescore"]["after"]["tier"]
    before, after = _features(city, uscc, DECIDED), _features(city, uscc, AFTER)
    assert after["penalties_n_1095d"] == before["penalties_n_1095d"] - len(penalties)
