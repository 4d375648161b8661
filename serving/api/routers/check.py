"""逢办必查: ``POST /check`` for other government systems, the outbox ``GET /events``, the measure catalogs
(restrictions, incentives)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import context_dep
from serving.api.types import Uscc
from serving.services import checks, lists
from serving.services.checks import CheckView, IncentiveView, MeasureView
from serving.services.context import Context
from serving.services.lists import ListEventView
from supervision.lifecycle.restrictions import MATTERS

router = APIRouter(tags=["check"])
# A document named as missing (容缺受理): its name as the matter's list of documents has it.
MissingDocuments = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200)]] | None,
    Field(
        None,
        max_length=50,
        description="documents missing at filing: accepted (容缺受理) only for entities the incentive "
        "catalog allows, otherwise the answer says they are required",
    ),
]


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: Uscc
    matter: str = Field(min_length=1, max_length=32, examples=list(MATTERS))
    on: date | None = Field(None, description="default: today (China)")
    missing_documents: MissingDocuments = None


@router.post("/check", summary="Restrictions, incentives, tier and list statuses in one call")
def check(body: CheckIn, ctx: Annotated[Context, context_dep(checks.check)]) -> CheckView:
    return checks.check(
        ctx, uscc=body.uscc, matter=body.matter, on=body.on, missing_documents=body.missing_documents
    )


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


@router.get("/restrictions/incentives", summary="The catalog of incentive measures (守信激励措施)")
def incentives(ctx: Annotated[Context, context_dep(checks.incentives)]) -> list[IncentiveView]:
    return checks.incentives(ctx)
