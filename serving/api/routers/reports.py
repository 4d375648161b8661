"""Credit reports (信用报告): issue one as HTML or PDF (number and hash in headers), verify a report."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import context_dep
from serving.api.types import Uscc
from serving.services import reports
from serving.services.context import Context
from serving.services.reports import Verification

router = APIRouter(prefix="/reports", tags=["reports"])

ISSUED = {
    "description": "The report; score, tier and reasons only for supervisors and analysts",
    "content": {
        "text/html": {"schema": {"type": "string"}},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    },
    "headers": {
        "X-Report-No": {"description": "the report number", "schema": {"type": "string"}},
        "X-Report-Hash": {"description": "SHA-256 of the report's content", "schema": {"type": "string"}},
        "X-Score-As-Of": {
            "description": "the date of the score printed in the report (YYYY-MM-DD; absent without a score)",
            "schema": {"type": "string", "format": "date"},
        },
    },
}


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: Uscc
    on: date | None = Field(None, description="the day the report is as of; default: today (China)")
    format: Literal["html", "pdf"] = "html"


@router.post(
    "", response_class=Response, responses={200: ISSUED}, summary="Issue a credit report (HTML or PDF)"
)
def issue(body: ReportIn, ctx: Annotated[Context, context_dep(reports.issue)]) -> Response:
    report = reports.issue(ctx, uscc=body.uscc, on=body.on, format=body.format)
    headers = {"X-Report-No": report.report_no, "X-Report-Hash": report.content_sha256}
    if report.score_as_of is not None:
        headers["X-Score-As-Of"] = report.score_as_of.isoformat()
    return Response(report.content, media_type=report.media_type, headers=headers)


@router.get("/{report_no}/verify", summary="Was this report issued with this hash?")
def verify(
    report_no: Annotated[str, Path(min_length=1, max_length=64)],
    ctx: Annotated[Context, context_dep(reports.verify)],
    hash: Annotated[str, Query(min_length=64, max_length=64, pattern="^[0-9a-fA-F]{64}$")],
) -> Verification:
    return reports.verify(ctx, report_no, hash)
