"""Tier policy: thresholds, share targets, overrides with reasons, expected rates, round trip."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.tiers import Condition, Override, TierPolicy

SEVERE = Override(
    "severe",
    (Condition("severe_dishonesty_active", ">", 0),),
    "D",
    "列入严重失信主体名单",
    "on the severe dishonesty list",
)
NEW = Override(
    "new",
    (Condition("age_days", "<", 365), Condition("inspections_n_1095d", "==", 0)),
    "default",
    "新设立主体",
    "new entity",
)


def test_thresholds_cut_points_go_up() -> None:
    policy = TierPolicy(thresholds=(0.1, 0.2, 0.5))
    assert policy.model_tier([0.0, 0.0999, 0.1, 0.19, 0.2, 0.5, 0.99]).tolist() == [
        "A",
        "A",
        "B",
        "B",
        "C",
        "D",
        "D",
    ]


def test_shares_mode_hits_the_target_shares() -> None:
    p = np.random.default_rng(0).uniform(size=10000)
    policy = TierPolicy(mode="shares", shares=(0.5, 0.3, 0.15, 0.05)).fit(p)
    tiers = policy.model_tier(p)
    shares = [float((tiers == t).mean()) for t in "ABCD"]
    np.testing.assert_allclose(shares, [0.5, 0.3, 0.15, 0.05], atol=0.002)


def test_expected_rate_is_the_mean_probability_per_tier() -> None:
    p = np.array([0.01, 0.03, 0.1, 0.12, 0.3, 0.6, 0.8])
    policy = TierPolicy(thresholds=(0.05, 0.2, 0.5)).fit(p)
    assert policy.expected_rate_ == pytest.approx({"A": 0.02, "B": 0.11, "C": 0.3, "D": 0.7})


def test_overrides_apply_in_order_and_say_why() -> None:
    X = pl.DataFrame(
        {
            "severe_dishonesty_active": [1, 0, 1, 0, None],
            "age_days": [100, 100, 5000, 5000, 100],
            "inspections_n_1095d": [0, 0, 2, 2, 0],
        }
    )
    policy = TierPolicy(thresholds=(0.1, 0.2, 0.5), default_tier="B", overrides=(SEVERE, NEW))
    out = policy.assign(np.array([0.01, 0.9, 0.01, 0.01, 0.9]), X)
    assert out["model_tier"].to_list() == ["A", "D", "A", "A", "D"]
    assert out["tier"].to_list() == ["D", "B", "D", "A", "B"]
    assert out["override"].to_list() == ["severe", "new", "severe", None, "new"]
    assert out["override_zh"][0] == "列入严重失信主体名单：信用风险高（D）"
    assert out["override_en"][1] == "new entity: tier B (average risk)"


def test_overrides_need_their_columns() -> None:
    policy = TierPolicy(overrides=(SEVERE,))
    with pytest.raises(ValueError, match="severe_dishonesty_active"):
        policy.assign(np.array([0.1]), pl.DataFrame({"x": [1]}))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"thresholds": (0.3, 0.2, 0.5)}, "increasing"),
        ({"shares": (0.5, 0.5, 0.5, 0.0)}, "summing to 1"),
        ({"mode": "quantile"}, "mode"),
        ({"default_tier": "E"}, "default_tier"),
    ],
)
def test_bad_configuration_names_the_parameter(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TierPolicy(**kwargs)


def test_state_round_trip() -> None:
    p = np.random.default_rng(1).uniform(size=500)
    policy = TierPolicy(mode="shares", overrides=(SEVERE, NEW)).fit(p)
    again = TierPolicy.from_state(policy.state())
    assert again == policy
