"""RiskClassifier: scikit-learn estimator around LightGBM; polars frame in, probabilities, log-odds, SHAP out.

Categorical features: pass their names in ``categorical_features``. Integer-coded columns are used as they
are (preferred: codes are stable across data sets); String/Categorical/Enum columns are mapped to integer
codes learned in ``fit`` (sorted values → 0..n-1; unseen values become missing). LightGBM then splits on
them natively. Explanations come from LightGBM's own exact TreeSHAP (``pred_contrib``): shap's own
TreeSHAP is wrong on LightGBM categorical splits (ecosystem-notes), LightGBM's is exact for every split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar, Protocol

import lightgbm as lgb
import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, Options
from sklearn.utils.validation import check_is_fitted

from models.explain import BASE_VALUE

_NUMERIC: tuple[type[pl.DataType], ...] = (pl.Float64, pl.Float32, pl.Int64, pl.Int32, pl.Int16, pl.Int8)
_NUMERIC += (pl.UInt64, pl.UInt32, pl.UInt16, pl.UInt8, pl.Boolean)
_SMALL = 16  # rows up to which the feature matrix is built in plain Python (see RiskClassifier._small_matrix)
_TEXTUAL = (pl.String, pl.Categorical, pl.Enum)

Rows = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # feature matrix, 0/1 labels, weights (or None)


class BoosterTrainer(Protocol):
    """Trains the booster of :meth:`RiskClassifier.fit` somewhere other than this process (e.g.
    ``training.distributed``: ``lightgbm.dask`` on a Dask cluster) from the LightGBM parameters and the rows
    the in-process ``lgb.train`` would get, with the same early stopping on ``valid``. Returns the booster and
    its best iteration (0: early stopping did not apply)."""

    def __call__(
        self,
        params: dict[str, Any],
        train: Rows,
        valid: Rows | None,
        *,
        feature_name: list[str],
        categorical_feature: list[str],
        num_boost_round: int,
        early_stopping_rounds: int | None,
    ) -> tuple[lgb.Booster, int]: ...


class RiskClassifier(ClassifierMixin, BaseEstimator):
    """Binary LightGBM classifier with polars input, monotone constraints, early stopping and exact SHAP.

    Parameters follow LightGBM's names. ``monotone_constraints`` maps feature name → -1/0/+1 (see
    ``models.explain.directions``); ``early_stopping_rounds`` applies when ``fit`` gets an ``eval_set``;
    ``deterministic`` and a fixed ``num_threads`` make the model string byte-identical across runs.
    """

    # Checked by ``fit`` the scikit-learn way: a value outside these raises InvalidParameterError naming the
    # parameter and what it accepts, where LightGBM would abort in C++ naming its own alias. The bounds are
    # LightGBM's, narrowed to one spelling of "no limit" / "off" (max_depth -1, early_stopping_rounds None)
    # and to a 32-bit seed (a larger one silently wraps around to another seed). Rules that need the data
    # (monotone and categorical names are columns of X) are checked in ``_check_params_against``.
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "num_leaves": [Interval(Integral, 2, 131_072, closed="both")],
        "max_depth": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],  # -1: no limit
        "min_child_samples": [Interval(Integral, 0, None, closed="left")],
        "min_child_weight": [Interval(Real, 0, None, closed="left")],
        "subsample": [Interval(Real, 0, 1, closed="right")],
        "subsample_freq": [Interval(Integral, 0, None, closed="left")],
        "colsample_bytree": [Interval(Real, 0, 1, closed="right")],
        "reg_alpha": [Interval(Real, 0, None, closed="left")],
        "reg_lambda": [Interval(Real, 0, None, closed="left")],
        "max_bin": [Interval(Integral, 2, None, closed="left")],
        "monotone_constraints": [Mapping, None],
        "categorical_features": ["array-like"],
        "early_stopping_rounds": [Interval(Integral, 1, None, closed="left"), None],  # None: no early stop
        "deterministic": ["boolean"],
        # a fixed count (determinism): LightGBM's 0 means OpenMP's default, which differs between machines
        "num_threads": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, -(2**31), 2**31 - 1, closed="both")],
    }

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
    def _check_params_against(self, features: Sequence[str]) -> None:
        """The parameter rules that need the columns of X (the rest are ``_parameter_constraints``)."""
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
        schema = X.schema  # once: each `X.schema` builds a new Schema (measured: most of a one-row call)
        missing = [c for c in names if c not in schema]
        if missing:
            raise ValueError(f"X lacks the model's feature columns {missing} (fitted on {names})")
        for c in names:
            if c not in self.categories_ and not isinstance(schema[c], _NUMERIC):
                raise ValueError(
                    f"column {c!r} has dtype {schema[c]}; the model was fitted on a numeric column"
                )
        if not self.categories_:
            if X.height == 1:
                # One entity on demand: a tuple → numpy is several times cheaper than a frame conversion.
                return np.array([X.select(names).row(0)], dtype=np.float64)
            return X.select(names).cast(pl.Float64).to_numpy().astype(np.float64, copy=False)
        if X.height <= _SMALL and all(isinstance(schema[c], _TEXTUAL) for c in self.categories_):
            return self._small_matrix(X, names)
        exprs = []
        for c in names:
            if c in self.categories_:
                mapping = {v: float(i) for i, v in enumerate(self.categories_[c])}
                exprs.append(
                    pl.col(c).cast(pl.String).replace_strict(mapping, default=None, return_dtype=pl.Float64)
                )
            else:
                exprs.append(pl.col(c).cast(pl.Float64))
        return X.select(exprs).to_numpy().astype(np.float64, copy=False)

    def _small_matrix(self, X: pl.DataFrame, names: list[str]) -> np.ndarray:
        """A few rows (one entity on demand) in plain Python: the polars query of the general path costs
        more than the explanation itself for one row (43% of an explanation's CPU, bench serve). Same
        result as the query: a category's index, an unseen or missing value NaN, numbers as float64."""
        codes = {c: {v: float(i) for i, v in enumerate(self.categories_[c])} for c in self.categories_}
        nan = float("nan")
        out = np.empty((X.height, len(names)), dtype=np.float64)
        for i, row in enumerate(X.select(names).iter_rows()):
            out[i] = [
                (codes[c].get(v, nan) if v is not None else nan)
                if c in codes
                else (nan if v is None else float(v))
                for c, v in zip(names, row, strict=True)
            ]
        return out

    def _threads(self, rows: int) -> int:
        # Small batches on one thread: OpenMP start-up costs more than it saves (and a busy machine makes
        # it worse: 20 ms instead of 0.03 ms for one row measured here).
        return 1 if rows < 10_000 else self.num_threads

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
            # "intermediate", not "advanced": "advanced" can break the constraint it is given (LightGBM
            # issues #5358, #6155; seen here: a repaired listing raised a score, issue 12). The score's
            # guarantee that a decision in an entity's favour never raises it rests on this (docs/model.md).
            params["monotone_constraints_method"] = "intermediate"
        return params

    # -- fit ---------------------------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: pl.DataFrame,
        y: Any,
        sample_weight: Any = None,
        *,
        eval_set: tuple[Any, ...] | None = None,
        trainer: BoosterTrainer | None = None,
    ) -> RiskClassifier:
        """Fit on ``X`` (polars) and binary ``y``; ``eval_set=(X_val, y_val[, w_val])`` turns on early
        stopping. ``trainer``: the booster is trained by it (a Dask cluster) instead of in this process."""
        self._learn_columns(X)
        self._check_params_against(list(X.columns))
        label = _labels(y, X.height, "y")
        weight = _weights(sample_weight, X.height, "sample_weight")
        self.classes_ = np.array([0, 1])
        cat_names = [c for c in self.feature_names_in_ if c in set(self.categorical_features)]
        if trainer is not None:
            return self._fit_with(trainer, X, label, weight, eval_set, cat_names)
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
            if self.early_stopping_rounds is not None:
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
        best = booster.best_iteration if valid_sets and self.early_stopping_rounds is not None else 0
        self.best_iteration_ = int(best) if best and best > 0 else booster.current_iteration()
        # Keep only the trees that are used, so the saved model, its predictions and its SHAP agree.
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=self.best_iteration_))
        return self

    def _fit_with(
        self,
        trainer: BoosterTrainer,
        X: pl.DataFrame,
        label: np.ndarray,
        weight: np.ndarray | None,
        eval_set: tuple[Any, ...] | None,
        cat_names: list[str],
    ) -> RiskClassifier:
        """``fit``'s booster from ``trainer``: the same matrices, parameters, early stopping and trimming."""
        valid: Rows | None = None
        if eval_set is not None:
            if len(eval_set) not in (2, 3):
                raise ValueError("eval_set must be (X_val, y_val) or (X_val, y_val, w_val)")
            Xv, yv = eval_set[0], eval_set[1]
            wv = eval_set[2] if len(eval_set) == 3 else None
            valid = (
                self._matrix(Xv),
                _labels(yv, Xv.height, "eval_set y"),
                _weights(wv, Xv.height, "eval_set weight"),
            )
        params = self._params()
        params["metric"] = "binary_logloss"
        stopping = self.early_stopping_rounds if valid is not None else None
        booster, best = trainer(
            params,
            (self._matrix(X), label, weight),
            valid,
            feature_name=list(map(str, self.feature_names_in_)),
            categorical_feature=cat_names,
            num_boost_round=self.n_estimators,
            early_stopping_rounds=stopping,
        )
        best = best if stopping is not None else 0
        self.best_iteration_ = int(best) if best and best > 0 else booster.current_iteration()
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=self.best_iteration_))
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "booster_")

    # -- predict -----------------------------------------------------------------------------------------
    def decision_function(self, X: pl.DataFrame) -> np.ndarray:
        """Raw score in log-odds (before calibration)."""
        check_is_fitted(self)
        matrix = self._matrix(X)
        raw = self.booster_.predict(matrix, raw_score=True, num_threads=self._threads(matrix.shape[0]))
        return np.asarray(raw, dtype=np.float64)

    def predict_proba(self, X: pl.DataFrame) -> np.ndarray:
        """Uncalibrated class probabilities, shape (n, 2)."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pl.DataFrame) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(np.int64)

    def explain(self, X: pl.DataFrame, *, dedup: bool = True) -> pl.DataFrame:
        """Exact TreeSHAP contributions in log-odds, one column per feature plus ``base_value``.

        Every row sums to ``decision_function``. ``dedup`` explains each distinct *decision pattern* once
        and copies the result to the rows that share it: TreeSHAP (path-dependent) depends on a row only
        through the side it takes at every split, so two rows whose values fall between the same split
        thresholds of every feature (and agree on categorical and missing values) get identical values.
        Features the trees never split on do not count at all. The values are bit-identical to explaining
        every row; the work shrinks to the number of distinct patterns.
        """
        check_is_fitted(self)
        matrix = self._matrix(X)
        columns = [*map(str, self.feature_names_in_), BASE_VALUE]
        if matrix.shape[0] == 0:
            return pl.DataFrame(schema=dict.fromkeys(columns, pl.Float64))
        if dedup and matrix.shape[0] > 1:
            keys = self._decision_keys(matrix)
            packed = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1])))
            _, first, inverse = np.unique(packed.ravel(), return_index=True, return_inverse=True)
            explained = self.booster_.predict(
                matrix[first], pred_contrib=True, num_threads=self._threads(first.size)
            )
            contrib = np.asarray(explained)[inverse.ravel()]
        else:
            explained = self.booster_.predict(
                matrix, pred_contrib=True, num_threads=self._threads(matrix.shape[0])
            )
            contrib = np.asarray(explained)
        return pl.DataFrame(contrib, schema=columns, orient="row")

    def explain_batch(self, X: pl.DataFrame) -> pl.DataFrame:
        """``explain`` for large batches: each tree explains each distinct decision pattern once.

        Path-dependent TreeSHAP of one tree depends on a row only through the side it takes at that tree's
        own splits (at most ``num_leaves - 1`` bits), and SHAP values add over trees. So per tree the rows
        are grouped by that bit pattern (a few hundred groups instead of a million rows), LightGBM explains
        one representative per group with that tree alone, and the result is added to the rows of the
        group — only in the columns the tree uses. Equal to ``explain`` up to float summation order
        (differences ~1e-15); bench/model.py measures the speed-up.
        """
        check_is_fitted(self)
        matrix = self._matrix(X)
        n, width = matrix.shape
        out = np.zeros((n, width + 1), dtype=np.float64)
        if n == 0:
            return pl.DataFrame(out, schema=[*map(str, self.feature_names_in_), BASE_VALUE], orient="row")
        for t, splits in enumerate(self._tree_splits()):
            if not splits:  # a single-leaf tree: only the base value moves
                one = self.booster_.predict(
                    matrix[:1], start_iteration=t, num_iteration=1, pred_contrib=True, num_threads=1
                )
                out[:, width] += float(np.asarray(one)[0, width])
                continue
            code = np.zeros(n, dtype=np.int64)
            for bit, (f, threshold, default_left, missing, categories) in enumerate(splits):
                col = matrix[:, f]
                if categories is not None:
                    left = np.isin(col, categories)  # LightGBM sends NaN and negative codes right
                elif missing == "NaN":
                    left = np.where(np.isnan(col), default_left, col <= threshold)
                elif missing == "Zero":
                    absent = np.isnan(col) | (np.abs(col) <= 1e-35)
                    left = np.where(absent, default_left, col <= threshold)
                else:  # "None": LightGBM reads NaN as 0
                    left = np.nan_to_num(col, nan=0.0) <= threshold
                code |= left.astype(np.int64) << bit
            first, inverse = _groups(code, len(splits))
            phi = np.asarray(
                self.booster_.predict(
                    matrix[first],
                    start_iteration=t,
                    num_iteration=1,
                    pred_contrib=True,
                    num_threads=self._threads(first.size),
                )
            )
            used = [*sorted({sp[0] for sp in splits}), width]
            out[:, used] += phi[:, used][inverse]
        return pl.DataFrame(out, schema=[*map(str, self.feature_names_in_), BASE_VALUE], orient="row")

    def _tree_splits(self) -> list[list[tuple[int, float, bool, str, np.ndarray | None]]]:
        """Per tree its splits: (feature, threshold, missing goes left, missing type, categories going
        left)."""
        cached = getattr(self, "_tree_splits_cache", None)
        if cached is not None and cached[0] is self.booster_:
            return cached[1]
        trees = []
        for info in self.booster_.dump_model()["tree_info"]:
            splits = []
            stack = [info["tree_structure"]]
            while stack:
                node = stack.pop()
                if "split_index" not in node:
                    continue
                cats = None
                if node["decision_type"] == "==":
                    cats = np.array([float(c) for c in str(node["threshold"]).split("||")])
                threshold = float(node["threshold"]) if cats is None else 0.0
                splits.append(
                    (
                        int(node["split_feature"]),
                        threshold,
                        bool(node["default_left"]),
                        str(node["missing_type"]),
                        cats,
                    )
                )
                stack += [node["left_child"], node["right_child"]]
            trees.append(splits)
        self._tree_splits_cache = (self.booster_, trees)
        return trees

    def _split_points(self) -> tuple[dict[int, np.ndarray], set[int]]:
        """Per numeric feature the sorted thresholds the trees use; the features split categorically."""
        cached = getattr(self, "_split_points_cache", None)
        if cached is not None and cached[0] is self.booster_:
            return cached[1], cached[2]
        thresholds: dict[int, set[float]] = {}
        categorical: set[int] = set()
        stack = [t["tree_structure"] for t in self.booster_.dump_model()["tree_info"]]
        while stack:
            node = stack.pop()
            if "split_index" not in node:
                continue
            f = int(node["split_feature"])
            if node["decision_type"] == "==":
                categorical.add(f)
            else:
                thresholds.setdefault(f, set()).add(float(node["threshold"]))
            stack += [node["left_child"], node["right_child"]]
        points = {f: np.array(sorted(v)) for f, v in thresholds.items() if f not in categorical}
        self._split_points_cache = (self.booster_, points, categorical)
        return points, categorical

    def _decision_keys(self, matrix: np.ndarray) -> np.ndarray:
        """Per row and feature: the interval between the model's thresholds (-1 = missing); raw codes for
        categorical splits; 0 for features no tree uses."""
        points, categorical = self._split_points()
        keys = np.zeros(matrix.shape, dtype=np.int64)
        for f in range(matrix.shape[1]):
            col = matrix[:, f]
            if f in categorical:
                keys[:, f] = np.where(np.isnan(col), -1, col).astype(np.int64)
            elif f in points:
                # x <= threshold goes left: rows with the same count of thresholds below them go the
                # same way at every split on this feature.
                keys[:, f] = np.where(np.isnan(col), -1, np.searchsorted(points[f], col, side="left"))
        return keys

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


def _groups(code: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """For integer codes: the first row of each distinct code (ascending codes) and each row's group.

    Codes of up to 22 bits use a lookup table (linear time); wider ones fall back to sorting.
    """
    if bits > 22:
        _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        return first, inverse.ravel()
    size = 1 << bits
    rows = np.arange(code.size)
    first_at = np.full(size, code.size, dtype=np.int64)
    first_at[code[::-1]] = rows[::-1]  # later writes win: reversed, the first occurrence is written last
    present = np.flatnonzero(first_at < code.size)
    lookup = np.empty(size, dtype=np.int64)
    lookup[present] = np.arange(present.size)
    return first_at[present], lookup[code]


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
