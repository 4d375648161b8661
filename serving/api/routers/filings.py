"""What entities file in the credit service zone, and the department's queue of it.

``POST /zone/repairs`` (multipart: the application's fields and a document per repair route) and
``POST /zone/self-reports`` (multipart: topic, content, documents) for the entity; ``GET /documents/{sha256}``
serves a document back as an attachment of its stored type (never a page); ``GET /self-reports``,
``POST /self-reports/{report_id}/verify|reject`` and ``GET /queues`` for the department. Every route calls
one use case (:mod:`serving.services.repairs`, :mod:`~serving.services.self_reports`,
:mod:`~serving.services.filings`, :mod:`~serving.services.queues`).

Uploads make bodies larger than the API's ``max_body_bytes``: :class:`serving.api.limits.BodySizeLimits` lets
the upload routes (and their pages) take up to ``upload_max_body_bytes`` and keeps every other route under the
usual limit.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile, status
from pydantic import ConfigDict, Field

from serving.api.deps import context_dep
from serving.api.types import OnIn, Uscc
from serving.services import filings, queues, repairs, self_reports
from serving.services.context import Context
from serving.services.filings import RepairableRecord, Upload
from serving.services.queues import Queue
from serving.services.repairs import RepairView
from serving.services.self_reports import SelfReportView, SubmittedReport
from supervision.lifecycle.self_reports import CONTENT_MAX, DOCUMENTS_MAX, TOPICS
from supervision.platform.errors import DomainError

router = APIRouter(tags=["filings"])

ReportId = Annotated[str, Path(min_length=1, max_length=40)]
Sha256 = Annotated[str, Path(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
# The repair routes a document may be attached for ([repair_conditions.catalog] of the shipped policy).
ROUTES = ("credit_training", "credit_report", "public_service")
# The POST paths whose bodies carry documents (the API's and the pages'): their body limit is
# `upload_max_body_bytes` (serving/api/limits.py BodySizeLimits).
UPLOAD_PATHS = frozenset(
    {"/zone/repairs", "/zone/self-reports", "/ui/zone/repairs/new", "/ui/zone/self-reports/new"}
)


def read_upload(file: UploadFile | None, limit: int) -> Upload | None:
    """The upload's bytes, read no further than one byte past `limit` (the check refuses it then); None for
    an empty file input (no file chosen)."""
    if file is None or (not file.filename and not file.size):
        return None
    content = file.file.read(limit + 1)
    return Upload(filename=file.filename, content=content, declared_type=file.content_type)


def route_uploads(limit: int, **files: UploadFile | None) -> dict[str, Upload]:
    """``document_<route>`` form files → route → upload (the routes given a file only)."""
    out = {}
    for field, file in files.items():
        upload = read_upload(file, limit)
        if upload is not None:
            out[field.removeprefix("document_")] = upload
    return out


@router.post(
    "/zone/repairs",
    status_code=status.HTTP_201_CREATED,
    summary="Apply for repair with documents (multipart: fields and one document per repair route)",
)
def apply_with_documents(
    ctx: Annotated[Context, context_dep(repairs.apply)],
    record_table: Annotated[Literal["penalties", "list_entries"], Form()],
    record_id: Annotated[str, Form(min_length=1, max_length=128)],
    commitment: Annotated[
        str, Form(min_length=1, max_length=4000, description="the public credit commitment")
    ],
    obligations_evidence: Annotated[
        str, Form(min_length=1, max_length=4000, description="e.g. the fine receipt number")
    ],
    uscc: Annotated[
        Uscc | None, Form(description="default: the entity's own (staff name the entity)")
    ] = None,
    document_credit_training: Annotated[
        UploadFile | None, File(description="credit repair training certificate (PDF, JPEG, PNG)")
    ] = None,
    document_credit_report: Annotated[
        UploadFile | None, File(description="credit report of a credit-service agency (PDF, JPEG, PNG)")
    ] = None,
    document_public_service: Annotated[
        UploadFile | None, File(description="proof of public-interest service (PDF, JPEG, PNG)")
    ] = None,
) -> RepairView:
    """The entity applies for one of its own records, dated today. Refused (不予受理, 422) before the
    record's earliest eligible date (the message names the date) and without a document of each route
    the record's regime requires (the field ``document_<route>`` is named)."""
    documents = route_uploads(
        ctx.settings.document_max_bytes,
        document_credit_training=document_credit_training,
        document_credit_report=document_credit_report,
        document_public_service=document_public_service,
    )
    owner = uscc or ctx.actor.uscc
    if owner is None:
        raise DomainError("uscc: required (the entity the record belongs to)", field="uscc")
    return repairs.apply(
        ctx,
        uscc=owner,
        record_table=record_table,
        record_id=record_id,
        commitment=commitment,
        obligations_evidence=obligations_evidence,
        documents=documents,
    )


@router.get("/zone/repairs/records", summary="The entity's records a repair may be applied for")
def repairable(
    ctx: Annotated[Context, context_dep(filings.repairable_records)],
    uscc: Annotated[Uscc | None, Query(description="default: the entity's own")] = None,
) -> list[RepairableRecord]:
    owner = uscc or ctx.actor.uscc
    if owner is None:
        raise DomainError("uscc: required (the entity whose records)", field="uscc")
    return filings.repairable_records(ctx, uscc=owner)


@router.post(
    "/zone/self-reports",
    status_code=status.HTTP_201_CREATED,
    summary="Submit voluntary information (自愿注册; multipart: topic, content, optional documents)",
)
def submit_self_report(
    ctx: Annotated[Context, context_dep(self_reports.submit)],
    topic: Annotated[
        Literal[TOPICS],  # type: ignore[valid-type]  # the catalog's topics, fixed at import
        Form(description="a topic of the catalog's self_reports table"),
    ],
    content: Annotated[str, Form(min_length=1, max_length=CONTENT_MAX)],
    documents: Annotated[
        list[UploadFile] | None,
        File(description=f"up to {DOCUMENTS_MAX} documents (PDF, JPEG, PNG), e.g. the certificate"),
    ] = None,
) -> SubmittedReport:
    """Submitted for the entity's own USCC; the topic's department verifies it (or rejects it with a reason)
    within the policy's working days, and only then does it enter the lake."""
    uploads = [read_upload(f, ctx.settings.document_max_bytes) for f in documents or []]
    given = [u for u in uploads if u is not None]
    if len(given) > DOCUMENTS_MAX:
        raise DomainError(f"documents: at most {DOCUMENTS_MAX}", field="documents")
    assert ctx.actor.uscc is not None  # the service admits the entity only, always bound to a USCC
    return self_reports.submit(
        ctx,
        uscc=ctx.actor.uscc,
        topic=topic,
        content=content,
        documents={f"document_{i + 1}": u for i, u in enumerate(given)},
    )


class SelfReportRejectIn(OnIn):
    """A rejection: the reason the entity is told."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


@router.get("/self-reports", summary="Self-reports: the department's (staff) or the entity's own")
def list_self_reports(
    ctx: Annotated[Context, context_dep(self_reports.list_reports)],
    status_: Annotated[Literal["submitted", "verified", "rejected"] | None, Query(alias="status")] = None,
) -> list[SelfReportView]:
    return self_reports.list_reports(ctx, status=status_)


@router.post("/self-reports/{report_id}/verify", summary="Verify a self-report: it enters the lake")
def verify_self_report(
    report_id: ReportId, body: OnIn, ctx: Annotated[Context, context_dep(self_reports.verify)]
) -> SelfReportView:
    return self_reports.verify(ctx, report_id, on=body.on, backdate_reason=body.backdate_reason)


@router.post("/self-reports/{report_id}/reject", summary="Reject a self-report with a reason")
def reject_self_report(
    report_id: ReportId, body: SelfReportRejectIn, ctx: Annotated[Context, context_dep(self_reports.reject)]
) -> SelfReportView:
    return self_reports.reject(
        ctx, report_id, reason=body.reason, on=body.on, backdate_reason=body.backdate_reason
    )


DOCUMENT_RESPONSE = {
    200: {
        "description": "the document, as an attachment of its stored type (never rendered as a page)",
        "content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}},
    }
}


def document_response(file: filings.DocumentFile) -> Response:
    """A document as a download: its stored type, ``attachment``, ``nosniff``, no caching by others."""
    ascii_name = file.filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return Response(
        file.content,
        media_type=file.media_type,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file.filename)}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/documents/{sha256}",
    summary="One document (staff; the entity it was uploaded for)",
    response_class=Response,
    responses=DOCUMENT_RESPONSE,  # type: ignore[arg-type]
)
def get_document(sha256: Sha256, ctx: Annotated[Context, context_dep(filings.get_document)]) -> Response:
    return document_response(filings.get_document(ctx, sha256))


@router.get("/queues", summary="The department's open filings, each with its clock in working days")
def list_queue(
    ctx: Annotated[Context, context_dep(queues.list_queue)],
    kind: Annotated[Literal["objection", "repair", "self_report", "statement"] | None, Query()] = None,
) -> Queue:
    return queues.list_queue(ctx, kind=kind)
