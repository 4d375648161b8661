"""Inverse selection-probability weights: 1/p, capped, mean 1, bad input named."""

from __future__ import annotations

import numpy as np
import pytest

from training.weights import inverse_probability_weights


def test_uncapped_weights_are_inverse_probabilities() -> None:
    w, report = inverse_probability_weights([0.5, 0.25, 1.0], cap_quantile=1.0, cap_max=100, normalise=False)
    np.testing.assert_allclose(w, [2.0, 4.0, 1.0])
    assert report.n_capped == 0 and report.cap == 4.0
    # Kish: (2+4+1)^2 / (4+16+1)
    assert report.effective_sample_size == pytest.approx(49 / 21)


def test_cap_at_maximum_then_normalise() -> None:
    w, report = inverse_probability_weights([0.5, 0.001, 0.25, 0.5], cap_quantile=1.0, cap_max=10)
    raw_capped = np.array([2.0, 10.0, 4.0, 2.0])
    np.testing.assert_allclose(w, raw_capped / raw_capped.mean())
    assert report.n_capped == 1 and report.cap == 10
    assert w.mean() == pytest.approx(1.0)


def test_cap_at_quantile() -> None:
    p = np.array([0.5] * 9 + [0.01])
    # 0.85 quantile of ten values, "higher" method: position 7.65 → the 9th value, 2.0
    w, report = inverse_probability_weights(p, cap_quantile=0.85, cap_max=1000, normalise=False)
    assert report.cap == 2.0 and report.n_capped == 1
    assert w.max() == 2.0


@pytest.mark.parametrize("bad", [[0.5, 0.0], [0.5, 1.2], [0.5, float("nan")]])
def test_bad_probability_names_the_row(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="row 1"):
        inverse_probability_weights(bad)
