"""逢办必查: ``POST /check`` for other government systems, the outbox ``GET /events``, the measure catalog."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import context_dep
from serving.api.types import Uscc
from serving.services import checks, lists
from serving.services.checks import CheckView, MeasureView
from serving.services.context import Context
from serving.services.lists import ListEventView
from supervision.lifecycle.restrictions import MATTERS

router = APIRouter(tags=["check"])


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: Uscc
    matter: str = Field(min_length=1, max_length=32, examples=list(MATTERS))
    on: date | None = Field(None, description="default: today (China)")


@router.post("/check", summary="Restrictions, tier and list statuses in one call")
def check(body: CheckIn, ctx: Annotated[Context, context_dep(checks.check)]) -> CheckView:
    return checks.check(ctx, uscc=body.uscc, matter=body.matter, on=body.on)


@router.get("/events", summary="List enter/exit events after an id (poll; keep the last id seen)")
def events(
    ctx: Annotated[Context, context_dep(lists.events)],
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[ListEventView]:
    return lists.events(ctx, after=after, limit=limit)


@router.get("/restrictions", summary="The catalog of restriction measures (惩戒措施清单)")
def catalog(ctx: Annotated[Context, context_dep(checks.catalog)]) -> list[MeasureView]:
    return checks.catalog(ctx)
