"""SHAP: additivity, agreement with shap.TreeExplainer, dimension sums, reasons with the entity's own
values."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.estimator import RiskClassifier
from models.explain import (
    BASE_VALUE,
    FeatureInfo,
    dimension_sums,
    fill_template,
    format_value,
    info_index,
    top_reasons,
)
from tests.models.factories import CATEGORICAL, FEATURES, INFOS, labelled_frame

NUMERIC = [f for f in FEATURES if f not in CATEGORICAL]


@pytest.fixture(scope="module")
def data() -> pl.DataFrame:
    return labelled_frame(1500, seed=2)


@pytest.fixture(scope="module")
def model(data: pl.DataFrame) -> RiskClassifier:
    return RiskClassifier(n_estimators=25, num_leaves=7, categorical_features=tuple(CATEGORICAL)).fit(
        data.select(FEATURES), data["violation_found"]
    )


def test_contributions_sum_to_the_raw_score(model: RiskClassifier, data: pl.DataFrame) -> None:
    X = data.select(FEATURES)
    contrib = model.explain(X)
    assert contrib.columns == [*FEATURES, BASE_VALUE]
    np.testing.assert_allclose(contrib.to_numpy().sum(axis=1), model.decision_function(X), rtol=0, atol=1e-9)


def test_dedup_gives_identical_values(model: RiskClassifier, data: pl.DataFrame) -> None:
    X = pl.concat([data.select(FEATURES).head(50)] * 4).with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("noise")).alias("noise")
    )
    a = model.explain(X, dedup=True).to_numpy()
    b = model.explain(X, dedup=False).to_numpy()
    assert np.array_equal(a, b)


def test_agrees_with_shap_tree_explainer_on_numeric_features(data: pl.DataFrame) -> None:
    shap = pytest.importorskip("shap")
    X = data.select(NUMERIC)
    est = RiskClassifier(n_estimators=25, num_leaves=7).fit(X, data["violation_found"])
    rows = X.head(200).to_numpy()
    ours = est.explain(X.head(200)).to_numpy()
    explainer = shap.TreeExplainer(est.booster_)
    # For a LightGBM booster shap delegates to pred_contrib; force its own TreeSHAP on the parsed trees so
    # the check is independent of LightGBM's implementation (fine on numeric splits, see ecosystem-notes).
    explainer.model.model_type = "internal"
    explained = explainer(rows)
    np.testing.assert_allclose(ours[:, :-1], explained.values, atol=1e-9)
    np.testing.assert_allclose(ours[:, -1], explained.base_values, atol=1e-9)


def test_dimension_sums_add_up(model: RiskClassifier, data: pl.DataFrame) -> None:
    contrib = model.explain(data.select(FEATURES).head(20))
    dims = dimension_sums(contrib, INFOS)
    assert set(dims.columns) == {"law_abiding", "qualifications", "supervision_risk", BASE_VALUE}
    law = contrib.select(pl.sum_horizontal("penalties_n_365d", "fines_sum_365d", "severe_dishonesty_active"))
    np.testing.assert_allclose(dims["law_abiding"].to_numpy(), law.to_series().to_numpy())
    np.testing.assert_allclose(dims.to_numpy().sum(axis=1), contrib.to_numpy().sum(axis=1), atol=1e-12)


def test_reason_sentences_carry_the_entity_value() -> None:
    values = {"penalties_n_365d": 2, "fines_sum_365d": 12500.0, "age_days": 400, "noise": 0.1}
    contrib = {
        "penalties_n_365d": 0.8,
        "fines_sum_365d": 0.3,
        "age_days": -0.5,
        "noise": 0.01,
        BASE_VALUE: -2.0,
    }
    reasons = top_reasons(values, contrib, INFOS, k=2)
    assert [r.feature for r in reasons] == ["penalties_n_365d", "fines_sum_365d"]
    assert reasons[0].zh == "近365天行政处罚2次 (+0.80)"
    assert reasons[0].en == "2 administrative penalties in the last 365 days (+0.80)"
    assert reasons[1].zh == "近365天罚没金额合计12,500元 (+0.30)"
    neg = top_reasons(values, contrib, INFOS, k=5, sign="negative")
    assert [r.feature for r in neg] == ["age_days"] and neg[0].en == "established 400 days ago (-0.50)"
    both = top_reasons(values, contrib, INFOS, k=2, sign="both")
    assert [r.feature for r in both] == ["penalties_n_365d", "age_days"]


def test_values_are_shown_as_people_read_them() -> None:
    assert format_value(3.0) == "3"
    assert format_value(0.125) == "0.12" or format_value(0.125) == "0.13"
    assert format_value(None) == "—"
    assert fill_template("比例为{value:.0%}", 0.25) == "比例为25%"
    assert fill_template("比例为{value:.0%}", None) == "比例为—"


def test_feature_info_rejects_bad_direction_and_template() -> None:
    with pytest.raises(ValueError, match="direction"):
        FeatureInfo("x", "x", "x", "law_abiding", 2)
    with pytest.raises(ValueError, match="template_zh"):
        FeatureInfo("x", "x", "x", "law_abiding", 1, "no field", "{value}")


def test_batch_explanation_equals_row_by_row(data: pl.DataFrame) -> None:
    # NaNs in a numeric column and unseen/missing categories exercise every missing-value rule.
    X = data.select(FEATURES).with_columns(
        pl.when(pl.int_range(pl.len()) % 5 == 0).then(None).otherwise(pl.col("noise")).alias("noise"),
        pl.when(pl.int_range(pl.len()) % 11 == 0)
        .then(None)
        .otherwise(pl.col("entity_type_code"))
        .alias("entity_type_code"),
    )
    est = RiskClassifier(n_estimators=30, num_leaves=15, categorical_features=tuple(CATEGORICAL)).fit(
        X, data["violation_found"]
    )
    batch = est.explain_batch(X).to_numpy()
    exact = est.explain(X, dedup=False).to_numpy()
    np.testing.assert_allclose(batch, exact, rtol=0, atol=1e-12)
    np.testing.assert_allclose(batch.sum(axis=1), est.decision_function(X), rtol=0, atol=1e-9)


def test_the_info_index_is_built_once_and_names_a_feature_without_info_plainly() -> None:
    index = info_index(INFOS)
    assert info_index(index) is index  # a batch passes its index down: not rebuilt per row
    assert index[INFOS[0].name] is INFOS[0]
    plain = index["unknown_feature"]
    assert (plain.zh, plain.dimension, plain.structural) == ("unknown_feature", "other", False)
    assert index["unknown_feature"] is plain  # made on first use, then kept
    reasons = top_reasons({"unknown_feature": 3}, {"unknown_feature": 0.5, BASE_VALUE: -2.0}, index, k=1)
    assert [(r.feature, r.zh) for r in reasons] == [("unknown_feature", "unknown_feature = 3 (+0.50)")]
