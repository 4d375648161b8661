"""The sector risk page (analysts, supervisors): a heat map of districts × industry sections coloured by the
mean probability or the share in C/D (``?metric=``), the table with the realised violation rates, and the
trend per section over the score runs. It calls :func:`serving.services.sectors.table` and
:func:`~serving.services.sectors.trend`, the API's and the CLI's own use cases; the pictures are the
services' inline SVG geometry drawn by ``templates/sectors/_svg.html`` with the page's words.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from serving.services import sectors
from serving.services.context import Context
from serving.web import i18n
from serving.web.auth import page_context
from serving.web.render import page
from supervision.platform.errors import NotFoundError

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/sectors")
def sectors_page(
    request: Request,
    ctx: Annotated[Context, page_context(sectors.table, sectors.trend)],
    as_of: Annotated[date | None, Query()] = None,
    metric: Annotated[Literal["mean_probability", "share_cd"], Query()] = "mean_probability",
) -> HTMLResponse:
    lang = i18n.language(request)

    def t(key: str) -> str:
        return i18n.t(key, lang)

    try:
        found = sectors.table(ctx, as_of=as_of, by="district_section")
    except NotFoundError as exc:
        if exc.field != "as_of" or as_of is not None:
            raise
        return page(request, "sectors/sectors.html", found=None, metric=metric)
    trended = sectors.trend(ctx, by="section")
    metric_name = t(f"sectors.metric.{metric}")
    heat = sectors.heat_map(
        found.rows,
        metric=metric,
        words={
            "title": f"{t('sectors.heat.title')} · {metric_name}",
            "heat_rows": t("sectors.heat.rows"),
            "heat_cols": t("sectors.heat.cols"),
        },
        lang=lang,
    )
    chart = sectors.trend_chart(
        [p for p in trended.points if p.run <= found.as_of],
        [d for d in trended.runs if d <= found.as_of],
        metric=metric,
        words={
            "title": f"{t('sectors.trend.title')} · {metric_name}",
            "trend_x": t("sectors.trend.x"),
            "trend_y": metric_name,
            "all": t("sectors.trend.all"),
        },
        lang=lang,
    )
    return page(
        request,
        "sectors/sectors.html",
        found=found,
        metric=metric,
        metrics=sectors.METRICS,
        heat=heat,
        chart=chart,
    )


@router.get("/sectors/report")
def sectors_report(
    ctx: Annotated[Context, page_context(sectors.report)],
    as_of: Annotated[date | None, Query()] = None,
    format: Annotated[Literal["html", "xlsx"], Query()] = "html",
) -> Response:
    """The report of the page's run, as a download (the API's ``GET /sectors/report``, for the signed-in
    visitor)."""
    made = sectors.report(ctx, as_of=as_of, format=format)
    return Response(
        made.content,
        media_type=made.media_type,
        headers={"Content-Disposition": f'attachment; filename="{made.filename}"'},
    )
