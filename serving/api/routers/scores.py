"""Batch look-up of stored scores, and the serving champion's metadata."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import context_dep
from serving.api.routers.entities import SCORE_AS_OF, Out, StoredScore
from serving.api.trail import audited
from serving.services import models, scoring
from serving.services.context import Context

router = APIRouter(tags=["scores"])


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usccs: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1,
        max_length=scoring.MAX_BATCH,
        description=f"1 to {scoring.MAX_BATCH} codes; answered in the same order",
    )


class BatchItem(Out):
    uscc: str
    status: Literal["ok", "invalid", "not_scored"]
    message: str | None = Field(None, description="why there is no score")
    score_as_of: date | None = Field(None, description=f"{SCORE_AS_OF}; null without a score")
    score: StoredScore | None = None


class BatchOut(Out):
    as_of: date | None = Field(
        description="date of the score file answered from (null: none exists); an item re-scored after a "
        "decision since then says its own `score_as_of`"
    )
    found: int
    items: list[BatchItem]


class ChampionOut(Out):
    serving: bool = Field(description="whether a model is loaded and serving explanations")
    version: str | None
    loaded_at: datetime | None
    registry_champion: str | None = Field(
        description="the registry's champion alias (differs from `version` only after a failed load)"
    )
    last_error: str | None = Field(description="why the latest load failed, if it did")
    metrics: dict[str, float | None] = Field(description="test metrics of the serving version")
    promoted_by: str | None = None
    promoted_why: str | None = None
    scores_as_of: date | None = Field(description="date of the newest stored score file")
    scores_model_version: str | None = Field(description="the model version that wrote the stored scores")


@router.post(
    "/scores/batch",
    dependencies=[audited("scores.batch")],
    summary="Stored scores of a list of USCCs (unknown codes reported per item)",
)
def batch(body: BatchIn, ctx: Annotated[Context, context_dep(scoring.batch)]) -> BatchOut:
    return BatchOut.model_validate(scoring.batch(ctx, body.usccs))


@router.get("/models/champion", summary="The serving champion: version, metrics, when it was loaded")
def champion(ctx: Annotated[Context, context_dep(models.champion)]) -> ChampionOut:
    return ChampionOut.model_validate(models.champion(ctx))
