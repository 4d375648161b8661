"""Out-of-time split: a ``split`` column (train | valid | test) from the as_of date, latest months held out.

Test = the last ``test_months`` calendar months that have data, valid = the ``valid_months`` before them,
train = everything older. Time, not random rows, separates the parts: the model is always judged on
inspections that happened after everything it learned from, as it will be in service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitWindows:
    """The first day of the validation and of the test months (train is before ``valid_from``)."""

    valid_from: date
    test_from: date


def _month_start(d: date, back: int) -> date:
    months = d.year * 12 + (d.month - 1) - back
    return date(months // 12, months % 12 + 1, 1)


def windows(last: date, *, valid_months: int = 3, test_months: int = 3) -> SplitWindows:
    """Windows ending with the month of ``last`` (the latest as_of)."""
    if valid_months < 1 or test_months < 1:
        raise ValueError(f"valid_months and test_months must be >= 1, got {valid_months}, {test_months}")
    test_from = _month_start(last, test_months - 1)
    valid_from = _month_start(last, test_months + valid_months - 1)
    return SplitWindows(valid_from, test_from)


def out_of_time_split(
    frame: pl.LazyFrame, *, date_column: str = "as_of", valid_months: int = 3, test_months: int = 3
) -> pl.LazyFrame:
    """``frame`` with a ``split`` column; raises if a part would be empty."""
    schema = frame.collect_schema()
    if schema.get(date_column) != pl.Date:
        raise ValueError(
            f"out_of_time_split needs a Date column {date_column!r}, got {schema.get(date_column)}"
        )
    last = frame.select(pl.col(date_column).max()).collect().item()
    if last is None:
        raise ValueError("out_of_time_split got no rows")
    w = windows(last, valid_months=valid_months, test_months=test_months)
    out = frame.with_columns(
        pl.when(pl.col(date_column) >= w.test_from)
        .then(pl.lit("test"))
        .when(pl.col(date_column) >= w.valid_from)
        .then(pl.lit("valid"))
        .otherwise(pl.lit("train"))
        .alias("split")
    )
    counts = dict(out.group_by("split").len().collect().iter_rows())
    empty = [s for s in SPLITS if not counts.get(s)]
    if empty:
        raise ValueError(
            f"out-of-time split leaves {empty} empty (valid from {w.valid_from}, test from {w.test_from}, "
            f"latest {date_column} {last}); use fewer valid/test months or more history"
        )
    return out


def time_folds(dates: pl.Series, n_folds: int) -> np.ndarray:
    """Fold number (0 … ``n_folds``-1) per row: contiguous blocks of whole calendar months, oldest first, with
    about equal rows each (a month is never split across folds).

    For cross-fitting on the months before the test window: each fold is a stretch of time the other folds'
    model has not seen, so its out-of-fold scores behave like scores of new months. Raises if there are fewer
    distinct months than folds.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds!r}")
    if dates.dtype != pl.Date:
        raise ValueError(f"time_folds needs a Date series, got {dates.dtype}")
    if dates.null_count():
        raise ValueError(f"time_folds: {dates.null_count()} rows have no date")
    month = (dates.dt.year().cast(pl.Int64) * 12 + dates.dt.month().cast(pl.Int64)).to_numpy()
    months, counts = np.unique(month, return_counts=True)
    if months.size < n_folds:
        raise ValueError(
            f"time_folds: {months.size} calendar months of data cannot make {n_folds} folds; use fewer folds"
        )
    # cut the rows, oldest first, into n_folds equal stretches; a month goes where its middle row falls
    middle = np.cumsum(counts) - counts / 2
    fold_of_month = np.minimum((n_folds * middle / counts.sum()).astype(np.int64), n_folds - 1)
    # very uneven months can leave a fold empty: then spread the months evenly instead
    if np.unique(fold_of_month).size < n_folds:
        fold_of_month = np.arange(months.size) * n_folds // months.size
    return fold_of_month[np.searchsorted(months, month)].astype(np.int64)
