"""The serving champion and the stored scores: the model the API explains with, swapped atomically, and the
newest score file written by ``creditwatch score``, read once per file and indexed by USCC."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

log = logging.getLogger("creditwatch.api")

Loader = Callable[[str], Any]


@dataclass(frozen=True)
class Serving:
    """One loaded model: what it is and when it started serving (immutable: swapped as a whole)."""

    model: Any
    version: str
    loaded_at: datetime


@dataclass(frozen=True)
class SwapResult:
    swapped: bool
    version: str | None
    previous: str | None
    reason: str


class ServingChampion:
    """The model that serves, held in one reference: readers take a snapshot, a swap replaces it whole.

    A new model is loaded completely *before* the reference moves, so a request sees either the old model
    or the new one, never a half-loaded one; a model that fails to load leaves the current one serving.
    """

    def __init__(self, registry_uri: str, *, loader: Loader | None = None) -> None:
        self.registry_uri = registry_uri
        self._loader = loader
        self._serving: Serving | None = None
        self._swap_lock = threading.Lock()  # one swap at a time; readers never wait
        # Held by the routes around gate → load → move the registry's alias → swap, so two promotions
        # cannot interleave (reentrant: the swap inside takes its own lock).
        self.moving = threading.RLock()
        self.last_error: str | None = None

    def registry(self) -> Any:
        from training.registry import Registry

        return Registry(self.registry_uri)

    def _load(self, version: str) -> Any:
        if self._loader is not None:
            return self._loader(version)
        return self.registry().load(version)

    @property
    def current(self) -> Serving | None:
        return self._serving

    def registered(self) -> bool:
        # Not at every start of an app that has never trained a model: the registry would be created.
        from training.registry import exists

        return exists(self.registry_uri)

    def load_initial(self) -> SwapResult:
        """At startup: load the registry's champion if there is one (failures are logged, not raised)."""
        if not self.registered():
            return SwapResult(False, None, None, "no model registry yet")
        try:
            version = self.registry().champion()
        except Exception as exc:  # an unreachable registry must not stop the API from starting
            self.last_error = f"registry unavailable: {exc}"
            log.warning("champion not loaded: %s", self.last_error)
            return SwapResult(False, None, None, self.last_error)
        if version is None:
            return SwapResult(False, None, None, "no champion registered")
        return self.swap(version)

    def swap(self, version: str) -> SwapResult:
        """Load ``version`` and make it serve; on failure keep the current model and say why."""
        with self._swap_lock:
            previous = self._serving.version if self._serving else None
            try:
                model = self._load(version)
            except Exception as exc:  # any failure to load (missing artifact, bad format) keeps the old one
                reason = f"version {version} failed to load ({type(exc).__name__}: {exc})"
                reason += f"; version {previous} keeps serving" if previous else "; no model is serving"
                self.last_error = reason
                log.warning("%s", reason)
                return SwapResult(False, previous, previous, reason)
            self._serving = Serving(model, str(version), datetime.now(tz=UTC))
            self.last_error = None
            return SwapResult(True, str(version), previous, f"version {version} is serving")

    def try_load(self, version: str) -> tuple[Any | None, str | None]:
        """Load without serving (to check a model before the registry's alias moves): (model, error)."""
        try:
            return self._load(version), None
        except Exception as exc:
            return None, f"version {version} failed to load ({type(exc).__name__}: {exc})"

    def install(self, model: Any, version: str) -> SwapResult:
        """Serve an already loaded model (after the registry moved its alias to it)."""
        with self._swap_lock:
            previous = self._serving.version if self._serving else None
            self._serving = Serving(model, str(version), datetime.now(tz=UTC))
            self.last_error = None
            return SwapResult(True, str(version), previous, f"version {version} is serving")


# ------------------------------------------------------------------------------------------ stored scores
def score_files(home: Path) -> list[tuple[date, Path]]:
    """``HOME/scores/as_of=DATE.parquet`` files, oldest first (other names in the folder are ignored)."""
    folder = home / "scores"
    if not folder.is_dir():
        return []
    out = []
    for path in folder.glob("as_of=*.parquet"):
        try:
            day = date.fromisoformat(path.stem.removeprefix("as_of="))
        except ValueError:
            continue
        out.append((day, path))
    return sorted(out)


@dataclass(frozen=True)
class ScoreTable:
    as_of: date
    path: Path
    stamp: tuple[int, int]
    frame: pl.DataFrame
    index: dict[str, int]

    def row(self, uscc: str) -> dict[str, Any] | None:
        i = self.index.get(uscc)
        return None if i is None else self.frame.row(i, named=True)


class ScoreStore:
    """The newest score file, read once and indexed by USCC; re-read when a newer or rewritten file appears."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._table: ScoreTable | None = None
        self._lock = threading.Lock()

    def latest(self) -> ScoreTable | None:
        files = score_files(self.home)
        if not files:
            return None
        day, path = files[-1]
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        table = self._table
        if table is not None and table.path == path and table.stamp == stamp:
            return table
        with self._lock:
            table = self._table
            if table is None or table.path != path or table.stamp != stamp:
                frame = pl.read_parquet(path)
                index = {u: i for i, u in enumerate(frame["uscc"].to_list())}
                table = self._table = ScoreTable(day, path, stamp, frame, index)
            return table

    def history(self, uscc: str) -> list[dict[str, Any]]:
        """The entity's row of every score file, oldest first (files without it are skipped)."""
        rows = []
        for day, path in score_files(self.home):
            scan = pl.scan_parquet(path)
            cols = scan.collect_schema().names()
            keep = [c for c in ("tier", "model_tier", "probability", "model_version") if c in cols]
            found = scan.filter(pl.col("uscc") == uscc).select(keep).collect()
            if found.height:
                rows.append({"as_of": day, **found.row(0, named=True)})
        return rows
