"""Dependencies as ``Annotated`` aliases: the request's database session, its caller, and role checks.

``SessionDep`` commits when the handler returns — before the response is sent, so a failed commit is an
error response, never a 200. ``require_roles(...)`` is how a route declares who may call it; the app
factory refuses to start if a route declares neither roles nor :data:`PUBLIC`.

Dependencies that do no blocking I/O are ``async def``: FastAPI runs a sync dependency in a worker thread,
and each such hop costs more CPU than the work of these ones (bench/serve.py, docs/benchmarks.md). Those that
touch the database stay off the event loop (authentication on a cache miss goes to a worker thread).
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import anyio
import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from serving.api.errors import Forbidden, RateLimited, Unauthenticated
from serving.api.limits import RateLimiter
from serving.services.context import THE_PUBLIC, AuditSink, Context, Door
from serving.settings import Settings
from supervision.platform import access, audit
from supervision.platform.access import Principal, Role
from supervision.platform.db import session_scope

# Every staff and system role; the regulated entity is admitted only by routes whose services name it.
ANY_ROLE: tuple[Role, ...] = tuple(r for r in Role if r in access.STAFF_ROLES)

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
            # the write lock first — the audit chain's, which the change takes anyway. First = when the
            # transaction begins, in the handler's thread at its first query: taken here, the lock would be
            # held across the awaits between this dependency and the handler (the other dependencies, the
            # wait for a worker thread), and under load every waiting request would hold the database.
            sa.event.listen(session, "after_begin", _lock_the_chain)
        yield session
    # Reached only after a successful commit: the audit entries the handler added are now durable.
    if getattr(request.state, "audit_pending", False):
        request.state.audit_written = True


# A no-op UPDATE of the chain head: SQLite's write (RESERVED) lock, the one the audit entry takes anyway.
_TAKE_WRITE_LOCK = sa.update(audit.AuditChainHead).values(seq=audit.AuditChainHead.seq)


def _lock_the_chain(_session: Session, _transaction: Any, connection: sa.Connection) -> None:
    connection.execute(_TAKE_WRITE_LOCK)


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
    return admit(request, principal, token)


_system_limiter_lock = threading.Lock()


def system_limiter(request: Request) -> RateLimiter:
    """The rate limiter of system-role tokens (another government system's embedded checks): its own
    ``rate_limit_system_per_minute`` / ``rate_limit_system_burst`` where set, else the app's limiter."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "system_limiter", None)
    if limiter is None:
        with _system_limiter_lock:
            limiter = getattr(state, "system_limiter", None)
            if limiter is None:
                settings: Settings = state.settings
                shared: RateLimiter = state.limiter
                if settings.rate_limit_system_per_minute is None and settings.rate_limit_system_burst is None:
                    limiter = shared
                else:
                    per_minute = settings.rate_limit_system_per_minute
                    limiter = shared.derived(
                        per_minute=shared.per_minute if per_minute is None else per_minute,
                        burst=settings.rate_limit_system_burst or shared.burst,
                        name="system",
                    )
                state.system_limiter = limiter
    return limiter


def _limits_block(request: Request) -> bool:
    """Whether the rate limiters ask the database (``rate_limit_store = "database"``): not on the loop."""
    limiter: RateLimiter = request.app.state.limiter
    return limiter.store.blocking


def admit(request: Request, principal: Principal | None, token: str | None) -> Principal:
    """Let `principal` in under its rate (a refusal is throttled per client address); 401 if None."""
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
    if principal.role is Role.SYSTEM:
        limiter = system_limiter(request)
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
    if cached is not None:  # no database work: stay on the event loop (unless the buckets are in it)
        if _limits_block(request):
            return await anyio.to_thread.run_sync(admit, request, cached, token)
        return admit(request, cached, token)
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
            raise Forbidden(f"role {principal.role_name!r} may not use this route; allowed: {allowed}")
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
# Anyone signed in, the regulated entity included (who am I).
EveryRoleDep = Annotated[Principal, require_roles(*Role)]


def api_sink(request: Request) -> AuditSink:
    """Changes are appended in the handler's transaction (committed with the change, or rolled back with it
    and then written by the middleware as refused); reads are written by the middleware before the response
    is sent, in group commits (serving/api/trail.py): the answer waits for the commit, and is a 503 if the
    entry cannot be written."""

    def sink(ctx: Context, fields: dict[str, Any], *, read: bool) -> None:
        state = request.state
        # Where it came in, as the middleware's entries say it.
        fields["details"] = {"method": request.method, "path": request.url.path, **fields["details"]}
        if read:
            # The route's own use case names the entry (a page re-showing a refused form reads on the way).
            state.audit_action = getattr(state, "audit_name", None) or fields["action"]
            if fields["target"] is not None:
                state.audit_target = fields["target"]
            state.audit_details = {**getattr(state, "audit_details", {}), **fields["details"]}
            return
        audit.append(ctx.session, **fields)
        state.audit_pending = True

    return sink


def _public_sink(ctx: Context, fields: dict[str, Any], *, read: bool) -> None:
    # Anonymous reads of published data are not written: anyone could otherwise grow the audit chain at will.
    if not read:
        audit.append(ctx.session, **fields)


def request_context(
    request: Request, principal: Principal, session: Session, *, door: str = "api"
) -> Context:
    """The context of one request: the app's settings, clock and serving champion, the caller, `session`."""
    state = request.app.state
    return Context(
        settings=state.settings,
        session=session,
        clock=state.clock,
        actor=principal,
        door=Door(door, _client(request)),
        serving=state.champion,
        sink=api_sink(request) if principal != THE_PUBLIC else _public_sink,
    )


def context_dep(
    *services: Callable[..., Any], door: str = "api", check_type: type[RoleCheck] | None = None
) -> Any:
    """``ctx: Annotated[Context, context_dep(service)]`` — the route's context for calling `services`.

    The route admits the roles the services admit (their intersection; every staff role if none restricts),
    so a route and its service cannot disagree; the services check again, as they do for every door. A denied
    or refused call is audited under the first service's action (and its ``target`` template); a read is
    audited only if its service says so (``ctx.audit(..., read=True)``). The web pages use the same with
    their cookie's check (``serving.web.auth.page_context``).
    """
    roles: frozenset[Role] = frozenset(Role)
    for fn in services:
        declared = getattr(fn, "roles", None)
        # roles=None: every staff role (use_case), never the entity.
        roles &= access.STAFF_ROLES if declared is None else declared
    if not roles:
        raise ValueError(f"services {[getattr(f, '__name__', f) for f in services]} admit no common role")
    check = (check_type or RoleCheck)(tuple(sorted(roles)))
    mark = _marker(services)

    async def build(request: Request, principal: Principal, session: Session, **_: Any) -> Context:
        return request_context(request, principal, session, door=door)

    return _dependency(build, mark, principal=Annotated[Principal, Depends(check)])


def public_context(service: Callable[..., Any], *, door: str = "api") -> Any:
    """``ctx: Annotated[Context, public_context(service)]`` for a PUBLIC route (no token): the caller is the
    anonymous public, admitted only by services declared ``public=True``; their reads are not audited (anyone
    could otherwise grow the chain at will), their changes are. The public is rate-limited per client address
    (``public:<address>``, the app's rate), as a token is per token: a 429 with ``Retry-After`` over it.
    `door` is ``web`` for the public pages."""
    if not getattr(service, "public", False):
        raise ValueError(f"{getattr(service, '__name__', service)} does not admit the anonymous public")
    mark = _marker((service,))

    async def build(request: Request, session: Session, **_: Any) -> Context:
        limiter: RateLimiter = request.app.state.limiter
        key = f"public:{_client(request)}"
        wait = (
            await anyio.to_thread.run_sync(limiter.acquire, key) if limiter.blocking else limiter.acquire(key)
        )
        if wait is not None:
            raise RateLimited(wait)
        return request_context(request, THE_PUBLIC, session, door=door)

    return _dependency(build, mark, _public=Annotated[None, PUBLIC])


def _dependency(build: Callable[..., Any], mark: Callable[[Request], Any], **who: Any) -> Any:
    """``Depends(build)`` with its parameters spelled as a signature: request, the audit marker, `who` (the
    caller's check) and the session. The dependencies are closures of the caller, which FastAPI could not
    resolve from this module's string annotations; `mark` comes first, so a denied call is audited under
    the service's action."""
    kind = inspect.Parameter.KEYWORD_ONLY
    build.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("request", kind, annotation=Request),
            inspect.Parameter("_marked", kind, annotation=Annotated[None, Depends(mark)]),
            *(inspect.Parameter(name, kind, annotation=annotation) for name, annotation in who.items()),
            inspect.Parameter("session", kind, annotation=SessionDep),
        ]
    )
    return Depends(build)


def _marker(services: tuple[Callable[..., Any], ...]) -> Callable[[Request], Any]:
    """A dependency naming the request's audit entry after the route's first service, should one be written
    (a change, a denied or rejected call, a read its service audits)."""
    action = getattr(services[0], "action", None) if services else None
    target = getattr(services[0], "target", None) if services else None

    async def mark(request: Request) -> None:
        if action is not None and not hasattr(request.state, "audit_name"):
            request.state.audit_name = action
        if target is not None:
            # A template naming no path parameter of this route leaves the target to the middleware.
            with contextlib.suppress(KeyError, IndexError):
                request.state.audit_target = target.format(**request.path_params)

    return mark
