"""The public pages (信用信息公示), open without signing in: an index, the 信用承诺 column, the catalogs of
punishment and incentive measures, the red and black lists, the court-debtor list and report verification.

Each page calls the same use case of :mod:`serving.services.publication` as the API's ``/public`` routes,
as the anonymous public (:func:`~serving.api.deps.public_context`, door ``web``: no cookie read, limited per
client address, reads not audited), so both show the same masked rows. A question the use case refuses (a
malformed report number, an unknown list) is the form again with the field's error and a 422; a query the
door cannot parse at all (a page that is not a number, a 10,000-character value) is the 422 error page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from serving.api.deps import PUBLIC, public_context
from serving.services import publication
from serving.services.context import Context
from serving.services.publication import PublicationError
from serving.web.render import page
from supervision.platform.clock import CHINA

router = APIRouter(prefix="/ui/public", include_in_schema=False)

PER_PAGE = 50
PageNo = Annotated[int, Query(alias="page", ge=1, le=1_000_000)]
# Generous bounds at the door: within them a bad value is the form's field error, beyond them a 422 page.
Text = Annotated[str, Query(max_length=500)]

# The message of a refused field, by the field the use case names.
FIELD_ERRORS = {
    "report_no": "public.verify.bad_number",
    "hash": "public.verify.bad_hash",
    "list_type": "public.lists.bad_type",
}


def _pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


@router.get("", dependencies=[PUBLIC])
def index(request: Request) -> HTMLResponse:
    """Links to every public page (and to the 双公示 search)."""
    return page(request, "public/index.html")


@router.get("/commitments")
def commitments(
    request: Request,
    ctx: Annotated[Context, public_context(publication.commitments_column, door="web")],
    page_no: PageNo = 1,
) -> HTMLResponse:
    result = publication.commitments_column(ctx, page=page_no, per_page=PER_PAGE)
    return page(
        request,
        "public/commitments.html",
        result=result,
        pages=_pages(result.total, result.per_page),
        query={},
    )


@router.get("/measures")
def measures(
    request: Request, ctx: Annotated[Context, public_context(publication.measures, door="web")]
) -> HTMLResponse:
    return page(request, "public/measures.html", catalog=publication.measures(ctx))


@router.get("/lists")
def lists(
    request: Request,
    ctx: Annotated[Context, public_context(publication.published_lists, door="web")],
    list_type: Text = "",
    page_no: PageNo = 1,
) -> HTMLResponse:
    """The red and black lists in force today, all three or one (``?list_type=``)."""
    chosen = list_type.strip() or None
    try:
        result = publication.published_lists(ctx, list_type=chosen, page=page_no, per_page=PER_PAGE)
    except PublicationError as exc:
        return page(
            request,
            "public/lists.html",
            status=422,
            title="public.lists.title",
            action="/ui/public/lists",
            choices=publication.PUBLISHED_LISTS,
            chosen=chosen or "",
            result=None,
            pages=1,
            query={},
            error=FIELD_ERRORS.get(exc.field or "", "public.lists.bad_type"),
            error_field=exc.field or "list_type",
        )
    return page(
        request,
        "public/lists.html",
        title="public.lists.title",
        action="/ui/public/lists",
        choices=publication.PUBLISHED_LISTS,
        chosen=chosen or "",
        result=result,
        pages=_pages(result.total, result.per_page),
        query={"list_type": chosen} if chosen else {},
        error=None,
        error_field=None,
    )


@router.get("/court-debtors")
def court_debtors(
    request: Request,
    ctx: Annotated[Context, public_context(publication.court_debtors, door="web")],
    page_no: PageNo = 1,
) -> HTMLResponse:
    result = publication.court_debtors(ctx, page=page_no, per_page=PER_PAGE)
    return page(
        request,
        "public/lists.html",
        title="public.court.title",
        action="/ui/public/court-debtors",
        choices=(),
        chosen="",
        result=result,
        pages=_pages(result.total, result.per_page),
        query={},
        error=None,
        error_field=None,
    )


@router.get("/verify")
def verify(
    request: Request,
    ctx: Annotated[Context, public_context(publication.verify_report, door="web")],
    report_no: Text = "",
    hash: Text = "",
) -> HTMLResponse:
    """A GET form: a report number (and optionally its hash) → whether, when and for whom it was issued."""
    number, digest = report_no.strip(), hash.strip()
    if not number:
        return page(
            request,
            "public/verify.html",
            report_no="",
            hash=digest,
            result=None,
            error=None,
            error_field=None,
        )
    try:
        result = publication.verify_report(ctx, number, content_hash=digest or None)
    except PublicationError as exc:
        return page(
            request,
            "public/verify.html",
            status=422,
            report_no=number,
            hash=digest,
            result=None,
            error=FIELD_ERRORS.get(exc.field or "", "public.verify.bad_number"),
            error_field=exc.field or "report_no",
        )
    # Issued at, in China (the pages' one clock), not the stored UTC instant.
    issued_at = result.issued_at.astimezone(CHINA) if result.issued_at is not None else None
    return page(
        request,
        "public/verify.html",
        report_no=number,
        hash=digest,
        result=result,
        issued_at=issued_at,
        error=None,
        error_field=None,
    )
