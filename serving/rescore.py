"""Re-scoring one entity right after a decision that changes its records (an upheld objection, an approved
repair, a listing or an exit, a breach): the score before and after the decision, on the same day.

Both scores are as of the day after the decision (a decision applies to the features from the next day,
``features.lifecycle``): "after" on the lake as it is now, "before" on the same lake without the rows the
decision wrote (:class:`DecisionRef`). The one day therefore moves nothing but the decision: no window,
age or validity shifts between the two, and a decision in the entity's favour can be seen never to raise
its probability (docs/model.md says what guarantees it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy.orm import Session

from features import lake as lake_io
from features.build import build_for_events
from features.lifecycle import without_rows
from serving.champion import NoChampion, load_champion
from serving.settings import Settings
from supervision.lifecycle import scores

if TYPE_CHECKING:
    from models.risk_model import EntityScore, RiskModel

__all__ = ["Champion", "DecisionRef", "Rescore", "RescoredScore", "rescore", "skipped"]

# Gives (model, version) of the champion, or raises NoChampion with the reason.
Champion = Callable[[], "tuple[RiskModel, str]"]


@dataclass(frozen=True, slots=True)
class DecisionRef:
    """One lake row a decision wrote: the row of catalog table ``table`` whose key is ``id`` (an
    ``objections`` row for an upheld objection, a ``repairs`` row and its ``commitments`` row for an
    approved repair, a ``list_entries`` row for a listing, a ``commitments`` row for a breach). Lifecycle
    rows are written once, when their decision is final, so the key names exactly the decision's row."""

    table: str
    id: str


@dataclass(frozen=True, slots=True)
class RescoredScore:
    """The entity's score on one side of the decision, both as of the day after it: ``before`` on the lake
    without the decision's rows, ``after`` on the lake with them."""

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
    decision: DecisionRef | Sequence[DecisionRef] = (),
    champion: Champion | None = None,
) -> Rescore:
    """Score ``uscc`` with the champion as of ``on`` + 1 day with and without the decision of ``on`` and
    append the after-score to the score history, in ``session``'s transaction.

    A decision applies to the features from the day after it (point in time, ``features.lifecycle``), so
    both scores are that day's: "after" on the lake as it is now, "before" on the lake without the rows of
    ``decision`` (:class:`DecisionRef`; the decision is isolated, no day shifts between the two). Without
    ``decision`` there is no "before" (``None``). Any failure (no registry, no champion, a broken model, the
    lake) gives ``skipped`` with the cause: re-scoring never undoes the decision it follows.

    ``champion`` gives the model: the API passes its serving champion's (no second copy is loaded); by
    default (the CLI) the registry's champion is loaded through :func:`serving.champion.load_champion`.
    """
    try:
        try:
            model, version = champion() if champion is not None else load_champion(settings.mlflow_uri)
        except NoChampion as exc:
            return skipped(str(exc))
        after_day = on + timedelta(days=1)
        refs = (decision,) if isinstance(decision, DecisionRef) else tuple(decision)
        lake = lake_io.sources(settings.lake_dir)
        after = _score(model, lake, uscc, after_day)
        before = None
        if refs:
            rows: dict[str, set[str]] = {}
            for ref in refs:
                rows.setdefault(ref.table, set()).add(ref.id)
            before = _score(model, without_rows(lake, rows), uscc, after_day)
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


def _score(model: RiskModel, lake: dict[str, pl.LazyFrame], uscc: str, day: date) -> RescoredScore:
    events = pl.LazyFrame({"uscc": [uscc], "as_of": [day]})
    (scored,) = model.score_each(build_for_events(lake, events).collect(), reasons=3)
    return RescoredScore.of(scored, day)
