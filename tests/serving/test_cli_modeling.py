"""``creditwatch models list | compare | promote | rollback`` through the real CLI on MLflow/SQLite in tmp."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from serving.cli import app
from serving.settings import Settings
from tests.conftest import china_half_past_midnight
from tests.models.factories import CATEGORICAL, INFOS, labelled_frame
from tests.serving.api_city import DEPARTMENT, DIVISION
from training.run import TrainConfig, fit_risk_model, log_run

runner = CliRunner()
CONFIG = TrainConfig(
    valid_months=4,
    test_months=4,
    num_threads=1,
    estimator={"n_estimators": 30, "learning_rate": 0.1, "num_leaves": 7, "early_stopping_rounds": 10},
)


def _json(settings: Settings, *args: str) -> tuple[Any, Any]:
    result = runner.invoke(
        app, ["--home", str(settings.home), "--json", *args], obj=china_half_past_midnight()
    )
    return result, json.loads(result.stdout) if result.stdout.strip() else None


def _analyst(settings: Settings, name: str) -> tuple[list[str], str]:
    """(``--as TOKEN``, the audit log's name) of a new analyst of the test department."""
    result, issued = _json(
        settings,
        "tokens",
        "create",
        "--role",
        "analyst",
        "--name",
        name,
        "--department",
        DEPARTMENT,
        "--division",
        DIVISION,
    )
    assert result.exit_code == 0, result.output
    return ["--as", issued["token"]], f"{name}#{issued['id']}"


@pytest.mark.slow  # two MLflow runs
def test_models_commands(settings: Settings) -> None:
    li, li_actor = _analyst(settings, "li")
    zhao, _ = _analyst(settings, "zhao")
    result, payload = _json(settings, "models", "list")
    assert result.exit_code == 0 and payload == []
    result, payload = _json(settings, *zhao, "models", "rollback", "--why", "b")
    assert result.exit_code == 5 and "nothing to roll back" in payload["error"]  # a conflict

    frame = labelled_frame(3000, seed=5)
    kw = {"tracking_uri": settings.mlflow_uri, "artifact_location": settings.mlflow_artifacts_dir}
    first = log_run(fit_risk_model(frame, infos=INFOS, categorical=CATEGORICAL, config=CONFIG), **kw)
    result, payload = _json(settings, *li, "models", "promote", first.version, "--why", "first")
    assert result.exit_code == 0 and payload["champion"] == first.version

    worse = [i for i in INFOS if i.name == "noise"]
    second = log_run(fit_risk_model(frame, infos=worse, config=CONFIG), **kw)
    result, payload = _json(settings, "models", "compare", second.version)
    assert result.exit_code == 0 and payload["gate"]["passed"] is False
    assert {r["metric"] for r in payload["metrics"]} >= {"test_roc_auc"}
    result, payload = _json(settings, *li, "models", "promote", second.version, "--why", "try")
    assert result.exit_code == 5 and "gate" in payload["error"]  # a conflict
    result, payload = _json(
        settings, *li, "models", "promote", second.version, "--why", "override", "--force"
    )
    assert result.exit_code == 0 and payload["gate"]["passed"] is False

    result, payload = _json(settings, "models", "list")
    assert [r["version"] for r in payload] == [second.version, first.version]
    assert payload[0]["champion"] and payload[0]["promoted_by"] == li_actor  # the actor, not a typed name
    result, payload = _json(settings, *zhao, "models", "rollback", "--why", "forced model misbehaves")
    assert result.exit_code == 0 and payload["champion"] == first.version


def test_score_without_champion_fails_clearly(settings: Settings) -> None:
    result, payload = _json(settings, "score", "--as-of", "2024-01-01")
    assert result.exit_code == 1 and "no champion" in payload["error"]
