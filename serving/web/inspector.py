"""The inspector's pages: "my tasks", a task's sampling list, recording a visit's result, the list's export.

The data is the API's: the pages call the sampling router's functions (``serving.api.routers.sampling``), so
roles, errors, audit entries and the export bytes are those of ``/sampling/tasks...``. Who "I" am: an
inspector's API token is issued under their roster ``inspector_id`` (``supervision.tasks.inspector_of``);
their entities are those whose visit they are on the team of. Inspectors may read every task's whole list
(as the API lets them) but record results only for their own visits, always as themselves; a supervisor
records on behalf of a member of the visit's team (谁检查、谁录入: the domain checks the recorder is on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import quote

import polars as pl
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from features import lake as lake_io
from features.catalog import INSPECTION_OUTCOMES
from serving.api.deps import SessionDep, SettingsDep
from serving.api.errors import ApiError, NotFound
from serving.api.routers import sampling
from serving.api.trail import AuditDep, audited
from serving.settings import Settings
from serving.web import auth
from serving.web.render import page
from supervision import tasks
from supervision.access import Principal, Role

router = APIRouter(prefix="/ui", include_in_schema=False)

# The API's sampling roles: supervisors and inspectors read tasks and record results.
ReadPage = Annotated[Principal, auth.page_roles(Role.SUPERVISOR, Role.INSPECTOR)]
RecordPage = Annotated[Principal, auth.page_roles(Role.INSPECTOR, Role.SUPERVISOR)]
TaskId = sampling.TaskId
Uscc = Annotated[str, Path(pattern=r"^[0-9A-Z]{18}$", description="USCC (统一社会信用代码)")]
OUTCOMES = INSPECTION_OUTCOMES
FORM_FIELDS = ("outcome", "inspected_on", "recorded_by", "findings")


# --------------------------------------------------------------------------------------------- helpers
def me(session: Session, principal: Principal) -> tasks.Inspector | None:
    """The roster inspector behind an inspector's token (None for a supervisor, or an unlinked token)."""
    if principal.role is not Role.INSPECTOR:
        return None
    return tasks.inspector_of(session, principal.name)


def entity_names(settings: Settings, usccs: list[str]) -> dict[str, str]:
    """Registered names (public, not personal data) of `usccs` from the lake's register."""
    if not usccs:
        return {}
    found = (
        lake_io.scan(settings.lake_dir, "entities")
        .filter(pl.col("uscc").is_in(usccs))
        .select("uscc", "name")
        .collect()
    )
    return {u: n for u, n in found.iter_rows() if n is not None}


def stored_reasons(request: Request, usccs: list[str]) -> dict[str, list[tuple[str, str]]]:
    """(zh, en) of the stored top reasons of `usccs` — the newest score file's, which the list's reasons are."""
    frame = sampling.stored_reasons_frame(request)
    if frame is None or not usccs:
        return {}
    dtype = frame.schema["reasons"]
    if not (isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct)):
        return {}
    out: dict[str, list[tuple[str, str]]] = {}
    for uscc, reasons in frame.filter(pl.col("uscc").is_in(usccs)).iter_rows():
        out.setdefault(uscc, [(r.get("zh") or "", r.get("en") or r.get("zh") or "") for r in reasons or []])
    return out


@dataclass(frozen=True)
class Row:
    """One entity of a task's list as the page shows it."""

    entity: sampling.ListRow
    name: str | None
    reasons: list[tuple[str, str]]
    team: list[str]
    mine: bool
    state: Literal["done", "pending", "unstaffed", "waiting"]
    actionable: bool
    why_not: str | None  # message key: why this visitor cannot record the result here


def _state(entity: sampling.ListRow) -> Literal["done", "pending", "unstaffed", "waiting"]:
    if entity.outcome is not None:
        return "done"
    if entity.visit_status == "assigned":
        return "pending"
    if entity.visit_status == "unstaffed":
        return "unstaffed"
    return "waiting"  # drawn, but the period's inspectors are not assigned yet


def rows_of(
    detail: sampling.TaskDetail,
    *,
    principal: Principal,
    inspector: tasks.Inspector | None,
    settings: Settings,
    request: Request,
) -> list[Row]:
    usccs = [e.uscc for e in detail.entities]
    names = entity_names(settings, usccs)
    reasons = stored_reasons(request, usccs)
    mine_id = inspector.inspector_id if inspector is not None else None
    out = []
    for e in detail.entities:
        team = [i for i in e.inspectors.split("; ") if i]
        state = _state(e)
        mine = mine_id is not None and mine_id in team
        why_not: str | None = None
        if state == "done":
            why_not = "task.why.done"
        elif state == "unstaffed":
            why_not = "task.why.unstaffed"
        elif state == "waiting":
            why_not = "task.why.waiting"
        elif principal.role is Role.INSPECTOR and mine_id is None:
            why_not = "task.why.unlinked"
        elif principal.role is Role.INSPECTOR and not mine:
            why_not = "task.why.not_mine"
        zh_only = [(r, r) for r in (e.reasons or "").split("；") if r]
        out.append(
            Row(
                entity=e,
                name=names.get(e.uscc),
                reasons=reasons.get(e.uscc) or zh_only,
                team=team,
                mine=mine,
                state=state,
                actionable=why_not is None,
                why_not=why_not,
            )
        )
    return out


def _one(rows: list[Row], task_id: str, uscc: str) -> Row:
    for r in rows:
        if r.entity.uscc == uscc:
            return r
    raise NotFound(f"uscc {uscc!r} is not on the list of task {task_id}", field="path.uscc")


# --------------------------------------------------------------------------------------------- pages
@router.get("/tasks")
def my_tasks(
    request: Request,
    principal: ReadPage,
    session: SessionDep,
    scope: Annotated[Literal["mine", "all"], Query()] = "mine",
    period: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    """An inspector's tasks (those with a visit they are on), or every task (supervisors; ``scope=all``)."""
    inspector = me(session, principal)
    listed = sampling.list_tasks(principal, session, period=period or None)
    progress = tasks.task_progress(session)
    mine = tasks.task_progress(session, inspector_id=inspector.inspector_id) if inspector else {}
    show_all = principal.role is not Role.INSPECTOR or scope == "all"
    shown = [t for t in listed if show_all or t.task_id in mine]
    return page(
        request,
        "inspector/tasks.html",
        tasks=shown,
        progress=progress,
        mine=mine,
        inspector=inspector,
        is_inspector=principal.role is Role.INSPECTOR,
        scope="all" if show_all else "mine",
        period=period or "",
        total=len(listed),
    )


@router.get("/tasks/{task_id}")
def task_list(
    request: Request,
    task_id: TaskId,
    principal: ReadPage,
    session: SessionDep,
    settings: SettingsDep,
    show: Annotated[Literal["all", "mine", "pending"], Query()] = "all",
    recorded: Annotated[str | None, Query(max_length=18)] = None,
) -> HTMLResponse:
    """The task's sampling list: every drawn entity with tier, reasons, team and result status."""
    detail = sampling.get_task(task_id, principal, session, request)
    inspector = me(session, principal)
    rows = rows_of(detail, principal=principal, inspector=inspector, settings=settings, request=request)
    if show == "mine":
        rows = [r for r in rows if r.mine]
    elif show == "pending":
        rows = [r for r in rows if r.state == "pending"]
    notice = next((r for r in rows if recorded is not None and r.entity.uscc == recorded), None)
    counts = {
        "total": len(detail.entities),
        "done": sum(e.outcome is not None for e in detail.entities),
    }
    return page(
        request,
        "inspector/list.html",
        task=detail,
        rows=rows,
        show=show,
        counts=counts,
        notice=notice if notice is not None and notice.state == "done" else None,
        inspector=inspector,
        is_inspector=principal.role is Role.INSPECTOR,
    )


def _form_page(
    request: Request,
    *,
    detail: sampling.TaskDetail,
    row: Row,
    principal: Principal,
    inspector: tasks.Inspector | None,
    values: dict[str, str],
    error: ApiError | None = None,
    error_field: str | None = None,
) -> HTMLResponse:
    return page(
        request,
        "inspector/record.html",
        status=error.status if error is not None else 200,
        task=detail,
        row=row,
        outcomes=OUTCOMES,
        values=values,
        error=error.message if error is not None else None,
        error_field=error_field,
        form_fields=FORM_FIELDS,
        inspector=inspector,
        is_inspector=principal.role is Role.INSPECTOR,
    )


def _defaults(row: Row, inspector: tasks.Inspector | None) -> dict[str, str]:
    recorder = inspector.inspector_id if inspector is not None else (row.team[0] if row.team else "")
    return {
        "outcome": "",
        "inspected_on": datetime.now(UTC).date().isoformat(),
        "recorded_by": recorder,
        "findings": "",
    }


@router.get("/tasks/{task_id}/results/{uscc}")
def record_form(
    request: Request,
    task_id: TaskId,
    uscc: Uscc,
    principal: RecordPage,
    session: SessionDep,
    settings: SettingsDep,
) -> HTMLResponse:
    """One entity of the list with the result form (or why this visitor cannot record it)."""
    detail = sampling.get_task(task_id, principal, session, request)
    inspector = me(session, principal)
    rows = rows_of(detail, principal=principal, inspector=inspector, settings=settings, request=request)
    row = _one(rows, task_id, uscc)
    return _form_page(
        request, detail=detail, row=row, principal=principal, inspector=inspector,
        values=_defaults(row, inspector),
    )  # fmt: skip


def _field_of(exc: ValidationError) -> tuple[str, str]:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "form"
    return field, f"{field}: {first['msg']}"


class FormInvalid(ApiError):
    status, type = 422, "validation"


@router.post(
    "/tasks/{task_id}/results/{uscc}",
    dependencies=[auth.CsrfDep, audited("sampling.result", target="task_id", prefix="task:")],
)
def record(
    request: Request,
    task_id: TaskId,
    uscc: Uscc,
    principal: RecordPage,
    session: SessionDep,
    settings: SettingsDep,
    trail: AuditDep,
    outcome: Annotated[str, Form(max_length=32)] = "",
    inspected_on: Annotated[str, Form(max_length=32)] = "",
    recorded_by: Annotated[str, Form(max_length=64)] = "",
    findings: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    """Record the visit's result with the API's ``record_result``, then back to the list (Post/Redirect/Get).

    Bad values and domain refusals (not on the team, already recorded, a future date) re-show the form with
    the message naming the field and the status of the API's answer; nothing is written then.
    """
    detail = sampling.get_task(task_id, principal, session, request)
    inspector = me(session, principal)
    if principal.role is Role.INSPECTOR:
        # An inspector records as themselves: their token's name is their roster id (an unlinked token is
        # refused by the API's record_result, with what to do).
        recorded_by = inspector.inspector_id if inspector is not None else principal.name
    rows = rows_of(detail, principal=principal, inspector=inspector, settings=settings, request=request)
    row = _one(rows, task_id, uscc)
    values = {
        "outcome": outcome,
        "inspected_on": inspected_on,
        "recorded_by": recorded_by,
        "findings": findings,
    }
    try:
        body = sampling.ResultIn(
            uscc=uscc,
            outcome=outcome,  # type: ignore[arg-type]  # pydantic checks the literal
            inspected_on=inspected_on,  # type: ignore[arg-type]  # pydantic parses the ISO date
            recorded_by=recorded_by,
            findings=findings,
        )
    except ValidationError as exc:
        field, message = _field_of(exc)
        return _form_page(
            request, detail=detail, row=row, principal=principal, inspector=inspector, values=values,
            error=FormInvalid(message, field=field), error_field=field,
        )  # fmt: skip
    try:
        sampling.record_result(task_id, body, principal, session, trail)
    except ApiError as exc:
        session.rollback()  # the domain refuses before writing; this only makes "nothing" certain
        # The domain's messages start with the field they are about ("inspected_on ... is in the future").
        named = exc.field or next((f for f in FORM_FIELDS if exc.message.startswith(f)), None)
        return _form_page(
            request, detail=detail, row=row, principal=principal, inspector=inspector, values=values,
            error=exc, error_field=named,
        )  # fmt: skip
    target = f"/ui/tasks/{quote(task_id)}?recorded={quote(uscc)}#notice"
    return RedirectResponse(target, status_code=303)


@router.get("/tasks/{task_id}/export.{fmt}")
def export(
    request: Request,
    task_id: TaskId,
    fmt: Annotated[Literal["csv", "xlsx"], Path()],
    principal: ReadPage,
    session: SessionDep,
) -> Response:
    """The list as the API exports it (``tasks.export_frame``/``write_export``: CSV in UTF-8 with BOM, or XLSX)."""
    return sampling.export_task(task_id, principal, session, request, format=fmt)
