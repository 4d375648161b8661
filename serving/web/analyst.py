"""The analyst's pages: the registered model versions with their metrics and the gate's verdict, one version
in full (metrics, tiers, the charts and model card its training run logged to MLflow, the comparison with the
champion), promote with a reason, roll back.

Each page calls one service of :mod:`serving.services.models`; the moves are the API's and the CLI's own
(:func:`~serving.services.models.promote`, :func:`~serving.services.models.rollback`): the same gate, the same
load-before-the-alias-moves, the same atomic swap of the serving champion and the same audit entry, recorded
as made by the visitor. The charts are the run's artifacts, served by name: a name is looked up in the run's
artifact listing, never joined to a path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.api.trail import audited
from serving.services import models
from serving.services.context import Context
from serving.services.models import CORE_METRICS
from serving.web import charts as inline_charts
from serving.web import i18n
from serving.web.auth import CsrfDep, page_context
from serving.web.render import page
from supervision.platform.errors import ConflictError, NotFoundError

router = APIRouter(prefix="/ui", include_in_schema=False)

VERSION = re.compile(r"[1-9][0-9]{0,8}")
# A chart opened on its own is a document of this site: no script, nothing loaded from anywhere.
CHART_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=3600",
}
TIERS = ("A", "B", "C", "D")
NOTICES = ("promoted", "rolled_back")
REASON_MAX = models.MAX_WHY


def _version_or_404(raw: str) -> str:
    if not VERSION.fullmatch(raw):
        raise NotFoundError(
            f"no model version {raw!r}: a version is a positive whole number", field="version"
        )
    return raw


# ------------------------------------------------------------------------------------------ page contexts
def _serving(found: models.ModelCatalog | models.VersionDetail) -> dict[str, Any]:
    return {
        "version": found.serving,
        "loaded_at": found.loaded_at.isoformat(timespec="seconds") if found.loaded_at else None,
        "last_error": found.last_error,
    }


def _list_page(
    request: Request, ctx: Context, *, status: int = 200, error: str | None = None
) -> HTMLResponse:
    found = models.catalog(ctx)
    return page(
        request,
        "analyst/models.html",
        status=status,
        versions=found.versions,
        champion=found.champion,
        previous=found.previous,
        serving=_serving(found),
        error=error,
        notice=_notice(request),
        reason_max=REASON_MAX,
    )


def _notice(request: Request) -> str | None:
    done = request.query_params.get("done")
    return done if done in NOTICES else None


def _tier_rows(metrics: Mapping[str, float]) -> list[dict[str, Any]]:
    return [
        {
            "tier": tier,
            "share": metrics.get(f"tier_{tier}_share"),
            "predicted": metrics.get(f"tier_{tier}_predicted"),
            "observed": metrics.get(f"tier_{tier}_observed"),
        }
        for tier in TIERS
    ]


def _detail_page(
    request: Request,
    ctx: Context,
    version: str,
    *,
    status: int = 200,
    error: str | None = None,
    reason: str = "",
) -> HTMLResponse:
    found = models.version_detail(ctx, version)
    metrics = found.metrics
    extra = sorted(
        k
        for k in metrics
        if not k.startswith(("test_", "control_", "tier_", "champion_")) and k not in ("n",)
    )
    return page(
        request,
        "analyst/version.html",
        status=status,
        row=found.row,
        version=version,
        champion=found.champion,
        previous=found.previous,
        metrics=metrics,
        core=CORE_METRICS,
        extra=extra,
        extra_keys={k: f"model.extra.{k}" if f"model.extra.{k}" in i18n.MESSAGES else None for k in extra},
        tiers=_tier_rows(metrics),
        windows=found.windows,
        charts=found.charts,
        drawn=inline_charts.drawn(found.chart_data, i18n.language(request)),
        chart_keys={
            n: f"model.chart.{n}" if f"model.chart.{n}" in i18n.MESSAGES else None for n in found.charts
        },
        card=found.card,
        comparison=found.comparison,
        gate=found.gate,
        gate_metrics=sorted({c.metric for c in found.gate.checks}),
        serving=_serving(found),
        error=error,
        notice=_notice(request),
        reason=reason,
        reason_max=REASON_MAX,
    )


def _reason_required(request: Request) -> str:
    return i18n.t("model.error.reason_required", i18n.language(request))


# ------------------------------------------------------------------------------------------------ routes
@router.get("/models")
def models_page(request: Request, ctx: Annotated[Context, page_context(models.catalog)]) -> HTMLResponse:
    return _list_page(request, ctx)


@router.get("/models/{version}")
def version_page(
    request: Request, version: str, ctx: Annotated[Context, page_context(models.version_detail)]
) -> HTMLResponse:
    return _detail_page(request, ctx, _version_or_404(version))


@router.get("/models/{version}/charts/{filename}")
def chart(version: str, filename: str, ctx: Annotated[Context, page_context(models.chart)]) -> Response:
    """A chart the version's training run logged, by name (``reliability.svg``, ``tiers.png``, ...)."""
    found = models.chart(ctx, _version_or_404(version), filename)
    return Response(found.content, media_type=found.media_type, headers=CHART_HEADERS)


@router.post("/models/rollback", dependencies=[audited("models.rollback"), CsrfDep])
def rollback(
    request: Request,
    ctx: Annotated[Context, page_context(models.rollback, models.catalog)],
    reason: Annotated[str, Form(max_length=REASON_MAX)] = "",
) -> Response:
    if not reason.strip():
        return _list_page(request, ctx, status=422, error=_reason_required(request))
    try:
        models.rollback(ctx, why=reason)
    except ConflictError as exc:
        return _list_page(request, ctx, status=409, error=exc.message)
    return RedirectResponse("/ui/models?done=rolled_back", status_code=303)


@router.post(
    "/models/{version}/promote",
    dependencies=[audited("models.promote", target="version", prefix="model:"), CsrfDep],
)
def promote(
    request: Request,
    version: str,
    ctx: Annotated[Context, page_context(models.promote, models.version_detail)],
    reason: Annotated[str, Form(max_length=REASON_MAX)] = "",
    force: Annotated[bool, Form()] = False,
) -> Response:
    version = _version_or_404(version)
    why = reason.strip()
    if not why:  # an unknown version is a 404 first: the page it would show again does not exist
        return _detail_page(request, ctx, version, status=422, error=_reason_required(request))
    try:
        models.promote(ctx, version, why=why, force=force)
    except ConflictError as exc:
        return _detail_page(request, ctx, version, status=409, error=exc.message, reason=why)
    return RedirectResponse(f"/ui/models/{version}?done=promoted", status_code=303)
