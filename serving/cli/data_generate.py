"""Commands of ``creditwatch data`` (filled in by the issue that builds them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

COMMANDS: dict[str, Callable[..., Any]] = {}
