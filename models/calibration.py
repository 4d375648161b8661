"""Probability calibration: raw log-odds on held-out rows → calibrated probability (isotonic or Platt).

The held-out rows are either the validation months (the final model's own scores) or, when those are few,
out-of-fold scores over all the months before the test (``out_of_fold_scores``: scikit-learn's
``cross_val_predict`` with given folds, each fold model a clone of the final estimator with its tree count
fixed, the idea of ``CalibratedClassifierCV(ensemble=False)``): many thousands of rows instead of a few
hundred.

``method="auto"`` picks by K-fold cross-validated weighted log-loss on the held-out rows themselves, so the
choice is made on data the trees never saw. The fitted map is stored as plain numbers (Platt: slope and
intercept; isotonic: the step function's knots) so it saves as JSON and predicts without scikit-learn state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import PredefinedSplit, StratifiedKFold, cross_val_predict

METHODS = ("auto", "isotonic", "platt")
_EPS = 1e-6


class ProbabilityCalibrator:
    """Maps raw scores (log-odds) to calibrated probabilities; fitted on held-out data with sample weights."""

    def __init__(self, method: str = "auto", *, n_folds: int = 5, random_state: int = 0) -> None:
        self.method = method
        self.n_folds = n_folds
        self.random_state = random_state

    def fit(self, raw_score: Any, y: Any, sample_weight: Any = None) -> ProbabilityCalibrator:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        s = np.asarray(raw_score, dtype=np.float64)
        t = np.asarray(y, dtype=np.float64)
        w = np.ones_like(s) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if not (s.shape == t.shape == w.shape) or s.ndim != 1:
            raise ValueError(
                "raw_score, y and sample_weight must be 1-D of one length, "
                f"got {s.shape}, {t.shape}, {w.shape}"
            )
        if not np.isfinite(s).all():
            raise ValueError(
                f"raw_score must be finite; row {int(np.flatnonzero(~np.isfinite(s))[0])} is not"
            )
        if len(np.unique(t)) < 2:
            raise ValueError("calibration needs both classes in the held-out rows")
        self.cv_log_loss_: dict[str, float] = {}
        if self.method == "auto":
            self.cv_log_loss_ = {m: self._cv_loss(m, s, t, w) for m in ("isotonic", "platt")}
            # Prefer the 2-parameter Platt map unless isotonic is clearly better: fewer knots, less variance.
            chosen = (
                "isotonic" if self.cv_log_loss_["isotonic"] < self.cv_log_loss_["platt"] - 1e-4 else "platt"
            )
        else:
            chosen = self.method
        self.method_ = chosen
        self._fit_map(chosen, s, t, w)
        return self

    def _fit_map(self, method: str, s: np.ndarray, t: np.ndarray, w: np.ndarray) -> None:
        if method == "platt":
            lr = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
            lr.fit(s.reshape(-1, 1), t, sample_weight=w)
            self.coef_ = float(lr.coef_[0, 0])
            self.intercept_ = float(lr.intercept_[0])
            if self.coef_ < 0:
                # A decreasing map would turn the trees' monotone constraints around (a decision in an
                # entity's favour could then raise its probability): flat at the base rate instead.
                rate = float(np.clip(np.average(t, weights=w), _EPS, 1 - _EPS))
                self.coef_, self.intercept_ = 0.0, float(np.log(rate / (1 - rate)))
            self.knots_x_ = np.empty(0)
            self.knots_y_ = np.empty(0)
        else:
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
            iso.fit(s, t, sample_weight=w)
            self.knots_x_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
            self.knots_y_ = np.asarray(iso.y_thresholds_, dtype=np.float64)
            self.coef_ = 0.0
            self.intercept_ = 0.0

    def _cv_loss(self, method: str, s: np.ndarray, t: np.ndarray, w: np.ndarray) -> float:
        folds = StratifiedKFold(n_splits=self.n_folds, shuffle=True, random_state=self.random_state)
        loss = 0.0
        for fit_idx, test_idx in folds.split(s.reshape(-1, 1), t):
            part = ProbabilityCalibrator(method)
            part._fit_map(method, s[fit_idx], t[fit_idx], w[fit_idx])
            part.method_ = method
            p = np.clip(part.predict(s[test_idx]), _EPS, 1 - _EPS)
            yt, wt = t[test_idx], w[test_idx]
            loss += float(-(wt * (yt * np.log(p) + (1 - yt) * np.log(1 - p))).sum())
        return loss / float(w.sum())

    def predict(self, raw_score: Any) -> np.ndarray:
        """Calibrated probability of a violation for each raw score."""
        if not hasattr(self, "method_"):
            raise ValueError("ProbabilityCalibrator is not fitted yet; call fit first")
        s = np.asarray(raw_score, dtype=np.float64)
        if self.method_ == "platt":
            return 1.0 / (1.0 + np.exp(-(self.coef_ * s + self.intercept_)))
        if self.knots_x_.size == 1:
            return np.full_like(s, self.knots_y_[0])
        return np.interp(s, self.knots_x_, self.knots_y_)

    def state(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "method_": self.method_,
            "coef": self.coef_,
            "intercept": self.intercept_,
            "knots_x": self.knots_x_.tolist(),
            "knots_y": self.knots_y_.tolist(),
            "cv_log_loss": self.cv_log_loss_,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ProbabilityCalibrator:
        cal = cls(state["method"])
        cal.method_ = state["method_"]
        cal.coef_ = float(state["coef"])
        cal.intercept_ = float(state["intercept"])
        cal.knots_x_ = np.asarray(state["knots_x"], dtype=np.float64)
        cal.knots_y_ = np.asarray(state["knots_y"], dtype=np.float64)
        cal.cv_log_loss_ = dict(state.get("cv_log_loss", {}))
        return cal


def out_of_fold_scores(
    estimator: Any, X: Any, y: Any, sample_weight: Any = None, *, folds: Any, **params: Any
) -> np.ndarray:
    """Out-of-fold raw scores: for each fold, a clone of ``estimator`` (with ``params`` set, e.g. a fixed
    ``n_estimators`` and no early stopping) is fitted on the other folds and scores this one with
    ``decision_function``. ``folds`` gives each row's fold number (0 … K-1, every fold non-empty, K >= 2).

    The pooled scores are what a ``ProbabilityCalibrator`` is fitted on in place of the validation months'
    scores. They come from K models each fitted on (K-1)/K of the rows, so they match the scale of a model
    fitted on all of them only when the tree count is the same — pass the final model's ``n_estimators``.
    Deterministic when the estimator is (folds run one after another).
    """
    f = np.asarray(folds)
    t = np.asarray(y)
    if f.ndim != 1 or f.shape != t.shape:
        raise ValueError(f"folds must be 1-D with one entry per row, got {f.shape} for {t.shape} rows")
    ids = np.unique(f)
    if ids.size < 2 or ids[0] != 0 or ids[-1] != ids.size - 1:
        raise ValueError(f"folds must number 0 … K-1 (K >= 2) with every fold non-empty, got {ids.tolist()}")
    for k in ids:
        if np.unique(t[f != k]).size < 2:
            raise ValueError(f"fold {int(k)}: the other folds hold only one class; use fewer folds")
    model = clone(estimator).set_params(**params)
    fit_params = (
        {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight, dtype=np.float64)}
    )
    scores = cross_val_predict(
        model, X, t, cv=PredefinedSplit(f), method="decision_function", params=fit_params
    )
    return np.asarray(scores, dtype=np.float64)
