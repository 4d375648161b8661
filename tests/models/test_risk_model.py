"""RiskModel: score table, override reasons first, explain_one adds up, save/load gives the same scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.calibration import ProbabilityCalibrator
from models.estimator import RiskClassifier
from models.explain import directions
from models.risk_model import RiskModel
from models.tiers import Condition, Override, TierPolicy
from tests.models.factories import CATEGORICAL, FEATURES, INFOS, labelled_frame

SEVERE = Override(
    "severe",
    (Condition("severe_dishonesty_active", ">", 0),),
    "D",
    "列入严重失信主体名单",
    "on the severe dishonesty list",
)


@pytest.fixture(scope="module")
def model() -> RiskModel:
    frame = labelled_frame(3000, seed=8)
    fit, hold = frame[:2000], frame[2000:]
    est = RiskClassifier(
        n_estimators=30,
        num_leaves=7,
        monotone_constraints=directions(INFOS),
        categorical_features=tuple(CATEGORICAL),
    ).fit(fit.select(FEATURES), fit["violation_found"])
    cal = ProbabilityCalibrator().fit(est.decision_function(hold.select(FEATURES)), hold["violation_found"])
    policy = TierPolicy(overrides=(SEVERE,)).fit(cal.predict(est.decision_function(hold.select(FEATURES))))
    return RiskModel(est, cal, policy, INFOS, {"trained_on": "factory"})


def test_score_table(model: RiskModel) -> None:
    X = labelled_frame(200, seed=9).with_columns(pl.lit(None, pl.Date).alias("as_of"))
    out = model.score(X)
    assert out.columns[:2] == ["uscc", "as_of"]
    assert {"raw_score", "probability", "model_tier", "tier", "override", "expected_rate", "reasons"} <= set(
        out.columns
    )
    listed = out.filter(pl.col("override") == "severe")
    assert listed.height and (listed["tier"] == "D").all()
    assert listed["reasons"][0][0]["zh"].startswith("列入严重失信主体名单")
    plain = out.filter(pl.col("override").is_null() & (pl.col("reasons").list.len() > 0)).row(0, named=True)
    top = plain["reasons"][0]
    value = X.filter(pl.col("uscc") == plain["uscc"]).row(0, named=True)[top["feature"]]
    assert top["contribution"] > 0 and top["value"] in top["zh"] and str(value).split(".")[0] in top["value"]


def test_explain_one_adds_up(model: RiskModel) -> None:
    X = labelled_frame(5, seed=10).head(1)
    one = model.explain_one(X)
    total = one.base_value + sum(c.contribution for c in one.contributions)
    assert total == pytest.approx(one.score.raw_score, abs=1e-9)
    assert sum(one.dimensions.values()) + one.base_value == pytest.approx(one.score.raw_score, abs=1e-9)
    sizes = [abs(c.contribution) for c in one.contributions]
    assert sizes == sorted(sizes, reverse=True)  # largest first
    assert one.score == model.score_each(X, reasons=5)[0]  # the same score as the table's row
    with pytest.raises(ValueError, match="exactly one row"):
        model.explain_one(labelled_frame(5, seed=10))


def test_score_each_is_the_score_table_row_by_row(model: RiskModel) -> None:
    X = labelled_frame(50, seed=12)
    table = model.score(X)
    each = model.score_each(X)
    assert [e.uscc for e in each] == table["uscc"].to_list()
    assert [e.probability for e in each] == table["probability"].to_list()
    assert [e.tier for e in each] == table["tier"].to_list()
    listed = next(e for e in each if e.override == "severe")
    assert listed.tier == "D" and listed.reasons[0].dimension == "policy"
    assert listed.reasons[0].contribution is None and listed.reasons_zh is not None
    assert listed.reasons_zh.startswith("列入严重失信主体名单")


def test_save_load_same_scores(model: RiskModel, tmp_path: Path) -> None:
    X = labelled_frame(300, seed=11)
    model.save(tmp_path / "m")
    again = RiskModel.load(tmp_path / "m")
    a, b = model.score(X), again.score(X)
    assert a.equals(b)
    assert again.metadata == {"trained_on": "factory"}
    np.testing.assert_array_equal(
        again.estimator.explain(X).to_numpy(), model.estimator.explain(X).to_numpy()
    )
    assert (tmp_path / "m" / "model.txt").read_text() == model.estimator.model_string()
