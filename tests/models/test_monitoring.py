"""models/monitoring.py against small hand-computed cases: migration counts, PSI (0 when identical, large when
shifted, the formula by hand), Wilson intervals (Newcombe 1998's published values), calibration and fairness
verdicts, the probability change explained by SHAP (dimension changes add up to the raw-score change), the
retraining rule and the policy loader's errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from models import monitoring as mon
from models.calibration import ProbabilityCalibrator
from models.estimator import RiskClassifier
from models.explain import directions
from models.risk_model import RiskModel
from models.tiers import TierPolicy
from tests.models.factories import CATEGORICAL, FEATURES, INFOS, labelled_frame


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
    policy = TierPolicy().fit(cal.predict(est.decision_function(hold.select(FEATURES))))
    return RiskModel(est, cal, policy, INFOS, {})


@pytest.fixture(scope="module")
def policy() -> mon.MonitoringPolicy:
    return mon.load_monitoring_policy()


# ------------------------------------------------------------------------------------------------ migration
def test_migration_counts_by_hand() -> None:
    prev = pl.DataFrame({"uscc": ["a", "b", "c", "d", "e"], "tier": ["A", "A", "B", "C", "D"]})
    cur = pl.DataFrame({"uscc": ["a", "b", "c", "d", "f", "g"], "tier": ["A", "C", "B", "B", "D", "A"]})
    m = mon.migration_matrix(prev, cur)
    assert m.tiers == ("A", "B", "C", "D")
    assert m.matrix() == [
        [1, 0, 1, 0],  # a stays A, b A → C
        [0, 1, 0, 0],  # c stays B
        [0, 1, 0, 0],  # d C → B
        [0, 0, 0, 0],  # e left
    ]
    assert m.entered == {"A": 1, "B": 0, "C": 0, "D": 1}
    assert m.left == {"A": 0, "B": 0, "C": 0, "D": 1}
    assert m.moved() == {"up": 1, "down": 1, "same": 2}
    assert m.counts["entities"].sum() == 4  # entities in both runs


def test_migration_refuses_a_frame_without_tiers() -> None:
    with pytest.raises(ValueError, match=r"cur lacks the columns \['tier'\]"):
        mon.migration_matrix(pl.DataFrame({"uscc": ["a"], "tier": ["A"]}), pl.DataFrame({"uscc": ["a"]}))


# ------------------------------------------------------------------------------------------------ PSI
def _psi(reference: Any, current: Any, **kw: Any) -> float:
    value = mon.psi(reference, current, **kw)
    assert value is not None
    return value


def test_psi_is_zero_for_identical_and_large_for_shifted() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    assert _psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    same_law = rng.normal(size=5000)
    assert _psi(ref, same_law) < 0.02
    assert _psi(ref, ref + 1.0) > 0.25  # a one-sd shift: a major drift by the rule of thumb


def test_psi_by_hand_on_a_count_feature() -> None:
    # Reference: 0 ×8, 1 ×2; deciles (lower) are 0 and 1 → bins ≤0, (0,1], >1, and missing.
    ref = [0] * 8 + [1] * 2
    cur = [0] * 5 + [1] * 3 + [2] * 2
    r = np.array([0.8, 0.2, 1e-4])
    c = np.array([0.5, 0.3, 0.2])
    expected = float(np.sum((c - r) * np.log(c / r)))
    assert _psi(ref, cur, bins=10, epsilon=1e-4) == pytest.approx(expected, rel=1e-12)


def test_psi_counts_missing_values_and_categories() -> None:
    assert _psi([1.0, None, 2.0, None], [1.0, None, 2.0, None]) == pytest.approx(0.0)
    assert _psi([1.0, 2.0, 3.0, 4.0], [None, None, None, 1.0]) > 1.0
    shifted = _psi(["x"] * 9 + ["y"], ["x"] * 5 + ["y"] * 5)
    by_hand = (0.5 - 0.9) * math.log(0.5 / 0.9) + (0.5 - 0.1) * math.log(0.5 / 0.1)
    assert shifted == pytest.approx(by_hand)
    assert mon.psi([], [1.0]) is None  # no rows: no index


def test_feature_psi_frame_is_sorted_and_levelled() -> None:
    rng = np.random.default_rng(1)
    ref = pl.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    cur = pl.DataFrame({"a": rng.normal(size=2000) + 2, "b": rng.normal(size=2000)})
    out = mon.feature_psi(ref, cur, ["b", "a", "missing"], minor=0.1, major=0.25)
    assert out["feature"].to_list() == ["a", "b"]
    assert out["level"].to_list() == ["major", "stable"]
    again = mon.feature_psi(ref, cur, ["b", "a", "missing"], minor=0.1, major=0.25)
    assert again.equals(out)


# ------------------------------------------------------------------------------------------------ Wilson
@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_newcombe_1998(k: int, n: int, low: float, high: float) -> None:
    lo, hi = mon.wilson_interval(k, n)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_wilson_on_arrays_and_empty() -> None:
    lo, hi = mon.wilson_interval(np.array([0, 5]), np.array([0, 10]))
    assert math.isnan(lo[0]) and math.isnan(hi[0])
    assert lo[1] < 0.5 < hi[1] and lo[1] + hi[1] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------ calibration
def _inspected(tier: str, n: int, violations: int, probability: float, **extra: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "tier": [tier] * n,
            "probability": [probability] * n,
            "violation": [1] * violations + [0] * (n - violations),
            **{k: [v] * n for k, v in extra.items()},
        }
    )


def test_calibration_by_tier_flags_a_tier_off_its_interval(policy: mon.MonitoringPolicy) -> None:
    frame = pl.concat(
        [_inspected("A", 100, 5, 0.05), _inspected("D", 100, 20, 0.50), _inspected("C", 10, 9, 0.3)]
    )
    out = mon.calibration_by_tier(frame)
    assert out["tier"].to_list() == ["A", "C", "D"]
    a, _, d = out.to_dicts()
    assert (a["n"], a["violations"], a["observed"], a["outside"]) == (100, 5, 0.05, False)
    assert d["observed"] == 0.2 and d["outside"] and d["gap"] == pytest.approx(-0.3)
    assert (d["ci_low"], d["ci_high"]) == pytest.approx(mon.wilson_interval(20, 100))
    judged = mon.miscalibrated(out, policy)
    assert judged["alert"].to_list() == [False, False, True]  # C is off, but 10 < min_n: no verdict
    assert judged["judged"].to_list() == [True, False, True]


def test_calibration_per_group(policy: mon.MonitoringPolicy) -> None:
    frame = pl.concat(
        [
            _inspected("B", 50, 5, 0.1, division_code="320902"),
            _inspected("B", 50, 25, 0.1, division_code="320903"),
        ]
    )
    out = mon.calibration_by_tier(frame, by="division_code")
    assert out.select("group", "tier", "observed").rows() == [("320902", "B", 0.1), ("320903", "B", 0.5)]


def test_fairness_flags_the_group_off_the_city(policy: mon.MonitoringPolicy) -> None:
    frame = pl.concat(
        [
            _inspected("B", 1000, 100, 0.1, entity_type="enterprise"),
            _inspected("B", 100, 40, 0.1, entity_type="individual_business"),
            _inspected("B", 5, 5, 0.1, entity_type="cooperative"),  # far off, but too few to judge
        ]
    )
    out = mon.fairness(frame, by="entity_type", policy=policy)
    assert out["group"].to_list()[0] == "individual_business"
    flags = dict(zip(out["group"], out["flagged"], strict=True))
    assert flags == {"individual_business": True, "enterprise": False, "cooperative": False}
    overall = (100 + 40 + 5) / 1105 - 0.1
    assert out["overall_gap"][0] == pytest.approx(overall)


# ------------------------------------------------------------------------------------------- what changed
def test_probability_change_adds_up_to_the_raw_score_change(model: RiskModel) -> None:
    prev = labelled_frame(40, seed=11)
    cur = prev.with_columns(
        pl.col("penalties_n_365d") + pl.when(pl.col("uscc") < "U000010").then(3).otherwise(0)
    )
    usccs = prev["uscc"].unique().sort().to_list()[:15]
    out = mon.probability_change(model, prev, cur, usccs, labels={"law_abiding": ("遵纪守法", "law-abiding")})
    assert out.entities.height == 15
    prev_scores = model.score(prev.unique("uscc", keep="first"), reasons=0)
    cur_scores = model.score(cur.unique("uscc", keep="first"), reasons=0)
    p0 = dict(zip(prev_scores["uscc"], prev_scores["probability"], strict=True))
    p1 = dict(zip(cur_scores["uscc"], cur_scores["probability"], strict=True))
    r0 = dict(zip(prev_scores["uscc"], prev_scores["raw_score"], strict=True))
    r1 = dict(zip(cur_scores["uscc"], cur_scores["raw_score"], strict=True))
    for row in out.entities.iter_rows(named=True):
        u = row["uscc"]
        assert row["probability"] == pytest.approx(p1[u]) and row["prev_probability"] == pytest.approx(p0[u])
        assert row["raw_change"] == pytest.approx(r1[u] - r0[u], abs=1e-9)
        dims = out.dimensions.filter(pl.col("uscc") == u)
        # SHAP is additive in log-odds: the dimension changes sum to the raw-score change (the base cancels) …
        assert dims["change"].sum() == pytest.approx(row["raw_change"], abs=1e-9)
        # … and the probability shares split the probability change (the calibrator is the link).
        assert dims["probability_share"].sum() == pytest.approx(row["change"], abs=1e-9)
    changes = out.entities["change"].abs().to_list()
    assert changes == sorted(changes, reverse=True)  # biggest movers first
    mover = out.entities.row(0, named=True)
    assert mover["uscc"] < "U000010" and mover["change"] > 0
    law = out.dimensions.filter((pl.col("uscc") == mover["uscc"]) & (pl.col("dimension") == "law_abiding"))
    assert law["zh"][0] == "遵纪守法" and law["change"][0] > 0
    top = out.features.filter(pl.col("uscc") == mover["uscc"]).row(0, named=True)
    assert top["feature"] == "penalties_n_365d" and int(top["value"]) == int(top["prev_value"]) + 3
    unchanged = out.entities.filter(pl.col("uscc") >= "U000010")
    assert (unchanged["change"] == 0).all()
    again = mon.probability_change(
        model, prev, cur, list(reversed(usccs)), labels={"law_abiding": ("遵纪守法", "law-abiding")}
    )
    assert again.entities.equals(out.entities) and again.dimensions.equals(out.dimensions)
    assert again.features.equals(out.features)


def test_probability_change_leaves_out_entities_not_in_both(model: RiskModel) -> None:
    prev = labelled_frame(10, seed=12)
    out = mon.probability_change(model, prev, prev.head(0), prev["uscc"].to_list())
    assert out.entities.height == 0 and out.dimensions.height == 0


# ------------------------------------------------------------------------------------------------ retraining
def test_recommendation_rules(model: RiskModel, policy: mon.MonitoringPolicy) -> None:
    important = mon.top_features(model, 3)
    assert important and important[0] == "penalties_n_365d"
    quiet_psi = pl.DataFrame({"feature": important, "psi": [0.01] * len(important)})
    calm = mon.calibration_by_tier(_inspected("A", 100, 5, 0.05))
    quiet = mon.recommend(quiet_psi, calm, important, policy)
    assert not quiet.retrain and quiet.reason_en == policy.reasons["none_en"]
    drift = pl.DataFrame({"feature": [important[0], "noise"], "psi": [0.4, 0.9]})
    fired = mon.recommend(drift, calm, important, policy)
    assert fired.retrain and fired.drifted == (important[0],) and important[0] in fired.reason_en
    assert "noise" not in fired.reason_en  # not among the important features
    off = mon.calibration_by_tier(_inspected("D", 100, 20, 0.5))
    cal = mon.recommend(quiet_psi, off, important, policy)
    assert cal.retrain and cal.miscalibrated_tiers == ("D",) and "D" in cal.reason_zh


# ------------------------------------------------------------------------------------------------ policy
def test_the_shipped_policy_loads(policy: mon.MonitoringPolicy) -> None:
    assert (policy.psi_minor, policy.psi_major) == (0.10, 0.25)
    assert policy.fairness_groups == ("division_code", "entity_type")


def test_policy_errors_name_the_key(tmp_path: Path) -> None:
    text = mon.POLICY_FILE.read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("major = 0.25", "major = 0.05"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[psi\] minor 0.1 must not exceed major 0.05"):
        mon.load_monitoring_policy(bad)
    bad.write_text(text.replace("min_n = 30", 'min_n = "many"'), encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[calibration\] min_n must be a number"):
        mon.load_monitoring_policy(bad)
    bad.write_text(text.replace("[fairness]", "[fair]"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"no \[fairness\] section"):
        mon.load_monitoring_policy(bad)
    bad.write_text("psi = [", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid TOML"):
        mon.load_monitoring_policy(bad)
    with pytest.raises(ValueError, match="cannot be read"):
        mon.load_monitoring_policy(tmp_path / "none.toml")
