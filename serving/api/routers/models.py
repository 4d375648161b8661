"""Models (analysts): versions with metrics, compare, promote through the CLI's gate, roll back — each move
swaps the serving champion atomically, and only after the new model has loaded."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from serving.api.champion import ServingChampion
from serving.api.deps import Principal, SessionDep, require_roles
from serving.api.errors import Conflict, NotFound
from serving.api.routers.entities import Invalid, champion_of
from serving.api.trail import AuditDep, audited
from supervision.access import Role

router = APIRouter(prefix="/models", tags=["models"])
AnalystDep = Annotated[Principal, require_roles(Role.ANALYST)]
Version = Annotated[str, Path(pattern=r"^[1-9][0-9]{0,8}$", description="registered model version")]


class ModelVersion(BaseModel):
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


class MetricRow(BaseModel):
    metric: str
    a: float | None
    b: float | None
    difference: float | None


class GateCheck(BaseModel):
    model_config = ConfigDict(extra="allow")

    metric: str
    passed: bool
    rule: str
    challenger: float | None = None
    champion: float | None = None


class Gate(BaseModel):
    passed: bool
    reason: str
    checks: list[GateCheck] = []


class CompareOut(BaseModel):
    a: str
    b: str
    metrics: list[MetricRow]
    gate: Gate = Field(description="the champion gate's verdict for `a` (as `creditwatch models promote`)")


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    who: str = Field(min_length=1, max_length=200, description="who decides (recorded)")
    why: str = Field(min_length=1, max_length=4000, description="why (recorded)")


class PromoteIn(MoveIn):
    force: bool = Field(False, description="promote despite a failed gate (recorded as such)")


class MoveOut(BaseModel):
    champion: str = Field(description="the registry's champion after the move")
    previous: str | None
    serving: str = Field(description="the version now serving in this process")
    gate: Gate | None = None
    who: str
    why: str


def _registry(request: Request) -> Any:
    return champion_of(request).registry()


def _known(registry: Any, version: str) -> None:
    if not any(r["version"] == version for r in registry.versions()):
        raise NotFound(f"no model version {version}", field="path.version")


@router.get("", summary="Registered model versions with their test metrics")
def list_versions(principal: AnalystDep, request: Request) -> list[ModelVersion]:
    holder = champion_of(request)
    serving = holder.current.version if holder.current else None
    rows = holder.registry().versions() if holder.registered() else []
    return [ModelVersion(**r, serving=r["version"] == serving) for r in rows]


@router.get("/compare", summary="Two versions metric by metric, and the gate's verdict for `a`")
def compare(
    principal: AnalystDep,
    request: Request,
    a: Annotated[str, Query(pattern=r"^[1-9][0-9]{0,8}$")],
    b: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,8}$", description="default: the champion")] = None,
) -> CompareOut:
    registry = _registry(request)
    _known(registry, a)
    other = b or registry.champion()
    if other is None:
        raise Invalid("no champion to compare with; give two versions", field="query.b")
    _known(registry, other)
    rows = registry.compare(a, other)
    gate = registry.gate(a)
    return CompareOut(
        a=a,
        b=other,
        metrics=[MetricRow(metric=r["metric"], a=r[a], b=r[other], difference=r["difference"]) for r in rows],
        gate=Gate(passed=gate.passed, reason=gate.reason, checks=[GateCheck(**c) for c in gate.checks]),
    )


def _load_or_refuse(holder: ServingChampion, version: str) -> Any:
    """Load before the alias moves: a model that cannot load never becomes the champion (409, and why)."""
    model, error = holder.try_load(version)
    if model is None:
        serving = holder.current.version if holder.current else None
        holder.last_error = f"{error}; " + (
            f"version {serving} keeps serving" if serving else "nothing serves"
        )
        raise Conflict(f"{holder.last_error}; the champion was not moved")
    return model


def _record(trail: Any, session: Session, details: dict[str, Any]) -> None:
    trail.record(session, details=details)


@router.post(
    "/{version}/promote",
    dependencies=[audited("models.promote", target="version", prefix="model:")],
    summary="Make a version the champion through the gate; swaps the serving model without a restart",
)
def promote(
    version: Version,
    body: PromoteIn,
    principal: AnalystDep,
    request: Request,
    session: SessionDep,
    trail: AuditDep,
) -> MoveOut:
    from training.registry import GateError

    holder = champion_of(request)
    with holder.moving:  # one move at a time: gate, load, alias and swap stay consistent
        registry = holder.registry()
        _known(registry, version)
        gate = registry.gate(version)
        if not gate.passed and not body.force:
            raise Conflict(f"version {version} failed the champion gate: {gate.reason}")
        model = _load_or_refuse(holder, version)
        previous = registry.champion()
        try:
            result = registry.promote(version, who=body.who, why=body.why, force=body.force)
        except GateError as exc:  # the champion moved between the check and the promotion
            raise Conflict(str(exc)) from None
        swapped = holder.install(model, version)
        out_gate = Gate(
            passed=result.passed, reason=result.reason, checks=[GateCheck(**c) for c in result.checks]
        )
        _record(trail, session, {"version": version, "previous": previous, "gate_passed": result.passed,
                                 "force": body.force, "who": body.who, "why": body.why})  # fmt: skip
        return MoveOut(
            champion=version,
            previous=previous,
            serving=str(swapped.version),
            gate=out_gate,
            who=body.who,
            why=body.why,
        )


@router.post(
    "/rollback",
    dependencies=[audited("models.rollback")],
    summary="Move the champion back to the version before its latest move; swaps the serving model",
)
def rollback(
    body: MoveIn, principal: AnalystDep, request: Request, session: SessionDep, trail: AuditDep
) -> MoveOut:
    holder = champion_of(request)
    with holder.moving:  # one move at a time
        if not holder.registered():
            raise Conflict("nothing to roll back to: no model is registered")
        registry = holder.registry()
        history = registry.history()
        if not history or history[-1]["previous"] is None:
            raise Conflict("nothing to roll back to: the champion has no earlier version")
        target = str(history[-1]["previous"])
        model = _load_or_refuse(holder, target)
        previous = registry.champion()
        version = registry.rollback(who=body.who, why=body.why)
        swapped = holder.install(model, version)
        _record(trail, session, {"version": version, "previous": previous, "who": body.who, "why": body.why})
        return MoveOut(
            champion=version, previous=previous, serving=str(swapped.version), who=body.who, why=body.why
        )
