"""Calibration keeps the order of the raw scores: the trees' monotone constraints carry over to the
probability (docs/model.md, "A decision in the entity's favour never raises its score")."""

from __future__ import annotations

import numpy as np
import pytest

from models.calibration import ProbabilityCalibrator


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_the_map_never_decreases_even_on_inverted_scores(method: str) -> None:
    rng = np.random.default_rng(3)
    s = rng.normal(size=2000)
    t = (rng.random(2000) < 1 / (1 + np.exp(2 * s))).astype(np.int64)  # higher score, fewer violations
    cal = ProbabilityCalibrator(method).fit(s, t)
    grid = np.linspace(-4, 4, 401)
    p = cal.predict(grid)
    assert np.all(np.diff(p) >= 0)
    if method == "platt":
        assert cal.coef_ == 0.0 and p[0] == pytest.approx(t.mean())
