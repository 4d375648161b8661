"""The web pages: server-rendered Jinja2 under ``/ui``, for supervisors, inspectors and analysts.

The pages call the same functions as the API routes (``serving.api.routers``), so they show the same data,
masked and audited the same way; only the way in differs (a cookie from the login form instead of a bearer
header, forms instead of JSON). Assets (CSS, the few lines of script) ship in ``static/``: no CDN.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.api.errors import ApiError
from serving.web import (
    analyst,
    auth,
    home,
    inspector,
    monitoring,
    public,
    publicity,
    queues,
    sectors,
    supervisor,
    warnings,
    zone,
    zone_filings,
)
from serving.web.render import STATIC_DIR, page

WEB_ROUTERS = (
    home.entry,
    home.router,
    supervisor.router,
    inspector.router,
    analyst.router,
    monitoring.router,
    sectors.router,
    public.router,
    publicity.router,
    queues.router,
    zone_filings.router,  # before zone's own routes: /ui/zone/repairs/new, /ui/zone/self-reports/new
    zone.router,
    warnings.router,
)
PREFIX = "/ui"

Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _is_page(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, auth.LoginRequired)
    query = {"next": exc.next_path}
    if exc.message is not None:
        query["expired"] = "1"
    url = request.url_for("login_form").include_query_params(**query)
    response = RedirectResponse(str(url.path) + "?" + url.query, status_code=303)
    if exc.message is not None:
        response.delete_cookie(auth.COOKIE, path=PREFIX)
    return response


def _html_errors(handler: Handler) -> Handler:
    """Wrap an API error handler: on a page, the same status and message as an HTML page."""

    async def wrapped(request: Request, exc: Exception) -> Response:
        response: Any
        response = handler(request, exc)
        if inspect.isawaitable(response):
            response = await response
        if not _is_page(request):
            return response
        if isinstance(exc, ApiError):
            message = exc.message
        elif isinstance(exc, StarletteHTTPException):
            message = str(exc.detail)
        else:
            message = json.loads(bytes(response.body)).get("error", {}).get("message", "")
        html = page(
            request,
            "error.html",
            status=response.status_code,
            status_code=response.status_code,
            message=message,
        )
        for name in ("Retry-After", "WWW-Authenticate"):
            if name in response.headers:
                html.headers[name] = response.headers[name]
        return html

    return wrapped


def install(app: FastAPI, declare: Callable[[Any], None]) -> None:
    """Add the pages to `app`: routers (roles declared like the API's), static assets, HTML errors.

    Call after the API's error handlers are installed: they are wrapped, not replaced.
    """
    for router in WEB_ROUTERS:
        declare(router)
        app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="static")
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _html_errors(handler)
    app.add_exception_handler(auth.LoginRequired, _login_required)
