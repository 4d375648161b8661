"""Explanations: per-feature SHAP contributions → per-dimension sums and top reasons as sentences (zh/en).

**Reasons speak of conduct.** A feature is either the entity's conduct (its records, listings, commitments,
inspections, related parties) or a structural attribute it shares with similar entities (``structural``:
entity type, industry, registration division, registered capital, age). The top reasons of a score are
conduct only; the structural attributes' contributions are summed into one line, the baseline of similar
entities (:data:`BASELINE`), which :func:`score_reasons` puts after them and :func:`dimension_sums` reports as
its own dimension. Every door (API, pages, score files, re-scores, credit reports) reads reasons built here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

BASE_VALUE = "base_value"
# The one line (and the one dimension) the structural attributes' contributions are summed into.
BASELINE = "baseline"
BASELINE_ZH = "同类主体基线"
BASELINE_EN = "baseline of similar entities"
_FIELD = re.compile(r"\{value[^}]*\}")
_QUALIFIER = re.compile(r"\s*[（(][^）)]*[）)]\s*$")  # "主体类型（编码）" → "主体类型"


@dataclass(frozen=True)
class FeatureInfo:
    """What the model needs to know about one feature: names, dimension, expected direction, sentence
    templates.

    ``direction`` is +1 (more risk as the value grows), -1 (less risk) or 0 (no constraint); the estimator
    turns it into a LightGBM monotone constraint. Templates are ``str.format`` strings with ``{value}``.
    ``structural``: an attribute the entity shares with similar entities, not its conduct (see the module);
    never a reason of its own, only part of the baseline line. A model saved before the field existed loads
    with False.
    """

    name: str
    zh: str
    en: str
    dimension: str
    direction: int = 0
    template_zh: str = "{value}"
    template_en: str = "{value}"
    structural: bool = False

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


def explained_dimension(info: FeatureInfo) -> str:
    """The dimension a feature's contribution is reported under: :data:`BASELINE` for a structural
    attribute, its indicator dimension otherwise."""
    return BASELINE if info.structural else info.dimension


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


class InfoIndex(dict[str, FeatureInfo]):
    """Feature infos by name. A feature without an info still gets a plain sentence rather than vanishing
    from the explanation: its info is made on first use and kept. Build it once per batch of rows
    (:func:`info_index`), not once per row: a row's reasons cost tens of microseconds, the index a hundred."""

    def __missing__(self, name: str) -> FeatureInfo:
        info = FeatureInfo(name, name, name, "other", 0, f"{name} = {{value}}", f"{name} = {{value}}")
        self[name] = info
        return info


Infos = Sequence[FeatureInfo] | InfoIndex


def info_index(infos: Infos) -> InfoIndex:
    """``infos`` by name (itself when it already is an index)."""
    return infos if isinstance(infos, InfoIndex) else InfoIndex((i.name, i) for i in infos)


def top_reasons(
    values: Mapping[str, object],
    contributions: Mapping[str, float],
    infos: Infos,
    *,
    k: int = 3,
    sign: str = "positive",
) -> list[Reason]:
    """The ``k`` strongest contributions of the entity's conduct as sentences (structural attributes are
    never a reason: :func:`baseline_reason` sums them).

    ``sign="positive"`` keeps what raises the risk (what an inspector should look at), ``"negative"`` what
    lowers it, ``"both"`` the largest in absolute value. Ties break by feature name so output is stable.
    """
    if sign not in ("positive", "negative", "both"):
        raise ValueError(f"sign must be 'positive', 'negative' or 'both', got {sign!r}")
    names = [f for f in contributions if f != BASE_VALUE]
    info = info_index(infos)
    items = [(f, float(contributions[f])) for f in names if not info[f].structural]
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


def baseline_reason(contributions: Mapping[str, float], infos: Infos) -> Reason | None:
    """The structural attributes' contributions summed into one line, "同类主体基线（行业门类、…） (+0.35)";
    None when the model has no structural feature or they contribute nothing to this entity."""
    names = [f for f in contributions if f != BASE_VALUE]
    info = info_index(infos)
    parts = [info[f] for f in names if info[f].structural]
    if not parts or all(float(contributions[i.name]) == 0.0 for i in parts):
        return None
    total = math.fsum(float(contributions[i.name]) for i in parts)
    sign = f"({total:+.2f})"
    zh = "、".join(dict.fromkeys(_QUALIFIER.sub("", i.zh) or i.zh for i in parts))
    en = ", ".join(dict.fromkeys(_QUALIFIER.sub("", i.en) or i.en for i in parts))
    return Reason(
        BASELINE, BASELINE, None, total, f"{BASELINE_ZH}（{zh}） {sign}", f"{BASELINE_EN} ({en}) {sign}"
    )


def score_reasons(
    values: Mapping[str, object],
    contributions: Mapping[str, float],
    infos: Infos,
    *,
    k: int = 3,
) -> list[Reason]:
    """The reasons of one entity's score: the ``k`` conduct features that raised the risk most
    (:func:`top_reasons`), then the baseline of similar entities as one line (:func:`baseline_reason`) when
    the structural attributes contribute anything."""
    info = info_index(infos)
    out = top_reasons(values, contributions, info, k=k)
    baseline = baseline_reason(contributions, info)
    return out if baseline is None else [*out, baseline]


def dimension_sums(contributions: pl.DataFrame, infos: Sequence[FeatureInfo]) -> pl.DataFrame:
    """Per-row sums of the contributions over each indicator dimension (log-odds), plus ``base_value``.

    Columns: one per dimension in first-seen catalog order; a feature without an info falls in ``other``,
    the structural attributes in :data:`BASELINE` (never in a conduct dimension). The row still sums to the
    raw score.
    """
    features = [c for c in contributions.columns if c != BASE_VALUE]
    info = info_index(infos)
    dims: dict[str, list[str]] = {}
    for f in features:
        dims.setdefault(explained_dimension(info[f]), []).append(f)
    exprs = [pl.sum_horizontal(cols).alias(dim) for dim, cols in dims.items()]
    if BASE_VALUE in contributions.columns:
        exprs.append(pl.col(BASE_VALUE))
    return contributions.select(exprs)
