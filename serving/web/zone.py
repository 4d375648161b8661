"""The entity's pages of the credit service zone (信用服务专区): its record, and forms to object to one of its
records, make a commitment, answer a prior notice (陈述申辩) and download its credit report.

Every page admits the entity only and calls the API's use cases (``zone.record``, ``objections.file``,
``commitments.make``, ``lists.respond``, ``reports.issue``): the USCC is the signed-in entity's, never a form
field, and a record or case of another entity is refused by the service (403) or not found among its own
(404). A form with a bad value is shown again with the message beside the field and the values as typed;
nothing is written then. The zone shows no risk classification (``zone.RISK_INTERNAL``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from serving.api.routers.zone import TEXT_MAX, StatementIn, ZoneCommitmentIn, ZoneObjectionIn, ZoneReportIn
from serving.services import commitments, lists, objections, reports, zone
from serving.services.context import Context
from serving.services.zone import ZoneView
from serving.web.auth import CsrfDep, page_context
from serving.web.render import page
from supervision.platform.errors import DomainError, ErrorKind

router = APIRouter(prefix="/ui/zone", include_in_schema=False)

STATUS = {
    ErrorKind.VALIDATION: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.BUSY: 503,
}
# A service's field name → the form's.
FORM_FIELD = {"response": "statement", "record_table": "record", "record_id": "record", "uscc": "record"}
DONE = ("objection", "commitment", "stated")  # the confirmations a redirect back to the zone may show
# Links to the pages of the repair and self-report forms (built beside these).
LINKS = {"repair": "/ui/zone/repairs/new", "self_report": "/ui/zone/self-reports/new"}


class FormError:
    """What went wrong with a form: the status of the API's answer and a message per field."""

    def __init__(self, status: int, fields: Mapping[str, str], message: str | None = None) -> None:
        self.status = status
        self.fields = dict(fields)
        self.message = message

    @classmethod
    def of_validation(cls, exc: ValidationError, rename: Mapping[str, str] | None = None) -> FormError:
        fields: dict[str, str] = {}
        for e in exc.errors():
            name = str(e["loc"][0]) if e["loc"] else "form"
            name = (rename or {}).get(name, name)
            fields.setdefault(name, f"{name}: {e['msg']}")
        return cls(422, fields)

    @classmethod
    def of_domain(cls, exc: DomainError, default_field: str) -> FormError:
        field = FORM_FIELD.get(exc.field or "", exc.field) or default_field
        return cls(STATUS.get(exc.kind, 422), {field: exc.message}, exc.message)


def _record_page(request: Request, view: ZoneView, *, done: str | None = None) -> HTMLResponse:
    shown = done if done in DONE else None
    return page(request, "zone/record.html", view=view, done=shown, links=LINKS)


@router.get("")
def record_page(
    request: Request,
    ctx: Annotated[Context, page_context(zone.record)],
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    """The entity's record, deadlines and filings, in sections."""
    return _record_page(request, zone.record(ctx), done=done)


# --------------------------------------------------------------------------------------------- objection
def _objection_form(
    request: Request,
    view: ZoneView,
    values: Mapping[str, str],
    error: FormError | None = None,
) -> HTMLResponse:
    return page(
        request,
        "zone/objection.html",
        status=error.status if error else 200,
        view=view,
        records=[r for r in view.records if r.objectionable],
        values=values,
        error=error,
        limit=TEXT_MAX,
    )


@router.get("/objections/new")
def objection_form(
    request: Request,
    ctx: Annotated[Context, page_context(zone.record)],
    record: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """Pick one of the entity's records and give the grounds."""
    return _objection_form(request, zone.record(ctx), {"record": record, "grounds": ""})


@router.post("/objections", dependencies=[CsrfDep])
def file_objection(
    request: Request,
    ctx: Annotated[Context, page_context(objections.file, zone.record)],
    record: Annotated[str, Form()] = "",
    grounds: Annotated[str, Form()] = "",
) -> Response:
    """File the objection (``objections.file``), then back to the record (Post/Redirect/Get)."""
    values = {"record": record, "grounds": grounds}
    table, _, record_id = record.partition(":")
    try:
        body = ZoneObjectionIn(record_table=table, record_id=record_id, grounds=grounds)
        objections.file(
            ctx,
            uscc=ctx.actor.uscc or "",
            record_table=body.record_table,
            record_id=body.record_id,
            grounds=body.grounds,
        )
    except ValidationError as exc:
        error = FormError.of_validation(exc, {"record_table": "record", "record_id": "record"})
    except DomainError as exc:
        ctx.session.rollback()
        error = FormError.of_domain(exc, "record")
    else:
        return RedirectResponse("/ui/zone?done=objection#objections", status_code=303)
    return _objection_form(request, zone.record(ctx), values, error)


# -------------------------------------------------------------------------------------------- commitment
def _commitment_form(
    request: Request, view: ZoneView, values: Mapping[str, str], error: FormError | None = None
) -> HTMLResponse:
    return page(
        request,
        "zone/commitment.html",
        status=error.status if error else 200,
        view=view,
        values=values,
        error=error,
    )


@router.get("/commitments/new")
def commitment_form(
    request: Request,
    ctx: Annotated[Context, page_context(zone.record)],
    matter: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """Choose a template and the department it is made to."""
    values = {"matter": matter, "department": "", "licence_id": "", "signatory": ""}
    return _commitment_form(request, zone.record(ctx), values)


@router.post("/commitments", dependencies=[CsrfDep])
def make_commitment(
    request: Request,
    ctx: Annotated[Context, page_context(commitments.make, zone.record)],
    matter: Annotated[str, Form()] = "",
    department: Annotated[str, Form()] = "",
    licence_id: Annotated[str, Form()] = "",
    signatory: Annotated[str, Form()] = "",
) -> Response:
    """Make the commitment (``commitments.make``: a 告知承诺 runs the embedded check first)."""
    values = {"matter": matter, "department": department, "licence_id": licence_id, "signatory": signatory}
    try:
        body = ZoneCommitmentIn(
            matter=matter,
            department=department,
            licence_id=licence_id.strip() or None,
            signatory=signatory.strip() or None,
        )
        commitments.make(
            ctx,
            uscc=ctx.actor.uscc or "",
            matter=body.matter,
            department=body.department,
            licence_id=body.licence_id,
            signatory=body.signatory,
        )
    except ValidationError as exc:
        error = FormError.of_validation(exc)
    except DomainError as exc:
        ctx.session.rollback()
        error = FormError.of_domain(exc, "matter")
    else:
        return RedirectResponse("/ui/zone?done=commitment#commitments", status_code=303)
    return _commitment_form(request, zone.record(ctx), values, error)


# ------------------------------------------------------------------------------------------------ notice
def _notice_page(
    request: Request, view: ZoneView, case_id: str, values: Mapping[str, str], error: FormError | None = None
) -> HTMLResponse:
    found = [n for n in view.notices if n.case_id == case_id]
    if not found:
        # Not a prior notice of this entity (another's, or none): nothing to show.
        return page(
            request, "error.html", status=404, status_code=404, message=f"list case {case_id}: no notice"
        )
    return page(
        request,
        "zone/notice.html",
        status=error.status if error else 200,
        notice=found[0],
        values=values,
        error=error,
        limit=TEXT_MAX,
    )


@router.get("/notices/{case_id}")
def notice_page(
    request: Request, case_id: str, ctx: Annotated[Context, page_context(zone.record)]
) -> HTMLResponse:
    """A prior notice of the entity's own, with the statement form while it can still be made."""
    return _notice_page(request, zone.record(ctx), case_id, {"statement": ""})


@router.post("/notices/{case_id}/statement", dependencies=[CsrfDep])
def state(
    request: Request,
    case_id: str,
    ctx: Annotated[Context, page_context(lists.respond, zone.record)],
    statement: Annotated[str, Form()] = "",
) -> Response:
    """Record the statement (``lists.respond``), then back to the notice."""
    values = {"statement": statement}
    try:
        body = StatementIn(statement=statement)
        lists.respond(ctx, case_id, response=body.statement)
    except ValidationError as exc:
        error = FormError.of_validation(exc)
    except DomainError as exc:
        ctx.session.rollback()
        error = FormError.of_domain(exc, "statement")
        if error.status in (403, 404):
            return page(
                request, "error.html", status=error.status, status_code=error.status, message=exc.message
            )
    else:
        return RedirectResponse(f"/ui/zone/notices/{quote(case_id)}?done=stated", status_code=303)
    return _notice_page(request, zone.record(ctx), case_id, values, error)


# ------------------------------------------------------------------------------------------------ report
@router.get("/report")
def report_form(request: Request, ctx: Annotated[Context, page_context(zone.record)]) -> HTMLResponse:
    """The day and the format of the report."""
    view = zone.record(ctx)
    return page(request, "zone/report.html", view=view, values={"on": "", "format": "html"}, error=None)


@router.post("/report", dependencies=[CsrfDep])
def report(
    request: Request,
    ctx: Annotated[Context, page_context(reports.issue, zone.record)],
    on: Annotated[str, Form(max_length=32)] = "",
    format: Annotated[str, Form(max_length=8)] = "html",
) -> Response:
    """The report itself (``reports.issue``): shown in the browser (HTML) or downloaded (PDF); its number
    and hash in the headers and in the document."""
    values = {"on": on, "format": format}
    try:
        body = ZoneReportIn(on=on or None, format=format)  # type: ignore[arg-type]  # pydantic parses
        issued = reports.issue(ctx, uscc=ctx.actor.uscc or "", on=body.on, format=body.format)
    except ValidationError as exc:
        error = FormError.of_validation(exc)
    except DomainError as exc:
        ctx.session.rollback()
        error = FormError.of_domain(exc, "on")
    else:
        kind = "inline" if issued.format == "html" else "attachment"
        headers = {
            "X-Report-No": issued.report_no,
            "X-Report-Hash": issued.content_sha256,
            "Content-Disposition": f'{kind}; filename="{issued.report_no}.{issued.format}"',
            # The report is a document of its own (its styles inline), never a page that runs anything.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        }
        return Response(issued.content, media_type=issued.media_type, headers=headers)
    view = zone.record(ctx)
    return page(request, "zone/report.html", status=error.status, view=view, values=values, error=error)
