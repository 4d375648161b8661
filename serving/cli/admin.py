"""Administrators' commands: ``tokens`` (create, list, revoke), ``audit verify``, and ``serve`` (the API).

Token changes made here are audited like those made through the API, with the operating-system user as
the actor and ``cli`` as the source.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from serving.cli.state import State, open_session, operator
from supervision import access, audit

tokens_app = typer.Typer(no_args_is_help=True)
audit_app = typer.Typer(no_args_is_help=True)

COLUMNS = ["id", "name", "role", "prefix", "active", "expires_at", "revoked_at"]


def register(root: typer.Typer) -> None:
    root.add_typer(tokens_app, name="tokens", help="Administrators: API tokens (shown once, stored hashed).")
    root.add_typer(audit_app, name="audit", help="Administrators: verify the hash-chained audit log.")
    root.command("serve")(serve)


@tokens_app.command("create")
def create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help=f"one of {', '.join(r.value for r in access.Role)}")],
    name: Annotated[str, typer.Option("--name", help="the holder: a person or a system")],
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, help="expire after this many days (default: never)")
    ] = None,
) -> None:
    """Issue a token and print it once; only its hash is stored."""
    state: State = ctx.obj
    expires_at = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    actor = operator()
    with open_session(state) as session:
        audit.lock(session)  # the audited unit of work starts as a writer (see supervision.audit.lock)
        try:
            issued = access.create_token(
                session, name=name, role=role, created_by=actor, expires_at=expires_at
            )
        except (access.UnknownRole, access.InvalidTokenName) as exc:
            raise state.fail(str(exc)) from exc
        audit.append(
            session,
            actor=actor,
            role=access.Role.ADMIN.value,
            action="tokens.create",
            target=f"token:{issued.info.id}",
            source="cli",
            details={"name": issued.info.name, "role": issued.info.role, "prefix": issued.info.prefix},
        )
    payload = {**issued.info.as_dict(), "token": issued.token}
    if state.json:
        state.emit(payload)
        return
    state.emit(issued.info.as_dict(), rows=[issued.info.as_dict()], columns=COLUMNS, title="API token")
    state.console.print("token (shown this once; store it now):", style="bold")
    typer.echo(issued.token)


@tokens_app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every token, without its secret."""
    state: State = ctx.obj
    with open_session(state) as session:
        rows = [info.as_dict() for info in access.list_tokens(session)]
    state.emit(rows, rows=rows, columns=COLUMNS, title="API tokens")


@tokens_app.command("revoke")
def revoke(
    ctx: typer.Context, token_id: Annotated[int, typer.Argument(help="the token's id", min=1)]
) -> None:
    """Revoke a token (it stops working at once; revoking twice keeps the first time)."""
    state: State = ctx.obj
    actor = operator()
    with open_session(state) as session:
        audit.lock(session)
        try:
            info = access.revoke_token(session, token_id)
        except access.TokenNotFound as exc:
            raise state.fail(str(exc)) from exc
        audit.append(
            session,
            actor=actor,
            role=access.Role.ADMIN.value,
            action="tokens.revoke",
            target=f"token:{info.id}",
            source="cli",
            details={"name": info.name, "role": info.role},
        )
    state.emit(info.as_dict(), rows=[info.as_dict()], columns=COLUMNS, title="revoked")


_ANCHOR = re.compile(r"^([1-9][0-9]*):([0-9a-f]{64})$")


@audit_app.command("verify")
def verify(
    ctx: typer.Context,
    anchor: Annotated[
        str | None,
        typer.Option("--anchor", help="SEQ:HASH printed by an earlier run; the chain must still contain it"),
    ] = None,
) -> None:
    """Re-compute the hash chain; exit 1 naming the first bad entry if anything was edited, deleted or inserted."""
    state: State = ctx.obj
    pinned: tuple[int, str] | None = None
    if anchor is not None:
        match = _ANCHOR.match(anchor)
        if match is None:
            raise state.fail(f"--anchor {anchor!r}: expected SEQ:HASH (a number, a colon, 64 hex characters)")
        pinned = (int(match.group(1)), match.group(2))
    with open_session(state) as session:
        result = audit.verify(session, anchor=pinned)
    payload = {**result.as_dict(), "anchor": f"{result.head_seq}:{result.head_hash}"}
    state.emit(payload)
    if not result.ok:
        raise typer.Exit(1)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the API with uvicorn — one worker per process (several lose TCP_NODELAY: docs/api.md)."""
    run_server(ctx.obj, host=host, port=port, log_level=log_level)


def run_server(state: State, *, host: str, port: int, log_level: str = "info") -> None:
    """What ``creditwatch serve`` runs (and ``creditwatch demo`` after its pipeline): the API and pages on
    ``host:port`` in one uvicorn worker, until Ctrl-C (SIGINT) or SIGTERM."""
    import uvicorn

    from serving.api.app import create_app

    with open_session(state):
        pass  # fail early, with a clear message, on a database that is not set up
    uvicorn.run(create_app(state.settings), host=host, port=port, workers=1, log_level=log_level)
