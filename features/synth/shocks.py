"""Shocks: a share of entities whose latent risk jumps on a day, and the records that follow the jump.

A shock is what an early-warning system is for: an entity that was fine becomes risky from one day on (a
food-safety incident, a cash crisis, an owner who walks away). The generator draws the shocks from a stream
of their own and adds the records that follow them to the finished event tables, so a shocked city is the
same city as the unshocked one with the same seed plus the shock's records at the end of two tables (with
dirt of the shocks' stream):

- *the incident*: with probability ``visibility`` the shock leaves one record 3–25 days after it, of the
  shock's kind — ``misconduct`` a serious penalty (a complaint or a targeted check found it), ``distress`` a
  court dishonest-debtor listing (a judgment left unpaid), ``abandonment`` an abnormal-operations listing (the
  entity can no longer be reached); the rest of the shocks stay latent until the raised risk shows;
- *the raised risk*: from the shock day to the end of the window (or the entity's closure) the entity's
  rates of complaint penalties, abnormal-operations listings and court listings are those of its raised risk.
  Records of a Poisson process at the raised rate are the records at the old rate (already drawn) plus those
  of a process at the difference of the rates, which is what is added here.

The truth of every shock (entity, day, logit jump, kind, the incident's day) is written to
``truth/shocks.parquet``; nothing in the pipeline may read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from features.catalog import DOMAINS
from features.synth import lexicon
from features.synth.events import Authorities, _dates, _opt_dates, _rep
from features.synth.population import Population, Timeline

KINDS = ("misconduct", "distress", "abandonment")
KIND_SHARES = (0.5, 0.3, 0.2)
NO_DAY = -1  # a shock that left no incident record


@dataclass(frozen=True, slots=True)
class Shocks:
    """One row per shocked entity."""

    entity: np.ndarray  # int64 index into the population
    day: np.ndarray  # int64 day of the jump
    delta: np.ndarray  # float64 jump of the latent logit
    kind: np.ndarray  # str, one of KINDS
    incident: np.ndarray  # int64 day of the incident record, NO_DAY when the shock left none

    @property
    def n(self) -> int:
        return len(self.entity)


def draw_shocks(
    rng: np.random.Generator,
    pop: Population,
    tl: Timeline,
    *,
    share: float,
    first_day: int,
    delta: float,
    visibility: float,
) -> Shocks:
    """Each entity is shocked with probability ``share`` on a uniform day in [first_day, end], when it is
    open on that day; the incident record follows with probability ``visibility``."""
    n = pop.n
    day = first_day + np.floor(rng.random(n) * (tl.end + 1 - first_day)).astype(np.int64)
    chosen = rng.random(n) < share
    kind_idx = rng.choice(len(KINDS), n, p=np.array(KIND_SHARES))
    visible = rng.random(n) < visibility
    lag = rng.integers(3, 26, n)
    keep = chosen & pop.is_open(np.arange(n), day)
    entity = np.flatnonzero(keep).astype(np.int64)
    day = day[keep]
    incident = day + lag[keep]
    # An incident after the window's end or the entity's closure is not recorded (yet).
    recorded = visible[keep] & (incident <= tl.end) & (incident < pop.closed[entity])
    return Shocks(
        entity=entity,
        day=day,
        delta=np.full(len(entity), float(delta)),
        kind=np.array(KINDS)[kind_idx[keep]],
        incident=np.where(recorded, incident, NO_DAY),
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _after(rng: np.random.Generator, start: np.ndarray, stop: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Indices (into the shocks) and days of a Poisson process of ``rate`` per year on [start, stop)."""
    width = np.maximum(stop - start, 0)
    counts = rng.poisson(np.maximum(rate, 0.0) * width / 365.25)
    idx = np.repeat(np.arange(len(start)), counts)
    days = start[idx] + np.floor(rng.random(len(idx)) * width[idx]).astype(np.int64)
    return np.stack([idx, days]) if len(idx) else np.zeros((2, 0), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class ShockRecords:
    penalties: pl.DataFrame  # rows in the penalties table's schema
    list_entries: pl.DataFrame  # rows in the list_entries table's schema


def shock_records(
    rng: np.random.Generator,
    shocks: Shocks,
    pop: Population,
    tl: Timeline,
    legal_rep_name: pl.Series,
    *,
    penalties: pl.DataFrame,
    list_entries: pl.DataFrame,
) -> ShockRecords:
    """The incident records and the raised risk's extra records, in the schemas of the given tables."""
    end = tl.end
    period = tl.period_of(shocks.day)
    before = pop.logit[shocks.entity, period].astype(np.float64)
    r0, r1 = _sigmoid(before), _sigmoid(before + shocks.delta)
    stop = np.minimum(pop.closed[shocks.entity].astype(np.int64), end + 1)
    # The raised risk: the difference of the rates of events.py (complaint penalties 0.45·r^1.3, abnormal
    # operations 0.12·r, court debtors 0.25·r²), from the shock day on.
    p_idx, p_day = _after(rng, shocks.day, stop, 0.45 * (r1**1.3 - r0**1.3))
    a_idx, a_day = _after(rng, shocks.day, stop, 0.12 * (r1 - r0))
    c_idx, c_day = _after(rng, shocks.day, stop, 0.25 * (r1**2 - r0**2))
    seen = shocks.incident != NO_DAY
    inc = np.flatnonzero(seen)

    def of_kind(kind: str) -> tuple[np.ndarray, np.ndarray]:
        k = inc[shocks.kind[inc] == kind]
        return k, shocks.incident[k]

    m_idx, m_day = of_kind("misconduct")
    d_idx, d_day = of_kind("distress")
    b_idx, b_day = of_kind("abandonment")
    pen_idx = np.concatenate([m_idx, p_idx]).astype(np.int64)
    pen_day = np.concatenate([m_day, p_day]).astype(np.int64)
    # The incident is serious; the raised risk's complaints are as severe as events.py makes them.
    p_serious = np.concatenate([np.ones(len(m_idx)), 0.04 + 0.2 * r1[p_idx]])
    pen = _penalty_rows(rng, shocks, pop, pen_idx, pen_day, p_serious, legal_rep_name, penalties.schema)
    lst = _list_rows(
        rng,
        shocks,
        pop,
        tl,
        {
            "court_dishonest_debtor": (
                np.concatenate([d_idx, c_idx]).astype(np.int64),
                np.concatenate([d_day, c_day]).astype(np.int64),
            ),
            "abnormal_operations": (
                np.concatenate([b_idx, a_idx]).astype(np.int64),
                np.concatenate([b_day, a_day]).astype(np.int64),
            ),
        },
        list_entries.schema,
    )
    return ShockRecords(penalties=pen, list_entries=lst)


def _penalty_rows(
    rng: np.random.Generator,
    shocks: Shocks,
    pop: Population,
    idx: np.ndarray,
    decided: np.ndarray,
    p_serious: np.ndarray,
    legal_rep_name: pl.Series,
    schema: pl.Schema,
) -> pl.DataFrame:
    m = len(idx)
    entity = shocks.entity[idx]
    auth = Authorities.build()
    serious = rng.random(m) < p_serious
    severity = np.where(serious, "serious", np.where(rng.random(m) < 0.4, "minor", "general"))
    domain_idx = np.array([DOMAINS.index(i.domain) for i in lexicon.INDUSTRIES])[pop.industry[entity]]
    domain = np.array(DOMAINS)[domain_idx]
    vtype = np.array([lexicon.VIOLATIONS[d][0][0] for d in DOMAINS])[domain_idx]
    basis = np.array([lexicon.VIOLATIONS[d][0][1] for d in DOMAINS])[domain_idx]
    kind = np.where(severity == "minor", "warning", "fine")
    fine = np.where(
        severity == "serious", 200_000.0, np.where(severity == "general", 20_000.0, np.nan)
    ) * np.exp(0.5 * rng.standard_normal(m))
    fine = np.round(fine, -2)
    has_fine = kind == "fine"
    content = np.where(
        has_fine,
        np.char.add(np.char.add("罚款", np.nan_to_num(fine).astype(np.int64).astype(str)), "元"),
        "警告",
    )
    valid_until = decided + np.where(severity == "minor", 91, np.where(severity == "general", 365, 3 * 365))
    publicity = decided + np.where(severity == "serious", 3 * 365, 91)
    div = pop.division[entity]
    year = (decided.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970).astype(str)
    abbr = np.array([d.abbr for d in lexicon.DIVISIONS])[div]
    # A number series of its own (…〔2025〕突12号): the unshocked city's decision numbers stay as they were.
    decision_no = np.char.add(np.char.add(np.char.add(abbr, "市监罚〔"), year), "〕突")
    decision_no = np.char.add(np.char.add(decision_no, (np.arange(m) + 1).astype(str)), "号")
    frame = pl.DataFrame(
        {
            "decision_no": decision_no,
            "uscc": pop.uscc[entity],
            "party_name": pop.name[entity],
            "legal_representative": legal_rep_name.gather(entity),
            "violation_type": vtype,
            "facts": np.char.add(np.char.add("经查，当事人存在", vtype), "的行为"),
            "basis": basis,
            "penalty_kind": kind,
            "content": content,
            "fine_amount": pl.Series(np.where(has_fine, fine, np.nan)).fill_nan(None),
            "confiscated_amount": pl.repeat(None, m, dtype=pl.Float64, eager=True),
            "domain": domain,
            "severity": severity,
            "decided_on": _dates(decided),
            "valid_until": _dates(valid_until),
            "publicity_until": _opt_dates(publicity, kind != "warning"),
            "authority": auth.samr[div],
            "authority_uscc": auth.samr_uscc[div],
            "data_source": auth.samr[div],
            "data_source_uscc": auth.samr_uscc[div],
        }
    )
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])


def _list_rows(
    rng: np.random.Generator,
    shocks: Shocks,
    pop: Population,
    tl: Timeline,
    parts: dict[str, tuple[np.ndarray, np.ndarray]],
    schema: pl.Schema,
) -> pl.DataFrame:
    auth = Authorities.build()
    div_abbr = np.array([d.abbr for d in lexicon.DIVISIONS])
    frames = []
    for list_type, (idx, listed) in parts.items():
        m = len(idx)
        entity = shocks.entity[idx]
        div = pop.division[entity]
        reasons = lexicon.LIST_REASONS[list_type]
        # Shocked entities rarely leave a list quickly: no exit inside the window.
        planned = listed + 2 * 365 if list_type == "court_dishonest_debtor" else listed
        year = tl.year_of(listed).astype(str)
        doc = np.char.add(
            np.char.add(div_abbr[div], "市监异突〔" if list_type != "court_dishonest_debtor" else "执突〔"),
            year,
        )
        doc = np.char.add(np.char.add(doc, "〕"), np.char.add((np.arange(m) + 1).astype(str), "号"))
        frames.append(
            pl.DataFrame(
                {
                    "uscc": pop.uscc[entity],
                    "list_type": _rep(list_type, m),
                    "basis": _rep(lexicon.LIST_BASIS[list_type], m),
                    "basis_document_no": doc,
                    "reason": np.array(reasons)[rng.integers(0, len(reasons), m)],
                    "listed_on": _dates(listed),
                    "planned_end": _opt_dates(planned, np.full(m, list_type == "court_dishonest_debtor")),
                    "exited_on": pl.repeat(None, m, dtype=pl.Date, eager=True),
                    "exit_reason": pl.repeat(None, m, dtype=pl.String, eager=True),
                    "authority": auth.court[div] if list_type == "court_dishonest_debtor" else auth.samr[div],
                }
            )
        )
    frame = pl.concat(frames).with_row_index("_row").sort(["listed_on", "_row"])
    frame = frame.with_columns(
        entry_id=pl.format("MDS{}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(9))
    )
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])


def shocks_truth(shocks: Shocks, pop: Population) -> pl.DataFrame:
    """``truth/shocks.parquet``: uscc, shock_on, delta, kind, incident_on (null when none was recorded)."""
    return pl.DataFrame(
        {
            "uscc": pop.uscc[shocks.entity] if shocks.n else pl.Series([], dtype=pl.String),
            "shock_on": _dates(shocks.day),
            "delta": shocks.delta.astype(np.float64),
            "kind": pl.Series(shocks.kind.astype(str), dtype=pl.String),
            "incident_on": _opt_dates(np.maximum(shocks.incident, 0), shocks.incident != NO_DAY),
        }
    ).sort("shock_on", "uscc")
