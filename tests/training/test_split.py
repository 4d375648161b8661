"""Out-of-time split by calendar months: train older, validate and test on the latest months; time folds."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from training.split import out_of_time_split, time_folds, windows


def test_windows_count_back_calendar_months() -> None:
    w = windows(date(2024, 3, 15), valid_months=2, test_months=3)
    assert w.test_from == date(2024, 1, 1)
    assert w.valid_from == date(2023, 11, 1)


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


def test_time_folds_are_contiguous_whole_months_of_about_equal_rows() -> None:
    days = pl.date_range(date(2022, 1, 1), date(2023, 12, 31), "1d", eager=True)
    folds = time_folds(days, 5)
    assert folds.tolist() == sorted(folds.tolist())  # oldest rows first: contiguous blocks, in order
    assert set(folds.tolist()) == {0, 1, 2, 3, 4}
    sizes = np.bincount(folds)
    assert np.abs(sizes - days.len() / 5).max() <= 31  # about equal: each within a month of a fifth
    months = (
        pl.DataFrame({"m": days.dt.strftime("%Y-%m"), "f": folds}).group_by("m").agg(pl.col("f").n_unique())
    )
    assert (months["f"] == 1).all()  # a month is never split
    # the order of the rows does not matter: each row keeps its month's fold
    shuffled = days.sample(fraction=1.0, shuffle=True, seed=1)
    again = dict(zip(shuffled.to_list(), time_folds(shuffled, 5).tolist(), strict=True))
    assert [again[d] for d in days.to_list()] == folds.tolist()


def test_time_folds_balance_rows_not_months() -> None:
    # 11 quiet months (10 rows each) and one busy month (200 rows): the busy month is a fold of its own
    days = [date(2024, m, 15) for m in range(1, 12) for _ in range(10)] + [date(2024, 12, 1)] * 200
    folds = time_folds(pl.Series(days), 2)
    assert folds[:110].tolist() == [0] * 110 and folds[110:].tolist() == [1] * 200


def test_time_folds_errors() -> None:
    days = pl.Series([date(2024, 1, 1), date(2024, 2, 1)])
    with pytest.raises(ValueError, match="2 calendar months of data cannot make 3 folds"):
        time_folds(days, 3)
    with pytest.raises(ValueError, match="n_folds must be >= 2"):
        time_folds(days, 1)
    with pytest.raises(ValueError, match="Date series"):
        time_folds(pl.Series(["2024-01-01"]), 2)
    with pytest.raises(ValueError, match="1 rows have no date"):
        time_folds(pl.Series([date(2024, 1, 1), None, date(2024, 3, 1)]), 2)
