"""Calibration: isotonic and Platt maps fitted on held-out scores, weights honoured, chosen by validation."""

from __future__ import annotations

import numpy as np
import pytest

from models.calibration import ProbabilityCalibrator


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
