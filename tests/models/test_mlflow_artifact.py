"""The MLflow artifact contract: ``log_model`` registers the RiskModel as code (no pickle) with an explicit
signature, MLflow says nothing at WARNING or above and raises no Python warning while doing so, and both
``load_model`` and MLflow's own pyfunc loader give back the same scores."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest

from models.calibration import ProbabilityCalibrator
from models.estimator import RiskClassifier
from models.explain import directions
from models.risk_model import RiskModel, load_model, log_model
from models.tiers import TierPolicy
from tests.models.factories import CATEGORICAL, FEATURES, INFOS, labelled_frame


def _model() -> RiskModel:
    frame = labelled_frame(1200, seed=3)
    fit, hold = frame[:800], frame[800:]
    est = RiskClassifier(
        n_estimators=10,
        num_leaves=5,
        monotone_constraints=directions(INFOS),
        categorical_features=CATEGORICAL,
    ).fit(fit.select(FEATURES), fit["violation_found"])
    cal = ProbabilityCalibrator().fit(est.decision_function(hold.select(FEATURES)), hold["violation_found"])
    policy = TierPolicy().fit(cal.predict(est.decision_function(hold.select(FEATURES))))
    return RiskModel(est, cal, policy, INFOS, {"trained_on": "factory"})


# Python warnings are errors in every test (pyproject's filterwarnings); MLflow's own warnings go to its
# logger, so they are caught here from the log records.
def test_log_model_is_silent_and_round_trips(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import mlflow

    model = _model()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("t", artifact_location=(tmp_path / "artifacts").as_uri())
    # MLflow's logger does not propagate to the root, where caplog listens: listen on it directly.
    mlflow_logger = logging.getLogger("mlflow")
    mlflow_logger.addHandler(caplog.handler)
    try:
        with mlflow.start_run(experiment_id=experiment):
            info = log_model(model, example=labelled_frame(20, seed=4), registered_model_name="cw-test")
    finally:
        mlflow_logger.removeHandler(caplog.handler)
    loud = [r for r in caplog.records if r.name.startswith("mlflow") and r.levelno >= logging.WARNING]
    assert loud == [], [r.getMessage() for r in loud]

    logged = mlflow.models.get_model_info(info.model_uri)
    assert logged.signature is not None
    inputs = logged.signature.inputs.input_names()
    assert set(FEATURES) <= set(inputs)
    assert "probability" in logged.signature.outputs.input_names()
    # Logged as code: the model folder holds the wrapper's source, no pickled Python object.
    folder = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "dl")))
    assert not list(folder.rglob("*.pkl")) and (folder / "pyfunc_code.py").exists()

    X = labelled_frame(200, seed=5).select(FEATURES)
    again = load_model(info.model_uri)
    assert again.score(X, reasons=0).equals(model.score(X, reasons=0))
    # MLflow's loader enforces the signature: numeric features are doubles (missing values allowed).
    pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    numeric = [c for c in FEATURES if c not in CATEGORICAL]
    predicted = pyfunc.predict(X.with_columns(pl.col(numeric).cast(pl.Float64)).to_pandas())
    assert list(predicted["probability"]) == model.score(X, reasons=0)["probability"].to_list()
    mlflow.set_tracking_uri("")
