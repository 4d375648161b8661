"""The model page's inline charts (serving/web/charts.py): every title, axis, legend and feature name in the
page's language, the same numbers giving the same geometry, and only the charts the run's numbers allow."""

from __future__ import annotations

import re
from typing import Any

import pytest

from serving.web import charts, i18n

PENALTIES = {"feature": "penalties_n_365d", "zh": "近一年行政处罚次数", "en": "penalties in the last year"}
DATA: dict[str, Any] = {
    "reliability": [{"predicted": 0.05, "observed": 0.04}, {"predicted": 0.3, "observed": 0.35}],
    "reliability_control": None,
    "tiers": [
        {"tier": "A", "share": 0.5, "predicted": 0.02, "observed": 0.03},
        {"tier": "B", "share": 0.3, "predicted": 0.1, "observed": 0.08},
        {"tier": "C", "share": 0.15, "predicted": 0.3, "observed": None},
        {"tier": "D", "share": 0.05, "predicted": 0.7, "observed": 0.6},
    ],
    "shap_summary": [
        {
            "feature": "penalties_n_365d",
            "zh": "近一年行政处罚次数",
            "en": "penalties in the last year",
            "value": 0.4,
        },
        {"feature": "age_days", "zh": "成立天数", "en": "age in days", "value": 0.1},
    ],
    "waterfall_top_risk": {
        "base": -2.0,
        "steps": [
            {
                "feature": "penalties_n_365d",
                "zh": "近一年行政处罚次数",
                "en": "penalties in the last year",
                "value": 0.8,
            }
        ],
        "others": {"n": 3, "value": -0.1},
        "raw": -1.3,
    },
}


def words(chart: dict[str, Any]) -> list[str]:
    """Every word the chart shows (title, axes, legend, labels), tooltips and numbers left out."""
    out = [chart["title"]]
    out += [chart[k]["text"] for k in ("xlabel", "ylabel", "ylabel2") if chart[k]]
    out += [g["text"] for g in chart["legend"]] + [label["text"] for label in chart["labels"]]
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_word_is_the_pages_language(lang: str) -> None:
    drawn = charts.drawn(DATA, lang)
    assert list(drawn) == ["reliability", "tiers", "shap_summary", "waterfall_top_risk"]
    assert drawn["reliability"]["title"] == i18n.t("model.chart.reliability", lang)
    assert drawn["reliability"]["xlabel"]["text"] == i18n.t("chart.reliability.x", lang)
    assert drawn["tiers"]["ylabel2"]["text"] == i18n.t("chart.tiers.rate", lang)
    assert drawn["waterfall_top_risk"]["xlabel"]["text"] == i18n.t("chart.waterfall.x", lang).format(
        base=-2.0, raw=-1.3
    )
    shown = [w for c in drawn.values() for w in words(c)]
    assert ("近一年行政处罚次数" in shown) == (lang == "zh")
    assert ("penalties in the last year" in shown) == (lang == "en")
    if lang == "zh":  # nothing English is left: only numbers, symbols and the SHAP acronym
        assert not [w for w in shown if re.search(r"[a-z]{3,}", w.replace("SHAP", ""))]


def test_same_numbers_same_geometry_and_missing_charts_are_left_out() -> None:
    assert charts.drawn(DATA, "en") == charts.drawn(DATA, "en")
    assert charts.drawn(None, "zh") == {} and charts.drawn({}, "en") == {}
    only = charts.drawn({"tiers": DATA["tiers"]}, "zh")
    assert list(only) == ["tiers"]
    bars = [r for r in only["tiers"]["rects"] if r["cls"] == "share"]
    assert [r["h"] for r in bars] == sorted((r["h"] for r in bars), reverse=True)  # shares 50% > 30% > ...
    # A tier without an observed rate has no observed point.
    assert len([d for d in only["tiers"]["dots"] if d["cls"] == "observed"]) == 3
