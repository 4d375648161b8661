"""System routes: liveness and readiness (no token), who am I (any role), API tokens and audit verification
(admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import anyio
import anyio.to_thread
import sqlalchemy as sa
from fastapi import APIRouter, Path, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from serving.api.deps import PUBLIC, EveryRoleDep, context_dep
from serving.api.errors import ApiError
from serving.services import admin
from serving.services.context import Context
from supervision.platform import access
from supervision.platform.access import Role
from supervision.platform.db import make_engine

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str = Field(description="`ok`: the process answers (liveness; the database is not asked)")


class Ready(BaseModel):
    status: str = Field(description="`ok` when the database answers")
    database: str


class Unavailable(ApiError):
    status, type = 503, "unavailable"


# How long the readiness probe waits for the database, and how many probes may run at once (each on a
# connection of its own, outside the request pool, in threads outside the request workers' pool).
READY_TIMEOUT_SECONDS = 2.0
READY_PROBES = 2


def _probes(request: Request) -> anyio.CapacityLimiter:
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "ready_probes", None)
    if limiter is None:  # on the event loop: no other request runs between the test and the assignment
        limiter = state.ready_probes = anyio.CapacityLimiter(READY_PROBES)
    return limiter


@router.get("/health", dependencies=[PUBLIC], summary="Liveness: the process answers")
async def health() -> Health:
    """Answered on the event loop without the database, admission control or a worker thread, so it answers
    while the pool, the workers or the database are exhausted (readiness: ``/health/ready``)."""
    return Health(status="ok")


def _probe(engine: sa.Engine) -> None:
    """``SELECT 1`` on a new connection of its own (not one of the pool's), with short timeouts."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        ms = int(READY_TIMEOUT_SECONDS * 1000)
        args: dict[str, object] = {
            "connect_timeout": max(1, int(READY_TIMEOUT_SECONDS)),
            "options": f"-c statement_timeout={ms} -c lock_timeout={ms}",
        }
    else:
        args = {"timeout": READY_TIMEOUT_SECONDS}
    probe = make_engine(url, poolclass=sa.pool.NullPool, pool_pre_ping=False, connect_args=args)
    try:
        with probe.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    finally:
        probe.dispose()


@router.get("/health/ready", dependencies=[PUBLIC], summary="Readiness: the database answers")
async def ready(request: Request) -> Ready:
    """Asks the database on a connection of its own (not the request pool), giving up after
    ``READY_TIMEOUT_SECONDS``: 503 if it does not answer in time."""
    engine: sa.Engine = request.app.state.engine
    failure: str | None = "timeout"
    with anyio.move_on_after(READY_TIMEOUT_SECONDS):
        try:
            await anyio.to_thread.run_sync(_probe, engine, limiter=_probes(request), abandon_on_cancel=True)
            failure = None
        except sa.exc.SQLAlchemyError as exc:
            failure = type(exc).__name__
    if failure is not None:
        raise Unavailable(f"database unreachable: {failure}")
    return Ready(status="ok", database="ok")


class Me(BaseModel):
    token_id: int
    name: str
    role: Role | None
    department: str | None = Field(None, description="the department the caller acts for")
    division: str | None = Field(None, description="GB/T 2260 division code of that department")
    person_id: str | None = Field(None, description="staff or roster id of the person")
    uscc: str | None = Field(None, description="an entity's own USCC (role entity): the only one it may see")
    actor: str = Field(description="how the audit log names this caller")


@router.get("/me", summary="The caller behind the token")
def me(principal: EveryRoleDep) -> Me:
    return Me(
        token_id=principal.token_id,
        name=principal.name,
        role=principal.role,
        department=principal.department,
        division=principal.division,
        person_id=principal.person_id,
        uscc=principal.uscc,
        actor=principal.actor,
    )


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=access.NAME_PATTERN.pattern,
        description="the holder (a person or a system); names the caller in the audit log",
        examples=["inspector-wang"],
    )
    role: Role
    department: str | None = Field(
        None, max_length=128, pattern=access.DEPARTMENT_PATTERN.pattern, examples=["市场监管局"]
    )
    division: str | None = Field(None, pattern=access.DIVISION_PATTERN.pattern, examples=["320902"])
    person_id: str | None = Field(None, pattern=access.PERSON_PATTERN.pattern, examples=["ZF3209020001"])
    uscc: str | None = Field(
        None,
        min_length=18,
        max_length=18,
        description="role entity only: the USCC the token is bound to (stands in for the electronic "
        "business licence)",
        examples=["91320902MA1XXXXXX0"],
    )
    expires_at: AwareDatetime | None = Field(None, description="optional expiry (with a timezone)")


class TokenOut(BaseModel):
    id: int
    name: str
    role: Role
    department: str | None
    division: str | None
    person_id: str | None
    uscc: str | None = Field(description="role entity: the USCC the token is bound to")
    prefix: str = Field(description="public part of the token, to recognise it in lists")
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool

    @classmethod
    def of(cls, info: access.TokenInfo) -> TokenOut:
        return cls.model_validate(info.as_dict())


class TokenCreated(TokenOut):
    token: str = Field(description="the token itself: shown this once, stored only as a hash")


@router.post("/tokens", status_code=status.HTTP_201_CREATED, summary="Issue an API token (admin)")
def create_token(body: TokenCreate, ctx: Annotated[Context, context_dep(admin.create_token)]) -> TokenCreated:
    issued = admin.create_token(ctx, **body.model_dump())
    return TokenCreated(**TokenOut.of(issued.info).model_dump(), token=issued.token)


@router.get("/tokens", summary="List API tokens without their secrets (admin)")
def list_tokens(ctx: Annotated[Context, context_dep(admin.list_tokens)]) -> list[TokenOut]:
    return [TokenOut.of(info) for info in admin.list_tokens(ctx)]


@router.delete("/tokens/{token_id}", summary="Revoke an API token (admin)")
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    ctx: Annotated[Context, context_dep(admin.revoke_token)],
) -> TokenOut:
    return TokenOut.of(admin.revoke_token(ctx, token_id))


class CheckpointReport(BaseModel):
    """What the signed checkpoints outside the database say (docs/security.md)."""

    lines: int
    covered_seq: int = Field(description="every entry up to here lies in a signed range")
    gaps: list[list[int]] = Field(description="runs [first, last] of entries no signed range covers")
    problems: list[str]


class Verification(BaseModel):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str = Field(description="record it elsewhere: a later run must extend it")
    first_bad_id: int | None
    reason: str | None
    checkpoints: CheckpointReport | None


@router.get("/audit/verify", summary="Re-compute the audit log's hash chain (admin)")
def verify_audit(ctx: Annotated[Context, context_dep(admin.verify_audit)]) -> Verification:
    return Verification(**admin.verify_audit(ctx).as_dict())
