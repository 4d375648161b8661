"""Credit reports (信用报告): issue one as HTML or PDF (its number and hash are stored), verify a report.

The regulated entity downloads its own report (its USCC only); its copy, as every unauthorised reader's,
has no score section, and its number and hash verify like any other. Score, tier and reasons are for
authorised readers only (supervisors and analysts), with the date of the score used (``score_as_of``: the
current score's, :mod:`serving.services.current_score`); personal names are masked as the reader's role
sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from serving.services.context import Context, own_entity, use_case
from serving.services.lifecycle_types import name_masker, read_day, stored_score
from supervision.lifecycle import reports
from supervision.platform.access import Role
from supervision.platform.errors import ForbiddenError

__all__ = ["AUTHORISED", "ReportFile", "Verification", "issue", "verify"]

ISSUERS = (Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST, Role.SYSTEM, Role.ENTITY)
AUTHORISED = frozenset({Role.SUPERVISOR, Role.ANALYST})
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


@dataclass(frozen=True)
class ReportFile:
    """An issued report: its number, verification hash and the rendered document; ``score_as_of`` is the
    date of the score printed in it (None: no score in it)."""

    report_no: str
    content_sha256: str
    format: Literal["html", "pdf"]
    media_type: str
    content: bytes
    with_score: bool
    score_as_of: date | None = None


class Verification(BaseModel):
    """Whether a report with this number was issued with this hash."""

    model_config = ConfigDict(frozen=True)

    report_no: str
    issued: bool
    valid: bool
    uscc: str | None = None
    as_of: date | None = None
    generated_at: datetime | None = None


@use_case("reports.issue", roles=ISSUERS)
def issue(
    ctx: Context,
    *,
    uscc: str,
    on: date | None = None,
    format: Literal["html", "pdf"] = "html",
    with_score: bool | None = None,
) -> ReportFile:
    """Issue the entity's report as of `on`. The score is in it for authorised readers (`with_score` None:
    when the reader is one; True: required, refused to others; False: never). The entity: its own USCC."""
    own_entity(ctx, uscc, what=f"the credit report of {uscc}")
    authorised = ctx.actor.role in AUTHORISED
    if with_score and not authorised:
        raise ForbiddenError(
            f"with_score: score, tier and reasons are for "
            f"{', '.join(sorted(r.value for r in AUTHORISED))} only",
            field="with_score",
        )
    day = read_day(ctx, on)
    include = authorised if with_score is None else with_score
    report = reports.build(
        ctx.session,
        ctx.sources(),
        uscc=uscc,
        on=day,
        issued_by=ctx.actor.actor,
        mask_name=name_masker(ctx.actor.audience),
        score=stored_score(ctx, uscc, day) if include else None,
        now=ctx.clock.now(),
    )
    score_as_of = report.score.as_of if report.score is not None else None
    content = reports.render_pdf(report) if format == "pdf" else reports.render_html(report).encode("utf-8")
    ctx.audit(
        "reports.issue",
        target=f"uscc:{uscc}",
        details={
            "report_no": report.report_no,
            "format": format,
            "with_score": report.score is not None,
            "score_as_of": None if score_as_of is None else score_as_of.isoformat(),
        },
    )
    return ReportFile(
        report_no=report.report_no,
        content_sha256=report.content_sha256,
        format=format,
        media_type=MEDIA_TYPES[format],
        content=content,
        with_score=report.score is not None,
        score_as_of=score_as_of,
    )


@use_case("reports.verify", roles=None)
def verify(ctx: Context, report_no: str, content_hash: str) -> Verification:
    """Was a report with this number issued with this hash?"""
    result = Verification.model_validate(reports.verify(ctx.session, report_no, content_hash))
    ctx.audit("reports.verify", target=f"report:{report_no}", details={"valid": result.valid}, read=True)
    return result
