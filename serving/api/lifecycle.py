"""What the lifecycle routers share: the acting principal, today's date in China, the lake and the policies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from features import lake as lake_io
from serving.api import masking
from serving.api.deps import Principal
from serving.settings import Settings
from supervision import reports, restrictions
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


def name_masker(audience: str) -> Callable[[str], str]:
    """How `audience` (a role or ``public``) sees a natural person's name under the masking policy."""
    seen = masking.visibility(masking.Kind.PERSON_NAME, audience)
    if seen == masking.FULL:
        return lambda v: v
    if seen == masking.MASKED:
        return masking.mask_name
    return lambda v: "***"


def _latest_scores(settings: Settings, on: date) -> Path | None:
    """The newest ``HOME/scores/as_of=DATE.parquet`` (written by ``creditwatch score``) dated on or before ``on``."""
    folder = settings.home / "scores"
    if not folder.is_dir():
        return None
    dated = []
    for path in folder.glob("as_of=*.parquet"):
        try:
            day = date.fromisoformat(path.stem.removeprefix("as_of="))
        except ValueError:
            continue
        if day <= on:
            dated.append((day, path))
    return max(dated)[1] if dated else None


def score_row(settings: Settings, uscc: str, on: date) -> dict[str, Any] | None:
    """The entity's row of the latest score file (tier, probability, reasons_zh), or None."""
    path = _latest_scores(settings, on)
    if path is None:
        return None
    frame = pl.scan_parquet(path)
    names = frame.collect_schema().names()
    if "uscc" not in names or "tier" not in names:
        return None
    wanted = [c for c in ("uscc", "tier", "probability", "reasons_zh") if c in names]
    rows = frame.filter(pl.col("uscc") == uscc).select(wanted).collect().to_dicts()
    return rows[0] if rows else None


def tiers(settings: Settings, on: date) -> Callable[[str], str | None]:
    """A tier lookup on the latest score file (None for an entity or a day without scores)."""

    def lookup(uscc: str) -> str | None:
        row = score_row(settings, uscc, on)
        return None if row is None else str(row["tier"])

    return lookup


def report_score(settings: Settings, uscc: str, on: date) -> reports.Score | None:
    row = score_row(settings, uscc, on)
    if row is None:
        return None
    reasons = [r for r in (row.get("reasons_zh") or "").split("；") if r]
    probability = row.get("probability")
    return reports.Score(
        tier=str(row["tier"]),
        score=None if probability is None else round(float(probability), 4),
        reasons=reasons,
    )
