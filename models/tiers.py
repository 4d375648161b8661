"""TierPolicy: calibrated probability → credit-risk tier A/B/C/D, plus rule overrides that say why.

Tiers follow SAMR 国市监信发〔2022〕6号 (A 信用风险低, B 一般, C 较高, D 高; domain-rules §3). Two modes:
``thresholds`` (fixed probability cut points, configuration) and ``shares`` (cut points chosen at fit time so
the reference population falls into the tiers in the given shares). Overrides are policy rules evaluated
on the entity's features, in order, first match wins: e.g. an active severe-dishonesty listing → D, a new
entity without history → the default tier. Every override is returned as a reason, never applied silently.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

TIERS = ("A", "B", "C", "D")
TIER_NAMES = {
    "A": ("信用风险低", "low risk"),
    "B": ("信用风险一般", "average risk"),
    "C": ("信用风险较高", "elevated risk"),
    "D": ("信用风险高", "high risk"),
}
_OPS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Condition:
    """``feature op value`` on one entity's features (a missing value never matches)."""

    feature: str
    op: str
    value: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(
                f"Condition on {self.feature!r}: op must be one of {sorted(_OPS)}, got {self.op!r}"
            )

    def expr(self) -> pl.Expr:
        return _OPS[self.op](pl.col(self.feature), self.value).fill_null(False)


@dataclass(frozen=True)
class Override:
    """A policy rule: when all conditions hold the tier is ``tier`` (``"default"``: the policy's default)."""

    name: str
    conditions: tuple[Condition, ...]
    tier: str
    zh: str
    en: str

    def __post_init__(self) -> None:
        if self.tier not in (*TIERS, "default"):
            raise ValueError(
                f"Override {self.name!r}: tier must be one of {TIERS} or 'default', got {self.tier!r}"
            )
        if not self.conditions:
            raise ValueError(f"Override {self.name!r} needs at least one condition")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Override:
        return cls(
            name=data["name"],
            conditions=tuple(Condition(**c) for c in data["conditions"]),
            tier=data["tier"],
            zh=data["zh"],
            en=data["en"],
        )


@dataclass
class TierPolicy:
    """Cut points on calibrated probability (A < t1 ≤ B < t2 ≤ C < t3 ≤ D) or target shares, plus overrides.

    ``fit`` fixes the cut points (``shares`` mode) and records each tier's expected violation rate on the
    reference population (the mean calibrated probability of the entities the tier holds).
    """

    mode: str = "thresholds"
    thresholds: tuple[float, float, float] = (0.05, 0.15, 0.35)
    shares: tuple[float, float, float, float] = (0.40, 0.35, 0.17, 0.08)
    default_tier: str = "B"
    overrides: tuple[Override, ...] = ()
    thresholds_: tuple[float, float, float] | None = field(default=None, init=True)
    expected_rate_: dict[str, float] | None = field(default=None, init=True)

    def __post_init__(self) -> None:
        if self.mode not in ("thresholds", "shares"):
            raise ValueError(f"TierPolicy mode must be 'thresholds' or 'shares', got {self.mode!r}")
        t = tuple(float(x) for x in self.thresholds)
        if len(t) != 3 or not (0 < t[0] < t[1] < t[2] < 1):
            raise ValueError(f"TierPolicy thresholds must be 3 increasing probabilities in (0, 1), got {t}")
        s = tuple(float(x) for x in self.shares)
        if len(s) != 4 or min(s) < 0 or abs(sum(s) - 1) > 1e-9:
            raise ValueError(f"TierPolicy shares must be 4 non-negative numbers summing to 1, got {s}")
        if self.default_tier not in TIERS:
            raise ValueError(f"TierPolicy default_tier must be one of {TIERS}, got {self.default_tier!r}")
        self.thresholds, self.shares = t, s
        self.overrides = tuple(self.overrides)

    def fit(self, probability: Any, sample_weight: Any = None) -> TierPolicy:
        p = np.asarray(probability, dtype=np.float64)
        w = np.ones_like(p) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if p.size == 0:
            raise ValueError("TierPolicy.fit needs at least one probability")
        if self.mode == "shares":
            order = np.argsort(p, kind="stable")
            cum = np.cumsum(w[order]) / w.sum()
            cuts = []
            for q in np.cumsum(self.shares)[:3]:
                i = min(int(np.searchsorted(cum, q, side="left")), p.size - 1)
                cuts.append(float(p[order][i]))
            # Ties (many equal probabilities) may collapse cut points; keep them strictly increasing.
            for i in (1, 2):
                cuts[i] = max(cuts[i], np.nextafter(cuts[i - 1], 1.0))
            self.thresholds_ = (cuts[0], cuts[1], cuts[2])
        else:
            self.thresholds_ = self.thresholds
        tiers = self.model_tier(p)
        self.expected_rate_ = {}
        for t in TIERS:
            m = tiers == t
            self.expected_rate_[t] = (
                float(np.average(p[m], weights=w[m])) if m.any() and w[m].sum() > 0 else float("nan")
            )
        return self

    def _cuts(self) -> tuple[float, float, float]:
        return self.thresholds_ if self.thresholds_ is not None else self.thresholds

    def model_tier(self, probability: Any) -> np.ndarray:
        """Tier from probability alone (before overrides): a probability equal to a cut point goes up."""
        p = np.asarray(probability, dtype=np.float64)
        idx = np.searchsorted(np.asarray(self._cuts()), p, side="right")
        return np.asarray(TIERS, dtype=object)[idx]

    def required_features(self) -> list[str]:
        return sorted({c.feature for o in self.overrides for c in o.conditions})

    def assign(self, probability: Any, X: pl.DataFrame | None = None) -> pl.DataFrame:
        """Columns ``model_tier``, ``tier``, ``override`` (rule name or null), ``override_zh`` and
        ``override_en``."""
        p = np.asarray(probability, dtype=np.float64)
        base = pl.Series("model_tier", self.model_tier(p).tolist(), dtype=pl.String)
        n = p.shape[0]
        if self.overrides:
            need = self.required_features()
            if X is None:
                raise ValueError(f"this tier policy has overrides and needs the feature columns {need}")
            missing = [c for c in need if c not in X.columns]
            if missing:
                raise ValueError(f"tier overrides need the feature columns {missing}, absent from X")
            if X.height != n:
                raise ValueError(f"X has {X.height} rows but {n} probabilities were given")
        rule = pl.lit(None, dtype=pl.String)
        tier_expr = pl.col("model_tier")
        zh = pl.lit(None, dtype=pl.String)
        en = pl.lit(None, dtype=pl.String)
        # Build from the last override to the first so the first matching one ends up on top.
        for o in reversed(self.overrides):
            hit = pl.all_horizontal([c.expr() for c in o.conditions])
            target = self.default_tier if o.tier == "default" else o.tier
            rule = pl.when(hit).then(pl.lit(o.name)).otherwise(rule)
            tier_expr = pl.when(hit).then(pl.lit(target)).otherwise(tier_expr)
            zh = pl.when(hit).then(pl.lit(f"{o.zh}：{TIER_NAMES[target][0]}（{target}）")).otherwise(zh)
            en = pl.when(hit).then(pl.lit(f"{o.en}: tier {target} ({TIER_NAMES[target][1]})")).otherwise(en)
        frame = pl.DataFrame(base)
        if self.overrides and X is not None:
            frame = frame.hstack(X.select(self.required_features()))
        return frame.select(
            pl.col("model_tier"),
            tier_expr.alias("tier"),
            rule.alias("override"),
            zh.alias("override_zh"),
            en.alias("override_en"),
        )

    def state(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "thresholds": list(self.thresholds),
            "shares": list(self.shares),
            "default_tier": self.default_tier,
            "overrides": [o.to_dict() for o in self.overrides],
            "thresholds_": list(self.thresholds_) if self.thresholds_ is not None else None,
            "expected_rate_": self.expected_rate_,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TierPolicy:
        cuts = state.get("thresholds_")
        return cls(
            mode=state["mode"],
            thresholds=tuple(state["thresholds"]),
            shares=tuple(state["shares"]),
            default_tier=state["default_tier"],
            overrides=tuple(Override.from_dict(o) for o in state["overrides"]),
            thresholds_=tuple(cuts) if cuts is not None else None,
            expected_rate_=state.get("expected_rate_"),
        )
