"""State machines of the credit lifecycle: allowed transitions, clear refusals, audited changes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from supervision.platform import audit
from supervision.platform.clock import SystemClock
from supervision.platform.errors import ConflictError, NotFoundError

__all__ = ["Actor", "NotFound", "StateMachine", "TransitionError", "case_id", "get_row", "instant"]

Row = TypeVar("Row")


class TransitionError(ConflictError, ValueError):
    """A state change the lifecycle does not allow (e.g. deciding an objection not yet marked)."""


class NotFound(NotFoundError):
    """No object with that id."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts (audit ``actor`` and ``role``, for which ``department``) and at which instant (``at``: the
    use case's clock, stamped on the rows the act changes)."""

    name: str
    role: str | None = None
    department: str | None = None
    at: datetime | None = None


def case_id(prefix: str, *facts: object) -> str:
    """A case's id: ``prefix``, a dash and the first 16 hex digits (upper case) of the SHA-256 of the facts
    that define it, joined by ``|``. The same facts give the same id, so the same case filed twice meets its
    own primary key."""
    digest = hashlib.sha256("|".join(str(fact) for fact in facts).encode()).hexdigest()
    return f"{prefix}-{digest[:16].upper()}"


def get_row(session: Session, model: type[Row], key: str, noun: str) -> Row:
    """The row of ``model`` with primary key ``key``, or :class:`NotFound` naming the ``noun`` and the key."""
    row = session.get(model, key)
    if row is None:
        raise NotFound(f"{noun} {key} not found")
    return row


def instant(at: datetime | None) -> datetime:
    """`at` (the instant a use case passes from its clock), else the system clock's (library use, tests)."""
    return at if at is not None else SystemClock().now()


@dataclass(frozen=True)
class StateMachine:
    """``transitions[state][action] = next state``; states with no entry are terminal."""

    noun: str
    transitions: Mapping[str, Mapping[str, str]]

    @property
    def states(self) -> tuple[str, ...]:
        seen = dict.fromkeys(self.transitions)
        for targets in self.transitions.values():
            seen.update(dict.fromkeys(targets.values()))
        return tuple(seen)

    def allowed(self, state: str) -> tuple[str, ...]:
        return tuple(self.transitions.get(state, {}))

    def next_state(self, object_id: str, state: str, action: str) -> str:
        """The state after ``action``; :class:`TransitionError` naming what is allowed instead."""
        targets = self.transitions.get(state, {})
        if action not in targets:
            allowed = ", ".join(targets) or "nothing (final state)"
            raise TransitionError(
                f"{self.noun} {object_id} is {state!r}: {action!r} is not allowed (allowed: {allowed})"
            )
        return targets[action]

    def record(
        self,
        session: Session,
        *,
        actor: Actor,
        object_id: str,
        action: str,
        before: str | None,
        after: str,
        on: date,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """The audit entry of one state change (in the caller's transaction, so both commit or neither)."""
        audit.append(
            session,
            actor=actor.name,
            role=actor.role,
            action=f"{self.noun}.{action}",
            target=f"{self.noun}:{object_id}",
            source="supervision",
            details={"from": before, "to": after, "on": on, **dict(details or {})},
        )
