"""``creditwatch audit verify``: re-compute the hash-chained audit log (through the admin service)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from serving.cli.state import State
from serving.services import admin

audit_app = typer.Typer(no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(audit_app, name="audit", help="Administrators: verify the hash-chained audit log.")


_ANCHOR = re.compile(r"^([1-9][0-9]*):([0-9a-f]{64})$")


@audit_app.command("verify")
def verify(
    ctx: typer.Context,
    anchor: Annotated[
        str | None,
        typer.Option("--anchor", help="SEQ:HASH printed by an earlier run; the chain must still contain it"),
    ] = None,
    checkpoint_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoints",
            help="a signed checkpoint file (repeatable): verify against the union of the lines of every "
            "machine's file, when replicas on several machines share the database [default: the home's "
            "own audit/checkpoints.jsonl]",
        ),
    ] = None,
) -> None:
    """Re-compute the hash chain; exit 1 naming the first bad entry if anything was edited, deleted or
    inserted, or an entry no signed checkpoint covers."""
    state: State = ctx.obj
    pinned: tuple[int, str] | None = None
    if anchor is not None:
        match = _ANCHOR.match(anchor)
        if match is None:
            raise state.fail(f"--anchor {anchor!r}: expected SEQ:HASH (a number, a colon, 64 hex characters)")
        pinned = (int(match.group(1)), match.group(2))
    with state.context(write=False) as c:
        result = admin.verify_audit(c, anchor=pinned, checkpoint_files=checkpoint_files or ())
    payload = {**result.as_dict(), "anchor": f"{result.head_seq}:{result.head_hash}"}
    state.emit(payload)
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="what you checked before vouching for the entries")],
) -> None:
    """Sign the chain's head after looking at the entries no checkpoint covers (a crash between a commit and
    its checkpoint line); refused on a chain that does not verify. Audited."""
    state: State = ctx.obj
    with state.context() as c:
        result = admin.checkpoint_audit(c, reason=reason)
    state.emit({"signed_head_seq": result.head_seq + 1, "head_hash_before": result.head_hash})
