"""Who is looking at a page: a server-side page session behind an HttpOnly cookie, the page role checks (the
same :class:`~serving.api.deps.RoleCheck` the API routes use, so the app factory's role matrix covers the
pages too) and the CSRF token every form carries.

The login form takes an API token and starts a page session (``supervision.platform.access.WebSession``):
the cookie holds the session's random id, never the token, and the database keeps only its hash. The
session lasts ``web_session_hours`` (8 by default) and ends at logout, on the server, so a copied cookie is
dead after either; revoking the token ends its sessions too. The cookie is ``HttpOnly`` (no script reads
it), ``SameSite=Strict`` (no other site's page sends it) and ``Secure`` over HTTPS (or with
``secure_cookies``). Every POST form carries a token derived from the session id, checked in constant time,
and every page POST, the login included, is refused when the browser says it came from another site
(``Sec-Fetch-Site`` / ``Origin``), so nobody can sign a visitor in as someone else (login CSRF).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Form, Request

from serving.api.deps import RoleCheck, admit, context_dep, get_engine
from serving.api.errors import Forbidden, Unauthenticated
from serving.settings import Settings
from supervision.platform import access
from supervision.platform.access import Principal, Role
from supervision.platform.db import session_scope

COOKIE = "cw_session"
LOGIN_PATH = "/ui/login"


class LoginRequired(Exception):
    """Raised by page dependencies for a visitor without a valid token: answered with a redirect to login."""

    def __init__(self, next_path: str, message: str | None = None) -> None:
        super().__init__(message or "login required")
        self.next_path = next_path
        self.message = message


def page_token(request: Request) -> str | None:
    """The page session id the browser presents (the cookie), if any."""
    return request.cookies.get(COOKIE)


def get_page_principal(request: Request) -> Principal:
    """The page visitor behind the cookie's session; no cookie, or a session that ended or expired (or whose
    token was revoked), sends the browser to the login form."""
    sid = page_token(request)
    principal = None
    if sid is not None:
        # Its own short transaction, like the API's authentication.
        with session_scope(get_engine(request)) as s:
            principal = access.session_principal(s, sid)
    try:
        return admit(request, principal, sid)
    except Unauthenticated as exc:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path, None if sid is None else "the page session ended or expired") from exc


def same_site(request: Request) -> None:
    """Dependency of every page POST (the login too): refused when the browser says the form came from another
    site. ``Sec-Fetch-Site`` (every current browser) or else ``Origin`` must name this site; a client that
    sends neither (a script, a test client) is not a browser being steered by another page."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site not in ("same-origin", "none"):
            raise Forbidden(f"a form posted from another site ({fetch_site}) is refused", field="origin")
        return
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise Forbidden(
                f"a form posted from {origin} is refused: only this site's pages post here", field="origin"
            )
    elif origin == "null":
        raise Forbidden("a form posted from an opaque origin is refused", field="origin")


SameSiteDep = Depends(same_site)


def cookie_options(request: Request, settings: Settings) -> dict[str, Any]:
    """The flags of the session cookie: HttpOnly, SameSite=Strict, only under /ui, Secure over HTTPS."""
    secure = settings.secure_cookies or request.url.scheme == "https"
    return {"httponly": True, "samesite": "strict", "path": "/ui", "secure": secure}


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


def csrf_token(sid: str) -> str:
    """The form token of a page session: derived from its id, so it needs no storage and dies with it."""
    return hmac.new(sid.encode(), b"creditwatch-csrf", hashlib.sha256).hexdigest()[:32]


def check_csrf(request: Request, csrf: Annotated[str, Form(max_length=64)] = "") -> None:
    """Dependency of every page POST: posted from this site, and the form's ``csrf`` field matches the
    visitor's session."""
    same_site(request)
    sid = page_token(request)
    if sid is None or not hmac.compare_digest(csrf, csrf_token(sid)):
        raise Forbidden("the form has expired or did not come from this site: reload the page", field="csrf")


CsrfDep = Depends(check_csrf)
