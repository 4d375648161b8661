"""Monitoring the risk model between score runs: tier migration, feature drift (PSI), calibration per tier
with Wilson intervals (overall, on the random control slice, per district and ownership type), the change of
one entity's probability explained by the change of its SHAP values, and the retraining recommendation.

Pure functions over polars frames (no I/O but :func:`load_monitoring_policy`, which reads the policy file
``models/monitoring.toml``); the same inputs give the same outputs (every result is sorted with a tie-break
by name or USCC). The services of ``serving/services/monitoring.py`` read the score and feature files and the
inspections and call these.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import norm

from models.explain import BASE_VALUE, BASELINE, BASELINE_EN, BASELINE_ZH, dimension_sums
from models.risk_model import RiskModel

__all__ = [
    "POLICY_FILE",
    "TIERS",
    "Migration",
    "MonitoringPolicy",
    "ProbabilityChange",
    "Recommendation",
    "calibration_by_tier",
    "fairness",
    "feature_psi",
    "load_monitoring_policy",
    "migration_matrix",
    "miscalibrated",
    "probability_change",
    "psi",
    "recommend",
    "top_features",
    "wilson_interval",
]

TIERS = ("A", "B", "C", "D")
POLICY_FILE = Path(__file__).with_name("monitoring.toml")


# ------------------------------------------------------------------------------------------------ policy
@dataclass(frozen=True)
class MonitoringPolicy:
    """The thresholds of ``models/monitoring.toml`` (every value a design choice, confidence U)."""

    psi_minor: float
    psi_major: float
    psi_bins: int
    psi_epsilon: float
    level: float
    calibration_gap: float
    min_n: int
    fairness_gap: float
    fairness_groups: tuple[str, ...]
    top_features: int
    miscalibrated_tiers: int
    reasons: Mapping[str, str]  # drift_zh, drift_en, calibration_zh, calibration_en, none_zh, none_en


def _number(table: Mapping[str, Any], section: str, key: str, *, low: float, high: float) -> float:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"monitoring policy: [{section}] {key} must be a number, got {value!r}")
    if not low <= float(value) <= high:
        raise ValueError(f"monitoring policy: [{section}] {key} = {value} is outside {low}..{high}")
    return float(value)


def load_monitoring_policy(path: Path | None = None) -> MonitoringPolicy:
    """The policy in `path` (default: the shipped ``models/monitoring.toml``); ValueError naming the section,
    the key and the rule when a value is missing or out of range."""
    path = Path(path or POLICY_FILE)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"monitoring policy {path}: cannot be read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"monitoring policy {path}: not valid TOML ({exc})") from None
    sections = {}
    for name in ("psi", "calibration", "fairness", "retraining"):
        section = data.get(name)
        if not isinstance(section, dict):
            raise ValueError(f"monitoring policy {path}: no [{name}] section")
        sections[name] = section
    psi_, cal, fair, re_ = (sections[n] for n in ("psi", "calibration", "fairness", "retraining"))
    minor = _number(psi_, "psi", "minor", low=0.0, high=10.0)
    major = _number(psi_, "psi", "major", low=0.0, high=10.0)
    if minor > major:
        raise ValueError(f"monitoring policy: [psi] minor {minor} must not exceed major {major}")
    groups = fair.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise ValueError(
            f"monitoring policy: [fairness] groups must be a list of column names, got {groups!r}"
        )
    reasons = {}
    for key in ("drift", "calibration", "none"):
        for lang in ("zh", "en"):
            text = re_.get(f"reason_{key}_{lang}")
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"monitoring policy: [retraining] reason_{key}_{lang} must be a text")
            reasons[f"{key}_{lang}"] = text
    return MonitoringPolicy(
        psi_minor=minor,
        psi_major=major,
        psi_bins=int(_number(psi_, "psi", "bins", low=2, high=100)),
        psi_epsilon=_number(psi_, "psi", "epsilon", low=1e-12, high=0.01),
        level=_number(cal, "calibration", "level", low=0.5, high=0.999),
        calibration_gap=_number(cal, "calibration", "gap", low=0.0, high=1.0),
        min_n=int(_number(cal, "calibration", "min_n", low=1, high=1e9)),
        fairness_gap=_number(fair, "fairness", "gap", low=0.0, high=1.0),
        fairness_groups=tuple(groups),
        top_features=int(_number(re_, "retraining", "top_features", low=1, high=1e6)),
        miscalibrated_tiers=int(_number(re_, "retraining", "miscalibrated_tiers", low=1, high=100)),
        reasons=reasons,
    )


# ------------------------------------------------------------------------------------------------ migration
@dataclass(frozen=True)
class Migration:
    """Tier migration between two runs: ``counts`` (``from_tier``, ``to_tier``, ``entities``; every pair of
    ``tiers``, zeros included) over the entities scored in both; ``entered`` (scored only in the current run)
    and ``left`` (only in the previous one) per tier."""

    tiers: tuple[str, ...]
    counts: pl.DataFrame
    entered: dict[str, int]
    left: dict[str, int]

    def matrix(self) -> list[list[int]]:
        """Rows: previous tier; columns: current tier (in the order of ``tiers``)."""
        cell = {(r["from_tier"], r["to_tier"]): r["entities"] for r in self.counts.iter_rows(named=True)}
        return [[cell.get((a, b), 0) for b in self.tiers] for a in self.tiers]

    def moved(self) -> dict[str, int]:
        """Entities in both runs whose tier went up (riskier), down, or stayed."""
        rank = {t: i for i, t in enumerate(self.tiers)}
        out = {"up": 0, "down": 0, "same": 0}
        for r in self.counts.iter_rows(named=True):
            a, b = rank[r["from_tier"]], rank[r["to_tier"]]
            out["up" if b > a else "down" if b < a else "same"] += r["entities"]
        return out


def _tiers_of(*frames: pl.DataFrame) -> tuple[str, ...]:
    seen = {str(t) for f in frames for t in f["tier"].unique().to_list() if t is not None}
    return tuple([t for t in TIERS if t in seen or t in TIERS] + sorted(seen - set(TIERS)))


def migration_matrix(prev: pl.DataFrame, cur: pl.DataFrame) -> Migration:
    """Tier × tier counts of the entities (``uscc``, ``tier``) present in both runs, plus those that entered
    (only in `cur`) and left (only in `prev`), per tier."""
    for name, frame in (("prev", prev), ("cur", cur)):
        missing = [c for c in ("uscc", "tier") if c not in frame.columns]
        if missing:
            raise ValueError(f"migration_matrix: {name} lacks the columns {missing}")
    tiers = _tiers_of(prev, cur)
    a = prev.select("uscc", pl.col("tier").cast(pl.String).alias("from_tier"))
    b = cur.select("uscc", pl.col("tier").cast(pl.String).alias("to_tier"))
    both = a.join(b, on="uscc", how="inner")
    grid = pl.DataFrame(
        {"from_tier": [x for x in tiers for _ in tiers], "to_tier": [y for _ in tiers for y in tiers]}
    )
    counts = grid.join(
        both.group_by("from_tier", "to_tier").agg(pl.len().alias("entities")),
        on=["from_tier", "to_tier"],
        how="left",
    ).with_columns(pl.col("entities").fill_null(0).cast(pl.Int64))
    entered = b.join(a, on="uscc", how="anti")["to_tier"].value_counts()
    left = a.join(b, on="uscc", how="anti")["from_tier"].value_counts()
    return Migration(
        tiers=tiers,
        counts=counts,
        entered={t: int(dict(entered.iter_rows()).get(t, 0)) for t in tiers},
        left={t: int(dict(left.iter_rows()).get(t, 0)) for t in tiers},
    )


# ------------------------------------------------------------------------------------------------ drift
def _numeric(values: pl.Series) -> bool:
    return values.dtype.is_numeric() or values.dtype == pl.Boolean


def psi(
    reference: pl.Series | np.ndarray | Sequence[Any],
    current: pl.Series | np.ndarray | Sequence[Any],
    *,
    bins: int = 10,
    epsilon: float = 1e-4,
) -> float | None:
    """Population stability index of `current` against `reference`:

    PSI = Σ_i (c_i − r_i) · ln(c_i / r_i)

    over bins cut at the reference's quantiles (the ``bins − 1`` inner quantiles, taken as observed values and
    deduplicated, so a count feature that is mostly 0 gets one bin per distinct low value; bins are closed on
    the right); a missing value is a bin of its own; a text feature has one bin per category. r_i and c_i are
    the shares of the reference and the current rows in bin i, floored at `epsilon` so that an empty bin
    gives a large but finite term. 0 for identical distributions; None when either side has no rows."""
    ref = reference if isinstance(reference, pl.Series) else pl.Series(reference)
    cur = current if isinstance(current, pl.Series) else pl.Series(current)
    if ref.len() == 0 or cur.len() == 0:
        return None
    if _numeric(ref) and _numeric(cur):
        r = ref.cast(pl.Float64).to_numpy()
        c = cur.cast(pl.Float64).to_numpy()
        r_ok = r[~np.isnan(r)]
        qs = np.arange(1, bins) / bins
        edges = np.unique(np.quantile(r_ok, qs, method="lower")) if r_ok.size else np.array([])
        k = edges.size + 2  # the quantile bins, then one for missing values
        r_bins = np.where(np.isnan(r), k - 1, np.searchsorted(edges, np.nan_to_num(r), side="left"))
        c_bins = np.where(np.isnan(c), k - 1, np.searchsorted(edges, np.nan_to_num(c), side="left"))
        r_share = np.bincount(r_bins, minlength=k) / r.size
        c_share = np.bincount(c_bins, minlength=k) / c.size
    else:
        r_txt = ref.cast(pl.String).fill_null("\0missing")
        c_txt = cur.cast(pl.String).fill_null("\0missing")
        cats = sorted(set(r_txt.unique().to_list()) | set(c_txt.unique().to_list()))
        r_counts = dict(r_txt.value_counts().iter_rows())
        c_counts = dict(c_txt.value_counts().iter_rows())
        r_share = np.array([r_counts.get(x, 0) for x in cats]) / ref.len()
        c_share = np.array([c_counts.get(x, 0) for x in cats]) / cur.len()
    used = (r_share > 0) | (c_share > 0)
    rs = np.maximum(r_share[used], epsilon)
    cs = np.maximum(c_share[used], epsilon)
    return float(math.fsum((cs - rs) * np.log(cs / rs)))


def feature_psi(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    features: Sequence[str],
    *,
    bins: int = 10,
    epsilon: float = 1e-4,
    minor: float | None = None,
    major: float | None = None,
) -> pl.DataFrame:
    """PSI per feature (:func:`psi`) of the features both frames have: ``feature``, ``psi``, ``level``
    (``major``/``minor``/``stable`` when the thresholds are given, else null), largest PSI first (ties by
    name). A feature missing from either frame is left out."""
    rows = []
    for f in features:
        if f not in reference.columns or f not in current.columns:
            continue
        value = psi(reference[f], current[f], bins=bins, epsilon=epsilon)
        level = None
        if value is not None and major is not None and minor is not None:
            level = "major" if value > major else "minor" if value > minor else "stable"
        rows.append({"feature": f, "psi": value, "level": level})
    frame = pl.DataFrame(rows, schema={"feature": pl.String, "psi": pl.Float64, "level": pl.String})
    return frame.sort(["psi", "feature"], descending=[True, False], nulls_last=True)


# ------------------------------------------------------------------------------------------------ calibration
def wilson_interval(k: int | np.ndarray, n: int | np.ndarray, *, level: float = 0.95) -> tuple[Any, Any]:
    """The Wilson score interval of a proportion k/n at `level` (two-sided), element-wise on arrays; (nan,
    nan) where n = 0. (Wilson 1927; Newcombe 1998: 81/263 → 0.2553–0.3662.)"""
    k_ = np.asarray(k, dtype=np.float64)
    n_ = np.asarray(n, dtype=np.float64)
    z = float(norm.ppf(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k_ / n_
        denom = 1 + z * z / n_
        centre = (p + z * z / (2 * n_)) / denom
        half = z * np.sqrt(p * (1 - p) / n_ + z * z / (4 * n_ * n_)) / denom
        low = np.where(n_ > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(n_ > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


CALIBRATION_SCHEMA = {
    "n": pl.Int64,
    "violations": pl.Int64,
    "predicted": pl.Float64,
    "observed": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "gap": pl.Float64,
    "outside": pl.Boolean,
}


def _calibration(frame: pl.DataFrame, keys: Sequence[str], *, level: float) -> pl.DataFrame:
    missing = [c for c in (*keys, "probability", "violation") if c not in frame.columns]
    if missing:
        raise ValueError(f"calibration: the frame lacks the columns {missing}")
    schema = {k: pl.String for k in keys} | CALIBRATION_SCHEMA
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    agg = (
        frame.with_columns([pl.col(k).cast(pl.String) for k in keys])
        .group_by(list(keys))
        .agg(
            pl.len().cast(pl.Int64).alias("n"),
            pl.col("violation").cast(pl.Int64).sum().alias("violations"),
            pl.col("probability").cast(pl.Float64).mean().alias("predicted"),
        )
        .sort(list(keys), nulls_last=True)
    )
    low, high = wilson_interval(agg["violations"].to_numpy(), agg["n"].to_numpy(), level=level)
    out = agg.with_columns(
        (pl.col("violations") / pl.col("n")).alias("observed"),
        pl.Series("ci_low", low),
        pl.Series("ci_high", high),
    ).with_columns(
        (pl.col("observed") - pl.col("predicted")).alias("gap"),
        ((pl.col("predicted") < pl.col("ci_low")) | (pl.col("predicted") > pl.col("ci_high"))).alias(
            "outside"
        ),
    )
    return out.select(list(schema)).cast(schema)  # type: ignore[arg-type]


def calibration_by_tier(
    scored_with_outcomes: pl.DataFrame, *, by: str | None = None, level: float = 0.95
) -> pl.DataFrame:
    """Per tier (and per value of the column `by`, e.g. ``division_code`` or ``entity_type``, when given):
    ``n`` inspected entities, ``violations``, ``predicted`` (mean predicted probability), ``observed``
    (realised violation rate), its Wilson interval ``ci_low``–``ci_high`` at `level`, ``gap`` (observed −
    predicted) and ``outside`` (the predicted mean lies outside the interval). The frame has one row per
    inspection: ``tier``, ``probability`` (the score the entity had when inspected), ``violation`` (0/1)."""
    keys = ["tier"] if by is None else [by, "tier"]
    out = _calibration(scored_with_outcomes, keys, level=level)
    return out.rename({by: "group"}) if by is not None else out


def miscalibrated(calibration: pl.DataFrame, policy: MonitoringPolicy) -> pl.DataFrame:
    """The calibration rows with a verdict: ``judged`` (n ≥ min_n) and ``alert`` (judged, predicted outside
    the interval and |gap| > the policy's calibration gap)."""
    return calibration.with_columns(
        (pl.col("n") >= policy.min_n).alias("judged"),
    ).with_columns(
        (pl.col("judged") & pl.col("outside") & (pl.col("gap").abs() > policy.calibration_gap)).alias("alert")
    )


def fairness(scored_with_outcomes: pl.DataFrame, *, by: str, policy: MonitoringPolicy) -> pl.DataFrame:
    """Calibration per group of `by` (all tiers together) against the city's: per group ``n``, ``predicted``,
    ``observed``, the Wilson interval, ``gap``, ``overall_gap``, ``difference`` (gap − overall gap) and
    ``flagged`` (n ≥ min_n and |difference| > the policy's fairness gap); flagged groups first, then by
    name."""
    overall = _calibration(
        scored_with_outcomes.with_columns(pl.lit("all").alias("_all")), ["_all"], level=policy.level
    )
    overall_gap = float(overall["gap"][0]) if overall.height else float("nan")
    groups = _calibration(scored_with_outcomes, [by], level=policy.level).rename({by: "group"})
    out = groups.with_columns(
        pl.lit(by).alias("by"),
        pl.lit(overall_gap).alias("overall_gap"),
        (pl.col("gap") - overall_gap).alias("difference"),
    ).with_columns(
        ((pl.col("n") >= policy.min_n) & ((pl.col("difference").abs()) > policy.fairness_gap))
        .fill_null(False)
        .alias("flagged")
    )
    return out.sort(["flagged", "group"], descending=[True, False], nulls_last=True)


# ------------------------------------------------------------------------------------------- what changed
@dataclass(frozen=True)
class ProbabilityChange:
    """What changed between two runs for some entities: ``entities`` (``uscc``, ``prev_probability``,
    ``probability``, ``change``, ``prev_raw``, ``raw``, ``raw_change``; biggest |change| first), the change
    of the SHAP contributions summed per indicator dimension (``dimensions``: ``uscc``, ``dimension``,
    ``zh``, ``en``, ``change`` in log-odds, ``probability_share``) and per feature (``features``: ``uscc``,
    ``feature``, ``zh``, ``en``, ``dimension``, ``prev_value``, ``value``, ``change``). Per entity the
    dimension changes add up to ``raw_change`` exactly (the base value cancels); the probability is the
    calibrator's map of the raw score, so ``probability_share`` splits ``change`` over the dimensions in
    proportion to their log-odds change (documented attribution, not an additive identity)."""

    entities: pl.DataFrame
    dimensions: pl.DataFrame
    features: pl.DataFrame


def probability_change(
    model: RiskModel,
    prev_features: pl.DataFrame,
    cur_features: pl.DataFrame,
    usccs: Sequence[str],
    *,
    labels: Mapping[str, tuple[str, str]] | None = None,
    top: int = 5,
) -> ProbabilityChange:
    """For each of `usccs` scored in both feature frames: the change of its probability and of its SHAP
    contributions (exact TreeSHAP of the model, computed for these entities only), summed to the indicator
    dimensions (named in zh/en by `labels`, the baseline of similar entities by :mod:`models.explain`), and
    its `top` features by |change|. Entities missing from either frame are left out."""
    names = model.feature_names
    wanted = sorted(set(usccs))
    a = prev_features.filter(pl.col("uscc").is_in(wanted)).unique("uscc", keep="first").sort("uscc")
    b = cur_features.filter(pl.col("uscc").is_in(wanted)).unique("uscc", keep="first").sort("uscc")
    common = sorted(set(a["uscc"].to_list()) & set(b["uscc"].to_list()))
    a = a.filter(pl.col("uscc").is_in(common)).sort("uscc")
    b = b.filter(pl.col("uscc").is_in(common)).sort("uscc")
    all_labels = {**(labels or {}), BASELINE: (BASELINE_ZH, BASELINE_EN)}
    infos = {i.name: i for i in model.feature_infos}
    if not common:
        return _empty_change()
    # Each row by the model that scores it (a sector's own model, when a routed model has one).
    ca = model.contributions(a.select(names))
    cb = model.contributions(b.select(names))
    raw_a = ca.select(pl.sum_horizontal(pl.all())).to_series().to_numpy()
    raw_b = cb.select(pl.sum_horizontal(pl.all())).to_series().to_numpy()
    pa = model.probability(a.select(names))
    pb = model.probability(b.select(names))
    entities = pl.DataFrame(
        {
            "uscc": common,
            "prev_probability": pa,
            "probability": pb,
            "change": pb - pa,
            "prev_raw": raw_a,
            "raw": raw_b,
            "raw_change": raw_b - raw_a,
        }
    )
    da = dimension_sums(ca, model.feature_infos).drop(BASE_VALUE)
    db = dimension_sums(cb, model.feature_infos).drop(BASE_VALUE)
    dims = db.columns
    delta = {d: db[d].to_numpy() - da[d].to_numpy() for d in dims}
    dim_rows = []
    for i, u in enumerate(common):
        raw_change = float(raw_b[i] - raw_a[i])
        for d in dims:
            ch = float(delta[d][i])
            share = float(pb[i] - pa[i]) * ch / raw_change if raw_change != 0 else 0.0
            zh, en = all_labels.get(d, (d, d))
            dim_rows.append(
                {"uscc": u, "dimension": d, "zh": zh, "en": en, "change": ch, "probability_share": share}
            )
    dimensions = pl.DataFrame(dim_rows, schema=_DIM_SCHEMA)
    feat_rows = []
    va, vb = a.select(names).to_dicts(), b.select(names).to_dicts()
    for i, u in enumerate(common):
        changes = sorted(
            ((f, float(cb[f][i] - ca[f][i])) for f in names),
            key=lambda t: (-abs(t[1]), t[0]),
        )
        for f, ch in changes[:top]:
            if ch == 0:
                break
            info = infos.get(f)
            feat_rows.append(
                {
                    "uscc": u,
                    "feature": f,
                    "zh": info.zh if info else f,
                    "en": info.en if info else f,
                    "dimension": (BASELINE if info.structural else info.dimension) if info else "other",
                    "prev_value": None if va[i][f] is None else str(va[i][f]),
                    "value": None if vb[i][f] is None else str(vb[i][f]),
                    "change": ch,
                }
            )
    features = pl.DataFrame(feat_rows, schema=_FEAT_SCHEMA)
    order = entities.with_columns(pl.col("change").abs().alias("_abs")).sort(
        ["_abs", "uscc"], descending=[True, False]
    )
    rank = {u: i for i, u in enumerate(order["uscc"].to_list())}
    ranked = pl.col("uscc").replace_strict(rank, return_dtype=pl.Int64)
    return ProbabilityChange(
        entities=order.drop("_abs"),
        dimensions=dimensions.sort(
            ranked, pl.col("change").abs(), pl.col("dimension"), descending=[False, True, False]
        ),
        features=features.sort(
            ranked, pl.col("change").abs(), pl.col("feature"), descending=[False, True, False]
        ),
    )


_DIM_SCHEMA = {
    "uscc": pl.String,
    "dimension": pl.String,
    "zh": pl.String,
    "en": pl.String,
    "change": pl.Float64,
    "probability_share": pl.Float64,
}
_FEAT_SCHEMA = {
    "uscc": pl.String,
    "feature": pl.String,
    "zh": pl.String,
    "en": pl.String,
    "dimension": pl.String,
    "prev_value": pl.String,
    "value": pl.String,
    "change": pl.Float64,
}


def _empty_change() -> ProbabilityChange:
    ents = {
        "uscc": pl.String,
        **{
            c: pl.Float64
            for c in ("prev_probability", "probability", "change", "prev_raw", "raw", "raw_change")
        },
    }
    return ProbabilityChange(
        pl.DataFrame(schema=ents), pl.DataFrame(schema=_DIM_SCHEMA), pl.DataFrame(schema=_FEAT_SCHEMA)
    )


# ------------------------------------------------------------------------------------------------ retraining
def top_features(model: RiskModel, k: int) -> list[str]:
    """The model's `k` most important features by total split gain (ties by name)."""
    gain = model.estimator.booster_.feature_importance(importance_type="gain")
    ranked = sorted(
        zip(model.feature_names, (float(g) for g in gain), strict=True), key=lambda t: (-t[1], t[0])
    )
    return [f for f, g in ranked[:k] if g > 0]


@dataclass(frozen=True)
class Recommendation:
    """Whether to retrain, and why (zh/en), with the rules that fired."""

    retrain: bool
    reason_zh: str
    reason_en: str
    drifted: tuple[str, ...]  # important features with a major PSI against the training reference
    miscalibrated_tiers: tuple[str, ...]  # tiers miscalibrated on the control slice


def recommend(
    reference_psi: pl.DataFrame,
    control_calibration: pl.DataFrame,
    important: Sequence[str],
    policy: MonitoringPolicy,
) -> Recommendation:
    """The retraining rule of the policy: any of the `important` features with PSI > major against the
    training reference, or at least ``miscalibrated_tiers`` tiers with an alert on the control slice
    (:func:`miscalibrated`)."""
    keep = set(important)
    drifted = tuple(
        r["feature"]
        for r in reference_psi.iter_rows(named=True)
        if r["feature"] in keep and r["psi"] is not None and r["psi"] > policy.psi_major
    )
    judged = miscalibrated(control_calibration, policy) if control_calibration.height else None
    tiers = tuple(sorted(judged.filter(pl.col("alert"))["tier"].to_list())) if judged is not None else ()
    zh, en = [], []
    if drifted:
        feats = ", ".join(drifted)
        zh.append(policy.reasons["drift_zh"].format(major=policy.psi_major, features=feats))
        en.append(policy.reasons["drift_en"].format(major=policy.psi_major, features=feats))
    if len(tiers) >= policy.miscalibrated_tiers:
        zh.append(policy.reasons["calibration_zh"].format(tiers="、".join(tiers)))
        en.append(policy.reasons["calibration_en"].format(tiers=", ".join(tiers)))
    else:
        tiers = ()
    retrain = bool(zh)
    return Recommendation(
        retrain=retrain,
        reason_zh="；".join(zh) if retrain else policy.reasons["none_zh"],
        reason_en="; ".join(en) if retrain else policy.reasons["none_en"],
        drifted=drifted,
        miscalibrated_tiers=tiers,
    )
