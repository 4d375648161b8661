"""Public views computed once per state of their inputs: the anonymous public can ask as often as it likes,
and a view is rebuilt only when what it is made of changed.

A view's key is its name, the database and the lake it was read from, the lake's state (the lake is
append-only: its batches name its content), the state of the database rows it reads (a count and the newest
``updated_at`` of each table: every change of those tables moves one of them), the lifecycle policy file and
the day. The 双公示 export (serving/services/disclosure.py), the commitments column and the published lists
(serving/services/publication.py) use it. A few views are kept per process (least recently used first out).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from serving.services.context import Context

__all__ = ["cached_view", "table_state"]

T = TypeVar("T")
_SIZE = 16
_VIEWS: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_LOCK = threading.Lock()


def lake_state(lake_dir: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The lake's batches by table: the lake is append-only, so this names its content."""
    out = []
    for table in sorted(os.listdir(lake_dir)) if lake_dir.is_dir() else ():
        folder = lake_dir / table
        if table.startswith(".") or not folder.is_dir():
            continue
        out.append((table, tuple(sorted(e.name for e in os.scandir(folder) if e.is_dir()))))
    return tuple(out)


def table_state(ctx: Context, *columns: sa.ColumnElement[Any]) -> tuple[Any, ...]:
    """Aggregates naming the state of the rows a view reads (e.g. ``sa.func.count()``,
    ``sa.func.max(Model.updated_at)``), in one query."""
    return tuple(ctx.session.execute(sa.select(*columns)).one())


def _policy_state(path: Path | None) -> tuple[str, int]:
    if path is None:
        return ("shipped", 0)
    try:
        return (str(path), path.stat().st_mtime_ns)
    except OSError:
        return (str(path), -1)


def cached_view(
    ctx: Context, name: str, build: Callable[[], T], *, day: date, db_state: Iterable[Any] = ()
) -> T:
    """`build()`'s result for the current state of its inputs (see the module); the same object is handed to
    every caller until one of them changes, so callers must not modify it."""
    settings = ctx.settings
    bind = ctx.session.get_bind()
    key = (
        name,
        str(bind.url if isinstance(bind, sa.Engine) else bind.engine.url),
        str(settings.lake_dir),
        lake_state(settings.lake_dir),
        tuple(db_state),
        _policy_state(settings.lifecycle_policy),
        day,
    )
    with _LOCK:
        if key in _VIEWS:
            _VIEWS.move_to_end(key)
            hit: T = _VIEWS[key]
            return hit
    value = build()
    with _LOCK:
        _VIEWS[key] = value
        while len(_VIEWS) > _SIZE:
            _VIEWS.popitem(last=False)
    return value
