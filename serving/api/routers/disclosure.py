"""双公示: register decisions from the lake, publish or withdraw one, the overdue reports, the public export
and the public search (no token)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import ConfigDict, Field

from serving.api.deps import context_dep, public_context
from serving.api.types import OnIn
from serving.services import disclosure
from serving.services.context import Context
from serving.services.disclosure import (
    MAX_DEPARTMENT,
    MAX_OVERDUE,
    MAX_PAGE,
    MAX_PER_PAGE,
    MAX_Q,
    DisclosureView,
    KindSlug,
    OverdueDepartment,
    OverdueRecord,
    PublicDecision,
    RecordTable,
    Registered,
    SearchPage,
)
from supervision.lifecycle.disclosure import REASON_MAX

router = APIRouter(prefix="/disclosure", tags=["disclosure"])


class DisclosureWithdrawIn(OnIn):
    """The body of a withdrawal: its day (default today) and the reason stated (SAMR Order 45 art 11)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=REASON_MAX, examples=["异议成立，原处罚决定已撤销"])


@router.post("/register", summary="Register the lake's new decisions of the ten kinds; note revocations")
def register(ctx: Annotated[Context, context_dep(disclosure.register)]) -> Registered:
    return disclosure.register(ctx)


@router.post("/{record_table}/{record_id}/publish", summary="Mark a decision of the department published")
def publish(
    record_table: RecordTable,
    record_id: Annotated[str, Path(min_length=1, max_length=128)],
    body: OnIn,
    ctx: Annotated[Context, context_dep(disclosure.publish)],
) -> DisclosureView:
    return disclosure.publish(ctx, record_table, record_id, on=body.on, backdate_reason=body.backdate_reason)


@router.post(
    "/{record_table}/{record_id}/withdraw",
    summary="Withdraw a (revoked or changed) decision of the department from publication",
)
def withdraw(
    record_table: RecordTable,
    record_id: Annotated[str, Path(min_length=1, max_length=128)],
    body: DisclosureWithdrawIn,
    ctx: Annotated[Context, context_dep(disclosure.withdraw)],
) -> DisclosureView:
    return disclosure.withdraw(
        ctx, record_table, record_id, reason=body.reason, on=body.on, backdate_reason=body.backdate_reason
    )


@router.get("/overdue", summary="Per department: decisions past their publication or withdrawal deadline")
def overdue(
    ctx: Annotated[Context, context_dep(disclosure.overdue)], on: Annotated[date | None, Query()] = None
) -> list[OverdueDepartment]:
    return disclosure.overdue(ctx, on=on)


@router.get("/overdue/records", summary="Every missed deadline: the decision and the clock it missed")
def overdue_records(
    ctx: Annotated[Context, context_dep(disclosure.overdue_records)],
    on: Annotated[date | None, Query()] = None,
    department: Annotated[str | None, Query(min_length=1, max_length=MAX_DEPARTMENT)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_OVERDUE)] = 1000,
) -> list[OverdueRecord]:
    return disclosure.overdue_records(ctx, on=on, department=department, limit=limit)


@router.get("/public", summary="Published decisions of the ten kinds (personal data masked)")
def public(
    ctx: Annotated[Context, public_context(disclosure.public_decisions)],
    on: Annotated[date | None, Query()] = None,
) -> list[PublicDecision]:
    return disclosure.public_decisions(ctx, on=on)


@router.get("/search", summary="Public search of 双公示 (no token): the ten kinds, paged")
def search(
    ctx: Annotated[Context, public_context(disclosure.search)],
    kind: Annotated[KindSlug | None, Query(description="one of the ten kinds")] = None,
    q: Annotated[
        str | None,
        Query(max_length=MAX_Q, description="part of the party's name, the title, the record id or the USCC"),
    ] = None,
    department: Annotated[
        str | None, Query(max_length=MAX_DEPARTMENT, description="the deciding authority (exact)")
    ] = None,
    decided_from: Annotated[date | None, Query()] = None,
    decided_to: Annotated[date | None, Query()] = None,
    on: Annotated[date | None, Query(description="the day shown (default: today in China)")] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 20,
) -> SearchPage:
    return disclosure.search(
        ctx,
        kind=kind,
        q=q,
        department=department,
        decided_from=decided_from,
        decided_to=decided_to,
        on=on,
        page=page,
        per_page=per_page,
    )
