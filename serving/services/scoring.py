"""Scores and features: a score run over every registered entity (``creditwatch score``), the batch look-up
of current scores (another government system's), feature tables and the red/black list cross-check.

A score run and a feature build are work on one's own machine: the CLI's local operator may run them, and an
analyst's token may; both are audited like any change.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from features import partitioned
from features import uscc as uscc_rules
from features.lake import atomic_write
from models.risk_model import LARGE_BATCH
from serving.champion import NoChampion
from serving.services import current_score
from serving.services.context import Context, use_case
from serving.services.current_score import CurrentScore
from serving.services.entities import SCORE_READERS, check_day
from supervision.platform.access import Role
from supervision.platform.errors import DomainError

if TYPE_CHECKING:
    from features.dask_engine import DaskEngine
    from models.risk_model import RiskModel

__all__ = [
    "MAX_BATCH",
    "BatchItem",
    "BatchScores",
    "Cluster",
    "CrossCheck",
    "FeatureFile",
    "ScoreRun",
    "TierCount",
    "batch",
    "build_features",
    "crosscheck",
    "release",
    "run_scores",
]

MAX_BATCH = 1000
ANALYSTS = (Role.ANALYST,)

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BatchItem:
    uscc: str
    status: str  # ok, invalid, not_scored
    message: str | None  # why there is no score
    score: CurrentScore | None

    @property
    def score_as_of(self) -> date | None:
        """The date of the score answered (the current score's: a re-score may be newer than the file)."""
        return None if self.score is None else self.score.score_as_of


@dataclass(frozen=True, slots=True)
class BatchScores:
    as_of: date | None  # the score file answered from (None: there is none)
    items: tuple[BatchItem, ...]

    @property
    def found(self) -> int:
        return sum(i.status == "ok" for i in self.items)


@dataclass(frozen=True, slots=True)
class TierCount:
    tier: str
    entities: int
    mean_probability: float


@dataclass(frozen=True, slots=True)
class ScoreRun:
    as_of: date
    model_version: str
    entities: int
    path: Path  # the score file
    features_path: Path  # the features scored, which the explanations of these scores read
    manifest_path: Path  # written last: the run is the city's only once it exists and matches the file
    tiers: tuple[TierCount, ...]


@dataclass(frozen=True, slots=True)
class FeatureFile:
    as_of: date
    rows: int
    columns: int
    seconds: float
    path: Path


@dataclass(frozen=True, slots=True)
class Cluster:
    """Where a partitioned run runs (docs/scaling.md): a running scheduler (``address``, ``--dask``) or a
    ``LocalCluster`` of ``local_workers`` processes (``--dask-local``), exactly one; ``partitions`` (default
    twice the workers) is how many parts the city is cut into."""

    address: str | None = None
    local_workers: int | None = None
    partitions: int | None = None

    def check(self) -> None:
        """DomainError naming the option when the combination is not allowed."""
        if self.address is None and self.local_workers is None and self.partitions is not None:
            raise DomainError(
                "partitions: only a Dask run (--dask ADDRESS or --dask-local N) is partitioned",
                field="partitions",
            )
        if (self.address is None) == (self.local_workers is None):
            raise DomainError(
                "dask: give either a scheduler address (--dask ADDRESS) or a number of local workers "
                "(--dask-local N), not both and not neither",
                field="dask",
            )
        if self.local_workers is not None and self.local_workers < 1:
            raise DomainError(
                f"dask_local: {self.local_workers} workers; a local cluster needs at least 1",
                field="dask_local",
            )
        if self.partitions is not None and self.partitions < 1:
            raise DomainError(f"partitions: {self.partitions}; give at least 1", field="partitions")

    @property
    def label(self) -> str:
        return self.address if self.address is not None else f"local:{self.local_workers}"


@dataclass(frozen=True, slots=True)
class CrossCheck:
    """Entities on a red and a black list at once, and persons leading or owning entities on both sides."""

    as_of: date
    entities: pl.DataFrame
    persons: pl.DataFrame


# ------------------------------------------------------------------------------------------------ use cases
@use_case("scores.batch", roles=SCORE_READERS)
def batch(ctx: Context, usccs: Sequence[str]) -> BatchScores:
    """The current score of each code, answered in the same order; a malformed or unscored code is reported
    in its item, not refused."""
    if not 1 <= len(usccs) <= MAX_BATCH:
        raise DomainError(f"usccs: {len(usccs)} codes; a batch takes 1 to {MAX_BATCH}", field="usccs")
    verdicts = {code: uscc_rules.validate(code, allow=ctx.settings.uscc_allow_list) for code in usccs}
    valid = sorted({c for c, v in verdicts.items() if v.ok})
    found = current_score.current_scores(ctx.settings, valid, ctx.today, ctx.session)
    items = []
    for code in usccs:
        verdict = verdicts[code]
        if not verdict.ok:
            items.append(BatchItem(uscc=code, status="invalid", message=verdict.reason, score=None))
        elif code in found:
            items.append(BatchItem(uscc=code, status="ok", message=None, score=found[code]))
        else:
            why = "not in the stored scores (unknown or unscored)"
            items.append(BatchItem(uscc=code, status="not_scored", message=why, score=None))
    table = current_score.score_store(ctx.settings.home).table(ctx.today)
    # A read of many entities' verdicts: audited with the count.
    ctx.audit("scores.batch", target="scores:batch", details={"entities": len(usccs)}, read=True)
    return BatchScores(as_of=table.as_of if table is not None else None, items=tuple(items))


@use_case("scores.run", roles=ANALYSTS, local=True)
def run_scores(
    ctx: Context,
    *,
    as_of: date,
    out: Path | None = None,
    reasons: int = 3,
    progress: Progress | None = None,
    dask: Cluster | None = None,
) -> ScoreRun:
    """Score every entity registered on `as_of` with the champion: probability, tier, model version, the
    top `reasons` (zh/en). Writes the features scored to ``HOME/features/as_of=DATE.parquet`` first (the
    explanations of these scores read them), then the scores (`out`, default ``HOME/scores/as_of=DATE``),
    each followed by its manifest (``as_of=DATE.manifest.json``: rows, model version, SHA-256, schema
    version); the scores' manifest is written last, so a run killed half-way is never served
    (:mod:`serving.services.current_score`).

    With `dask` the run is partitioned over a Dask cluster (docs/scaling.md): the same rows, values, tiers
    and reasons, written as partitioned Parquet folders at the same paths, each made visible by one rename."""
    from features.build import build_features as build

    check_day("as_of", as_of)
    if not 0 <= reasons <= 20:
        raise DomainError(f"reasons: {reasons} is out of range; allowed 0 to 20", field="reasons")
    if dask is not None:
        dask.check()
    release(ctx)
    try:
        model, version = ctx.champion()
    except NoChampion as exc:  # the run's precondition: train and promote first
        raise DomainError(exc.message, field="champion") from None
    say = progress or (lambda _: None)
    if dask is not None:
        return _run_scores_partitioned(
            ctx, dask, model=model, version=version, as_of=as_of, out=out, reasons=reasons, say=say
        )
    say(f"building features as of {as_of}")
    feats = build(ctx.sources(), as_of=as_of).collect()
    if feats.height == 0:
        raise DomainError(
            f"no entities registered before {as_of} in the lake {ctx.settings.lake_dir}", field="as_of"
        )
    say(f"scoring {feats.height} entities with version {version}")
    scored = _with_reason_text(
        model.score(feats, reasons=reasons).with_columns(pl.lit(version).alias("model_version")), reasons
    )
    path = out or ctx.workspace.score_file(as_of)
    features_path = ctx.workspace.feature_file(as_of)
    ctx.audit(
        "scores.run",
        target=f"scores:{as_of.isoformat()}",
        details={
            "as_of": as_of.isoformat(),
            "model_version": version,
            "entities": scored.height,
            "path": str(path),
        },
    )
    # Features first: a score file never exists without the features it came from; each file before its
    # manifest, the scores' manifest last.
    _write(feats, features_path)
    current_score.write_manifest(
        features_path, kind="features", as_of=as_of, rows=feats.height, model_version=None
    )
    _write(scored, path)
    manifest = current_score.write_manifest(
        path, kind="scores", as_of=as_of, rows=scored.height, model_version=version
    )
    summary = (
        scored.group_by("tier")
        .agg(pl.len().alias("entities"), pl.col("probability").mean().alias("mean_probability"))
        .sort("tier")
    )
    return ScoreRun(
        as_of=as_of,
        model_version=version,
        entities=scored.height,
        path=path,
        features_path=features_path,
        manifest_path=manifest,
        tiers=_tier_counts(summary),
    )


def _tier_counts(summary: pl.DataFrame) -> tuple[TierCount, ...]:
    return tuple(
        TierCount(tier=r["tier"], entities=r["entities"], mean_probability=round(r["mean_probability"], 4))
        for r in summary.iter_rows(named=True)
    )


def _with_reason_text(scored: pl.DataFrame, reasons: int) -> pl.DataFrame:
    """The reasons as one Chinese and one English line (the score file's ``reasons_zh``/``reasons_en``)."""
    if not reasons:
        return scored
    return scored.with_columns(
        pl.col("reasons").list.eval(pl.element().struct.field("zh")).list.join("；").alias("reasons_zh"),
        pl.col("reasons").list.eval(pl.element().struct.field("en")).list.join("; ").alias("reasons_en"),
    )


# ------------------------------------------------------------------------------- partitioned runs (Dask)
# RiskModel explains batches of at least LARGE_BATCH rows with explain_batch (models/risk_model.py); a
# partitioned run decides by the whole population, so its reasons are those of the single-process run.
def _score_part(
    feats: pl.DataFrame,
    model: RiskModel,
    template: pl.DataFrame | None,
    *,
    reasons: int,
    version: str,
    population: int,
) -> pl.DataFrame:
    """One partition scored as :func:`run_scores` scores the city (runs on a worker). An empty partition
    gets the empty score table of ``template`` (a non-empty partition's features)."""
    if feats.height == 0 and template is not None:
        return _score_part(
            template, model, None, reasons=reasons, version=version, population=population
        ).clear()
    contributions = None
    if reasons:
        contributions = model.contributions(feats, batch=population >= LARGE_BATCH)
    scored = model.score(feats, reasons=reasons, contributions=contributions)
    return _with_reason_text(scored.with_columns(pl.lit(version).alias("model_version")), reasons)


def _tier_sums(scored: pl.DataFrame) -> pl.DataFrame:
    return scored.group_by("tier").agg(
        pl.len().cast(pl.Int64).alias("entities"), pl.col("probability").sum().alias("probability_sum")
    )


def _score_written_part(
    features_staging: str,
    k: int,
    model: RiskModel,
    template: int | None,
    scores_staging: str,
    *,
    reasons: int,
    version: str,
    population: int,
) -> pl.DataFrame:
    """Partition ``k`` scored from its staged feature part and written as score part ``k`` (runs on a
    worker); returns its tier sums. One task from the feature part to the score part: a worker holds only
    the partitions it is scoring, not the city's scores until the run is published (docs/scaling.md,
    "Memory"). ``template`` is a non-empty partition's number when ``k`` is empty (its empty score table
    takes that partition's schema)."""
    folder = Path(features_staging)
    feats = pl.read_parquet(folder / partitioned.part_name(k))
    shape = None if template is None else pl.read_parquet(folder / partitioned.part_name(template))
    scored = _score_part(feats, model, shape, reasons=reasons, version=version, population=population)
    partitioned.write_part(scored, scores_staging, k)
    return _tier_sums(scored)


def _cluster_sources(ctx: Context) -> Mapping[str, pl.LazyFrame]:
    """The lake's visible batches, listed once here (every partition reads the same lake, even if an ingest
    lands meanwhile), by absolute paths (the workers' working folder may be another)."""
    from features import lake as lake_io

    return lake_io.sources(ctx.settings.lake_dir.resolve())


@contextmanager
def _partitioned(dask: Cluster) -> Iterator[DaskEngine]:
    from features.dask_engine import DaskEngine
    from features.engine import cluster

    with ExitStack() as stack:
        try:
            client = stack.enter_context(cluster(dask.address, dask.local_workers))
        except OSError as exc:  # no scheduler there, or it did not answer in time
            raise DomainError(
                f"dask: cannot reach the Dask scheduler at {dask.label} ({exc})", field="dask"
            ) from None
        workers = len(client.scheduler_info().get("workers", {}))
        yield DaskEngine(client, dask.partitions or 2 * max(workers, 1))


@contextmanager
def _staging(*targets: Path) -> Iterator[list[Path]]:
    """A staging folder per target; removed when the run fails before publishing them."""
    folders = [partitioned.open_staging(t) for t in targets]
    try:
        yield folders
    except BaseException:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _run_scores_partitioned(
    ctx: Context,
    dask: Cluster,
    *,
    model: RiskModel,
    version: str,
    as_of: date,
    out: Path | None,
    reasons: int,
    say: Progress,
) -> ScoreRun:
    from features.engine import Partitioned

    path = out or ctx.workspace.score_file(as_of)
    features_path = ctx.workspace.feature_file(as_of)
    sources = _cluster_sources(ctx)
    with _partitioned(dask) as engine, _staging(features_path, path) as (staged_features, staged_scores):
        n = engine.n
        say(f"building features as of {as_of} in {n} partitions on {dask.label}")
        feats = partitioned.build_partitioned(engine, sources, as_of=as_of)
        ks = Partitioned(list(range(n)))
        written = engine.gather(
            engine.map(partitioned.write_part, Partitioned(feats), str(staged_features), ks)
        )
        # The feature parts are staged: every partition's features, graph and lake inputs are released on
        # the cluster before the scoring starts (each score task reads its part back).
        del feats
        heights = [rows for _, rows in sorted(written)]
        total = sum(heights)
        if total == 0:
            raise DomainError(
                f"no entities registered before {as_of} in the lake {ctx.settings.lake_dir}", field="as_of"
            )
        say(f"scoring {total} entities with version {version}")
        first = next(k for k, h in enumerate(heights) if h)
        templates = Partitioned([None if h else first for h in heights])
        shared = engine.broadcast(model)  # sent once to every worker, not once per partition
        sums = engine.map(
            _score_written_part,
            str(staged_features),
            ks,
            shared,
            templates,
            str(staged_scores),
            reasons=reasons,
            version=version,
            population=total,
        )
        summary = (
            pl.concat(engine.gather(sums))
            .group_by("tier")
            .agg(pl.col("entities").sum(), pl.col("probability_sum").sum())
            .select(
                "tier", "entities", (pl.col("probability_sum") / pl.col("entities")).alias("mean_probability")
            )
            .sort("tier")
        )
        ctx.audit(
            "scores.run",
            target=f"scores:{as_of.isoformat()}",
            details={
                "as_of": as_of.isoformat(),
                "model_version": version,
                "entities": total,
                "path": str(path),
                "dask": dask.label,
                "partitions": n,
            },
        )
        # As the single-process run: the features (folder, then manifest) first, the scores' manifest last.
        partitioned.publish(staged_features, features_path, n)
        current_score.write_manifest(
            features_path, kind="features", as_of=as_of, rows=total, model_version=None
        )
        partitioned.publish(staged_scores, path, n)
    manifest = current_score.write_manifest(
        path, kind="scores", as_of=as_of, rows=total, model_version=version
    )
    return ScoreRun(
        as_of=as_of,
        model_version=version,
        entities=total,
        path=path,
        features_path=features_path,
        manifest_path=manifest,
        tiers=_tier_counts(summary),
    )


@use_case("features.build", roles=ANALYSTS, local=True)
def build_features(
    ctx: Context,
    *,
    dates: Sequence[date],
    out: Path | None = None,
    progress: Progress | None = None,
    dask: Cluster | None = None,
) -> list[FeatureFile]:
    """The feature table of each date from the lake, one Parquet file per date (`out`: one file for one date,
    or a folder; default ``HOME/features/``). The same lake and date give a byte-identical file. With `dask`
    each date is built partitioned on a Dask cluster and written as a partitioned Parquet folder at the same
    path (docs/scaling.md)."""
    from features.build import build_features as build

    days = sorted(set(dates))
    if not days:
        raise DomainError("as_of: give at least one date", field="as_of")
    for day in days:
        check_day("as_of", day)
    single = out is not None and out.suffix == ".parquet"
    if single and len(days) > 1:
        raise DomainError(
            f"out: {out} is one file but {len(days)} dates were given; pass a folder", field="out"
        )
    if dask is not None:
        dask.check()
    release(ctx)
    sources = ctx.sources() if dask is None else _cluster_sources(ctx)
    if dask is not None:
        built = _build_features_partitioned(
            ctx, dask, sources, days=days, out=out, single=single, progress=progress
        )
        ctx.audit(
            "features.build",
            target="features",
            details={
                "dates": [d.isoformat() for d in days],
                "paths": [str(f.path) for f in built],
                "dask": dask.label,
            },
        )
        return built
    built = []
    for day in days:
        (progress or (lambda _: None))(f"building features as of {day}")
        started = time.perf_counter()
        frame = build(sources, as_of=day).collect()
        path = (
            ctx.workspace.feature_file(day)
            if out is None
            else out
            if single
            else out / f"as_of={day}.parquet"
        )
        _write(
            frame, path
        )  # one date at a time: a city's tables of many dates need not fit in memory at once
        current_score.write_manifest(path, kind="features", as_of=day, rows=frame.height, model_version=None)
        seconds = round(time.perf_counter() - started, 2)
        built.append(
            FeatureFile(as_of=day, rows=frame.height, columns=frame.width, seconds=seconds, path=path)
        )
    ctx.audit(
        "features.build",
        target="features",
        details={"dates": [d.isoformat() for d in days], "paths": [str(f.path) for f in built]},
    )
    return built


@use_case("features.crosscheck", roles=(Role.SUPERVISOR, Role.ANALYST), local=True)
def crosscheck(ctx: Context, *, on: date) -> CrossCheck:
    """Entities on a red list and a black list at once, and persons linked to both sides
    (红黑名单交叉比对)."""
    from features.crosscheck import entity_conflicts, person_conflicts

    check_day("as_of", on)
    sources = ctx.sources()
    entities, persons = pl.collect_all(
        [entity_conflicts(sources, as_of=on), person_conflicts(sources, as_of=on).drop("person_key")]
    )
    ctx.audit("features.crosscheck", target="lists", details={"as_of": on.isoformat()}, read=True)
    return CrossCheck(as_of=on, entities=entities, persons=persons)


def release(ctx: Context) -> None:
    """End the transaction the door opened (its identity check; on SQLite the CLI's writer starts holding the
    audit chain's lock) before a long computation: no lock is held while it runs, and the use case's audit
    entry is appended in a fresh, short transaction at its end. Nothing has been written in it yet."""
    ctx.session.commit()


def _write(frame: pl.DataFrame, path: Path) -> None:
    """Beside the target, then renamed (:func:`features.lake.atomic_write`); no varying writer metadata, so
    the same frame gives a byte-identical file. A partitioned run's folder at the path is replaced."""
    partitioned.replace_with_file(
        path,
        lambda target: atomic_write(
            target, lambda tmp: frame.write_parquet(tmp, compression="zstd", statistics=True)
        ),
    )


def _build_features_partitioned(
    ctx: Context,
    dask: Cluster,
    sources: Mapping[str, pl.LazyFrame],
    *,
    days: list[date],
    out: Path | None,
    single: bool,
    progress: Progress | None,
) -> list[FeatureFile]:
    from features.build import FeatureConfig

    width = len(FeatureConfig().schema)  # every partition is conformed to it
    built = []
    with _partitioned(dask) as engine:
        for day in days:
            (progress or (lambda _: None))(f"building features as of {day} in {engine.n} partitions")
            started = time.perf_counter()
            path = (
                ctx.workspace.feature_file(day)
                if out is None
                else out
                if single
                else out / f"as_of={day}.parquet"
            )
            feats = partitioned.build_partitioned(engine, sources, as_of=day)
            rows = partitioned.write_run(engine, feats, path)
            current_score.write_manifest(path, kind="features", as_of=day, rows=rows, model_version=None)
            seconds = round(time.perf_counter() - started, 2)
            built.append(FeatureFile(as_of=day, rows=rows, columns=width, seconds=seconds, path=path))
    return built
