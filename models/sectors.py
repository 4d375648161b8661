"""Sector risk (issue 15): risk across districts × industry sections, as pure polars aggregations.

A *cell* is a district (the entity's registration ``division_code``) and an industry section (the first letter
of its GB/T 4754 ``industry`` code, A–T), or one margin of them. Per cell: how many entities the run scored,
their mean predicted probability, the share of them in the tiers that call for closer supervision (C and D),
and — from the inspections each judged against the score its entity had that day — how many inspections,
how many found a violation, and the realised violation rate. A rate from fewer than ``min_n`` inspections is
too noisy to read (a cell of three inspections with one violation is not a 33 % sector), so it is left out
(null) and the row says it is insufficient; the service takes ``min_n`` from the monitoring policy
(``[calibration] min_n`` of ``models/monitoring.toml``, the same rule that keeps a tier or a group unjudged).

``sector_trend`` gives the same probability columns per score run, so a sector's drift over the months shows.
Nothing here reads a file: the callers hand over the frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

__all__ = [
    "BY",
    "RISKY_TIERS",
    "SECTIONS",
    "section_of",
    "sector_table",
    "sector_trend",
    "with_section",
]

# GB/T 4754-2017 门类 (sections): letter → (zh, en).
SECTIONS: dict[str, tuple[str, str]] = {
    "A": ("农、林、牧、渔业", "Agriculture, forestry, animal husbandry and fishery"),
    "B": ("采矿业", "Mining"),
    "C": ("制造业", "Manufacturing"),
    "D": ("电力、热力、燃气及水生产和供应业", "Electricity, heat, gas and water supply"),
    "E": ("建筑业", "Construction"),
    "F": ("批发和零售业", "Wholesale and retail trade"),
    "G": ("交通运输、仓储和邮政业", "Transport, storage and postal services"),
    "H": ("住宿和餐饮业", "Accommodation and catering"),
    "I": ("信息传输、软件和信息技术服务业", "Information transmission, software and IT services"),
    "J": ("金融业", "Finance"),
    "K": ("房地产业", "Real estate"),
    "L": ("租赁和商务服务业", "Leasing and business services"),
    "M": ("科学研究和技术服务业", "Scientific research and technical services"),
    "N": ("水利、环境和公共设施管理业", "Water, environment and public facilities management"),
    "O": ("居民服务、修理和其他服务业", "Resident services, repair and other services"),
    "P": ("教育", "Education"),
    "Q": ("卫生和社会工作", "Health and social work"),
    "R": ("文化、体育和娱乐业", "Culture, sports and entertainment"),
    "S": ("公共管理、社会保障和社会组织", "Public administration, social security and social organisations"),
    "T": ("国际组织", "International organisations"),
}
RISKY_TIERS = ("C", "D")
# The cell keys a caller may group by.
BY = ("division_code", "section")


def section_of(industry: pl.Expr) -> pl.Expr:
    """The GB/T 4754 section letter of an industry code (its first letter, upper-cased); null when the code
    is missing or does not start with a section letter A–T."""
    letter = industry.str.strip_chars().str.slice(0, 1).str.to_uppercase()
    return pl.when(letter.is_in(list(SECTIONS))).then(letter).otherwise(None)


def with_section(entities: pl.DataFrame) -> pl.DataFrame:
    """`entities` (``uscc``, ``division_code``, ``industry``) with the ``section`` column, one row per USCC
    (the first), the division code as text."""
    frame = entities
    if "section" not in frame.columns:
        frame = frame.with_columns(section_of(pl.col("industry")).alias("section"))
    return frame.with_columns(pl.col("division_code").cast(pl.String)).unique("uscc", keep="first")


def _check_by(by: Sequence[str]) -> list[str]:
    keys = list(by)
    if not keys or len(set(keys)) != len(keys) or any(k not in BY for k in keys):
        raise ValueError(f"by: {by!r} must name one or both of {BY}, each once")
    return keys


def _probability_cells(scores: pl.DataFrame, ents: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return (
        scores.select("uscc", "tier", "probability")
        .join(ents.select("uscc", *keys), on="uscc", how="left")
        .group_by(keys)
        .agg(
            pl.len().cast(pl.Int64).alias("entities"),
            pl.col("probability").mean().alias("mean_probability"),
            pl.col("tier").is_in(list(RISKY_TIERS)).mean().alias("share_cd"),
        )
    )


def sector_table(
    scores: pl.DataFrame,
    entities: pl.DataFrame,
    judged_inspections: pl.DataFrame,
    *,
    by: Sequence[str] = ("division_code", "section"),
    min_n: int = 30,
) -> pl.DataFrame:
    """One row per cell of `by` (``division_code``, ``section`` or both): ``entities`` the run scored,
    ``mean_probability``, ``share_cd`` (share of them in tier C or D), ``inspections`` judged against a
    score, ``violations`` among them, ``violation_rate`` (null below `min_n` inspections) and ``sufficient``
    (the rate is shown).

    `scores`: ``uscc``, ``tier``, ``probability`` (one run). `entities`: ``uscc``, ``division_code`` and
    ``industry`` (or ``section``). `judged_inspections`: ``uscc`` and ``violation`` (0/1), one row per
    inspection. An entity not in `entities` falls in the null cell; a cell with inspections but no scored
    entity has ``entities`` 0 and null probability columns. Sorted by the keys, nulls last."""
    keys = _check_by(by)
    if min_n < 1:
        raise ValueError(f"min_n: {min_n} must be at least 1")
    ents = with_section(entities)
    probs = _probability_cells(scores, ents, keys)
    insp = (
        judged_inspections.select("uscc", pl.col("violation").cast(pl.Int64))
        .join(ents.select("uscc", *keys), on="uscc", how="left")
        .group_by(keys)
        .agg(pl.len().cast(pl.Int64).alias("inspections"), pl.col("violation").sum().alias("violations"))
    )
    table = probs.join(insp, on=keys, how="full", coalesce=True, nulls_equal=True)
    return (
        table.with_columns(
            pl.col("entities").fill_null(0),
            pl.col("inspections").fill_null(0),
            pl.col("violations").fill_null(0).cast(pl.Int64),
        )
        .with_columns((pl.col("inspections") >= min_n).alias("sufficient"))
        .with_columns(
            pl.when(pl.col("sufficient"))
            .then(pl.col("violations") / pl.col("inspections"))
            .otherwise(None)
            .cast(pl.Float64)
            .alias("violation_rate")
        )
        .select(
            *keys,
            "entities",
            "mean_probability",
            "share_cd",
            "inspections",
            "violations",
            "violation_rate",
            "sufficient",
        )
        .sort(keys, nulls_last=True)
    )


def sector_trend(
    runs: Sequence[tuple[date, pl.DataFrame]],
    entities: pl.DataFrame,
    *,
    by: Sequence[str] = ("section",),
) -> pl.DataFrame:
    """Per score run (oldest first) and cell of `by`: ``run``, the keys, ``entities``, ``mean_probability``
    and ``share_cd`` — the probability columns of :func:`sector_table` over time. Each run is grouped by the
    entities' current district and industry (`entities`), so a cell's change is its entities' risk, not a
    re-registration."""
    keys = _check_by(by)
    ents = with_section(entities)
    schema = {
        "run": pl.Date,
        **{k: pl.String for k in keys},
        "entities": pl.Int64,
        "mean_probability": pl.Float64,
        "share_cd": pl.Float64,
    }
    frames = [
        _probability_cells(frame, ents, keys).with_columns(pl.lit(day, dtype=pl.Date).alias("run"))
        for day, frame in runs
    ]
    if not frames:
        return pl.DataFrame(schema=schema)
    return (
        pl.concat(frames, how="vertical_relaxed")
        .select(list(schema))
        .cast({k: v for k, v in schema.items()})
        .sort(["run", *keys], nulls_last=True)
    )
