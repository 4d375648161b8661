"""RiskClassifier: a scikit-learn estimator around LightGBM; polars frame in, probabilities, log-odds and SHAP out.

Categorical features: pass their names in ``categorical_features``. Integer-coded columns are used as they
are (preferred: codes are stable across data sets); String/Categorical/Enum columns are mapped to integer
codes learned in ``fit`` (sorted values → 0..n-1; unseen values become missing). LightGBM then splits on
them natively. Explanations come from LightGBM's own exact TreeSHAP (``pred_contrib``): shap's own
TreeSHAP is wrong on LightGBM categorical splits (ecosystem-notes), LightGBM's is exact for every split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from models.explain import BASE_VALUE

_NUMERIC: tuple[type[pl.DataType], ...] = (pl.Float64, pl.Float32, pl.Int64, pl.Int32, pl.Int16, pl.Int8)
_NUMERIC += (pl.UInt64, pl.UInt32, pl.UInt16, pl.UInt8, pl.Boolean)
_TEXTUAL = (pl.String, pl.Categorical, pl.Enum)


class RiskClassifier(ClassifierMixin, BaseEstimator):
    """Binary LightGBM classifier with polars input, monotone constraints, early stopping and exact SHAP.

    Parameters follow LightGBM's names. ``monotone_constraints`` maps feature name → -1/0/+1 (see
    ``models.explain.directions``); ``early_stopping_rounds`` applies when ``fit`` gets an ``eval_set``;
    ``deterministic`` and a fixed ``num_threads`` make the model string byte-identical across runs.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        max_depth: int = -1,
        min_child_samples: int = 20,
        min_child_weight: float = 1e-3,
        subsample: float = 1.0,
        subsample_freq: int = 0,
        colsample_bytree: float = 1.0,
        reg_alpha: float = 0.0,
        reg_lambda: float = 0.0,
        max_bin: int = 255,
        monotone_constraints: Mapping[str, int] | None = None,
        categorical_features: Sequence[str] = (),
        early_stopping_rounds: int | None = 50,
        deterministic: bool = True,
        num_threads: int = 1,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.subsample_freq = subsample_freq
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.monotone_constraints = monotone_constraints
        self.categorical_features = categorical_features
        self.early_stopping_rounds = early_stopping_rounds
        self.deterministic = deterministic
        self.num_threads = num_threads
        self.random_state = random_state

    # -- input -------------------------------------------------------------------------------------------
    def _check_params(self, features: Sequence[str]) -> None:
        if self.n_estimators < 1:
            raise ValueError(f"n_estimators must be >= 1, got {self.n_estimators!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.num_threads < 1:
            raise ValueError(
                f"num_threads must be a fixed number >= 1 (determinism), got {self.num_threads!r}"
            )
        unknown = sorted(set(self.monotone_constraints or {}) - set(features))
        if unknown:
            raise ValueError(f"monotone_constraints names columns not in X: {unknown}")
        bad = {k: v for k, v in (self.monotone_constraints or {}).items() if v not in (-1, 0, 1)}
        if bad:
            raise ValueError(f"monotone_constraints values must be -1, 0 or 1, got {bad}")
        missing = sorted(set(self.categorical_features) - set(features))
        if missing:
            raise ValueError(f"categorical_features names columns not in X: {missing}")
        clash = sorted(
            set(self.categorical_features) & {k for k, v in (self.monotone_constraints or {}).items() if v}
        )
        if clash:
            raise ValueError(f"a categorical feature cannot carry a monotone constraint: {clash}")

    def _learn_columns(self, X: pl.DataFrame) -> None:
        if not isinstance(X, pl.DataFrame):
            raise TypeError(f"X must be a polars DataFrame, got {type(X).__name__}")
        if X.width == 0:
            raise ValueError("X has no columns")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.width
        cats: dict[str, list[str]] = {}
        for name, dtype in X.schema.items():
            if name in self.categorical_features and isinstance(dtype, _TEXTUAL):
                values = X.get_column(name).cast(pl.String).drop_nulls().unique().sort().to_list()
                cats[name] = values
            elif not isinstance(dtype, _NUMERIC):
                raise ValueError(
                    f"column {name!r} has dtype {dtype}; numeric columns only, or list it in "
                    "categorical_features"
                )
        self.categories_ = cats

    def _matrix(self, X: pl.DataFrame) -> np.ndarray:
        """The float64 matrix in ``feature_names_in_`` order; missing columns are an error naming them."""
        if not isinstance(X, pl.DataFrame):
            raise TypeError(f"X must be a polars DataFrame, got {type(X).__name__}")
        names = list(self.feature_names_in_)
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the model's feature columns {missing} (fitted on {names})")
        exprs = []
        for c in names:
            if c in self.categories_:
                mapping = {v: float(i) for i, v in enumerate(self.categories_[c])}
                exprs.append(
                    pl.col(c).cast(pl.String).replace_strict(mapping, default=None, return_dtype=pl.Float64)
                )
            else:
                dtype = X.schema[c]
                if not isinstance(dtype, _NUMERIC):
                    raise ValueError(
                        f"column {c!r} has dtype {dtype}; the model was fitted on a numeric column"
                    )
                exprs.append(pl.col(c).cast(pl.Float64))
        return X.select(exprs).to_numpy().astype(np.float64, copy=False)

    def _params(self) -> dict[str, Any]:
        names = list(self.feature_names_in_)
        mono = [int((self.monotone_constraints or {}).get(c, 0)) for c in names]
        params: dict[str, Any] = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_child_samples,
            "min_sum_hessian_in_leaf": self.min_child_weight,
            "bagging_fraction": self.subsample,
            "bagging_freq": self.subsample_freq,
            "feature_fraction": self.colsample_bytree,
            "lambda_l1": self.reg_alpha,
            "lambda_l2": self.reg_lambda,
            "max_bin": self.max_bin,
            "seed": self.random_state,
            "deterministic": self.deterministic,
            # row-wise histograms: no timing-based choice between row- and col-wise (that choice is a source
            # of run-to-run differences).
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbosity": -1,
        }
        if any(mono):
            params["monotone_constraints"] = mono
            params["monotone_constraints_method"] = "advanced"
        return params

    # -- fit ---------------------------------------------------------------------------------------------
    def fit(
        self,
        X: pl.DataFrame,
        y: Any,
        sample_weight: Any = None,
        *,
        eval_set: tuple[Any, ...] | None = None,
    ) -> RiskClassifier:
        """Fit on ``X`` (polars) and binary ``y``; ``eval_set=(X_val, y_val[, w_val])`` turns on early stopping."""
        self._learn_columns(X)
        self._check_params(list(X.columns))
        label = _labels(y, X.height, "y")
        weight = _weights(sample_weight, X.height, "sample_weight")
        self.classes_ = np.array([0, 1])
        cat_names = [c for c in self.feature_names_in_ if c in set(self.categorical_features)]
        train = lgb.Dataset(
            self._matrix(X),
            label=label,
            weight=weight,
            feature_name=list(self.feature_names_in_),
            categorical_feature=cat_names or "auto",
            free_raw_data=True,
        )
        valid_sets = []
        callbacks: list[Any] = []
        if eval_set is not None:
            if len(eval_set) not in (2, 3):
                raise ValueError("eval_set must be (X_val, y_val) or (X_val, y_val, w_val)")
            Xv, yv = eval_set[0], eval_set[1]
            wv = eval_set[2] if len(eval_set) == 3 else None
            valid_sets.append(
                lgb.Dataset(
                    self._matrix(Xv),
                    label=_labels(yv, Xv.height, "eval_set y"),
                    weight=_weights(wv, Xv.height, "eval_set weight"),
                    reference=train,
                )
            )
            if self.early_stopping_rounds:
                callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        params = self._params()
        params["metric"] = "binary_logloss"
        booster = lgb.train(
            params,
            train,
            num_boost_round=self.n_estimators,
            valid_sets=valid_sets,
            valid_names=["valid"] if valid_sets else None,
            callbacks=callbacks,
        )
        best = booster.best_iteration if valid_sets and self.early_stopping_rounds else 0
        self.best_iteration_ = int(best) if best and best > 0 else booster.current_iteration()
        # Keep only the trees that are used, so the saved model, its predictions and its SHAP agree.
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=self.best_iteration_))
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "booster_")

    # -- predict -----------------------------------------------------------------------------------------
    def decision_function(self, X: pl.DataFrame) -> np.ndarray:
        """Raw score in log-odds (before calibration)."""
        check_is_fitted(self)
        return np.asarray(self.booster_.predict(self._matrix(X), raw_score=True), dtype=np.float64)

    def predict_proba(self, X: pl.DataFrame) -> np.ndarray:
        """Uncalibrated class probabilities, shape (n, 2)."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pl.DataFrame) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(np.int64)

    def explain(self, X: pl.DataFrame, *, dedup: bool = True) -> pl.DataFrame:
        """Exact TreeSHAP contributions in log-odds, one column per feature plus ``base_value``.

        Every row sums to ``decision_function``. ``dedup`` explains each distinct feature vector once and
        copies the result to its duplicates (entities with the same profile get the same explanation): the
        values are identical, the work shrinks with the number of distinct profiles.
        """
        check_is_fitted(self)
        matrix = self._matrix(X)
        columns = [*map(str, self.feature_names_in_), BASE_VALUE]
        if matrix.shape[0] == 0:
            return pl.DataFrame(schema=dict.fromkeys(columns, pl.Float64))
        if dedup and matrix.shape[0] > 1:
            # NaN != NaN, so compare bit patterns: rows with the same missing cells are the same vector.
            keyed = np.ascontiguousarray(matrix).view(
                np.dtype((np.void, matrix.dtype.itemsize * matrix.shape[1]))
            )
            _, first, inverse = np.unique(keyed.ravel(), return_index=True, return_inverse=True)
            contrib = np.asarray(self.booster_.predict(matrix[first], pred_contrib=True))[inverse.ravel()]
        else:
            contrib = np.asarray(self.booster_.predict(matrix, pred_contrib=True))
        return pl.DataFrame(contrib, schema=columns, orient="row")

    def model_string(self) -> str:
        """LightGBM's text form of the fitted trees (what determinism tests compare byte for byte)."""
        check_is_fitted(self)
        return str(self.booster_.model_to_string())

    # -- persistence (used by models.risk_model) -----------------------------------------------------------
    def state(self) -> dict[str, Any]:
        check_is_fitted(self)
        return {
            "params": {
                k: (dict(v) if isinstance(v, Mapping) else list(v) if isinstance(v, tuple | list) else v)
                for k, v in self.get_params().items()
            },
            "feature_names_in": list(map(str, self.feature_names_in_)),
            "categories": self.categories_,
            "best_iteration": self.best_iteration_,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], model_str: str) -> RiskClassifier:
        params = dict(state["params"])
        params["categorical_features"] = tuple(params.get("categorical_features") or ())
        est = cls(**params)
        est.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
        est.n_features_in_ = len(est.feature_names_in_)
        est.categories_ = {k: list(v) for k, v in state["categories"].items()}
        est.best_iteration_ = int(state["best_iteration"])
        est.classes_ = np.array([0, 1])
        est.booster_ = lgb.Booster(model_str=model_str)
        return est


def _labels(y: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(y.to_numpy() if isinstance(y, pl.Series) else y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{what} must be 1-D with {n} values, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not np.isin(arr, (0, 1)).all():
        bad = int(np.flatnonzero(~np.isin(arr, (0, 1)))[0])
        raise ValueError(f"{what} must be binary 0/1; row {bad} has {arr[bad]!r}")
    return arr.astype(np.float64)


def _weights(w: Any, n: int, what: str) -> np.ndarray | None:
    if w is None:
        return None
    arr = np.asarray(w.to_numpy() if isinstance(w, pl.Series) else w, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{what} must be 1-D with {n} values, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
    if bad.size:
        raise ValueError(f"{what} must be finite and >= 0; row {int(bad[0])} has {arr[bad[0]]!r}")
    return arr
