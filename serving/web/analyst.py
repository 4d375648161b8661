"""The analyst's pages: the registered model versions with their metrics and the gate's verdict, one version
in full (metrics, tiers, the charts and model card its training run logged to MLflow, the comparison with the
champion), promote with a reason, roll back.

Moves go through the API's own route functions (:mod:`serving.api.routers.models`): the same gate, the same
load-before-the-alias-moves, the same atomic swap of the serving champion and the same audit entry. The charts
are the run's artifacts (``report/charts/NAME.svg|png``), served by name: a name is looked up in the run's
artifact listing, never joined to a path.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.api.deps import SessionDep
from serving.api.errors import Conflict, NotFound
from serving.api.routers import models as models_api
from serving.api.routers.entities import champion_of
from serving.api.trail import AuditDep, audited
from serving.web import i18n
from serving.web.auth import CsrfDep, page_roles
from serving.web.render import page
from supervision.access import Principal, Role

router = APIRouter(prefix="/ui", include_in_schema=False)
AnalystPage = Annotated[Principal, page_roles(Role.ANALYST)]

VERSION = re.compile(r"[1-9][0-9]{0,8}")
CHART_FILE = re.compile(r"([a-z0-9_]{1,64})\.(svg|png)")
CHART_DIR = "report/charts"
# The charts a run logs (training.run._write_artifacts), in page order; others found in a run come after.
CHART_ORDER = ("reliability", "reliability_control", "tiers", "shap_summary", "waterfall_top_risk")
MEDIA = {"svg": "image/svg+xml", "png": "image/png"}
# A chart opened on its own is a document of this site: no script, nothing loaded from anywhere.
CHART_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=3600",
}
# The metrics of one evaluation (training.evaluate.core_metrics), on the test rows and the control slice.
CORE_METRICS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "ece",
    "violations_per_100_at_budget",
    "violations_per_100_random",
    "lift_at_budget",
    "recall_at_budget",
    "base_rate",
    "n",
)
TIERS = ("A", "B", "C", "D")
NOTICES = ("promoted", "rolled_back")
REASON_MAX = 4000


# ------------------------------------------------------------------------------------------ reading runs
@functools.lru_cache(maxsize=128)
def _artifact(uri: str, run_id: str, path: str) -> bytes:
    """One artifact of a finished run (immutable once logged, so kept after the first read)."""
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as tmp:
        local = MlflowClient(tracking_uri=uri, registry_uri=uri).download_artifacts(run_id, path, tmp)
        return Path(local).read_bytes()


def _text(registry: Any, run_id: str | None, path: str) -> str | None:
    """A text artifact of the run, or None if it was not logged (or cannot be read)."""
    if not run_id:
        return None
    try:
        return _artifact(registry.uri, run_id, path).decode("utf-8")
    except Exception:  # a run without this artifact (older runs, a damaged store): the page says so
        return None


def _windows(registry: Any, run_id: str | None) -> dict[str, dict[str, Any]]:
    raw = _text(registry, run_id, "report/windows.json")
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def _charts(registry: Any, run_id: str | None) -> dict[str, dict[str, str]]:
    """The charts the run logged: name → {extension: artifact path}, in page order."""
    if not run_id:
        return {}
    try:
        files = registry.client.list_artifacts(run_id, CHART_DIR)
    except Exception:
        return {}
    found: dict[str, dict[str, str]] = {}
    for f in files:
        match = CHART_FILE.fullmatch(Path(f.path).name)
        if not f.is_dir and match and f.path == f"{CHART_DIR}/{match.group(0)}":
            found.setdefault(match.group(1), {})[match.group(2)] = f.path
    rank = {name: i for i, name in enumerate(CHART_ORDER)}
    return dict(sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def _run_metrics(registry: Any, run_id: str | None) -> dict[str, float]:
    if not run_id:
        return {}
    return dict(registry.client.get_run(run_id).data.metrics)


def _previous(registry: Any, champion: str | None) -> str | None:
    """The version a rollback would return to (the champion before the latest move), if any."""
    history = registry.history()
    if champion is None or not history or str(history[-1]["version"]) != champion:
        return None
    previous = history[-1].get("previous")
    return None if previous is None else str(previous)


def _version_or_404(raw: str) -> str:
    if not VERSION.fullmatch(raw):
        raise NotFound(
            f"no model version {raw!r}: a version is a positive whole number", field="path.version"
        )
    return raw


def _row(principal: Principal, request: Request, version: str) -> models_api.ModelVersion:
    for row in models_api.list_versions(principal, request):
        if row.version == version:
            return row
    raise NotFound(f"no model version {version}", field="path.version")


def _run_of(request: Request, version: str) -> tuple[Any, str | None]:
    """(registry, run id) of a registered version; 404 if there is no such version (or no registry)."""
    from mlflow.exceptions import MlflowException

    holder = champion_of(request)
    if not holder.registered():  # looking must not create the registry
        raise NotFound(f"no model version {version}", field="path.version")
    registry = holder.registry()
    try:
        return registry, registry.client.get_model_version(registry.name, version).run_id
    except MlflowException:
        raise NotFound(f"no model version {version}", field="path.version") from None


# ------------------------------------------------------------------------------------------ page contexts
def _serving(request: Request) -> dict[str, Any]:
    holder = champion_of(request)
    current = holder.current
    return {
        "version": current.version if current else None,
        "loaded_at": current.loaded_at.isoformat(timespec="seconds") if current else None,
        "last_error": holder.last_error,
    }


def _list_page(
    request: Request, principal: Principal, *, status: int = 200, error: str | None = None
) -> HTMLResponse:
    rows = models_api.list_versions(principal, request)
    holder = champion_of(request)
    champion = previous = None
    versions: list[dict[str, Any]] = []
    if rows:
        registry = holder.registry()
        champion = registry.champion()
        previous = _previous(registry, champion)
        for row in rows:
            metrics = _run_metrics(registry, row.run_id)
            windows = _windows(registry, row.run_id)
            gate = None if row.version == champion else registry.gate(row.version)
            versions.append(
                {
                    "row": row,
                    "metrics": metrics,
                    "window": (windows.get("train", {}).get("from"), windows.get("test", {}).get("to")),
                    "gate": gate,
                }
            )
    return page(
        request,
        "analyst/models.html",
        status=status,
        versions=versions,
        champion=champion,
        previous=previous,
        serving=_serving(request),
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
    principal: Principal,
    version: str,
    *,
    status: int = 200,
    error: str | None = None,
    reason: str = "",
) -> HTMLResponse:
    row = _row(principal, request, version)
    registry = champion_of(request).registry()
    champion = registry.champion()
    metrics = _run_metrics(registry, row.run_id)
    comparison = None
    if champion is not None and champion != version:
        comparison = models_api.compare(principal, request, a=version, b=None)
    gate = comparison.gate if comparison is not None else registry.gate(version)
    charts = _charts(registry, row.run_id)
    extra = sorted(
        k
        for k in metrics
        if not k.startswith(("test_", "control_", "tier_", "champion_")) and k not in ("n",)
    )
    return page(
        request,
        "analyst/version.html",
        status=status,
        row=row,
        version=version,
        champion=champion,
        previous=_previous(registry, champion),
        metrics=metrics,
        core=CORE_METRICS,
        extra=extra,
        extra_keys={k: f"model.extra.{k}" if f"model.extra.{k}" in i18n.MESSAGES else None for k in extra},
        tiers=_tier_rows(metrics),
        windows=_windows(registry, row.run_id),
        charts=charts,
        chart_keys={n: f"model.chart.{n}" if f"model.chart.{n}" in i18n.MESSAGES else None for n in charts},
        card=_text(registry, row.run_id, "report/model_card.md"),
        comparison=comparison,
        gate=gate,
        gate_metrics=sorted({c.metric for c in gate.checks}),
        serving=_serving(request),
        error=error,
        notice=_notice(request),
        reason=reason,
        reason_max=REASON_MAX,
    )


def _reason_required(request: Request) -> str:
    return i18n.t("model.error.reason_required", i18n.language(request))


def _reason(raw: str) -> str | None:
    reason = raw.strip()
    return reason if reason else None


# ------------------------------------------------------------------------------------------------ routes
@router.get("/models")
def models_page(request: Request, principal: AnalystPage) -> HTMLResponse:
    return _list_page(request, principal)


@router.get("/models/{version}")
def version_page(request: Request, principal: AnalystPage, version: str) -> HTMLResponse:
    return _detail_page(request, principal, _version_or_404(version))


@router.get("/models/{version}/charts/{filename}")
def chart(request: Request, principal: AnalystPage, version: str, filename: str) -> Response:
    """A chart the version's training run logged, by name (``reliability.svg``, ``tiers.png``, ...)."""
    registry, run_id = _run_of(request, _version_or_404(version))
    match = CHART_FILE.fullmatch(filename)
    logged = _charts(registry, run_id)
    path = logged.get(match.group(1), {}).get(match.group(2)) if match else None
    if match is None or path is None or run_id is None:
        names = ", ".join(f"{n}.{ext}" for n, exts in logged.items() for ext in sorted(exts)) or "none"
        raise NotFound(
            f"version {version} logged no chart {filename!r} (logged: {names})", field="path.filename"
        )
    return Response(_artifact(registry.uri, run_id, path), media_type=MEDIA[match.group(2)],
                    headers=CHART_HEADERS)  # fmt: skip


@router.post(
    "/models/rollback",
    dependencies=[audited("models.rollback"), CsrfDep],
)
def rollback(
    request: Request,
    principal: AnalystPage,
    session: SessionDep,
    trail: AuditDep,
    reason: Annotated[str, Form(max_length=REASON_MAX)] = "",
) -> Response:
    why = _reason(reason)
    if why is None:
        return _list_page(request, principal, status=422, error=_reason_required(request))
    body = models_api.MoveIn(who=principal.actor[:200], why=why)
    try:
        models_api.rollback(body, principal, request, session, trail)
    except Conflict as exc:
        return _list_page(request, principal, status=409, error=exc.message)
    return RedirectResponse("/ui/models?done=rolled_back", status_code=303)


@router.post(
    "/models/{version}/promote",
    dependencies=[audited("models.promote", target="version", prefix="model:"), CsrfDep],
)
def promote(
    request: Request,
    principal: AnalystPage,
    session: SessionDep,
    trail: AuditDep,
    version: str,
    reason: Annotated[str, Form(max_length=REASON_MAX)] = "",
    force: Annotated[bool, Form()] = False,
) -> Response:
    version = _version_or_404(version)
    _run_of(request, version)  # an unknown version is a 404 first (and looking creates no registry)
    why = _reason(reason)
    if why is None:
        return _detail_page(request, principal, version, status=422, error=_reason_required(request))
    body = models_api.PromoteIn(who=principal.actor[:200], why=why, force=force)
    try:
        models_api.promote(version, body, principal, request, session, trail)
    except Conflict as exc:
        return _detail_page(request, principal, version, status=409, error=exc.message, reason=why)
    return RedirectResponse(f"/ui/models/{version}?done=promoted", status_code=303)
