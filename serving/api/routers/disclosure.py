"""双公示: register decisions from the lake, publish one, the overdue report by department, the public
export."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from serving.api.deps import context_dep, public_context
from serving.api.types import OnIn
from serving.services import disclosure
from serving.services.context import Context
from serving.services.disclosure import (
    DisclosureView,
    OverdueDepartment,
    PublicDecision,
    RecordTable,
    Registered,
)

router = APIRouter(prefix="/disclosure", tags=["disclosure"])


@router.post("/register", summary="Register the lake's new licence and penalty decisions")
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


@router.get("/overdue", summary="Per department: decisions past their publication deadline")
def overdue(
    ctx: Annotated[Context, context_dep(disclosure.overdue)], on: Annotated[date | None, Query()] = None
) -> list[OverdueDepartment]:
    return disclosure.overdue(ctx, on=on)


@router.get("/public", summary="Published licences and penalties (personal data masked)")
def public(
    ctx: Annotated[Context, public_context(disclosure.public_decisions)],
    on: Annotated[date | None, Query()] = None,
) -> list[PublicDecision]:
    return disclosure.public_decisions(ctx, on=on)
