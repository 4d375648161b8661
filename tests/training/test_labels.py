"""Labels from inspections: targets, as_of = inspection day, not_found excluded, bad rows named."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from training.labels import LABEL_SCHEMA, check_outcomes, inspection_labels


def _inspections() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "inspection_id": ["I3", "I1", "I2", "I4"],
            "task_id": ["T1"] * 4,
            "uscc": ["U1", "U2", "U3", "U4"],
            "department": ["market"] * 4,
            "inspected_on": [date(2024, 3, 1), date(2024, 1, 5), date(2024, 1, 5), date(2024, 2, 1)],
            "inspectors": ["a;b"] * 4,
            "outcome": ["serious_violation", "no_problem", "violation", "not_found"],
            "selection_probability": [0.5, 0.1, 0.2, 0.3],
            "in_control_slice": [False, True, False, True],
        }
    )


def test_targets_and_order() -> None:
    out = inspection_labels(_inspections().lazy()).collect()
    assert out.schema == LABEL_SCHEMA
    assert out["inspection_id"].to_list() == ["I1", "I2", "I3"]  # not_found dropped, sorted by date then id
    assert out["violation_found"].to_list() == [0, 1, 1]
    assert out["serious_violation"].to_list() == [0, 0, 1]
    assert out["as_of"].to_list() == [date(2024, 1, 5), date(2024, 1, 5), date(2024, 3, 1)]
    assert out["selection_probability"].to_list() == [0.1, 0.2, 0.5]


def test_missing_column_is_named() -> None:
    with pytest.raises(ValueError, match="selection_probability"):
        inspection_labels(_inspections().drop("selection_probability").lazy())


def test_bad_outcome_and_probability_name_the_inspection() -> None:
    bad = _inspections().with_columns(
        pl.when(pl.col("inspection_id") == "I2").then(pl.lit("maybe")).otherwise("outcome").alias("outcome")
    )
    with pytest.raises(ValueError, match=r"'I2'.*maybe.*enum"):
        check_outcomes(bad)
    bad = _inspections().with_columns(
        pl.when(pl.col("inspection_id") == "I4")
        .then(0.0)
        .otherwise("selection_probability")
        .alias("selection_probability")
    )
    with pytest.raises(ValueError, match=r"'I4'.*probability"):
        check_outcomes(bad)
