"""The tier → sampling policy of a draw: ratios within configured ranges, floor, control slice, and the rest
period after an inspection per tier.

The values live in ``supervision/sampling/policy.toml`` (one source of truth: :func:`default_policy` reads it;
``TierRatioPolicy()`` is that policy). Its defaults follow the only complete published mapping
(domain-rules §3, Daqing 林甸 2024): A ≤5 %, B 5–20 %, C 21–60 %, D 61–100 %; rest A, B 365 days, C 180,
D 0. No national numeric table exists, so everything here is configuration.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from supervision.sampling.errors import SamplingInputError

__all__ = ["POLICY_ORIGIN", "TIERS", "TierRatioPolicy", "default_policy", "parse_policy"]

TIERS: tuple[str, ...] = ("A", "B", "C", "D")
POLICY_ORIGIN = "supervision/sampling/policy.toml"
_DRAW_KEYS = ("floor", "control_share")
_TIER_KEYS = ("range", "ratio", "rest_days")


@dataclass(frozen=True)
class _Values:
    """The parsed policy file (plain values; :class:`TierRatioPolicy` validates them)."""

    ratios: Mapping[str, float]
    ranges: Mapping[str, tuple[float, float]]
    rest_days: Mapping[str, int]
    floor: float
    control_share: float


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SamplingInputError(f"{where}: {value!r} is not a number")
    return float(value)


def _parse(text: str, origin: str) -> _Values:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SamplingInputError(f"{origin}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"draw", "tiers"})
    if unknown:
        raise SamplingInputError(f"{origin}: unknown section(s) {unknown}; expected [draw] and [tiers.X]")
    draw = data.get("draw", {})
    tiers = data.get("tiers", {})
    if sorted(set(draw)) != sorted(_DRAW_KEYS):
        raise SamplingInputError(f"{origin} [draw]: keys {sorted(draw)}; expected exactly {list(_DRAW_KEYS)}")
    if set(tiers) != set(TIERS):
        raise SamplingInputError(f"{origin} [tiers]: tiers {sorted(tiers)}; expected exactly {list(TIERS)}")
    ratios: dict[str, float] = {}
    ranges: dict[str, tuple[float, float]] = {}
    rest: dict[str, int] = {}
    for t in TIERS:
        where = f"{origin} [tiers.{t}]"
        entry = tiers[t]
        if sorted(set(entry)) != sorted(_TIER_KEYS):
            raise SamplingInputError(f"{where}: keys {sorted(entry)}; expected exactly {list(_TIER_KEYS)}")
        bounds = entry["range"]
        if not (isinstance(bounds, list) and len(bounds) == 2):
            raise SamplingInputError(f"{where} range: {bounds!r}; expected [low, high]")
        ranges[t] = (_number(bounds[0], f"{where} range"), _number(bounds[1], f"{where} range"))
        ratios[t] = _number(entry["ratio"], f"{where} ratio")
        days = entry["rest_days"]
        if isinstance(days, bool) or not isinstance(days, int):
            raise SamplingInputError(f"{where} rest_days: {days!r} is not a whole number of days")
        rest[t] = days
    return _Values(
        ratios=ratios,
        ranges=ranges,
        rest_days=rest,
        floor=_number(draw["floor"], f"{origin} [draw] floor"),
        control_share=_number(draw["control_share"], f"{origin} [draw] control_share"),
    )


@lru_cache(maxsize=1)
def _shipped() -> _Values:
    """The policy file shipped with the package (read on first use, not at import)."""
    text = resources.files("supervision.sampling").joinpath("policy.toml").read_text(encoding="utf-8")
    return _parse(text, POLICY_ORIGIN)


@dataclass(frozen=True)
class TierRatioPolicy:
    """How a task's budget is spread over tiers, and which entities rest. Every default is the policy file's.

    ``ratios`` are relative sampling intensities per tier (the share of a tier that would be drawn at the
    base budget); each must lie in its ``ranges`` entry and be > 0 (不免抽: no tier is exempt).
    ``floor`` is the smallest inclusion probability any eligible entity may have; ``control_share`` the share
    of the budget drawn uniformly from the whole eligible roster; ``rest_days[t]``: an entity of tier t
    inspected within that many days before the task's date is not drawn (0: never rested, e.g. D 按需检查).

    ``legacy_frequency`` is set only by :meth:`from_json` for parameters stored before per-tier rest periods
    (one ``frequency_days`` with ``frequency_exempt_tiers``): their canonical form, and so their published
    hash, stays what it was.
    """

    ratios: Mapping[str, float] = field(default_factory=lambda: dict(_shipped().ratios))
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(_shipped().ranges))
    floor: float = field(default_factory=lambda: _shipped().floor)
    control_share: float = field(default_factory=lambda: _shipped().control_share)
    rest_days: Mapping[str, int] = field(default_factory=lambda: dict(_shipped().rest_days))
    legacy_frequency: tuple[int, tuple[str, ...]] | None = None

    def validate(self) -> TierRatioPolicy:
        """Raise SamplingInputError naming the tier/parameter, the value and the allowed range; return
        self."""
        if set(self.ratios) != set(TIERS):
            raise SamplingInputError(f"ratios: tiers {sorted(self.ratios)}; expected exactly {list(TIERS)}")
        if set(self.ranges) != set(TIERS):
            raise SamplingInputError(f"ranges: tiers {sorted(self.ranges)}; expected exactly {list(TIERS)}")
        if set(self.rest_days) != set(TIERS):
            raise SamplingInputError(
                f"rest_days: tiers {sorted(self.rest_days)}; expected exactly {list(TIERS)}"
            )
        for tier in TIERS:
            low, high = self.ranges[tier]
            if not (0.0 <= low <= high <= 1.0):
                raise SamplingInputError(
                    f"tier {tier}: range [{low}, {high}] must satisfy 0 ≤ low ≤ high ≤ 1"
                )
            ratio = self.ratios[tier]
            if not (isinstance(ratio, int | float) and math.isfinite(ratio)):
                raise SamplingInputError(f"tier {tier}: ratio {ratio!r} is not a number")
            if not (low <= ratio <= high):
                raise SamplingInputError(
                    f"tier {tier}: ratio {ratio:g} is outside the allowed range [{low:g}, {high:g}]"
                )
            if ratio <= 0.0:
                raise SamplingInputError(
                    f"tier {tier}: ratio {ratio:g} must be > 0 (不免抽: no tier is exempt)"
                )
            days = self.rest_days[tier]
            if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 3650:
                raise SamplingInputError(
                    f"tier {tier}: rest_days {days!r} must be a whole number of days in [0, 3650]"
                )
        if not (0.0 < self.floor < 1.0):
            raise SamplingInputError(
                f"floor {self.floor:g}: the floor probability must lie in (0, 1) (不免抽)"
            )
        if not (0.0 <= self.control_share <= 1.0):
            raise SamplingInputError(f"control_share {self.control_share:g}: must lie in [0, 1]")
        if self.legacy_frequency is not None and dict(self.rest_days) != _legacy_rest(*self.legacy_frequency):
            raise SamplingInputError(
                "rest_days: do not match the stored frequency_days and frequency_exempt_tiers"
            )
        return self

    @property
    def longest_rest(self) -> int:
        return max(self.rest_days.values())

    def to_json(self) -> dict[str, Any]:
        """Canonical, JSON-ready form (tier order fixed) for the task parameters and their hash."""
        out: dict[str, Any] = {
            "ratios": {t: float(self.ratios[t]) for t in TIERS},
            "ranges": {t: [float(self.ranges[t][0]), float(self.ranges[t][1])] for t in TIERS},
            "floor": float(self.floor),
            "control_share": float(self.control_share),
        }
        if self.legacy_frequency is not None:
            days, exempt = self.legacy_frequency
            out |= {"frequency_days": int(days), "frequency_exempt_tiers": sorted(exempt)}
        else:
            out["rest_days"] = {t: int(self.rest_days[t]) for t in TIERS}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TierRatioPolicy:
        """Inverse of :meth:`to_json`; missing keys take the policy file's values; the result is validated.

        Parameters stored before per-tier rest periods carry ``frequency_days`` (every tier) and
        ``frequency_exempt_tiers`` (never rested; D): they read as the same rest periods per tier and keep
        their canonical form.
        """
        default = cls()
        ranges = data.get("ranges")
        legacy: tuple[int, tuple[str, ...]] | None = None
        if "rest_days" in data:
            rest = {str(t): int(v) for t, v in data["rest_days"].items()}
        elif "frequency_days" in data or "frequency_exempt_tiers" in data:
            exempt = tuple(str(t) for t in data.get("frequency_exempt_tiers", ("D",)))
            unknown = set(exempt) - set(TIERS)
            if unknown:
                raise SamplingInputError(
                    f"frequency_exempt_tiers: unknown tiers {sorted(unknown)}; expected {list(TIERS)}"
                )
            legacy = (int(data.get("frequency_days", 365)), exempt)
            rest = _legacy_rest(*legacy)
        else:
            rest = dict(default.rest_days)
        return cls(
            ratios=dict(data.get("ratios", default.ratios)),
            ranges={t: (float(v[0]), float(v[1])) for t, v in ranges.items()}
            if ranges is not None
            else dict(default.ranges),
            floor=float(data.get("floor", default.floor)),
            control_share=float(data.get("control_share", default.control_share)),
            rest_days=rest,
            legacy_frequency=legacy,
        ).validate()


def _legacy_rest(days: int, exempt: tuple[str, ...]) -> dict[str, int]:
    return {t: 0 if t in exempt else int(days) for t in TIERS}


def parse_policy(text: str, *, origin: str) -> TierRatioPolicy:
    """A policy from TOML text in the shipped file's form; errors name ``origin``, the section and the key."""
    values = _parse(text, origin)
    return TierRatioPolicy(
        ratios=dict(values.ratios),
        ranges=dict(values.ranges),
        floor=values.floor,
        control_share=values.control_share,
        rest_days=dict(values.rest_days),
    ).validate()


def default_policy() -> TierRatioPolicy:
    """The shipped policy file as a validated policy (the same as ``TierRatioPolicy()``)."""
    return TierRatioPolicy().validate()
