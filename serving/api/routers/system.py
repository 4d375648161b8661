"""System routes: health (no token), who am I (any role), API tokens and audit verification (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from serving.api.deps import PUBLIC, AdminDep, AnyRoleDep, SessionDep
from serving.api.errors import ApiError
from serving.api.trail import AuditDep, audited
from supervision import access, audit
from supervision.access import Role

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str = Field(description="`ok` when the database answers")
    database: str


class Unavailable(ApiError):
    status, type = 503, "unavailable"


@router.get("/health", dependencies=[PUBLIC], summary="Liveness and database reachability")
def health(session: SessionDep) -> Health:
    try:
        session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise Unavailable(f"database unreachable: {type(exc).__name__}") from exc
    return Health(status="ok", database="ok")


class Me(BaseModel):
    token_id: int
    name: str
    role: Role
    actor: str = Field(description="how the audit log names this caller")


@router.get("/me", summary="The caller behind the token")
def me(principal: AnyRoleDep) -> Me:
    return Me(token_id=principal.token_id, name=principal.name, role=principal.role, actor=principal.actor)


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
    expires_at: AwareDatetime | None = Field(None, description="optional expiry (with a timezone)")


class TokenOut(BaseModel):
    id: int
    name: str
    role: Role
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


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    dependencies=[audited("tokens.create")],
    summary="Issue an API token (admin)",
)
def create_token(
    body: TokenCreate, principal: AdminDep, session: SessionDep, trail: AuditDep
) -> TokenCreated:
    issued = access.create_token(
        session, name=body.name, role=body.role, created_by=principal.actor, expires_at=body.expires_at
    )
    trail.record(
        session,
        target=f"token:{issued.info.id}",
        details={"name": issued.info.name, "role": issued.info.role, "prefix": issued.info.prefix},
    )
    return TokenCreated(**TokenOut.of(issued.info).model_dump(), token=issued.token)


@router.get("/tokens", summary="List API tokens without their secrets (admin)")
def list_tokens(principal: AdminDep, session: SessionDep) -> list[TokenOut]:
    return [TokenOut.of(info) for info in access.list_tokens(session)]


@router.delete(
    "/tokens/{token_id}",
    dependencies=[audited("tokens.revoke", target="token_id", prefix="token:")],
    summary="Revoke an API token (admin)",
)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    principal: AdminDep,
    session: SessionDep,
    trail: AuditDep,
) -> TokenOut:
    info = access.revoke_token(session, token_id)
    trail.record(session, details={"name": info.name, "role": info.role})
    return TokenOut.of(info)


class Verification(BaseModel):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str = Field(description="record it elsewhere: a later run must extend it")
    first_bad_id: int | None
    reason: str | None


@router.get(
    "/audit/verify",
    dependencies=[audited("audit.verify")],
    summary="Re-compute the audit log's hash chain (admin)",
)
def verify_audit(principal: AdminDep, session: SessionDep, trail: AuditDep) -> Verification:
    result = audit.verify(session)
    # Written after the response (a read): holding the chain's lock through a long verify would stall writers.
    trail.note(target="audit_log", ok=result.ok, entries=result.entries, first_bad_id=result.first_bad_id)
    return Verification(**result.as_dict())
