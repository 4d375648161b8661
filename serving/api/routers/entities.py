"""Entities: search, the profile with records by category, the stored score, the full explanation, related
parties and the score history — each route one call of :mod:`serving.services.entities`, which checks the
caller's role, masks for it and audits every read of one entity's detail."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from serving.api.deps import context_dep, get_engine, request_context, require_roles
from serving.api.trail import audited
from serving.api.types import UsccPath
from serving.services import entities as service
from serving.services.context import Context
from serving.services.current_score import ScoreStore, score_store
from supervision.platform.access import Principal

router = APIRouter(prefix="/entities", tags=["entities"])


# --------------------------------------------------------------------------------------------- models
class Out(BaseModel):
    """A response read from a service's result (a frozen dataclass)."""

    model_config = ConfigDict(from_attributes=True)


class EntitySummary(Out):
    uscc: str
    name: str | None
    entity_type: str | None
    industry: str | None
    division_code: str | None
    status: str | None


class SearchOut(Out):
    query: str
    total: int = Field(description="matches in the register (at most `limit` are listed)")
    entities: list[EntitySummary]


class Reason(Out):
    feature: str = Field(
        description="the feature (conduct only), the policy override's name, or `baseline`: the structural "
        "attributes (entity type, industry, division, capital, age) summed into one line"
    )
    dimension: str
    value: str | float | int | None = None
    contribution: float | None = Field(description="log-odds; null for a policy override")
    zh: str
    en: str


class EntityProfile(Out):
    uscc: str
    registration: dict[str, Any] = Field(description="the register row, masked for the caller's role")
    records: dict[str, list[dict[str, Any]]] = Field(
        description="records by category (catalog table), newest first, masked for the caller's role"
    )
    counts: dict[str, int]


SCORE_AS_OF = "the date of the score whose tier this answer carries (the current score's features' date)"


class StoredScore(Out):
    uscc: str
    as_of: date = Field(description="the features' date")
    score_as_of: date = Field(description=SCORE_AS_OF)
    tier: str
    model_tier: str | None = None
    probability: float = Field(ge=0, le=1, description="calibrated probability of a violation")
    expected_rate: float | None = None
    model_version: str | None
    reasons: list[Reason] = Field(
        description="top reasons (zh/en): the entity's conduct, then one `baseline` line for the structural "
        "attributes; empty for a re-score entry"
    )
    reasons_zh: str | None = Field(None, description="the reasons as one Chinese sentence")
    source: str = Field(
        description="`score_file:DATE` (`creditwatch score`) or `score_history:ID` (a re-score after an "
        "upheld objection or an approved repair, newer than the file)"
    )
    rescored_because: str | None = Field(None, description="for a re-score: the decision that caused it")


class FeatureContribution(Out):
    feature: str
    zh: str | None
    en: str | None
    dimension: str | None = Field(description="indicator dimension; `baseline` for a structural attribute")
    value: float | int | str | bool | None
    contribution: float
    structural: bool = Field(
        False,
        description="an attribute shared with similar entities (not conduct): never a reason of its own",
    )


class DimensionContribution(Out):
    dimension: str
    zh: str | None
    en: str | None
    contribution: float = Field(description="sum of the dimension's feature contributions (log-odds)")


class Explanation(Out):
    uscc: str
    as_of: date
    score_as_of: date = Field(description=SCORE_AS_OF)
    model_version: str
    probability: float
    tier: str
    model_tier: str | None
    expected_rate: float | None
    raw_score: float
    base_value: float = Field(description="log-odds before any feature; base + contributions = raw score")
    features: list[FeatureContribution]
    dimensions: list[DimensionContribution]
    reasons: list[Reason]
    features_from: str = Field(
        "lake",
        description="`score_file:DATE`: the feature row `creditwatch score` stored with the entity's score "
        "of that date (HOME/features/as_of=DATE.parquet), so the explanation explains exactly that score; "
        "`lake`: the entity's features rebuilt from the lake as of the date (slower)",
    )


class Relation(Out):
    kind: Literal["person", "investment", "shared_address", "shared_phone"]
    detail: str = Field(description="the shared person (masked for the role), address, phone or the share")


class Related(Out):
    uscc: str
    name: str | None
    hops: Literal[1, 2]
    via: str | None = Field(description="for two hops: the entity in between")
    why: list[Relation]


class RelatedOut(Out):
    uscc: str
    as_of: date
    related: list[Related]


class HistoryPoint(Out):
    as_of: date
    tier: str
    model_tier: str | None = None
    probability: float
    model_version: str | None = None
    source: str = Field(description="`score_file:DATE` or `score_history:ID` (a re-score after a decision)")


class HistoryOut(Out):
    uscc: str
    scores: list[HistoryPoint]


# --------------------------------------------------------------------------------------------- routes
@router.get("", summary="Search entities by USCC (prefix) or name (substring)")
def search(
    ctx: Annotated[Context, context_dep(service.search)],
    q: Annotated[str, Query(min_length=2, max_length=100, description="USCC prefix or part of the name")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchOut:
    return SearchOut.model_validate(service.search(ctx, q, limit=limit))


@router.get(
    "/{uscc}",
    dependencies=[audited("entities.read", target="uscc", prefix="uscc:")],
    summary="The entity's profile: registration and records by category (masked for the role)",
)
def profile(uscc: UsccPath, ctx: Annotated[Context, context_dep(service.profile)]) -> EntityProfile:
    return EntityProfile.model_validate(service.profile(ctx, uscc))


@router.get(
    "/{uscc}/score",
    name="score",
    dependencies=[audited("entities.score", target="uscc", prefix="uscc:")],
    summary="The entity's stored score: tier, probability, model version, top reasons (zh/en)",
)
async def score(
    uscc: UsccPath,
    request: Request,
    principal: Annotated[Principal, require_roles(*service.SCORE_READERS)],
) -> StoredScore:
    # async, with the blocking work in one worker-thread hop: a sync route costs two (the handler, then
    # FastAPI's response validation), each dearer than the validation itself (docs/benchmarks.md "Serving").
    return await anyio.to_thread.run_sync(_stored_score, request, principal, uscc)


def _stored_score(request: Request, principal: Principal, uscc: str) -> StoredScore:
    """The stored score in a context with a short session of its own, closed before the response goes out.

    Not ``context_dep``'s session: FastAPI enters and leaves that one in worker threads (two hops more) and
    leaves it only after validating the response, so under load every pooled connection waits for a thread
    while every thread waits for a connection (measured: bench/serve.py, docs/benchmarks.md "Serving")."""
    # A read: closed, never committed; it connects only to look re-scores up (RescoreIndex), rarely.
    with Session(get_engine(request)) as session:
        ctx = request_context(request, principal, session)
        return StoredScore.model_validate(service.stored_score(ctx, uscc))


@router.get(
    "/{uscc}/explanation",
    dependencies=[audited("entities.explain", target="uscc", prefix="uscc:")],
    summary="Full explanation with the serving champion: per feature and per indicator dimension",
)
def explanation(
    uscc: UsccPath,
    ctx: Annotated[Context, context_dep(service.explain)],
    as_of: Annotated[
        date | None,
        Query(
            ge=service.EARLIEST,
            le=service.LATEST,
            description="the features' date; default: the date of the entity's stored score (as "
            "`GET /entities/{uscc}/score` answers), today (China) when it has none",
        ),
    ] = None,
    top: Annotated[int, Query(ge=1, le=20, description="number of reasons")] = 5,
) -> Explanation:
    """Explains the entity's stored score from the feature row stored with it when the date is the stored
    score's (fast); any other date rebuilds the entity's features from the lake (slow: docs/api.md)."""
    return Explanation.model_validate(service.explain(ctx, uscc, as_of=as_of, top=top))


@router.get(
    "/{uscc}/related",
    dependencies=[audited("entities.related", target="uscc", prefix="uscc:")],
    summary="Related parties at one and two hops, with why each is related",
)
def related(
    uscc: UsccPath,
    ctx: Annotated[Context, context_dep(service.related)],
    as_of: Annotated[
        date | None,
        Query(
            ge=service.EARLIEST, le=service.LATEST, description="relations valid on this date; default today"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="at most this many related entities")] = 100,
) -> RelatedOut:
    return RelatedOut.model_validate(service.related(ctx, uscc, as_of=as_of, limit=limit))


@router.get(
    "/{uscc}/history",
    dependencies=[audited("entities.history", target="uscc", prefix="uscc:")],
    summary="The entity's scores and tiers over the stored score files",
)
def history(uscc: UsccPath, ctx: Annotated[Context, context_dep(service.history)]) -> HistoryOut:
    return HistoryOut.model_validate(service.history(ctx, uscc))


# ------------------------------------------------------------------------------- for unconverted routers
def scores_of(request: Request) -> ScoreStore:
    """The app's stored scores (the sampling routes read the newest file's date and tiers)."""
    return score_store(request.app.state.settings.home)
