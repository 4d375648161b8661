"""The tier → sampling-ratio policy of a draw: ratios within configured ranges, floor, control slice,
frequency limit.

Defaults follow the only complete published mapping (domain-rules §3, Daqing 林甸 2024): A ≤5 %, B 5–20 %,
C 21–60 %, D 61–100 %. No national numeric table exists, so everything here is configuration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from supervision.sampling.errors import SamplingInputError

TIERS: tuple[str, ...] = ("A", "B", "C", "D")

DEFAULT_RANGES: Mapping[str, tuple[float, float]] = {
    "A": (0.0, 0.05),
    "B": (0.05, 0.20),
    "C": (0.21, 0.60),
    "D": (0.61, 1.00),
}
DEFAULT_RATIOS: Mapping[str, float] = {"A": 0.03, "B": 0.10, "C": 0.30, "D": 0.70}


def _frozen(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return dict(mapping)


@dataclass(frozen=True)
class TierRatioPolicy:
    """How a task's budget is spread over tiers.

    ``ratios`` are relative sampling intensities per tier (the share of a tier that would be drawn at the
    base budget); each must lie in its ``ranges`` entry and be > 0 (不免抽: no tier is exempt).
    ``floor`` is the smallest inclusion probability any eligible entity may have; ``control_share`` the share
    of the budget drawn uniformly from the whole eligible roster; ``frequency_days``: an entity inspected
    within that many days before the draw is not drawn again unless its tier is in ``frequency_exempt_tiers``.
    """

    ratios: Mapping[str, float] = field(default_factory=lambda: _frozen(DEFAULT_RATIOS))
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=lambda: _frozen(DEFAULT_RANGES))
    floor: float = 0.001
    control_share: float = 0.10
    frequency_days: int = 365
    frequency_exempt_tiers: tuple[str, ...] = ("D",)

    def validate(self) -> TierRatioPolicy:
        """Raise SamplingInputError naming the tier/parameter, the value and the allowed range; return
        self."""
        if set(self.ratios) != set(TIERS):
            raise SamplingInputError(f"ratios: tiers {sorted(self.ratios)}; expected exactly {list(TIERS)}")
        if set(self.ranges) != set(TIERS):
            raise SamplingInputError(f"ranges: tiers {sorted(self.ranges)}; expected exactly {list(TIERS)}")
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
        if not (0.0 < self.floor < 1.0):
            raise SamplingInputError(
                f"floor {self.floor:g}: the floor probability must lie in (0, 1) (不免抽)"
            )
        if not (0.0 <= self.control_share <= 1.0):
            raise SamplingInputError(f"control_share {self.control_share:g}: must lie in [0, 1]")
        if self.frequency_days < 0:
            raise SamplingInputError(f"frequency_days {self.frequency_days}: must be ≥ 0")
        unknown = set(self.frequency_exempt_tiers) - set(TIERS)
        if unknown:
            raise SamplingInputError(
                f"frequency_exempt_tiers: unknown tiers {sorted(unknown)}; expected {list(TIERS)}"
            )
        return self

    def to_json(self) -> dict[str, Any]:
        """Canonical, JSON-ready form (tier order fixed) for the task parameters and their hash."""
        return {
            "ratios": {t: float(self.ratios[t]) for t in TIERS},
            "ranges": {t: [float(self.ranges[t][0]), float(self.ranges[t][1])] for t in TIERS},
            "floor": float(self.floor),
            "control_share": float(self.control_share),
            "frequency_days": int(self.frequency_days),
            "frequency_exempt_tiers": sorted(self.frequency_exempt_tiers),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TierRatioPolicy:
        """Inverse of :meth:`to_json`; missing keys take the defaults; the result is validated."""
        default = cls()
        ranges = data.get("ranges")
        return cls(
            ratios=dict(data.get("ratios", default.ratios)),
            ranges={t: (float(v[0]), float(v[1])) for t, v in ranges.items()}
            if ranges is not None
            else dict(default.ranges),
            floor=float(data.get("floor", default.floor)),
            control_share=float(data.get("control_share", default.control_share)),
            frequency_days=int(data.get("frequency_days", default.frequency_days)),
            frequency_exempt_tiers=tuple(data.get("frequency_exempt_tiers", default.frequency_exempt_tiers)),
        ).validate()
