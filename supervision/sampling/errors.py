"""The sampling domain's refusals, each with its kind: bad input, an unknown task or entity, a wrong state."""

from __future__ import annotations

from supervision.platform.errors import ConflictError, DomainError, NotFoundError

__all__ = [
    "SamplingInputError",
    "TaskStateError",
    "UnknownEntityError",
    "UnknownInspectorError",
    "UnknownTaskError",
]


class SamplingInputError(DomainError, ValueError):
    """An input breaks a sampling rule (a budget, a ratio, a roster line, a date): the message names it."""


class UnknownTaskError(NotFoundError, ValueError):
    """No sampling task (or visit) with that id."""

    field = "task_id"


class UnknownInspectorError(DomainError, ValueError):
    """No inspector with that id on the roster."""

    field = "inspector_id"


class UnknownEntityError(NotFoundError, ValueError):
    """A USCC that is not on the task's list."""

    field = "uscc"


class TaskStateError(ConflictError, ValueError):
    """The operation does not fit the task's or visit's current status (e.g. drawing twice)."""
