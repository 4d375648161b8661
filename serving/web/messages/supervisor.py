"""Messages of the supervisor's pages: key → (zh, en)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {}
