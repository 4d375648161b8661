"""``creditwatch sample``: double-random sampling tasks, draws, inspector assignment, results and publication.

Each command calls one use case of ``serving.services.sampling*`` as the holder of ``--as TOKEN`` (a person
of a department): tasks are the acting department's, results are recorded as the acting inspector. Only
``sample verify`` runs without an identity (anyone can re-run a published draw).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from features.lake import atomic_write
from features.partitioned import read_run
from serving.cli.state import State
from serving.services import sampling, sampling_lists, sampling_results
from supervision.sampling import roster
from supervision.sampling.exports import EXPORT_COLUMNS, ExportFormat
from supervision.sampling.ratios import TIERS
from supervision.sampling.results import PUBLICATION_WORKING_DAYS
from supervision.sampling.tasks import TierShare

app = typer.Typer(no_args_is_help=True)
results_app = typer.Typer(no_args_is_help=True)
inspectors_app = typer.Typer(no_args_is_help=True)
app.add_typer(
    results_app, name="results", help="Record results, publish them, the overdue report, estimates."
)
app.add_typer(inspectors_app, name="inspectors", help="The inspector roster (执法检查人员名录库).")

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
EXPORT_SUFFIXES: dict[str, ExportFormat] = {".csv": "csv", ".xlsx": "xlsx"}


def register(root: typer.Typer) -> None:
    root.add_typer(
        app,
        name="sample",
        help="Supervisors and inspectors: double-random sampling (双随机、一公开) — tasks, draws, "
        "inspectors, results (act with `--as TOKEN`).",
    )


def _state(ctx: typer.Context, json_output: bool = False) -> State:
    state: State = ctx.find_root().obj
    if json_output:
        state.json = True
    return state


def _parquet(state: State, path: Path, *, option: str) -> pl.DataFrame:
    """A Parquet file given on the command line; an unreadable one is one line and exit code 1."""
    try:
        return read_run(path)  # a file, or a partitioned run's folder (rows as a single-process run)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise state.fail(f"{option} {path}: cannot be read as Parquet: {exc}") from exc


def _scores(state: State, path: Path) -> pl.DataFrame:
    scores = _parquet(state, path, option="--scores")
    missing = [c for c in ("uscc", "tier") if c not in scores.columns]
    if missing:
        raise state.fail(
            f"--scores {path}: missing columns {missing}; a scores file has {list(SCORE_COLUMNS)}"
        )
    return scores


def _per_tier(state: State, specs: list[str], *, option: str, example: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for spec in specs:
        tier, sep, value = spec.partition("=")
        if not sep or not value:
            raise state.fail(f"{option} {spec!r}: expected TIER=VALUE, e.g. {example}")
        if tier not in TIERS:
            raise state.fail(f"{option} {spec!r}: TIER must be one of {list(TIERS)}")
        values[tier] = value
    return values


def _tier_ratios(state: State, specs: list[str]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    for tier, value in _per_tier(state, specs, option="--tier-ratio", example="D=0.8").items():
        try:
            ratios[tier] = float(value)
        except ValueError:
            raise state.fail(f"--tier-ratio {tier}={value!r}: expected TIER=VALUE, e.g. D=0.8") from None
    return ratios


def _rest_days(state: State, specs: list[str]) -> dict[str, int]:
    days: dict[str, int] = {}
    for tier, value in _per_tier(state, specs, option="--rest-days", example="C=180").items():
        try:
            days[tier] = int(value)
        except ValueError:
            raise state.fail(f"--rest-days {tier}={value!r}: expected whole days, e.g. C=180") from None
    return days


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


TIER_COLUMNS = [
    "tier",
    "configured ratio (range)",
    "rest days",
    "eligible (rested)",
    "π (design)",
    "selected (control)",
    "actual inclusion",
]


def _tier_rows(shares: tuple[TierShare, ...]) -> list[dict[str, Any]]:
    """Per tier, for people: the configured ratio beside the actual inclusion (selected / eligible)."""
    return [
        {
            "tier": t.tier,
            "configured ratio (range)": f"{_pct(t.ratio)} ({_pct(t.range_low)}–{_pct(t.range_high)})",
            "rest days": t.rest_days,
            "eligible (rested)": f"{t.eligible} ({t.rested})",
            "π (design)": _pct(t.inclusion_probability),
            "selected (control)": "—" if t.selected is None else f"{t.selected} ({t.control})",
            "actual inclusion": _pct(t.actual_inclusion),
        }
        for t in shares
    ]


def _tier_json(shares: tuple[TierShare, ...]) -> list[dict[str, Any]]:
    return [{**vars(t), "rested": t.rested} for t in shares]


# ------------------------------------------------------------------------------------------------ tasks
@app.command("create")
def create(
    ctx: typer.Context,
    scores: ScoresOption,
    item: Annotated[list[str], typer.Option("--item", help="check item (repeat for several)")],
    period: Annotated[
        str, typer.Option(help="the period the task belongs to, e.g. 2026Q4 (visits merge per period)")
    ],
    department: Annotated[
        str | None,
        typer.Option(help="the acting department (the task is always the identity's; another is refused)"),
    ] = None,
    count: Annotated[int | None, typer.Option(help="budget: number of entities")] = None,
    ratio: Annotated[float | None, typer.Option(help="budget: base ratio of the eligible roster")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="the task's date; rest periods reckon back from it [today in China]")
    ] = None,
    division: Annotated[list[str] | None, typer.Option(help="division code prefix (repeatable)")] = None,
    industry: Annotated[list[str] | None, typer.Option(help="industry (repeatable)")] = None,
    entity_type: Annotated[list[str] | None, typer.Option(help="entity type (repeatable)")] = None,
    list_status: Annotated[list[str] | None, typer.Option(help="list status (repeatable)")] = None,
    tier_ratio: Annotated[
        list[str] | None,
        typer.Option(help="tier ratio as TIER=VALUE, e.g. D=0.8 (repeatable) [the sampling policy file's]"),
    ] = None,
    rest_days: Annotated[
        list[str] | None,
        typer.Option(
            "--rest-days",
            help="rest period after an inspection as TIER=DAYS, e.g. C=180 (repeatable; 0 = never rested) "
            "[the sampling policy file's]",
        ),
    ] = None,
    control_share: Annotated[
        float | None, typer.Option(help="share of the budget drawn uniformly [the policy file's]")
    ] = None,
    floor: Annotated[
        float | None, typer.Option(help="minimum inclusion probability (不免抽) [the policy file's]")
    ] = None,
    task_id: Annotated[str | None, typer.Option(help="task id [generated]")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Create a task of the acting department: publishes SHA-256 of the secret seed, the roster snapshot and
    the parameters."""
    state = _state(ctx, json_output)
    spec = sampling.TaskSpec(
        items=tuple(item),
        period=period,
        count=count,
        ratio=ratio,
        as_of=state.day(as_of, option="--as-of"),
        divisions=tuple(division or ()),
        industries=tuple(industry or ()),
        entity_types=tuple(entity_type or ()),
        list_statuses=tuple(list_status or ()),
        tier_ratios=_tier_ratios(state, tier_ratio or []),
        rest_days=_rest_days(state, rest_days or []),
        control_share=control_share,
        floor=floor,
        task_id=task_id,
        department=department,
    )
    frame = _scores(state, scores)
    with state.context() as c:
        info = sampling.create_task(c, spec, scores=sampling.Scores(frame, str(scores)))
    state.emit(info.as_dict())


@app.command("draw")
def draw_command(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="TASK")],
    json_output: JsonFlag = False,
) -> None:
    """Draw the task's list from its snapshot and reveal the seed."""
    state = _state(ctx, json_output)
    with state.context() as c:
        drawn = sampling.draw_task(c, task_id)
    if state.json:
        state.emit({**drawn.task.as_dict(), "tiers": _tier_json(drawn.tiers)})
    else:
        state.emit(drawn.task.as_dict())
        rows = _tier_rows(drawn.tiers)
        title = f"task {task_id}: configured ratio vs actual inclusion by tier"
        state.emit(rows, rows=rows, columns=TIER_COLUMNS, title=title)


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
            "[default: the lake's relations table, in force today]"
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Merge the period's drawn lists into visits (进一次门、查多项事) and draw inspectors with recusal."""
    state = _state(ctx, json_output)
    link_frame = _parquet(state, links, option="--links") if links is not None else None
    with state.context() as c:
        out = sampling.assign_period(c, period, team_size=team_size, max_visits=max_visits, links=link_frame)
    unstaffed = [vars(u) for u in out.unstaffed]
    payload = {
        "period": out.period,
        "departments": list(out.departments),
        "visits": out.visits,
        "assigned": out.assigned,
        "exclusions": out.exclusions,
        "unstaffed": unstaffed,
    }
    if state.json:
        state.emit(payload)
        return
    state.emit({k: v for k, v in payload.items() if k != "unstaffed"})
    if unstaffed:
        # Recorded as unstaffed (not an error of the command): the table says which visits and why.
        state.emit(unstaffed, rows=unstaffed, title="visits the roster cannot staff")


LIST_COLUMNS = [
    "uscc",
    "tier",
    "inclusion_probability",
    "in_control_slice",
    "items",
    "inspectors",
    "visit_status",
]
TASK_COLUMNS = ["task_id", "status", "department", "period", "eligible", "budget", "selected", "seed_sha256"]


@app.command("list")
def list_command(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Option(help="show this task's list instead of the tasks")] = None,
    period: Annotated[str | None, typer.Option(help="only tasks of this period")] = None,
    json_output: JsonFlag = False,
) -> None:
    """The acting department's tasks (or one task's list of entities, after its tiers: the configured ratio
    beside the actual inclusion; with --json the list only — `sample draw --json` carries the tiers)."""
    state = _state(ctx, json_output)
    tiers: list[dict[str, Any]] = []
    with state.context(write=False) as c:
        if task is not None:
            detail = sampling_lists.get_task(c, task)
            rows = [{k: getattr(e, k) for k in EXPORT_COLUMNS if k != "reasons"} for e in detail.entries]
            tiers = _tier_rows(detail.tiers)
        else:
            rows = [row.task.as_dict() for row in sampling_lists.list_tasks(c, period=period).tasks]
    if tiers and not state.json:
        title = f"task {task}: configured ratio vs actual inclusion by tier"
        state.emit(tiers, rows=tiers, columns=TIER_COLUMNS, title=title)
    state.emit(rows, rows=rows, columns=LIST_COLUMNS if task is not None else TASK_COLUMNS)


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
    fmt = EXPORT_SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise state.fail(f"--out {out}: unsupported export type {out.suffix!r}; expected .csv or .xlsx")
    reasons = _scores(state, scores) if scores is not None else None
    with state.context(write=False) as c:
        file = sampling_lists.export_task(c, task_id, fmt=fmt, reasons=reasons)
    atomic_write(out, lambda p: p.write_bytes(file.content))
    state.emit({"task_id": task_id, "rows": file.rows, "path": str(out)})


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="TASK")],
    roster_file: Annotated[
        Path | None,
        typer.Option(
            "--roster", help="re-run from this roster file (Parquet) instead of the stored snapshot"
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Re-run the draw from the published inputs and the revealed seed; exit 1 unless the list is identical.
    Anyone may verify: no identity is needed."""
    state = _state(ctx, json_output)
    frame = _parquet(state, roster_file, option="--roster") if roster_file is not None else None
    with state.context(write=False) as c:
        report = sampling.verify_task(c, task_id, roster_frame=frame)
    checks = [{"check": n, "ok": ok, "detail": d} for n, ok, d in report.checks]
    if state.json:
        state.emit({"task_id": task_id, "ok": report.ok, "checks": checks})
    else:
        state.emit(checks, rows=checks, title=f"verify {task_id}: {'OK' if report.ok else 'FAILED'}")
    if not report.ok:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------------ results
@results_app.command("record")
def record(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="TASK")],
    uscc: Annotated[str, typer.Argument(metavar="USCC")],
    outcome: Annotated[str, typer.Option(help="no_problem | violation | serious_violation | not_found")],
    inspected_on: Annotated[
        str, typer.Option(help="date of the visit (YYYY-MM-DD; today in China or earlier)")
    ],
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="supervisors: the team member recorded for; an inspector records as themselves "
            "(谁检查、谁录入)",
        ),
    ] = None,
    findings: Annotated[str, typer.Option(help="what was found")] = "",
    publication_days: Annotated[int, typer.Option(help="working days to publish")] = PUBLICATION_WORKING_DAYS,
    json_output: JsonFlag = False,
) -> None:
    """Record a visit's result; prints the publication deadline (working days, Chinese calendar)."""
    state = _state(ctx, json_output)
    day = state.day(inspected_on, option="--inspected-on")
    with state.context() as c:
        out = sampling_results.record_result(
            c,
            task_id,
            uscc=uscc,
            outcome=outcome,
            inspected_on=day,
            findings=findings,
            recorded_by=by,
            publication_working_days=publication_days,
        )
    state.emit(vars(out))


@results_app.command("publish")
def publish_command(
    ctx: typer.Context,
    visit_id: Annotated[str, typer.Argument(metavar="VISIT")],
    on: Annotated[str | None, typer.Option(help="publication date [today in China]")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Mark a visit's result as published on the enterprise credit information publicity system."""
    state = _state(ctx, json_output)
    day = state.day(on)
    with state.context() as c:
        out = sampling_results.publish_result(c, visit_id, on=day)
    state.emit(vars(out))


@results_app.command("overdue")
def overdue(
    ctx: typer.Context,
    today: Annotated[str | None, typer.Option(help="report date [today in China]")] = None,
    json_output: JsonFlag = False,
) -> None:
    """The acting department's results: recorded, published, unpublished and past the publication deadline."""
    state = _state(ctx, json_output)
    day = state.day(today, option="--today")
    with state.context(write=False) as c:
        rows = [vars(r) for r in sampling_results.overdue_report(c, on=day)]
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
    """Horvitz–Thompson violation rate with a 95% interval, overall and per tier, beside the predicted
    rate."""
    state = _state(ctx, json_output)
    population = _scores(state, scores) if scores is not None else None
    with state.context(write=False) as c:
        rows = [vars(r) for r in sampling_results.task_estimates(c, task_id, population=population)]
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
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise state.fail(f"--out {out}: expected .parquet or .csv")
    with state.context(write=False) as c:
        frame = sampling_results.inspection_records(c, task_id=task)
    if suffix == ".parquet":
        atomic_write(out, lambda p: frame.write_parquet(p))
    else:
        atomic_write(out, lambda p: frame.write_csv(p))
    state.emit({"rows": frame.height, "path": str(out)})


# ------------------------------------------------------------------------------------------------ inspectors
@inspectors_app.command("import")
def inspectors_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="PATH", exists=True, dir_okay=False, help=".csv or .xlsx")],
    json_output: JsonFlag = False,
) -> None:
    """Import (insert or replace) inspectors; all rows are checked before any is written."""
    state = _state(ctx, json_output)
    with state.context() as c:
        out = sampling.import_roster(c, roster.read_table_file(path), source=str(path))
    state.emit({"path": out.source, "created": out.created, "updated": out.updated})


@inspectors_app.command("list")
def inspectors_list(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """The inspector roster (person keys are not shown)."""
    state = _state(ctx, json_output)
    with state.context(write=False) as c:
        people = sampling.list_inspectors(c)
    rows: list[dict[str, Any]] = [{**vars(p), "qualifications": "; ".join(p.qualifications)} for p in people]
    state.emit(rows, rows=rows)


def _set_active(ctx: typer.Context, inspector_id: str, active: bool, json_output: bool) -> None:
    state = _state(ctx, json_output)
    with state.context() as c:
        sampling.set_inspector_active(c, inspector_id, active=active)
    state.emit({"inspector_id": inspector_id, "active": active})


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
