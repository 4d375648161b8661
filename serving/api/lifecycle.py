"""What the lifecycle routers share: the acting principal, today's date in China, the lake, the policies and
the serving champion that re-scores after a decision."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from fastapi import Request
from sqlalchemy.orm import Session

from features import lake as lake_io
from serving.api import masking
from serving.api.champion import ServingChampion, score_files
from serving.api.deps import Principal
from serving.settings import Settings
from supervision import reports, restrictions, scores
from supervision.records import Lake
from supervision.regimes import Policy, load_policy
from supervision.workflow import Actor

CHINA = ZoneInfo("Asia/Shanghai")


def actor(principal: Principal) -> Actor:
    return Actor(principal.actor, role=principal.role.value)


def today() -> date:
    """The date in China: deadlines are counted in Chinese working days."""
    return datetime.now(CHINA).date()


def lake(settings: Settings) -> Lake:
    return Lake(dir=settings.lake_dir, salt=settings.person_salt)


def sources(settings: Settings) -> Mapping[str, pl.LazyFrame]:
    return lake_io.sources(settings.lake_dir)


def policy(settings: Settings) -> Policy:
    return load_policy(settings.lifecycle_policy)


def measures(settings: Settings) -> tuple[restrictions.Measure, ...]:
    return restrictions.load_catalog(settings.restriction_catalog)


def champion(request: Request) -> Callable[[], tuple[Any, str]]:
    """The re-score's model: the one this process already serves (``ServingChampion.get``), not a second copy."""
    holder: ServingChampion = request.app.state.champion
    return holder.get


def name_masker(audience: str) -> Callable[[str], str]:
    """How `audience` (a role or ``public``) sees a natural person's name under the masking policy."""
    seen = masking.visibility(masking.Kind.PERSON_NAME, audience)
    if seen == masking.FULL:
        return lambda v: v
    if seen == masking.MASKED:
        return masking.mask_name
    return lambda v: "***"


def _latest_scores(settings: Settings, on: date) -> tuple[date, Path] | None:
    """The newest ``HOME/scores/as_of=DATE.parquet`` (written by ``creditwatch score``) dated on or before ``on``."""
    dated = [found for found in score_files(settings.home) if found[0] <= on]
    return dated[-1] if dated else None


def _file_row(settings: Settings, uscc: str, on: date) -> tuple[date, float, dict[str, Any]] | None:
    found = _latest_scores(settings, on)
    if found is None:
        return None
    day, path = found
    frame = pl.scan_parquet(path)
    names = frame.collect_schema().names()
    if "uscc" not in names or "tier" not in names:
        return None
    wanted = [c for c in ("uscc", "tier", "probability", "reasons_zh") if c in names]
    rows = frame.filter(pl.col("uscc") == uscc).select(wanted).collect().to_dicts()
    return (day, path.stat().st_mtime, rows[0]) if rows else None


def score_row(
    settings: Settings, uscc: str, on: date, session: Session | None = None
) -> dict[str, Any] | None:
    """The entity's current score (tier, probability, reasons_zh), or None.

    Two stores: the latest score file, and (given a session) the score history that decisions append to.
    The history entry wins when its features are at least as recent as the file's (a later as_of, or the
    same as_of written after the file): a re-score after an upheld objection or an approved repair is seen
    at once, and a later full ``creditwatch score`` run takes over again.
    """
    file_row = _file_row(settings, uscc, on)
    entry = scores.latest(session, uscc, on=on) if session is not None else None
    if entry is not None and (
        file_row is None
        or entry.as_of > file_row[0]
        or (entry.as_of == file_row[0] and entry.created_at.timestamp() >= file_row[1])
    ):
        return {
            "uscc": uscc,
            "tier": entry.tier,
            "probability": entry.probability,
            "reasons_zh": entry.reasons_zh,
            "source": f"score_history:{entry.id}",
        }
    return None if file_row is None else {**file_row[2], "source": f"score_file:{file_row[0].isoformat()}"}


def tiers(settings: Settings, on: date, session: Session | None = None) -> Callable[[str], str | None]:
    """A tier lookup: the score history (given a session) or the latest score file, whichever is newer."""

    def lookup(uscc: str) -> str | None:
        row = score_row(settings, uscc, on, session)
        return None if row is None else str(row["tier"])

    return lookup


def report_score(
    settings: Settings, uscc: str, on: date, session: Session | None = None
) -> reports.Score | None:
    row = score_row(settings, uscc, on, session)
    if row is None:
        return None
    reasons = [r for r in (row.get("reasons_zh") or "").split("；") if r]
    probability = row.get("probability")
    return reports.Score(
        tier=str(row["tier"]),
        score=None if probability is None else round(float(probability), 4),
        reasons=reasons,
    )
