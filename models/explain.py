"""Explanations: per-feature SHAP contributions → per-dimension sums and top reasons as sentences (zh/en)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

BASE_VALUE = "base_value"
_FIELD = re.compile(r"\{value[^}]*\}")


@dataclass(frozen=True)
class FeatureInfo:
    """What the model needs to know about one feature: names, dimension, expected direction, sentence
    templates.

    ``direction`` is +1 (more risk as the value grows), -1 (less risk) or 0 (no constraint); the estimator
    turns it into a LightGBM monotone constraint. Templates are ``str.format`` strings with ``{value}``.
    """

    name: str
    zh: str
    en: str
    dimension: str
    direction: int = 0
    template_zh: str = "{value}"
    template_en: str = "{value}"

    def __post_init__(self) -> None:
        if self.direction not in (-1, 0, 1):
            raise ValueError(
                f"FeatureInfo {self.name!r}: direction must be -1, 0 or 1, got {self.direction!r}"
            )
        for lang, template in (("template_zh", self.template_zh), ("template_en", self.template_en)):
            if "{value" not in template:
                raise ValueError(
                    f"FeatureInfo {self.name!r}: {lang} must contain '{{value}}', got {template!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureInfo:
        return cls(**dict(data))


def directions(infos: Sequence[FeatureInfo]) -> dict[str, int]:
    """Feature name → monotone direction, the form ``RiskClassifier(monotone_constraints=...)`` takes."""
    return {i.name: i.direction for i in infos}


def format_value(value: object) -> str:
    """A feature value as people read it: whole numbers without decimals, others with at most 2."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return str(value)


@dataclass(frozen=True)
class Reason:
    """One feature's push on the risk score, with the sentence that says it in both languages."""

    feature: str
    dimension: str
    value: object
    contribution: float
    zh: str
    en: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "dimension": self.dimension,
            "value": format_value(self.value),
            "contribution": self.contribution,
            "zh": self.zh,
            "en": self.en,
        }


@dataclass(frozen=True, slots=True)
class ScoreReason:
    """One reason of a score: a feature that raised the risk (its value and its push in log-odds, said in
    both languages), or the tier policy's override (``dimension`` ``policy``, no contribution)."""

    feature: str
    dimension: str
    value: str | None
    contribution: float | None
    zh: str
    en: str

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> ScoreReason:
        """From one struct of the score table's ``reasons`` column (or a stored score file's)."""
        value, contribution = item.get("value"), item.get("contribution")
        return cls(
            feature=str(item["feature"]),
            dimension=str(item["dimension"]),
            value=None if value is None else str(value),
            contribution=None if contribution is None else float(contribution),
            zh=str(item.get("zh") or ""),
            en=str(item.get("en") or ""),
        )


def reasons_zh(reasons: Sequence[ScoreReason]) -> str | None:
    """The reasons as one Chinese sentence (what the score files and the score history store)."""
    return "；".join(r.zh for r in reasons if r.zh) or None


def fill_template(template: str, value: object) -> str:
    """``template`` with the entity's value: a format spec (``{value:.0%}``) gets the number, a plain
    ``{value}`` gets :func:`format_value`'s text, a missing value reads "—"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _FIELD.sub("—", template)
    if "{value:" in template:
        try:
            return template.format(value=value)
        except (ValueError, TypeError):
            return _FIELD.sub(format_value(value), template)
    return template.format(value=format_value(value))


def reason_text(info: FeatureInfo, value: object, contribution: float) -> tuple[str, str]:
    """('近365天行政处罚2次 (+0.80)', '2 administrative penalties in the last 365 days (+0.80)')."""
    sign = f"({contribution:+.2f})"
    return (
        f"{fill_template(info.template_zh, value)} {sign}",
        f"{fill_template(info.template_en, value)} {sign}",
    )


def _info_map(infos: Sequence[FeatureInfo], features: Sequence[str]) -> dict[str, FeatureInfo]:
    by_name = {i.name: i for i in infos}
    # A feature without an info still gets a plain sentence rather than vanishing from the explanation.
    return {
        f: by_name.get(f, FeatureInfo(f, f, f, "other", 0, f"{f} = {{value}}", f"{f} = {{value}}"))
        for f in features
    }


def top_reasons(
    values: Mapping[str, object],
    contributions: Mapping[str, float],
    infos: Sequence[FeatureInfo],
    *,
    k: int = 3,
    sign: str = "positive",
) -> list[Reason]:
    """The ``k`` strongest contributions of one entity as sentences.

    ``sign="positive"`` keeps what raises the risk (what an inspector should look at), ``"negative"`` what
    lowers it, ``"both"`` the largest in absolute value. Ties break by feature name so output is stable.
    """
    if sign not in ("positive", "negative", "both"):
        raise ValueError(f"sign must be 'positive', 'negative' or 'both', got {sign!r}")
    names = [f for f in contributions if f != BASE_VALUE]
    info = _info_map(infos, names)
    items = [(f, float(contributions[f])) for f in names]
    if sign == "positive":
        items = [(f, c) for f, c in items if c > 0]
        items.sort(key=lambda t: (-t[1], t[0]))
    elif sign == "negative":
        items = [(f, c) for f, c in items if c < 0]
        items.sort(key=lambda t: (t[1], t[0]))
    else:
        items.sort(key=lambda t: (-abs(t[1]), t[0]))
    out = []
    for f, c in items[:k]:
        zh, en = reason_text(info[f], values.get(f), c)
        out.append(Reason(f, info[f].dimension, values.get(f), c, zh, en))
    return out


def dimension_sums(contributions: pl.DataFrame, infos: Sequence[FeatureInfo]) -> pl.DataFrame:
    """Per-row sums of the contributions over each indicator dimension (log-odds), plus ``base_value``.

    Columns: one per dimension in first-seen catalog order; a feature without an info falls in ``other``.
    The row still sums to the raw score.
    """
    features = [c for c in contributions.columns if c != BASE_VALUE]
    info = _info_map(infos, features)
    dims: dict[str, list[str]] = {}
    for f in features:
        dims.setdefault(info[f].dimension, []).append(f)
    exprs = [pl.sum_horizontal(cols).alias(dim) for dim, cols in dims.items()]
    if BASE_VALUE in contributions.columns:
        exprs.append(pl.col(BASE_VALUE))
    return contributions.select(exprs)
