"""Calibration: isotonic and Platt maps fitted on held-out scores, weights honoured, chosen by validation;
cross-fitted (out-of-fold) scores as the calibration set."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.calibration import ProbabilityCalibrator, out_of_fold_scores
from models.estimator import RiskClassifier
from tests.models.factories import FEATURES, labelled_frame


def _scores(n: int, seed: int, *, slope: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.normal(-1, 1.5, n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(s / slope - 0.5)))).astype(int)
    return s, y


def test_platt_recovers_a_known_logistic_map() -> None:
    s, y = _scores(20000, 0)
    cal = ProbabilityCalibrator("platt").fit(s, y)
    assert cal.coef_ == pytest.approx(0.5, abs=0.05)
    assert cal.intercept_ == pytest.approx(-0.5, abs=0.06)


def test_isotonic_is_monotone_and_within_0_1() -> None:
    s, y = _scores(5000, 1)
    cal = ProbabilityCalibrator("isotonic").fit(s, y)
    grid = np.linspace(-10, 10, 200)
    p = cal.predict(grid)
    assert (np.diff(p) >= 0).all() and p.min() >= 0 and p.max() <= 1


def test_auto_prefers_isotonic_when_the_map_is_not_logistic() -> None:
    rng = np.random.default_rng(3)
    s = rng.uniform(-3, 3, 20000)
    true = np.where(s > 1, 0.6, 0.05)  # a step: Platt cannot fit it
    y = (rng.uniform(size=s.size) < true).astype(int)
    cal = ProbabilityCalibrator("auto").fit(s, y)
    assert cal.method_ == "isotonic"
    assert cal.cv_log_loss_["isotonic"] < cal.cv_log_loss_["platt"]
    s2, y2 = _scores(20000, 4)
    assert ProbabilityCalibrator("auto").fit(s2, y2).method_ == "platt"


def test_sample_weights_change_the_fit() -> None:
    s, y = _scores(4000, 5)
    w = np.where(y == 1, 3.0, 1.0)
    plain = ProbabilityCalibrator("platt").fit(s, y).predict(np.array([0.0]))[0]
    weighted = ProbabilityCalibrator("platt").fit(s, y, w).predict(np.array([0.0]))[0]
    # tripling the positives' weight is like tripling their odds: logit shifts by log(3)
    assert np.log(weighted / (1 - weighted)) - np.log(plain / (1 - plain)) == pytest.approx(
        np.log(3), abs=0.1
    )


def test_state_round_trip_and_errors() -> None:
    s, y = _scores(3000, 6)
    for method in ("platt", "isotonic"):
        cal = ProbabilityCalibrator(method).fit(s, y)
        again = ProbabilityCalibrator.from_state(cal.state())
        np.testing.assert_array_equal(again.predict(s), cal.predict(s))
    with pytest.raises(ValueError, match="method"):
        ProbabilityCalibrator("beta").fit(s, y)
    with pytest.raises(ValueError, match="both classes"):
        ProbabilityCalibrator().fit(s, np.zeros_like(y))
    with pytest.raises(ValueError, match="not fitted"):
        ProbabilityCalibrator().predict(s)


# -- cross-fitted calibration ------------------------------------------------------------------------------
def _estimator() -> RiskClassifier:
    return RiskClassifier(
        n_estimators=200,
        learning_rate=0.1,
        num_leaves=7,
        min_child_samples=20,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        early_stopping_rounds=15,
        categorical_features=("entity_type_code",),
    )


def _error_vs_truth(p: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    """Per equal-width bin of ``p``: |mean p − mean true probability|, weighted by the bin's rows."""
    b = np.minimum((p * bins).astype(np.int64), bins - 1)
    gap = np.abs(np.bincount(b, weights=p - truth, minlength=bins))
    return float(gap.sum() / p.size)


def _fold_numbers(n: int, k: int) -> np.ndarray:
    return np.arange(n) * k // n  # rows are in time order: contiguous blocks


def _calibration_errors(seed: int) -> tuple[float, float]:
    """(validation-only Platt, cross-fitted Platt): calibration error vs the true probability on later
    rows."""
    frame = labelled_frame(6000, seed=seed)
    train, valid, test = (
        frame[:4700],
        frame[4700:5000],
        frame[5000:],
    )  # 300 validation rows, like a small city
    est = _estimator().fit(
        train.select(FEATURES),
        train["violation_found"].to_numpy(),
        eval_set=(valid.select(FEATURES), valid["violation_found"].to_numpy()),
    )
    raw_test = est.decision_function(test.select(FEATURES))
    truth = test["true_probability"].to_numpy()
    only_valid = ProbabilityCalibrator("platt").fit(
        est.decision_function(valid.select(FEATURES)), valid["violation_found"]
    )
    pool = pl.concat([train, valid])
    oof = out_of_fold_scores(
        est,
        pool.select(FEATURES),
        pool["violation_found"].to_numpy(),
        folds=_fold_numbers(pool.height, 5),
        n_estimators=est.best_iteration_,
        early_stopping_rounds=None,
    )
    crossed = ProbabilityCalibrator("platt").fit(oof, pool["violation_found"])
    return _error_vs_truth(only_valid.predict(raw_test), truth), _error_vs_truth(
        crossed.predict(raw_test), truth
    )


def test_cross_fitted_calibration_beats_validation_only_platt() -> None:
    errors = np.array([_calibration_errors(seed) for seed in range(6)])
    only_valid, crossed = errors[:, 0], errors[:, 1]
    # more calibration rows, less noise in the map: better on average and on most draws
    assert crossed.mean() < 0.7 * only_valid.mean()
    assert (crossed < only_valid).sum() >= 4


def test_out_of_fold_scores_come_from_models_that_never_saw_the_fold() -> None:
    frame = labelled_frame(1500, seed=21)
    X, y = frame.select(FEATURES), frame["violation_found"].to_numpy()
    w = 1.0 / frame["selection_probability"].to_numpy()
    folds = _fold_numbers(frame.height, 3)
    est = _estimator()
    oof = out_of_fold_scores(est, X, y, w, folds=folds, n_estimators=40, early_stopping_rounds=None)
    # fold 1 by hand: fitted on folds 0 and 2 with their weights, scoring fold 1
    rest, held = folds != 1, folds == 1
    by_hand = (
        _estimator()
        .set_params(n_estimators=40, early_stopping_rounds=None)
        .fit(X.filter(pl.Series(rest)), y[rest], w[rest])
    )
    np.testing.assert_array_equal(oof[held], by_hand.decision_function(X.filter(pl.Series(held))))
    # in-sample scores of a model fitted on everything differ: these are not them
    everything = _estimator().set_params(n_estimators=40, early_stopping_rounds=None).fit(X, y, w)
    assert not np.allclose(oof, everything.decision_function(X))
    # deterministic: same folds and settings, the same scores bit for bit; the estimator passed is untouched
    again = out_of_fold_scores(est, X, y, w, folds=folds, n_estimators=40, early_stopping_rounds=None)
    np.testing.assert_array_equal(oof, again)
    assert est.n_estimators == 200 and not hasattr(est, "booster_")


def test_out_of_fold_scores_reject_bad_folds() -> None:
    frame = labelled_frame(300, seed=2)
    X, y = frame.select(FEATURES), frame["violation_found"].to_numpy()
    with pytest.raises(ValueError, match="one entry per row"):
        out_of_fold_scores(_estimator(), X, y, folds=np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="K >= 2"):
        out_of_fold_scores(_estimator(), X, y, folds=np.zeros(frame.height, dtype=int))
    with pytest.raises(ValueError, match="non-empty"):
        out_of_fold_scores(_estimator(), X, y, folds=np.where(np.arange(frame.height) < 150, 0, 2))
    one_class = np.where(np.arange(frame.height) < 150, 0, 1)
    with pytest.raises(ValueError, match="fold 0: the other folds hold only one class"):
        out_of_fold_scores(_estimator(), X, one_class, folds=one_class)
