"""The inspector's pages: "my tasks", a task's sampling list, recording a visit's result, the list's export.

Each page calls the use case the API's ``/sampling/tasks...`` routes call (``serving.services.sampling_lists``
and ``sampling_results``), so roles, department scope, errors, audit entries and the export bytes are the
same. Who "I" am: an inspector's identity carries their roster ``inspector_id`` as its ``person_id``; their
entities are those whose visit they are on the team of. People of a task's department read its whole list;
inspectors record results only for their own visits, always as themselves, and a supervisor of the
department records on behalf of a member of the visit's team (谁检查、谁录入: the service decides, and says
per entity why a visitor cannot record it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import quote, urlencode

import polars as pl
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from features import lake as lake_io
from features.catalog import INSPECTION_OUTCOMES
from serving.api.errors import KIND_STATUS, NotFound
from serving.api.routers import sampling as sampling_api
from serving.api.types import UsccPath
from serving.services import sampling_lists, sampling_results
from serving.services.context import Context
from serving.settings import Settings
from serving.web import auth
from serving.web.render import page
from supervision.platform.access import Role
from supervision.platform.errors import DomainError

router = APIRouter(prefix="/ui", include_in_schema=False)

TaskId = sampling_api.TaskId
OUTCOMES = INSPECTION_OUTCOMES
FORM_FIELDS = ("outcome", "inspected_on", "recorded_by", "findings")


# --------------------------------------------------------------------------------------------- helpers
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


def stored_reasons(frame: pl.DataFrame | None, usccs: list[str]) -> dict[str, list[tuple[str, str]]]:
    """(zh, en) of the stored top reasons of `usccs` — the newest score file's, which the list's reasons
    are."""
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

    entity: sampling_lists.ListEntry
    name: str | None
    reasons: list[tuple[str, str]]
    state: sampling_lists.VisitState
    why_not: str | None  # message key: why this visitor cannot record the result here

    @property
    def team(self) -> tuple[str, ...]:
        return self.entity.team

    @property
    def mine(self) -> bool:
        return self.entity.mine

    @property
    def actionable(self) -> bool:
        return self.why_not is None


def rows_of(
    detail: sampling_lists.TaskDetail, *, settings: Settings, reasons: pl.DataFrame | None
) -> list[Row]:
    usccs = [e.uscc for e in detail.entries]
    names = entity_names(settings, usccs)
    structured = stored_reasons(reasons, usccs)
    return [
        Row(
            entity=e,
            name=names.get(e.uscc),
            reasons=structured.get(e.uscc) or [(r, r) for r in (e.reasons or "").split("；") if r],
            state=e.state,
            why_not=None if e.blocked is None else f"task.why.{e.blocked}",
        )
        for e in detail.entries
    ]


def _one(rows: list[Row], task_id: str, uscc: str) -> Row:
    for r in rows:
        if r.entity.uscc == uscc:
            return r
    raise NotFound(f"uscc {uscc!r} is not on the list of task {task_id}", field="path.uscc")


# --------------------------------------------------------------------------------------------- pages
@router.get("/tasks")
def my_tasks(
    request: Request,
    ctx: Annotated[Context, auth.page_context(sampling_lists.list_tasks)],
    scope: Annotated[Literal["mine", "all"], Query()] = "mine",
    period: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    """An inspector's tasks (those with a visit they are on), or every task of the department (supervisors;
    ``scope=all``)."""
    listed = sampling_lists.list_tasks(ctx, period=period or None)
    is_inspector = ctx.actor.role is Role.INSPECTOR
    show_all = not is_inspector or scope == "all"
    shown = [row for row in listed.tasks if show_all or (row.mine is not None and row.mine[1] > 0)]
    return page(
        request,
        "inspector/tasks.html",
        tasks=shown,
        inspector=listed.inspector,
        is_inspector=is_inspector,
        scope="all" if show_all else "mine",
        period=period or "",
        total=len(listed.tasks),
    )


@router.get("/tasks/{task_id}")
def task_list(
    request: Request,
    task_id: TaskId,
    ctx: Annotated[Context, auth.page_context(sampling_lists.get_task)],
    district: Annotated[str | None, Query(max_length=16)] = None,
    tier: Annotated[str | None, Query(max_length=16)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    mine: Annotated[bool, Query()] = False,
    page_no: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=sampling_lists.MAX_PER_PAGE)] = sampling_lists.PER_PAGE,
    show: Annotated[Literal["all", "mine", "pending"] | None, Query()] = None,
    recorded: Annotated[str | None, Query(max_length=18)] = None,
) -> HTMLResponse:
    """The task's sampling list, a page at a time: every drawn entity with tier, reasons, team and result
    status, filtered by district, tier, status and "mine" (the service filters and pages; a bad value is a
    422 page naming the field). ``show`` is the older form of the last two (``mine``, ``pending``)."""
    query = sampling_lists.ListQuery(
        district=district or None,
        tier=tier or None,
        status=status or ("pending" if show == "pending" else None),
        mine=mine or show == "mine",
        page=page_no,
        per_page=per_page,
        highlight=recorded,
    )
    reasons = sampling_api.stored_reasons_frame(request)
    detail = sampling_lists.get_task(ctx, task_id, reasons=reasons, query=query)
    rows = rows_of(detail, settings=ctx.settings, reasons=reasons)
    notice = detail.highlighted
    kept = {
        "district": query.district,
        "tier": query.tier,
        "status": query.status,
        "mine": "1" if query.mine else None,
        "per_page": str(per_page) if per_page != sampling_lists.PER_PAGE else None,
    }
    filters = {k: v for k, v in kept.items() if v is not None}
    return page(
        request,
        "inspector/list.html",
        task=detail.task,
        tiers=detail.tiers,
        rows=rows,
        detail=detail,
        query=query,
        counts={"total": detail.total, "done": detail.done},
        notice=notice if notice is not None and notice.outcome is not None else None,
        inspector=detail.inspector,
        is_inspector=ctx.actor.role is Role.INSPECTOR,
        states=sampling_lists.STATES,
        list_tiers=sampling_lists.LIST_TIERS,
        per_page_default=sampling_lists.PER_PAGE,
        filtered=bool(filters.keys() - {"per_page"}),
        page_link=lambda n: _list_url(task_id, {**filters, "page": str(n)} if n > 1 else filters),
        base_link=_list_url(task_id, {}),
    )


def _list_url(task_id: str, params: dict[str, str]) -> str:
    """The list's address with `params` (the filters and page kept from link to link)."""
    query = urlencode(params)
    return f"/ui/tasks/{quote(task_id)}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class FormError:
    """A refusal shown on the form: its HTTP status, message and the form field it is about."""

    status: int
    message: str
    field: str | None


def _form_error(exc: DomainError) -> FormError:
    # The domain names the field (``inspected_on``, ``recorded_by`` …) or starts its message with it.
    named = exc.field if exc.field in FORM_FIELDS else None
    named = named or next((f for f in FORM_FIELDS if exc.message.startswith(f)), None)
    return FormError(KIND_STATUS[exc.kind], exc.message, named)


def _form_page(
    request: Request,
    ctx: Context,
    *,
    detail: sampling_lists.TaskDetail,
    row: Row,
    values: dict[str, str],
    error: FormError | None = None,
) -> HTMLResponse:
    return page(
        request,
        "inspector/record.html",
        status=error.status if error is not None else 200,
        task=detail.task,
        row=row,
        outcomes=OUTCOMES,
        values=values,
        error=error.message if error is not None else None,
        error_field=error.field if error is not None else None,
        form_fields=FORM_FIELDS,
        inspector=detail.inspector,
        is_inspector=ctx.actor.role is Role.INSPECTOR,
    )


def _defaults(ctx: Context, detail: sampling_lists.TaskDetail, row: Row) -> dict[str, str]:
    me = detail.inspector.inspector_id if detail.inspector is not None else None
    return {
        "outcome": "",
        "inspected_on": ctx.today.isoformat(),
        "recorded_by": me or (row.team[0] if row.team else ""),
        "findings": "",
    }


def _form_rows(
    request: Request, ctx: Context, task_id: str, uscc: str
) -> tuple[sampling_lists.TaskDetail, Row]:
    reasons = sampling_api.stored_reasons_frame(request)
    detail = sampling_lists.get_task(ctx, task_id, reasons=reasons)
    return detail, _one(rows_of(detail, settings=ctx.settings, reasons=reasons), task_id, uscc)


@router.get("/tasks/{task_id}/results/{uscc}")
def record_form(
    request: Request,
    task_id: TaskId,
    uscc: UsccPath,
    ctx: Annotated[Context, auth.page_context(sampling_lists.get_task, sampling_results.record_result)],
) -> HTMLResponse:
    """One entity of the list with the result form (or why this visitor cannot record it)."""
    detail, row = _form_rows(request, ctx, task_id, uscc)
    return _form_page(request, ctx, detail=detail, row=row, values=_defaults(ctx, detail, row))


@router.post("/tasks/{task_id}/results/{uscc}", dependencies=[auth.CsrfDep])
def record(
    request: Request,
    task_id: TaskId,
    uscc: UsccPath,
    ctx: Annotated[Context, auth.page_context(sampling_results.record_result, sampling_lists.get_task)],
    outcome: Annotated[str, Form(max_length=32)] = "",
    inspected_on: Annotated[str, Form(max_length=32)] = "",
    recorded_by: Annotated[str, Form(max_length=64)] = "",
    findings: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    """Record the visit's result with the API's use case, then back to the list (Post/Redirect/Get).

    Bad values and refusals (not on the team, already recorded, a future date) re-show the form with the
    message naming the field and the status of the API's answer; nothing is written then.
    """
    values = {
        "outcome": outcome,
        "inspected_on": inspected_on,
        "recorded_by": recorded_by,
        "findings": findings,
    }
    # An inspector's form has no recorder: they record as themselves, whatever a forged field says.
    recorder = None if ctx.actor.role is Role.INSPECTOR else recorded_by or None
    try:
        body = sampling_api.ResultIn(
            uscc=uscc,
            outcome=outcome,  # type: ignore[arg-type]  # pydantic checks the literal
            inspected_on=inspected_on,  # type: ignore[arg-type]  # pydantic parses the ISO date
            recorded_by=recorder,
            findings=findings,
        )
        sampling_results.record_result(
            ctx,
            task_id,
            uscc=body.uscc,
            outcome=body.outcome,
            inspected_on=body.inspected_on,
            findings=body.findings,
            recorded_by=body.recorded_by,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "form"
        error = FormError(422, f"{field}: {first['msg']}", field)
    except DomainError as exc:
        ctx.session.rollback()  # the service refuses before writing; this only makes "nothing" certain
        error = _form_error(exc)
    else:
        return RedirectResponse(f"/ui/tasks/{quote(task_id)}?recorded={quote(uscc)}#notice", status_code=303)
    detail, row = _form_rows(request, ctx, task_id, uscc)
    if ctx.actor.role is Role.INSPECTOR:
        values["recorded_by"] = detail.inspector.inspector_id if detail.inspector is not None else ""
    return _form_page(request, ctx, detail=detail, row=row, values=values, error=error)


@router.get("/tasks/{task_id}/export.{fmt}")
def export(
    task_id: TaskId,
    fmt: Annotated[Literal["csv", "xlsx"], Path()],
    request: Request,
    ctx: Annotated[Context, auth.page_context(sampling_lists.export_task)],
) -> Response:
    """The list as the API exports it (CSV in UTF-8 with BOM, or XLSX): the same bytes."""
    file = sampling_lists.export_task(
        ctx, task_id, fmt=fmt, reasons=sampling_api.stored_reasons_frame(request)
    )
    return sampling_api.file_response(file)
