"""Dependencies as ``Annotated`` aliases: the request's database session, its caller, and role checks.

``SessionDep`` commits when the handler returns — before the response is sent, so a failed commit is an
error response, never a 200. ``require_roles(...)`` is how a route declares who may call it; the app
factory refuses to start if a route declares neither roles nor :data:`PUBLIC`.

Dependencies that do no blocking I/O are ``async def``: FastAPI runs a sync dependency in a worker thread,
and each such hop costs more CPU than the work of these ones (bench/serve.py, docs/benchmarks.md). Those that
touch the database stay off the event loop (authentication on a cache miss goes to a worker thread).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated, Any

import anyio
import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from serving.api.errors import Forbidden, RateLimited, Unauthenticated
from serving.api.limits import RateLimiter
from serving.settings import Settings
from supervision import access, audit
from supervision.access import Principal, Role
from supervision.db import session_scope

ANY_ROLE: tuple[Role, ...] = tuple(Role)

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token issued by an administrator (`creditwatch tokens create`), as `Bearer cw_...`.",
)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> sa.Engine:
    engine: sa.Engine = request.app.state.engine
    return engine


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    engine = get_engine(request)
    with session_scope(engine) as session:
        if request.method not in SAFE_METHODS and engine.dialect.name == "sqlite":
            # A change reads, then writes, then appends its audit entry. SQLite cannot upgrade a read
            # transaction once another writer has committed (an immediate "database is locked"), so take
            # the write lock first — the audit chain's, which the change takes anyway.
            audit.lock(session)
        yield session
    # Reached only after a successful commit: the audit entries the handler added are now durable.
    if getattr(request.state, "audit_pending", False):
        request.state.audit_written = True


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the session commits when the handler returns, before the response goes out.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


_auth_cache_lock = threading.Lock()


def auth_cache(request: Request) -> access.AuthCache:
    """The app's cache of successful authentications (``auth_cache_seconds``; made on first use)."""
    state = request.app.state
    cache: access.AuthCache | None = getattr(state, "auth_cache", None)
    if cache is None:
        with _auth_cache_lock:
            cache = getattr(state, "auth_cache", None)
            if cache is None:
                settings: Settings = state.settings
                cache = state.auth_cache = access.AuthCache(settings.auth_cache_seconds)
    return cache


def authenticate_request(request: Request, token: str | None) -> Principal:
    """The caller holding `token` (from the bearer header or the pages' cookie); 401 if none or invalid,
    429 over the caller's rate. The principal is kept on ``request.state`` for the audit trail.

    Blocking (a database query unless the token's authentication is cached): call it from a worker thread.
    """
    principal = None
    if token is not None:
        # Its own short transaction: authentication is not part of the handler's unit of work.
        engine = get_engine(request)
        principal = auth_cache(request).authenticate(lambda: session_scope(engine), token)
    return _admit(request, principal, token)


def _admit(request: Request, principal: Principal | None, token: str | None) -> Principal:
    limiter: RateLimiter = request.app.state.limiter
    if principal is None:
        # Failed attempts are limited per client address, so guessing tokens is throttled too.
        wait = limiter.acquire(f"addr:{_client(request)}")
        if wait is not None:
            raise RateLimited(wait)
        if token is None:
            raise Unauthenticated()
        raise Unauthenticated("the API token is invalid, revoked or expired")
    request.state.principal = principal
    wait = limiter.acquire(f"token:{principal.token_id}")
    if wait is not None:
        raise RateLimited(wait)
    return principal


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the bearer token; 401 if none or invalid, 429 over the caller's rate."""
    token = credentials.credentials if credentials is not None else None
    cached = auth_cache(request).peek(token) if token is not None else None
    if cached is not None:  # no database work: stay on the event loop
        return _admit(request, cached, token)
    return await anyio.to_thread.run_sync(authenticate_request, request, token)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


class RoleCheck:
    """A dependency admitting only the given roles (403 for the others); apps read ``roles`` for the docs."""

    def __init__(self, roles: tuple[Role, ...]) -> None:
        if not roles:
            raise ValueError("require_roles() needs at least one role")
        self.roles = frozenset(access.parse_role(r) for r in roles)

    async def __call__(self, principal: PrincipalDep) -> Principal:
        return self.check(principal)

    def check(self, principal: Principal) -> Principal:
        """`principal` if its role is admitted, else 403."""
        if principal.role not in self.roles:
            allowed = ", ".join(sorted(r.value for r in self.roles))
            raise Forbidden(f"role {principal.role.value!r} may not use this route; allowed: {allowed}")
        return principal

    def __repr__(self) -> str:
        return f"RoleCheck({sorted(r.value for r in self.roles)})"


def require_roles(*roles: Role | str) -> Any:
    """``principal: Annotated[Principal, require_roles(Role.ADMIN)]`` — the route's allowed roles."""
    return Depends(RoleCheck(tuple(access.parse_role(r) for r in roles)))


async def _public() -> None:
    """Marker: this route needs no token (health checks only)."""


PUBLIC = Depends(_public)

AdminDep = Annotated[Principal, require_roles(Role.ADMIN)]
AnyRoleDep = Annotated[Principal, require_roles(*ANY_ROLE)]
