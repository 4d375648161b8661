"""Credit reports (信用报告): issue one as HTML or PDF (number and hash in headers), verify a report."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from serving.api import lifecycle
from serving.api.deps import AnyRoleDep, Principal, SessionDep, SettingsDep, require_roles
from serving.api.trail import AuditDep, audited
from supervision import reports
from supervision.access import Role

router = APIRouter(prefix="/reports", tags=["reports"])
AUTHORISED = frozenset({Role.SUPERVISOR, Role.ANALYST})
IssueDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST, Role.SYSTEM)]


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: str = Field(min_length=18, max_length=18)
    on: date | None = None
    format: Literal["html", "pdf"] = "html"


@router.post("", dependencies=[audited("reports.issue")], summary="Issue a credit report (HTML or PDF)")
def issue(
    body: ReportIn, principal: IssueDep, session: SessionDep, settings: SettingsDep, trail: AuditDep
) -> Response:
    on = body.on or lifecycle.today()
    report = reports.build(
        session,
        lifecycle.sources(settings),
        uscc=body.uscc,
        on=on,
        issued_by=principal.actor,
        mask_name=lifecycle.name_masker(principal.role.value),
        # Score, tier and reasons for authorised readers only (score history or the latest score file).
        score=lifecycle.report_score(settings, body.uscc, on, session)
        if principal.role in AUTHORISED
        else None,
    )
    trail.record(session, target=f"uscc:{body.uscc}", details={"report_no": report.report_no})
    headers = {"X-Report-No": report.report_no, "X-Report-Hash": report.content_sha256}
    if body.format == "pdf":
        return Response(reports.render_pdf(report), media_type="application/pdf", headers=headers)
    return Response(reports.render_html(report), media_type="text/html; charset=utf-8", headers=headers)


@router.get("/{report_no}/verify", summary="Was this report issued with this hash?")
def verify(
    report_no: Annotated[str, Path(min_length=1, max_length=64)],
    principal: AnyRoleDep,
    session: SessionDep,
    hash: Annotated[str, Query(min_length=64, max_length=64, pattern="^[0-9a-fA-F]{64}$")],
) -> dict[str, Any]:
    return reports.verify(session, report_no, hash)
