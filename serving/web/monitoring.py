"""The monitoring page (analysts, supervisors): the tier migration matrix between the last two score runs (an
SVG heat table), the biggest risers with what changed, calibration by tier with Wilson intervals (SVG, all
inspections and the random control slice), feature drift, fairness, alerts and the retraining
recommendation. It calls :func:`serving.services.monitoring.compare_runs` and
:func:`~serving.services.monitoring.feedback`, the API's and the CLI's own use cases.

The pictures are inline SVG computed here (no script, no external asset; colours are SVG attributes, so the
page's CSP needs nothing new), with every word from the page messages in the page's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from serving.services import monitoring
from serving.services.context import Context
from serving.web import i18n
from serving.web.auth import page_context
from serving.web.render import page
from supervision.platform.errors import NotFoundError

router = APIRouter(prefix="/ui", include_in_schema=False)


def heat_table(found: monitoring.RunsCompared, lang: str) -> dict[str, Any]:
    """The migration matrix as an SVG heat table: one cell per (previous, current) tier, shaded by its count
    (white → dark red on the largest cell), the diagonal outlined; entered/left as a last column and row."""
    tiers = list(found.tiers)
    cell, left_w, top_h = 64, 90, 56
    n = len(tiers)
    counts = {(m.from_tier, m.to_tier): m.entities for m in found.migration}
    top = max([1, *counts.values()])
    cells = []
    for i, a in enumerate(tiers):
        for j, b in enumerate(tiers):
            value = counts.get((a, b), 0)
            share = value / top
            shade = round(255 - 180 * share)
            cells.append(
                {
                    "x": left_w + j * cell,
                    "y": top_h + i * cell,
                    "fill": f"rgb(255,{shade},{shade})",
                    "text": value,
                    "dark": share > 0.6,
                    "diagonal": i == j,
                    "title": f"{a} → {b}: {value}",
                }
            )
    extra = []
    for i, a in enumerate(tiers):  # the last column: left (scored only before)
        extra.append({"x": left_w + n * cell, "y": top_h + i * cell, "text": found.left.get(a, 0)})
    for j, b in enumerate(tiers):  # the last row: entered (scored only now)
        extra.append({"x": left_w + j * cell, "y": top_h + n * cell, "text": found.entered.get(b, 0)})
    return {
        "width": left_w + (n + 1) * cell + 10,
        "height": top_h + (n + 1) * cell + 10,
        "cell": cell,
        "left_w": left_w,
        "top_h": top_h,
        "tiers": [
            {"name": t, "col": left_w + j * cell + cell / 2, "row": top_h + j * cell + cell / 2}
            for j, t in enumerate(tiers)
        ],
        "cells": cells,
        "extra": extra,
        "left_label": {"x": left_w + n * cell + cell / 2, "y": top_h - 10},
        "entered_label": {"x": left_w - 8, "y": top_h + n * cell + cell / 2},
        "title": i18n.t("monitoring.migration.title", lang),
        "from": i18n.t("monitoring.migration.from", lang),
        "to": i18n.t("monitoring.migration.to", lang),
        "left": i18n.t("monitoring.migration.left", lang),
        "entered": i18n.t("monitoring.migration.entered", lang),
    }


def calibration_chart(rows: Sequence[monitoring.CalibrationRow], lang: str) -> dict[str, Any]:
    """Per tier, for each slice (all, control): the predicted mean (a square) and the observed rate (a dot)
    with its Wilson interval (a vertical bar); a red ring marks an alert."""
    width, height, left, right, top, bottom = 520, 320, 56, 16, 36, 48
    pw, ph = width - left - right, height - top - bottom
    tiers = sorted({r.tier for r in rows})
    values = [v for r in rows for v in (r.predicted, r.observed, r.ci_high) if v is not None]
    high = min(1.0, max([0.05, *values]) * 1.1)

    def y(v: float) -> float:
        return round(top + ph - v / high * ph, 2)

    slot = pw / max(1, len(tiers))
    offsets = {"all": -0.18, "control": 0.18}
    marks = []
    for r in rows:
        if r.tier not in tiers:
            continue
        x = round(left + slot * (tiers.index(r.tier) + 0.5 + offsets.get(r.slice, 0)), 2)
        marks.append(
            {
                "x": x,
                "slice": r.slice,
                "predicted": y(r.predicted),
                "observed": y(r.observed),
                "low": y(r.ci_low) if r.ci_low is not None else None,
                "high": y(r.ci_high) if r.ci_high is not None else None,
                "alert": r.alert,
                "title": f"{r.tier} ({r.slice}, n={r.n}): {r.predicted:.3f} / {r.observed:.3f}",
            }
        )
    ticks = [{"y": y(high * k / 4), "text": f"{high * k / 4:.0%}"} for k in range(5)]
    return {
        "width": width,
        "height": height,
        "plot": {"x": left, "y": top, "w": pw, "h": ph},
        "ticks": ticks,
        "tiers": [{"x": round(left + slot * (i + 0.5), 2), "name": t} for i, t in enumerate(tiers)],
        "marks": marks,
        "title": i18n.t("monitoring.calibration.title", lang),
        "xlabel": i18n.t("monitoring.chart.x", lang),
        "ylabel": i18n.t("monitoring.chart.y", lang),
        "legend": [
            ("all", i18n.t("monitoring.calibration.all", lang)),
            ("control", i18n.t("monitoring.calibration.control", lang)),
        ],
    }


@router.get("/monitoring")
def monitoring_page(
    request: Request,
    ctx: Annotated[Context, page_context(monitoring.feedback, monitoring.compare_runs)],
    as_of: Annotated[date | None, Query()] = None,
) -> HTMLResponse:
    lang = i18n.language(request)
    try:
        fed = monitoring.feedback(ctx, as_of=as_of)
    except NotFoundError as exc:
        if exc.field != "as_of" or as_of is not None:
            raise
        return page(request, "monitoring/monitoring.html", feedback=None, compared=None)
    compared = None
    if fed.previous is not None:
        compared = monitoring.compare_runs(ctx, as_of=fed.current.as_of, top=10)
    return page(
        request,
        "monitoring/monitoring.html",
        feedback=fed,
        compared=compared,
        heat=heat_table(compared, lang) if compared is not None else None,
        chart=calibration_chart(fed.calibration, lang),
        drifted=[d for d in fed.drift if d.level in ("major", "minor")][:40],
    )
