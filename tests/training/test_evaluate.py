"""Evaluation metrics against values computed by hand on tiny examples."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from training.evaluate import budget_metrics, ece, evaluate, psi, reliability, roc_auc, tier_table


def test_roc_auc_by_hand() -> None:
    # positives at 0.8 and 0.4, negatives at 0.5 and 0.1: 3 of 4 pairs ordered right
    assert roc_auc([1, 1, 0, 0], [0.8, 0.4, 0.5, 0.1]) == pytest.approx(0.75)
    assert np.isnan(roc_auc([0, 0], [0.1, 0.2]))


def test_budget_metrics_by_hand() -> None:
    y = [1, 0, 1, 0, 0, 0, 0, 0, 1, 0]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    m = budget_metrics(y, s, budget=0.3)  # inspect the top 3: two violations
    assert m["violations_per_100_at_budget"] == pytest.approx(200 / 3)
    assert m["violations_per_100_random"] == pytest.approx(30.0)
    assert m["recall_at_budget"] == pytest.approx(2 / 3)
    assert m["lift_at_budget"] == pytest.approx((200 / 3) / 30)


def test_budget_respects_weights() -> None:
    # the top row weighs half the population: a 50% budget inspects it alone
    m = budget_metrics([1, 0, 1], [0.9, 0.5, 0.1], [2.0, 1.0, 1.0], budget=0.5)
    assert m["violations_per_100_at_budget"] == pytest.approx(100.0)
    assert m["recall_at_budget"] == pytest.approx(2 / 3)


def test_ece_and_reliability_by_hand() -> None:
    y = [0, 1, 1, 1]
    p = [0.05, 0.05, 0.95, 0.85]
    table = reliability(y, p, bins=10)
    assert table.filter(pl.col("bin") == 0)["observed"].item() == pytest.approx(0.5)
    assert table.filter(pl.col("bin") == 9)["predicted"].item() == pytest.approx(0.95)
    # bins: [0,0.1): pred .05 obs .5 (2 rows); [0.8,0.9): .85 vs 1 (1); [0.9,1]: .95 vs 1 (1)
    assert ece(y, p) == pytest.approx((2 * 0.45 + 0.15 + 0.05) / 4)


def test_psi_by_hand() -> None:
    assert psi([1, 2, 3, 4], [1, 2, 3, 4], bins=2) == pytest.approx(0.0)
    # bins split at the median 2.5: expected 50/50, actual 25/75
    assert psi([1, 2, 3, 4], [1, 3, 4, 4], bins=2) == pytest.approx(
        (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    )


def test_tier_table_by_hand() -> None:
    t = tier_table([0, 1, 1, 0], [0.1, 0.3, 0.5, 0.7], ["A", "C", "C", "D"])
    rows = {r["tier"]: r for r in t.iter_rows(named=True)}
    assert (
        rows["C"]["observed"] == 1.0
        and rows["C"]["predicted"] == pytest.approx(0.4)
        and rows["C"]["share"] == 0.5
    )
    assert rows["B"]["n"] == 0 and rows["B"]["observed"] is None


def test_evaluate_reports_control_slice_and_groups() -> None:
    rng = np.random.default_rng(0)
    n = 400
    p = rng.uniform(0.01, 0.6, n)
    y = (rng.uniform(size=n) < p).astype(int)
    frame = pl.DataFrame(
        {
            "violation_found": y,
            "probability": p,
            "tier": np.where(p < 0.2, "A", "D"),
            "weight": np.ones(n),
            "in_control_slice": np.arange(n) % 4 == 0,
            "group_division": np.where(np.arange(n) % 2 == 0, "320902", "320903"),
        }
    )
    ev = evaluate(frame, budget=0.2, reference_probability=p)
    control = frame.filter(pl.col("in_control_slice"))
    assert ev.metrics["control_n"] == control.height
    assert ev.metrics["control_roc_auc"] == pytest.approx(
        roc_auc(control["violation_found"], control["probability"])
    )
    assert ev.metrics["test_roc_auc"] == pytest.approx(roc_auc(y, p))
    assert ev.metrics["psi_train_test"] == pytest.approx(0.0)
    assert set(ev.groups["value"].to_list()) == {"320902", "320903"}
    assert "tier_A_observed" in ev.metrics
