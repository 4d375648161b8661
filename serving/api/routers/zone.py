"""The credit service zone (信用服务专区): the regulated entity's own record, and what it files.

Every route admits the entity only (an entity token bound to one USCC): the USCC is always the token's, never
a field of the body. Each action is the staff's own use case (objections.file, commitments.make,
lists.respond, reports.issue), which admits the entity on its own objects; the route intersects its roles
with ``zone.record``'s so a staff token is refused here (403), as an entity token is on the staff's routes.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import context_dep
from serving.services import commitments, lists, objections, reports, zone
from serving.services.commitments import CommitmentView
from serving.services.context import Context
from serving.services.objections import ObjectionView
from serving.services.zone import ZoneView

router = APIRouter(prefix="/zone", tags=["zone"])
CaseId = Annotated[str, Path(min_length=1, max_length=40)]

ISSUED = {
    "description": "The entity's own credit report, without any risk classification",
    "content": {
        "text/html": {"schema": {"type": "string"}},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    },
    "headers": {
        "X-Report-No": {"description": "the report number", "schema": {"type": "string"}},
        "X-Report-Hash": {"description": "SHA-256 of the report's content", "schema": {"type": "string"}},
    },
}

# The longest free text the entity may send (grounds, statements): the staff routes' limit.
TEXT_MAX = 4000


def _uscc(ctx: Context) -> str:
    uscc = ctx.actor.uscc
    assert uscc is not None  # an entity identity without its USCC is refused before the route runs
    return uscc


class ZoneObjectionIn(BaseModel):
    """An objection against one record of the entity's own credit record."""

    model_config = ConfigDict(extra="forbid")

    record_table: str = Field(min_length=1, max_length=32, examples=["penalties"])
    record_id: str = Field(min_length=1, max_length=128)
    grounds: str = Field(min_length=1, max_length=TEXT_MAX, description="why the record is wrong")


class ZoneCommitmentIn(BaseModel):
    """A commitment on a template, made by the entity to a department of the platform."""

    model_config = ConfigDict(extra="forbid")

    matter: str = Field(min_length=1, max_length=64, examples=["voluntary"])
    department: str = Field(min_length=1, max_length=128, description="the department it is made to")
    licence_id: str | None = Field(None, min_length=1, max_length=128)
    signatory: str | None = Field(None, min_length=1, max_length=100)


class StatementIn(BaseModel):
    """The entity's statement (陈述申辩) on a prior notice."""

    model_config = ConfigDict(extra="forbid")

    statement: str = Field(min_length=1, max_length=TEXT_MAX)


class StatementView(BaseModel):
    """The case the statement was recorded on."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    list_type: str
    department: str
    status: str
    response_due: date
    response: str | None


class ZoneReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date | None = Field(None, description="the day the report is as of; default: today (China)")
    format: Literal["html", "pdf"] = "html"


@router.get(
    "/record", summary="The entity's own credit record, deadlines and filings (no risk classification)"
)
def record(ctx: Annotated[Context, context_dep(zone.record)]) -> ZoneView:
    return zone.record(ctx)


@router.post(
    "/objections",
    status_code=status.HTTP_201_CREATED,
    summary="Object to a record of one's own (handled by the department that produced it)",
)
def file_objection(
    body: ZoneObjectionIn, ctx: Annotated[Context, context_dep(objections.file, zone.record)]
) -> ObjectionView:
    return objections.file(
        ctx, uscc=_uscc(ctx), record_table=body.record_table, record_id=body.record_id, grounds=body.grounds
    )


@router.post(
    "/commitments",
    status_code=status.HTTP_201_CREATED,
    summary="Make a commitment on a template (a 告知承诺 runs the embedded check first)",
)
def make_commitment(
    body: ZoneCommitmentIn, ctx: Annotated[Context, context_dep(commitments.make, zone.record)]
) -> CommitmentView:
    made = commitments.make(
        ctx,
        uscc=_uscc(ctx),
        matter=body.matter,
        department=body.department,
        licence_id=body.licence_id,
        signatory=body.signatory,
    )
    return CommitmentView.model_validate(made.model_dump(exclude={"check"}))


@router.post(
    "/notices/{case_id}/statement",
    summary="State one's case (陈述申辩) on a prior notice, by its response deadline",
)
def state(
    case_id: CaseId, body: StatementIn, ctx: Annotated[Context, context_dep(lists.respond, zone.record)]
) -> StatementView:
    view = lists.respond(ctx, case_id, response=body.statement)
    return StatementView.model_validate(view.model_dump())


@router.post(
    "/report",
    response_class=Response,
    responses={200: ISSUED},
    summary="Download one's own credit report (no risk classification; its number and hash verify)",
)
def report(body: ZoneReportIn, ctx: Annotated[Context, context_dep(reports.issue, zone.record)]) -> Response:
    issued = reports.issue(ctx, uscc=_uscc(ctx), on=body.on, format=body.format)
    suffix = "pdf" if issued.format == "pdf" else "html"
    headers = {
        "X-Report-No": issued.report_no,
        "X-Report-Hash": issued.content_sha256,
        "Content-Disposition": f'attachment; filename="{issued.report_no}.{suffix}"',
    }
    return Response(issued.content, media_type=issued.media_type, headers=headers)
