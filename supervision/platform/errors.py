"""One base for the domain's refusals: a kind (what the caller can do about it) and the field at fault.

The doors map a kind once each: HTTP statuses in ``serving/api/errors.py``, CLI exit codes in
``serving/cli/state.py``. A domain module raises a subclass (``RepairError``, ``TransitionError`` …) with
its kind; nothing else needs to know the subclass.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DomainError", "ErrorKind"]


class ErrorKind(StrEnum):
    VALIDATION = "validation"  # the input breaks a rule: fix it and try again
    NOT_FOUND = "not_found"  # the object named does not exist
    CONFLICT = "conflict"  # the object's state does not allow it (now)
    FORBIDDEN = "forbidden"  # this actor may not do it (department, role, own visits, four eyes)
    BUSY = "busy"  # a shared resource is busy or unavailable: retry later


class DomainError(Exception):
    """A refusal with a message naming the rule, its `kind` and optionally the `field`."""

    kind: ErrorKind = ErrorKind.VALIDATION

    def __init__(self, message: str, *, field: str | None = None, kind: ErrorKind | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None or not hasattr(self, "field"):
            self.field = field
        if kind is not None:
            self.kind = kind


class NotFoundError(DomainError, LookupError):
    kind = ErrorKind.NOT_FOUND


class ConflictError(DomainError):
    kind = ErrorKind.CONFLICT


class ForbiddenError(DomainError, PermissionError):
    kind = ErrorKind.FORBIDDEN


class BusyError(DomainError):
    kind = ErrorKind.BUSY


__all__ += ["BusyError", "ConflictError", "ForbiddenError", "NotFoundError"]
