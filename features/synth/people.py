"""Natural persons and relations: controllers, legal representatives, shareholders, investments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from features import identity
from features.synth import lexicon
from features.synth.population import NEVER, Population, Timeline, ascii_rows, day

_W = np.array(identity.WEIGHTS, dtype=np.int64)
_CHECK = np.frombuffer(identity.CHECK.encode(), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class People:
    """The persons and relations source tables, and each entity's legal representative's name."""

    persons: pl.DataFrame  # id_number, name
    relations: pl.DataFrame
    legal_rep_name: pl.Series  # per entity


def id_numbers(rng: np.random.Generator, birth: np.ndarray) -> pl.Series:
    """Unique GB 11643 numbers for people born on ``birth`` (day numbers), with correct check digits."""
    n = len(birth)
    areas = np.array([a for a, _ in lexicon.ID_AREAS])
    weights = np.array([w for _, w in lexicon.ID_AREAS])
    area = rng.choice(len(areas), n, p=weights / weights.sum())
    dt = birth.astype("datetime64[D]")
    year = dt.astype("datetime64[Y]").astype(np.int64) + 1970
    month = dt.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (dt - dt.astype("datetime64[M]")).astype(np.int64) + 1
    prefix = area * 10**8 + year * 10**4 + month * 100 + dom  # 14 digits as an integer
    seq = rng.integers(0, 1000, n)
    areas_int = np.array([int(a) for a in areas])
    prefix = areas_int[area] * 10**8 + year * 10**4 + month * 100 + dom
    while True:
        first17 = prefix * 1000 + seq
        _, first = np.unique(first17, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            break
        seq[dup] = rng.integers(0, 1000, int(dup.sum()))
    digits = np.empty((n, 18), dtype=np.uint8)
    rest = first17.copy()
    for pos in range(16, -1, -1):
        digits[:, pos] = rest % 10
        rest //= 10
    check = _CHECK[(digits[:, :17].astype(np.int64) @ _W) % 11]
    digits[:, :17] += 48
    digits[:, 17] = check
    return ascii_rows(digits).alias("id_number")


def person_names(rng: np.random.Generator, n: int) -> pl.Series:
    surname = pl.Series(list(lexicon.SURNAMES)).gather(
        np.minimum(rng.geometric(0.12, n) - 1, len(lexicon.SURNAMES) - 1)
    )
    given = pl.Series(list(lexicon.GIVEN))
    g1 = given.gather(rng.integers(0, len(given), n))
    g2 = given.gather(rng.integers(0, len(given), n))
    two = pl.Series(rng.random(n) < 0.75)
    return (
        pl.select(pl.concat_str(surname, g1, pl.when(two).then(g2).otherwise(pl.lit(""))))
        .to_series()
        .alias("name")
    )


def _floor4(x: np.ndarray) -> np.ndarray:
    """Round shares down to 4 decimals so that they never sum above 1."""
    return np.floor(x * 10_000) / 10_000


def build_people(rng: np.random.Generator, pop: Population, timeline: Timeline) -> People:
    n = pop.n
    n_groups = int(pop.group.max()) + 1
    is_individual = pop.kind == 1
    has_shares = (pop.kind == 0) | (pop.kind == 2)

    # Persons: one controller per group, managers (legal representatives who are not the controller,
    # some serving several entities) and extra shareholders.
    needs_manager = ~is_individual & (rng.random(n) < 0.4)
    n_manager_pool = max(int(needs_manager.sum() * 0.85), 1)
    manager = np.where(needs_manager, n_groups + rng.integers(0, n_manager_pool, n), -1)
    n_extra = np.where(pop.kind == 0, np.minimum(rng.poisson(0.8, n), 4), 0)
    n_extra = np.where(pop.kind == 2, 2 + np.minimum(rng.poisson(2.0, n), 6), n_extra)
    extra_owner = np.repeat(np.arange(n), n_extra)
    n_extra_new = len(extra_owner)
    # A fifth of extra shareholders are controllers of other groups: cross-holdings link groups.
    cross = rng.random(n_extra_new) < 0.2
    extra_person = np.where(
        cross,
        rng.integers(0, n_groups, n_extra_new),
        n_groups + n_manager_pool + np.arange(n_extra_new),
    )
    n_persons = n_groups + n_manager_pool + n_extra_new

    # Birth dates: adults when their first entity was founded (ages 22–58), never after end − 18 years.
    first_est = np.full(n_persons, timeline.end, dtype=np.int64)
    np.minimum.at(first_est, pop.group, pop.established)
    np.minimum.at(first_est, manager[manager >= 0], pop.established[manager >= 0])
    np.minimum.at(first_est, extra_person, pop.established[extra_owner])
    age = rng.uniform(22, 58, n_persons) * 365.25
    birth = np.clip(first_est - age, day(date(1940, 1, 1)), timeline.end - 18 * 366).astype(np.int64)
    ids = id_numbers(rng, birth)
    persons = pl.DataFrame({"id_number": ids, "name": person_names(rng, n_persons)})

    est = pop.established
    closed = pl.Series(pop.closed).cast(pl.Int32)
    valid_to_all = pl.select(pl.when(closed != NEVER).then(closed).otherwise(None)).to_series()

    def rows(
        entity: np.ndarray,
        rel: str,
        person: np.ndarray | None,
        share: np.ndarray | None,
        related: np.ndarray | None,
        valid_from: np.ndarray,
    ) -> pl.DataFrame:
        m = len(entity)
        return pl.DataFrame(
            {
                "uscc": pop.uscc[entity],
                "relation_type": np.full(m, rel),
                "person_id_number": pl.Series(ids[person])
                if person is not None
                else pl.repeat(None, m, dtype=pl.String, eager=True),
                "related_uscc": pl.Series(pop.uscc[related])
                if related is not None
                else pl.repeat(None, m, dtype=pl.String, eager=True),
                "share": pl.Series(share if share is not None else np.full(m, np.nan)).fill_nan(None),
                "valid_from": pl.Series(valid_from.astype(np.int32)).cast(pl.Date),
                "valid_to": valid_to_all.gather(entity).cast(pl.Date),
                "_order": pl.Series(entity.astype(np.int64)),
            }
        )

    controller = pop.group  # person index of the group's controller
    legal = np.where(manager >= 0, manager, controller)
    all_idx = np.arange(n)
    frames = [rows(all_idx, "legal_representative", legal, None, None, est)]

    # Investments inside a group: its first enterprise holds a stake in some other members.
    order = np.argsort(pop.group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(pop.group[order]) != 0])
    leader = np.empty(n, dtype=np.int64)
    leader[order] = np.repeat(order[starts], np.diff(np.r_[starts, n]))
    invests = (leader != all_idx) & (pop.kind[leader] == 0) & (pop.kind == 0) & (rng.random(n) < 0.5)
    invests &= est < pop.closed[leader]  # the investor must still exist when the investee is founded
    inv_share = np.where(invests, _floor4(rng.uniform(0.1, 0.9, n)), 0.0)
    inv = np.flatnonzero(invests)
    frames.append(
        rows(leader[inv], "investment", None, inv_share[inv], inv, np.maximum(est[leader[inv]], est[inv]))
    )

    # Shareholders: the controller plus extras; gamma weights (the controller's heavier) → shares of what
    # investing entities and, for some, corporate holders not in the data do not hold.
    holders = np.flatnonzero(has_shares)
    owner = np.concatenate([holders, extra_owner])
    person = np.concatenate([controller[holders], extra_person])
    weight = np.concatenate([rng.gamma(3.0, 1.0, len(holders)), rng.gamma(1.0, 1.0, n_extra_new)])
    total = np.zeros(n)
    np.add.at(total, owner, weight)
    outside = np.where(rng.random(n) < 0.2, rng.uniform(0.05, 0.5, n), 0.0)
    available = (1.0 - inv_share) * (1.0 - outside)
    share = _floor4(weight / total[owner] * available[owner])
    frames.append(rows(owner, "shareholder", person, share, None, est[owner]))

    # Actual controllers are recorded for enterprises in groups and for half of the others.
    group_size = np.bincount(pop.group)[pop.group]
    ctl = np.flatnonzero((pop.kind == 0) & ((group_size > 1) | (rng.random(n) < 0.5)))
    frames.append(rows(ctl, "actual_controller", controller[ctl], None, None, est[ctl]))

    # Type order then entity index then insertion order: a fixed, dict-free ordering.
    relations = pl.concat(
        [f.with_columns(_type=pl.lit(t, dtype=pl.Int8)) for t, f in enumerate(frames)], how="vertical"
    ).with_row_index("_row")
    relations = (
        relations.sort(["valid_from", "_order", "_type", "_row"])
        .with_columns(
            relation_id=pl.format("GX{}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(10))
        )
        .select(
            "relation_id",
            "uscc",
            "relation_type",
            "person_id_number",
            "related_uscc",
            "share",
            "valid_from",
            "valid_to",
        )
    )
    return People(persons=persons, relations=relations, legal_rep_name=persons["name"].gather(legal))
