"""Yearly double-random inspections: tiered draws with a control slice, inspector teams, outcomes, truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from features.catalog import DOMAINS
from features.synth import lexicon
from features.synth.population import Population, Timeline

TIERS = ("A", "B", "C", "D")


@dataclass(frozen=True, slots=True)
class Inspections:
    """The ``inspections`` source table, its truth, and what later events need (violations → penalties)."""

    table: pl.DataFrame
    truth: pl.DataFrame
    roster: pl.DataFrame  # the inspector roster (执法检查人员名录库) the inspections' ids refer to
    entity: np.ndarray
    day: np.ndarray
    outcome: np.ndarray  # str
    domain: np.ndarray  # index into catalog DOMAINS


def _roster(rng: np.random.Generator, n_entities: int, per: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inspectors per division (≥ 2 each, about one per ``per`` entities) and their detection probability."""
    weights = np.array([d.weight for d in lexicon.DIVISIONS])
    size = np.maximum(np.round(weights / weights.sum() * n_entities / per).astype(np.int64), 2)
    offset = np.r_[0, np.cumsum(size)[:-1]]
    # Strictness varies between inspectors: detection probability Beta(6, 2), mean 0.75, from ~0.4 to ~0.98.
    detection = rng.beta(6.0, 2.0, int(size.sum()))
    return size, offset, detection


def inspector_roster(size: np.ndarray) -> pl.DataFrame:
    """The roster behind the inspector ids ``ZF<division><nnnn>``: who may be drawn for which items.

    Names come from the index (no random stream), so adding the roster changes no other file.
    """
    items = sorted({item for text in lexicon.CHECK_ITEMS.values() for item in text.split(";")})
    rows: dict[str, list[str]] = {k: [] for k in ("inspector_id", "name", "department", "division_code")}
    for division, count in zip(lexicon.DIVISIONS, size.tolist(), strict=True):
        for i in range(count):
            k = len(rows["name"])
            rows["inspector_id"].append(f"ZF{division.code}{i + 1:04d}")
            rows["name"].append(
                lexicon.SURNAMES[k % len(lexicon.SURNAMES)]
                + lexicon.GIVEN[(k * 7) % len(lexicon.GIVEN)]
                + lexicon.GIVEN[(k * 13 + 5) % len(lexicon.GIVEN)]
            )
            rows["department"].append(f"{division.name}市场监督管理局")
            rows["division_code"].append(division.code)
    return pl.DataFrame(rows).with_columns(qualifications=pl.lit(";".join(items)), active=pl.lit("true"))


def draw_inspections(
    rng: np.random.Generator,
    pop: Population,
    timeline: Timeline,
    *,
    tier_shares: Sequence[float],
    tier_ratios: Sequence[float],
    control_rate: float,
    signal_noise: float,
    entities_per_inspector: int,
) -> Inspections:
    size, offset, detection = _roster(rng, pop.n, entities_per_inspector)
    ratios = np.asarray(tier_ratios, dtype=np.float64)
    cum_shares = np.cumsum(np.asarray(tier_shares, dtype=np.float64))[:-1]
    industry_domain = np.array([DOMAINS.index(i.domain) for i in lexicon.INDUSTRIES])[pop.industry]
    parts: list[dict[str, np.ndarray]] = []
    for k in range(timeline.years):  # one draw per year; a handful of iterations, not per entity
        drawn_on = int(timeline.bounds[k]) + 45
        period_end = min(int(timeline.bounds[k + 1]) - 1, timeline.end)
        if drawn_on > period_end:
            continue
        active = np.flatnonzero(pop.is_open(np.arange(pop.n), drawn_on))
        # Tiers of that time: the city only saw a noisy public signal of each entity's risk.
        signal = pop.logit[active, k] + rng.normal(0.0, signal_noise, len(active))
        tier = np.searchsorted(np.quantile(signal, cum_shares), signal, side="right")
        ratio = ratios[tier]
        control = rng.random(len(active)) < control_rate
        chosen = control | (rng.random(len(active)) < ratio)
        idx = active[chosen]
        m = len(idx)
        inspected = drawn_on + rng.integers(10, 200, m)
        inspected = np.minimum(inspected, period_end).astype(np.int32)
        parts.append(
            {
                "entity": idx,
                "period": np.full(m, k),
                "day": inspected,
                "drawn_on": np.full(m, drawn_on),
                "tier": tier[chosen],
                "control": control[chosen],
                "probability": control_rate + (1.0 - control_rate) * ratio[chosen],
            }
        )
    cols = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else {}
    if not cols:
        raise ValueError("the window holds no inspection draw; increase `years`")
    entity, when = cols["entity"], cols["day"]
    m = len(entity)
    div = pop.division[entity]
    first = rng.integers(0, size[div])
    second = (first + 1 + rng.integers(0, size[div] - 1)) % size[div]
    ins1, ins2 = offset[div] + first, offset[div] + second
    team_detection = (detection[ins1] + detection[ins2]) / 2

    risk = pop.risk(entity, timeline.period_of(when))
    days_to_close = pop.closed[entity].astype(np.int64) - when
    # Closed-looking entities are often not found at their registered address.
    not_found_p = np.where(days_to_close <= 0, 0.9, np.where(days_to_close <= 365, 0.35, 0.01))
    violation_p = (1.0 - not_found_p) * risk * team_detection
    u = rng.random(m)
    serious_share = 0.15 + 0.35 * risk
    outcome = np.where(
        u < not_found_p,
        "not_found",
        np.where(
            rng.random(m) < risk * team_detection,
            np.where(rng.random(m) < serious_share, "serious_violation", "violation"),
            "no_problem",
        ),
    )
    domain = industry_domain[entity]
    dept = np.array([lexicon.DEPARTMENTS[d][0] for d in DOMAINS])[domain]
    dept_code = np.array([lexicon.DEPARTMENTS[d][1] for d in DOMAINS])[domain]
    div_name = np.array([d.name for d in lexicon.DIVISIONS])[div]
    div_code = np.array([d.code for d in lexicon.DIVISIONS])[div]
    year = timeline.year_of(cols["drawn_on"])
    violation_text = np.array([lexicon.VIOLATIONS[d][0][0] for d in DOMAINS])[domain]
    frame = pl.DataFrame(
        {
            "task_id": pl.Series(
                np.char.add(np.char.add(np.char.add("SJ", year.astype(str)), div_code), dept_code)
            ),
            "uscc": pop.uscc[entity],
            "department": np.char.add(div_name, dept),
            "check_items": np.array([lexicon.CHECK_ITEMS[d] for d in DOMAINS])[domain],
            "inspected_on": pl.Series(when).cast(pl.Date),
            "inspectors": np.char.add(
                np.char.add(np.char.add("ZF", div_code), np.char.zfill((first + 1).astype(str), 4)),
                np.char.add(np.char.add(";ZF", div_code), np.char.zfill((second + 1).astype(str), 4)),
            ),
            "outcome": outcome,
            "findings": np.where(
                outcome == "no_problem",
                "未发现问题",
                np.where(
                    outcome == "not_found",
                    "通过登记的住所或者经营场所无法联系",
                    np.char.add(
                        np.where(outcome == "serious_violation", "发现严重违法行为：", "发现问题："),
                        violation_text,
                    ),
                ),
            ),
            "selection_probability": cols["probability"],
            "in_control_slice": cols["control"],
            "_violation_probability": violation_p,
            "_risk": risk,
            "_detection": team_detection,
            "_tier": np.array(TIERS)[cols["tier"]],
            "_drawn_on": pl.Series(cols["drawn_on"].astype(np.int32)).cast(pl.Date),
            "_entity": entity,
            "_domain": domain,
        }
    ).with_row_index("_row")
    frame = frame.sort(["inspected_on", "_row"]).with_columns(
        inspection_id=pl.format(
            "JC{}{}",
            pl.col("inspected_on").dt.year().cast(pl.String),
            pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(8),
        )
    )
    table = frame.select(
        "inspection_id",
        "task_id",
        "uscc",
        "department",
        "check_items",
        "inspected_on",
        "inspectors",
        "outcome",
        "findings",
        "selection_probability",
        "in_control_slice",
    )
    truth = frame.select(
        "inspection_id",
        "uscc",
        "inspected_on",
        pl.col("_drawn_on").alias("drawn_on"),
        pl.col("_violation_probability").alias("violation_probability"),
        pl.col("_risk").alias("risk"),
        pl.col("_detection").alias("detection"),
        pl.col("_tier").alias("tier_at_draw"),
        "in_control_slice",
        "selection_probability",
    )
    return Inspections(
        table=table,
        truth=truth,
        roster=inspector_roster(size),
        entity=frame["_entity"].to_numpy(),
        day=frame["inspected_on"].cast(pl.Int32).to_numpy(),
        outcome=frame["outcome"].to_numpy().astype(str),
        domain=frame["_domain"].to_numpy(),
    )
