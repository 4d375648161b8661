"""Rendering: one Jinja2 environment over ``serving/web/templates`` (autoescaped), and :func:`page` which
gives every template the visitor, the language, ``t()``, the CSRF token and the visitor's navigation."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from serving.web import i18n
from serving.web.auth import csrf_token, page_token
from supervision.platform.access import Principal, Role

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
TEMPLATES.env.undefined = __import__("jinja2").StrictUndefined  # a typo in a template fails its test
STATIC_DIR = HERE / "static"

# Each role's menu: (message key, path). The pages behind them admit the same roles as the API routes
# they show (docs/web.md lists both).
NAV: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.SUPERVISOR: (
        ("nav.entities", "/ui/entities"),
        ("nav.tasks", "/ui/tasks"),
        ("nav.queues", "/ui/queues"),
        ("nav.monitoring", "/ui/monitoring"),
        ("nav.sectors", "/ui/sectors"),
    ),
    Role.INSPECTOR: (
        ("nav.tasks", "/ui/tasks"),
        ("nav.entities", "/ui/entities"),
        ("nav.queues", "/ui/queues"),
    ),
    Role.ANALYST: (
        ("nav.models", "/ui/models"),
        ("nav.entities", "/ui/entities"),
        ("nav.monitoring", "/ui/monitoring"),
        ("nav.sectors", "/ui/sectors"),
    ),
    # The regulated entity: its own credit service zone (信用服务专区) only.
    Role.ENTITY: (("nav.zone", "/ui/zone"),),
}


def landing(role: Role | None) -> str | None:
    """Where a role's visitor lands after login (None: the role has no pages)."""
    items = NAV.get(role) if role is not None else None
    return items[0][1] if items else None


def page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """Render `template` for the current visitor; ``?lang=`` is remembered in a cookie."""
    lang = i18n.language(request)
    principal: Principal | None = getattr(request.state, "principal", None)
    token = page_token(request)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": partial(i18n.t, lang=lang),
            "principal": principal,
            "nav": NAV.get(principal.role, ()) if principal and principal.role else (),
            "csrf": csrf_token(token) if token else "",
            "path": request.url.path,
            # The same page in the other language (the query kept: a search stays a search).
            "other_lang_url": str(
                request.url.include_query_params(lang="en" if lang == "zh" else "zh")
            ).removeprefix(str(request.base_url).rstrip("/")),
            **context,
        },
        status_code=status,
    )
    if request.query_params.get("lang") in i18n.LANGS:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="strict", path="/")
    return response
