"""The FastAPI application: ``create_app(settings, engine=...)`` → an app; nothing happens at import.

The lifespan opens the database engine (unless one is given, e.g. by tests) and disposes of it at shutdown.
Each route declares its roles (``require_roles``) or :data:`~serving.api.deps.PUBLIC`; the factory refuses
an app with a route that does neither, and writes each route's roles into the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute

from serving import web
from serving.api import errors
from serving.api.deps import RoleCheck, _public
from serving.api.limits import (
    AdmissionControl,
    BodySizeLimits,
    DatabaseBuckets,
    RateLimiter,
    SecurityHeaders,
)
from serving.api.routers import (
    check,
    commitments,
    disclosure,
    entities,
    exchange,
    filings,
    lists,
    models,
    monitoring,
    objections,
    public,
    repairs,
    reports,
    sampling,
    scores,
    sectors,
    system,
    uscc,
    warnings,
    zone,
)
from serving.api.trail import AnonymousSummary, AuditMiddleware, AuditWriter
from serving.champion import ServingChampion
from serving.settings import Settings
from supervision.platform import checkpoints
from supervision.platform.access import Role
from supervision.platform.clock import Clock, SystemClock
from supervision.platform.db import make_engine

ROUTERS = (
    system.router,
    uscc.router,
    objections.router,
    repairs.router,
    lists.router,
    check.router,
    commitments.router,
    disclosure.router,
    reports.router,
    entities.router,
    scores.router,
    models.router,
    sampling.router,
    public.router,
    exchange.router,
    zone.router,
    filings.router,
    monitoring.router,
    warnings.router,
    sectors.router,
)
PUBLIC_ROLES = "public"
# Admission classes of the pages: the staff's and the entity's (/ui), and the anonymous public's (/ui/public).
PAGE_CLASSES = frozenset({"ui", "ui/public"})


def _calls(dependant: Dependant) -> Iterable[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def route_roles(route: APIRoute) -> frozenset[Role] | str | None:
    """The roles a route admits (their intersection if several checks), ``"public"``, or None if
    undeclared."""
    calls = list(_calls(route.dependant))
    checks = [c for c in calls if isinstance(c, RoleCheck)]
    if checks:
        allowed = frozenset(Role)
        for check in checks:
            allowed &= check.roles
        return allowed
    if _public in calls:
        return PUBLIC_ROLES
    return None


def role_matrix(routers: Iterable[APIRouter] = ROUTERS) -> list[tuple[str, str, frozenset[Role] | str]]:
    """(method, path, roles) for every route of `routers`, in declaration order (docs/api.md shows it)."""
    rows = []
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                roles = route_roles(route)
                for method in sorted(route.methods or ()):
                    rows.append((method, route.path, roles if roles is not None else frozenset()))
    return rows


def _declare_roles(router: APIRouter) -> None:
    # On the router's own routes, before inclusion: the app's view of included routes is built from them.
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        roles = route_roles(route)
        if roles is None:
            raise RuntimeError(
                f"route {sorted(route.methods or ())} {route.path} declares no roles: "
                "add require_roles(...) or PUBLIC"
            )
        listed = ["public"] if isinstance(roles, str) else sorted(r.value for r in roles)
        route.openapi_extra = {**(route.openapi_extra or {}), "x-roles": listed}
        # The typed error responses it can give (FastAPI's default 422 schema is not what errors.py sends).
        has_body = route.body_field is not None
        has_input = has_body or bool(get_flat_params(route.dependant))
        has_input = has_input or bool(set(route.methods or ()) - {"GET", "HEAD"})
        common = errors.openapi_responses(
            authenticated=not isinstance(roles, str), has_input=has_input, has_body=has_body
        )
        route.responses = {**common, **route.responses}
        note = f"Roles: {', '.join(listed)}."
        if note not in (route.description or ""):
            route.description = f"{route.description}\n\n{note}" if route.description else note


def create_app(settings: Settings, *, engine: sa.Engine | None = None, clock: Clock | None = None) -> FastAPI:
    """Build the API for `settings`; pass `engine` to share one (it is then not disposed at shutdown) and
    `clock` to freeze "today" (tests; default: the system clock, read in China)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = engine is None
        app.state.engine = engine if engine is not None else make_engine(settings.db_url)
        # Every commit that appends audit entries signs the new head outside the database.
        checkpoints.attach(app.state.engine, settings.audit_checkpoints())
        app.state.audit_writer = AuditWriter(app.state.engine)
        app.state.limiter.bind(app.state.engine)  # the database store's buckets (rate_limit_store)
        # The serving champion, loaded once here (if one is registered); promotions swap it in place.
        app.state.champion.load_initial()
        # ... and follows the registry's alias every champion_check_seconds: a move made by another replica
        # or the CLI serves here within that interval, traffic or not.
        app.state.champion.follow()
        try:
            yield
        finally:
            app.state.champion.stop_following()
            for entry in app.state.anonymous_summary.flush():  # counts of the windows still open
                app.state.audit_writer.write(entry)
            if own:
                app.state.engine.dispose()

    app = FastAPI(
        title="creditwatch",
        version="0.1.0",
        summary="Risk scoring for credit-based market supervision (信用监管).",
        description="Authenticate with `Authorization: Bearer <token>`; errors are "
        '`{"error": {"type", "message", "field"?}}`. See docs/api.md.',
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN, which this offline system cannot
        # reach; the OpenAPI document itself is served.
        docs_url=None,
        redoc_url=None,
    )
    settings.refuse_demo_secrets()
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.anonymous_summary = AnonymousSummary(window_seconds=settings.audit_anonymous_window_seconds)
    app.state.champion = ServingChampion(settings.mlflow_uri, check_seconds=settings.champion_check_seconds)
    app.state.limiter = RateLimiter(
        per_minute=settings.rate_limit_per_minute,
        burst=settings.rate_limit_burst,
        store=DatabaseBuckets() if settings.rate_limit_store == "database" else None,
    )
    for router in ROUTERS:
        _declare_roles(router)
        app.include_router(router)
    errors.install(app)
    # The web pages (serving/web): their routes declare roles like the API's; their errors render as HTML.
    web.install(app, _declare_roles)
    # Added last = outermost: the audit middleware sees the body limit's 413 as well.
    # The routes that take documents (serving/api/routers/filings.py) have their own, larger limit.
    app.add_middleware(
        BodySizeLimits,
        max_bytes=settings.max_body_bytes,
        larger=dict.fromkeys(filings.UPLOAD_PATHS, settings.upload_max_body_bytes),
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AuditMiddleware, summary=app.state.anonymous_summary)
    # Outermost: a shed request (503) costs no body read, no authentication, no database and no audit entry.
    app.add_middleware(
        AdmissionControl,
        concurrency=settings.admission_concurrency,
        queue=settings.admission_queue,
        queue_seconds=settings.admission_queue_seconds,
        retry_after=settings.admission_retry_after_seconds,
        classes={path.lstrip("/").split("/", 1)[0] for _, path, _ in role_matrix(ROUTERS)} | PAGE_CLASSES,
    )
    return app
