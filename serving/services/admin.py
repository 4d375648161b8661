"""Administrators' use cases: issue, list and revoke API tokens (identities), verify the audit chain.

Issuing needs no token on the server's own machine (the CLI's local operator bootstraps the first admin);
through the API it needs an admin.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from serving.services.context import Context, use_case
from supervision.platform import access, audit, checkpoints
from supervision.platform.access import IssuedToken, Role, TokenInfo
from supervision.platform.errors import ConflictError, DomainError

__all__ = ["checkpoint_audit", "create_token", "list_tokens", "revoke_token", "verify_audit"]

ADMIN = (Role.ADMIN,)


@use_case("tokens.create", roles=ADMIN, local=True)
def create_token(
    ctx: Context,
    *,
    name: str,
    role: str | Role,
    department: str | None = None,
    division: str | None = None,
    person_id: str | None = None,
    uscc: str | None = None,
    expires_at: datetime | None = None,
    expires_days: int | None = None,
) -> IssuedToken:
    """Issue a token for a person of a department with a role, or for a regulated entity bound to its `uscc`
    (role ``entity``: it stands in for the electronic business licence); the clear token is in the result,
    once."""
    if expires_at is None and expires_days is not None:
        expires_at = ctx.clock.now() + timedelta(days=expires_days)
    issued = access.create_token(
        ctx.session,
        name=name,
        role=role,
        created_by=ctx.actor.actor,
        expires_at=expires_at,
        now=ctx.clock.now(),
        department=department,
        division=division,
        person_id=person_id,
        uscc=uscc,
    )
    info = issued.info
    ctx.audit(
        "tokens.create",
        target=f"token:{info.id}",
        details={
            "name": info.name,
            "role": info.role,
            "prefix": info.prefix,
            "holder_department": info.department,
            "holder_division": info.division,
            "person_id": info.person_id,
            "uscc": info.uscc,
        },
    )
    return issued


@use_case("tokens.list", roles=ADMIN, local=True)
def list_tokens(ctx: Context) -> list[TokenInfo]:
    return access.list_tokens(ctx.session)


@use_case("tokens.revoke", roles=ADMIN, local=True, target="token:{token_id}")
def revoke_token(ctx: Context, token_id: int) -> TokenInfo:
    """Revoke a token (it stops working at once; revoking twice keeps the first time)."""
    info = access.revoke_token(ctx.session, token_id, now=ctx.clock.now())
    ctx.audit("tokens.revoke", target=f"token:{info.id}", details={"name": info.name, "role": info.role})
    return info


@use_case("audit.verify", roles=ADMIN, local=True)
def verify_audit(
    ctx: Context, *, anchor: tuple[int, str] | None = None, checkpoint_files: Sequence[Path] = ()
) -> audit.VerifyResult:
    """Re-compute the hash chain (and check that it still holds `anchor`) against the signed checkpoints:
    the home's own file, or the union of `checkpoint_files` (each machine's file when replicas on several
    machines share the database; one that cannot be read is refused, naming it).

    Audited as a read: the API writes it after the response, since holding the chain's lock through a long
    verify would stall every writer."""
    own = ctx.settings.audit_checkpoints()
    marks = checkpoints.CheckpointUnion.of(checkpoint_files, own.key) if checkpoint_files else own
    result = audit.verify(ctx.session, anchor=anchor, marks=marks)
    details: dict[str, object] = {
        "ok": result.ok,
        "entries": result.entries,
        "first_bad_id": result.first_bad_id,
    }
    if checkpoint_files:
        details["checkpoint_files"] = [str(path) for path in checkpoint_files]
    ctx.audit("audit.verify", target="audit_log", details=details, read=True)
    return result


@use_case("audit.checkpoint", roles=ADMIN, local=True)
def checkpoint_audit(ctx: Context, *, reason: str) -> audit.VerifyResult:
    """Sign the chain's head after an administrator has looked at entries no checkpoint covers (a crash
    between a commit and its checkpoint line). Refused if the chain itself does not verify: a broken chain
    is never signed. The entry this writes records who vouched for which entries and why; its commit
    writes the checkpoint that covers them."""
    if not reason.strip():
        raise DomainError("reason: say what was checked before signing the head", field="reason")
    chain = audit.verify(ctx.session)
    if not chain.ok:
        raise ConflictError(f"the audit chain does not verify, nothing is signed: {chain.reason}")
    marks = audit.verify(ctx.session, marks=ctx.settings.audit_checkpoints()).checkpoints
    gaps = [] if marks is None else [list(gap) for gap in marks.gaps]
    ctx.audit("audit.checkpoint", target="audit_log", details={"vouched": gaps, "reason": reason})
    if gaps:
        checkpoints.vouch(ctx.session, gaps[0][0])  # this commit's signed range spans the gaps
    return chain
