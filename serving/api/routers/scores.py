"""Batch look-up of stored scores, and the serving champion's metadata."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from features import uscc as uscc_rules
from serving.api.deps import AnyRoleDep, Principal, SessionDep, SettingsDep, require_roles
from serving.api.lifecycle import today
from serving.api.routers.entities import StoredScore, champion_of, rescores, scores_of, stored_score
from serving.api.trail import AuditDep, audited
from supervision.access import Role

router = APIRouter(tags=["scores"])
BatchDep = Annotated[Principal, require_roles(Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST, Role.SYSTEM)]
MAX_BATCH = 1000


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usccs: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} codes; answered in the same order"
    )


class BatchItem(BaseModel):
    uscc: str
    status: Literal["ok", "invalid", "not_scored"]
    message: str | None = Field(None, description="why there is no score")
    score: StoredScore | None = None


class BatchOut(BaseModel):
    as_of: date | None = Field(description="date of the score file answered from (null: none exists)")
    found: int
    items: list[BatchItem]


class ChampionOut(BaseModel):
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
def batch(
    body: BatchIn,
    principal: BatchDep,
    settings: SettingsDep,
    request: Request,
    session: SessionDep,
    trail: AuditDep,
) -> BatchOut:
    # A read of many entities' verdicts: audited (by the middleware, after the response) with the count.
    trail.note(target="scores:batch", entities=len(body.usccs))
    store = scores_of(request)
    table = store.latest()
    verdicts = {code: uscc_rules.validate(code, allow=settings.uscc_allow_list) for code in body.usccs}
    rescored = rescores(session, sorted({c for c, v in verdicts.items() if v.ok}), on=today())
    items: list[BatchItem] = []
    for code in body.usccs:
        verdict = verdicts[code]
        if not verdict.ok:
            items.append(BatchItem(uscc=code, status="invalid", message=verdict.reason))
            continue
        found = stored_score(store, code, rescore=rescored.get(code))
        if found is None:
            items.append(
                BatchItem(
                    uscc=code, status="not_scored", message="not in the stored scores (unknown or unscored)"
                )
            )
        else:
            items.append(BatchItem(uscc=code, status="ok", message=None, score=found))
    return BatchOut(
        as_of=table.as_of if table else None, found=sum(i.status == "ok" for i in items), items=items
    )


@router.get("/models/champion", summary="The serving champion: version, metrics, when it was loaded")
def champion(principal: AnyRoleDep, request: Request) -> ChampionOut:
    holder = champion_of(request)
    serving = holder.current
    registry_champion = None
    info: dict[str, Any] = {}
    if holder.registered():
        registry = holder.registry()
        registry_champion = registry.champion()
        wanted = serving.version if serving else registry_champion
        info = next((r for r in registry.versions() if r["version"] == wanted), {})
    table = scores_of(request).latest()
    model_versions = []
    if table is not None and "model_version" in table.frame.columns:
        model_versions = table.frame["model_version"].unique().to_list()
    return ChampionOut(
        serving=serving is not None,
        version=serving.version if serving else None,
        loaded_at=serving.loaded_at if serving else None,
        registry_champion=registry_champion,
        last_error=holder.last_error,
        metrics={k: v for k, v in info.items() if k.startswith(("test_", "control_"))},
        promoted_by=info.get("promoted_by"),
        promoted_why=info.get("promoted_why"),
        scores_as_of=table.as_of if table else None,
        scores_model_version=str(model_versions[0]) if len(model_versions) == 1 else None,
    )
