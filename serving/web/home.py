"""The pages' front door: login with an API token, logout, and the landing redirect by role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.api.deps import PUBLIC, SessionDep, _client
from serving.api.errors import RateLimited
from serving.api.trail import AuditDep, audited
from serving.settings import Settings
from serving.web import auth
from serving.web.render import landing, page
from supervision.platform import access
from supervision.platform.access import Principal, Role

router = APIRouter(prefix="/ui", include_in_schema=False)
entry = APIRouter(include_in_schema=False)

AnyPageDep = Annotated[Principal, auth.page_roles(*Role)]


def _safe_next(target: str | None) -> str | None:
    # Only this site's pages: "/ui/..." and never "//host" (an open redirect would help phishing).
    if target and target.startswith("/ui") and not target.startswith("//"):
        return target
    return None


@entry.get("/", dependencies=[PUBLIC])
def site_root() -> Response:
    return RedirectResponse("/ui", status_code=303)


@router.get("")
def root(request: Request, principal: AnyPageDep) -> Response:
    target = landing(principal.role)
    if target is None:
        return page(request, "home.html")
    return RedirectResponse(target, status_code=303)


@router.get("/login", dependencies=[PUBLIC])
def login_form(
    request: Request,
    next: Annotated[str | None, Query(max_length=500)] = None,
    expired: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    return page(
        request, "login.html", next=_safe_next(next) or "", error="login.expired" if expired else None
    )


@router.post("/login", dependencies=[PUBLIC, auth.SameSiteDep, audited("ui.login")])
def login(
    request: Request,
    session: SessionDep,
    trail: AuditDep,
    token: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    principal = access.authenticate(session, token.strip())
    if principal is None:
        # Guessing tokens through the form is throttled like the API's failed bearer tokens.
        wait = request.app.state.limiter.acquire(f"addr:{_client(request)}")
        if wait is not None:
            raise RateLimited(wait)
        trail.record(session, result="denied", details={"reason": "invalid token"})
        return page(request, "login.html", status=401, next=_safe_next(next) or "", error="login.failed")
    request.state.principal = principal
    settings: Settings = request.app.state.settings
    sid = access.start_session(session, principal, hours=settings.web_session_hours)
    trail.record(session, target=f"token:{principal.token_id}")
    target = _safe_next(next) or landing(principal.role) or "/ui"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(auth.COOKIE, sid, **auth.cookie_options(request, settings))
    return response


@router.post("/logout", dependencies=[auth.CsrfDep, audited("ui.logout")])
def logout(request: Request, principal: AnyPageDep, session: SessionDep, trail: AuditDep) -> Response:
    """End the page session on the server (a copy of the cookie is dead from now on) and drop the cookie."""
    sid = auth.page_token(request)
    ended = sid is not None and access.end_session(session, sid)
    trail.record(session, target=f"token:{principal.token_id}", details={"ended": ended})
    response = RedirectResponse(auth.LOGIN_PATH, status_code=303)
    response.delete_cookie(auth.COOKIE, path="/ui")
    return response
