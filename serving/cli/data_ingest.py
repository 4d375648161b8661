"""``creditwatch data ingest | quarantine | summary | governance | catalog``: the analyst's lake commands.

Each command but ``catalog`` (which prints the code's catalog) calls one service of
:mod:`serving.services.ingest`, which checks the actor (an analyst, or the local operator) and audits it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError

from features import catalog, ingest
from serving.cli.state import State
from serving.services import ingest as ingest_service

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts (same as the global --json)")]


def _state(ctx: typer.Context, json_output: bool = False) -> State:
    state: State = ctx.obj
    if json_output:
        state.json = True
    return state


def ingest_command(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="PATH", help="files (.csv, .parquet, .jsonl) or folders of them"),
    ],
    table: Annotated[
        str | None, typer.Option("--table", help="catalog table of every file (default: from the file name)")
    ] = None,
    today: Annotated[
        str | None,
        typer.Option(
            "--today", help="ingest date for the past-date rule, yyyy-mm-dd (default: today in China)"
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Check files against the record catalog; good rows go to the lake, bad rows to quarantine."""
    state = _state(ctx, json_output)
    try:
        day = date.fromisoformat(today) if today else None
    except ValueError:
        raise state.fail(f"--today {today!r} is not a date yyyy-mm-dd") from None
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=state.err,
        disable=state.json,
        transient=False,
    )
    task = progress.add_task("ingesting", total=None)

    def tick(step: ingest_service.Step) -> None:
        if step.line == ingest_service.WAITING and state.json:  # the bar is off for scripts: say it anyway
            state.err.print(step.line)
        progress.update(task, total=step.total, completed=step.done, description=step.line)

    try:
        with progress, state.context(write=False) as c:
            result = ingest_service.ingest_files(c, paths, table=table, today=day, progress=tick)
    except SQLAlchemyError as exc:  # the lake is consistent; only the ledger lags behind
        raise state.fail(
            f"the ingest ledger at {state.settings.db_url} could not record the run ({type(exc).__name__}: "
            f"{exc}); the batches written are in the lake: re-run the same command to record them (ingest "
            "is idempotent)"
        ) from None
    if result.failure is not None:
        raise state.fail(result.failure)
    rows = [
        {
            "batch_id": r.batch_id,
            "table": r.table,
            "source": r.source,
            "read": r.rows_read,
            "accepted": r.rows_accepted,
            "quarantined": r.rows_quarantined,
            "status": r.status,
            "ignored_columns": list(r.ignored_columns),
            "content_sha256": r.content_sha256,
            "ingested_at": r.ingested_at,
        }
        for r in result.batches
    ]
    totals = result.totals
    if state.json:
        state.emit({"batches": rows, "totals": totals})
        return
    shown = [
        row | {"source": Path(r.source).name, "ignored_columns": ", ".join(r.ignored_columns)}
        for row, r in zip(rows, result.batches, strict=True)
    ]
    state.emit(
        rows,
        rows=shown,
        # Batch ids and hashes are in --json; the table keeps to what fits a terminal.
        columns=["table", "source", "read", "accepted", "quarantined", "status"]
        + (["ignored_columns"] if any(r.ignored_columns for r in result.batches) else []),
        title=f"ingest into {state.settings.lake_dir}",
    )
    state.console.print(
        f"read {totals['read']} = accepted {totals['accepted']} + quarantined {totals['quarantined']}"
        f" ({totals['batches']} batches)"
    )


QUARANTINE_COLUMNS = ["table", "line", "field", "rule", "value", "message", "source"]


def quarantine_command(
    ctx: typer.Context,
    table: Annotated[str | None, typer.Option("--table", help="only this catalog table")] = None,
    rule: Annotated[
        str | None, typer.Option("--rule", help=f"only this rule: {', '.join(ingest.RULES)}")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="rows to show (0: all)")] = 50,
    json_output: JsonFlag = False,
) -> None:
    """Show quarantined rows with the file, line, field, rule and value that put them there."""
    state = _state(ctx, json_output)
    with state.context(write=False) as c:
        page = ingest_service.quarantine_rows(c, table=table, rule=rule, limit=limit)
    if state.json:
        state.emit({"total": page.total, "rows": page.rows})
        return
    state.emit(
        page.rows,
        rows=page.rows,
        columns=QUARANTINE_COLUMNS,
        title=f"quarantine: {len(page.rows)} of {page.total} rows",
    )


def summary_command(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Rows per table in the lake, and quarantined rows per table and rule."""
    state = _state(ctx, json_output)
    with state.context(write=False) as c:
        summary = ingest_service.lake_summary(c)
    if state.json:
        state.emit({"tables": summary.tables, "quarantine": summary.quarantine})
        return
    state.emit(summary.tables, rows=summary.tables, title=f"record lake {state.settings.lake_dir}")
    state.emit(
        summary.quarantine,
        rows=summary.quarantine,
        columns=["table", "rule", "quarantine_rows", "input_rows"],
        title="quarantine",
    )
    read, accepted, quarantined = (
        sum(r[k] for r in summary.tables) for k in ("read", "accepted", "quarantined")
    )
    state.console.print(f"read {read} = accepted {accepted} + quarantined {quarantined}")


def governance_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=0, help="offending rows per finding (0: all)")] = 20,
    json_output: JsonFlag = False,
) -> None:
    """重错码治理: invalid codes, one code under several names, one name under several codes (per 10,000)."""
    state = _state(ctx, json_output)
    with state.context(write=False) as c:
        result = ingest_service.governance_report(c)
    if state.json:
        state.emit(result.to_json(limit=limit or None))
        return
    summary = [
        {
            "finding": f"{f.zh} ({f.en})",
            "count": f.count,
            "per 10,000": "n/a" if f.rate_per_10k is None else f"{f.rate_per_10k:.2f}",
            "target < 1": "met" if f.meets_target else "MISSED",
        }
        for f in result.findings
    ]
    state.emit(summary, rows=summary, title=f"重错码治理 — {result.entities} registered entities")
    for f in result.findings:
        if f.rows.height:
            rows = (f.rows.head(limit) if limit else f.rows).to_dicts()
            state.emit(rows, rows=rows, title=f"{f.zh}: {len(rows)} of {f.rows.height} rows")


def catalog_command(
    ctx: typer.Context,
    markdown: Annotated[bool, typer.Option("--markdown", help="print docs/catalog.md (Markdown)")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Print the record catalog (公共信用信息目录): tables, fields, types and rules."""
    state = _state(ctx, json_output)
    if markdown:
        typer.echo(catalog.catalog_markdown(), nl=False)
        return
    if state.json:
        state.emit(
            [
                {
                    "table": t.name,
                    "zh": t.zh,
                    "en": t.en,
                    "key": list(t.key),
                    "versioned": t.versioned,
                    "event_date": t.event_date,
                    "fields": [
                        {
                            "name": f.name,
                            "dtype": str(f.dtype),
                            "zh": f.zh,
                            "en": f.en,
                            "required": f.required,
                            "enum": list(f.enum) if f.enum else None,
                            "rules": list(f.rules),
                            "references": f.references,
                        }
                        for f in t.fields
                    ],
                }
                for t in catalog.TABLES
            ]
        )
        return
    rows = [
        {
            "table": t.name,
            "中文": t.zh,
            "English": t.en,
            "key": ", ".join(t.key),
            "fields": len(t.fields),
            "required": len(t.required),
            "event date": t.event_date or "",
            "versioned": "yes" if t.versioned else "",
        }
        for t in catalog.TABLES
    ]
    state.emit(rows, rows=rows, title="record catalog (公共信用信息目录)")


COMMANDS: dict[str, Callable[..., Any]] = {
    "ingest": ingest_command,
    "quarantine": quarantine_command,
    "summary": summary_command,
    "governance": governance_command,
    "catalog": catalog_command,
}
