"""Behavioural tests on a tiny model: invariance, directional (monotone constraints) and minimum
functionality."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.estimator import RiskClassifier
from models.explain import directions
from tests.models.factories import CATEGORICAL, FEATURES, INFOS, labelled_frame


@pytest.fixture(scope="module")
def model() -> RiskClassifier:
    frame = labelled_frame(3000, seed=4)
    return RiskClassifier(
        n_estimators=40,
        num_leaves=7,
        monotone_constraints=directions(INFOS),
        categorical_features=tuple(CATEGORICAL),
    ).fit(frame.select(FEATURES), frame["violation_found"])


@pytest.fixture(scope="module")
def probe() -> pl.DataFrame:
    return labelled_frame(300, seed=9).select(FEATURES)


def test_invariance_to_columns_outside_the_model(model: RiskClassifier, probe: pl.DataFrame) -> None:
    extra = probe.with_columns(pl.lit("x").alias("name"), pl.lit(1).alias("row_number"))
    np.testing.assert_array_equal(model.decision_function(extra), model.decision_function(probe))


@pytest.mark.parametrize(
    ("feature", "sign"), [("penalties_n_365d", 1), ("severe_dishonesty_active", 1), ("age_days", -1)]
)
def test_directional_never_against_the_catalog(
    model: RiskClassifier, probe: pl.DataFrame, feature: str, sign: int
) -> None:
    before = model.decision_function(probe)
    bumped = probe.with_columns(
        (pl.col(feature) + (1 if feature != "age_days" else 2000)).cast(probe.schema[feature])
    )
    after = model.decision_function(bumped)
    assert (sign * (after - before) >= -1e-12).all()
    assert (sign * (after - before)).max() > 0  # and the feature matters at all


def test_minimum_functionality_obvious_cases(model: RiskClassifier, probe: pl.DataFrame) -> None:
    base = probe.head(1)
    clean = base.with_columns(
        pl.lit(0, pl.Int64).alias("penalties_n_365d"),
        pl.lit(0.0).alias("fines_sum_365d"),
        pl.lit(0, pl.Int8).alias("severe_dishonesty_active"),
        pl.lit(7000, pl.Int64).alias("age_days"),
    )
    bad = base.with_columns(
        pl.lit(5, pl.Int64).alias("penalties_n_365d"),
        pl.lit(20000.0).alias("fines_sum_365d"),
        pl.lit(1, pl.Int8).alias("severe_dishonesty_active"),
        pl.lit(100, pl.Int64).alias("age_days"),
    )
    p_clean = model.predict_proba(clean)[0, 1]
    p_bad = model.predict_proba(bad)[0, 1]
    assert p_clean < 0.1 < 0.4 < p_bad
