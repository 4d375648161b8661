"""``creditwatch data ingest | quarantine | summary | governance | catalog``: the analyst's lake commands."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from features import catalog, governance, ingest, lake
from serving.cli.state import State, prepare_database
from supervision import db, ledger

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts (same as the global --json)")]


def _state(ctx: typer.Context, json_output: bool = False) -> State:
    state: State = ctx.obj
    if json_output:
        state.json = True
    return state


def _check_table(state: State, table: str | None) -> None:
    if table is not None:
        try:
            catalog.table(table)
        except ValueError as exc:
            raise state.fail(str(exc)) from None


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
        typer.Option("--today", help="ingest date for the past-date rule, yyyy-mm-dd (default: today)"),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Check files against the record catalog; good rows go to the lake, bad rows to quarantine."""
    state = _state(ctx, json_output)
    settings = state.settings
    _check_table(state, table)
    try:
        day = date.fromisoformat(today) if today else date.today()
    except ValueError:
        raise state.fail(f"--today {today!r} is not a date yyyy-mm-dd") from None
    try:
        planned = ingest.plan(paths, table=table)
    except ingest.IngestError as exc:
        raise state.fail(str(exc)) from None
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=state.err,
        disable=state.json,
        transient=False,
    )
    with progress:
        task = progress.add_task("ingesting", total=len(planned))

        def tick(message: str) -> None:
            progress.update(task, advance=1, description=message)

        try:
            reports = ingest.ingest_paths(
                paths,
                lake_dir=settings.lake_dir,
                salt=settings.person_salt,
                today=day,
                allow=settings.uscc_allow_list,
                table=table,
                progress=tick,
            )
        except ingest.IngestError as exc:
            # Files before the bad one are complete batches in the lake: keep the ledger in step with them.
            written = lake.batches(settings.lake_dir)
            try:
                _record(settings.db_url, written)
            except Exception as db_exc:
                raise state.fail(f"{exc} (and the ledger could not be updated: {db_exc})") from None
            raise state.fail(f"{exc} (nothing of this file was written)") from None
    try:
        _record(settings.db_url, reports)
    except Exception as exc:  # the lake is already consistent; only the ledger lags behind
        raise state.fail(
            f"the batches are in the lake but the ingest ledger at {settings.db_url} could not record them "
            f"({type(exc).__name__}: {exc}); re-run the same command to record them (ingest is idempotent)"
        ) from None
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
        for r in reports
    ]
    totals = {
        "read": sum(r.rows_read for r in reports),
        "accepted": sum(r.rows_accepted for r in reports),
        "quarantined": sum(r.rows_quarantined for r in reports),
        "batches": len(reports),
    }
    if state.json:
        state.emit({"batches": rows, "totals": totals})
        return
    shown = [
        row | {"source": Path(r.source).name, "ignored_columns": ", ".join(r.ignored_columns)}
        for row, r in zip(rows, reports, strict=True)
    ]
    state.emit(
        rows,
        rows=shown,
        # Batch ids and hashes are in --json; the table keeps to what fits a terminal.
        columns=["table", "source", "read", "accepted", "quarantined", "status"]
        + (["ignored_columns"] if any(r.ignored_columns for r in reports) else []),
        title=f"ingest into {settings.lake_dir}",
    )
    state.console.print(
        f"read {totals['read']} = accepted {totals['accepted']} + quarantined {totals['quarantined']}"
        f" ({totals['batches']} batches)"
    )


def _record(db_url: str, reports: Sequence[ingest.BatchReport | lake.Batch]) -> None:
    """Every batch in the ledger; recording is idempotent, so already-ingested batches are re-recorded."""
    engine = db.make_engine(db_url)
    try:
        prepare_database(engine, db_url)
        with db.session_scope(engine) as session:
            for r in reports:
                ledger.record_batch(
                    session,
                    batch_id=r.batch_id,
                    table=r.table,
                    source=r.source,
                    content_sha256=r.content_sha256,
                    rows_read=r.rows_read,
                    rows_accepted=r.rows_accepted,
                    rows_quarantined=r.rows_quarantined,
                    ingested_at=r.ingested_at,
                )
    finally:
        engine.dispose()


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
    _check_table(state, table)
    if rule is not None and rule not in ingest.RULES:
        raise state.fail(f"unknown rule {rule!r}; expected one of {', '.join(ingest.RULES)}")
    rows = lake.scan_quarantine(state.settings.lake_dir, table)
    if rule is not None:
        rows = rows.filter(pl.col("rule") == rule)
    counted, head = pl.collect_all([rows.select(pl.len()), rows.head(limit) if limit else rows])
    total, shown = counted.item(), head.to_dicts()
    if state.json:
        state.emit({"total": total, "rows": shown})
        return
    state.emit(
        shown, rows=shown, columns=QUARANTINE_COLUMNS, title=f"quarantine: {len(shown)} of {total} rows"
    )


def summary_command(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Rows per table in the lake, and quarantined rows per table and rule."""
    state = _state(ctx, json_output)
    lake_dir = state.settings.lake_dir
    all_batches = lake.batches(lake_dir)
    tables: list[dict[str, Any]] = []
    for t in catalog.TABLES:
        mine = [b for b in all_batches if b.table == t.name]
        tables.append(
            {
                "table": t.name,
                "zh": t.zh,
                "batches": len(mine),
                "read": sum(b.rows_read for b in mine),
                "accepted": sum(b.rows_accepted for b in mine),
                "quarantined": sum(b.rows_quarantined for b in mine),
                "rows_in_lake": lake.scan(lake_dir, t.name).select(pl.len()).collect().item(),
            }
        )
    by_rule = (
        lake.scan_quarantine(lake_dir)
        .group_by("table", "rule")
        .agg(pl.len().alias("quarantine_rows"), pl.struct("batch_id", "line").n_unique().alias("input_rows"))
        .sort("table", "rule")
        .collect()
        .to_dicts()
    )
    if state.json:
        state.emit({"tables": tables, "quarantine": by_rule})
        return
    state.emit(tables, rows=tables, title=f"record lake {lake_dir}")
    state.emit(
        by_rule, rows=by_rule, columns=["table", "rule", "quarantine_rows", "input_rows"], title="quarantine"
    )
    read, accepted, quarantined = (sum(r[k] for r in tables) for k in ("read", "accepted", "quarantined"))
    state.console.print(f"read {read} = accepted {accepted} + quarantined {quarantined}")


def governance_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=0, help="offending rows per finding (0: all)")] = 20,
    json_output: JsonFlag = False,
) -> None:
    """重错码治理: invalid codes, one code under several names, one name under several codes (per 10,000)."""
    state = _state(ctx, json_output)
    result = governance.from_lake(state.settings.lake_dir, allow=state.settings.uscc_allow_list)
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
