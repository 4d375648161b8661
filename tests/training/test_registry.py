"""MLflow on SQLite in tmp_path: log → register → alias → load by alias → same predictions; the gate;
rollback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from tests.models.factories import CATEGORICAL, INFOS, labelled_frame
from training.registry import GateError, Registry
from training.run import TrainConfig, fit_risk_model, log_run

CONFIG = TrainConfig(
    valid_months=4,
    test_months=4,
    num_threads=1,
    estimator={
        "n_estimators": 60,
        "learning_rate": 0.1,
        "num_leaves": 7,
        "min_child_samples": 30,
        "early_stopping_rounds": 15,
    },
)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return labelled_frame(6000, seed=11)


def test_fit_risk_model_is_close_to_the_oracle(frame: pl.DataFrame) -> None:
    result = fit_risk_model(frame, infos=INFOS, categorical=CATEGORICAL, config=CONFIG)
    test = result.test
    assert test["as_of"].min() > frame.filter(pl.col("as_of") < test["as_of"].min())["as_of"].max()
    oracle = roc_auc_score(test["violation_found"], test["true_probability"], sample_weight=test["weight"])
    assert result.evaluation.metrics["test_roc_auc"] > oracle - 0.04
    assert result.evaluation.metrics["test_ece"] < 0.05
    assert "control_roc_auc" in result.evaluation.metrics
    assert set(result.test["tier"].unique()) <= {"A", "B", "C", "D"}
    # the severe-dishonesty override puts every listed entity in D
    listed = result.test.filter(pl.col("severe_dishonesty_active") == 1)
    assert listed.height and (listed["tier"] == "D").all()


@pytest.mark.slow  # ~15 s alone: four MLflow runs with charts
def test_log_register_alias_load_gate_promote_rollback(frame: pl.DataFrame, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    artifacts = tmp_path / "mlartifacts"
    registry = Registry(uri)
    assert registry.versions() == [] and registry.champion() is None

    good = fit_risk_model(frame, infos=INFOS, categorical=CATEGORICAL, config=CONFIG)
    first = log_run(good, tracking_uri=uri, artifact_location=artifacts)
    assert first.version == "1" and first.champion_version is None
    assert any(artifacts.rglob("model_card.md")) and any(artifacts.rglob("shap_summary.png"))
    assert any(artifacts.rglob("waterfall_top_risk.svg"))

    with pytest.raises(ValueError, match="who and why"):
        registry.promote("1", who="", why="first model")
    gate = registry.promote("1", who="analyst-li", why="first model")
    assert gate.passed and registry.champion() == "1"
    with pytest.raises(GateError, match="already is the champion"):  # a no-op move, even forced
        registry.promote("1", who="analyst-li", why="again", force=True)
    assert [h["version"] for h in registry.history()] == ["1"]

    loaded = registry.load()
    test = good.test
    np.testing.assert_array_equal(loaded.probability(test), good.model.probability(test))
    assert loaded.score(test, reasons=0)["tier"].to_list() == test["tier"].to_list()

    # A challenger that sees only noise is worse on the same test window: the gate refuses it.
    noise_only = [i for i in INFOS if i.name in ("noise", "inspections_n_1095d")]
    bad = fit_risk_model(frame, infos=noise_only, config=CONFIG)
    second = log_run(bad, tracking_uri=uri, artifact_location=artifacts)
    assert second.champion_version == "1"
    assert second.metrics["champion_test_roc_auc"] == pytest.approx(good.evaluation.metrics["test_roc_auc"])
    verdict = registry.gate(second.version)
    assert not verdict.passed and "test_roc_auc" in verdict.reason
    with pytest.raises(GateError, match="test_roc_auc"):
        registry.promote(second.version, who="analyst-li", why="try")
    assert registry.champion() == "1"

    # A retrained equal model passes (not worse beyond tolerance), is promoted, then rolled back.
    third = log_run(
        fit_risk_model(frame, infos=INFOS, categorical=CATEGORICAL, config=CONFIG),
        tracking_uri=uri,
        artifact_location=artifacts,
    )
    assert registry.promote(third.version, who="analyst-wang", why="monthly retrain").passed
    assert registry.champion() == third.version
    stale = registry.gate(second.version)  # compared with v1, but the champion is now v3
    assert not stale.passed and "retrain" in stale.reason
    rows = {r["version"]: r for r in registry.versions()}
    assert rows[third.version]["champion"] and rows[third.version]["promoted_by"] == "analyst-wang"
    assert registry.rollback(who="supervisor-zhao", why="complaints about tier D") == "1"
    assert registry.champion() == "1"
    history = registry.history()
    assert [h["version"] for h in history] == ["1", third.version, "1"]
    assert history[-1]["who"] == "supervisor-zhao" and history[-1]["why"] == "complaints about tier D"

    comparison = registry.compare(third.version, "1")
    assert {r["metric"] for r in comparison} >= {"test_roc_auc", "test_ece"}
