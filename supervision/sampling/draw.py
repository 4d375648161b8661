"""The double-random draw (双随机): scored roster + task parameters + seed → selection with exact inclusion
probabilities.

Design (docs/sampling.md derives it): a control slice of ``c`` entities by simple random sampling without
replacement (SRSWOR) from the whole eligible roster, then, among the entities not in the control slice,
stratified SRSWOR by tier with fixed tier sizes ``n_t`` (the policy's ratios scaled to the rest of the
budget). Tier t takes ``min(n_t, N_t - C_t)`` where ``C_t`` is how many control entities fell in it, so an
entity of tier t is selected with probability

    π_t = c/N + (1 - c/N) · E[min(n_t, N_t - C_t) / (N_t - C_t) | entity not in control],
    C_t | (entity not in control) ~ Hypergeometric(population N-1, successes N_t-1, draws c),

computed exactly with ``scipy.stats.hypergeom``. Reproducibility: a 32-byte seed, numpy PCG64 seeded from
it, and a canonical (USCC-sorted) roster; hashes of seed, roster snapshot and parameters are published.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import hypergeom, norm

from supervision.platform.errors import DomainError
from supervision.sampling.errors import SamplingInputError
from supervision.sampling.ratios import TIERS, TierRatioPolicy

__all__ = [
    "ROSTER_SCHEMA",
    "SELECTION_SCHEMA",
    "Budget",
    "DrawPlan",
    "EmptyScopeError",
    "PublishedHashes",
    "RosterTooSmallError",
    "TaskParams",
    "TaskScope",
    "VerificationReport",
    "canonical_roster",
    "draw",
    "eligible_roster",
    "estimate_violation_rate",
    "merge_visits",
    "new_seed",
    "plan_draw",
    "publish",
    "resting",
    "roster_sha256",
    "selection_bytes",
    "sha256_hex",
    "tier_counts",
    "verify",
]

ROSTER_SCHEMA = pl.Schema(
    {
        "uscc": pl.String(),
        "tier": pl.String(),
        "division_code": pl.String(),
        "industry": pl.String(),
        "entity_type": pl.String(),
        "list_status": pl.String(),
        "last_inspected_on": pl.Date(),
    }
)
_REQUIRED_ROSTER = ("uscc", "tier")

SELECTION_SCHEMA = pl.Schema(
    {
        "uscc": pl.String(),
        "tier": pl.String(),
        "inclusion_probability": pl.Float64(),
        "in_control_slice": pl.Boolean(),
    }
)

SEED_BYTES = 32


class EmptyScopeError(DomainError, ValueError):
    """The task's scope (after the rest periods) leaves no eligible entity."""


class RosterTooSmallError(DomainError, ValueError):
    """The budget asks for more entities than the eligible roster holds, or cannot honour the floor."""


@dataclass(frozen=True)
class TaskScope:
    """定向 filter of the target roster; an empty tuple means no restriction on that attribute.

    ``divisions`` match as prefixes of the 6-digit administrative division code (``3209`` = the whole city).
    """

    divisions: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()
    list_statuses: tuple[str, ...] = ()

    def to_json(self) -> dict[str, list[str]]:
        return {
            "divisions": sorted(self.divisions),
            "industries": sorted(self.industries),
            "entity_types": sorted(self.entity_types),
            "list_statuses": sorted(self.list_statuses),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskScope:
        return cls(
            **{
                k: tuple(data.get(k, ()))
                for k in ("divisions", "industries", "entity_types", "list_statuses")
            }
        )


@dataclass(frozen=True)
class Budget:
    """How many entities to inspect: an absolute ``count`` or a base ``ratio`` of the eligible roster."""

    count: int | None = None
    ratio: float | None = None

    def __post_init__(self) -> None:
        if (self.count is None) == (self.ratio is None):
            raise SamplingInputError("budget: give exactly one of count or ratio")
        if self.count is not None and self.count < 1:
            raise SamplingInputError(f"budget count {self.count}: must be ≥ 1")
        if self.ratio is not None and not (0.0 < self.ratio <= 1.0):
            raise SamplingInputError(f"budget ratio {self.ratio:g}: must lie in (0, 1]")

    def size(self, eligible: int) -> int:
        """The number of entities to draw from ``eligible`` entities."""
        n = self.count if self.count is not None else math.ceil(float(self.ratio or 0.0) * eligible - 1e-9)
        if n > eligible:
            raise RosterTooSmallError(
                f"budget of {n} entities exceeds the {eligible} eligible entities in the task's scope"
            )
        return n

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "ratio": self.ratio}


@dataclass(frozen=True)
class TaskParams:
    """Everything besides the roster and the seed that determines a draw (hashed and published)."""

    department: str
    items: tuple[str, ...]
    budget: Budget
    as_of: date
    scope: TaskScope = field(default_factory=TaskScope)
    policy: TierRatioPolicy = field(default_factory=TierRatioPolicy)
    period: str = ""

    def __post_init__(self) -> None:
        if not self.department.strip():
            raise SamplingInputError("department: must not be empty")
        if not self.items or any(not i.strip() for i in self.items):
            raise SamplingInputError(
                f"items {list(self.items)}: a task needs at least one non-empty check item"
            )
        self.policy.validate()
        if (self.as_of - date.min).days < self.policy.longest_rest:
            raise SamplingInputError(
                f"as_of {self.as_of.isoformat()}: the {self.policy.longest_rest}-day rest period "
                "reaches before the first representable date"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "period": self.period,
            "items": list(self.items),
            "budget": self.budget.to_json(),
            "as_of": self.as_of.isoformat(),
            "scope": self.scope.to_json(),
            "policy": self.policy.to_json(),
        }

    def canonical_bytes(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskParams:
        budget = data["budget"]
        return cls(
            department=data["department"],
            period=data.get("period", ""),
            items=tuple(data["items"]),
            budget=Budget(count=budget.get("count"), ratio=budget.get("ratio")),
            as_of=date.fromisoformat(data["as_of"]),
            scope=TaskScope.from_json(data.get("scope", {})),
            policy=TierRatioPolicy.from_json(data.get("policy", {})),
        )


@dataclass(frozen=True)
class PublishedHashes:
    """What is published when a task is created: SHA-256 of the secret seed, the roster and the parameters."""

    seed_sha256: str
    roster_sha256: str
    params_sha256: str


@dataclass(frozen=True)
class DrawPlan:
    """Tier sizes and exact inclusion probabilities, before any random number is drawn."""

    eligible: int
    budget: int
    control: int
    tier_counts: Mapping[str, int]
    tier_sizes: Mapping[str, int]
    inclusion: Mapping[str, float]


@dataclass(frozen=True)
class VerificationReport:
    ok: bool
    checks: tuple[tuple[str, bool, str], ...]  # (what, ok, detail)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_seed() -> bytes:
    """32 bytes from the operating system's CSPRNG, drawn once when a task is created."""
    return secrets.token_bytes(SEED_BYTES)


def _check_seed(seed: bytes) -> None:
    if not isinstance(seed, bytes | bytearray) or len(seed) != SEED_BYTES:
        raise SamplingInputError(
            f"seed: expected {SEED_BYTES} bytes, got {type(seed).__name__} of length {len(seed)}"
        )


# ---------------------------------------------------------------------------------------------- roster
def canonical_roster(roster: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The draw-relevant roster columns, typed, checked and sorted by USCC (the canonical snapshot)."""
    df = roster.collect() if isinstance(roster, pl.LazyFrame) else roster
    missing = [c for c in _REQUIRED_ROSTER if c not in df.columns]
    if missing:
        raise SamplingInputError(
            f"roster: missing required columns {missing}; expected at least {list(_REQUIRED_ROSTER)}"
        )
    df = (
        df.lazy()
        .select(
            [
                (pl.col(c) if c in df.columns else pl.lit(None)).cast(dtype).alias(c)
                for c, dtype in ROSTER_SCHEMA.items()
            ]
        )
        .sort("uscc")
        .collect()
    )
    # One pass for all checks; the details are looked up only when one fails. Sorted, so a duplicate sits
    # next to its twin: O(n) instead of a hash aggregation.
    flags = df.select(
        nulls=(pl.col("uscc").is_null() | pl.col("tier").is_null()).any(),
        bad_tier=(~pl.col("tier").is_in(TIERS)).any(),
        dup=(pl.col("uscc") == pl.col("uscc").shift(1)).any(),
    ).row(0, named=True)
    if flags["nulls"]:
        row = df.filter(pl.col("uscc").is_null() | pl.col("tier").is_null()).row(0, named=True)
        raise SamplingInputError(
            f"roster: uscc and tier are required; found a row with uscc={row['uscc']!r} tier={row['tier']!r}"
        )
    if flags["bad_tier"]:
        row = df.filter(~pl.col("tier").is_in(TIERS)).row(0, named=True)
        raise SamplingInputError(
            f"roster: uscc {row['uscc']}: tier {row['tier']!r} is not one of {list(TIERS)}"
        )
    if flags["dup"]:
        first = df.filter(pl.col("uscc") == pl.col("uscc").shift(1))["uscc"][0]
        raise SamplingInputError(
            f"roster: uscc {first} appears {int((df['uscc'] == first).sum())} times; each entity once"
        )
    return df


def _roster_bytes(canonical: pl.DataFrame) -> bytes:
    # Fixed column order, ISO dates, '\n' lines, empty for null: stable across platforms.
    return canonical.write_csv(include_header=True, line_terminator="\n", date_format="%Y-%m-%d").encode()


def roster_sha256(roster: pl.DataFrame | pl.LazyFrame) -> str:
    return sha256_hex(_roster_bytes(canonical_roster(roster)))


def _in_scope(scope: TaskScope) -> list[pl.Expr]:
    predicates: list[pl.Expr] = []
    if scope.divisions:
        predicates.append(
            pl.any_horizontal(
                *[pl.col("division_code").str.starts_with(d) for d in scope.divisions]
            ).fill_null(False)
        )
    for column, values in (
        ("industry", scope.industries),
        ("entity_type", scope.entity_types),
        ("list_status", scope.list_statuses),
    ):
        if values:
            predicates.append(pl.col(column).is_in(list(values)).fill_null(False))
    return predicates


def resting(params: TaskParams) -> pl.Expr:
    """True for an entity within its tier's rest period: inspected on a day after ``as_of − rest_days[tier]``
    (a tier with 0 days never rests: D, 按需检查)."""
    rest = params.policy.rest_days
    parts = [
        (pl.col("tier") == t) & (pl.col("last_inspected_on") > params.as_of - timedelta(days=rest[t]))
        for t in TIERS
        if rest[t] > 0
    ]
    if not parts:
        return pl.lit(False)
    return pl.any_horizontal(*parts).fill_null(False)


def _rest_text(params: TaskParams) -> str:
    rest = params.policy.rest_days
    return "rest periods " + ", ".join(f"{t} {rest[t]}" for t in TIERS) + " days"


def eligible_roster(canonical: pl.DataFrame, *, params: TaskParams) -> pl.DataFrame:
    """Entities in the task's scope, minus those within their tier's rest period after an inspection."""
    predicates = [*_in_scope(params.scope), ~resting(params)]
    out = canonical.filter(*predicates)
    if out.height == 0:
        raise EmptyScopeError(
            f"scope {params.scope.to_json()} with {_rest_text(params)} as of "
            f"{params.as_of.isoformat()} leaves no eligible entity (roster of {canonical.height})"
        )
    return out


def tier_counts(canonical: pl.DataFrame, *, params: TaskParams) -> dict[str, tuple[int, int]]:
    """Per tier (A..D): (entities in the task's scope, of them eligible — not resting)."""
    scope = _in_scope(params.scope)
    scoped = canonical.filter(*scope) if scope else canonical
    # Through a column: a literal (no tier ever rests) would be summed once, not once per row.
    counts = (
        scoped.with_columns(_resting=resting(params))
        .group_by("tier")
        .agg(in_scope=pl.len(), eligible=(~pl.col("_resting")).sum().cast(pl.Int64))
    )
    found = {t: (int(a), int(b)) for t, a, b in counts.select("tier", "in_scope", "eligible").iter_rows()}
    return {t: found.get(t, (0, 0)) for t in TIERS}


# ---------------------------------------------------------------------------------------------- plan
def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _allocate(weights: Sequence[float], lower: Sequence[int], upper: Sequence[int], total: int) -> list[int]:
    """Integer sizes ∝ weights, each within [lower, upper], summing to ``total`` (water-filling + largest
    remainder)."""
    w = [float(v) for v in weights]
    lo = [float(v) for v in lower]
    hi = [float(v) for v in upper]

    # Four tiers: plain floats are far cheaper than numpy here (this runs once per draw).
    def filled(lam: float) -> list[float]:
        return [min(max(lam * wi, li), hi_) for wi, li, hi_ in zip(w, lo, hi, strict=True)]

    a, b = 0.0, 1.0
    while sum(filled(b)) < total and b < 1e18:
        b *= 2.0
    for _ in range(100):  # bisection to double precision
        mid = (a + b) / 2.0
        if sum(filled(mid)) < total:
            a = mid
        else:
            b = mid
    x = np.asarray(filled(b))
    hi_arr, lo_arr = np.asarray(hi), np.asarray(lo)
    sizes = np.minimum(np.floor(x + 1e-9), hi_arr).astype(int)
    sizes = np.maximum(sizes, lo_arr.astype(int))
    short = total - int(sizes.sum())
    # Largest fractional remainder first; ties to the higher-risk tier (later in A..D order) — documented.
    order = sorted(range(len(w)), key=lambda i: (-(x[i] - sizes[i]), -i))
    while short > 0:
        progressed = False
        for i in order:
            if short and sizes[i] < hi[i]:
                sizes[i] += 1
                short -= 1
                progressed = True
        if not progressed:
            raise RosterTooSmallError(f"cannot place {short} more entities: every tier is exhausted")
    while short < 0:
        progressed = False
        for i in reversed(order):
            if short and sizes[i] > lo[i]:
                sizes[i] -= 1
                short += 1
                progressed = True
        if not progressed:  # pragma: no cover - lower bounds summing above total are refused earlier
            raise RosterTooSmallError("the tiers' floors exceed the budget")
    return [int(s) for s in sizes]


def _inclusion(n_pop: int, n_tier: int, size: int, control: int) -> float:
    """Exact first-order inclusion probability of one entity of a tier (see the module docstring)."""
    if n_tier == 0:
        return 0.0
    if control == 0:
        return size / n_tier
    if control >= n_pop:
        return 1.0
    p_control = control / n_pop
    k = np.arange(0, min(control, n_tier - 1) + 1)
    # Given the entity is not in the control slice, the slice is an SRSWOR of `control` from the other N-1.
    pmf = hypergeom.pmf(k, n_pop - 1, n_tier - 1, control)
    remaining = n_tier - k
    expected = float(np.sum(pmf * np.minimum(size, remaining) / remaining))
    return min(1.0, p_control + (1.0 - p_control) * expected)


def plan_draw(tier_counts: Mapping[str, int], *, params: TaskParams) -> DrawPlan:
    """Control-slice size, tier sizes and exact inclusion probabilities for eligible tier counts ``N_t``."""
    policy = params.policy
    counts = {t: int(tier_counts.get(t, 0)) for t in TIERS}
    n_pop = sum(counts.values())
    if n_pop == 0:
        raise EmptyScopeError("no eligible entity in the task's scope")
    n = params.budget.size(n_pop)
    control = min(n, _round_half_up(policy.control_share * n))
    rest = n - control
    lower = [min(counts[t], math.ceil(policy.floor * counts[t] - 1e-12)) for t in TIERS]
    if sum(lower) > rest:
        raise RosterTooSmallError(
            f"budget {n} (control slice {control}) cannot give every tier the floor probability "
            f"{policy.floor:g}: the tiers need {sum(lower)} entities besides the control slice"
        )
    weights = [policy.ratios[t] * counts[t] for t in TIERS]
    if rest and sum(weights) == 0:
        raise RosterTooSmallError("no tier has both entities and a positive ratio")
    sizes = _allocate(weights, lower, [counts[t] for t in TIERS], rest) if rest else [0] * len(TIERS)
    inclusion = {t: _inclusion(n_pop, counts[t], s, control) for t, s in zip(TIERS, sizes, strict=True)}
    for t in TIERS:
        if counts[t] and inclusion[t] < policy.floor:
            raise RosterTooSmallError(
                f"tier {t}: inclusion probability {inclusion[t]:.6g} is below the floor {policy.floor:g} "
                f"(不免抽); raise the budget or the tier's ratio"
            )
    return DrawPlan(
        eligible=n_pop,
        budget=n,
        control=control,
        tier_counts=counts,
        tier_sizes=dict(zip(TIERS, sizes, strict=True)),
        inclusion=inclusion,
    )


# ---------------------------------------------------------------------------------------------- draw
def _generator(seed: bytes, *stream: int) -> np.random.Generator:
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(int.from_bytes(seed, "big"), spawn_key=stream))
    )


def draw(roster: pl.DataFrame | pl.LazyFrame, *, params: TaskParams, seed: bytes) -> pl.DataFrame:
    """The selection: uscc, tier, inclusion_probability, in_control_slice — sorted by USCC."""
    _check_seed(seed)
    eligible = eligible_roster(canonical_roster(roster), params=params)
    tiers = (
        eligible["tier"].replace_strict({t: i for i, t in enumerate(TIERS)}, return_dtype=pl.Int8).to_numpy()
    )
    plan = plan_draw({t: int((tiers == i).sum()) for i, t in enumerate(TIERS)}, params=params)
    rng = _generator(bytes(seed))
    selected = np.zeros(eligible.height, dtype=bool)
    control = np.zeros(eligible.height, dtype=bool)
    if plan.control:
        control[rng.choice(eligible.height, size=plan.control, replace=False)] = True
    selected |= control
    for i, t in enumerate(TIERS):
        pool = np.flatnonzero((tiers == i) & ~control)
        take = min(plan.tier_sizes[t], pool.size)
        if take:
            selected[rng.choice(pool, size=take, replace=False)] = True
    prob = np.array([plan.inclusion[t] for t in TIERS])[tiers]
    return pl.DataFrame(
        {
            "uscc": eligible["uscc"].filter(selected),
            "tier": eligible["tier"].filter(selected),
            "inclusion_probability": pl.Series(prob[selected], dtype=pl.Float64()),
            "in_control_slice": pl.Series(control[selected]),
        }
    ).match_to_schema(SELECTION_SCHEMA)


def selection_bytes(selection: pl.DataFrame) -> bytes:
    """Canonical serialisation of a selection (sorted by USCC; probabilities as shortest round-trip repr)."""
    df = selection.select(list(SELECTION_SCHEMA)).sort("uscc")
    lines = ["uscc,tier,inclusion_probability,in_control_slice"]
    for uscc, tier, p, c in df.iter_rows():
        lines.append(f"{uscc},{tier},{float(p)!r},{int(bool(c))}")
    return ("\n".join(lines) + "\n").encode()


def publish(roster: pl.DataFrame | pl.LazyFrame, *, params: TaskParams, seed: bytes) -> PublishedHashes:
    """The hashes published at task creation (the seed itself stays secret until the draw)."""
    _check_seed(seed)
    return PublishedHashes(
        seed_sha256=sha256_hex(bytes(seed)),
        roster_sha256=roster_sha256(roster),
        params_sha256=sha256_hex(params.canonical_bytes()),
    )


def verify(
    roster: pl.DataFrame | pl.LazyFrame,
    *,
    params: TaskParams,
    seed: bytes,
    published: PublishedHashes,
    selection: pl.DataFrame,
) -> VerificationReport:
    """Re-run the draw from the published inputs and the revealed seed; every check must hold."""
    checks: list[tuple[str, bool, str]] = []
    seed_hash = sha256_hex(bytes(seed))
    checks.append(
        (
            "seed",
            seed_hash == published.seed_sha256,
            f"sha256(seed)={seed_hash}, published {published.seed_sha256}",
        )
    )
    canonical = canonical_roster(roster)  # once: hashed here and drawn from below
    roster_hash = sha256_hex(_roster_bytes(canonical))
    checks.append(
        (
            "roster",
            roster_hash == published.roster_sha256,
            f"sha256(roster)={roster_hash}, published {published.roster_sha256}",
        )
    )
    params_hash = sha256_hex(params.canonical_bytes())
    checks.append(
        (
            "params",
            params_hash == published.params_sha256,
            f"sha256(params)={params_hash}, published {published.params_sha256}",
        )
    )
    try:
        again = draw(canonical, params=params, seed=bytes(seed))
        expected, given = selection_bytes(again), selection_bytes(selection)
        same = expected == given
        detail = (
            f"{again.height} entities, identical"
            if same
            else f"re-drawn list ({again.height} entities, sha256 {sha256_hex(expected)[:16]}…) differs "
            f"from the published list ({selection.height} entities, sha256 {sha256_hex(given)[:16]}…)"
        )
        checks.append(("list", same, detail))
    except ValueError as exc:
        checks.append(("list", False, f"the draw cannot be re-run: {exc}"))
    return VerificationReport(ok=all(ok for _, ok, _ in checks), checks=tuple(checks))


# ---------------------------------------------------------------------------------------------- merge
def merge_visits(selections: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """进一次门、查多项事: one visit per USCC over several departments' selections for the same period.

    Input columns: task_id, department, uscc, items (list of str). Output, sorted by USCC: uscc, task_ids,
    departments, items (each "department: item", sorted, de-duplicated).
    """
    df = selections.collect() if isinstance(selections, pl.LazyFrame) else selections
    need = {"task_id", "department", "uscc", "items"}
    if not need <= set(df.columns):
        raise SamplingInputError(f"merge_visits: missing columns {sorted(need - set(df.columns))}")
    return (
        df.explode("items")
        .with_columns(item=pl.col("department") + pl.lit(": ") + pl.col("items"))
        .group_by("uscc")
        .agg(
            task_ids=pl.col("task_id").unique().sort(),
            departments=pl.col("department").unique().sort(),
            items=pl.col("item").unique().sort(),
        )
        .sort("uscc")
    )


# ---------------------------------------------------------------------------------------------- estimates
VIOLATIONS = ("violation", "serious_violation")


def estimate_violation_rate(
    population: pl.DataFrame,
    sample: pl.DataFrame,
    *,
    violation_outcomes: Iterable[str] = VIOLATIONS,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Horvitz–Thompson violation rate, overall and per tier, with a confidence interval and the predicted
    rate.

    ``population``: the eligible roster of the draw (uscc, tier, and optionally ``probability``, the model's
    predicted violation probability). ``sample``: the selected entities with uscc, tier,
    inclusion_probability and outcome (null while not yet inspected); null and ``not_found`` outcomes are
    non-response, treated as missing at random within the tier. ``ht_rate``: the Horvitz–Thompson estimate
    with the stored probabilities, Σ y/π / N, each tier's total scaled by selected/responded (weighting-class
    non-response adjustment; it is plain HT when every selected entity has a result). ``rate``: the
    stratified estimator Σ W_t ȳ_t, which is HT with the inclusion probabilities conditional on the
    achieved per-tier numbers of responses — given those numbers the design is exactly stratified SRSWOR,
    so its variance is Σ W_t² (1 - n_t/N_t) s_t² / n_t (normal interval, clipped to [0, 1]).
    """
    z = float(norm.ppf(0.5 + confidence / 2.0))
    bad = set(violation_outcomes)
    selected = sample.with_columns(
        responded=pl.col("outcome").is_not_null() & (pl.col("outcome") != "not_found"),
        y=pl.col("outcome").is_in(list(bad)).fill_null(False).cast(pl.Float64()),
    )
    responded = selected.filter(pl.col("responded"))
    n_total = population.height
    has_pred = "probability" in population.columns
    rows: list[dict[str, Any]] = []
    overall_rate, overall_var, overall_ht = 0.0, 0.0, 0.0
    for t in TIERS:
        pop_t = population.filter(pl.col("tier") == t)
        big_n = pop_t.height
        s_t = responded.filter(pl.col("tier") == t)
        n = s_t.height
        y = s_t["y"].to_numpy()
        pi = s_t["inclusion_probability"].to_numpy()
        n_selected = selected.filter(pl.col("tier") == t).height
        ht_total = float(np.sum(y / pi)) * n_selected / n if n else math.nan
        rate = float(y.mean()) if n else math.nan
        k = float(y.sum())
        # With no (or only) violations s² is 0 and the interval would claim certainty; smooth p only
        # inside the variance ((k + 0.5)/(n + 1), as in Agresti–Coull-type intervals) — documented.
        p_var = (k + 0.5) / (n + 1) if n and k in (0.0, float(n)) else (k / n if n else 0.0)
        var = (1.0 - n / big_n) * p_var * (1.0 - p_var) / (n - 1) if n > 1 and big_n else math.nan
        if n and n == big_n:
            var = 0.0  # a census of the tier has no sampling error
        predicted = float(pop_t["probability"].mean()) if has_pred and big_n else None  # type: ignore[arg-type]
        rows.append(
            _estimate_row(
                t, big_n, n, int(y.sum()), ht_total / big_n if big_n else math.nan, rate, var, z, predicted
            )
        )
        if big_n:
            w = big_n / n_total
            overall_ht += ht_total / n_total
            # An empty (or single-unit) tier leaves the stratified estimate (or its variance) undefined.
            overall_rate += w * rate
            overall_var += w * w * var
    predicted_all = float(population["probability"].mean()) if has_pred and n_total else None  # type: ignore[arg-type]
    rows.insert(
        0,
        _estimate_row(
            "all",
            n_total,
            responded.height,
            int(responded["y"].sum()),
            overall_ht,
            overall_rate,
            overall_var,
            z,
            predicted_all,
        ),
    )
    return pl.DataFrame(
        rows,
        schema={
            "tier": pl.String(),
            "population": pl.Int64(),
            "inspected": pl.Int64(),
            "violations": pl.Int64(),
            "ht_rate": pl.Float64(),
            "rate": pl.Float64(),
            "std_error": pl.Float64(),
            "ci_low": pl.Float64(),
            "ci_high": pl.Float64(),
            "predicted_rate": pl.Float64(),
        },
        orient="row",
    )


def _estimate_row(
    tier: str,
    big_n: int,
    n: int,
    k: int,
    ht: float,
    rate: float,
    var: float,
    z: float,
    predicted: float | None,
) -> dict[str, Any]:
    se = math.sqrt(var) if not math.isnan(var) else float("nan")
    low = max(0.0, rate - z * se) if not math.isnan(se) else float("nan")
    high = min(1.0, rate + z * se) if not math.isnan(se) else float("nan")
    return {
        "tier": tier,
        "population": big_n,
        "inspected": n,
        "violations": k,
        "ht_rate": ht,
        "rate": rate,
        "std_error": se,
        "ci_low": low,
        "ci_high": high,
        "predicted_rate": predicted,
    }
