"""RiskClassifier follows scikit-learn's rules, enforces its columns and is byte-for-byte deterministic."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import (
    check_estimator_cloneable,
    check_estimator_repr,
    check_get_params_invariance,
    check_mixin_order,
    check_no_attributes_set_in_init,
    check_param_validation,
    check_parameters_default_constructible,
    check_set_params,
)

from models.estimator import RiskClassifier
from models.explain import directions
from tests.models.factories import CATEGORICAL, FEATURES, INFOS, labelled_frame


def _small(**kw: object) -> RiskClassifier:
    params = {"n_estimators": 30, "num_leaves": 7, "min_child_samples": 20, "early_stopping_rounds": 10}
    params.update(kw)
    return RiskClassifier(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def data() -> pl.DataFrame:
    return labelled_frame(2000, seed=1)


def test_get_params_and_clone_keep_arguments() -> None:
    est = _small(
        monotone_constraints={"age_days": -1}, categorical_features=("entity_type_code",), random_state=7
    )
    params = est.get_params()
    assert params["random_state"] == 7 and params["monotone_constraints"] == {"age_days": -1}
    twin = clone(est)
    assert twin is not est and twin.get_params() == params
    assert not hasattr(twin, "booster_")


@pytest.mark.parametrize(
    "check",
    [
        check_param_validation,
        check_parameters_default_constructible,
        check_no_attributes_set_in_init,
        check_get_params_invariance,
        check_set_params,
        check_estimator_cloneable,
        check_estimator_repr,
        check_mixin_order,
    ],
    ids=lambda check: check.__name__,
)
def test_scikit_learn_api_checks(check: Callable[[str, Any], None]) -> None:
    # The checks that do not fit on numpy arrays (fitting needs a polars frame with named columns);
    # check_param_validation also requires a constraint for every parameter of __init__.
    check("RiskClassifier", RiskClassifier())


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("n_estimators", 0, "an int in the range [1, inf)"),
        ("n_estimators", 10.0, "an int in the range [1, inf)"),
        ("learning_rate", 0.0, "a float in the range (0.0, inf)"),
        ("learning_rate", float("nan"), "a float in the range (0.0, inf)"),
        ("num_leaves", 1, "an int in the range [2, 131072]"),
        ("max_depth", 0, "an int in the range [1, inf) or a int among {-1}"),
        ("min_child_samples", -1, "an int in the range [0, inf)"),
        ("min_child_weight", -0.1, "a float in the range [0.0, inf)"),
        ("subsample", 0.0, "a float in the range (0.0, 1.0]"),
        ("subsample_freq", -1, "an int in the range [0, inf)"),
        ("colsample_bytree", 1.5, "a float in the range (0.0, 1.0]"),
        ("reg_alpha", -1.0, "a float in the range [0.0, inf)"),
        ("reg_lambda", float("inf"), "a float in the range [0.0, inf)"),
        ("max_bin", 1, "an int in the range [2, inf)"),
        ("monotone_constraints", [("age_days", -1)], "an instance of 'collections.abc.Mapping' or None"),
        ("categorical_features", "entity_type_code", "an array-like"),
        ("early_stopping_rounds", 0, "an int in the range [1, inf) or None"),
        ("deterministic", "yes", "an instance of 'bool' or an instance of 'numpy.bool'"),
        ("num_threads", 0, "an int in the range [1, inf)"),
        ("random_state", 2**31, "an int in the range [-2147483648, 2147483647]"),
    ],
)
def test_a_bad_parameter_is_refused_naming_it_and_what_it_accepts(
    data: pl.DataFrame, name: str, value: object, allowed: str
) -> None:
    est = _small(**{name: value})
    message = f"The {name!r} parameter of RiskClassifier must be {allowed}. Got {value!r} instead."
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        est.fit(data.select(FEATURES), data["violation_found"])
    assert not hasattr(est, "booster_")


def test_fit_returns_self_and_not_fitted_error(data: pl.DataFrame) -> None:
    est = _small()
    with pytest.raises(NotFittedError):
        est.predict_proba(data.select(FEATURES))
    assert est.fit(data.select(FEATURES), data["violation_found"]) is est
    proba = est.predict_proba(data.select(FEATURES))
    assert proba.shape == (data.height, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(est.feature_names_in_) == FEATURES and est.n_features_in_ == len(FEATURES)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learns_signal_under_several_seeds(seed: int) -> None:
    frame = labelled_frame(3000, seed=seed)
    train, test = frame[:2000], frame[2000:]
    est = _small(
        random_state=seed, n_estimators=80, learning_rate=0.1, monotone_constraints=directions(INFOS)
    )
    est.fit(
        train.select(FEATURES),
        train["violation_found"],
        eval_set=(test.select(FEATURES), test["violation_found"]),
    )
    from sklearn.metrics import roc_auc_score

    # Close to the oracle (the true probabilities the outcomes were drawn from) on the same rows.
    oracle = roc_auc_score(test["violation_found"], test["true_probability"])
    assert (
        roc_auc_score(test["violation_found"], est.decision_function(test.select(FEATURES))) > oracle - 0.07
    )  # 1000 rows: AUC noise ~0.03
    assert 1 <= est.best_iteration_ <= 80


def test_column_order_does_not_matter_but_names_do(data: pl.DataFrame) -> None:
    est = _small().fit(data.select(FEATURES), data["violation_found"])
    shuffled = data.select(FEATURES[::-1])
    np.testing.assert_array_equal(
        est.decision_function(shuffled), est.decision_function(data.select(FEATURES))
    )
    with pytest.raises(ValueError, match="age_days"):
        est.decision_function(data.select([c for c in FEATURES if c != "age_days"]))
    with pytest.raises(ValueError, match="dtype"):
        est.decision_function(data.select(FEATURES).with_columns(pl.col("noise").cast(pl.String)))
    with pytest.raises(TypeError, match="polars"):
        est.decision_function(data.select(FEATURES).to_numpy())  # type: ignore[arg-type]


def test_bad_input_names_the_row_or_parameter(data: pl.DataFrame) -> None:
    X = data.select(FEATURES)
    y = data["violation_found"].to_numpy().copy()
    y[5] = 2
    with pytest.raises(ValueError, match="row 5"):
        _small().fit(X, y)
    w = np.ones(X.height)
    w[3] = -1
    with pytest.raises(ValueError, match="row 3"):
        _small().fit(X, data["violation_found"], w)
    with pytest.raises(ValueError, match="monotone_constraints"):
        _small(monotone_constraints={"nope": 1}).fit(X, data["violation_found"])
    with pytest.raises(ValueError, match="num_threads"):
        _small(num_threads=0).fit(X, data["violation_found"])


def test_deterministic_model_string(data: pl.DataFrame) -> None:
    def fit() -> str:
        est = _small(
            subsample=0.7,
            subsample_freq=1,
            colsample_bytree=0.7,
            monotone_constraints=directions(INFOS),
            categorical_features=tuple(CATEGORICAL),
            num_threads=2,
            random_state=3,
        )
        return est.fit(data.select(FEATURES), data["violation_found"]).model_string()

    assert fit() == fit()


def test_string_categorical_is_coded_and_unseen_is_missing(data: pl.DataFrame) -> None:
    X = data.select(FEATURES).with_columns(
        pl.col("entity_type_code").cast(pl.String).alias("entity_type_code")
    )
    est = _small(categorical_features=("entity_type_code",)).fit(X, data["violation_found"])
    assert est.categories_["entity_type_code"] == ["1", "2", "3"]
    unseen = X.head(3).with_columns(pl.lit("9").alias("entity_type_code"))
    assert np.isfinite(est.decision_function(unseen)).all()


def test_a_few_rows_give_the_same_matrix_as_the_frame_path(data: pl.DataFrame) -> None:
    X = data.select(FEATURES).with_columns(pl.col("entity_type_code").cast(pl.String))
    est = _small(categorical_features=("entity_type_code",)).fit(X, data["violation_found"])
    rows = X.head(12).with_columns(
        # a missing number, a missing category and an unseen one
        pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col(FEATURES[0])).alias(FEATURES[0]),
        pl.when(pl.int_range(pl.len()) == 2)
        .then(None)
        .when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("9"))
        .otherwise(pl.col("entity_type_code"))
        .alias("entity_type_code"),
    )
    wide = pl.concat([rows] * 2)  # 24 rows: above the small-batch size, so the polars query path
    fast, general = est._matrix(rows), est._matrix(wide)[: rows.height]
    np.testing.assert_array_equal(fast, general)  # NaN where NaN, codes and numbers identical
    assert np.isnan(fast[1, 0]) and np.isnan(fast[2, list(FEATURES).index("entity_type_code")])
    assert np.isnan(fast[3, list(FEATURES).index("entity_type_code")])
    np.testing.assert_array_equal(est.decision_function(rows.head(1)), est.decision_function(wide)[:1])
