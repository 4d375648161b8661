"""Re-scoring one entity right after a decision that changes its records (upheld objection, approved
repair)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy.orm import Session

from features import lake as lake_io
from features.build import build_for_events
from serving.champion import NoChampion, load_champion
from serving.settings import Settings
from supervision.lifecycle import scores

if TYPE_CHECKING:
    from models.risk_model import EntityScore, RiskModel

__all__ = ["Champion", "Rescore", "RescoredScore", "rescore", "skipped"]

# Gives (model, version) of the champion, or raises NoChampion with the reason.
Champion = Callable[[], "tuple[RiskModel, str]"]


@dataclass(frozen=True, slots=True)
class RescoredScore:
    """The entity's score on one side of the decision: as of the decision day (before) or the next (after)."""

    as_of: date
    probability: float
    tier: str
    reasons_zh: str | None

    @classmethod
    def of(cls, scored: EntityScore, day: date) -> RescoredScore:
        return cls(as_of=day, probability=scored.probability, tier=scored.tier, reasons_zh=scored.reasons_zh)


@dataclass(frozen=True, slots=True)
class Rescore:
    """What a re-score did: ``rescored`` with before/after, or ``skipped`` with why (the decision stands)."""

    status: str
    reason: str
    model_version: str | None = None
    as_of: date | None = None
    before: RescoredScore | None = None
    after: RescoredScore | None = None
    history_id: int | None = None

    @property
    def tier_after(self) -> str | None:
        return None if self.after is None else self.after.tier

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def skipped(reason: str) -> Rescore:
    return Rescore(status="skipped", reason=reason)


def rescore(
    session: Session,
    settings: Settings,
    *,
    uscc: str,
    on: date,
    reason: str,
    champion: Champion | None = None,
) -> Rescore:
    """Score ``uscc`` with the champion before (as of ``on``) and after (as of ``on`` + 1 day) the decision of
    ``on`` and append the after-score to the score history, in ``session``'s transaction.

    A decision applies to the features from the day after it (point in time, ``features.lifecycle``), so
    "after" is the next day's features on the lake as it is now; "before" is the decision day's, with the
    same model. Any failure (no registry, no champion, a broken model, the lake) gives ``skipped`` with the
    cause: re-scoring never undoes the decision it follows.

    ``champion`` gives the model: the API passes its serving champion's (no second copy is loaded); by
    default (the CLI) the registry's champion is loaded through :func:`serving.champion.load_champion`.
    """
    try:
        try:
            model, version = champion() if champion is not None else load_champion(settings.mlflow_uri)
        except NoChampion as exc:
            return skipped(str(exc))
        after_day = on + timedelta(days=1)
        events = pl.LazyFrame({"uscc": [uscc, uscc], "as_of": [on, after_day]})
        feats = build_for_events(lake_io.sources(settings.lake_dir), events).collect()
        by_day = {s.as_of: s for s in model.score_each(feats, reasons=3)}
        before = RescoredScore.of(by_day[on], on)
        after = RescoredScore.of(by_day[after_day], after_day)
        # A savepoint: a failed insert must not roll back the decision sharing this transaction.
        with session.begin_nested():
            entry = scores.record(
                session,
                uscc=uscc,
                as_of=after_day,
                decided_on=on,
                probability=after.probability,
                tier=after.tier,
                model_version=version,
                reason=reason,
                reasons_zh=after.reasons_zh,
            )
    except Exception as exc:  # the decision stands whatever went wrong here; the cause is returned
        return skipped(f"re-scoring failed: {exc.__class__.__name__}: {exc}")
    return Rescore(
        status="rescored",
        reason=reason,
        model_version=version,
        as_of=after_day,
        before=before,
        after=after,
        history_id=entry.id,
    )
