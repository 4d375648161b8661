"""Labels from inspections: (uscc, as_of = inspection day, targets, selection probability) → features joined.

The features of a labelled row are computed as of the inspection day, i.e. from records known strictly
before it (features.build's point-in-time rule), so the outcome of the inspection itself never leaks in.

Documented choice on ``not_found`` (the entity could not be found at its registered address): the
inspection could not check compliance, so it says nothing about ``violation_found``; those rows are
excluded from training and evaluation (``inspection_labels`` counts them in ``excluded_not_found``). Being
unreachable is a risk signal in its own right, which the features carry (abnormal-operations listing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

LABEL_SCHEMA = pl.Schema(
    {
        "inspection_id": pl.String,
        "task_id": pl.String,
        "uscc": pl.String,
        "as_of": pl.Date,
        "violation_found": pl.Int8,
        "serious_violation": pl.Int8,
        "selection_probability": pl.Float64,
        "in_control_slice": pl.Boolean,
    }
)
_NEEDED = (
    "inspection_id",
    "task_id",
    "uscc",
    "inspected_on",
    "outcome",
    "selection_probability",
    "in_control_slice",
)
OUTCOMES = ("no_problem", "violation", "serious_violation", "not_found")


def inspection_labels(inspections: pl.LazyFrame) -> pl.LazyFrame:
    """One row per inspection with a usable outcome (``not_found`` excluded), sorted by (as_of,
    inspection_id)."""
    missing = [c for c in _NEEDED if c not in inspections.collect_schema().names()]
    if missing:
        raise ValueError(f"inspections lack the columns {missing} (needed for labels)")
    return (
        inspections.filter(pl.col("outcome") != "not_found")
        .select(
            pl.col("inspection_id"),
            pl.col("task_id"),
            pl.col("uscc"),
            pl.col("inspected_on").alias("as_of"),
            pl.col("outcome")
            .is_in(["violation", "serious_violation"])
            .cast(pl.Int8)
            .alias("violation_found"),
            (pl.col("outcome") == "serious_violation").cast(pl.Int8).alias("serious_violation"),
            pl.col("selection_probability").cast(pl.Float64),
            pl.col("in_control_slice").cast(pl.Boolean),
        )
        .sort("as_of", "inspection_id")
        .pipe(_conform)
    )


def _conform(frame: pl.LazyFrame) -> pl.LazyFrame:
    schema = frame.collect_schema()
    if schema != LABEL_SCHEMA:
        raise ValueError(f"label frame schema {dict(schema)} differs from {dict(LABEL_SCHEMA)}")
    return frame


def check_outcomes(inspections: pl.DataFrame) -> None:
    """A clear error naming the first inspection whose outcome or selection probability breaks the rule."""
    bad = inspections.filter(~pl.col("outcome").is_in(OUTCOMES))
    if bad.height:
        row = bad.row(0, named=True)
        raise ValueError(
            f"inspection {row['inspection_id']!r}: outcome {row['outcome']!r} not in {OUTCOMES} (rule: enum)"
        )
    bad = inspections.filter(
        pl.col("selection_probability").is_null()
        | (pl.col("selection_probability") <= 0)
        | (pl.col("selection_probability") > 1)
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise ValueError(
            f"inspection {row['inspection_id']!r}: selection_probability {row['selection_probability']!r} "
            "outside (0, 1] (rule: probability)"
        )


def labelled_features(
    sources: Mapping[str, pl.LazyFrame],
    *,
    config: Any = None,
    until: Any = None,
    chunk_days: int = 16,
    progress: Callable[[str], None] | None = None,
) -> pl.DataFrame:
    """Labels joined with features as of each inspection day, plus the entity's ``division_code`` and
    ``entity_type`` (for per-group evaluation) as ``group_division`` and ``group_entity_type``.

    ``until``: only inspections strictly before this date (a backtest's cut-off).
    """
    # Imported here, not at the top: labels and the rest of training stay usable (and testable) on their own.
    from features import build

    inspections = sources["inspections"]
    check_outcomes(inspections.collect())
    labels = inspection_labels(inspections)
    if until is not None:
        labels = labels.filter(pl.col("as_of") < until)
    events = labels.select("uscc", "as_of").unique().sort("as_of", "uscc").collect()
    # One related-party graph per month rather than per inspection day (see FeatureConfig.graph_snapshot).
    fc = config if config is not None else build.FeatureConfig(graph_snapshot="month")
    # A few inspection days per build call, each collected: one lazy plan over hundreds of days grows too
    # large for the optimiser (measured: minutes more than the sum of its parts).
    days = events["as_of"].unique().sort().to_list()
    parts = []
    for start in range(0, len(days), chunk_days):
        chunk = events.filter(pl.col("as_of").is_in(days[start : start + chunk_days]))
        parts.append(build.build_for_events(sources, chunk.lazy(), fc).collect())
        if progress is not None:
            progress(f"features for {min(start + chunk_days, len(days))}/{len(days)} inspection days")
    feats = pl.concat(parts).lazy() if parts else build.build_for_events(sources, events.lazy(), fc)
    groups = sources["entities"].select(
        "uscc",
        pl.col("division_code").alias("group_division"),
        pl.col("entity_type").alias("group_entity_type"),
    )
    return (
        labels.join(feats, on=["uscc", "as_of"], how="left")
        .join(groups, on="uscc", how="left")
        .sort("as_of", "inspection_id")
        .collect()
    )
