"""Charts as PNG and SVG (matplotlib, Agg backend, no network): SHAP waterfall, summary, reliability, tiers.

Chinese labels are used only when a font that covers them is installed (checked once per process through
matplotlib's font list); otherwise the charts fall back to English labels rather than draw empty boxes.
Fonts are never downloaded.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.explain import format_value

_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "AR PL UMing CN",
    "Droid Sans Fallback",
)
_RED, _BLUE, _GREY = "#d62728", "#1f77b4", "#7f7f7f"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@functools.cache
def chinese_font() -> str | None:
    """The family name of an installed font that renders Chinese, or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in names:
            return family
    return None


def label_language(prefer: str = "zh") -> str:
    return "zh" if prefer == "zh" and chinese_font() else "en"


def _save(fig: Any, out: Path) -> list[Path]:
    """Write ``out`` with .png and .svg suffixes; SVG without a date stamp so reruns are byte-identical."""
    plt = _pyplot()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in (".png", ".svg"):
        path = out.with_suffix(suffix)
        meta = {"Date": None} if suffix == ".svg" else {"Software": None}
        fig.savefig(path, format=suffix[1:], dpi=110, bbox_inches="tight", metadata=meta)
        paths.append(path)
    plt.close(fig)
    return paths


def _figure(width: float, height: float) -> Any:
    plt = _pyplot()
    if chinese_font():
        plt.rcParams["font.sans-serif"] = [chinese_font(), "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    plt.rcParams["svg.hashsalt"] = "creditwatch"
    return plt.subplots(figsize=(width, height))


def waterfall(
    contributions: Mapping[str, float],
    base_value: float,
    out: Path,
    *,
    labels: Mapping[str, str] | None = None,
    values: Mapping[str, object] | None = None,
    title: str = "",
    max_features: int = 10,
) -> list[Path]:
    """One entity's SHAP waterfall, from the base value to its raw score (log-odds); PNG and SVG."""
    items = sorted(contributions.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    shown, rest = items[:max_features], items[max_features:]
    if rest:
        shown.append((f"{len(rest)} other features", float(sum(v for _, v in rest))))
    shown = shown[::-1]  # largest on top
    fig, ax = _figure(8, 0.45 * len(shown) + 1.6)
    start = base_value + sum(v for _, v in shown[:0])
    running = base_value
    ypos = np.arange(len(shown))
    for i, (_name, v) in enumerate(shown):
        ax.barh(i, v, left=running, color=_RED if v > 0 else _BLUE, height=0.6)
        ax.text(running + v, i, f" {v:+.2f} ", va="center", ha="left" if v >= 0 else "right", fontsize=8)
        running += v
    names = []
    for name, _ in shown:
        label = (labels or {}).get(name, name)
        if values is not None and name in values:
            label = f"{label} = {format_value(values[name])}"
        names.append(label)
    ax.set_yticks(ypos, names, fontsize=8)
    ax.axvline(start, color=_GREY, lw=0.8, ls="--")
    ax.axvline(running, color="black", lw=0.8)
    ax.set_xlabel(f"log-odds (base {base_value:.2f} → score {running:.2f})")
    ax.set_title(title or "SHAP waterfall")
    return _save(fig, out)


def summary(
    contributions: pl.DataFrame, out: Path, *, labels: Mapping[str, str] | None = None, top: int = 20
) -> list[Path]:
    """Global summary: mean |SHAP| per feature (log-odds), the ``top`` largest; PNG and SVG."""
    feats = [c for c in contributions.columns if c != "base_value"]
    means = {f: float(np.abs(contributions[f].to_numpy()).mean()) for f in feats}
    order = sorted(means, key=lambda f: (-means[f], f))[:top][::-1]
    fig, ax = _figure(8, 0.35 * len(order) + 1.5)
    ax.barh(range(len(order)), [means[f] for f in order], color=_BLUE)
    ax.set_yticks(range(len(order)), [(labels or {}).get(f, f) for f in order], fontsize=8)
    ax.set_xlabel("mean |SHAP value| (log-odds)")
    ax.set_title("Feature importance (SHAP)")
    return _save(fig, out)


def reliability_chart(table: pl.DataFrame, out: Path, *, title: str = "Reliability") -> list[Path]:
    """Observed vs predicted violation rate per probability bin (from training.evaluate.reliability)."""
    t = table.filter(pl.col("weight") > 0)
    fig, ax = _figure(5, 5)
    ax.plot([0, 1], [0, 1], color=_GREY, ls="--", lw=0.8, label="perfect")
    ax.plot(t["predicted"].to_list(), t["observed"].to_list(), marker="o", color=_RED, label="model")
    hi = (
        max(0.05, *(float(v) for v in (*t["predicted"].to_list(), *t["observed"].to_list()) if v is not None))
        * 1.1
    )
    ax.set_xlim(0, min(1, hi))
    ax.set_ylim(0, min(1, hi))
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed violation rate")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return _save(fig, out)


def tier_chart(table: pl.DataFrame, out: Path, *, title: str = "Tiers A–D") -> list[Path]:
    """Share of entities per tier (bars) with predicted and observed violation rates (points)."""
    t = table
    tiers: Sequence[str] = t["tier"].to_list()
    fig, ax = _figure(6, 4)
    x = np.arange(len(tiers))
    ax.bar(x, t["share"].to_list(), color="#bbbbbb", label="share of entities")
    ax.set_xticks(x, tiers)
    ax.set_ylabel("share")
    ax2 = ax.twinx()
    ax2.plot(
        x,
        [v if v is not None else np.nan for v in t["predicted"].to_list()],
        "o-",
        color=_BLUE,
        label="predicted rate",
    )
    if "observed" in t.columns:
        ax2.plot(
            x,
            [v if v is not None else np.nan for v in t["observed"].to_list()],
            "s--",
            color=_RED,
            label="observed rate",
        )
    ax2.set_ylabel("violation rate")
    ax.set_title(title)
    ax2.legend(loc="upper left")
    return _save(fig, out)
