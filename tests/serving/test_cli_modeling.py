"""``creditwatch models list | compare | promote | rollback`` through the real CLI on MLflow/SQLite in tmp."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from serving.cli import app
from serving.settings import Settings
from tests.models.factories import CATEGORICAL, INFOS, labelled_frame
from training.run import TrainConfig, fit_risk_model, log_run

runner = CliRunner()
CONFIG = TrainConfig(
    valid_months=4,
    test_months=4,
    num_threads=1,
    estimator={"n_estimators": 30, "learning_rate": 0.1, "num_leaves": 7, "early_stopping_rounds": 10},
)


def _json(settings: Settings, *args: str) -> tuple[Any, Any]:
    result = runner.invoke(app, ["--home", str(settings.home), "--json", *args])
    return result, json.loads(result.stdout) if result.stdout.strip() else None


@pytest.mark.slow  # two MLflow runs
def test_models_commands(settings: Settings) -> None:
    result, payload = _json(settings, "models", "list")
    assert result.exit_code == 0 and payload == []
    result, payload = _json(settings, "models", "rollback", "--who", "a", "--why", "b")
    assert result.exit_code == 1 and "nothing to roll back" in payload["error"]

    frame = labelled_frame(3000, seed=5)
    kw = {"tracking_uri": settings.mlflow_uri, "artifact_location": settings.mlflow_artifacts_dir}
    first = log_run(fit_risk_model(frame, infos=INFOS, categorical=CATEGORICAL, config=CONFIG), **kw)
    result, payload = _json(settings, "models", "promote", first.version, "--who", "li", "--why", "first")
    assert result.exit_code == 0 and payload["champion"] == first.version

    worse = [i for i in INFOS if i.name == "noise"]
    second = log_run(fit_risk_model(frame, infos=worse, config=CONFIG), **kw)
    result, payload = _json(settings, "models", "compare", second.version)
    assert result.exit_code == 0 and payload["gate"]["passed"] is False
    assert {r["metric"] for r in payload["metrics"]} >= {"test_roc_auc"}
    result, payload = _json(settings, "models", "promote", second.version, "--who", "li", "--why", "try")
    assert result.exit_code == 1 and "gate" in payload["error"]
    result, payload = _json(
        settings, "models", "promote", second.version, "--who", "li", "--why", "override", "--force"
    )
    assert result.exit_code == 0 and payload["gate"]["passed"] is False

    result, payload = _json(settings, "models", "list")
    assert [r["version"] for r in payload] == [second.version, first.version]
    assert payload[0]["champion"] and payload[0]["promoted_by"] == "li"
    result, payload = _json(
        settings, "models", "rollback", "--who", "zhao", "--why", "forced model misbehaves"
    )
    assert result.exit_code == 0 and payload["champion"] == first.version


def test_score_without_champion_fails_clearly(settings: Settings) -> None:
    result, payload = _json(settings, "score", "--as-of", "2024-01-01")
    assert result.exit_code == 1 and "no champion" in payload["error"]
