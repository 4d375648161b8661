"""Ingest batch ledger: one row per ingested batch (counts, content hash, when), recorded idempotently."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from supervision.platform.db import Base

_SHA256 = re.compile(r"[0-9a-f]{64}")

# The fields a caller gives; recorded_at is the ledger's own clock and never part of a comparison.
_FIELDS = (
    "batch_id",
    "table",
    "source",
    "content_sha256",
    "rows_read",
    "rows_accepted",
    "rows_quarantined",
    "ingested_at",
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IngestBatch(Base):
    """A batch of records that reached the lake: where from, what content, and the row balance."""

    __tablename__ = "ingest_batch"
    __table_args__ = (
        # The ingest invariant (issue 2): every row read is either accepted or quarantined, none dropped.
        sa.CheckConstraint("rows_read = rows_accepted + rows_quarantined", name="rows_balance"),
        sa.CheckConstraint("rows_accepted >= 0 AND rows_quarantined >= 0", name="rows_non_negative"),
        sa.CheckConstraint("length(content_sha256) = 64", name="content_sha256_length"),
    )

    batch_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    table_name: Mapped[str] = mapped_column(sa.String(64))
    source: Mapped[str] = mapped_column(sa.Text)
    content_sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    rows_read: Mapped[int]
    rows_accepted: Mapped[int]
    rows_quarantined: Mapped[int]
    ingested_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=_utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "table": self.table_name,
            "source": self.source,
            "content_sha256": self.content_sha256,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_quarantined": self.rows_quarantined,
            "ingested_at": self.ingested_at,
            "recorded_at": self.recorded_at,
        }


def _check(values: dict[str, Any]) -> None:
    batch = values["batch_id"]
    if not isinstance(batch, str) or not batch:
        raise ValueError(f"batch_id must be a non-empty string, got {batch!r}")
    for name in ("table", "source"):
        if not isinstance(values[name], str) or not values[name]:
            raise ValueError(f"batch {batch!r}: {name} must be a non-empty string, got {values[name]!r}")
    if not isinstance(values["content_sha256"], str) or not _SHA256.fullmatch(values["content_sha256"]):
        raise ValueError(
            f"batch {batch!r}: content_sha256 must be 64 lowercase hex digits, "
            f"got {values['content_sha256']!r}"
        )
    for name in ("rows_read", "rows_accepted", "rows_quarantined"):
        count = values[name]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"batch {batch!r}: {name} must be a non-negative integer, got {count!r}")
    if values["rows_read"] != values["rows_accepted"] + values["rows_quarantined"]:
        raise ValueError(
            f"batch {batch!r}: rows_read ({values['rows_read']}) != rows_accepted ({values['rows_accepted']})"
            f" + rows_quarantined ({values['rows_quarantined']})"
        )
    at = values["ingested_at"]
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"batch {batch!r}: ingested_at must be a timezone-aware datetime, got {at!r}")


def record_batch(
    session: Session,
    *,
    batch_id: str,
    table: str,
    source: str,
    content_sha256: str,
    rows_read: int,
    rows_accepted: int,
    rows_quarantined: int,
    ingested_at: datetime,
) -> None:
    """Add a batch to the ledger; recording the same batch again is a no-op, with other values a ValueError.

    Runs inside the caller's transaction (see `supervision.platform.db.session_scope`); nothing is committed
    here.
    """
    given = {
        "batch_id": batch_id,
        "table": table,
        "source": source,
        "content_sha256": content_sha256,
        "rows_read": rows_read,
        "rows_accepted": rows_accepted,
        "rows_quarantined": rows_quarantined,
        "ingested_at": ingested_at,
    }
    _check(given)
    existing = session.get(IngestBatch, batch_id)
    if existing is None:
        try:
            # A savepoint, so that losing a race with another writer of the same batch leaves the caller's
            # transaction usable; constraint violations surface here, inside it.
            with session.begin_nested():
                session.add(
                    IngestBatch(
                        batch_id=batch_id,
                        table_name=table,
                        source=source,
                        content_sha256=content_sha256,
                        rows_read=rows_read,
                        rows_accepted=rows_accepted,
                        rows_quarantined=rows_quarantined,
                        ingested_at=ingested_at.astimezone(UTC),
                    )
                )
            return
        except sa.exc.IntegrityError:
            existing = session.get(IngestBatch, batch_id)  # the other writer's row, now committed
            if existing is None:
                raise
    _same_or_raise(existing, given)


def _same_or_raise(existing: IngestBatch, given: dict[str, Any]) -> None:
    stored = existing.as_dict()
    # Instants compare equal across time zones; the database keeps microseconds on both backends.
    changed = [name for name in _FIELDS if stored[name] != given[name]]
    if changed:
        details = ", ".join(f"{name}: recorded {stored[name]!r}, given {given[name]!r}" for name in changed)
        raise ValueError(
            f"batch {given['batch_id']!r} is already in the ledger with other values ({details})"
        )


def list_batches(session: Session, *, table: str | None = None) -> list[dict[str, Any]]:
    """Every recorded batch (optionally of one table), oldest first, as plain dicts (UTC datetimes)."""
    query = sa.select(IngestBatch).order_by(IngestBatch.ingested_at, IngestBatch.batch_id)
    if table is not None:
        query = query.where(IngestBatch.table_name == table)
    return [batch.as_dict() for batch in session.scalars(query)]
