"""The model page's charts as inline SVG, in the page's language: geometry computed here from the numbers a
training run logged (``report/chart_data.json``, :func:`training.run.chart_data`), drawn by one Jinja macro
(``templates/analyst/charts.html``).

The PNG/SVG files the run also logged carry one language's words (Chinese only where matplotlib finds a
Chinese font, which this machine may not have); here every title, axis, legend and feature name comes from
the page messages (``serving/web/messages/charts.py``) or the feature catalog's zh/en names, and the browser
draws the text with its own fonts. Deterministic: the same numbers give the same markup; no script.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from serving.web import i18n

Chart = dict[str, Any]

_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 24, 40, 52  # margins around the plot area


def _t(lang: str) -> Callable[[str], str]:
    return lambda key: i18n.t(key, lang)


def _name(item: Mapping[str, Any], lang: str) -> str:
    return str(item.get(lang) or item.get("en") or item.get("feature") or "")


def _ticks(low: float, high: float, n: int = 5) -> list[float]:
    step = (high - low) / (n - 1) if high > low else 1.0
    return [low + i * step for i in range(n)]


def _frame(name: str, title: str, width: int, height: int, left: int = _LEFT, right: int = _RIGHT) -> Chart:
    return {
        "name": name,
        "title": title,
        "width": width,
        "height": height,
        "plot": {"x": left, "y": _TOP, "w": width - left - right, "h": height - _TOP - _BOTTOM},
        "xlabel": None,
        "ylabel": None,
        "ylabel2": None,
        "ticks": [],
        "rects": [],
        "lines": [],
        "dots": [],
        "labels": [],
        "legend": [],
    }


def _scale(low: float, high: float, start: float, end: float) -> Callable[[float], float]:
    span = (high - low) or 1.0
    return lambda v: round(start + (v - low) / span * (end - start), 2)


def _axis_labels(c: Chart, x: str | None, y: str | None, y2: str | None = None) -> None:
    p = c["plot"]
    if x:
        c["xlabel"] = {"x": p["x"] + p["w"] / 2, "y": c["height"] - 10, "text": x}
    if y:
        c["ylabel"] = {"x": 14, "y": p["y"] + p["h"] / 2, "text": y}
    if y2:
        c["ylabel2"] = {"x": c["width"] - 10, "y": p["y"] + p["h"] / 2, "text": y2}


def _legend(c: Chart, entries: Sequence[tuple[str, str]]) -> None:
    p = c["plot"]
    for i, (cls, text) in enumerate(entries):
        c["legend"].append({"x": p["x"] + 8, "y": p["y"] + 14 + 16 * i, "cls": cls, "text": text})


def reliability(points: Sequence[Mapping[str, float]], lang: str, *, control: bool = False) -> Chart:
    """Observed violation rate against the predicted probability per bin, beside the diagonal."""
    t = _t(lang)
    name = "reliability_control" if control else "reliability"
    c = _frame(name, t(f"model.chart.{name}"), 420, 420)
    p = c["plot"]
    values = [v for pt in points for v in (pt["predicted"], pt["observed"])]
    high = min(1.0, max(0.05, *values) * 1.1) if values else 1.0
    x = _scale(0, high, p["x"], p["x"] + p["w"])
    y = _scale(0, high, p["y"] + p["h"], p["y"])
    for v in _ticks(0, high):
        c["ticks"].append({"axis": "x", "x": x(v), "y": p["y"] + p["h"], "text": f"{v:.2f}"})
        c["ticks"].append({"axis": "y", "x": p["x"], "y": y(v), "text": f"{v:.2f}"})
    c["lines"].append({"cls": "ref", "points": f"{x(0)},{y(0)} {x(high)},{y(high)}"})
    line = " ".join(f"{x(pt['predicted'])},{y(pt['observed'])}" for pt in points)
    if line:
        c["lines"].append({"cls": "model", "points": line})
    for pt in points:
        c["dots"].append(
            {
                "cls": "model",
                "cx": x(pt["predicted"]),
                "cy": y(pt["observed"]),
                "title": f"{pt['predicted']:.3f} → {pt['observed']:.3f}",
            }
        )
    _axis_labels(c, t("chart.reliability.x"), t("chart.reliability.y"))
    _legend(c, [("ref", t("chart.legend.perfect")), ("model", t("chart.legend.model"))])
    return c


def tiers(rows: Sequence[Mapping[str, Any]], lang: str) -> Chart:
    """Share of entities per tier (bars, left axis) with the predicted and observed violation rates
    (points, right axis)."""
    t = _t(lang)
    c = _frame("tiers", t("model.chart.tiers"), 480, 340, right=64)
    p = c["plot"]
    shares = [float(r.get("share") or 0) for r in rows]
    rates = [float(v) for r in rows for k in ("predicted", "observed") if (v := r.get(k)) is not None]
    top_share = max(0.05, *shares) * 1.1 if shares else 1.0
    top_rate = max(0.05, *rates) * 1.1 if rates else 1.0
    y = _scale(0, top_share, p["y"] + p["h"], p["y"])
    y2 = _scale(0, top_rate, p["y"] + p["h"], p["y"])
    slot = p["w"] / max(1, len(rows))
    for v in _ticks(0, top_share):
        c["ticks"].append({"axis": "y", "x": p["x"], "y": y(v), "text": f"{v:.0%}"})
    for v in _ticks(0, top_rate):
        c["ticks"].append({"axis": "y2", "x": p["x"] + p["w"], "y": y2(v), "text": f"{v:.0%}"})
    series: dict[str, list[str]] = {"predicted": [], "observed": []}
    for i, r in enumerate(rows):
        mid = round(p["x"] + slot * (i + 0.5), 2)
        share = float(r.get("share") or 0)
        c["rects"].append(
            {
                "cls": "share",
                "x": round(mid - slot * 0.3, 2),
                "y": y(share),
                "w": round(slot * 0.6, 2),
                "h": round(y(0) - y(share), 2),
                "title": f"{r['tier']}: {share:.1%}",
            }
        )
        c["ticks"].append({"axis": "x", "x": mid, "y": p["y"] + p["h"], "text": str(r["tier"])})
        for key in series:
            value = r.get(key)
            if value is not None:
                series[key].append(f"{mid},{y2(float(value))}")
                c["dots"].append(
                    {
                        "cls": key,
                        "cx": mid,
                        "cy": y2(float(value)),
                        "title": f"{r['tier']}: {float(value):.1%}",
                    }
                )
    for key, pts in series.items():
        if len(pts) > 1:
            c["lines"].append({"cls": key, "points": " ".join(pts)})
    _axis_labels(c, t("chart.tiers.x"), t("chart.tiers.share"), t("chart.tiers.rate"))
    _legend(
        c,
        [
            ("share", t("chart.legend.share")),
            ("predicted", t("chart.legend.predicted")),
            ("observed", t("chart.legend.observed")),
        ],
    )
    return c


def _hbars(
    name: str,
    title: str,
    items: Sequence[tuple[str, float, float]],  # (label, start, end) on the value axis
    *,
    xlabel: str,
    refs: Sequence[float] = (),
) -> Chart:
    row = 22
    c = _frame(name, title, 720, _TOP + _BOTTOM + row * max(1, len(items)), left=300)
    p = c["plot"]
    ends = [v for _, a, b in items for v in (a, b)] + list(refs)
    low, high = (min(ends), max(ends)) if ends else (0.0, 1.0)
    pad = max((high - low) * 0.05, 0.01)
    low, high = (low - pad if low < 0 else 0.0), high + pad
    x = _scale(low, high, p["x"], p["x"] + p["w"])
    for v in _ticks(low, high):
        c["ticks"].append({"axis": "x", "x": x(v), "y": p["y"] + p["h"], "text": f"{v:.2f}"})
    for ref in refs:
        c["lines"].append({"cls": "ref", "points": f"{x(ref)},{p['y']} {x(ref)},{p['y'] + p['h']}"})
    for i, (label, a, b) in enumerate(items):
        top = p["y"] + i * row
        c["rects"].append(
            {
                "cls": "up" if b >= a else "down",
                "x": min(x(a), x(b)),
                "y": top + 4,
                "w": max(abs(x(b) - x(a)), 1.0),
                "h": row - 8,
                "title": f"{label}: {b - a:+.3f}",
            }
        )
        shown = label if len(label) <= 44 else label[:43] + "…"
        c["labels"].append({"x": p["x"] - 6, "y": top + row / 2 + 4, "text": shown, "anchor": "end"})
    _axis_labels(c, xlabel, None)
    return c


def shap_summary(rows: Sequence[Mapping[str, Any]], lang: str) -> Chart:
    """Mean |SHAP| per feature (log-odds), largest on top, named in the page's language."""
    t = _t(lang)
    items = [(_name(r, lang), 0.0, float(r["value"])) for r in rows]
    return _hbars("shap_summary", t("model.chart.shap_summary"), items, xlabel=t("chart.shap.x"))


def waterfall(data: Mapping[str, Any], lang: str) -> Chart:
    """The highest-risk test entity: base value → each of the largest contributions → the others summed →
    its raw score (log-odds)."""
    t = _t(lang)
    level = float(data["base"])
    items: list[tuple[str, float, float]] = []
    for step in data.get("steps") or []:
        items.append((_name(step, lang), level, level + float(step["value"])))
        level += float(step["value"])
    others = data.get("others")
    if others:
        items.append(
            (t("chart.waterfall.others").format(n=others["n"]), level, level + float(others["value"]))
        )
        level += float(others["value"])
    xlabel = t("chart.waterfall.x").format(base=float(data["base"]), raw=float(data["raw"]))
    return _hbars(
        "waterfall_top_risk",
        t("model.chart.waterfall_top_risk"),
        items,
        xlabel=xlabel,
        refs=(float(data["base"]), float(data["raw"])),
    )


def drawn(data: Mapping[str, Any] | None, lang: str) -> dict[str, Chart]:
    """Every chart the run's numbers allow, by the chart's name (the names of its logged files)."""
    if not data:
        return {}
    out: dict[str, Chart] = {}
    if data.get("reliability"):
        out["reliability"] = reliability(data["reliability"], lang)
    if data.get("reliability_control"):
        out["reliability_control"] = reliability(data["reliability_control"], lang, control=True)
    if data.get("tiers"):
        out["tiers"] = tiers(data["tiers"], lang)
    if data.get("shap_summary"):
        out["shap_summary"] = shap_summary(data["shap_summary"], lang)
    if data.get("waterfall_top_risk"):
        out["waterfall_top_risk"] = waterfall(data["waterfall_top_risk"], lang)
    return out
