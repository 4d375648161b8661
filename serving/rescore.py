"""Re-scoring one entity right after a decision that changes its records (upheld objection, approved repair)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from features import lake as lake_io
from features.build import build_for_events
from serving.champion import NoChampion, load_champion
from serving.settings import Settings
from supervision import scores

__all__ = ["Champion", "Rescore", "rescore", "skipped"]

# Gives (model, version) of the champion, or raises NoChampion with the reason.
Champion = Callable[[], tuple[Any, str]]


@dataclass(frozen=True, slots=True)
class Rescore:
    """What a re-score did: ``rescored`` with before/after, or ``skipped`` with why (the decision stands)."""

    status: str
    reason: str
    model_version: str | None = None
    as_of: date | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    history_id: int | None = None

    @property
    def tier_after(self) -> str | None:
        return None if self.after is None else str(self.after["tier"])

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def skipped(reason: str) -> Rescore:
    return Rescore(status="skipped", reason=reason)


def _row(scored: pl.DataFrame, day: date) -> dict[str, Any]:
    row = scored.filter(pl.col("as_of") == day).row(0, named=True)
    reasons = [r["zh"] for r in row.get("reasons") or [] if r.get("zh")]
    return {
        "as_of": day,
        "probability": float(row["probability"]),
        "tier": str(row["tier"]),
        "reasons_zh": "；".join(reasons) or None,
    }


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
        scored = model.score(feats, reasons=3)
        before, after = _row(scored, on), _row(scored, after_day)
        # A savepoint: a failed insert must not roll back the decision sharing this transaction.
        with session.begin_nested():
            entry = scores.record(
                session, uscc=uscc, as_of=after_day, decided_on=on, probability=after["probability"],
                tier=after["tier"], model_version=version, reason=reason, reasons_zh=after["reasons_zh"],
            )  # fmt: skip
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
