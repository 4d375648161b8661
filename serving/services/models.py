"""The model registry (analysts): train a challenger, list the versions, compare two, promote one through the
champion gate, roll back — and what the serving champion is.

A move (promote, roll back) is one function for every door: the gate, then the model loads *before* the
registry's ``champion`` alias moves (a model that cannot load never becomes the champion), then the alias
moves, recording who (the acting analyst, never a typed name) and why, and the door's serving model is
swapped atomically (the API's; the CLI serves none). The audit entry is the same hash-chained one from every
door. Moving the alias to the version it already names is refused: there is nothing to move.

The registry's move is one recorded transaction (training.registry: a write-ahead journal, rolled forward by
the next open if the mover was killed). A move finished so is audited as ``models.move_recovered`` by the
use case that finished it, naming the move's own who and why.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from serving.champion import ServingChampion, load_version
from serving.services import current_score
from serving.services.context import Context, use_case
from serving.services.scoring import Cluster, Progress, release
from supervision.platform.access import Role
from supervision.platform.audit import AuditEntry
from supervision.platform.errors import ConflictError, DomainError, NotFoundError
from training.registry import SHOWN_METRICS, fault_point

if TYPE_CHECKING:
    from models.estimator import BoosterTrainer
    from models.risk_model import RiskModel
    from training.registry import GateResult, Registry
    from training.run import TrainConfig

__all__ = [
    "CORE_METRICS",
    "ChampionInfo",
    "Chart",
    "Comparison",
    "GateCheck",
    "GateVerdict",
    "MetricRow",
    "ModelCatalog",
    "ModelVersion",
    "Move",
    "Trained",
    "VersionDetail",
    "VersionSummary",
    "catalog",
    "champion",
    "chart",
    "compare",
    "list_versions",
    "promote",
    "rollback",
    "serving_champion",
    "train",
    "version_detail",
]

ANALYSTS = (Role.ANALYST,)
VERSION = re.compile(r"[1-9][0-9]{0,8}")
MAX_WHY = 4000
CHART_FILE = re.compile(r"([a-z0-9_]{1,64})\.(svg|png)")
CHART_DIR = "report/charts"
# The charts a run logs (training.run._write_artifacts), in page order; others found in a run come after.
CHART_ORDER = ("reliability", "reliability_control", "tiers", "shap_summary", "waterfall_top_risk")
MEDIA = {"svg": "image/svg+xml", "png": "image/png"}
# The metrics of one evaluation (training.evaluate.core_metrics), on the test rows and the control slice.
CORE_METRICS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "ece",
    "violations_per_100_at_budget",
    "violations_per_100_random",
    "lift_at_budget",
    "recall_at_budget",
    "base_rate",
    "n",
)


# ------------------------------------------------------------------------------------------------ results
@dataclass(frozen=True, slots=True)
class GateCheck:
    metric: str
    passed: bool
    rule: str
    challenger: float | None = None
    champion: float | None = None
    worse_by: float | None = None
    tolerance: float | None = None


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """The champion gate on a challenger: each metric no worse than the champion's beyond its tolerance, on
    the challenger's test window (training.registry.Registry.gate)."""

    passed: bool
    reason: str
    checks: tuple[GateCheck, ...]

    @classmethod
    def of(cls, result: GateResult) -> GateVerdict:
        fields = set(GateCheck.__dataclass_fields__)
        checks = tuple(GateCheck(**{k: v for k, v in c.items() if k in fields}) for c in result.checks)
        return cls(passed=result.passed, reason=result.reason, checks=checks)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    version: str
    champion: bool
    run_id: str | None
    created: str
    test_roc_auc: float | None
    test_pr_auc: float | None
    test_ece: float | None
    test_brier: float | None
    test_recall_at_budget: float | None
    control_roc_auc: float | None
    promoted_by: str | None
    promoted_why: str | None
    serving: bool  # loaded in this process and answering explanations


@dataclass(frozen=True, slots=True)
class MetricRow:
    metric: str
    a: float | None
    b: float | None
    difference: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    a: str
    b: str
    metrics: tuple[MetricRow, ...]
    gate: GateVerdict  # the gate's verdict for `a`


@dataclass(frozen=True, slots=True)
class Move:
    """A move of the ``champion`` alias: where it points now, where it pointed, what serves."""

    champion: str
    previous: str | None
    serving: str | None  # the version now serving in this process (None: the door serves no model)
    gate: GateVerdict | None  # a promotion's gate verdict (None for a roll back)
    who: str
    why: str


@dataclass(frozen=True, slots=True)
class ChampionInfo:
    serving: bool
    version: str | None
    loaded_at: datetime | None
    registry_champion: str | None  # differs from `version` only after a failed load
    last_error: str | None
    metrics: Mapping[str, float | None]  # test metrics of the serving version
    promoted_by: str | None
    promoted_why: str | None
    scores_as_of: date | None  # the newest stored score file
    scores_model_version: str | None  # the model version that wrote it


@dataclass(frozen=True, slots=True)
class Trained:
    version: str
    run_id: str
    compared_with_champion: str | None
    windows: Mapping[str, Mapping[str, str]]
    metrics: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class VersionSummary:
    """One row of the analysts' versions table: the listed version, its run's metrics and data window, and
    the gate's verdict (None for the champion)."""

    row: ModelVersion
    metrics: Mapping[str, float]
    window: tuple[str | None, str | None]
    gate: GateVerdict | None


@dataclass(frozen=True, slots=True)
class ModelCatalog:
    versions: tuple[VersionSummary, ...]
    champion: str | None
    previous: str | None  # the version a roll back would return to
    serving: str | None
    loaded_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class VersionDetail:
    """One version in full: metrics, data windows, the charts and model card its training run logged, the
    comparison with the champion and the gate's verdict."""

    row: ModelVersion
    champion: str | None
    previous: str | None
    metrics: Mapping[str, float]
    windows: Mapping[str, Mapping[str, Any]]
    charts: Mapping[str, Mapping[str, str]]  # name → {extension: artifact path}
    card: str | None
    comparison: Comparison | None
    gate: GateVerdict
    serving: str | None
    loaded_at: datetime | None
    last_error: str | None
    # The charts' numbers (training.run.chart_data), for pages that draw them in their own language; None
    # for runs logged before they were.
    chart_data: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Chart:
    content: bytes
    media_type: str


# ------------------------------------------------------------------------------------------------ use cases
@use_case("models.train", roles=ANALYSTS, local=True)
def train(
    ctx: Context,
    *,
    config: TrainConfig,
    until: date | None = None,
    progress: Progress | None = None,
    dask: Cluster | None = None,
) -> Trained:
    """Labels from the lake's inspections → features as of each inspection day → a challenger, registered
    in MLflow and compared with the champion on its test window (the gate's evidence).

    ``dask`` (``--dask ADDRESS`` / ``--dask-local N``): the LightGBM fit runs on that cluster with
    ``lightgbm.dask`` (``training.distributed``, one partition of the training rows per worker; its
    ``partitions`` are not used); the rest of the run and the registered model are as in one process."""
    from training.run import train_from_sources

    if dask is not None:
        dask.check()
    if until is not None and until > ctx.today:
        raise DomainError(
            f"until: {until.isoformat()} is after today ({ctx.today.isoformat()})", field="until"
        )
    release(ctx)
    try:
        with _training_cluster(dask, progress) as trainer:
            result, record = train_from_sources(
                ctx.sources(),
                tracking_uri=ctx.settings.mlflow_uri,
                artifact_location=ctx.settings.mlflow_artifacts_dir,
                config=config,
                until=until,
                progress=progress,
                trainer=trainer,
            )
    except ValueError as exc:  # not enough labelled data, a bad configuration: the rule that failed
        raise DomainError(str(exc), field="config") from None
    m = result.evaluation.metrics
    metrics = {k: m[k] for k in sorted(m) if k.startswith(("test_", "control_", "psi"))}
    ctx.audit(
        "models.train",
        target=f"model:{record.version}",
        details={"run_id": record.run_id, "compared_with_champion": record.champion_version},
    )
    return Trained(
        version=record.version,
        run_id=record.run_id,
        compared_with_champion=record.champion_version,
        windows={k: {kk: str(vv) for kk, vv in v.items()} for k, v in result.windows.items()},
        metrics=metrics,
    )


@contextmanager
def _training_cluster(dask: Cluster | None, progress: Progress | None) -> Iterator[BoosterTrainer | None]:
    """The trainer of the run: None (in this process), or a ``DaskTrainer`` on the cluster opened here."""
    if dask is None:
        yield None
        return
    from features.engine import cluster
    from training.distributed import DaskTrainer

    where = (
        f"the Dask scheduler at {dask.address}"
        if dask.address is not None
        else f"a local Dask cluster of {dask.local_workers} workers"
    )
    (progress or (lambda _: None))(f"training on {where}")
    with ExitStack() as stack:
        try:
            client = stack.enter_context(cluster(dask.address, dask.local_workers))
        except (OSError, TimeoutError) as exc:
            raise DomainError(
                f"--dask {dask.address}: cannot reach the scheduler ({exc})", field="dask"
            ) from None
        yield DaskTrainer(client)


@use_case("models.list", roles=ANALYSTS, local=True)
def list_versions(ctx: Context) -> list[ModelVersion]:
    """Every registered version, newest first, with its test metrics; the champion and the serving one
    marked."""
    rows = _versions(ctx)
    ctx.audit("models.list", target="models", details={"versions": len(rows)}, read=True)
    return rows


@use_case("models.compare", roles=ANALYSTS, local=True)
def compare(ctx: Context, a: str, b: str | None = None) -> Comparison:
    """Two versions metric by metric (`b` defaults to the champion), and the gate's verdict for `a`."""
    found = _compare(_registry_of(ctx, a, name="a"), a, b)
    ctx.audit("models.compare", target=f"model:{a}", details={"b": found.b}, read=True)
    return found


@use_case("models.promote", roles=ANALYSTS)
def promote(ctx: Context, version: str, *, why: str, force: bool = False) -> Move:
    """Make `version` the champion if it passes the gate (`force`: despite a failed gate, recorded as
    such)."""
    reason = _why(why)
    registry = _registry_of(ctx, version, name="version")
    holder = serving_champion(ctx)
    with _one_move(holder):  # gate, load, alias and swap stay consistent
        previous = registry.champion()
        if previous == version:
            raise ConflictError(
                f"version {version} already is the champion: nothing to promote", field="version"
            )
        gate = GateVerdict.of(registry.gate(version))
        if not gate.passed and not force:
            raise ConflictError(f"version {version} failed the champion gate: {gate.reason}", field="version")
        model = _load_or_refuse(ctx, holder, version)
        from training.registry import GateError

        try:
            registry.promote(version, who=ctx.actor.actor, why=reason, force=force, at=ctx.clock.now())
        except GateError as exc:  # the champion moved (another process) between the check and the move
            raise ConflictError(str(exc), field="version") from None
        fault_point("models.after_move")  # test-only: killed between the registry move and its audit
        # After the move: a refused move leaves no entry of its own (the door records the refusal).
        ctx.audit(
            "models.promote",
            target=f"model:{version}",
            details={
                "id": _move_id(registry),
                "version": version,
                "previous": previous,
                "gate_passed": gate.passed,
                "force": force,
                "why": reason,
            },
        )
        serving = holder.install(model, version).version if holder is not None else None
    return Move(
        champion=version, previous=previous, serving=serving, gate=gate, who=ctx.actor.actor, why=reason
    )


@use_case("models.rollback", roles=ANALYSTS)
def rollback(ctx: Context, *, why: str) -> Move:
    """Move the champion back to the version it named before its latest move."""
    reason = _why(why)
    if not _registered(ctx):
        raise ConflictError("nothing to roll back to: no model is registered")
    registry = _registry(ctx)
    holder = serving_champion(ctx)
    with _one_move(holder):
        target = registry.rollback_target()
        if target is None:
            raise ConflictError("nothing to roll back to: the champion has no earlier version")
        previous = registry.champion()
        model = _load_or_refuse(ctx, holder, target)
        try:
            version = registry.rollback(who=ctx.actor.actor, why=reason, at=ctx.clock.now())
        except ValueError as exc:  # the history moved (another process) since it was read
            raise ConflictError(str(exc)) from None
        fault_point("models.after_move")
        ctx.audit(
            "models.rollback",
            target=f"model:{version}",
            details={"id": _move_id(registry), "version": version, "previous": previous, "why": reason},
        )
        serving = holder.install(model, version).version if holder is not None else None
    return Move(
        champion=version, previous=previous, serving=serving, gate=None, who=ctx.actor.actor, why=reason
    )


@use_case("models.champion", roles=None)
def champion(ctx: Context) -> ChampionInfo:
    """The serving champion: version, when it was loaded, its metrics; the registry's alias (which differs
    only after a failed load) and the stored scores' date and model version."""
    holder = serving_champion(ctx)
    serving = holder.current if holder is not None else None
    registry_champion, info = None, None
    if _registered(ctx):
        registry = _registry(ctx)
        registry_champion = registry.champion()
        wanted = serving.version if serving is not None else registry_champion
        info = next((r for r in _versions(ctx, registry) if r.version == wanted), None)
    table = current_score.score_store(ctx.settings.home).table(ctx.today)
    versions = (
        table.frame["model_version"].unique().to_list() if table and "model_version" in table.frame else []
    )
    metrics = {} if info is None else {k: getattr(info, k) for k in SHOWN_METRICS}
    return ChampionInfo(
        serving=serving is not None,
        version=serving.version if serving is not None else None,
        loaded_at=serving.loaded_at if serving is not None else None,
        registry_champion=registry_champion,
        last_error=holder.last_error if holder is not None else None,
        metrics=metrics,
        promoted_by=info.promoted_by if info is not None else None,
        promoted_why=info.promoted_why if info is not None else None,
        scores_as_of=table.as_of if table is not None else None,
        scores_model_version=str(versions[0]) if len(versions) == 1 else None,
    )


@use_case("models.list", roles=ANALYSTS)
def catalog(ctx: Context) -> ModelCatalog:
    """The analysts' versions table: each version with its run's metrics, data window and gate verdict."""
    rows = _versions(ctx)
    champion_version = previous = None
    versions = []
    if rows:
        registry = _registry(ctx)
        champion_version = registry.champion()
        previous = _previous(registry, champion_version)
        for row in rows:
            windows = _windows(registry, row.run_id)
            gate = None if row.version == champion_version else GateVerdict.of(registry.gate(row.version))
            window = (windows.get("train", {}).get("from"), windows.get("test", {}).get("to"))
            metrics = _run_metrics(registry, row.run_id)
            versions.append(VersionSummary(row=row, metrics=metrics, window=window, gate=gate))
    holder = serving_champion(ctx)
    current = holder.current if holder is not None else None
    return ModelCatalog(
        versions=tuple(versions),
        champion=champion_version,
        previous=previous,
        serving=current.version if current is not None else None,
        loaded_at=current.loaded_at if current is not None else None,
        last_error=holder.last_error if holder is not None else None,
    )


@use_case("models.read", roles=ANALYSTS)
def version_detail(ctx: Context, version: str) -> VersionDetail:
    """One version in full, with what its training run logged (a version without a run shows less)."""
    registry = _registry_of(ctx, version, name="version")
    row = next(r for r in _versions(ctx, registry) if r.version == version)
    champion_version = registry.champion()
    comparison = None
    if champion_version is not None and champion_version != version:
        comparison = _compare(registry, version, None)
    holder = serving_champion(ctx)
    current = holder.current if holder is not None else None
    return VersionDetail(
        row=row,
        champion=champion_version,
        previous=_previous(registry, champion_version),
        metrics=_run_metrics(registry, row.run_id),
        windows=_windows(registry, row.run_id),
        charts=_charts(registry, row.run_id),
        chart_data=_chart_data(registry, row.run_id),
        card=_text(registry, row.run_id, "report/model_card.md"),
        comparison=comparison,
        gate=comparison.gate if comparison is not None else GateVerdict.of(registry.gate(version)),
        serving=current.version if current is not None else None,
        loaded_at=current.loaded_at if current is not None else None,
        last_error=holder.last_error if holder is not None else None,
    )


@use_case("models.read", roles=ANALYSTS)
def chart(ctx: Context, version: str, filename: str) -> Chart:
    """A chart the version's training run logged, by name (``reliability.svg``, ``tiers.png``, ...): a name
    is looked up in the run's artifact listing, never joined to a path."""
    registry = _registry_of(ctx, version, name="version")
    run_id = registry.client.get_model_version(registry.name, version).run_id
    match = CHART_FILE.fullmatch(filename)
    logged = _charts(registry, run_id)
    path = logged.get(match.group(1), {}).get(match.group(2)) if match else None
    if match is None or path is None or run_id is None:
        names = ", ".join(f"{n}.{ext}" for n, exts in logged.items() for ext in sorted(exts)) or "none"
        raise NotFoundError(
            f"version {version} logged no chart {filename!r} (logged: {names})", field="filename"
        )
    return Chart(content=_artifact(registry.uri, run_id, path), media_type=MEDIA[match.group(2)])


# ------------------------------------------------------------------------------------------------ helpers
def serving_champion(ctx: Context) -> ServingChampion | None:
    """The door's serving champion, whose model a move swaps (the API's; the CLI serves none)."""
    return ctx.serving


def _one_move(holder: ServingChampion | None) -> AbstractContextManager[Any]:
    """One move at a time in a process that serves a model (its alias check waits, too)."""
    return holder.moving if holder is not None else nullcontext()


def _why(why: str) -> str:
    reason = why.strip()
    if not reason:
        raise DomainError("why: a reason is required (it is recorded with the move)", field="why")
    if len(reason) > MAX_WHY:
        raise DomainError(f"why: {len(reason)} characters; at most {MAX_WHY}", field="why")
    return reason


def _registered(ctx: Context) -> bool:
    """Whether there is a registry (looking must not create one: MLflow would, with its migrations)."""
    from training.registry import exists

    return exists(ctx.settings.mlflow_uri)


MOVE_ACTIONS = ("models.promote", "models.rollback", "models.move_recovered")
MOVE_FIELDS = ("id", "version", "previous", "action", "who", "why", "at")


def _registry(ctx: Context) -> Registry:
    """The registry, with a move a killed mover left unfinished rolled forward and audited, and every move of
    the registry's history that no audit entry names (by the move's id: its mover was killed after the move,
    before its audit entry committed) audited as ``models.move_recovered`` with the move's own who and why
    (``unaudited: true``)."""
    from training.registry import Registry

    registry = Registry(ctx.settings.mlflow_uri)
    audited: set[str] = set()
    for entry in registry.settle():
        ctx.audit(
            "models.move_recovered",
            target=f"model:{entry['version']}",
            details={k: entry.get(k) for k in MOVE_FIELDS},
        )
        audited.add(str(entry.get("id")))
    moves = [h for h in registry.history() if h.get("id")]  # moves recorded before ids are not reconciled
    if moves:
        stmt = sa.select(AuditEntry.details).where(AuditEntry.action.in_(MOVE_ACTIONS))
        audited |= {str(d.get("id")) for d in ctx.session.scalars(stmt) if isinstance(d, dict)}
        for move in moves:
            if str(move["id"]) not in audited:
                ctx.audit(
                    "models.move_recovered",
                    target=f"model:{move['version']}",
                    details={**{k: move.get(k) for k in MOVE_FIELDS}, "unaudited": True},
                )
    return registry


def _move_id(registry: Registry) -> str | None:
    """The id of the move `registry` has just made (its history entry's; the audit entry carries it)."""
    return None if registry.last_move is None else str(registry.last_move["id"])


def _registry_of(ctx: Context, version: str, *, name: str) -> Registry:
    """The registry, when it holds `version`; a malformed version is refused, an unknown one not found."""
    if not VERSION.fullmatch(version):
        raise DomainError(f"{name}: {version!r} is not a model version (a positive whole number)", field=name)
    if not _registered(ctx):
        raise NotFoundError(f"no model version {version}", field=name)
    registry = _registry(ctx)
    _known(registry, version, name=name)
    return registry


def _known(registry: Registry, version: str, *, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        registry.client.get_model_version(registry.name, version)
    except MlflowException:
        raise NotFoundError(f"no model version {version}", field=name) from None


def _versions(ctx: Context, registry: Registry | None = None) -> list[ModelVersion]:
    if registry is None:
        if not _registered(ctx):
            return []
        registry = _registry(ctx)
    holder = serving_champion(ctx)
    current = holder.current if holder is not None else None
    serving = current.version if current is not None else None
    fields = set(ModelVersion.__dataclass_fields__)
    return [
        ModelVersion(**{k: v for k, v in r.items() if k in fields}, serving=r["version"] == serving)
        for r in registry.versions()
    ]


def _compare(registry: Registry, a: str, b: str | None) -> Comparison:
    other = b or registry.champion()
    if other is None:
        raise DomainError("b: no champion to compare with; give two versions", field="b")
    _known(registry, other, name="b")
    rows = registry.compare(a, other)
    return Comparison(
        a=a,
        b=other,
        metrics=tuple(
            MetricRow(metric=r["metric"], a=r[a], b=r[other], difference=r["difference"]) for r in rows
        ),
        gate=GateVerdict.of(registry.gate(a)),
    )


def _load_or_refuse(ctx: Context, holder: ServingChampion | None, version: str) -> RiskModel:
    """Load before the alias moves: a model that cannot load never becomes the champion (conflict, and why;
    the serving champion keeps serving and says so in its last error)."""
    if holder is None:
        try:
            return load_version(ctx.settings.mlflow_uri, version)
        except Exception as exc:  # any failure to load: a missing artifact, a damaged pickle
            raise ConflictError(
                f"version {version} failed to load ({type(exc).__name__}: {exc}); the champion was not moved",
                field="version",
            ) from None
    model, error = holder.try_load(version)
    if model is None:
        serving = holder.current.version if holder.current else None
        holder.last_error = f"{error}; " + (
            f"version {serving} keeps serving" if serving else "nothing serves"
        )
        raise ConflictError(f"{holder.last_error}; the champion was not moved", field="version")
    return model


def _previous(registry: Registry, champion_version: str | None) -> str | None:
    """The version a roll back would return to (the champion before the latest move), if any."""
    return None if champion_version is None else registry.rollback_target()


def _run_metrics(registry: Registry, run_id: str | None) -> dict[str, float]:
    if not run_id:
        return {}
    return dict(registry.client.get_run(run_id).data.metrics)


@functools.lru_cache(maxsize=128)
def _artifact(uri: str, run_id: str, path: str) -> bytes:
    """One artifact of a finished run (immutable once logged, so kept after the first read)."""
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as tmp:
        local = MlflowClient(tracking_uri=uri, registry_uri=uri).download_artifacts(run_id, path, tmp)
        return Path(local).read_bytes()


def _text(registry: Registry, run_id: str | None, path: str) -> str | None:
    """A text artifact of the run, or None if it was not logged (or cannot be read)."""
    if not run_id:
        return None
    try:
        return _artifact(registry.uri, run_id, path).decode("utf-8")
    except Exception:  # a run without this artifact (older runs, a damaged store): the page says so
        return None


def _windows(registry: Registry, run_id: str | None) -> dict[str, dict[str, Any]]:
    raw = _text(registry, run_id, "report/windows.json")
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def _chart_data(registry: Registry, run_id: str | None) -> dict[str, Any] | None:
    raw = _text(registry, run_id, "report/chart_data.json")
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _charts(registry: Registry, run_id: str | None) -> dict[str, dict[str, str]]:
    """The charts the run logged: name → {extension: artifact path}, in page order."""
    if not run_id:
        return {}
    try:
        files = registry.client.list_artifacts(run_id, CHART_DIR)
    except Exception:
        return {}
    found: dict[str, dict[str, str]] = {}
    for f in files:
        match = CHART_FILE.fullmatch(Path(f.path).name)
        if not f.is_dir and match and f.path == f"{CHART_DIR}/{match.group(0)}":
            found.setdefault(match.group(1), {})[match.group(2)] = f.path
    rank = {name: i for i, name in enumerate(CHART_ORDER)}
    return dict(sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
