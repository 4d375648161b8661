"""Issue 15's early-warning check on a shocked synthetic city: after each monthly score run the warning list
catches at least 80 % of the shocked entities within the month after their shock, with precision reported.

The full check is `python -m bench monitoring` (24 monthly runs, docs/benchmarks.md); here a small city
(2,000 entities) over 6 monthly runs, through the same code: generate with shocks, ingest, train once on the
inspections before the shocks, `creditwatch score` on the baseline day and each month-end, `creditwatch
warnings run` after each. The measure itself is checked by hand on a tiny series first."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from bench.monitoring import Setup, measure, month_ends, run

D = date


def test_month_ends_close_on_the_last_day() -> None:
    assert month_ends(D(2026, 1, 1), D(2026, 3, 31)) == [D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31)]
    assert month_ends(D(2025, 12, 1), D(2026, 1, 15)) == [D(2025, 12, 31), D(2026, 1, 15)]


def test_measure_by_hand() -> None:
    """Runs on Jan, Feb, Mar, Apr month-ends. A: shocked 10 Jan, warned in Feb (its window: Jan, Feb) →
    caught. B: shocked 31 Jan (window Jan, Feb), warned only in Mar → missed, and that warning is a false
    one. C: shocked 1 Mar (window Mar, Apr), warned in Mar twice (two rules) → caught; one (run, entity)
    pair. D: never shocked, warned in Jan → false. E: shocked after the last run → not counted."""
    runs = [D(2025, 12, 31), D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31), D(2026, 4, 30)]
    shocks = pl.DataFrame(
        {
            "uscc": ["A", "B", "C", "E"],
            "shock_on": [D(2026, 1, 10), D(2026, 1, 31), D(2026, 3, 1), D(2026, 5, 2)],
            "delta": [3.0] * 4,
            "kind": ["misconduct"] * 4,
            "incident_on": [D(2026, 1, 20), None, D(2026, 4, 29), None],
        }
    )
    warned = pl.DataFrame(
        {
            "run_as_of": [D(2026, 2, 28), D(2026, 3, 31), D(2026, 3, 31), D(2026, 3, 31), D(2026, 1, 31)],
            "uscc": ["A", "B", "C", "C", "D"],
            "rule": ["serious_penalty", "tier_up", "serious_penalty", "tier_up", "tier_up"],
        }
    )
    r = measure(runs, shocks, warned, scored=10)
    assert (r["shocked"], r["caught"], r["runs"]) == (3, 2, 4)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["warned_pairs"] == 4  # (Feb, A), (Mar, B), (Mar, C), (Jan, D)
    assert r["precision"] == pytest.approx(2 / 4)
    assert r["visible"] == pytest.approx(2 / 3)  # A's incident (20 Jan) and C's (29 Apr) in their windows
    assert r["base_rate"] == pytest.approx(6 / 40)  # A: 2 runs, B: 2, C: 2, of 10 entities × 4 runs
    assert r["rules"]["serious_penalty"] == {
        "warnings": 2,
        "caught": 2,
        "recall": pytest.approx(2 / 3),
        "precision": 1.0,
    }
    assert r["rules"]["tier_up"]["caught"] == 1 and r["rules"]["tier_up"]["precision"] == pytest.approx(1 / 3)


@pytest.mark.slow  # generate 2,000 entities, ingest, train, 7 score runs and 6 warning runs (about a minute)
def test_the_warning_list_catches_80_percent_of_the_shocks(tmp_path: Path) -> None:
    r = run(Setup(entities=2_000, months=6, seed=3, shock_share=0.03), work=tmp_path)
    rules = {k: (v["caught"], round(v["recall"], 3), round(v["precision"], 3)) for k, v in r["rules"].items()}
    print(
        f"\nshocked {r['shocked']}, caught {r['caught']}: recall {r['recall']:.3f} "
        f"(visible {r['visible']:.3f}); "
        f"precision {r['precision']:.3f} of {r['warned_pairs']} warnings (base rate {r['base_rate']:.4f}); "
        f"per rule (caught, recall, precision): {rules}"
    )
    assert r["runs"] == 6 and r["shocked"] >= 30
    assert r["recall"] >= 0.8
    # Precision is reported, not bounded by the issue; it must at least beat picking entities at random.
    assert r["precision"] > 2 * r["base_rate"]
