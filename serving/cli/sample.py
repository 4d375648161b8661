"""``creditwatch sample``: double-random sampling tasks, draws, inspector assignment, results and publication."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import polars as pl
import sqlalchemy as sa
import typer

from features import lake
from serving.cli.state import State, ready_engine
from supervision import db, tasks
from supervision.assignment import entity_person_links
from supervision.draw import Budget, TaskParams, TaskScope
from supervision.policy import DEFAULT_RATIOS, TIERS, TierRatioPolicy

app = typer.Typer(no_args_is_help=True)
results_app = typer.Typer(no_args_is_help=True)
inspectors_app = typer.Typer(no_args_is_help=True)
app.add_typer(
    results_app, name="results", help="Record results, publish them, the overdue report, estimates."
)
app.add_typer(inspectors_app, name="inspectors", help="The inspector roster (执法检查人员名录库).")

T = TypeVar("T")

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts (same as the global --json)")]
ScoresOption = Annotated[
    Path,
    typer.Option(
        "--scores",
        help="Parquet of scores: uscc, tier, probability, reasons, division_code, industry, entity_type",
        exists=True,
        dir_okay=False,
    ),
]
SCORE_COLUMNS = ("uscc", "tier", "probability", "reasons", "division_code", "industry", "entity_type")


def register(root: typer.Typer) -> None:
    root.add_typer(
        app,
        name="sample",
        help="Supervisors: double-random sampling (双随机、一公开) — tasks, draws, inspectors, results.",
    )


def _state(ctx: typer.Context, json_output: bool = False) -> State:
    state: State = ctx.find_root().obj
    if json_output:
        state.json = True
    return state


def _run(state: State, action: Callable[[], T]) -> T:
    """Domain errors, missing files and database errors become one clear line and exit code 1."""
    try:
        return action()
    except KeyError as exc:  # str(KeyError) is the repr of its argument
        raise state.fail(str(exc.args[0]) if exc.args else repr(exc)) from exc
    except (ValueError, FileNotFoundError) as exc:
        raise state.fail(str(exc)) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise state.fail(f"database error: {exc}") from exc
    except Exception as exc:  # alembic CommandError and the like: still one line, never a traceback
        if type(exc).__module__.startswith(("alembic", "sqlalchemy")):
            raise state.fail(f"database error: {exc}") from exc
        raise


def _read_scores(path: Path) -> pl.DataFrame:
    scores = pl.read_parquet(path)
    missing = [c for c in ("uscc", "tier") if c not in scores.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; a scores file has {list(SCORE_COLUMNS)}")
    return scores


def _today() -> date:
    return datetime.now(UTC).date()


# ------------------------------------------------------------------------------------------------ tasks
@app.command("create")
def create(
    ctx: typer.Context,
    scores: ScoresOption,
    department: Annotated[str, typer.Option(help="the department running the task")],
    item: Annotated[list[str], typer.Option("--item", help="check item (repeat for several)")],
    period: Annotated[
        str, typer.Option(help="the period the task belongs to, e.g. 2026Q4 (visits merge per period)")
    ],
    count: Annotated[int | None, typer.Option(help="budget: number of entities")] = None,
    ratio: Annotated[float | None, typer.Option(help="budget: base ratio of the eligible roster")] = None,
    as_of: Annotated[str | None, typer.Option(help="reference date of the frequency limit [today]")] = None,
    division: Annotated[list[str] | None, typer.Option(help="division code prefix (repeatable)")] = None,
    industry: Annotated[list[str] | None, typer.Option(help="industry (repeatable)")] = None,
    entity_type: Annotated[list[str] | None, typer.Option(help="entity type (repeatable)")] = None,
    list_status: Annotated[list[str] | None, typer.Option(help="list status (repeatable)")] = None,
    tier_ratio: Annotated[
        list[str] | None, typer.Option(help="tier ratio as TIER=VALUE, e.g. D=0.8 (repeatable)")
    ] = None,
    control_share: Annotated[float, typer.Option(help="share of the budget drawn uniformly")] = 0.10,
    floor: Annotated[float, typer.Option(help="minimum inclusion probability (不免抽)")] = 0.001,
    frequency_days: Annotated[
        int, typer.Option(help="rest period after an inspection (tier D exempt)")
    ] = 365,
    task_id: Annotated[str | None, typer.Option(help="task id [generated]")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Create a task: publishes SHA-256 of the secret seed, the roster snapshot and the parameters."""
    state = _state(ctx, json_output)

    def action() -> dict[str, Any]:
        ratios = dict(DEFAULT_RATIOS)
        for spec in tier_ratio or []:
            tier, _, value = spec.partition("=")
            if tier not in TIERS or not value:
                raise ValueError(f"--tier-ratio {spec!r}: expected TIER=VALUE with TIER one of {list(TIERS)}")
            ratios[tier] = float(value)
        params = TaskParams(
            department=department,
            items=tuple(item),
            budget=Budget(count=count, ratio=ratio),
            as_of=date.fromisoformat(as_of) if as_of else _today(),
            period=period,
            scope=TaskScope(
                divisions=tuple(division or ()),
                industries=tuple(industry or ()),
                entity_types=tuple(entity_type or ()),
                list_statuses=tuple(list_status or ()),
            ),
            policy=TierRatioPolicy(
                ratios=ratios, floor=floor, control_share=control_share, frequency_days=frequency_days
            ),
        )
        roster = _read_scores(scores)
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            info = tasks.create_task(
                session,
                params=params,
                # The frequency limit needs each entity's latest inspection: the results recorded here.
                roster=tasks.with_last_inspected(session, roster),
                snapshot_dir=state.settings.home / "sampling",
                task_id=task_id,
            )
            return info.as_dict()

    payload = _run(state, action)
    state.emit(payload)


@app.command("draw")
def draw_command(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="TASK")],
    json_output: JsonFlag = False,
) -> None:
    """Draw the task's list from its snapshot and reveal the seed."""
    state = _state(ctx, json_output)

    def action() -> dict[str, Any]:
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            selection = tasks.draw_task(session, task_id)
            info = tasks.task_info(session, task_id).as_dict()
        by_tier = selection.group_by("tier").agg(
            selected=pl.len(),
            control=pl.col("in_control_slice").sum(),
            inclusion_probability=pl.col("inclusion_probability").first(),
        )
        info["tiers"] = by_tier.sort("tier").to_dicts()
        return info

    payload = _run(state, action)
    if state.json:
        state.emit(payload)
    else:
        state.emit({k: v for k, v in payload.items() if k != "tiers"})
        state.emit(payload, rows=payload["tiers"], title=f"task {task_id}: selection by tier")


@app.command("assign")
def assign(
    ctx: typer.Context,
    period: Annotated[str, typer.Argument(metavar="PERIOD")],
    team_size: Annotated[int, typer.Option(help="inspectors per visit (行政处罚法 art 42: at least 2)")] = 2,
    max_visits: Annotated[int | None, typer.Option(help="workload cap per inspector")] = None,
    links: Annotated[
        Path | None,
        typer.Option(
            help="Parquet of (uscc, person_key): legal representatives, shareholders, controllers "
            "[default: the lake's relations table, valid today]"
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Merge the period's drawn lists into visits (进一次门、查多项事) and draw inspectors with recusal."""
    state = _state(ctx, json_output)

    def action() -> dict[str, Any]:
        if links is not None:
            link_frame = pl.read_parquet(links)
        else:
            relations = lake.scan(state.settings.lake_dir, "relations")
            link_frame = entity_person_links(relations, as_of=_today()).collect()
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            out = tasks.assign_period(
                session, period, links=link_frame, team_size=team_size, max_visits=max_visits
            )
        return {
            "period": period,
            "visits": out.visits,
            "assigned": out.assigned,
            "exclusions": out.exclusions,
            "unstaffed": out.unstaffed.to_dicts(),
        }

    payload = _run(state, action)
    if state.json:
        state.emit(payload)
        return
    state.emit({k: v for k, v in payload.items() if k != "unstaffed"})
    if payload["unstaffed"]:
        # Recorded as unstaffed (not an error of the command): the table says which visits and why.
        state.emit(payload, rows=payload["unstaffed"], title="visits the roster cannot staff")


@app.command("list")
def list_command(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Option(help="show this task's list instead of the tasks")] = None,
    period: Annotated[str | None, typer.Option(help="only tasks of this period")] = None,
    json_output: JsonFlag = False,
) -> None:
    """The tasks (or one task's list of entities)."""
    state = _state(ctx, json_output)

    def action() -> list[dict[str, Any]]:
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            if task is not None:
                return tasks.export_frame(session, task).drop("reasons").to_dicts()
            return [t.as_dict() for t in tasks.list_tasks(session, period=period)]

    rows = _run(state, action)
    if task is not None:
        columns = [
            "uscc",
            "tier",
            "inclusion_probability",
            "in_control_slice",
            "items",
            "inspectors",
            "visit_status",
        ]
    else:
        columns = [
            "task_id",
            "status",
            "department",
            "period",
            "eligible",
            "budget",
            "selected",
            "seed_sha256",
        ]
    state.emit(rows, rows=rows, columns=columns)


@app.command("export")
def export(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="TASK")],
    out: Annotated[Path, typer.Option("--out", help="file to write: .csv or .xlsx")],
    scores: Annotated[
        Path | None, typer.Option("--scores", help="scores Parquet whose `reasons` column is exported")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """The list for inspectors: tier, top reasons, inspectors, items, results (CSV or XLSX)."""
    state = _state(ctx, json_output)

    def action() -> dict[str, Any]:
        reasons = _read_scores(scores) if scores is not None else None
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            frame = tasks.export_frame(session, task_id, reasons=reasons)
        tasks.write_export(frame, out)
        return {"task_id": task_id, "rows": frame.height, "path": str(out)}

    state.emit(_run(state, action))


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="TASK")],
    roster: Annotated[
        Path | None,
        typer.Option(
            "--roster", help="re-run from this roster file (Parquet) instead of the stored snapshot"
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Re-run the draw from the published inputs and the revealed seed; exit 1 unless the list is identical."""
    state = _state(ctx, json_output)

    def action() -> dict[str, Any]:
        frame = pl.read_parquet(roster) if roster is not None else None
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            report = tasks.verify_task(session, task_id, roster=frame)
        return {
            "task_id": task_id,
            "ok": report.ok,
            "checks": [{"check": n, "ok": ok, "detail": d} for n, ok, d in report.checks],
        }

    payload = _run(state, action)
    if state.json:
        state.emit(payload)
    else:
        state.emit(
            payload, rows=payload["checks"], title=f"verify {task_id}: {'OK' if payload['ok'] else 'FAILED'}"
        )
    if not payload["ok"]:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------------ results
@results_app.command("record")
def record(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="TASK")],
    uscc: Annotated[str, typer.Argument(metavar="USCC")],
    outcome: Annotated[str, typer.Option(help="no_problem | violation | serious_violation | not_found")],
    inspected_on: Annotated[str, typer.Option(help="date of the visit (YYYY-MM-DD)")],
    by: Annotated[str, typer.Option("--by", help="inspector id recording the result (谁检查、谁录入)")],
    findings: Annotated[str, typer.Option(help="what was found")] = "",
    publication_days: Annotated[
        int, typer.Option(help="working days to publish")
    ] = tasks.PUBLICATION_WORKING_DAYS,
    json_output: JsonFlag = False,
) -> None:
    """Record a visit's result; prints the publication deadline (working days, Chinese calendar)."""
    state = _state(ctx, json_output)

    def action() -> dict[str, Any]:
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            return tasks.record_result(
                session,
                task_id=task_id,
                uscc=uscc,
                outcome=outcome,
                findings=findings,
                inspected_on=date.fromisoformat(inspected_on),
                recorded_by=by,
                publication_working_days=publication_days,
            )

    state.emit(_run(state, action))


@results_app.command("publish")
def publish_command(
    ctx: typer.Context,
    visit_id: Annotated[str, typer.Argument(metavar="VISIT")],
    on: Annotated[str | None, typer.Option(help="publication date [today]")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Mark a visit's result as published on the enterprise credit information publicity system."""
    state = _state(ctx, json_output)

    def action() -> dict[str, Any]:
        day = date.fromisoformat(on) if on else _today()
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            tasks.mark_published(session, visit_id, published_on=day)
        return {"visit_id": visit_id, "published_on": day}

    state.emit(_run(state, action))


@results_app.command("overdue")
def overdue(
    ctx: typer.Context,
    today: Annotated[str | None, typer.Option(help="report date [today]")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Per department: results recorded, published, unpublished and past the publication deadline."""
    state = _state(ctx, json_output)

    def action() -> list[dict[str, Any]]:
        day = date.fromisoformat(today) if today else _today()
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            return tasks.overdue_report(session, today=day)

    rows = _run(state, action)
    state.emit(rows, rows=rows, columns=["department", "results", "published", "unpublished", "overdue"])


@results_app.command("estimate")
def estimate(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="TASK")],
    scores: Annotated[
        Path | None,
        typer.Option("--scores", help="scores Parquet: its `probability` gives the predicted rate"),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Horvitz–Thompson violation rate with a 95% interval, overall and per tier, beside the predicted rate."""
    state = _state(ctx, json_output)

    def action() -> list[dict[str, Any]]:
        population = _read_scores(scores) if scores is not None else None
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            rows = tasks.task_estimates(session, task_id, population=population).to_dicts()
        # NaN (a tier without inspections) is not JSON: say "no estimate" with null instead.
        return [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows
        ]

    rows = _run(state, action)
    shown = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    state.emit(rows, rows=shown)


@results_app.command("export")
def results_export(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", help=".parquet or .csv: rows of the catalog's inspections table")
    ],
    task: Annotated[str | None, typer.Option(help="only this task")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Results as inspection records (with their inclusion probability) for ingest and training."""
    state = _state(ctx, json_output)

    def action() -> dict[str, Any]:
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            frame = tasks.inspection_records(session, task_id=task)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".parquet":
            frame.write_parquet(out)
        elif out.suffix.lower() == ".csv":
            frame.write_csv(out)
        else:
            raise ValueError(f"{out}: expected .parquet or .csv")
        return {"rows": frame.height, "path": str(out)}

    state.emit(_run(state, action))


# ------------------------------------------------------------------------------------------------ inspectors
@inspectors_app.command("import")
def inspectors_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="PATH", exists=True, dir_okay=False, help=".csv or .xlsx")],
    json_output: JsonFlag = False,
) -> None:
    """Import (insert or replace) inspectors; all rows are checked before any is written."""
    state = _state(ctx, json_output)

    def action() -> dict[str, Any]:
        frame = tasks.read_table_file(path)
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            counts = tasks.import_inspectors(
                session, frame, salt=state.settings.person_salt, allow=state.settings.uscc_allow_list
            )
        return {"path": str(path), **counts}

    state.emit(_run(state, action))


@inspectors_app.command("list")
def inspectors_list(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """The inspector roster (person keys are not shown)."""
    state = _state(ctx, json_output)

    def action() -> list[dict[str, Any]]:
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            people = session.scalars(sa.select(tasks.Inspector).order_by(tasks.Inspector.inspector_id)).all()
            return [
                {
                    "inspector_id": p.inspector_id,
                    "name": p.name,
                    "department": p.department,
                    "division_code": p.division_code,
                    "qualifications": "; ".join(p.qualifications),
                    "active": p.active,
                    "declared_conflicts": len(p.declared_conflicts),
                }
                for p in people
            ]

    rows = _run(state, action)
    state.emit(rows, rows=rows)


def _set_active(ctx: typer.Context, inspector_id: str, active: bool, json_output: bool) -> None:
    state = _state(ctx, json_output)

    def action() -> dict[str, Any]:
        with ready_engine(state) as engine, db.session_scope(engine) as session:
            tasks.set_inspector_active(session, inspector_id, active=active)
        return {"inspector_id": inspector_id, "active": active}

    state.emit(_run(state, action))


@inspectors_app.command("activate")
def inspectors_activate(
    ctx: typer.Context,
    inspector_id: Annotated[str, typer.Argument(metavar="INSPECTOR")],
    json_output: JsonFlag = False,
) -> None:
    """Put an inspector back on the roster of those who can be drawn."""
    _set_active(ctx, inspector_id, True, json_output)


@inspectors_app.command("deactivate")
def inspectors_deactivate(
    ctx: typer.Context,
    inspector_id: Annotated[str, typer.Argument(metavar="INSPECTOR")],
    json_output: JsonFlag = False,
) -> None:
    """Take an inspector off the roster of those who can be drawn (leave, transfer)."""
    _set_active(ctx, inspector_id, False, json_output)
