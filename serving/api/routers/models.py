"""Models (analysts): versions with metrics, compare, promote through the champion gate, roll back — each move
swaps the serving champion atomically, and only after the new model has loaded
(:mod:`serving.services.models`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import context_dep
from serving.api.routers.entities import Out
from serving.api.trail import audited
from serving.services import models
from serving.services.context import Context

router = APIRouter(prefix="/models", tags=["models"])
VERSION_PATTERN = r"^[1-9][0-9]{0,8}$"
Version = Annotated[str, Path(pattern=VERSION_PATTERN, description="registered model version")]


class ModelVersion(Out):
    version: str
    champion: bool
    run_id: str | None
    created: str
    test_roc_auc: float | None = None
    test_pr_auc: float | None = None
    test_ece: float | None = None
    test_brier: float | None = None
    test_recall_at_budget: float | None = None
    control_roc_auc: float | None = None
    promoted_by: str | None = None
    promoted_why: str | None = None
    serving: bool = Field(description="loaded in this API process and answering explanations")


class MetricRow(Out):
    metric: str
    a: float | None
    b: float | None
    difference: float | None


class GateCheck(Out):
    metric: str
    passed: bool
    rule: str
    challenger: float | None = None
    champion: float | None = None
    worse_by: float | None = Field(
        None, description="how much worse than the champion (in the metric's unit)"
    )
    tolerance: float | None = Field(None, description="how much worse it may be")


class Gate(Out):
    passed: bool
    reason: str
    checks: list[GateCheck]


class CompareOut(Out):
    a: str
    b: str
    metrics: list[MetricRow]
    gate: Gate = Field(description="the champion gate's verdict for `a` (as `creditwatch models promote`)")


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    why: str = Field(min_length=1, max_length=models.MAX_WHY, description="why (recorded)")
    who: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        deprecated=True,
        description="ignored: the move is recorded as made by the token's holder",
    )


class PromoteIn(MoveIn):
    force: bool = Field(False, description="promote despite a failed gate (recorded as such)")


class MoveOut(Out):
    champion: str = Field(description="the registry's champion after the move")
    previous: str | None
    serving: str | None = Field(description="the version now serving in this process")
    gate: Gate | None = None
    who: str = Field(description="who moved it: the token's holder, as the audit log names them")
    why: str


@router.get("", summary="Registered model versions with their test metrics")
def list_versions(ctx: Annotated[Context, context_dep(models.list_versions)]) -> list[ModelVersion]:
    return [ModelVersion.model_validate(v) for v in models.list_versions(ctx)]


@router.get("/compare", summary="Two versions metric by metric, and the gate's verdict for `a`")
def compare(
    ctx: Annotated[Context, context_dep(models.compare)],
    a: Annotated[str, Query(pattern=VERSION_PATTERN)],
    b: Annotated[str | None, Query(pattern=VERSION_PATTERN, description="default: the champion")] = None,
) -> CompareOut:
    return CompareOut.model_validate(models.compare(ctx, a, b))


@router.post(
    "/{version}/promote",
    dependencies=[audited("models.promote", target="version", prefix="model:")],
    summary="Make a version the champion through the gate; swaps the serving model without a restart",
)
def promote(
    version: Version, body: PromoteIn, ctx: Annotated[Context, context_dep(models.promote)]
) -> MoveOut:
    return MoveOut.model_validate(models.promote(ctx, version, why=body.why, force=body.force))


@router.post(
    "/rollback",
    dependencies=[audited("models.rollback")],
    summary="Move the champion back to the version before its latest move; swaps the serving model",
)
def rollback(body: MoveIn, ctx: Annotated[Context, context_dep(models.rollback)]) -> MoveOut:
    return MoveOut.model_validate(models.rollback(ctx, why=body.why))
