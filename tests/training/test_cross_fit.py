"""Cross-fitted calibration in ``fit_risk_model``: out-of-fold scores of the months before the test window."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_series_equal

from models.calibration import ProbabilityCalibrator, out_of_fold_scores
from tests.models.factories import CATEGORICAL, INFOS, labelled_frame
from training.run import TrainConfig, fit_risk_model, model_card
from training.split import out_of_time_split, time_folds
from training.weights import inverse_probability_weights

CONFIG = TrainConfig(
    valid_months=2,
    test_months=4,
    num_threads=1,
    estimator={
        "n_estimators": 80,
        "learning_rate": 0.1,
        "num_leaves": 7,
        "min_child_samples": 30,
        "early_stopping_rounds": 15,
    },
)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return labelled_frame(5000, seed=7)


def _error_vs_truth(p: np.ndarray, truth: np.ndarray, w: np.ndarray, bins: int = 10) -> float:
    b = np.minimum((p * bins).astype(np.int64), bins - 1)
    gap = np.abs(np.bincount(b, weights=w * (p - truth), minlength=bins))
    return float(gap.sum() / w.sum())


def test_default_calibration_is_fitted_on_out_of_fold_scores(frame: pl.DataFrame) -> None:
    result = fit_risk_model(frame, infos=INFOS, categorical=CATEGORICAL, config=CONFIG)
    record = result.model.metadata["calibration"]
    assert record["fitted_on"] == "out_of_fold" and record["folds"] == 5
    assert 0.8 < record["score_sd_ratio_valid"] < 1.25  # fold models and the final model share a scale
    # the same map by hand: the split and weights of fit_risk_model, time folds over train + valid (in that
    # order), fold models with the final tree count, IPW weights
    est = result.model.estimator
    split = out_of_time_split(frame.lazy(), valid_months=2, test_months=4).collect()
    weights, _ = inverse_probability_weights(split["selection_probability"].to_numpy())
    split = split.with_columns(pl.Series("weight", weights))
    pool = pl.concat([split.filter(pl.col("split") == "train"), split.filter(pl.col("split") == "valid")])
    assert pool.height == record["rows"]
    y, w = pool["violation_found"].to_numpy(), pool["weight"].to_numpy()
    oof = out_of_fold_scores(
        est,
        pool.select(result.model.feature_names),
        y,
        w,
        folds=time_folds(pool["as_of"], 5),
        n_estimators=est.best_iteration_,
        early_stopping_rounds=None,
    )
    by_hand = ProbabilityCalibrator("auto").fit(oof, y, w)
    assert by_hand.state() == result.model.calibrator.state()
    assert "out-of-fold scores" in model_card(result)


def test_fallback_to_the_validation_months(frame: pl.DataFrame) -> None:
    for config in (replace(CONFIG, calibration_folds=0), replace(CONFIG, cross_fit_max_valid_rows=10)):
        result = fit_risk_model(frame, infos=INFOS, categorical=CATEGORICAL, config=config)
        record = result.model.metadata["calibration"]
        assert record == {
            "fitted_on": "valid",
            "folds": 0,
            "rows": result.windows["valid"]["rows"],
            "method": result.model.calibrator.method_,
        }
        assert "the validation months" in model_card(result)
    with pytest.raises(ValueError, match="calibration_folds must be >= 0"):
        fit_risk_model(
            frame, infos=INFOS, categorical=CATEGORICAL, config=replace(CONFIG, calibration_folds=-1)
        )


def test_cross_fitting_is_deterministic_and_leaves_the_trees_alone(frame: pl.DataFrame) -> None:
    a = fit_risk_model(frame, infos=INFOS, categorical=CATEGORICAL, config=CONFIG)
    b = fit_risk_model(frame, infos=INFOS, categorical=CATEGORICAL, config=CONFIG)
    assert a.model.estimator.model_string() == b.model.estimator.model_string()
    assert a.model.calibrator.state() == b.model.calibrator.state()
    assert_series_equal(a.test["probability"], b.test["probability"], check_exact=True)
    # only the map changes: the final model's trees are those of validation-only calibration
    old = fit_risk_model(
        frame, infos=INFOS, categorical=CATEGORICAL, config=replace(CONFIG, calibration_folds=0)
    )
    assert old.model.estimator.model_string() == a.model.estimator.model_string()
    assert old.model.calibrator.state() != a.model.calibrator.state()


def test_cross_fitting_is_closer_to_the_true_probability() -> None:
    """A city small enough that the validation months hold a few hundred rows: over several draws the
    cross-fitted map is closer to the known true probability on the test months than the validation-only
    one."""
    errors = []
    for seed in range(4):
        data = labelled_frame(4000, seed=100 + seed)
        row = []
        for folds in (0, 5):
            r = fit_risk_model(
                data, infos=INFOS, categorical=CATEGORICAL, config=replace(CONFIG, calibration_folds=folds)
            )
            t = r.test
            row.append(
                _error_vs_truth(
                    t["probability"].to_numpy(), t["true_probability"].to_numpy(), t["weight"].to_numpy()
                )
            )
        errors.append(row)
    e = np.array(errors)
    assert e[:, 1].mean() < 0.8 * e[:, 0].mean()
