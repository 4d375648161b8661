"""Monitoring the score runs and the model's feedback loop (issue 15): two runs compared (tier migration, the
top risers with their probability change explained by the change of their SHAP values), and the feedback of
the inspections (calibration per tier with Wilson intervals, overall and on the random control slice; feature
drift as PSI between the last two runs and against the training reference; fairness per district and
ownership type; alerts; the retraining recommendation), judged by ``models/monitoring.toml``.

**What a run is.** A score run of ``creditwatch score``: ``HOME/scores/as_of=DATE.parquet`` checked against
its manifest (:func:`serving.services.current_score.check_score_file`; a refused file is no run) and the
features it scored, ``HOME/features/as_of=DATE.parquet``.

**Which score an inspection is judged against.** The score the entity had on the day it was inspected: its
row in the newest run dated on or before that day (the tier that drew it). Inspections before the first run,
of entities that run did not score, or with outcome ``not_found`` (no verdict on compliance, as in training)
are left out and counted. Inspections are the lake's ``inspections`` table and the results recorded here
(:func:`supervision.sampling.results.inspection_records`), one per inspection id.

**The training reference.** The feature file of the champion's training cut-off (the date its tier cut-offs
were fitted on, ``metadata.tiers.as_of``), when ``HOME/features/`` holds one (``creditwatch features build
--as-of DATE`` writes it); else the oldest run's features stand in, and the answer says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from features import lake as lake_io
from models import monitoring as mon
from models.risk_model import RiskModel
from serving.champion import NoChampion, load_version
from serving.services import current_score
from serving.services.context import Context, use_case
from serving.services.entities import check_day
from serving.workspace import manifest_of
from supervision.platform.access import Role
from supervision.platform.errors import DomainError, NotFoundError

__all__ = [
    "MAX_TOP",
    "Alert",
    "CalibrationRow",
    "DimensionChange",
    "DriftRow",
    "FairnessRow",
    "FeatureChange",
    "Feedback",
    "MigrationCell",
    "Riser",
    "RunInfo",
    "RunsCompared",
    "compare_runs",
    "feedback",
    "training_cutoff",
]

READERS = (Role.ANALYST, Role.SUPERVISOR)
MAX_TOP = 100
DRIFT_SHOWN = 30


# ------------------------------------------------------------------------------------------------ results
@dataclass(frozen=True, slots=True)
class RunInfo:
    as_of: date
    model_version: str | None
    entities: int


@dataclass(frozen=True, slots=True)
class MigrationCell:
    from_tier: str
    to_tier: str
    entities: int


@dataclass(frozen=True, slots=True)
class DimensionChange:
    """The change of one indicator dimension's SHAP sum (log-odds) and its share of the probability
    change."""

    dimension: str
    zh: str
    en: str
    change: float
    probability_share: float


@dataclass(frozen=True, slots=True)
class FeatureChange:
    feature: str
    zh: str
    en: str
    dimension: str
    previous_value: str | None
    value: str | None
    change: float


@dataclass(frozen=True, slots=True)
class Riser:
    """An entity whose probability rose most between the runs, and what changed (SHAP, one model)."""

    uscc: str
    previous_tier: str
    tier: str
    previous_probability: float
    probability: float
    change: float
    raw_change: float | None
    dimensions: tuple[DimensionChange, ...]
    features: tuple[FeatureChange, ...]


@dataclass(frozen=True, slots=True)
class RunsCompared:
    current: RunInfo
    previous: RunInfo
    tiers: tuple[str, ...]
    migration: tuple[MigrationCell, ...]
    entered: dict[str, int]
    left: dict[str, int]
    moved: dict[str, int]
    risers: tuple[Riser, ...]
    explained_with: str | None  # the model version whose SHAP values explain the risers
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    slice: str  # all, control
    tier: str
    n: int
    violations: int
    predicted: float
    observed: float
    ci_low: float | None
    ci_high: float | None
    gap: float
    outside: bool
    judged: bool
    alert: bool


@dataclass(frozen=True, slots=True)
class DriftRow:
    against: str  # previous (the run before), reference (the training reference)
    feature: str
    zh: str
    en: str
    psi: float | None
    level: str | None
    important: bool


@dataclass(frozen=True, slots=True)
class FairnessRow:
    by: str
    group: str | None
    n: int
    predicted: float
    observed: float
    ci_low: float | None
    ci_high: float | None
    gap: float
    difference: float
    flagged: bool


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # drift, calibration, fairness
    level: str  # major, minor, alert
    subject: str
    message: str


@dataclass(frozen=True, slots=True)
class Feedback:
    current: RunInfo
    previous: RunInfo | None
    reference: date | None  # the date of the training reference's features
    reference_kind: str  # training_cutoff, oldest_run, none
    model_version: str
    inspections: int  # judged against a score
    left_out: dict[str, int]
    calibration: tuple[CalibrationRow, ...]
    drift: tuple[DriftRow, ...]
    fairness: tuple[FairnessRow, ...]
    alerts: tuple[Alert, ...]
    retrain: bool
    reason_zh: str
    reason_en: str
    notes: tuple[str, ...]


# ------------------------------------------------------------------------------------------------ runs
def _runs(ctx: Context) -> list[tuple[date, Path]]:
    """Every score file, oldest first (valid or not: :func:`_read_run` checks)."""
    return current_score.score_files(ctx.settings.home)


def _read_run(path: Path, day: date, first_manifest: date | None) -> pl.DataFrame | None:
    required = first_manifest is not None and day >= first_manifest
    try:
        frame, _ = current_score.check_score_file(day, path, manifest_required=required)
    except current_score.RefusedFile:
        return None
    return frame


def _valid_runs(ctx: Context, *, until: date | None = None) -> list[tuple[date, pl.DataFrame]]:
    """The valid runs dated on or before `until`, oldest first (each file checked against its manifest)."""
    files = _runs(ctx)
    manifests = [d for d, p in files if manifest_of(p).exists()]
    first = min(manifests) if manifests else None
    out = []
    for day, path in files:
        if until is not None and day > until:
            continue
        frame = _read_run(path, day, first)
        if frame is not None:
            out.append((day, frame))
    return out


def _info(day: date, frame: pl.DataFrame) -> RunInfo:
    version = None
    if "model_version" in frame.columns and frame.height:
        version = str(frame["model_version"][0])
    return RunInfo(as_of=day, model_version=version, entities=frame.height)


def _pick(
    runs: list[tuple[date, pl.DataFrame]], as_of: date | None, previous: date | None
) -> tuple[tuple[date, pl.DataFrame], tuple[date, pl.DataFrame] | None]:
    if not runs:
        raise NotFoundError(
            "no valid score run: run `creditwatch score --as-of DATE` (monthly: docs/operations.md)",
            field="as_of",
        )
    by_day = dict(runs)
    if as_of is not None and as_of not in by_day:
        raise NotFoundError(f"as_of: no valid score run dated {as_of}", field="as_of")
    cur_day = as_of if as_of is not None else runs[-1][0]
    if previous is not None:
        if previous >= cur_day:
            raise DomainError(
                f"previous: {previous} must be before the run compared ({cur_day})", field="previous"
            )
        if previous not in by_day:
            raise NotFoundError(f"previous: no valid score run dated {previous}", field="previous")
        prev_day: date | None = previous
    else:
        earlier = [d for d, _ in runs if d < cur_day]
        prev_day = earlier[-1] if earlier else None
    cur = (cur_day, by_day[cur_day])
    return cur, (None if prev_day is None else (prev_day, by_day[prev_day]))


def _features(ctx: Context, day: date) -> pl.DataFrame | None:
    """The feature file of `day` (checked against its manifest when it has one), or None."""
    path = ctx.workspace.feature_file(day)
    if not path.exists():
        return None
    try:
        frame, _ = current_score.read_checked(path, "features", day)  # a file or a partitioned folder
    except (current_score.RefusedFile, OSError, pl.exceptions.PolarsError):
        return None
    return frame


def _model(ctx: Context, version: str | None) -> tuple[RiskModel, str]:
    """The model of `version` (the champion's object when it is the champion), else the champion."""
    try:
        model, champion = ctx.champion()
    except NoChampion as exc:
        raise DomainError(exc.message, field="champion") from None
    if version is None or version == champion:
        return model, champion
    try:
        return load_version(ctx.settings.mlflow_uri, version), version
    except Exception:  # a version gone from the registry: the champion explains instead (said in the notes)
        return model, champion


def _labels() -> dict[str, tuple[str, str]]:
    from features.indicators import DIMENSIONS

    return dict(DIMENSIONS)


def _policy(ctx: Context) -> mon.MonitoringPolicy:
    try:
        return mon.load_monitoring_policy(ctx.settings.monitoring_policy)
    except ValueError as exc:
        raise DomainError(str(exc), field="monitoring_policy") from None


def _check_top(top: int) -> None:
    if not 0 <= top <= MAX_TOP:
        raise DomainError(f"top: {top} is out of range; allowed 0 to {MAX_TOP}", field="top")


# ------------------------------------------------------------------------------------------------ compare
@use_case("monitoring.compare", roles=READERS, local=True)
def compare_runs(
    ctx: Context, *, as_of: date | None = None, previous: date | None = None, top: int = 10
) -> RunsCompared:
    """Two score runs compared: `as_of` (default the newest valid run) against `previous` (default the run
    before it): the tier migration matrix, entities that entered or left, and the `top` entities whose
    probability rose most, each explained by the change of its SHAP values summed per indicator dimension
    (SHAP is computed for those entities only)."""
    for name, day in (("as_of", as_of), ("previous", previous)):
        if day is not None:
            check_day(name, day)
    _check_top(top)
    (cur_day, cur), prev_pair = _pick(_valid_runs(ctx), as_of, previous)
    if prev_pair is None:
        raise NotFoundError(
            f"previous: no valid score run before {cur_day}; comparing needs two runs", field="previous"
        )
    prev_day, prev = prev_pair
    migration = mon.migration_matrix(prev, cur)
    notes: list[str] = []
    joined = (
        prev.select(
            "uscc", pl.col("tier").alias("previous_tier"), pl.col("probability").alias("previous_probability")
        )
        .join(cur.select("uscc", "tier", "probability"), on="uscc", how="inner")
        .with_columns((pl.col("probability") - pl.col("previous_probability")).alias("change"))
        .filter(pl.col("change") > 0)
        .sort(["change", "uscc"], descending=[True, False])
        .head(top)
    )
    cur_info, prev_info = _info(cur_day, cur), _info(prev_day, prev)
    explained_with: str | None = None
    changes: mon.ProbabilityChange | None = None
    if joined.height:
        prev_feats, cur_feats = _features(ctx, prev_day), _features(ctx, cur_day)
        if prev_feats is None or cur_feats is None:
            notes.append(
                "the feature file of a run is missing or refused: "
                "the risers are listed without their SHAP change"
            )
        else:
            model, explained_with = _model(ctx, cur_info.model_version)
            if prev_info.model_version != cur_info.model_version:
                notes.append(
                    f"the runs were scored by model versions {prev_info.model_version} and "
                    f"{cur_info.model_version}: the SHAP change is version {explained_with}'s on both runs' "
                    "features, so part of the probability change is the model's own"
                )
            elif explained_with != cur_info.model_version:
                notes.append(
                    f"version {cur_info.model_version} could not be loaded: "
                    f"the champion {explained_with} explains"
                )
            changes = mon.probability_change(
                model, prev_feats, cur_feats, joined["uscc"].to_list(), labels=_labels()
            )
    risers = []
    for r in joined.iter_rows(named=True):
        dims: tuple[DimensionChange, ...] = ()
        feats: tuple[FeatureChange, ...] = ()
        raw_change = None
        if changes is not None:
            ent = changes.entities.filter(pl.col("uscc") == r["uscc"])
            if ent.height:
                raw_change = float(ent["raw_change"][0])
            dims = tuple(
                DimensionChange(d["dimension"], d["zh"], d["en"], d["change"], d["probability_share"])
                for d in changes.dimensions.filter(pl.col("uscc") == r["uscc"]).iter_rows(named=True)
            )
            feats = tuple(
                FeatureChange(
                    f["feature"], f["zh"], f["en"], f["dimension"], f["prev_value"], f["value"], f["change"]
                )
                for f in changes.features.filter(pl.col("uscc") == r["uscc"]).iter_rows(named=True)
            )
        risers.append(
            Riser(
                uscc=r["uscc"],
                previous_tier=r["previous_tier"],
                tier=r["tier"],
                previous_probability=float(r["previous_probability"]),
                probability=float(r["probability"]),
                change=float(r["change"]),
                raw_change=raw_change,
                dimensions=dims,
                features=feats,
            )
        )
    ctx.audit(
        "monitoring.compare",
        target=f"scores:{cur_day.isoformat()}",
        details={"as_of": cur_day.isoformat(), "previous": prev_day.isoformat(), "top": top},
        read=True,
    )
    return RunsCompared(
        current=cur_info,
        previous=prev_info,
        tiers=migration.tiers,
        migration=tuple(MigrationCell(**c) for c in migration.counts.iter_rows(named=True)),
        entered=migration.entered,
        left=migration.left,
        moved=migration.moved(),
        risers=tuple(risers),
        explained_with=explained_with,
        notes=tuple(notes),
    )


# ------------------------------------------------------------------------------------------------ feedback
def _inspections(ctx: Context) -> pl.DataFrame:
    """Lake inspections and the results recorded here, one row per inspection id (the lake's first)."""
    from supervision.sampling.results import inspection_records

    cols = ["inspection_id", "uscc", "inspected_on", "outcome", "in_control_slice"]
    lake = lake_io.scan(ctx.settings.lake_dir, "inspections").select(cols).collect()
    recorded = inspection_records(ctx.session).select(cols)
    return (
        pl.concat([lake, recorded], how="vertical")
        .unique("inspection_id", keep="first")
        .sort("inspection_id")
    )


def _judged(
    ctx: Context, runs: list[tuple[date, pl.DataFrame]], until: date
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Each inspection (on or before `until`) with the score its entity had that day, and the counts of
    those left out by reason."""
    found = _inspections(ctx).filter(pl.col("inspected_on") <= until)
    not_found = found.filter(pl.col("outcome") == "not_found").height
    found = found.filter(pl.col("outcome") != "not_found").with_columns(
        pl.col("outcome").is_in(["violation", "serious_violation"]).cast(pl.Int8).alias("violation")
    )
    scores = pl.concat(
        [f.select("uscc", "tier", "probability").with_columns(pl.lit(d).alias("run")) for d, f in runs]
    ).sort("run")
    joined = found.sort("inspected_on").join_asof(
        scores,
        left_on="inspected_on",
        right_on="run",
        by="uscc",
        strategy="backward",
        check_sortedness=False,  # sorted by date above; per-USCC groups inherit it
    )
    scored = joined.filter(pl.col("tier").is_not_null())
    left_out = {"not_found": not_found, "no_score_that_day": joined.height - scored.height}
    ents = (
        lake_io.scan(ctx.settings.lake_dir, "entities")
        .select("uscc", "division_code", "entity_type")
        .collect()
    )
    scored = scored.join(ents, on="uscc", how="left").sort("inspection_id")
    return scored, left_out


def _calibration_rows(frame: pl.DataFrame, slice_: str, policy: mon.MonitoringPolicy) -> list[CalibrationRow]:
    judged = mon.miscalibrated(mon.calibration_by_tier(frame, level=policy.level), policy)
    return [
        CalibrationRow(
            slice=slice_,
            tier=r["tier"],
            n=r["n"],
            violations=r["violations"],
            predicted=r["predicted"],
            observed=r["observed"],
            ci_low=r["ci_low"],
            ci_high=r["ci_high"],
            gap=r["gap"],
            outside=r["outside"],
            judged=r["judged"],
            alert=r["alert"],
        )
        for r in judged.iter_rows(named=True)
    ]


def training_cutoff(model: RiskModel) -> date | None:
    """The model's training cut-off as its metadata records it: the date its tier cut-offs were fitted on
    (``tiers.as_of``), else the day after its last labelled inspection (``windows.test.to``, the rule of
    :func:`training.run.training_cutoff`); None when neither is there."""
    meta = model.metadata
    for text, days in (
        ((meta.get("tiers") or {}).get("as_of"), 0),
        (((meta.get("windows") or {}).get("test") or {}).get("to"), 1),
    ):
        if text:
            try:
                return date.fromisoformat(str(text)[:10]) + timedelta(days=days)
            except ValueError:
                continue
    return None


def _reference(
    ctx: Context, model: RiskModel, runs: list[tuple[date, pl.DataFrame]]
) -> tuple[date | None, str, pl.DataFrame | None, str | None]:
    cutoff = training_cutoff(model)
    if cutoff is not None:
        frame = _features(ctx, cutoff)
        if frame is not None:
            return cutoff, "training_cutoff", frame, None
    for day, _ in runs:
        frame = _features(ctx, day)
        if frame is not None:
            why = (
                f"no feature file of the training cut-off {cutoff} in HOME/features "
                f"(`creditwatch features build --as-of {cutoff}` writes it): "
                f"the oldest run's features ({day}) stand in as the reference"
                if cutoff is not None
                else "the model does not record its training cut-off: "
                f"the oldest run's features ({day}) stand in"
            )
            return day, "oldest_run", frame, why
    return None, "none", None, "no feature file of any run: no drift against a reference"


@use_case("monitoring.feedback", roles=READERS, local=True)
def feedback(ctx: Context, *, as_of: date | None = None) -> Feedback:
    """The feedback loop of the run `as_of` (default the newest valid run): calibration per tier (all
    inspections and the random control slice) with Wilson intervals, PSI per feature between this run and the
    one before and against the training reference, fairness per district and ownership type, the alerts the
    policy's thresholds raise, and the retraining recommendation with its reason."""
    if as_of is not None:
        check_day("as_of", as_of)
    policy = _policy(ctx)
    runs = _valid_runs(ctx, until=as_of)
    (cur_day, cur), prev_pair = _pick(runs, as_of, None)
    cur_info = _info(cur_day, cur)
    model, version = _model(ctx, cur_info.model_version)
    notes: list[str] = []
    if cur_info.model_version is not None and version != cur_info.model_version:
        notes.append(
            f"version {cur_info.model_version} could not be loaded: the champion {version} is judged"
        )
    important = set(mon.top_features(model, policy.top_features))
    infos = {i.name: i for i in model.feature_infos}

    # Calibration: each inspection against the score its entity had that day.
    scored, left_out = _judged(ctx, runs, cur_day)
    rows = _calibration_rows(scored, "all", policy)
    control = scored.filter(pl.col("in_control_slice"))
    rows += _calibration_rows(control, "control", policy)
    control_cal = mon.calibration_by_tier(control, level=policy.level)

    # Drift.
    drift: list[DriftRow] = []
    cur_feats = _features(ctx, cur_day)
    ref_day, ref_kind, ref_feats, why = _reference(ctx, model, runs)
    if why:
        notes.append(why)
    names = model.feature_names
    ref_psi = pl.DataFrame(schema={"feature": pl.String, "psi": pl.Float64, "level": pl.String})
    comparisons: list[tuple[str, pl.DataFrame | None]] = []
    if prev_pair is not None:
        comparisons.append(("previous", _features(ctx, prev_pair[0])))
    comparisons.append(("reference", ref_feats))
    if cur_feats is None:
        notes.append(f"no feature file of the run {cur_day}: no drift computed")
    for against, base in comparisons:
        if cur_feats is None or base is None:
            continue
        table = mon.feature_psi(
            base,
            cur_feats,
            names,
            bins=policy.psi_bins,
            epsilon=policy.psi_epsilon,
            minor=policy.psi_minor,
            major=policy.psi_major,
        )
        if against == "reference":
            ref_psi = table
        for r in table.iter_rows(named=True):
            info = infos.get(r["feature"])
            drift.append(
                DriftRow(
                    against=against,
                    feature=r["feature"],
                    zh=info.zh if info else r["feature"],
                    en=info.en if info else r["feature"],
                    psi=r["psi"],
                    level=r["level"],
                    important=r["feature"] in important,
                )
            )

    # Fairness.
    fair: list[FairnessRow] = []
    for by in policy.fairness_groups:
        if by not in scored.columns:
            continue
        for r in mon.fairness(scored, by=by, policy=policy).iter_rows(named=True):
            fair.append(
                FairnessRow(
                    by=by,
                    group=r["group"],
                    n=r["n"],
                    predicted=r["predicted"],
                    observed=r["observed"],
                    ci_low=r["ci_low"],
                    ci_high=r["ci_high"],
                    gap=r["gap"],
                    difference=r["difference"],
                    flagged=r["flagged"],
                )
            )

    alerts = _alerts(drift, rows, fair, policy)
    verdict = mon.recommend(ref_psi, control_cal, sorted(important), policy)
    ctx.audit(
        "monitoring.feedback",
        target=f"scores:{cur_day.isoformat()}",
        details={"as_of": cur_day.isoformat(), "alerts": len(alerts), "retrain": verdict.retrain},
        read=True,
    )
    return Feedback(
        current=cur_info,
        previous=None if prev_pair is None else _info(*prev_pair),
        reference=ref_day,
        reference_kind=ref_kind,
        model_version=version,
        inspections=scored.height,
        left_out=left_out,
        calibration=tuple(rows),
        drift=tuple(sorted(drift, key=_drift_order)),
        fairness=tuple(fair),
        alerts=tuple(alerts),
        retrain=verdict.retrain,
        reason_zh=verdict.reason_zh,
        reason_en=verdict.reason_en,
        notes=tuple(notes),
    )


def _drift_order(row: DriftRow) -> tuple[int, float, str]:
    return (0 if row.against == "previous" else 1, -(row.psi if row.psi is not None else -1.0), row.feature)


def _alerts(
    drift: Sequence[DriftRow],
    calibration: Sequence[CalibrationRow],
    fair: Sequence[FairnessRow],
    policy: mon.MonitoringPolicy,
) -> list[Alert]:
    out = []
    for d in sorted(drift, key=_drift_order):
        if d.level == "major":
            out.append(
                Alert(
                    "drift",
                    "major",
                    d.feature,
                    f"PSI {d.psi:.3f} > {policy.psi_major} against the {d.against} run's features"
                    if d.against == "previous"
                    else f"PSI {d.psi:.3f} > {policy.psi_major} against the training reference",
                )
            )
    for c in calibration:
        if c.alert:
            out.append(
                Alert(
                    "calibration",
                    "alert",
                    f"{c.slice}:{c.tier}",
                    f"tier {c.tier} ({c.slice}): predicted {c.predicted:.3f} outside the observed "
                    f"{c.observed:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}] of {c.n} inspections "
                    f"(|gap| > {policy.calibration_gap})",
                )
            )
    for f in fair:
        if f.flagged:
            out.append(
                Alert(
                    "fairness",
                    "alert",
                    f"{f.by}:{f.group}",
                    f"{f.by} {f.group}: calibration gap {f.gap:+.3f} differs from the city's by "
                    f"{f.difference:+.3f} (> {policy.fairness_gap}) over {f.n} inspections",
                )
            )
    return out
