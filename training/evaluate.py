"""Evaluation of a risk model on labelled rows: ranking, yield at the budget, calibration, tiers, PSI.

Every metric takes optional sample weights (the inverse selection probabilities, so the inspected sample
stands for the population). ``evaluate`` reports them on all test rows (weighted) and, as the unbiased
reference, on the uniform control slice alone (unweighted: its rows were drawn uniformly), and per group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

TIERS = ("A", "B", "C", "D")


def _arrays(y: Any, p: Any, w: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yt = np.asarray(y, dtype=np.float64)
    pt = np.asarray(p, dtype=np.float64)
    wt = np.ones_like(yt) if w is None else np.asarray(w, dtype=np.float64)
    if not (yt.shape == pt.shape == wt.shape) or yt.ndim != 1:
        raise ValueError(
            f"y, score and weight must be 1-D of one length, got {yt.shape}, {pt.shape}, {wt.shape}"
        )
    return yt, pt, wt


def roc_auc(y: Any, score: Any, w: Any = None) -> float:
    yt, s, wt = _arrays(y, score, w)
    if len(np.unique(yt)) < 2:
        return float("nan")
    return float(roc_auc_score(yt, s, sample_weight=wt))


def pr_auc(y: Any, score: Any, w: Any = None) -> float:
    yt, s, wt = _arrays(y, score, w)
    if yt.sum() == 0:
        return float("nan")
    return float(average_precision_score(yt, s, sample_weight=wt))


def brier(y: Any, p: Any, w: Any = None) -> float:
    yt, pt, wt = _arrays(y, p, w)
    return float(brier_score_loss(yt, pt, sample_weight=wt))


def reliability(y: Any, p: Any, w: Any = None, *, bins: int = 10) -> pl.DataFrame:
    """Equal-width probability bins: ``bin``, ``lower``, ``upper``, ``n``, ``weight``, ``predicted`` and
    ``observed``."""
    yt, pt, wt = _arrays(y, p, w)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.searchsorted(edges, pt, side="right") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        m = idx == b
        tot = float(wt[m].sum())
        rows.append(
            {
                "bin": b,
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "n": int(m.sum()),
                "weight": tot,
                "predicted": float((wt[m] * pt[m]).sum() / tot) if tot > 0 else None,
                "observed": float((wt[m] * yt[m]).sum() / tot) if tot > 0 else None,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"predicted": pl.Float64, "observed": pl.Float64})


def ece(y: Any, p: Any, w: Any = None, *, bins: int = 10) -> float:
    """Expected calibration error: the mean |observed − predicted| over equal-width bins, each bin weighted
    by its share of the weight."""
    table = reliability(y, p, w, bins=bins).filter(pl.col("weight") > 0)
    gap = (table["observed"] - table["predicted"]).abs().to_numpy()
    weight = table["weight"].to_numpy()
    return float((gap * weight).sum() / weight.sum())


def budget_metrics(y: Any, score: Any, w: Any = None, *, budget: float = 0.1) -> dict[str, float]:
    """Inspect the top ``budget`` share (by weight) ranked by score: violations found per 100 inspections,
    the same for a random draw (the weighted base rate), lift, and recall (share of all violations found)."""
    if not 0 < budget <= 1:
        raise ValueError(f"budget must be in (0, 1], got {budget!r}")
    yt, s, wt = _arrays(y, score, w)
    order = np.argsort(-s, kind="stable")
    cum = np.cumsum(wt[order])
    limit = budget * wt.sum()
    k = int(np.searchsorted(cum, limit - 1e-12, side="left")) + 1
    top = order[:k]
    found = float((wt[top] * yt[top]).sum())
    per100 = 100.0 * found / float(wt[top].sum())
    random100 = 100.0 * float((wt * yt).sum()) / float(wt.sum())
    total = float((wt * yt).sum())
    return {
        "violations_per_100_at_budget": per100,
        "violations_per_100_random": random100,
        "lift_at_budget": per100 / random100 if random100 > 0 else float("nan"),
        "recall_at_budget": found / total if total > 0 else float("nan"),
    }


def psi(expected: Any, actual: Any, *, bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of ``actual`` against ``expected``, on the expected's quantile bins."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.size == 0 or a.size == 0:
        raise ValueError("psi needs two non-empty samples")
    cuts = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)[1:-1]))
    pe = np.bincount(np.searchsorted(cuts, e, side="right"), minlength=cuts.size + 1) / e.size
    pa = np.bincount(np.searchsorted(cuts, a, side="right"), minlength=cuts.size + 1) / a.size
    pe, pa = np.maximum(pe, eps), np.maximum(pa, eps)
    return float(((pa - pe) * np.log(pa / pe)).sum())


def tier_table(y: Any, p: Any, tiers: Sequence[str], w: Any = None) -> pl.DataFrame:
    """Per tier: rows, weight share, predicted (mean calibrated probability) and observed violation rate."""
    yt, pt, wt = _arrays(y, p, w)
    t = np.asarray(tiers, dtype=object)
    rows = []
    for tier in TIERS:
        m = t == tier
        tot = float(wt[m].sum())
        rows.append(
            {
                "tier": tier,
                "n": int(m.sum()),
                "share": tot / float(wt.sum()),
                "predicted": float((wt[m] * pt[m]).sum() / tot) if tot > 0 else None,
                "observed": float((wt[m] * yt[m]).sum() / tot) if tot > 0 else None,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"predicted": pl.Float64, "observed": pl.Float64})


def core_metrics(y: Any, p: Any, w: Any = None, *, budget: float = 0.1) -> dict[str, float]:
    yt, pt, wt = _arrays(y, p, w)
    out = {
        "n": float(yt.size),
        "base_rate": float((wt * yt).sum() / wt.sum()) if yt.size else float("nan"),
        "roc_auc": roc_auc(yt, pt, wt),
        "pr_auc": pr_auc(yt, pt, wt),
    }
    if yt.size:
        out |= {"brier": brier(yt, pt, wt), "ece": ece(yt, pt, wt)}
        out |= budget_metrics(yt, pt, wt, budget=budget)
    return out


@dataclass
class Evaluation:
    """Metrics (flat, MLflow-ready names), reliability and tier tables, per-group metrics."""

    metrics: dict[str, float]
    reliability: pl.DataFrame
    tiers: pl.DataFrame
    groups: pl.DataFrame
    control_reliability: pl.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def finite_metrics(self) -> dict[str, float]:
        return {k: v for k, v in self.metrics.items() if v is not None and math.isfinite(v)}


def evaluate(
    frame: pl.DataFrame,
    *,
    target: str = "violation_found",
    probability: str = "probability",
    tier: str = "tier",
    weight: str | None = "weight",
    control: str | None = "in_control_slice",
    groups: Sequence[str] = ("group_division", "group_entity_type"),
    budget: float = 0.1,
    reference_probability: Any = None,
    min_group_rows: int = 30,
) -> Evaluation:
    """All metrics on ``frame`` (the test rows with their calibrated probability and tier).

    ``reference_probability``: the training population's probabilities, for PSI against this frame.
    """
    y = frame[target].to_numpy()
    p = frame[probability].to_numpy()
    w = frame[weight].to_numpy() if weight and weight in frame.columns else None
    metrics = {f"test_{k}": v for k, v in core_metrics(y, p, w, budget=budget).items()}
    notes: list[str] = []
    control_rel = None
    if control and control in frame.columns:
        c = frame.filter(pl.col(control))
        if c.height:
            # Control rows were drawn uniformly: no weights, the plain sample is the unbiased reference.
            cy, cp = c[target].to_numpy(), c[probability].to_numpy()
            metrics |= {f"control_{k}": v for k, v in core_metrics(cy, cp, None, budget=budget).items()}
            control_rel = reliability(cy, cp)
        else:
            notes.append("no control-slice rows in the test window")
    if reference_probability is not None:
        metrics["psi_train_test"] = psi(reference_probability, p)
    tiers_df = tier_table(y, p, frame[tier].to_list(), w) if tier in frame.columns else pl.DataFrame()
    if tiers_df.height:
        for row in tiers_df.iter_rows(named=True):
            if row["observed"] is not None:
                metrics[f"tier_{row['tier']}_observed"] = row["observed"]
                metrics[f"tier_{row['tier']}_predicted"] = row["predicted"]
                metrics[f"tier_{row['tier']}_share"] = row["share"]
    group_rows = []
    for g in groups:
        if g not in frame.columns:
            continue
        for key in sorted(frame[g].drop_nulls().unique().to_list()):
            part = frame.filter(pl.col(g) == key)
            if part.height < min_group_rows:
                continue
            gw = part[weight].to_numpy() if weight and weight in part.columns else None
            m = core_metrics(part[target].to_numpy(), part[probability].to_numpy(), gw, budget=budget)
            group_rows.append({"group": g, "value": str(key), **m})
    return Evaluation(
        metrics=metrics,
        reliability=reliability(y, p, w),
        tiers=tiers_df,
        groups=pl.DataFrame(group_rows) if group_rows else pl.DataFrame(),
        control_reliability=control_rel,
        notes=notes,
    )
