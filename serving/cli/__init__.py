"""The ``creditwatch`` command: one Typer app, sub-commands grouped by audience.

Each group lives in its own module with a ``register(app)`` function and is a thin wrapper over library
calls; ``--json`` switches every command from tables for people to JSON for scripts; exit code 1 on any
error or failed check.
"""

from __future__ import annotations

import errno
import os
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated

import typer

from serving.cli import (
    audit,
    check,
    commitments,
    data,
    db,
    demo,
    disclosure,
    explain,
    features,
    lists,
    models,
    monitor,
    objections,
    repairs,
    report,
    sample,
    score,
    sectors,
    serve,
    tokens,
    train,
    uscc,
    warnings,
)
from serving.cli.state import State
from serving.settings import DemoSecretRefused, load_settings
from supervision.platform.clock import FixedClock, SystemClock

app = typer.Typer(
    name="creditwatch",
    help="creditwatch — risk scoring for credit-based market supervision (信用监管).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# In the order of `creditwatch --help`: everyone, analysts, supervisors and inspectors, administrators.
for _group in (
    demo,
    uscc,
    data,
    features,
    train,
    models,
    score,
    monitor,
    sectors,
    explain,
    sample,
    tokens,
    db,
    audit,
    objections,
    repairs,
    lists,
    commitments,
    check,
    disclosure,
    report,
    serve,
    warnings,
):
    _group.register(app)


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", help="where data, database and MLflow live [env CREDITWATCH_HOME; default ./var]"
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="print JSON for scripts instead of tables")
    ] = False,
    acting_as: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="act as the holder of this API token (a person of a department, with a role) "
            "[env CREDITWATCH_OPERATOR_TOKEN]; lifecycle decisions and draws refuse to run without one",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    settings = load_settings(home=home)
    if ctx.invoked_subcommand == "demo":
        settings = settings.model_copy(update={"demo": True})
    try:
        settings.refuse_demo_secrets()
    except DemoSecretRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from None
    token = acting_as or (settings.operator_token.get_secret_value() if settings.operator_token else None)
    # Tests pass a frozen clock as the context object (``CliRunner.invoke(app, args, obj=FixedClock(...))``).
    clock = ctx.obj if isinstance(ctx.obj, FixedClock) else SystemClock()
    ctx.obj = State(settings=settings, json=json_output, clock=clock, operator_token=token)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"creditwatch {package_version('creditwatch')}")
        raise typer.Exit()


# What a full, read-only or forbidden disk looks like from here: one clear line and an exit code (sysexits.h),
# never a traceback. EX_CANTCREAT (73) for "cannot write there", EX_IOERR (74) for a full or failing disk.
_DISK_ERRNOS = {
    errno.ENOSPC: 74,
    errno.EDQUOT: 74,
    errno.EIO: 74,
    errno.EROFS: 73,
    errno.EACCES: 73,
    errno.EPERM: 73,
}
_SQLITE_DISK_MESSAGES = {
    "database or disk is full": 74,
    "readonly database": 73,
    "unable to open database": 73,
}


def disk_error(exc: BaseException) -> tuple[str, int] | None:
    """(message, exit code) if `exc` is a disk or permission failure, else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _DISK_ERRNOS:
            where = f": {seen.filename}" if seen.filename else ""
            return f"{os.strerror(seen.errno or 0)}{where}", _DISK_ERRNOS[seen.errno or 0]
        text = str(seen)
        for fragment, code in _SQLITE_DISK_MESSAGES.items():
            if fragment in text and type(seen).__module__.startswith(("sqlite3", "sqlalchemy")):
                return f"the database cannot be written: {fragment}", code
        seen = seen.__cause__ or seen.__context__
    return None


def main() -> None:
    try:
        app()
    except Exception as exc:
        found = disk_error(exc)
        if found is None:
            raise
        typer.echo(
            f"error: {found[0]} (free space or fix permissions, then re-run)",
            err=True,
        )
        raise SystemExit(found[1]) from None
