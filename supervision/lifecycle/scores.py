"""Score history: every re-score of one entity after a decision that changes its records (append-only)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from supervision.platform.clock import SystemClock
from supervision.platform.db import Base

__all__ = ["ScoreEntry", "history", "latest", "record"]


class ScoreEntry(Base):
    """One entity's score computed right after a decision (an upheld objection, an approved repair).

    ``as_of`` is the features' date: a decision applies to the features from the day after it
    (``features.lifecycle``), so a decision of ``decided_on`` is scored as of the next day; lookups on
    ``decided_on`` and later already see the entry. Rows are only ever added, never changed.
    """

    __tablename__ = "score_history"
    __table_args__ = (
        sa.CheckConstraint("probability >= 0 AND probability <= 1", name="probability"),
        sa.Index("ix_score_history_uscc_decided_on", "uscc", "decided_on"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    as_of: Mapped[date] = mapped_column(sa.Date)
    decided_on: Mapped[date] = mapped_column(sa.Date)
    probability: Mapped[float] = mapped_column(sa.Float)
    tier: Mapped[str] = mapped_column(sa.String(8))
    model_version: Mapped[str] = mapped_column(sa.String(40))
    reason: Mapped[str] = mapped_column(sa.String(300))
    reasons_zh: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uscc": self.uscc,
            "as_of": self.as_of,
            "decided_on": self.decided_on,
            "probability": self.probability,
            "tier": self.tier,
            "model_version": self.model_version,
            "reason": self.reason,
            "reasons_zh": self.reasons_zh,
            "created_at": self.created_at,
        }


def record(
    session: Session,
    *,
    uscc: str,
    as_of: date,
    decided_on: date,
    probability: float,
    tier: str,
    model_version: str,
    reason: str,
    reasons_zh: str | None = None,
) -> ScoreEntry:
    """Append one entry (flushed, so it has its id)."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"score_history {uscc}: probability {probability!r} is not in [0, 1]")
    if as_of <= decided_on:
        raise ValueError(
            f"score_history {uscc}: as_of {as_of.isoformat()} must be after the decision day"
            f" {decided_on.isoformat()} (a decision applies to features from the next day)"
        )
    row = ScoreEntry(
        uscc=uscc,
        as_of=as_of,
        decided_on=decided_on,
        probability=float(probability),
        tier=tier,
        model_version=model_version,
        reason=reason[:300],
        reasons_zh=reasons_zh,
        # The system's clock, not a use case's: it is compared with the score files' modification times.
        created_at=SystemClock().now(),
    )
    session.add(row)
    session.flush()
    return row


def latest(session: Session, uscc: str, *, on: date) -> ScoreEntry | None:
    """The newest entry of ``uscc`` whose decision was taken on or before ``on``."""
    stmt = (
        sa.select(ScoreEntry)
        .where(ScoreEntry.uscc == uscc, ScoreEntry.decided_on <= on)
        .order_by(ScoreEntry.as_of.desc(), ScoreEntry.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def history(session: Session, uscc: str) -> list[ScoreEntry]:
    """Every entry of ``uscc``, oldest first."""
    stmt = sa.select(ScoreEntry).where(ScoreEntry.uscc == uscc).order_by(ScoreEntry.id)
    return list(session.scalars(stmt))
