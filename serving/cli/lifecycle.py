"""Credit lifecycle commands: ``objections``, ``repairs``, ``lists``, ``commitments``, ``check``, ``disclosure``,
``report`` — thin wrappers over :mod:`supervision` with the operating-system user as the audited actor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.orm import Session

from features import lake as lake_io
from serving import rescore
from serving.api import lifecycle as api_lifecycle
from serving.api import masking
from serving.cli.state import State, open_session, operator
from supervision import (
    commitments,
    disclosure,
    lists,
    objections,
    records,
    regimes,
    repairs,
    reports,
    restrictions,
    subscriptions,
    workflow,
)
from supervision.calendar import CalendarCoverageError

objections_app = typer.Typer(no_args_is_help=True)
repairs_app = typer.Typer(no_args_is_help=True)
lists_app = typer.Typer(no_args_is_help=True)
commitments_app = typer.Typer(no_args_is_help=True)
check_app = typer.Typer(no_args_is_help=True)
disclosure_app = typer.Typer(no_args_is_help=True)
report_app = typer.Typer(no_args_is_help=True)

DOMAIN_ERRORS = (
    workflow.TransitionError,
    workflow.NotFound,
    objections.ObjectionError,
    repairs.RepairError,
    lists.ListError,
    restrictions.RestrictionError,
    commitments.CommitmentError,
    reports.ReportError,
    regimes.PolicyError,
    records.RecordRejected,
    CalendarCoverageError,
)
OnOpt = Annotated[str | None, typer.Option("--on", help="YYYY-MM-DD (default: today in China)")]
USCC = Annotated[str, typer.Option("--uscc", help="unified social credit code")]
DEPT = Annotated[str, typer.Option("--department", help="the department handling it")]


def register(root: typer.Typer) -> None:
    root.add_typer(objections_app, name="objections", help="Objections (异议): file, mark, decide, overdue.")
    root.add_typer(
        repairs_app, name="repairs", help="Credit repair (信用修复): apply, accept, approve, reject."
    )
    root.add_typer(lists_app, name="lists", help="Joint-punishment lists: notice, listing, interview, exit.")
    root.add_typer(commitments_app, name="commitments", help="Credit commitments (信用承诺).")
    root.add_typer(check_app, name="check", help="The embedded check (逢办必查) and the restriction catalog.")
    root.add_typer(
        disclosure_app, name="disclosure", help="双公示: register, publish, overdue, public export."
    )
    root.add_typer(report_app, name="report", help="Credit reports (信用报告): issue HTML/PDF, verify.")


def _actor() -> workflow.Actor:
    return workflow.Actor(operator(), role="supervisor")


def _day(state: State, text: str | None) -> date:
    if text is None:
        return datetime.now(ZoneInfo("Asia/Shanghai")).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise state.fail(f"--on {text!r}: expected a date YYYY-MM-DD") from None


@contextmanager
def _session(state: State, *, write: bool = True) -> Iterator[Session]:
    try:
        with open_session(state, audit_lock=write) as session:
            yield session
    except DOMAIN_ERRORS as exc:
        raise state.fail(str(exc)) from exc


def _ctx(ctx: typer.Context) -> State:
    state: State = ctx.obj
    return state


def _lake(state: State) -> records.Lake:
    return records.Lake(dir=state.settings.lake_dir, salt=state.settings.person_salt)


def _policy(state: State) -> regimes.Policy:
    try:
        return regimes.load_policy(state.settings.lifecycle_policy)
    except regimes.PolicyError as exc:
        raise state.fail(str(exc)) from exc


def _emit(state: State, payload: Any, title: str) -> None:
    if isinstance(payload, list):
        state.emit(payload, rows=payload, title=title)
    else:
        state.emit(payload)


# ------------------------------------------------------------------------------------------- objections
@objections_app.command("file")
def objection_file(
    ctx: typer.Context,
    uscc: USCC,
    record_table: Annotated[
        str, typer.Option("--table", help="table of the disputed record, e.g. penalties")
    ],
    record_id: Annotated[str, typer.Option("--record", help="the disputed record's id")],
    grounds: Annotated[str, typer.Option("--grounds")],
    department: DEPT,
    on: OnOpt = None,
) -> None:
    """File an objection; prints its deadlines (working days)."""
    state = _ctx(ctx)
    with _session(state) as s:
        row = objections.file(
            s, actor=_actor(), uscc=uscc, record_table=record_table, record_id=record_id, grounds=grounds,
            department=department, filed_on=_day(state, on), policy=_policy(state),
        ).as_dict()  # fmt: skip
    _emit(state, row, "objection")


@objections_app.command("mark")
def objection_mark(ctx: typer.Context, objection_id: str, on: OnOpt = None) -> None:
    """Mark the disputed record 异议处理中."""
    state = _ctx(ctx)
    with _session(state) as s:
        row = objections.mark(s, objection_id, actor=_actor(), on=_day(state, on)).as_dict()
    _emit(state, row, "objection")


@objections_app.command("decide")
def objection_decide(
    ctx: typer.Context,
    objection_id: str,
    reasons: Annotated[str, typer.Option("--reasons")],
    upheld: Annotated[bool, typer.Option("--upheld/--rejected")] = False,
    resolution: Annotated[str | None, typer.Option("--resolution", help="corrected or revoked")] = None,
    on: OnOpt = None,
) -> None:
    """Uphold (record corrected or revoked; the lake gets the decision) or reject with reasons."""
    state = _ctx(ctx)
    day = _day(state, on)
    with _session(state) as s:
        d = objections.decide(
            s, objection_id, actor=_actor(), on=day, upheld=upheld, reasons=reasons,
            resolution=resolution, lake=_lake(state),
        )  # fmt: skip
        o = d.objection
        result = (
            rescore.rescore(s, state.settings, uscc=o.uscc, on=day, reason=f"objection {o.objection_id} upheld ({o.resolution})")
            if o.status == "upheld"
            else rescore.skipped("objection rejected: the record stands, nothing to re-score")
        )  # fmt: skip
        row = {**o.as_dict(), "notice": d.notice, "rescore": result.as_dict()}
    _emit(state, row, "objection")


@objections_app.command("list")
def objection_list(
    ctx: typer.Context,
    uscc: Annotated[str | None, typer.Option("--uscc")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
) -> None:
    state = _ctx(ctx)
    with _session(state, write=False) as s:
        rows = [
            {
                k: r.as_dict()[k]
                for k in ("objection_id", "uscc", "record_id", "status", "mark_due", "decide_due")
            }
            for r in objections.list_objections(s, uscc=uscc, status=status)
        ]
    _emit(state, rows, "objections")


@objections_app.command("overdue")
def objection_overdue(ctx: typer.Context, on: OnOpt = None) -> None:
    """Open objections past a deadline (exit 1 if any)."""
    state = _ctx(ctx)
    with _session(state, write=False) as s:
        rows = objections.overdue(s, on=_day(state, on))
    _emit(state, rows, "overdue objections")
    if rows:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------- repairs
@repairs_app.command("apply")
def repair_apply(
    ctx: typer.Context,
    uscc: USCC,
    record_table: Annotated[str, typer.Option("--table", help="penalties or list_entries")],
    record_id: Annotated[str, typer.Option("--record")],
    department: DEPT,
    commitment: Annotated[
        str | None, typer.Option("--commitment", help="the public credit commitment")
    ] = None,
    evidence: Annotated[
        str | None, typer.Option("--evidence", help="obligations fulfilled: evidence")
    ] = None,
    on: OnOpt = None,
) -> None:
    """Apply; prints every condition as checked by the system."""
    state = _ctx(ctx)
    day = _day(state, on)
    with _session(state) as s:
        row = repairs.apply(
            s, lake_io.sources(state.settings.lake_dir), actor=_actor(), uscc=uscc, record_table=record_table,
            record_id=record_id, department=department, applied_on=day, commitment=commitment,
            obligations_evidence=evidence, policy=_policy(state), tiers=api_lifecycle.tiers(state.settings, day, s),
        ).as_dict()  # fmt: skip
    _emit(state, row, "repair")


@repairs_app.command("accept")
def repair_accept(ctx: typer.Context, repair_id: str, on: OnOpt = None) -> None:
    state = _ctx(ctx)
    with _session(state) as s:
        row = repairs.accept(
            s, repair_id, actor=_actor(), on=_day(state, on), policy=_policy(state)
        ).as_dict()
    _emit(state, row, "repair")


@repairs_app.command("approve")
def repair_approve(ctx: typer.Context, repair_id: str, on: OnOpt = None) -> None:
    """Approve when every condition holds; publicity stops, the lake gets the repair, the entity is re-scored."""
    state = _ctx(ctx)
    day = _day(state, on)
    with _session(state) as s:
        repair = repairs.approve(
            s, repair_id, lake_io.sources(state.settings.lake_dir), actor=_actor(), on=day,
            lake=_lake(state), policy=_policy(state), tiers=api_lifecycle.tiers(state.settings, day, s),
        )  # fmt: skip
        result = rescore.rescore(
            s, state.settings, uscc=repair.uscc, on=day, reason=f"repair {repair_id} approved"
        )
        if result.tier_after is not None:
            repair.tier_after = result.tier_after
        row = {**repair.as_dict(), "rescore": result.as_dict()}
    _emit(state, row, "repair")


@repairs_app.command("reject")
def repair_reject(
    ctx: typer.Context, repair_id: str, reasons: Annotated[str, typer.Option("--reasons")], on: OnOpt = None
) -> None:
    state = _ctx(ctx)
    with _session(state) as s:
        row = repairs.reject(s, repair_id, actor=_actor(), on=_day(state, on), reasons=reasons).as_dict()
    _emit(state, row, "repair")


@repairs_app.command("overdue")
def repair_overdue(ctx: typer.Context, on: OnOpt = None) -> None:
    state = _ctx(ctx)
    with _session(state, write=False) as s:
        rows = repairs.overdue(s, on=_day(state, on))
    _emit(state, rows, "overdue repairs")
    if rows:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------- lists
@lists_app.command("propose")
def list_propose(
    ctx: typer.Context,
    uscc: USCC,
    list_type: Annotated[str, typer.Option("--type", help="severe_dishonesty, abnormal_operations, ...")],
    department: DEPT,
    reasons: Annotated[str, typer.Option("--reasons")],
    basis: Annotated[str, typer.Option("--basis")],
    on: OnOpt = None,
) -> None:
    """Open a case and print the prior notice (reasons, rights, response deadline)."""
    state = _ctx(ctx)
    with _session(state) as s:
        row = lists.propose(
            s, actor=_actor(), uscc=uscc, list_type=list_type, department=department, reasons=reasons, basis=basis,
            proposed_on=_day(state, on), policy=_policy(state),
        ).as_dict()  # fmt: skip
    _emit(state, row, "list case")


@lists_app.command("respond")
def list_respond(
    ctx: typer.Context, case_id: str, response: Annotated[str, typer.Option("--response")]
) -> None:
    """Record the party's statement (陈述申辩) on a proposed case."""
    state = _ctx(ctx)
    with _session(state) as s:
        row = lists.respond(s, case_id, actor=_actor(), response=response).as_dict()
    _emit(state, row, "list case")


@lists_app.command("person")
def list_person(ctx: typer.Context, person_key: str) -> None:
    """A person's credit file: listed entities where they are legal representative or actual controller."""
    state = _ctx(ctx)
    with _session(state, write=False) as s:
        rows = lists.person_flags(s, person_key)
    _emit(state, rows, "personal accountability")


@lists_app.command("list")
def list_list(
    ctx: typer.Context,
    case_id: str,
    document: Annotated[str, typer.Option("--document", help="basis document number")],
    on: OnOpt = None,
) -> None:
    state = _ctx(ctx)
    with _session(state) as s:
        row = lists.list_case(
            s, case_id, lake_io.sources(state.settings.lake_dir), actor=_actor(), on=_day(state, on),
            basis_document_no=document, lake=_lake(state), policy=_policy(state),
        ).as_dict()  # fmt: skip
    _emit(state, row, "list case")


@lists_app.command("rectified")
def list_rectified(ctx: typer.Context, case_id: str, on: OnOpt = None) -> None:
    state = _ctx(ctx)
    with _session(state) as s:
        row = lists.rectify(s, case_id, actor=_actor(), on=_day(state, on)).as_dict()
    _emit(state, row, "list case")


@lists_app.command("interview")
def list_interview(
    ctx: typer.Context,
    case_id: str,
    department: DEPT,
    reason: Annotated[str, typer.Option("--reason")],
    on: OnOpt = None,
) -> None:
    state = _ctx(ctx)
    with _session(state) as s:
        row = lists.interview(
            s,
            case_id,
            actor=_actor(),
            on=_day(state, on),
            department=department,
            reason=reason,
            lake=_lake(state),
        ).as_dict()
    _emit(state, row, "list case")


@lists_app.command("exit")
def list_exit(ctx: typer.Context, case_id: str, on: OnOpt = None) -> None:
    state = _ctx(ctx)
    with _session(state) as s:
        row = lists.exit_on_application(
            s, case_id, actor=_actor(), on=_day(state, on), lake=_lake(state)
        ).as_dict()
    _emit(state, row, "list case")


@lists_app.command("expire")
def list_expire(ctx: typer.Context, on: OnOpt = None) -> None:
    """Exit every case whose maximum period has ended."""
    state = _ctx(ctx)
    with _session(state) as s:
        rows = [
            {"case_id": r.case_id, "exited_on": r.exited_on}
            for r in lists.expire(s, actor=_actor(), on=_day(state, on))
        ]
    _emit(state, rows, "expired")


@lists_app.command("interviews-due")
def list_interviews_due(ctx: typer.Context, on: OnOpt = None) -> None:
    state = _ctx(ctx)
    with _session(state, write=False) as s:
        rows = [
            {
                "case_id": r.case_id,
                "uscc": r.uscc,
                "department": r.department,
                "rectification_due": r.rectification_due,
            }
            for r in lists.interviews_due(s, on=_day(state, on))
        ]
    _emit(state, rows, "interviews due")


@lists_app.command("events")
def list_events(ctx: typer.Context, after: Annotated[int, typer.Option("--after", min=0)] = 0) -> None:
    """The outbox of list enter/exit events after an id."""
    state = _ctx(ctx)
    with _session(state, write=False) as s:
        rows = [e.as_dict() for e in lists.events_after(s, after)]
    _emit(state, rows, "list events")


@lists_app.command("subscribe")
def list_subscribe(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="the subscribing system")],
    url: Annotated[str, typer.Option("--url", help="its webhook (http or https)")],
    from_event: Annotated[int, typer.Option("--from-event", min=0, help="deliver events after this id")] = 0,
) -> None:
    """Register a webhook subscriber of list enter/exit events."""
    state = _ctx(ctx)
    with _session(state) as s:
        try:
            row = subscriptions.subscribe(s, name=name, url=url, now=datetime.now(UTC), from_event=from_event)
        except ValueError as exc:
            raise state.fail(str(exc)) from exc
        payload = row.as_dict()
    state.emit(payload)


@lists_app.command("deliver")
def list_deliver(ctx: typer.Context) -> None:
    """One delivery round to due subscribers (run it from a scheduler; failures back off and retry)."""
    state = _ctx(ctx)
    with _session(state) as s:
        report = subscriptions.deliver_due(s, now=datetime.now(UTC))
    _emit(state, report, "deliveries")


# ------------------------------------------------------------------------------------------- commitments
@commitments_app.command("make")
def commitment_make(
    ctx: typer.Context,
    uscc: USCC,
    matter: Annotated[str, typer.Option("--matter", help="template, e.g. food_business_licence")],
    department: DEPT,
    licence_id: Annotated[str | None, typer.Option("--licence")] = None,
    signatory: Annotated[str | None, typer.Option("--signatory")] = None,
    on: OnOpt = None,
) -> None:
    state = _ctx(ctx)
    with _session(state) as s:
        row = commitments.make(
            s, actor=_actor(), uscc=uscc, matter=matter, department=department, made_on=_day(state, on),
            licence_id=licence_id, signatory=signatory,
        ).as_dict()  # fmt: skip
    _emit(state, row, "commitment")


@commitments_app.command("fulfil")
def commitment_fulfil(ctx: typer.Context, commitment_id: str, on: OnOpt = None) -> None:
    state = _ctx(ctx)
    with _session(state) as s:
        row = commitments.fulfil(
            s, commitment_id, actor=_actor(), on=_day(state, on), lake=_lake(state)
        ).as_dict()
    _emit(state, row, "commitment")


@commitments_app.command("breach")
def commitment_breach(
    ctx: typer.Context, commitment_id: str, facts: Annotated[str, typer.Option("--facts")], on: OnOpt = None
) -> None:
    state = _ctx(ctx)
    with _session(state) as s:
        row = commitments.breach(
            s, commitment_id, actor=_actor(), on=_day(state, on), facts=facts, lake=_lake(state)
        ).as_dict()
    _emit(state, row, "commitment")


@commitments_app.command("export")
def commitment_export(
    ctx: typer.Context, out: Annotated[Path, typer.Option("--out", help="CSV file")]
) -> None:
    """The public 信用承诺 column as CSV (names masked as for the public)."""
    state = _ctx(ctx)
    with _session(state, write=False) as s:
        frame = commitments.public_export(s, mask_name=masking.mask_name)
    frame.write_csv(out)
    state.emit({"rows": frame.height, "out": out})


# ------------------------------------------------------------------------------------------- check
@check_app.command("run")
def check_run(
    ctx: typer.Context,
    uscc: USCC,
    matter: Annotated[str, typer.Option("--matter", help=", ".join(restrictions.MATTERS))],
    on: OnOpt = None,
) -> None:
    """Restrictions, list statuses (and tier once scoring publishes one) for one entity and matter; recorded."""
    state = _ctx(ctx)
    with _session(state) as s:
        day = _day(state, on)
        result = restrictions.check(
            s, lake_io.sources(state.settings.lake_dir), caller=_actor(), uscc=uscc, matter=matter, on=day,
            tiers=api_lifecycle.tiers(state.settings, day, s), measures=api_lifecycle.measures(state.settings),
        ).as_dict()  # fmt: skip
    state.emit(
        result,
        rows=result["restrictions"],
        title=f"restrictions ({len(result['lists'])} active list entries)",
    )


@check_app.command("catalog")
def check_catalog(
    ctx: typer.Context, out: Annotated[Path | None, typer.Option("--out", help="write CSV here")] = None
) -> None:
    """The catalog of restriction measures (惩戒措施清单)."""
    state = _ctx(ctx)
    try:
        frame = restrictions.catalog_frame(api_lifecycle.measures(state.settings))
    except restrictions.RestrictionError as exc:
        raise state.fail(str(exc)) from exc
    if out is not None:
        frame.write_csv(out)
    state.emit(frame.to_dicts(), rows=frame.to_dicts(), title="restriction measures")


# ------------------------------------------------------------------------------------------- disclosure
@disclosure_app.command("register")
def disclosure_register(ctx: typer.Context) -> None:
    state = _ctx(ctx)
    with _session(state) as s:
        n = disclosure.register_from_lake(s, lake_io.sources(state.settings.lake_dir), policy=_policy(state))
    state.emit({"registered": n})


@disclosure_app.command("publish")
def disclosure_publish(ctx: typer.Context, record_table: str, record_id: str, on: OnOpt = None) -> None:
    state = _ctx(ctx)
    with _session(state) as s:
        row = disclosure.publish(s, record_table, record_id, actor=_actor(), on=_day(state, on)).as_dict()
    _emit(state, row, "disclosure")


@disclosure_app.command("overdue")
def disclosure_overdue(ctx: typer.Context, on: OnOpt = None) -> None:
    """Per department: decisions past their publication deadline (exit 1 if any)."""
    state = _ctx(ctx)
    with _session(state, write=False) as s:
        rows = disclosure.overdue_report(s, on=_day(state, on))
    _emit(state, rows, "overdue publications")
    if rows:
        raise typer.Exit(1)


@disclosure_app.command("export")
def disclosure_export(
    ctx: typer.Context, out: Annotated[Path, typer.Option("--out", help="CSV file")], on: OnOpt = None
) -> None:
    """Public export: published, within publicity, no minors, personal data masked."""
    state = _ctx(ctx)
    with _session(state, write=False) as s:
        frame = disclosure.public_export(
            s, lake_io.sources(state.settings.lake_dir), on=_day(state, on), mask_name=masking.mask_name,
            policy=_policy(state),
        )  # fmt: skip
    frame.write_csv(out)
    state.emit({"rows": frame.height, "out": out})


# ------------------------------------------------------------------------------------------- report
@report_app.command("issue")
def report_issue(
    ctx: typer.Context,
    uscc: USCC,
    out: Annotated[Path, typer.Option("--out", help="file to write (.html or .pdf)")],
    on: OnOpt = None,
    with_score: Annotated[
        bool, typer.Option("--with-score", help="include tier, score and reasons (authorised readers only)")
    ] = False,
) -> None:
    """Issue a credit report; prints its number and verification hash."""
    state = _ctx(ctx)
    day = _day(state, on)
    with _session(state) as s:
        score = api_lifecycle.report_score(state.settings, uscc, day, s) if with_score else None
        report = reports.build(
            s, lake_io.sources(state.settings.lake_dir), uscc=uscc, on=day, issued_by=_actor().name,
            mask_name=masking.mask_name, score=score,
        )  # fmt: skip
    if out.suffix.lower() == ".pdf":
        out.write_bytes(reports.render_pdf(report))
    else:
        out.write_text(reports.render_html(report), encoding="utf-8")
    state.emit({"report_no": report.report_no, "hash": report.content_sha256, "out": out})


@report_app.command("verify")
def report_verify(ctx: typer.Context, report_no: str, content_hash: str) -> None:
    """Exit 1 unless a report with this number was issued with this hash."""
    state = _ctx(ctx)
    with _session(state, write=False) as s:
        result = reports.verify(s, report_no, content_hash)
    state.emit(result)
    if not result["valid"]:
        raise typer.Exit(1)
