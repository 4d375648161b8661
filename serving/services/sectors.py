"""Sector risk (issue 15): risk across districts × industry sections for analysts and supervisors — per cell
the entities a score run scored, their mean probability, the share in tiers C/D, and the realised violation
rate of the inspections judged against the score of their day; the same over the runs (a trend); and a
report of both (HTML with the pictures inline, or XLSX) to hand on.

**Runs and inspections** are those of :mod:`serving.services.monitoring`: a run is a score file that passes
:func:`serving.services.current_score.check_score_file`, and an inspection counts against the score its
entity had the day it was inspected (``monitoring._judged``, reused so both pages agree on who was judged).
The minimum number of inspections below which a cell's realised rate is not shown is the monitoring policy's
``[calibration] min_n`` (``models/monitoring.toml``). The aggregation itself is :mod:`models.sectors`.

**The pictures** (a heat map of districts × sections, a trend line per section over the runs) are computed
here as plain geometry, drawn by the Jinja macros of ``serving/web/templates/sectors/_svg.html``: the page
and the HTML report draw the same SVG, inline, with no script and no external asset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from features import lake as lake_io
from models import sectors as sec
from serving.services import monitoring
from serving.services.context import Context, use_case
from serving.services.entities import check_day
from supervision.platform.access import Role
from supervision.platform.errors import DomainError
from supervision.platform.spreadsheets import xlsx_bytes

__all__ = [
    "BY",
    "METRICS",
    "SectorReport",
    "SectorRow",
    "SectorTable",
    "SectorTrend",
    "TrendPoint",
    "heat_map",
    "report",
    "table",
    "trend",
    "trend_chart",
]

READERS = (Role.ANALYST, Role.SUPERVISOR)
By = Literal["district_section", "district", "section"]
BY: dict[str, tuple[str, ...]] = {
    "district_section": ("division_code", "section"),
    "district": ("division_code",),
    "section": ("section",),
}
METRICS = ("mean_probability", "share_cd")
TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"


# ------------------------------------------------------------------------------------------------ results
@dataclass(frozen=True, slots=True)
class SectorRow:
    district: str | None  # the registration division code; None: unknown or not in this grouping
    section: str | None  # GB/T 4754 section letter A–T; None: unknown or not in this grouping
    section_zh: str | None
    section_en: str | None
    entities: int
    mean_probability: float | None
    share_cd: float | None
    inspections: int
    violations: int
    violation_rate: float | None  # None: fewer than min_n inspections
    sufficient: bool


@dataclass(frozen=True, slots=True)
class SectorTable:
    as_of: date
    by: str
    model_version: str | None
    min_n: int
    entities: int
    inspections: int  # judged against the score of their day, up to as_of
    left_out: dict[str, int]
    runs: tuple[date, ...]
    rows: tuple[SectorRow, ...]


@dataclass(frozen=True, slots=True)
class TrendPoint:
    run: date
    district: str | None
    section: str | None
    section_zh: str | None
    section_en: str | None
    entities: int
    mean_probability: float
    share_cd: float


@dataclass(frozen=True, slots=True)
class SectorTrend:
    by: str
    runs: tuple[date, ...]
    points: tuple[TrendPoint, ...]


@dataclass(frozen=True, slots=True)
class SectorReport:
    filename: str
    media_type: str
    content: bytes


# ------------------------------------------------------------------------------------------------ helpers
def _keys(by: str) -> tuple[str, ...]:
    if by not in BY:
        raise DomainError(f"by: {by!r} is not a grouping; allowed {', '.join(BY)}", field="by")
    return BY[by]


def _entities(ctx: Context) -> pl.DataFrame:
    return (
        lake_io.scan(ctx.settings.lake_dir, "entities").select("uscc", "division_code", "industry").collect()
    )


def _names(section: str | None) -> tuple[str | None, str | None]:
    if section is None:
        return None, None
    return sec.SECTIONS.get(section, (None, None))


def _table(ctx: Context, as_of: date | None, by: str) -> SectorTable:
    keys = _keys(by)
    if as_of is not None:
        check_day("as_of", as_of)
    runs = monitoring._valid_runs(ctx, until=as_of)
    (day, scores), _ = monitoring._pick(runs, as_of, None)
    judged, left_out = monitoring._judged(ctx, runs, day)
    min_n = monitoring._policy(ctx).min_n
    frame = sec.sector_table(scores, _entities(ctx), judged, by=keys, min_n=min_n)
    rows = []
    for r in frame.iter_rows(named=True):
        section = r.get("section")
        zh, en = _names(section)
        rows.append(
            SectorRow(
                district=r.get("division_code"),
                section=section,
                section_zh=zh,
                section_en=en,
                entities=r["entities"],
                mean_probability=r["mean_probability"],
                share_cd=r["share_cd"],
                inspections=r["inspections"],
                violations=r["violations"],
                violation_rate=r["violation_rate"],
                sufficient=r["sufficient"],
            )
        )
    version = str(scores["model_version"][0]) if "model_version" in scores.columns and scores.height else None
    return SectorTable(
        as_of=day,
        by=by,
        model_version=version,
        min_n=min_n,
        entities=scores.height,
        inspections=judged.height,
        left_out=left_out,
        runs=tuple(d for d, _ in runs),
        rows=tuple(rows),
    )


def _trend(ctx: Context, by: str, until: date | None = None) -> SectorTrend:
    keys = _keys(by)
    runs = monitoring._valid_runs(ctx, until=until)
    frame = sec.sector_trend(runs, _entities(ctx), by=keys)
    points = []
    for r in frame.iter_rows(named=True):
        section = r.get("section")
        zh, en = _names(section)
        points.append(
            TrendPoint(
                run=r["run"],
                district=r.get("division_code"),
                section=section,
                section_zh=zh,
                section_en=en,
                entities=r["entities"],
                mean_probability=r["mean_probability"],
                share_cd=r["share_cd"],
            )
        )
    return SectorTrend(by=by, runs=tuple(d for d, _ in runs), points=tuple(points))


# ------------------------------------------------------------------------------------------------ use cases
@use_case("sectors.table", roles=READERS, local=True)
def table(ctx: Context, *, as_of: date | None = None, by: str = "district_section") -> SectorTable:
    """Risk per cell of `by` (districts × industry sections, or one of them) in the run `as_of` (default the
    newest valid run): entities, mean probability, share in C/D, and the realised violation rate of the
    inspections up to that day judged against the score of their day (shown from ``min_n`` inspections)."""
    found = _table(ctx, as_of, by)
    ctx.audit(
        "sectors.table",
        target=f"scores:{found.as_of.isoformat()}",
        details={"as_of": found.as_of.isoformat(), "by": by, "cells": len(found.rows)},
        read=True,
    )
    return found


@use_case("sectors.trend", roles=READERS, local=True)
def trend(ctx: Context, *, by: str = "section") -> SectorTrend:
    """Mean probability and share in C/D per cell of `by` (default: industry section) for every valid score
    run, oldest first."""
    found = _trend(ctx, by)
    ctx.audit("sectors.trend", target="scores", details={"by": by, "runs": len(found.runs)}, read=True)
    return found


@use_case("sectors.report", roles=READERS, local=True)
def report(ctx: Context, *, as_of: date | None = None, format: str = "html") -> SectorReport:
    """The sector risk report of the run `as_of` (default the newest): ``html`` — one self-contained page
    (bilingual headings, the heat map and the trend as inline SVG, the table); ``xlsx`` — the table of
    districts × sections, one row per cell."""
    if format not in ("html", "xlsx"):
        raise DomainError(f"format: {format!r} is not a report format; allowed html, xlsx", field="format")
    found = _table(ctx, as_of, "district_section")
    stem = f"sector-risk-{found.as_of.isoformat()}"
    if format == "xlsx":
        content = xlsx_bytes(_frame(found), sheet="sectors", headings=HEADINGS)
        out = SectorReport(
            f"{stem}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", content
        )
    else:
        trended = _trend(ctx, "section", until=found.as_of)
        content = render_html(found, trended).encode("utf-8")
        out = SectorReport(f"{stem}.html", "text/html; charset=utf-8", content)
    ctx.audit(
        "sectors.report",
        target=f"scores:{found.as_of.isoformat()}",
        details={"as_of": found.as_of.isoformat(), "format": format, "bytes": len(out.content)},
        read=True,
    )
    return out


# ------------------------------------------------------------------------------------------------ report
HEADINGS = {
    "district": "区划代码 district",
    "section": "行业门类 section",
    "section_zh": "门类名称",
    "section_en": "section name",
    "entities": "主体数 entities",
    "mean_probability": "平均违法概率 mean probability",
    "share_cd": "C/D 档占比 share C/D",
    "inspections": "检查数 inspections",
    "violations": "违法数 violations",
    "violation_rate": "实际违法率 realised rate",
    "sufficient": "样本充足 sufficient",
}

REPORT_WORDS = {
    "heat_title": "风险热力图 Heat map: districts × industry sections",
    "heat_rows": "区划 district",
    "heat_cols": "行业门类 section",
    "trend_title": "各行业门类平均违法概率走势 Mean probability per section over the runs",
    "trend_x": "评分批次 score run",
    "trend_y": "平均违法概率 mean probability",
    "all": "全市 city",
}


def _frame(found: SectorTable) -> pl.DataFrame:
    columns = list(HEADINGS)
    data = [{c: getattr(r, c) for c in columns} for r in found.rows]
    schema = {
        "district": pl.String,
        "section": pl.String,
        "section_zh": pl.String,
        "section_en": pl.String,
        "entities": pl.Int64,
        "mean_probability": pl.Float64,
        "share_cd": pl.Float64,
        "inspections": pl.Int64,
        "violations": pl.Int64,
        "violation_rate": pl.Float64,
        "sufficient": pl.Boolean,
    }
    return pl.DataFrame(data, schema=schema, orient="row") if data else pl.DataFrame(schema=schema)


def render_html(found: SectorTable, trended: SectorTrend) -> str:
    """The HTML report: one file, its pictures inline SVG, no script, no external asset."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
    )
    words = {"title": REPORT_WORDS["heat_title"], **REPORT_WORDS}
    heat = heat_map(found.rows, metric="mean_probability", words=words, lang="zh")
    chart = trend_chart(
        trended.points,
        trended.runs,
        metric="mean_probability",
        words={**REPORT_WORDS, "title": REPORT_WORDS["trend_title"]},
        lang="zh",
    )
    return env.get_template("sectors/report.html").render(found=found, heat=heat, chart=chart)


# ------------------------------------------------------------------------------------------------ pictures
def _value(row: Any, metric: str) -> float | None:
    if metric not in METRICS:
        raise DomainError(f"metric: {metric!r} is not shown; allowed {', '.join(METRICS)}", field="metric")
    value = getattr(row, metric)
    return None if value is None else float(value)


def _shade(share: float) -> str:
    """White → dark red as `share` goes 0 → 1 (the monitoring page's heat scale)."""
    s = min(1.0, max(0.0, share))
    return f"rgb({round(255 - 90 * s)},{round(255 - 215 * s)},{round(255 - 215 * s)})"


def heat_map(
    rows: Sequence[SectorRow], *, metric: str, words: Mapping[str, str], lang: str = "en"
) -> dict[str, Any]:
    """Districts (rows) × industry sections (columns) of a ``district_section`` table, each cell shaded by
    `metric` (``mean_probability`` or ``share_cd``) from white to dark red on the largest cell, its value
    written in; a cell without entities is grey."""
    districts = sorted({r.district or "—" for r in rows})
    sections = sorted({r.section or "?" for r in rows})
    cell_w, cell_h, left_w, top_h = 44, 28, 84, 48
    values = {(r.district or "—", r.section or "?"): r for r in rows}
    shown = [v for r in rows if r.entities and (v := _value(r, metric)) is not None]
    top = max([1e-9, *shown])
    cells = []
    for i, d in enumerate(districts):
        for j, s in enumerate(sections):
            r = values.get((d, s))
            value = _value(r, metric) if r is not None and r.entities else None
            share = (value or 0.0) / top
            name = (r.section_zh if lang == "zh" else r.section_en) if r is not None else None
            cells.append(
                {
                    "x": left_w + j * cell_w,
                    "y": top_h + i * cell_h,
                    "fill": "#eef0f3" if value is None else _shade(share),
                    "text": "" if value is None else f"{value * 100:.0f}",
                    "dark": value is not None and share > 0.6,
                    "key": f"{d}:{s}",
                    "title": f"{d} × {s}{' ' + name if name else ''}: "
                    + ("—" if value is None else f"{value:.1%}")
                    + (f" (n={r.entities})" if r is not None else ""),
                }
            )
    return {
        "name": "heat",
        "metric": metric,
        "width": left_w + len(sections) * cell_w + 10,
        "height": top_h + len(districts) * cell_h + 10,
        "cell_w": cell_w,
        "cell_h": cell_h,
        "left_w": left_w,
        "top_h": top_h,
        "columns": [{"x": left_w + j * cell_w + cell_w / 2, "text": s} for j, s in enumerate(sections)],
        "rows": [{"y": top_h + i * cell_h + cell_h / 2 + 4, "text": d} for i, d in enumerate(districts)],
        "cells": cells,
        "top": top,
        "title": words.get("title", ""),
        "rows_label": words.get("heat_rows", ""),
        "cols_label": words.get("heat_cols", ""),
    }


PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def trend_chart(
    points: Sequence[TrendPoint],
    runs: Sequence[date],
    *,
    metric: str,
    words: Mapping[str, str],
    lang: str = "en",
) -> dict[str, Any]:
    """One line per series (a section, a district, or a district × section) of `metric` over the runs, and
    the city's line (the entity-weighted mean of all cells) drawn thick in black."""
    width, height, left, right, top, bottom = 640, 340, 56, 150, 36, 48
    pw, ph = width - left - right, height - top - bottom
    days = sorted(set(runs) | {p.run for p in points})
    series: dict[str, list[TrendPoint]] = {}
    for p in points:
        label = ":".join(x for x in (p.district, p.section) if x is not None) or "—"
        series.setdefault(label, []).append(p)
    city: list[tuple[date, float]] = []
    for day in days:
        mine = [p for p in points if p.run == day and p.entities]
        total = sum(p.entities for p in mine)
        if total:
            city.append((day, sum((_value(p, metric) or 0.0) * p.entities for p in mine) / total))
    values = [v for p in points if (v := _value(p, metric)) is not None] + [v for _, v in city]
    high = min(1.0, max([0.05, *values]) * 1.1)

    def x(day: date) -> float:
        if len(days) <= 1:
            return round(left + pw / 2, 2)
        return round(left + days.index(day) / (len(days) - 1) * pw, 2)

    def y(v: float) -> float:
        return round(top + ph - v / high * ph, 2)

    lines: list[dict[str, Any]] = []
    for i, (label, pts) in enumerate(sorted(series.items())):
        colour = PALETTE[i % len(PALETTE)]
        coords = [(x(p.run), y(_value(p, metric) or 0.0), p) for p in sorted(pts, key=lambda p: p.run)]
        name = pts[0].section_zh if lang == "zh" else pts[0].section_en
        lines.append(
            {
                "key": label,
                "colour": colour,
                "width": 1.5,
                "points": " ".join(f"{a},{b}" for a, b, _ in coords),
                "dots": [
                    {"cx": a, "cy": b, "title": f"{label} {p.run}: {(_value(p, metric) or 0.0):.1%}"}
                    for a, b, p in coords
                ],
                "legend": f"{label} {name}" if name else label,
            }
        )
    if city:
        lines.append(
            {
                "key": "all",
                "colour": "#1f2933",
                "width": 3,
                "points": " ".join(f"{x(d)},{y(v)}" for d, v in city),
                "dots": [
                    {"cx": x(d), "cy": y(v), "title": f"{words.get('all', 'all')} {d}: {v:.1%}"}
                    for d, v in city
                ],
                "legend": words.get("all", "all"),
            }
        )
    legend = [
        {"x": left + pw + 12, "y": top + 8 + 14 * i, "colour": ln["colour"], "text": str(ln["legend"])[:22]}
        for i, ln in enumerate(lines[-20:])
    ]
    return {
        "name": "trend",
        "metric": metric,
        "width": width,
        "height": height,
        "plot": {"x": left, "y": top, "w": pw, "h": ph},
        "ticks": [{"y": y(high * k / 4), "text": f"{high * k / 4:.0%}"} for k in range(5)],
        "runs": [{"x": x(d), "text": d.isoformat()} for d in days],
        "lines": lines,
        "legend": legend,
        "title": words.get("title", ""),
        "xlabel": words.get("trend_x", ""),
        "ylabel": words.get("trend_y", ""),
    }
