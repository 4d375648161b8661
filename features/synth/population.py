"""The population of market entities: numpy arrays of codes, types, industries, dates and latent risk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from features import uscc as uscc_mod
from features.synth import lexicon

EPOCH = date(1970, 1, 1)
NEVER = np.iinfo(np.int32).max  # "not closed" in the day arrays
_ALPHA = np.frombuffer(uscc_mod.ALPHABET.encode(), dtype=np.uint8)
_USCC_W = np.array(uscc_mod.WEIGHTS, dtype=np.int64)
_ORG_W = np.array(uscc_mod.ORG_WEIGHTS, dtype=np.int64)
# GB 11714 counts letters in the full alphabet (A=10 … Z=35), not in the USCC alphabet.
_ORG_VALUE_OF_USCC = np.array(
    [int(c) if c.isdigit() else ord(c) - ord("A") + 10 for c in uscc_mod.ALPHABET], dtype=np.int64
)
_DIGIT_X = np.frombuffer(b"0123456789X", dtype=np.uint8)


def day(d: date) -> int:
    """Days since 1970-01-01 (the int form of dates in the generator)."""
    return (d - EPOCH).days


def add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


@dataclass(frozen=True, slots=True)
class Timeline:
    """The simulated window: ``years`` one-year periods ending on ``end`` (inclusive)."""

    start: int
    end: int
    bounds: np.ndarray  # int32, years+1 period boundaries; period k = [bounds[k], bounds[k+1])

    @classmethod
    def ending(cls, end: date, years: int) -> Timeline:
        starts = [day(add_years(end, -years + k)) + 1 for k in range(years + 1)]
        return cls(start=starts[0], end=day(end), bounds=np.array(starts, dtype=np.int32))

    @property
    def years(self) -> int:
        return len(self.bounds) - 1

    def period_of(self, days: np.ndarray) -> np.ndarray:
        return (np.searchsorted(self.bounds, days, side="right") - 1).astype(np.int16)

    def year_of(self, days: np.ndarray) -> np.ndarray:
        """Calendar year of each day number."""
        return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


@dataclass(frozen=True, slots=True)
class Population:
    """One row per entity (index i), plus the latent risk per period (logit scale)."""

    kind: np.ndarray  # index into lexicon.KINDS
    industry: np.ndarray  # index into lexicon.INDUSTRIES
    division: np.ndarray  # index into lexicon.DIVISIONS
    established: np.ndarray  # int32 days
    closed: np.ndarray  # int32 days, NEVER when open
    status: np.ndarray  # str array of catalog ENTITY_STATUSES
    capital: np.ndarray  # float64, nan when missing
    group: np.ndarray  # int64 group (controller) id
    base_logit: np.ndarray
    group_effect: np.ndarray
    logit: np.ndarray  # (n, years) latent violation logit per period
    uscc: pl.Series  # codes; indexing with an int array gathers
    name: pl.Series

    @property
    def n(self) -> int:
        return len(self.kind)

    def risk(self, idx: np.ndarray, period: np.ndarray) -> np.ndarray:
        """Probability that entity ``idx`` is in violation during ``period``."""
        return 1.0 / (1.0 + np.exp(-self.logit[idx, period]))

    def is_open(self, idx: np.ndarray, when: np.ndarray | int) -> np.ndarray:
        return (self.established[idx] <= when) & (self.closed[idx] > when)


def _choice(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=size, p=p / p.sum())


def ascii_rows(codes: np.ndarray) -> pl.Series:
    """Rows of ASCII bytes (n, width) → a string Series (through Binary: no Python objects per row)."""
    width = codes.shape[1]
    return pl.Series(np.ascontiguousarray(codes).view(f"S{width}").ravel()).cast(pl.String)


def uscc_codes(
    prefix: np.ndarray, division: np.ndarray, org8: np.ndarray, *, org_ok: np.ndarray
) -> pl.Series:
    """Valid USCCs from (n, 2) prefix, (n, 6) division and (n, 8) organisation-body byte arrays.

    The organisation code's own GB 11714 check digit is computed (and deliberately wrong where ``org_ok``
    is False, as some genuine codes are); the mod-31 check character is always right.
    """
    n = len(prefix)
    lookup = np.full(256, -1, dtype=np.int64)
    lookup[_ALPHA] = np.arange(31)
    org_vals = _ORG_VALUE_OF_USCC[lookup[org8]]
    digit = 11 - (org_vals @ _ORG_W) % 11
    digit = np.where(digit == 11, 0, digit)
    digit = np.where(org_ok, digit, (digit + 1) % 11)  # a wrong digit that is still a USCC character
    body = np.empty((n, 18), dtype=np.uint8)
    body[:, 0:2] = prefix
    body[:, 2:8] = division
    body[:, 8:16] = org8
    body[:, 16] = _DIGIT_X[digit]
    total = lookup[body[:, :17]] @ _USCC_W
    body[:, 17] = _ALPHA[(31 - total % 31) % 31]
    return ascii_rows(body)


def _org_bodies(rng: np.random.Generator, modern: np.ndarray) -> np.ndarray:
    """Unique 8-character organisation bodies: ``MA`` + 6 USCC characters after 2015, 8 digits before."""
    n = len(modern)
    out = np.empty((n, 8), dtype=np.uint8)
    value = np.empty(n, dtype=np.int64)
    todo = np.arange(n)
    space_modern, space_old = 31**6, 10**8
    while len(todo):
        value[todo] = np.where(
            modern[todo], rng.integers(0, space_modern, len(todo)), rng.integers(0, space_old, len(todo))
        )
        key = value + np.where(modern, space_old, 0)
        _, first = np.unique(key, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        todo = np.flatnonzero(dup)
    mod = np.flatnonzero(modern)
    out[mod, 0:2] = np.frombuffer(b"MA", dtype=np.uint8)
    rest = value[mod]
    for pos in range(7, 1, -1):
        out[mod, pos] = _ALPHA[rest % 31]
        rest //= 31
    old = np.flatnonzero(~modern)
    rest = value[old]
    for pos in range(7, -1, -1):
        out[old, pos] = 48 + rest % 10
        rest //= 10
    return out


def _groups(rng: np.random.Generator, n: int) -> np.ndarray:
    """Controller groups: most people control one entity; a Pareto tail controls dozens (capped at 120).

    About a third of entities end up in multi-entity groups.
    """
    single = rng.random(n) < 0.88
    sizes = np.where(single, 1, 2 + np.floor(2.0 * rng.pareto(2.0, n)).astype(np.int64))
    sizes = np.minimum(sizes, 120)
    cut = int(np.searchsorted(np.cumsum(sizes), n)) + 1
    sizes = sizes[:cut]
    sizes[-1] -= sizes.sum() - n
    group = np.repeat(np.arange(len(sizes)), sizes)
    return group[rng.permutation(n)]


def build_population(rng: np.random.Generator, *, n: int, timeline: Timeline) -> Population:
    """Entities with their registrations and latent risk; about a third open during the window."""
    kinds = lexicon.KINDS
    kind = _choice(rng, np.array([k.share for k in kinds]), n).astype(np.int8)
    weights = np.array([ind.weights for ind in lexicon.INDUSTRIES], dtype=np.float64)  # (industries, kinds)
    industry = np.empty(n, dtype=np.int16)
    for k in range(len(kinds)):
        rows = np.flatnonzero(kind == k)
        industry[rows] = _choice(rng, weights[:, k], len(rows))
    division = _choice(rng, np.array([d.weight for d in lexicon.DIVISIONS]), n).astype(np.int8)

    # Ages: entities alive at the window start (exponential ages, mean 7 years, back to 1993) and openings
    # during the window at a slowly growing rate; lifetimes are exponential, so the residual life of an
    # entity alive at the start has the same law (memoryless) and every closure falls inside the window.
    span = timeline.end - timeline.start + 1
    opened_inside = rng.random(n) < min(0.09 * timeline.years, 0.6)
    age = np.minimum(rng.exponential(7 * 365.25, n), day(date(2026, 1, 1)) - day(date(1993, 1, 1)))
    inside = timeline.start + np.floor(np.sqrt(rng.random(n)) * span)  # density rising over the window
    established = np.where(opened_inside, inside, timeline.start - 1 - np.floor(age)).astype(np.int32)
    mean_life = np.array([k.mean_life_years for k in kinds])[kind] * 365.25

    industry_risk = np.array([ind.risk for ind in lexicon.INDUSTRIES])[industry]
    kind_risk = np.array([k.risk for k in kinds])[kind]
    group = _groups(rng, n)
    n_groups = int(group.max()) + 1
    group_effect_by_group = rng.normal(0.0, 0.7, n_groups)
    group_effect = group_effect_by_group[group]
    idio = rng.normal(0.0, 0.8, n)

    med = np.array([k.capital_median for k in kinds])[kind]
    sigma = np.array([k.capital_sigma for k in kinds])[kind]
    capital = np.exp(np.log(med) + sigma * rng.standard_normal(n))
    capital = np.where(capital > 1e5, np.round(capital, -4), np.round(capital, -3))
    capital = np.maximum(capital, 1000.0)
    capital[rng.random(n) < np.array([k.capital_missing for k in kinds])[kind]] = np.nan
    capital_effect = np.where(np.isnan(capital), 0.0, -0.12 * (np.log10(np.nan_to_num(capital, nan=1e6)) - 6))

    base = -1.75 + industry_risk + kind_risk + group_effect + idio + capital_effect
    # Risk drifts by a random walk from year to year; young entities are riskier, settling with age.
    years = timeline.years
    drift = np.cumsum(rng.normal(0.0, 0.3, (n, years)), axis=1)
    mid = (timeline.bounds[:-1] + timeline.bounds[1:]) / 2
    age_years = np.maximum(mid[None, :] - established[:, None], 0) / 365.25
    logit = (base[:, None] + drift + 0.6 * np.exp(-age_years / 1.5)).astype(np.float32)

    hazard_scale = np.exp(0.35 * (base - base.mean()))  # riskier entities fold sooner
    life = rng.exponential(1.0, n) * mean_life / hazard_scale
    origin = np.maximum(established, timeline.start)
    closed = origin + np.floor(life) + 1
    closed = np.where(closed <= timeline.end, closed, NEVER).astype(np.int32)
    is_closed = closed != NEVER
    revoked = is_closed & (rng.random(n) < 0.1 + 0.5 / (1 + np.exp(-(base + 0.5))))
    suspended = ~is_closed & (rng.random(n) < 0.01)
    status = np.where(revoked, "revoked", np.where(is_closed, "deregistered", "active"))
    status = np.where(suspended, "suspended", status)

    modern = established >= day(date(2015, 10, 1))  # the USCC reform: new codes are "MA…"
    prefix = np.frombuffer("".join(k.prefix for k in kinds).encode(), dtype=np.uint8).reshape(-1, 2)[kind]
    div_bytes = np.frombuffer("".join(d.code for d in lexicon.DIVISIONS).encode(), dtype=np.uint8)
    codes = uscc_codes(
        prefix,
        div_bytes.reshape(-1, 6)[division],
        _org_bodies(rng, modern),
        org_ok=rng.random(n) >= 0.003,
    )
    name = _names(rng, kind=kind, industry=industry, division=division)
    return Population(
        kind=kind,
        industry=industry,
        division=division,
        established=established,
        closed=closed,
        status=status,
        capital=capital,
        group=group,
        base_logit=base,
        group_effect=group_effect,
        logit=logit,
        uscc=codes,
        name=name,
    )


def _pick(rng: np.random.Generator, choices: str | tuple[str, ...], n: int) -> pl.Series:
    values = pl.Series(list(choices), dtype=pl.String)
    return values.gather(rng.integers(0, len(values), n))


def _names(
    rng: np.random.Generator, *, kind: np.ndarray, industry: np.ndarray, division: np.ndarray
) -> pl.Series:
    n = len(kind)
    place = pl.Series([d.name for d in lexicon.DIVISIONS]).gather(division)
    word = pl.Series([i.word for i in lexicon.INDUSTRIES]).gather(industry)
    suffix_lists = [k.suffix for k in lexicon.KINDS]
    suffix_pick = rng.integers(0, 1 << 30, n) % np.array([len(s) for s in suffix_lists])[kind]
    flat = [s for lst in suffix_lists for s in lst]
    offsets = np.cumsum([0] + [len(s) for s in suffix_lists])[:-1]
    suffix = pl.Series(flat).gather(offsets[kind] + suffix_pick)
    frame = pl.DataFrame(
        {
            "place": place,
            "b1": _pick(rng, lexicon.BRAND, n),
            "b2": _pick(rng, lexicon.BRAND, n),
            "owner": _pick(rng, lexicon.SURNAMES, n),
            "word": word,
            "suffix": suffix,
            "individual": kind == 1,
        }
    )
    names = frame.select(
        pl.when(pl.col("individual"))
        .then(pl.concat_str("place", "owner", "b1", "word", "suffix"))
        .otherwise(pl.concat_str("place", "b1", "b2", "word", "suffix"))
    ).to_series()
    head = frame.select(
        pl.when(pl.col("individual"))
        .then(pl.concat_str("place", "owner", "b1"))
        .otherwise(pl.concat_str("place", "b1", "b2"))
    ).to_series()
    return _unique_names(names, head, frame.select(pl.concat_str("word", "suffix")).to_series())


def _unique_names(names: pl.Series, head: pl.Series, tail: pl.Series) -> pl.Series:
    """Registration refuses a name already taken, so a later registrant adds a word to its trade name.

    Deterministic (no random draws): the k-th holder of a taken name inserts the k-th extra brand syllable,
    repeated until every name is unique.
    """
    brand = pl.Series(list(lexicon.BRAND), dtype=pl.String)
    out = names
    for _ in range(8):
        rank = out.to_frame("name").select(pl.int_range(pl.len()).over("name")).to_series()
        if rank.max() in (None, 0):
            break
        extra = brand.gather((rank.to_numpy() * 7 + np.arange(len(out))) % len(brand))
        rebuilt = pl.concat_str([head, extra, tail], separator="")
        out = pl.select(pl.when(rank > 0).then(rebuilt).otherwise(out)).to_series()
        head = pl.select(pl.when(rank > 0).then(pl.concat_str([head, extra])).otherwise(head)).to_series()
    return out.alias("name")


def addresses_and_phones(rng: np.random.Generator, pop: Population) -> tuple[pl.Series, pl.Series]:
    """Registered addresses and phones; some shared within a controller's group, some by many (agents)."""
    n = pop.n
    place = pl.Series([d.name for d in lexicon.DIVISIONS]).gather(pop.division)
    road = _pick(rng, lexicon.ROADS, n)
    number = pl.Series(rng.integers(1, 999, n))
    room = pl.Series(rng.integers(101, 2999, n))
    phone_num = rng.integers(13_000_000_000, 19_999_999_999, n)
    # Group sharing: a member uses its group leader's address/phone (the leader is the group's first row).
    order = np.argsort(pop.group, kind="stable")
    leader_sorted = np.empty(n, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, np.diff(pop.group[order]) != 0])
    leader_sorted[:] = np.repeat(order[starts], np.diff(np.r_[starts, n]))
    leader = np.empty(n, dtype=np.int64)
    leader[order] = leader_sorted
    share_addr = rng.random(n) < 0.35
    share_phone = rng.random(n) < 0.3
    src_addr = np.where(share_addr, leader, np.arange(n))
    src_phone = np.where(share_phone, leader, np.arange(n))
    # Cluster registration addresses (集群注册) and bookkeeping agents' phones used by many entities.
    hub = rng.random(n) < 0.02
    hub_id = rng.integers(0, max(n // 2000, 5), n)
    frame = pl.DataFrame({"place": place, "road": road, "number": number, "room": room})
    addr = frame.select(
        pl.concat_str(
            pl.lit("江苏省"),
            "place",
            "road",
            pl.col("number").cast(pl.String),
            pl.lit("号"),
        )
    ).to_series()
    addr = addr.gather(src_addr)
    hub_addr = pl.concat_str(
        [
            pl.lit("江苏省盐城市亭湖区商务秘书园区"),
            pl.Series(hub_id).cast(pl.String),
            pl.lit("号楼"),
            room.cast(pl.String),
            pl.lit("室"),
        ],
    )
    addr = pl.select(pl.when(pl.Series(hub)).then(hub_addr).otherwise(addr)).to_series()
    phone = pl.Series(phone_num).gather(src_phone).cast(pl.String)
    agent_phone = rng.random(n) < 0.015
    agent_num = pl.Series(5150_0000 + rng.integers(0, max(n // 5000, 3), n)).cast(pl.String)
    phone = pl.select(
        pl.when(pl.Series(agent_phone)).then(pl.concat_str(pl.lit("0515-"), agent_num)).otherwise(phone)
    ).to_series()
    return addr.alias("address"), phone.alias("phone")


def entities_frame(pop: Population, address: pl.Series, phone: pl.Series) -> pl.DataFrame:
    """The ``entities`` source table (catalog columns, one row per entity)."""
    closed = pl.Series(pop.closed).cast(pl.Int32)
    return pl.DataFrame(
        {
            "uscc": pop.uscc,
            "name": pop.name,
            "entity_type": pl.Series([k.entity_type for k in lexicon.KINDS]).gather(pop.kind),
            "industry": pl.Series([i.code for i in lexicon.INDUSTRIES]).gather(pop.industry),
            "division_code": pl.Series([d.code for d in lexicon.DIVISIONS]).gather(pop.division),
            "registered_capital": pl.Series(pop.capital).fill_nan(None),
            "established_on": pl.Series(pop.established).cast(pl.Date),
            "closed_on": pl.select(
                pl.when(closed != NEVER).then(closed).otherwise(None).cast(pl.Date)
            ).to_series(),
            "status": pop.status,
            "address": address,
            "phone": phone,
        }
    )
