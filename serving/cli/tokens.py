"""``creditwatch tokens``: API tokens for a person of a department with a role (create, list, revoke).

Each command calls one service of :mod:`serving.services.admin`, which audits it as the API does: the actor
is the holder of ``--as TOKEN``, or the local operator ``cli:<login>`` (who may bootstrap the first admin).
"""

from __future__ import annotations

from typing import Annotated

import typer

from serving.cli.state import State
from serving.services import admin
from supervision.platform import access

tokens_app = typer.Typer(no_args_is_help=True)

COLUMNS = [
    "id",
    "name",
    "role",
    "department",
    "division",
    "person_id",
    "uscc",
    "prefix",
    "active",
    "expires_at",
]


def register(root: typer.Typer) -> None:
    root.add_typer(tokens_app, name="tokens", help="Administrators: API tokens (shown once, stored hashed).")


@tokens_app.command("create")
def create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help=f"one of {', '.join(r.value for r in access.Role)}")],
    name: Annotated[str, typer.Option("--name", help="the holder: a person or a system")],
    department: Annotated[
        str | None, typer.Option("--department", help="the holder's department, e.g. 市场监管局")
    ] = None,
    division: Annotated[
        str | None, typer.Option("--division", help="GB/T 2260 code of the department's area, e.g. 320902")
    ] = None,
    person: Annotated[
        str | None,
        typer.Option("--person", help="staff or roster id of the holder (an inspector's roster id)"),
    ] = None,
    uscc: Annotated[
        str | None,
        typer.Option(
            "--uscc", help="role entity: the entity's USCC the token is bound to (its online identity)"
        ),
    ] = None,
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, help="expire after this many days (default: never)")
    ] = None,
) -> None:
    """Issue a token for a person of a department and print it once; only its hash is stored."""
    state: State = ctx.obj
    with state.context() as c:
        issued = admin.create_token(
            c,
            name=name,
            role=role,
            department=department,
            division=division,
            person_id=person,
            uscc=uscc,
            expires_days=expires_days,
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
    with state.context(write=False) as c:
        rows = [info.as_dict() for info in admin.list_tokens(c)]
    state.emit(rows, rows=rows, columns=COLUMNS, title="API tokens")


@tokens_app.command("revoke")
def revoke(
    ctx: typer.Context, token_id: Annotated[int, typer.Argument(help="the token's id", min=1)]
) -> None:
    """Revoke a token (it stops working at once; revoking twice keeps the first time)."""
    state: State = ctx.obj
    with state.context() as c:
        info = admin.revoke_token(c, token_id)
    state.emit(info.as_dict(), rows=[info.as_dict()], columns=COLUMNS, title="revoked")
