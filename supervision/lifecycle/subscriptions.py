"""Triggered mode of 逢办必查: webhook subscribers receive the list outbox's events, with retries.

The outbox carries list enter/exit events (``"kind": "list"``) and early warnings (``"kind": "warning"``,
the warning's rule, department, runs and evidence under ``"warning"``); a subscriber tells them apart by
``kind``.

Each subscriber keeps the id of the last event it acknowledged (HTTP 2xx). ``deliver_due`` posts the next
events (a JSON list, oldest first) to every subscriber that is due; a failure keeps the position, counts the
attempt and waits ``RETRY_BASE * 2**(attempts-1)`` up to ``RETRY_MAX`` before the next try, so events are
delivered at least once and in order. Run it from a scheduler (``creditwatch lists deliver``). Subscribers
that prefer to pull poll ``GET /events?after=ID`` instead.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from supervision.lifecycle import lists
from supervision.platform.db import Base
from supervision.platform.errors import DomainError, ErrorKind

__all__ = [
    "EVENT_KINDS",
    "RETRY_BASE",
    "RETRY_MAX",
    "Subscriber",
    "SubscriptionError",
    "deliver_due",
    "http_post",
    "subscribe",
]

RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)
Post = Callable[[str, bytes], int]


class SubscriptionError(DomainError, ValueError):
    """A subscriber that cannot be registered as asked (bad name or address, a name already taken)."""


class Subscriber(Base):
    """A registered system that receives list events by webhook."""

    __tablename__ = "event_subscribers"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    url: Mapped[str] = mapped_column(sa.String(500))
    active: Mapped[bool] = mapped_column(sa.Boolean)
    last_event_id: Mapped[int] = mapped_column(sa.Integer)
    attempts: Mapped[int] = mapped_column(sa.Integer)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(sa.Text)

    def as_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns}


def subscribe(session: Session, *, name: str, url: str, now: datetime, from_event: int = 0) -> Subscriber:
    """Register a subscriber; it gets the events after ``from_event`` (0: all of them)."""
    if not name.strip() or len(name) > 100:
        raise SubscriptionError(f"name {name!r}: 1-100 characters (the subscribing system)", field="name")
    if not url.startswith(("http://", "https://")) or len(url) > 500:
        raise SubscriptionError(
            f"url {url!r}: expected an http:// or https:// address of at most 500 characters", field="url"
        )
    if session.scalar(sa.select(Subscriber.id).where(Subscriber.name == name)) is not None:
        raise SubscriptionError(f"subscriber {name!r} already exists", field="name", kind=ErrorKind.CONFLICT)
    row = Subscriber(
        name=name,
        url=url,
        active=True,
        last_event_id=from_event,
        attempts=0,
        next_attempt_at=now,
        last_error=None,
    )
    session.add(row)
    session.flush()
    return row


def http_post(url: str, body: bytes) -> int:
    """POST JSON; the HTTP status (0 when the server cannot be reached)."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, TimeoutError, OSError):
        return 0


# The outbox's kinds a webhook subscriber receives: list enter/exit events and early warnings.
EVENT_KINDS = ("list", "warning")


def _row(e: lists.ListEvent) -> dict[str, Any]:
    if e.kind == "list":
        return {**e.as_dict(), "kind": e.kind, "at": e.at.isoformat(), "on": e.on.isoformat()}
    return {
        "id": e.id,
        "kind": e.kind,
        "event": e.event,
        "at": e.at.isoformat(),
        "uscc": e.uscc,
        "on": e.on.isoformat(),
        e.kind: e.data,
    }


def _payload(events: list[lists.ListEvent]) -> bytes:
    rows = [_row(e) for e in events]
    return json.dumps(rows, ensure_ascii=False, sort_keys=True).encode("utf-8")


def deliver_due(
    session: Session, *, now: datetime, post: Post = http_post, batch: int = 100
) -> list[dict[str, Any]]:
    """One delivery round: each due subscriber gets its next batch; returns what happened per subscriber."""
    due = session.scalars(
        sa.select(Subscriber)
        .where(Subscriber.active.is_(True), Subscriber.next_attempt_at <= now)
        .order_by(Subscriber.id)
    ).all()
    report = []
    for sub in due:
        events = lists.events_after(session, sub.last_event_id, limit=batch, kinds=EVENT_KINDS)
        if not events:
            report.append({"subscriber": sub.name, "delivered": 0, "status": None})
            continue
        status = post(sub.url, _payload(events))
        if 200 <= status < 300:
            sub.last_event_id, sub.attempts, sub.last_error, sub.next_attempt_at = events[-1].id, 0, None, now
            report.append({"subscriber": sub.name, "delivered": len(events), "status": status})
        else:
            sub.attempts += 1
            wait = min(RETRY_BASE * 2 ** (sub.attempts - 1), RETRY_MAX)
            sub.next_attempt_at = now + wait
            sub.last_error = f"HTTP {status}" if status else "unreachable"
            report.append(
                {"subscriber": sub.name, "delivered": 0, "status": status, "retry_at": sub.next_attempt_at}
            )
    session.flush()
    return report
