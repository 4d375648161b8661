"""Who is looking at a page: the API token kept in an HttpOnly cookie after the login form, the page role
checks (the same :class:`~serving.api.deps.RoleCheck` the API routes use, so the app factory's role matrix
covers the pages too) and the CSRF token every form carries.

The cookie holds the token itself (the database keeps only its hash, as for the API). It is ``HttpOnly`` (no
script reads it) and ``SameSite=Strict`` (no other site's page sends it); every POST form also carries a
token derived from it, checked in constant time, so a forged form from elsewhere fails even in an old browser.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Form, Request

from serving.api.deps import RoleCheck, authenticate_request, context_dep
from serving.api.errors import Forbidden, Unauthenticated
from supervision.platform import access
from supervision.platform.access import Principal, Role

COOKIE = "cw_token"
LOGIN_PATH = "/ui/login"


class LoginRequired(Exception):
    """Raised by page dependencies for a visitor without a valid token: answered with a redirect to login."""

    def __init__(self, next_path: str, message: str | None = None) -> None:
        super().__init__(message or "login required")
        self.next_path = next_path
        self.message = message


def page_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE)


def get_page_principal(request: Request) -> Principal:
    """The page visitor behind the cookie; no cookie or a dead token sends the browser to the login form."""
    token = page_token(request)
    try:
        return authenticate_request(request, token)
    except Unauthenticated as exc:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path, None if token is None else exc.message) from exc


PagePrincipalDep = Annotated[Principal, Depends(get_page_principal)]


class PageRoleCheck(RoleCheck):
    """Like the API's role check, for a visitor authenticated by the pages' cookie."""

    def __call__(self, principal: PagePrincipalDep) -> Principal:  # type: ignore[override]
        return self.check(principal)


def page_roles(*roles: Role | str) -> Any:
    """``principal: Annotated[Principal, page_roles(Role.SUPERVISOR)]`` — who may open a page."""
    return Depends(PageRoleCheck(tuple(access.parse_role(r) for r in roles)))


def page_context(*services: Callable[..., Any]) -> Any:
    """``ctx: Annotated[Context, page_context(service)]`` — a page's context for calling `services`: the
    visitor behind the cookie, admitted by the services' roles, audited as door ``web``."""
    return context_dep(*services, door="web", check_type=PageRoleCheck)


def csrf_token(token: str) -> str:
    """The form token of a session: derived from the API token, so it needs no storage and dies with it."""
    return hmac.new(token.encode(), b"creditwatch-csrf", hashlib.sha256).hexdigest()[:32]


def check_csrf(request: Request, csrf: Annotated[str, Form(max_length=64)] = "") -> None:
    """Dependency of every page POST: the form's ``csrf`` field must match the visitor's session."""
    token = page_token(request)
    if token is None or not hmac.compare_digest(csrf, csrf_token(token)):
        raise Forbidden("the form has expired or did not come from this site: reload the page", field="csrf")


CsrfDep = Depends(check_csrf)
