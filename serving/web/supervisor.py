"""The supervisor's pages: entity search and the entity page (score, explanation, records, related parties,
score history).

Both pages admit the API's entity readers (supervisor, inspector, analyst) and show what the API's entity
routes return for the visitor's role: each page calls one service of :mod:`serving.services.entities` (which
masks for the role), the search the API's search, the entity page
:func:`~serving.services.entities.entity_page` (the profile, the current score, its explanation, the related
parties and the score history at once). Opening an entity page is audited like the API's entity detail
(``entities.read`` on ``uscc:<code>``).

The two charts (SHAP waterfall, related-party graph) are inline SVG drawn by Jinja macros
(``templates/supervisor/charts.html``) from the geometry computed here: deterministic, no script, and the
browser renders the Chinese labels.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from features.catalog import TABLES
from serving.api.trail import audited
from serving.api.types import UsccPath
from serving.services import entities, warnings
from serving.services.context import Context
from serving.web import i18n
from serving.web.auth import page_context
from serving.web.render import page
from supervision.platform.access import Role

router = APIRouter(prefix="/ui", include_in_schema=False)

SEARCH_LIMIT = 50  # rows listed on the search page (the total is always shown)
REASONS = 5  # top reasons asked of the explanation (as many as a stored score carries)
WATERFALL_FEATURES = 10  # features drawn one by one; the rest are summed into one bar
TIMELINE_CAP = 100
GRAPH_CAP = 40  # related parties drawn in the picture (the table lists them all)
RELATED_LIMIT = 500  # the API's maximum

# The short description of a record in the timeline: these columns, labelled, when present and visible.
SUMMARY: dict[str, tuple[str, ...]] = {
    "relations": ("relation_type", "person_name", "related_uscc", "share"),
    "licences": ("licence_name", "licence_kind", "authority"),
    "penalties": ("violation_type", "penalty_kind", "fine_amount", "decision_no"),
    "commitments": ("commitment_type", "matter", "fulfilment"),
    "self_reports": ("topic", "verified"),
    "evaluations": ("scheme", "grade", "score", "evaluator"),
    "list_entries": ("list_type", "reason", "exited_on"),
    "interviews": ("reason", "authority"),
    "repairs": ("record_table", "record_id", "outcome"),
    "objections": ("record_table", "record_id", "outcome"),
    "inspections": ("outcome", "findings", "department"),
}
EXTRA_LABELS = {"person_name": ("人员姓名", "person")}  # joined in by the profile, not a catalog column
KIND_ORDER = ("person", "investment", "shared_address", "shared_phone")


# ------------------------------------------------------------------------------------------------ pages
@router.get("/entities")
def entity_search(
    request: Request,
    ctx: Annotated[Context, page_context(entities.search)],
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    """Search by USCC prefix or part of the name (the API's search); an empty query shows the form only."""
    text = (q or "").strip()
    label = _label(i18n.language(request))
    panel = warnings_panel(request, ctx)
    if not text:
        return page(request, "supervisor/search.html", q="", result=None, error=None, label=label, **panel)
    if len(text) < 2:
        return page(
            request,
            "supervisor/search.html",
            status=422,
            q=text,
            result=None,
            error="entity.search.too_short",
            label=label,
            **panel,
        )
    result = entities.search(ctx, text, limit=SEARCH_LIMIT)
    return page(request, "supervisor/search.html", q=text, result=result, error=None, label=label, **panel)


def warnings_panel(request: Request, ctx: Context, error: Any = None) -> dict[str, Any]:
    """The supervisor's panel of the department's warnings not yet closed (open, then acknowledged; the
    service's own page of each); nothing for other roles (issue 15: the supervisor's home shows them)."""
    if ctx.actor.role is not Role.SUPERVISOR or not ctx.actor.department:
        return {"warnings_panel": None, "warnings_done": None, "warnings_error": None}
    pages = [warnings.list_warnings(ctx, status=s, limit=warnings.PAGE_MAX) for s in ("open", "acknowledged")]
    panel = {
        "department": pages[0].department,
        "total": sum(p.total for p in pages),
        "rows": [w for p in pages for w in p.items],
    }
    done = request.query_params.get("warning_done")
    return {
        "warnings_panel": panel,
        "warnings_done": done if done and done.isdigit() else None,
        "warnings_error": error,
    }


def landing(request: Request, ctx: Context, *, status: int = 200, error: Any = None) -> HTMLResponse:
    """The supervisor's landing page (the empty search and the warnings panel), e.g. with a refusal."""
    return page(
        request,
        "supervisor/search.html",
        status=status,
        q="",
        result=None,
        error=None,
        label=_label(i18n.language(request)),
        **warnings_panel(request, ctx, error),
    )


@router.get("/entities/{uscc}", dependencies=[audited("entities.read", target="uscc", prefix="uscc:")])
def entity_page(
    uscc: UsccPath, request: Request, ctx: Annotated[Context, page_context(entities.entity_page)]
) -> HTMLResponse:
    """Everything about one entity the API shows the visitor's role, on one page."""
    lang = i18n.language(request)
    view = entities.entity_page(ctx, uscc, reasons=REASONS, related_limit=RELATED_LIMIT)  # 422, 404
    stored, explanation, related = view.score, view.explanation, view.related
    reasons = explanation.reasons if explanation is not None else (stored.reasons if stored else ())
    # Every tier and reason shown says the date of the score it comes from (评分日期).
    reasons_as_of = (
        explanation.score_as_of if explanation is not None else (stored.score_as_of if stored else None)
    )
    overrides = [r for r in (stored.reasons if stored else reasons) if r.contribution is None]
    timeline, hidden = _timeline(view.profile.records, lang)
    graph_tiers = {**view.tiers, uscc: stored.tier} if stored else dict(view.tiers)
    return page(
        request,
        "supervisor/entity.html",
        uscc=uscc,
        reg=view.profile.registration,
        counts=view.profile.counts,
        stored=stored,
        explanation=explanation,
        unavailable=view.unavailable,
        reasons=[r for r in reasons if r.contribution is not None],
        reasons_from_score=explanation is None,
        reasons_as_of=reasons_as_of,
        overrides=overrides,
        waterfall=waterfall(explanation, lang) if explanation is not None else None,
        dimensions=_dimensions(explanation),
        timeline=timeline,
        timeline_hidden=hidden,
        related=related,
        tiers=view.tiers,
        tier_dates=view.tier_dates,
        graph=graph(uscc, view.profile.registration.get("name"), related.related, graph_tiers),
        history=view.history.scores,
        sparkline=sparkline([h.probability for h in view.history.scores]),
        label=_label(lang),
    )


# ----------------------------------------------------------------------------------------------- helpers
def _label(lang: str) -> Any:
    """``label(prefix, code)``: the message ``prefix.code`` if there is one, else the code itself."""

    def label(prefix: str, code: Any) -> str:
        if code is None:
            return "—"
        key = f"{prefix}.{code}"
        return i18n.t(key, lang) if key in i18n.MESSAGES else str(code)

    return label


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 1e15 else str(value)
    return str(value)


def _timeline(records: Mapping[str, list[dict[str, Any]]], lang: str) -> tuple[list[dict[str, Any]], int]:
    """All records of all categories as one list, newest first: (the first TIMELINE_CAP, how many more)."""
    specs = {t.name: t for t in TABLES}
    items: list[dict[str, Any]] = []
    for table, rows in records.items():
        spec = specs[table]
        when = entities.date_column(table)
        labels = {f.name: (f.zh, f.en) for f in spec.fields} | EXTRA_LABELS
        for row in rows:
            day = row.get(when) if when else None
            parts = [
                f"{labels[c][1 if lang == 'en' else 0]}: {_show(row[c])}"
                for c in SUMMARY.get(table, ())
                if row.get(c) is not None and row.get(c) != ""
            ]
            items.append(
                {
                    "date": day if isinstance(day, date) else None,
                    "table": table,
                    "category": spec.en if lang == "en" else spec.zh,
                    "text": "；".join(parts) if lang == "zh" else "; ".join(parts),
                }
            )
    # Newest first; undated records last; ties in a fixed order (category, then description).
    items.sort(
        key=lambda i: (i["date"] is None, -(i["date"].toordinal() if i["date"] else 0), i["table"], i["text"])
    )
    return items[:TIMELINE_CAP], max(0, len(items) - TIMELINE_CAP)


def _dimensions(explanation: entities.Explanation | None) -> list[dict[str, Any]]:
    """Signed dimension contributions with bar widths (% of half the track, the largest at 100%)."""
    if explanation is None or not explanation.dimensions:
        return []
    biggest = max(abs(d.contribution) for d in explanation.dimensions) or 1.0
    return [
        {
            "dimension": d.dimension,
            "zh": d.zh or d.dimension,
            "en": d.en or d.dimension,
            "contribution": d.contribution,
            "width": round(50 * abs(d.contribution) / biggest, 2),
            "up": d.contribution > 0,
        }
        for d in explanation.dimensions
    ]


# -------------------------------------------------------------------------------------------- waterfall
WF_WIDTH, WF_LABEL, WF_ROW, WF_TOP, WF_RIGHT = 900, 360, 28, 10, 80


def _clip(text: str, n: int) -> str:
    """At most `n` characters: the label column of the waterfall has a fixed width."""
    return text if len(text) <= n else text[: n - 1] + "…"


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * step:
            step *= m
            break
    first = math.ceil(low / step) * step
    out = []
    v = first
    while v <= high + 1e-12:
        out.append(round(v, 10))
        v += step
    return out


def _value(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.2f}".rstrip("0").rstrip(".") if v == v else "—"
    return str(v)


def waterfall(explanation: entities.Explanation, lang: str, *, n: int = WATERFALL_FEATURES) -> dict[str, Any]:
    """Geometry of the SHAP waterfall: base value → the structural attributes summed into one bar, the
    baseline of similar entities (never shown as the entity's conduct) → the `n` largest conduct
    contributions one by one → the others summed → the raw score. Bars are horizontal on a log-odds axis;
    up (red) raises the risk."""
    conduct = [f for f in explanation.features if not f.structural]
    structural = [f for f in explanation.features if f.structural]
    shown = conduct[:n]
    rest = conduct[n:]
    steps: list[dict[str, Any]] = []
    level = explanation.base_value
    if structural:
        delta = math.fsum(f.contribution for f in structural)
        text = i18n.t("entity.waterfall.baseline", lang).format(n=len(structural))
        names = ("、" if lang == "zh" else ", ").join(
            (f.zh if lang == "zh" else f.en) or f.feature for f in structural
        )
        steps.append(
            {
                "kind": "baseline",
                "feature": "baseline",
                "label": _clip(text, 56 if lang == "en" else 28),
                "full": f"{text}: {names}",
                "start": level,
                "delta": delta,
            }
        )
        level += delta
    for f in shown:
        name = (f.en if lang == "en" else f.zh) or f.feature
        full = f"{name} = {_value(f.value)}"
        steps.append(
            {
                "kind": "feature",
                "feature": f.feature,
                "label": _clip(full, 56 if lang == "en" else 28),
                "full": full,
                "start": level,
                "delta": f.contribution,
            }
        )
        level += f.contribution
    if rest:
        delta = sum(f.contribution for f in rest)
        text = i18n.t("entity.waterfall.others", lang).format(n=len(rest))
        steps.append(
            {"kind": "others", "feature": "", "label": text, "full": text, "start": level, "delta": delta}
        )
        level += delta
    points = [explanation.base_value, explanation.raw_score] + [s["start"] + s["delta"] for s in steps]
    low, high = min(points), max(points)
    pad = max((high - low) * 0.06, 0.05)
    low, high = low - pad, high + pad
    plot_left, plot_right = WF_LABEL + 10, WF_WIDTH - WF_RIGHT

    def x(v: float) -> float:
        return round(plot_left + (v - low) / (high - low) * (plot_right - plot_left), 2)

    rows: list[dict[str, Any]] = []
    y = WF_TOP
    base = {
        "kind": "base",
        "feature": "",
        "label": i18n.t("entity.waterfall.base", lang),
        "x": x(explanation.base_value),
        "w": 0,
        "y": y,
        "text": f"{explanation.base_value:.3f}",
    }
    rows.append(base)
    for s in steps:
        y += WF_ROW
        a, b = x(s["start"]), x(s["start"] + s["delta"])
        rows.append(
            {
                **s,
                "x": min(a, b),
                "w": max(abs(b - a), 1.0),
                "y": y,
                "up": s["delta"] > 0,
                "end": max(a, b),
                "text": f"{s['delta']:+.3f}",
            }
        )
    y += WF_ROW
    rows.append(
        {
            "kind": "raw",
            "feature": "",
            "label": i18n.t("entity.waterfall.raw", lang),
            "x": x(explanation.raw_score),
            "w": 0,
            "y": y,
            "text": f"{explanation.raw_score:.3f} → p = {explanation.probability:.3f}",
        }
    )
    height = y + WF_ROW + 24
    return {
        "width": WF_WIDTH,
        "height": height,
        "row": WF_ROW,
        "label_x": WF_LABEL,
        "plot_left": plot_left,
        "plot_right": plot_right,
        "axis_y": y + WF_ROW,
        "rows": rows,
        "base_x": x(explanation.base_value),
        "raw_x": x(explanation.raw_score),
        "ticks": [{"x": x(t), "text": f"{t:g}"} for t in _ticks(low, high)],
        "features": [s["feature"] for s in steps if s["kind"] == "feature"],
    }


def sparkline(values: Sequence[float], *, width: int = 240, height: int = 48) -> dict[str, Any] | None:
    """A small line of the probabilities over the score history (oldest left; 0..1 bottom to top)."""
    if len(values) < 2:
        return None
    pad = 4
    step = (width - 2 * pad) / (len(values) - 1)
    points = [
        (round(pad + i * step, 2), round(height - pad - v * (height - 2 * pad), 2))
        for i, v in enumerate(values)
    ]
    return {
        "width": width,
        "height": height,
        "points": " ".join(f"{x},{y}" for x, y in points),
        "last": points[-1],
    }


# ------------------------------------------------------------------------------------------------ graph
G_SIZE, G_R1, G_R2, G_NODE = 720, 150, 285, 13


def graph(
    uscc: str,
    name: str | None,
    related: Sequence[entities.Related],
    tiers: Mapping[str, str],
    *,
    cap: int = GRAPH_CAP,
) -> dict[str, Any]:
    """Geometry of the related-party picture: the entity in the centre, one hop on the inner ring, two hops
    on the outer ring, at most `cap` nodes (direct neighbours first, then by USCC).

    Each direct neighbour owns a sector of the circle, as wide as the two-hop parties reached through it
    (at least one slot): it sits in the sector's middle and those parties spread across the sector on the
    outer ring, so edges do not cross. The order is sorted, so the same relations give the same picture.
    """
    c = G_SIZE / 2
    first = sorted((r for r in related if r.hops == 1), key=lambda r: r.uscc)[:cap]
    drawn = {r.uscc for r in first}
    second = sorted((r for r in related if r.hops == 2 and r.via in drawn), key=lambda r: r.uscc)
    second = second[: max(0, cap - len(first))]
    children: dict[str, list[entities.Related]] = {r.uscc: [] for r in first}
    for r in second:
        children[r.via or ""].append(r)
    numbers = {r.uscc: i + 1 for i, r in enumerate(related)}
    nodes: list[dict[str, Any]] = [
        {
            "uscc": uscc,
            "name": name or uscc,
            "label": _short(name or uscc),
            "x": c,
            "y": c,
            "hops": 0,
            "tier": tiers.get(uscc),
            "number": 0,
            "anchor": "middle",
            "lx": c,
            "ly": c + G_NODE + 22,
        }
    ]
    where: dict[str, tuple[float, float]] = {uscc: (c, c)}
    slots = sum(max(1, len(children[r.uscc])) for r in first) or 1
    # A crowded inner ring moves out (up to just inside the outer ring).
    r1 = min(max(G_R1, len(first) * (2 * G_NODE + 6) / (2 * math.pi)), G_R2 - 4 * G_NODE)

    def place(r: entities.Related, angle: float, radius: float) -> None:
        nx, ny = round(c + radius * math.cos(angle), 2), round(c + radius * math.sin(angle), 2)
        where[r.uscc] = (nx, ny)
        cos, sin = math.cos(angle), math.sin(angle)
        lx, ly = nx + (G_NODE + 5) * cos, ny + (G_NODE + 5) * sin + 4
        anchor = "start" if cos > 0.2 else "end" if cos < -0.2 else "middle"
        if anchor == "middle":
            ly += 8 if sin > 0 else -6
        nodes.append(
            {
                "uscc": r.uscc,
                "name": r.name or r.uscc,
                "label": _short(r.name or r.uscc),
                "x": nx,
                "y": ny,
                "hops": r.hops,
                "tier": tiers.get(r.uscc),
                "number": numbers[r.uscc],
                "anchor": anchor,
                "lx": round(lx, 2),
                "ly": round(ly, 2),
            }
        )

    used = 0
    for r in first:
        width = max(1, len(children[r.uscc]))
        begin = 2 * math.pi * used / slots - math.pi / 2
        place(r, begin + math.pi * width / slots, r1)
        for j, child in enumerate(children[r.uscc]):
            place(child, begin + 2 * math.pi * (j + 0.5) / slots, G_R2)
        used += width
    edges: list[dict[str, Any]] = []
    for r in (*first, *second):
        src = where[r.via if r.hops == 2 and r.via else uscc]
        dst = where[r.uscc]
        kinds = sorted({w.kind for w in r.why}, key=KIND_ORDER.index)
        edges.append(
            {
                "x1": src[0],
                "y1": src[1],
                "x2": dst[0],
                "y2": dst[1],
                "kind": kinds[0] if kinds else "person",
                "kinds": kinds,
                "details": [w.detail for w in r.why],
                "target": r.uscc,
            }
        )
    # The picture's frame hugs what is drawn (a lone neighbour must not leave a 720-pixel square mostly
    # empty); labels reach about 90 px sideways and 30 px down from their node.
    xs = [n["x"] for n in nodes]
    ys = [n["y"] for n in nodes]
    x0, x1 = max(0.0, min(xs) - G_NODE - 95), min(float(G_SIZE), max(xs) + G_NODE + 95)
    y0, y1 = max(0.0, min(ys) - G_NODE - 25), min(float(G_SIZE), max(ys) + G_NODE + 35)
    return {
        "size": G_SIZE,
        "box": (round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)),
        "node": G_NODE,
        "nodes": nodes,
        "edges": edges,
        "shown": len(first) + len(second),
        "total": len(related),
        "kinds": [k for k in KIND_ORDER if any(k in e["kinds"] for e in edges)],
    }


PLACE = re.compile(r"^(?:.{1,6}?[省市])?(?:.{1,5}?[市区县])?")


def _short(text: str, n: int = 7) -> str:
    """A node label: the name without its leading place (盐城市大丰区…), at most `n` characters."""
    core = PLACE.sub("", text, count=1) or text
    return core if len(core) <= n else core[: n - 1] + "…"
