"""Small seeded labelled frames and feature infos for model and training tests (no features/ import)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from models.explain import FeatureInfo

INFOS = [
    FeatureInfo(
        "penalties_n_365d",
        "近365天行政处罚次数",
        "penalties, 365 days",
        "law_abiding",
        1,
        "近365天行政处罚{value}次",
        "{value} administrative penalties in the last 365 days",
    ),
    FeatureInfo(
        "fines_sum_365d",
        "近365天罚没金额",
        "fines, 365 days",
        "law_abiding",
        1,
        "近365天罚没金额合计{value:,.0f}元",
        "{value:,.0f} yuan in fines in the last 365 days",
    ),
    FeatureInfo(
        "age_days",
        "成立天数",
        "days since establishment",
        "qualifications",
        -1,
        "成立{value}天",
        "established {value} days ago",
    ),
    FeatureInfo(
        "severe_dishonesty_active",
        "当前列入严重失信主体名单",
        "on the severe dishonesty list",
        "law_abiding",
        1,
        "当前列入严重失信主体名单（{value}）",
        "currently on the severe dishonesty list ({value})",
    ),
    FeatureInfo(
        "inspections_n_1095d",
        "近3年被检查次数",
        "inspections, 3 years",
        "supervision_risk",
        0,
        "近3年被检查{value}次",
        "inspected {value} times in the last 3 years",
    ),
    FeatureInfo(
        "entity_type_code",
        "主体类型（编码）",
        "entity type (code)",
        "qualifications",
        0,
        "主体类型编码为{value}",
        "entity type code {value}",
    ),
    FeatureInfo("noise", "噪声", "noise", "supervision_risk", 0, "噪声{value}", "noise {value}"),
]
FEATURES = [i.name for i in INFOS]
CATEGORICAL = ["entity_type_code"]


def true_logit(frame: pl.DataFrame) -> np.ndarray:
    return (
        -2.4
        + 0.7 * frame["penalties_n_365d"].to_numpy()
        - 0.00025 * frame["age_days"].to_numpy()
        + 1.2 * frame["severe_dishonesty_active"].to_numpy()
        + 0.6 * (frame["entity_type_code"].to_numpy() == 2)
    )


def labelled_frame(
    n: int = 4000, *, seed: int = 0, start: date = date(2023, 1, 1), days: int = 730
) -> pl.DataFrame:
    """Inspections with features, outcome drawn from a known logistic model, IPW and control-slice columns."""
    rng = np.random.default_rng(seed)
    pen = rng.poisson(0.6, n)
    frame = pl.DataFrame(
        {
            "inspection_id": [f"I{i:06d}" for i in range(n)],
            "uscc": [f"U{i % (n // 2):06d}" for i in range(n)],
            "as_of": [start + timedelta(days=int(d)) for d in np.sort(rng.integers(0, days, n))],
            "penalties_n_365d": pen.astype(np.int64),
            "fines_sum_365d": (pen * rng.uniform(500, 5000, n)).round(0),
            "age_days": rng.integers(30, 8000, n).astype(np.int64),
            "severe_dishonesty_active": (rng.uniform(size=n) < 0.05).astype(np.int8),
            "inspections_n_1095d": rng.poisson(1.0, n).astype(np.int64),
            "entity_type_code": rng.integers(1, 4, n).astype(np.int8),
            "noise": rng.normal(size=n),
            "group_division": rng.choice(["320902", "320903"], n),
            "group_entity_type": rng.choice(["enterprise", "individual_business"], n),
        }
    )
    p = 1 / (1 + np.exp(-true_logit(frame)))
    y = (rng.uniform(size=n) < p).astype(np.int8)
    control = rng.uniform(size=n) < 0.3
    sel = np.where(control, 0.05, np.clip(p * 0.8, 0.02, 1.0))
    return frame.with_columns(
        pl.Series("violation_found", y),
        pl.Series("serious_violation", (y * (rng.uniform(size=n) < 0.3)).astype(np.int8)),
        pl.Series("selection_probability", sel),
        pl.Series("in_control_slice", control),
        pl.Series("true_probability", p),
    )
