"""What the policy publishes, without a token: ``GET /public/commitments``, ``/public/measures``,
``/public/lists``, ``/public/court-debtors`` and ``/public/reports/{report_no}`` (verification by number).

Each route calls one use case of :mod:`serving.services.publication` as the anonymous public
(:func:`~serving.api.deps.public_context`: no token, rate-limited per client address, reads not audited).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from features.uscc import PATTERN
from serving.api.deps import public_context
from serving.api.errors import ERROR_STATUSES, ErrorBody
from serving.services import publication
from serving.services.context import Context
from serving.services.publication import CommitmentPage, ListingPage, MeasureCatalog, ReportCheck

# Anonymous callers are limited per client address (public_context): every route can answer 429.
router = APIRouter(
    prefix="/public",
    tags=["public"],
    responses={429: {"model": ErrorBody, "description": ERROR_STATUSES[429]}},
)

PageNo = Annotated[int, Query(ge=1, le=1_000_000, description="the page, from 1")]
PerPage = Annotated[
    int,
    Query(
        ge=1, le=publication.MAX_PER_PAGE, description=f"rows per page, at most {publication.MAX_PER_PAGE}"
    ),
]
UsccFilter = Annotated[
    str | None,
    Query(
        min_length=18,
        max_length=18,
        pattern=PATTERN,
        description="only this entity (统一社会信用代码)",
    ),
]
ReportNo = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=publication.REPORT_NO.pattern,
        description="the report number printed on the report (CR-<USCC>-<YYYYMMDD>-<10 hex>)",
    ),
]


@router.get("/commitments", summary="The 信用承诺 column: every commitment, made here or ingested (masked)")
def commitments(
    ctx: Annotated[Context, public_context(publication.commitments_column)],
    page: PageNo = 1,
    per_page: PerPage = 50,
) -> CommitmentPage:
    return publication.commitments_column(ctx, page=page, per_page=per_page)


@router.get(
    "/measures", summary="The catalogs of punishment (惩戒措施清单) and incentive (守信激励) measures"
)
def measures(ctx: Annotated[Context, public_context(publication.measures)]) -> MeasureCatalog:
    return publication.measures(ctx)


@router.get("/lists", summary="The red and black lists as published today (in force, minors' never shown)")
def lists(
    ctx: Annotated[Context, public_context(publication.published_lists)],
    list_type: Annotated[
        Literal["severe_dishonesty", "abnormal_operations", "red_list"] | None,
        Query(description="one list (default: all three)"),
    ] = None,
    uscc: UsccFilter = None,
    page: PageNo = 1,
    per_page: PerPage = 50,
) -> ListingPage:
    return publication.published_lists(ctx, list_type=list_type, uscc=uscc, page=page, per_page=per_page)


@router.get(
    "/court-debtors", summary="The court's list of dishonest judgment debtors (失信被执行人) in force"
)
def court_debtors(
    ctx: Annotated[Context, public_context(publication.court_debtors)],
    uscc: UsccFilter = None,
    page: PageNo = 1,
    per_page: PerPage = 50,
) -> ListingPage:
    return publication.court_debtors(ctx, uscc=uscc, page=page, per_page=per_page)


@router.get(
    "/reports/{report_no}",
    summary="Was a credit report with this number issued (when, for which USCC), and does a hash match?",
)
def verify_report(
    report_no: ReportNo,
    ctx: Annotated[Context, public_context(publication.verify_report)],
    hash: Annotated[
        str | None,
        Query(
            min_length=64,
            max_length=64,
            pattern="^[0-9a-fA-F]{64}$",
            description="the report's SHA-256 (optional): the answer says whether it matches",
        ),
    ] = None,
) -> ReportCheck:
    return publication.verify_report(ctx, report_no, content_hash=hash)
