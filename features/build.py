"""The feature table: lake sources (one LazyFrame per catalog table) → one row per USCC per as-of date.

``build_features`` scores the population at each date (entities established before it and not closed
before it); ``build_for_events`` scores given (uscc, as_of) pairs, e.g. inspections as of their day. Both
apply the lifecycle state, join every profile family and the related-party graph, fill absent counts with
0, check the result against :func:`features.indicators.feature_schema` and sort by (as_of, uscc).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import polars as pl

from features.catalog import BY_NAME, RECORD_TABLES
from features.graph import GraphConfig, graph_features
from features.indicators import ABSENT_VALUES, WINDOWS, Indicator, feature_schema, make_catalog
from features.indicators import BY_NAME as INDICATORS
from features.lifecycle import RepairPolicy, lifecycle_sources
from features.profiles import (
    commitment_profile,
    conform,
    evaluation_profile,
    inspection_profile,
    interview_profile,
    licence_profile,
    list_profile,
    objection_profile,
    penalty_profile,
    registration_profile,
    repair_profile,
    self_report_profile,
)


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """Windows (days) of the windowed counts, the credit-repair policy and the graph parameters."""

    windows: tuple[int, ...] = WINDOWS
    repair: RepairPolicy = field(default_factory=RepairPolicy)
    graph: GraphConfig = field(default_factory=GraphConfig)
    # For many event dates (training): "month" takes the related-party graph as of the first day of each
    # event's month instead of the day itself — still known before the event, so nothing leaks — which
    # builds one graph per month rather than one per inspection day (the graph is the costly part).
    graph_snapshot: Literal["day", "month"] = "day"

    def __post_init__(self) -> None:
        if (
            not self.windows
            or any(w <= 0 for w in self.windows)
            or len(set(self.windows)) != len(self.windows)
        ):
            raise ValueError(f"windows must be distinct positive day counts, got {self.windows!r}")
        if self.graph_snapshot not in ("day", "month"):
            raise ValueError(f"graph_snapshot must be 'day' or 'month', got {self.graph_snapshot!r}")

    @property
    def catalog(self) -> tuple[Indicator, ...]:
        return make_catalog(self.windows)

    @property
    def schema(self) -> pl.Schema:
        return feature_schema(self.catalog)


def _sources(sources: Mapping[str, pl.LazyFrame]) -> dict[str, pl.LazyFrame]:
    """Every catalog table, an empty frame with the catalog schema where the mapping has none; each given
    frame's schema is checked against the catalog before any data is read."""
    unknown = set(sources) - set(BY_NAME)
    if unknown:
        raise ValueError(
            f"unknown source tables {sorted(unknown)}; expected catalog tables {sorted(BY_NAME)}"
        )
    for name, frame in sources.items():
        want, have = BY_NAME[name].schema, frame.collect_schema()
        missing = [c for c in want if c not in have]
        wrong = [f"{c} is {have[c]}, expected {dt}" for c, dt in want.items() if c in have and have[c] != dt]
        if missing or wrong:
            raise ValueError(
                f"source table {name!r} does not match the catalog: "
                + "; ".join(([f"missing columns {missing}"] if missing else []) + wrong)
            )
    return {name: sources.get(name, pl.LazyFrame(schema=t.schema)) for name, t in BY_NAME.items()}


def _profiles(
    src: dict[str, pl.LazyFrame],
    live: dict[str, pl.LazyFrame],
    *,
    as_of: date | pl.Expr,
    config: FeatureConfig,
) -> list[pl.LazyFrame]:
    """Every profile family; ``as_of`` a date, or ``pl.col("as_of")`` when the tables carry the events'
    dates."""
    w = config.windows
    return [
        registration_profile(src["entities"], as_of=as_of),
        penalty_profile(live["penalties"], as_of=as_of, windows=w),
        licence_profile(live["licences"], as_of=as_of, windows=w),
        commitment_profile(live["commitments"], as_of=as_of, windows=w),
        self_report_profile(live["self_reports"], as_of=as_of, windows=w),
        evaluation_profile(live["evaluations"], as_of=as_of),
        list_profile(live["list_entries"], as_of=as_of, policy=config.repair),
        interview_profile(live["interviews"], as_of=as_of, windows=w),
        repair_profile(src["repairs"], as_of=as_of),
        objection_profile(src["objections"], as_of=as_of),
        inspection_profile(live["inspections"], as_of=as_of),
    ]


def _graph(
    src: dict[str, pl.LazyFrame],
    live: dict[str, pl.LazyFrame],
    population: pl.LazyFrame,
    *,
    as_of: date,
    config: FeatureConfig,
) -> pl.LazyFrame:
    return graph_features(
        src["entities"],
        src["relations"],
        penalties=live["penalties"],
        list_entries=live["list_entries"],
        evaluations=live["evaluations"],
        as_of=as_of,
        rows=population,
        config=config.graph,
        policy=config.repair,
    )


def _fill(out: pl.LazyFrame, config: FeatureConfig) -> pl.LazyFrame:
    """Absent counts, sums and flags → 0; the constrained features of :data:`ABSENT_VALUES` → their
    least-risky value (never null: a tree sends a missing value to a learned side, not the safe one)."""
    present = set(out.collect_schema())
    return out.with_columns(
        pl.col(i.name).fill_null(ABSENT_VALUES.get(i.name, 0))
        for i in config.catalog
        if (i.zero_when_absent or i.name in ABSENT_VALUES) and i.name in present
    )


def _features_at(
    src: dict[str, pl.LazyFrame],
    population: pl.LazyFrame,
    *,
    as_of: date,
    config: FeatureConfig,
    graph: bool = True,
) -> pl.LazyFrame:
    """Features of the ``population`` USCCs (one column, unique) at one date."""
    live = lifecycle_sources(src, as_of=as_of, policy=config.repair, corrected_stops_counting=True)
    parts = _profiles(src, live, as_of=as_of, config=config)
    if graph:
        parts.append(_graph(src, live, population, as_of=as_of, config=config))
    out = population.with_columns(as_of=pl.lit(as_of, dtype=pl.Date))
    for part in parts:
        out = out.join(part, on="uscc", how="left", maintain_order="left")
    return _fill(out, config)


def profile_features(
    sources: Mapping[str, pl.LazyFrame], *, as_of: date, config: FeatureConfig = FeatureConfig()
) -> pl.LazyFrame:
    """The profile families only (no related-party graph) of the population at ``as_of``: ``uscc``,
    ``as_of`` and the non-graph features in catalog order; the pandas benchmark baseline computes these."""
    src = _sources(sources)
    schema = pl.Schema({c: dt for c, dt in config.schema.items() if c in ("uscc", "as_of") or _not_graph(c)})
    out = _features_at(
        src, population_at(src["entities"], as_of=as_of), as_of=as_of, config=config, graph=False
    )
    return out.pipe(conform, schema, name="profile_features").sort("uscc")


def _not_graph(name: str) -> bool:
    ind = INDICATORS.get(name)
    return ind is None or ind.family != "graph"


def _finish(frames: list[pl.LazyFrame], config: FeatureConfig) -> pl.LazyFrame:
    schema = config.schema
    if not frames:
        return pl.LazyFrame(schema=schema)
    return (
        pl.concat(frames, how="vertical").pipe(conform, schema, name="build_features").sort("as_of", "uscc")
    )


def population_at(entities: pl.LazyFrame, *, as_of: date) -> pl.LazyFrame:
    """USCCs registered before ``as_of`` and not closed before it (a closure dated on as_of is the future)."""
    return (
        entities.filter(
            (pl.col("established_on") < as_of)
            & (pl.col("closed_on").is_null() | (pl.col("closed_on") >= as_of))
        )
        .select("uscc")
        .unique()
    )


def build_features(
    sources: Mapping[str, pl.LazyFrame],
    *,
    as_of: date | Sequence[date],
    config: FeatureConfig = FeatureConfig(),
) -> pl.LazyFrame:
    """The feature table at one or several dates: ``uscc``, ``as_of``, then the catalog's features."""
    dates = sorted({as_of} if isinstance(as_of, date) else set(as_of))
    src = _sources(sources)
    frames = [
        _features_at(src, population_at(src["entities"], as_of=d), as_of=d, config=config) for d in dates
    ]
    return _finish(frames, config)


def build_for_events(
    sources: Mapping[str, pl.LazyFrame],
    events: pl.LazyFrame,
    config: FeatureConfig = FeatureConfig(),
) -> pl.LazyFrame:
    """Features of the given (uscc, as_of) pairs, each as of its own date (e.g. an inspection's day).

    Every distinct pair gets one row, also when the entity is unknown at that date (its features are then
    null or 0): dropping it silently would bias the labels.
    """
    have = events.collect_schema()
    for column, dtype in (("uscc", pl.String()), ("as_of", pl.Date())):
        if have.get(column) != dtype:
            raise ValueError(f"events: column {column!r} must be {dtype}, got {have.get(column)}")
    pairs = events.select("uscc", "as_of").unique().collect()
    if pairs.get_column("as_of").null_count():
        raise ValueError("events: as_of is null in some rows; every event needs its date")
    src = _sources(sources)
    spine = pairs.sort("as_of", "uscc").lazy()
    # The profiles run once for all events: each record joined to its entity's event dates, every cut-off
    # and window taken relative to the row's own as_of.
    at = pl.col("as_of")
    tables = (*RECORD_TABLES, "objections", "repairs", "entities")
    per_event = {**src, **{name: src[name].join(spine, on="uscc", how="inner") for name in tables}}
    live = lifecycle_sources(per_event, as_of=at, policy=config.repair, corrected_stops_counting=True)
    out = spine
    for part in _profiles(per_event, live, as_of=at, config=config):
        out = out.join(part, on=["uscc", "as_of"], how="left", maintain_order="left")
    # The graph needs every entity's state at the date (the neighbours'), so it runs per distinct snapshot.
    snap = at.dt.truncate("1mo") if config.graph_snapshot == "month" else at
    snapped = pairs.with_columns(snapshot=snap)
    graphs = []
    for d in snapped.get_column("snapshot").unique().sort().to_list():
        population = snapped.lazy().filter(pl.col("snapshot") == d).select("uscc").unique()
        day = lifecycle_sources(src, as_of=d, policy=config.repair, corrected_stops_counting=True)
        graphs.append(
            _graph(src, day, population, as_of=d, config=config).with_columns(
                snapshot=pl.lit(d, dtype=pl.Date)
            )
        )
    if graphs:
        keyed = snapped.lazy().join(pl.concat(graphs), on=["uscc", "snapshot"], how="left").drop("snapshot")
        out = out.join(keyed, on=["uscc", "as_of"], how="left", maintain_order="left")
    return _finish([_fill(out, config)], config)
