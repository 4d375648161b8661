"""Out-of-time split by calendar months: train older, validate and test on the latest months."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from training.split import out_of_time_split, windows


def test_windows_count_back_calendar_months() -> None:
    w = windows(date(2024, 3, 15), valid_months=2, test_months=3)
    assert w.test_from == date(2024, 1, 1)
    assert w.valid_from == date(2023, 11, 1)
    assert w.test_until == date(2024, 4, 1)


def test_split_assigns_by_date() -> None:
    days = [
        date(2023, 6, 1),
        date(2023, 10, 31),
        date(2023, 11, 1),
        date(2023, 12, 31),
        date(2024, 1, 1),
        date(2024, 3, 15),
    ]
    out = out_of_time_split(pl.LazyFrame({"as_of": days}), valid_months=2, test_months=3).collect()
    assert out["split"].to_list() == ["train", "train", "valid", "valid", "test", "test"]
    # every training row is older than every validation row, which is older than every test row
    first = out.group_by("split").agg(pl.col("as_of").min().alias("lo"), pl.col("as_of").max().alias("hi"))
    r = {row["split"]: row for row in first.iter_rows(named=True)}
    assert r["train"]["hi"] < r["valid"]["lo"] and r["valid"]["hi"] < r["test"]["lo"]


def test_empty_part_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        out_of_time_split(pl.LazyFrame({"as_of": [date(2024, 3, 1)]})).collect()
    with pytest.raises(ValueError, match="Date column"):
        out_of_time_split(pl.LazyFrame({"as_of": ["2024-03-01"]}))
