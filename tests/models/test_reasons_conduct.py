"""Reasons speak of conduct: a structural attribute (entity type, industry, division, capital, age) is never a
reason of its own, even when it is the strongest contribution; the structural attributes are summed into one
"baseline of similar entities" line (and one dimension), and a model saved before the flag existed loads."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from features.indicators import CATALOG
from models.calibration import ProbabilityCalibrator
from models.estimator import RiskClassifier
from models.explain import (
    BASE_VALUE,
    BASELINE,
    BASELINE_ZH,
    FeatureInfo,
    baseline_reason,
    dimension_sums,
    directions,
    score_reasons,
    top_reasons,
)
from models.risk_model import RiskModel
from models.tiers import TierPolicy
from tests.models.factories import CATEGORICAL, FEATURES, INFOS, labelled_frame
from training.run import catalog_feature_infos

STRUCTURAL = {"age_days", "entity_type_code"}  # the factory's structural attributes
# The factory's infos as the catalog flags them now, and as a model saved before the flag had them.
FLAGGED = [replace(i, structural=i.name in STRUCTURAL) for i in INFOS]


def _fit(infos: list[FeatureInfo]) -> RiskModel:
    frame = labelled_frame(3000, seed=8)
    fit, hold = frame[:2000], frame[2000:]
    est = RiskClassifier(
        n_estimators=30,
        num_leaves=7,
        monotone_constraints=directions(infos),
        categorical_features=tuple(CATEGORICAL),
    ).fit(fit.select(FEATURES), fit["violation_found"])
    cal = ProbabilityCalibrator().fit(est.decision_function(hold.select(FEATURES)), hold["violation_found"])
    policy = TierPolicy().fit(cal.predict(est.decision_function(hold.select(FEATURES))))
    return RiskModel(est, cal, policy, infos, {"trained_on": "factory"})


@pytest.fixture(scope="module")
def model() -> RiskModel:
    return _fit(FLAGGED)


@pytest.fixture(scope="module")
def structural_on_top(model: RiskModel) -> pl.DataFrame:
    """Entities whose strongest risk-raising SHAP contribution is a structural attribute."""
    X = labelled_frame(400, seed=9)
    contrib = model.estimator.explain(X.select(FEATURES))
    rows = []
    for i, row in enumerate(contrib.iter_rows(named=True)):
        top = max((c, f) for f, c in row.items() if f != BASE_VALUE)
        if top[0] > 0 and top[1] in STRUCTURAL:
            rows.append(i)
    assert len(rows) >= 5, "the factory should have entities whose top contribution is structural"
    return X[rows]


def test_the_catalog_flags_the_structural_attributes_and_training_carries_the_flag() -> None:
    flagged = {i.name for i in CATALOG if i.structural}
    expected = {"age_days", "entity_type_code", "industry_section_code", "division_code", "log_capital"}
    assert flagged == expected
    # The registration status is conduct (suspension, revocation follow from what the entity did).
    assert not next(i for i in CATALOG if i.name == "status_code").structural
    infos, _ = catalog_feature_infos(CATALOG)
    assert {i.name for i in infos if i.structural} == flagged


def test_a_structural_top_contributor_is_not_a_reason_but_one_baseline_line(
    model: RiskModel, structural_on_top: pl.DataFrame
) -> None:
    X = structural_on_top
    contrib = model.estimator.explain(X.select(FEATURES))
    table = model.score(X, reasons=3)
    for row, c in zip(table.iter_rows(named=True), contrib.iter_rows(named=True), strict=True):
        features = [r["feature"] for r in row["reasons"]]
        assert not STRUCTURAL & set(features), features
        assert features.count(BASELINE) == 1 and features[-1] == BASELINE
        baseline = row["reasons"][-1]
        assert baseline["dimension"] == BASELINE
        assert baseline["contribution"] == pytest.approx(sum(c[f] for f in STRUCTURAL), abs=1e-12)
        assert baseline["zh"].startswith(BASELINE_ZH) and "成立天数" in baseline["zh"]
        assert f"({baseline['contribution']:+.2f})" in baseline["zh"]
        # The conduct reasons before it are the strongest positive conduct contributions, in order.
        conduct = sorted(
            ((v, f) for f, v in c.items() if f != BASE_VALUE and f not in STRUCTURAL and v > 0), reverse=True
        )
        assert features[:-1] == [f for _, f in conduct[:3]]
        # The Chinese sentence the score files and the re-scores store says it once, last.
        assert row["reasons"][-1]["zh"] in "；".join(r["zh"] for r in row["reasons"])


def test_without_the_flag_the_structural_attribute_would_be_the_top_reason(
    structural_on_top: pl.DataFrame,
) -> None:
    # The same data with a model saved before the flag (every feature conduct): the attribute is reason 1.
    old = _fit(list(INFOS))
    first = [row["reasons"][0]["feature"] for row in old.score(structural_on_top).iter_rows(named=True)]
    assert set(first) & STRUCTURAL


def test_explain_one_and_dimension_sums_keep_structural_attributes_in_the_baseline(
    model: RiskModel, structural_on_top: pl.DataFrame
) -> None:
    one = model.explain_one(structural_on_top.head(1), k=5)
    assert not STRUCTURAL & {r.feature for r in one.score.reasons}
    assert [r.feature for r in one.score.reasons].count(BASELINE) == 1
    by_feature = {c.feature: c.contribution for c in one.contributions}
    assert one.dimensions[BASELINE] == pytest.approx(sum(by_feature[f] for f in STRUCTURAL), abs=1e-12)
    # qualifications held age_days before; no conduct dimension holds a structural attribute now
    assert "qualifications" not in one.dimensions
    contrib = model.estimator.explain(structural_on_top.select(FEATURES))
    dims = dimension_sums(contrib, FLAGGED)
    assert set(dims.columns) == {"law_abiding", "supervision_risk", BASELINE, BASE_VALUE}
    assert dims.to_numpy().sum(axis=1) == pytest.approx(contrib.to_numpy().sum(axis=1), abs=1e-12)


def test_reason_builders_skip_structural_attributes_in_every_sign() -> None:
    values = {"penalties_n_365d": 2, "age_days": 40, "entity_type_code": 2, "noise": 0.1}
    contrib = {"penalties_n_365d": 0.4, "age_days": 0.9, "entity_type_code": -0.3, "noise": -0.05}
    for sign in ("positive", "negative", "both"):
        assert not STRUCTURAL & {r.feature for r in top_reasons(values, contrib, FLAGGED, k=5, sign=sign)}
    reasons = score_reasons(values, contrib, FLAGGED, k=3)
    assert [r.feature for r in reasons] == ["penalties_n_365d", BASELINE]
    assert reasons[-1].contribution == pytest.approx(0.6)
    assert reasons[-1].zh == f"{BASELINE_ZH}（成立天数、主体类型） (+0.60)"
    assert reasons[-1].en == "baseline of similar entities (days since establishment, entity type) (+0.60)"
    # Nothing structural contributes: no baseline line.
    assert baseline_reason({"penalties_n_365d": 0.4, "age_days": 0.0}, FLAGGED) is None
    assert baseline_reason(contrib, INFOS) is None  # a model without structural features


def test_a_model_saved_before_the_flag_still_loads(model: RiskModel, tmp_path: Path) -> None:
    folder = model.save(tmp_path / "m")
    state = json.loads((folder / "risk_model.json").read_text(encoding="utf-8"))
    for info in state["feature_infos"]:
        del info["structural"]
    (folder / "risk_model.json").write_text(json.dumps(state), encoding="utf-8")
    loaded = RiskModel.load(folder)
    assert not any(i.structural for i in loaded.feature_infos)
    X = labelled_frame(20, seed=11)
    assert (
        loaded.score(X, reasons=0)["probability"].to_list()
        == model.score(X, reasons=0)["probability"].to_list()
    )
    # And a model saved with the flag keeps it.
    again = RiskModel.load(model.save(tmp_path / "n"))
    assert {i.name for i in again.feature_infos if i.structural} == STRUCTURAL
