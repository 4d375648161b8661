"""Data exchange (一张网): push a batch of records, read a pushed batch's answer, pull the change feed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import context_dep
from serving.services import exchange
from serving.services.context import Context
from serving.services.exchange import BatchAnswer, FeedPage

router = APIRouter(prefix="/exchange", tags=["exchange"])

Value = str | int | float | bool | None


class BatchIn(BaseModel):
    """Rows of one catalog table, each an object of its fields (docs/catalog.md); values text, numbers,
    booleans or null. Limits: `exchange_max_rows` rows and `exchange_max_bytes` bytes (settings)."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(min_length=1, max_length=32, examples=["penalties"])
    rows: list[dict[str, Value]] = Field(min_length=1)


@router.post(
    "/batches",
    status_code=status.HTTP_201_CREATED,
    summary="Push a batch of records (the same checks and quarantine as a file ingest; idempotent)",
    responses={200: {"model": BatchAnswer, "description": "the same batch was pushed before: its answer"}},
)
def push_batch(
    body: BatchIn, response: Response, ctx: Annotated[Context, context_dep(exchange.push)]
) -> BatchAnswer:
    rows: list[dict[str, Any]] = [dict(r) for r in body.rows]
    answer = exchange.push(ctx, table=body.table, rows=rows)
    if answer.status == "already_ingested":
        response.status_code = status.HTTP_200_OK
    return answer


@router.get("/batches/{batch_id}", summary="A pushed batch's answer (read, accepted, quarantined rows)")
def get_batch(
    batch_id: Annotated[str, Path(min_length=1, max_length=60, pattern=r"^[a-z_]+-[0-9a-f]{16}$")],
    ctx: Annotated[Context, context_dep(exchange.batch)],
) -> BatchAnswer:
    return exchange.batch(ctx, batch_id)


@router.get(
    "/feed", summary="What changed after a cursor: records with their legal state, list events, decisions"
)
def get_feed(
    ctx: Annotated[Context, context_dep(exchange.feed)],
    cursor: Annotated[str | None, Query(max_length=100, description="next_cursor of the last page")] = None,
    limit: Annotated[int, Query(ge=1, le=exchange.FEED_MAX)] = 500,
) -> FeedPage:
    return exchange.feed(ctx, cursor=cursor, limit=limit)
