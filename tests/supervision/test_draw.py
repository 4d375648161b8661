"""The draw: inclusion probabilities match achieved frequencies, determinism, verification, bad inputs."""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np
import polars as pl
import pytest
from scipy.stats import chisquare

from supervision.sampling.draw import (
    Budget,
    EmptyScopeError,
    RosterTooSmallError,
    TaskParams,
    TaskScope,
    VerificationReport,
    canonical_roster,
    draw,
    estimate_violation_rate,
    merge_visits,
    plan_draw,
    publish,
    selection_bytes,
    verify,
)
from supervision.sampling.ratios import TIERS, TierRatioPolicy

AS_OF = date(2026, 11, 1)


def _seed(i: int) -> bytes:
    return hashlib.sha256(f"test-seed-{i}".encode()).digest()


def _roster(sizes: dict[str, int], *, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    tiers = [t for t in TIERS for _ in range(sizes.get(t, 0))]
    n = len(tiers)
    order = rng.permutation(n)
    return pl.DataFrame(
        {
            "uscc": [f"91320900MA{i:08d}" for i in order],
            "tier": tiers,
            "division_code": rng.choice(["320902", "320903", "320981"], n).tolist(),
            "industry": rng.choice(["food", "drugs"], n).tolist(),
            "entity_type": ["enterprise"] * n,
        }
    )


def _params(**kw: object) -> TaskParams:
    base: dict[str, object] = {
        "department": "市场监管局",
        "items": ("食品经营许可",),
        "budget": Budget(count=30),
        "as_of": AS_OF,
    }
    base.update(kw)
    return TaskParams(**base)  # type: ignore[arg-type]


def _failed(report: VerificationReport) -> list[str]:
    """The names of the checks that failed."""
    return [name for name, ok, _ in report.checks if not ok]


def test_plan_probabilities_sum_to_expected_sample_size() -> None:
    plan = plan_draw({"A": 120, "B": 50, "C": 20, "D": 10}, params=_params(budget=Budget(count=40)))
    assert plan.control == 4
    assert sum(plan.tier_sizes.values()) == 36
    expected = sum(plan.inclusion[t] * plan.tier_counts[t] for t in TIERS)
    # Σπ = E[sample size] ≤ budget (a tier can run short when the control slice took many of it).
    assert expected <= 40 + 1e-9
    assert expected > 39
    assert plan.inclusion["A"] < plan.inclusion["B"] < plan.inclusion["C"] < plan.inclusion["D"]


def test_achieved_frequencies_match_exact_inclusion_probabilities() -> None:
    # Small tier D with a high share so the control slice often eats into it: the naive n_t/N_t would be
    # wrong here, the exact hypergeometric formula is not.
    roster = _roster({"A": 60, "B": 25, "C": 10, "D": 5})
    params = _params(
        budget=Budget(count=20),
        policy=TierRatioPolicy(control_share=0.5, ratios={"A": 0.05, "B": 0.2, "C": 0.6, "D": 1.0}),
    )
    reps = 1500
    counts = dict.fromkeys(roster["uscc"].to_list(), 0)
    probs: dict[str, float] = {}
    for i in range(reps):
        sel = draw(roster, params=params, seed=_seed(i))
        for u, p in zip(sel["uscc"].to_list(), sel["inclusion_probability"].to_list(), strict=True):
            counts[u] += 1
            probs[u] = p
    plan = plan_draw({"A": 60, "B": 25, "C": 10, "D": 5}, params=params)
    tier_of = dict(zip(roster["uscc"], roster["tier"], strict=True))
    z_max = 0.0
    for u, k in counts.items():
        pi = plan.inclusion[tier_of[u]]
        assert probs.get(u, pi) == pytest.approx(pi)
        z_max = max(z_max, abs(k - reps * pi) / np.sqrt(reps * pi * (1 - pi)))
    # 100 per-entity binomial z-tests, Bonferroni at α = 0.001 overall → |z| < 4.42.
    assert z_max < 4.42
    # Per tier the pooled frequency is precise enough to reject the approximation that ignores how many
    # control entities fell in the tier (c/N + (1 - c/N)·n_t/N_t), while agreeing with the exact formula.
    share = plan.control / plan.eligible
    for t in ("C", "D"):
        members = [u for u in counts if tier_of[u] == t]
        trials = reps * len(members)
        freq = sum(counts[u] for u in members) / trials
        exact = plan.inclusion[t]
        naive = share + (1 - share) * plan.tier_sizes[t] / plan.tier_counts[t]
        se = np.sqrt(exact * (1 - exact) / trials)
        assert abs(freq - exact) < 4 * se, (t, freq, exact)
        assert abs(freq - naive) > 5 * se, (t, freq, naive)


def test_control_slice_is_uniform_over_tiers() -> None:
    sizes = {"A": 80, "B": 40, "C": 20, "D": 10}
    roster = _roster(sizes, seed=3)
    params = _params(budget=Budget(count=30), policy=TierRatioPolicy(control_share=0.3))
    per_tier = dict.fromkeys(TIERS, 0)
    for i in range(500):
        sel = draw(roster, params=params, seed=_seed(10_000 + i)).filter(pl.col("in_control_slice"))
        assert sel.height == 9
        for t, n in sel.group_by("tier").len().iter_rows():
            per_tier[t] += n
    observed = np.array([per_tier[t] for t in TIERS])
    expected = observed.sum() * np.array([sizes[t] for t in TIERS]) / sum(sizes.values())
    assert chisquare(observed, expected).pvalue > 0.001


def test_every_tier_has_a_positive_floor() -> None:
    roster = _roster({"A": 5000, "B": 300, "C": 80, "D": 20}, seed=1)
    sel = draw(roster, params=_params(budget=Budget(count=200)), seed=_seed(1))
    probs = sel.group_by("tier").agg(pl.col("inclusion_probability").first())
    assert probs.height == 4
    assert (probs["inclusion_probability"] >= TierRatioPolicy().floor).all()
    plan = plan_draw({"A": 5000, "B": 300, "C": 80, "D": 20}, params=_params(budget=Budget(count=200)))
    assert all(plan.inclusion[t] > 0 for t in TIERS)


def test_floor_unattainable_is_a_clear_error() -> None:
    params = _params(budget=Budget(count=3), policy=TierRatioPolicy(floor=0.2, control_share=0.0))
    with pytest.raises(RosterTooSmallError, match="floor"):
        plan_draw({"A": 100, "B": 10, "C": 5, "D": 2}, params=params)


def test_determinism_byte_identical_and_seed_sensitive() -> None:
    roster = _roster({"A": 300, "B": 100, "C": 40, "D": 10}, seed=5)
    params = _params(budget=Budget(ratio=0.1))
    a = selection_bytes(draw(roster, params=params, seed=_seed(7)))
    # Row order of the input must not matter: the roster is put in canonical order first.
    b = selection_bytes(draw(roster.reverse(), params=params, seed=_seed(7)))
    assert a == b
    assert a != selection_bytes(draw(roster, params=params, seed=_seed(8)))
    assert a.count(b"\n") == 1 + 45


def test_verify_passes_then_fails_when_any_input_changes() -> None:
    roster = _roster({"A": 200, "B": 60, "C": 20, "D": 8}, seed=9)
    params = _params()
    seed = _seed(42)
    published = publish(roster, params=params, seed=seed)
    sel = draw(roster, params=params, seed=seed)
    assert verify(roster, params=params, seed=seed, published=published, selection=sel).ok

    changed_roster = roster.with_columns(
        tier=pl.when(pl.col("uscc") == roster["uscc"][0]).then(pl.lit("D")).otherwise(pl.col("tier"))
    )
    report = verify(changed_roster, params=params, seed=seed, published=published, selection=sel)
    assert not report.ok and "roster" in _failed(report)

    report = verify(
        roster, params=_params(budget=Budget(count=31)), seed=seed, published=published, selection=sel
    )
    assert not report.ok and "params" in _failed(report)

    report = verify(roster, params=params, seed=_seed(43), published=published, selection=sel)
    assert not report.ok and "seed" in _failed(report)

    tampered = sel.with_columns(uscc=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("X")).otherwise("uscc"))
    report = verify(roster, params=params, seed=seed, published=published, selection=tampered)
    assert not report.ok and _failed(report) == ["list"]


def test_scope_and_frequency_limit() -> None:
    roster = _roster({"A": 100, "B": 30, "C": 10, "D": 6}, seed=2).with_columns(
        last_inspected_on=pl.when(pl.int_range(pl.len()) % 2 == 0)
        .then(pl.lit(date(2026, 6, 1)))
        .otherwise(None)
    )
    params = _params(
        budget=Budget(ratio=1.0),
        scope=TaskScope(divisions=("320902",), industries=("food",)),
        policy=TierRatioPolicy(rest_days={"A": 365, "B": 365, "C": 365, "D": 0}, floor=0.001),
    )
    sel = draw(roster, params=params, seed=_seed(1))
    expected = roster.filter(
        (pl.col("division_code") == "320902")
        & (pl.col("industry") == "food")
        & (pl.col("last_inspected_on").is_null() | (pl.col("tier") == "D"))
    )
    assert sorted(sel["uscc"]) == sorted(expected["uscc"])


def test_bad_inputs_give_clear_errors() -> None:
    roster = _roster({"A": 20, "B": 5, "C": 3, "D": 2})
    with pytest.raises(EmptyScopeError, match="no eligible entity"):
        draw(roster, params=_params(scope=TaskScope(divisions=("110101",))), seed=_seed(1))
    with pytest.raises(RosterTooSmallError, match="budget of 31 entities exceeds the 30 eligible"):
        draw(roster, params=_params(budget=Budget(count=31)), seed=_seed(1))
    with pytest.raises(ValueError, match=r"tier C: ratio 0.7 is outside the allowed range \[0.21, 0.6\]"):
        _params(policy=TierRatioPolicy(ratios={"A": 0.03, "B": 0.1, "C": 0.7, "D": 0.7}))
    with pytest.raises(ValueError, match="tier 'E' is not one of"):
        canonical_roster(roster.with_columns(tier=pl.lit("E")))
    with pytest.raises(ValueError, match=r"uscc 91320900MA00000000 appears 2 times"):
        canonical_roster(pl.concat([roster, roster.filter(pl.col("uscc") == "91320900MA00000000")]))
    with pytest.raises(ValueError, match="seed: expected 32 bytes"):
        draw(roster, params=_params(), seed=b"short")
    with pytest.raises(ValueError, match="exactly one of count or ratio"):
        Budget()


def test_merge_one_visit_per_entity_lists_each_department_items() -> None:
    sel = pl.DataFrame(
        {
            "task_id": ["t1", "t1", "t2"],
            "department": ["市场监管", "市场监管", "消防"],
            "uscc": ["U1", "U2", "U1"],
            "items": [["食品"], ["食品"], ["消防通道", "灭火器"]],
        }
    )
    visits = merge_visits(sel)
    assert visits["uscc"].to_list() == ["U1", "U2"]
    assert visits.row(0, named=True)["items"] == ["市场监管: 食品", "消防: 消防通道", "消防: 灭火器"]
    assert visits.row(0, named=True)["task_ids"] == ["t1", "t2"]


def test_estimate_matches_population_rate_on_average() -> None:
    rng = np.random.default_rng(11)
    roster = _roster({"A": 400, "B": 150, "C": 40, "D": 10}, seed=11)
    true_p = {"A": 0.02, "B": 0.1, "C": 0.3, "D": 0.6}
    truth = roster.with_columns(
        violated=pl.Series(rng.random(roster.height) < roster["tier"].replace_strict(true_p).to_numpy()),
        probability=roster["tier"].replace_strict(true_p),
    )
    true_rate = float(truth["violated"].mean())  # type: ignore[arg-type]
    params = _params(budget=Budget(count=120))
    estimates, covered = [], 0
    for i in range(200):
        sel = draw(roster, params=params, seed=_seed(500 + i)).join(
            truth.select("uscc", "violated"), on="uscc"
        )
        sample = sel.with_columns(
            outcome=pl.when(pl.col("violated")).then(pl.lit("violation")).otherwise(pl.lit("no_problem"))
        )
        est = estimate_violation_rate(truth.select("uscc", "tier", "probability"), sample)
        overall = est.row(0, named=True)
        estimates.append(overall["ht_rate"])
        covered += overall["ci_low"] <= true_rate <= overall["ci_high"]
    assert abs(np.mean(estimates) - true_rate) < 0.01
    assert covered / 200 > 0.85
    assert est["tier"].to_list() == ["all", "A", "B", "C", "D"]
    assert est.row(4, named=True)["predicted_rate"] == pytest.approx(0.6)


def test_census_without_control_slice_takes_everyone() -> None:
    roster = _roster({"A": 30, "B": 10, "C": 5, "D": 3}, seed=4)
    params = _params(budget=Budget(ratio=1.0), policy=TierRatioPolicy(control_share=0.0))
    sel = draw(roster, params=params, seed=_seed(3))
    assert sel.height == roster.height
    assert (sel["inclusion_probability"] == 1.0).all() and not sel["in_control_slice"].any()


def test_estimate_with_partial_results_adjusts_for_non_response() -> None:
    population = pl.DataFrame(
        {"uscc": [f"U{i}" for i in range(20)], "tier": ["A"] * 10 + ["B"] * 5 + ["C"] * 3 + ["D"] * 2}
    )
    sample = pl.DataFrame(
        {
            "uscc": ["U0", "U1", "U2", "U3", "U10", "U11", "U15", "U18"],
            "tier": ["A", "A", "A", "A", "B", "B", "C", "D"],
            "inclusion_probability": [0.4] * 6 + [1 / 3, 0.5],
            "outcome": [
                "violation",
                "no_problem",
                None,
                "not_found",
                None,
                None,
                "serious_violation",
                "no_problem",
            ],
        },
        schema_overrides={"outcome": pl.String()},
    )
    est = {r["tier"]: r for r in estimate_violation_rate(population, sample).iter_rows(named=True)}
    # Tier A: 2 of 4 selected responded, one violation: (1/0.4)·(4/2) / 10 = 0.5.
    assert est["A"]["ht_rate"] == pytest.approx(0.5) and est["A"]["inspected"] == 2
    assert est["A"]["rate"] == pytest.approx(0.5)
    assert est["C"]["ht_rate"] == pytest.approx(1.0) and est["D"]["ht_rate"] == pytest.approx(0.0)
    # Tier B has no result yet: no estimate (NaN), and so none overall.
    assert np.isnan(est["B"]["ht_rate"]) and np.isnan(est["B"]["rate"]) and np.isnan(est["all"]["ht_rate"])
