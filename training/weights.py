"""Inverse selection-probability weights (Horvitz–Thompson) for training on inspected entities only.

Each inspection stores the probability with which the draw selected the entity. Weighting a labelled row
by 1/p makes the inspected sample stand for the whole population (entities of tier D, drawn often, count
less; rarely drawn tier-A entities count more). Raw 1/p can be huge for tiny p and then a handful of rows
dominate the fit, so weights are capped at the ``cap_quantile`` quantile of the raw weights and at
``cap_max`` (whichever is lower), then rescaled to mean 1 so LightGBM's min-hessian rules keep their meaning.
Capping trades a little bias for much less variance; the report says how many rows were capped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class WeightReport:
    cap: float
    n_capped: int
    effective_sample_size: float


def inverse_probability_weights(
    selection_probability: Any, *, cap_quantile: float = 0.99, cap_max: float = 100.0, normalise: bool = True
) -> tuple[np.ndarray, WeightReport]:
    """Capped, mean-1 weights 1/p, and a report (cap used, rows capped, Kish effective sample size)."""
    p = np.asarray(selection_probability, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"selection_probability must be 1-D, got shape {p.shape}")
    if p.size == 0:
        raise ValueError("selection_probability is empty")
    bad = np.flatnonzero(~np.isfinite(p) | (p <= 0) | (p > 1))
    if bad.size:
        raise ValueError(f"selection_probability must be in (0, 1]; row {int(bad[0])} has {p[bad[0]]!r}")
    if not 0 < cap_quantile <= 1:
        raise ValueError(f"cap_quantile must be in (0, 1], got {cap_quantile!r}")
    if cap_max < 1:
        raise ValueError(f"cap_max must be >= 1 (1/p >= 1), got {cap_max!r}")
    raw = 1.0 / p
    cap = min(float(np.quantile(raw, cap_quantile, method="higher")), float(cap_max))
    w = np.minimum(raw, cap)
    n_capped = int((raw > cap).sum())
    if normalise:
        w = w / w.mean()
    ess = float(w.sum() ** 2 / (w**2).sum())
    return w, WeightReport(cap=cap, n_capped=n_capped, effective_sample_size=ess)
