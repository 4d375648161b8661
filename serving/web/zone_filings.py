"""The entity's filing pages in the credit service zone: apply for repair with documents
(``/ui/zone/repairs/new``) and report information voluntarily (``/ui/zone/self-reports/new``).

Each form posts multipart (the documents with the fields) and calls the use case the API's
``POST /zone/repairs`` and ``POST /zone/self-reports`` call (:func:`serving.services.repairs.apply`,
:func:`serving.services.self_reports.submit`), so the checks, refusals and audit entries are the same. A
refusal re-shows the form with the message at the field it names (the earliest eligible date of an early
repair application in words of its own) and the status of the API's answer; nothing is written then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.api.errors import KIND_STATUS
from serving.api.routers.filings import ROUTES, read_upload, route_uploads
from serving.services import filings, repairs, self_reports
from serving.services.context import Context
from serving.web import auth
from serving.web.render import page
from supervision.lifecycle.self_reports import CONTENT_MAX, DOCUMENTS_MAX, TOPICS
from supervision.platform.access import Role
from supervision.platform.errors import DomainError

router = APIRouter(prefix="/ui/zone", include_in_schema=False, dependencies=[auth.page_roles(Role.ENTITY)])

REPAIR_FIELDS = ("record", "commitment", "obligations_evidence", *(f"document_{r}" for r in ROUTES))
SELF_FIELDS = ("topic", "content", "documents")
# Domain fields shown at another form field.
FIELD_OF = {"record_id": "record", "record_table": "record", "uscc": "record", "conditions_met": "record"}
EARLIEST = re.compile(r"earliest eligible date (\d{4}-\d{2}-\d{2})")
Text = Annotated[str, Form(max_length=4000)]
OptionalFile = Annotated[UploadFile | None, File()]


@dataclass(frozen=True)
class FormError:
    """A refusal on a form: status, the message per form field (``form`` for the whole form)."""

    status: int
    fields: dict[str, str]
    earliest: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def form_error(exc: DomainError, known: tuple[str, ...]) -> FormError:
    """The refusal at the field it names (or the form), with an early application's earliest date."""
    name = FIELD_OF.get(exc.field or "", exc.field)
    if name not in known:
        name = next((f for f in known if exc.message.startswith(f)), "form")
    found = EARLIEST.search(exc.message) if exc.field == "applied_on" else None
    return FormError(KIND_STATUS[exc.kind], {name: exc.message}, found.group(1) if found else None)


def _uscc(ctx: Context) -> str:
    assert ctx.actor.uscc is not None  # the router admits the entity only, always bound to a USCC
    return ctx.actor.uscc


def _limit(ctx: Context) -> str:
    size = ctx.settings.document_max_bytes
    return f"{size / 1_048_576:g} MB" if size >= 1_048_576 else f"{size / 1024:g} KB"


# ------------------------------------------------------------------------------------------------ repairs
def _repair_page(
    request: Request, ctx: Context, *, values: dict[str, str], error: FormError | None = None
) -> HTMLResponse:
    records = filings.repairable_records(ctx, uscc=_uscc(ctx))
    return page(
        request,
        "zone_filings/repair.html",
        status=error.status if error is not None else 200,
        records=records,
        routes=ROUTES,
        values=values,
        error=error,
        limit=_limit(ctx),
        done=request.query_params.get("done"),
        due=request.query_params.get("due"),
    )


@router.get("/repairs/new")
def repair_form(
    request: Request, ctx: Annotated[Context, auth.page_context(filings.repairable_records, repairs.apply)]
) -> HTMLResponse:
    """The application form: one of the entity's records, its commitment and proof, the documents."""
    chosen = request.query_params.get("record", "")
    return _repair_page(
        request, ctx, values={"record": chosen[:200], "commitment": "", "obligations_evidence": ""}
    )


@router.post("/repairs/new", dependencies=[auth.CsrfDep])
def repair_apply(
    request: Request,
    ctx: Annotated[Context, auth.page_context(repairs.apply, filings.repairable_records)],
    record: Annotated[str, Form(max_length=200)] = "",
    commitment: Text = "",
    obligations_evidence: Text = "",
    document_credit_training: OptionalFile = None,
    document_credit_report: OptionalFile = None,
    document_public_service: OptionalFile = None,
) -> Response:
    """Apply with the API's use case; back to the form with the application's number (Post/Redirect/Get),
    or the form again with the refusal at its field."""
    values = {"record": record, "commitment": commitment, "obligations_evidence": obligations_evidence}
    table, _, record_id = record.partition(":")
    missing = {name: f"{name}: required" for name, value in values.items() if not value.strip()}
    if missing or table not in ("penalties", "list_entries"):
        fields = missing or {"record": "record: choose one of your records"}
        return _repair_page(request, ctx, values=values, error=FormError(422, fields))
    try:
        documents = route_uploads(
            ctx.settings.document_max_bytes,
            document_credit_training=document_credit_training,
            document_credit_report=document_credit_report,
            document_public_service=document_public_service,
        )
        view = repairs.apply(
            ctx,
            uscc=_uscc(ctx),
            record_table=table,
            record_id=record_id,
            commitment=commitment,
            obligations_evidence=obligations_evidence,
            documents=documents,
        )
    except DomainError as exc:
        ctx.session.rollback()  # the service refuses before writing; this only makes "nothing" certain
        return _repair_page(request, ctx, values=values, error=form_error(exc, REPAIR_FIELDS))
    query = urlencode({"done": view.repair_id, "due": view.accept_due.isoformat()})
    return RedirectResponse(f"/ui/zone/repairs/new?{query}#notice", status_code=303)


# ------------------------------------------------------------------------------------------- self-reports
def _self_page(
    request: Request, ctx: Context, *, values: dict[str, str], error: FormError | None = None
) -> HTMLResponse:
    return page(
        request,
        "zone_filings/self_report.html",
        status=error.status if error is not None else 200,
        topics=TOPICS,
        values=values,
        error=error,
        limit=_limit(ctx),
        content_max=CONTENT_MAX,
        documents_max=DOCUMENTS_MAX,
        mine=self_reports.list_reports(ctx),
        done=request.query_params.get("done"),
    )


@router.get("/self-reports/new")
def self_report_form(
    request: Request,
    ctx: Annotated[Context, auth.page_context(self_reports.submit, self_reports.list_reports)],
) -> HTMLResponse:
    """The form, and the entity's self-reports with their state (and a rejection's reason)."""
    return _self_page(request, ctx, values={"topic": "", "content": ""})


@router.post("/self-reports/new", dependencies=[auth.CsrfDep])
def self_report_submit(
    request: Request,
    ctx: Annotated[Context, auth.page_context(self_reports.submit, self_reports.list_reports)],
    topic: Annotated[str, Form(max_length=32)] = "",
    content: Annotated[str, Form(max_length=CONTENT_MAX + 100)] = "",
    documents: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """Submit with the API's use case; back to the page with the report's number, or the form again with
    the refusal at its field."""
    values = {"topic": topic, "content": content}
    uploads = [read_upload(f, ctx.settings.document_max_bytes) for f in documents or []]
    given = [u for u in uploads if u is not None]
    try:
        if len(given) > DOCUMENTS_MAX:
            raise DomainError(f"documents: at most {DOCUMENTS_MAX}", field="documents")
        view = self_reports.submit(
            ctx,
            uscc=_uscc(ctx),
            topic=topic,
            content=content,
            documents={f"documents[{i + 1}]": u for i, u in enumerate(given)},
        )
    except DomainError as exc:
        ctx.session.rollback()  # the service refuses before writing; this only makes "nothing" certain
        return _self_page(request, ctx, values=values, error=form_error(exc, SELF_FIELDS))
    return RedirectResponse(f"/ui/zone/self-reports/new?done={view.report_id}#notice", status_code=303)
