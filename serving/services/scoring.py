"""Scores and features: a score run over every registered entity (``creditwatch score``), the batch look-up
of current scores (another government system's), feature tables and the red/black list cross-check.

A score run and a feature build are work on one's own machine: the CLI's local operator may run them, and an
analyst's token may; both are audited like any change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from features import uscc as uscc_rules
from features.lake import atomic_write
from serving.champion import NoChampion
from serving.services import current_score
from serving.services.context import Context, use_case
from serving.services.current_score import CurrentScore
from serving.services.entities import SCORE_READERS, check_day
from supervision.platform.access import Role
from supervision.platform.errors import DomainError

__all__ = [
    "MAX_BATCH",
    "BatchItem",
    "BatchScores",
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
    ctx: Context, *, as_of: date, out: Path | None = None, reasons: int = 3, progress: Progress | None = None
) -> ScoreRun:
    """Score every entity registered on `as_of` with the champion: probability, tier, model version, the
    top `reasons` (zh/en). Writes the features scored to ``HOME/features/as_of=DATE.parquet`` first (the
    explanations of these scores read them), then the scores (`out`, default ``HOME/scores/as_of=DATE``),
    each followed by its manifest (``as_of=DATE.manifest.json``: rows, model version, SHA-256, schema
    version); the scores' manifest is written last, so a run killed half-way is never served
    (:mod:`serving.services.current_score`)."""
    from features.build import build_features as build

    check_day("as_of", as_of)
    if not 0 <= reasons <= 20:
        raise DomainError(f"reasons: {reasons} is out of range; allowed 0 to 20", field="reasons")
    release(ctx)
    try:
        model, version = ctx.champion()
    except NoChampion as exc:  # the run's precondition: train and promote first
        raise DomainError(exc.message, field="champion") from None
    say = progress or (lambda _: None)
    say(f"building features as of {as_of}")
    feats = build(ctx.sources(), as_of=as_of).collect()
    if feats.height == 0:
        raise DomainError(
            f"no entities registered before {as_of} in the lake {ctx.settings.lake_dir}", field="as_of"
        )
    say(f"scoring {feats.height} entities with version {version}")
    scored = model.score(feats, reasons=reasons).with_columns(pl.lit(version).alias("model_version"))
    if reasons:
        scored = scored.with_columns(
            pl.col("reasons").list.eval(pl.element().struct.field("zh")).list.join("；").alias("reasons_zh"),
            pl.col("reasons").list.eval(pl.element().struct.field("en")).list.join("; ").alias("reasons_en"),
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
        tiers=tuple(
            TierCount(
                tier=r["tier"], entities=r["entities"], mean_probability=round(r["mean_probability"], 4)
            )
            for r in summary.iter_rows(named=True)
        ),
    )


@use_case("features.build", roles=ANALYSTS, local=True)
def build_features(
    ctx: Context, *, dates: Sequence[date], out: Path | None = None, progress: Progress | None = None
) -> list[FeatureFile]:
    """The feature table of each date from the lake, one Parquet file per date (`out`: one file for one date,
    or a folder; default ``HOME/features/``). The same lake and date give a byte-identical file."""
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
    release(ctx)
    sources = ctx.sources()
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
    the same frame gives a byte-identical file."""
    atomic_write(path, lambda tmp: frame.write_parquet(tmp, compression="zstd", statistics=True))
