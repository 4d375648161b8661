"""Monitoring (analysts, supervisors): two score runs compared (tier migration, the top risers explained by
the change of their SHAP values) and the model's feedback loop (calibration per tier with intervals, drift,
fairness, alerts, the retraining recommendation) — :mod:`serving.services.monitoring`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from serving.api.deps import context_dep
from serving.api.routers.entities import Out
from serving.services import monitoring
from serving.services.context import Context

router = APIRouter(prefix="/monitoring", tags=["monitoring"])


class RunOut(Out):
    as_of: date
    model_version: str | None = Field(description="the model version that scored the run")
    entities: int


class MigrationCellOut(Out):
    from_tier: str = Field(description="tier in the previous run")
    to_tier: str = Field(description="tier in the current run")
    entities: int


class DimensionChangeOut(Out):
    dimension: str
    zh: str
    en: str
    change: float = Field(description="change of the dimension's SHAP sum (log-odds)")
    probability_share: float = Field(
        description="the probability change split over the dimensions in proportion to their log-odds change"
    )


class FeatureChangeOut(Out):
    feature: str
    zh: str
    en: str
    dimension: str
    previous_value: str | None
    value: str | None
    change: float = Field(description="change of the feature's SHAP value (log-odds)")


class RiserOut(Out):
    uscc: str
    previous_tier: str
    tier: str
    previous_probability: float
    probability: float
    change: float = Field(description="probability change between the runs (stored scores)")
    raw_change: float | None = Field(
        description="raw-score (log-odds) change; the dimension changes add up to it; null without features"
    )
    dimensions: list[DimensionChangeOut]
    features: list[FeatureChangeOut]


class CompareOut(Out):
    current: RunOut
    previous: RunOut
    tiers: list[str]
    migration: list[MigrationCellOut] = Field(
        description="tier × tier counts of entities scored in both runs"
    )
    entered: dict[str, int] = Field(description="per tier: entities scored only in the current run")
    left: dict[str, int] = Field(description="per tier: entities scored only in the previous run")
    moved: dict[str, int] = Field(description="entities whose tier went up, down, or stayed")
    risers: list[RiserOut]
    explained_with: str | None = Field(description="the model version whose SHAP values explain the risers")
    notes: list[str]


class CalibrationOut(Out):
    slice: Literal["all", "control"] = Field(description="all inspections, or the random control slice")
    tier: str
    n: int
    violations: int
    predicted: float = Field(description="mean predicted probability")
    observed: float = Field(description="realised violation rate")
    ci_low: float | None = Field(description="Wilson interval of the observed rate (policy level)")
    ci_high: float | None
    gap: float = Field(description="observed − predicted")
    outside: bool = Field(description="the predicted mean lies outside the interval")
    judged: bool = Field(description="enough inspections to judge (policy min_n)")
    alert: bool


class DriftOut(Out):
    against: Literal["previous", "reference"]
    feature: str
    zh: str
    en: str
    psi: float | None
    level: Literal["major", "minor", "stable"] | None
    important: bool = Field(description="among the model's most important features (policy top_features)")


class FairnessOut(Out):
    by: str = Field(description="division_code (district) or entity_type (ownership type)")
    group: str | None
    n: int
    predicted: float
    observed: float
    ci_low: float | None
    ci_high: float | None
    gap: float
    difference: float = Field(description="the group's gap − the city's gap")
    flagged: bool


class AlertOut(Out):
    kind: Literal["drift", "calibration", "fairness"]
    level: str
    subject: str
    message: str


class FeedbackOut(Out):
    current: RunOut
    previous: RunOut | None
    reference: date | None = Field(description="date of the features drift is measured against")
    reference_kind: Literal["training_cutoff", "oldest_run", "none"]
    model_version: str
    inspections: int = Field(description="inspections judged against the score their entity had that day")
    left_out: dict[str, int]
    calibration: list[CalibrationOut]
    drift: list[DriftOut]
    fairness: list[FairnessOut]
    alerts: list[AlertOut]
    retrain: bool
    reason_zh: str
    reason_en: str
    notes: list[str]


@router.get("/compare", summary="Two score runs: tier migration and the top risers explained by SHAP change")
def compare(
    ctx: Annotated[Context, context_dep(monitoring.compare_runs)],
    as_of: Annotated[date | None, Query(description="the run compared (default: the newest)")] = None,
    previous: Annotated[
        date | None, Query(description="the run compared with (default: the one before)")
    ] = None,
    top: Annotated[int, Query(ge=0, le=monitoring.MAX_TOP, description="how many risers to explain")] = 10,
) -> CompareOut:
    return CompareOut.model_validate(monitoring.compare_runs(ctx, as_of=as_of, previous=previous, top=top))


@router.get(
    "/feedback", summary="Calibration per tier, drift, fairness, alerts and the retraining recommendation"
)
def feedback(
    ctx: Annotated[Context, context_dep(monitoring.feedback)],
    as_of: Annotated[date | None, Query(description="the run judged (default: the newest)")] = None,
) -> FeedbackOut:
    return FeedbackOut.model_validate(monitoring.feedback(ctx, as_of=as_of))
