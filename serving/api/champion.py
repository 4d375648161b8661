"""The serving champion and the stored scores: the model the API explains with, swapped atomically, and the
newest score file written by ``creditwatch score``, read once per file and indexed by USCC."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import polars as pl

from serving.champion import NoChampion, champion_version, load_version, missing_reason

log = logging.getLogger("creditwatch.api")

T = TypeVar("T")

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

    The registry's ``champion`` alias can also move in another process (``creditwatch models promote`` or
    ``rollback``). Reading :attr:`current` looks at the alias at most every ``check_seconds`` and swaps to
    the version it names. A due check runs in a background thread (reading the alias costs tens of
    milliseconds in MLflow, and loading a model more): the request that found it due, and every other one,
    answers with the snapshot it has. With ``check_seconds=0`` (tests) or ``background=False`` the check
    runs in the reading thread, so that read already sees the new model. One check runs at a time; a
    version that failed to load is retried only when the alias moves, or after ``retry_failed_seconds``.
    """

    retry_failed_seconds = 300.0

    def __init__(
        self,
        registry_uri: str,
        *,
        loader: Loader | None = None,
        check_seconds: float = 10.0,
        background: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if check_seconds < 0:
            raise ValueError(f"check_seconds must be >= 0, got {check_seconds}")
        self.registry_uri = registry_uri
        self.check_seconds = check_seconds
        self.background = background and check_seconds > 0
        self._loader = loader
        self._clock = clock
        self._serving: Serving | None = None
        self._swap_lock = threading.Lock()  # one swap at a time; readers never wait
        # Held by the routes around gate → load → move the registry's alias → swap, so two promotions
        # cannot interleave (reentrant: the swap inside takes its own lock). The alias check takes it
        # without waiting: during a move it is skipped (the move installs the new model itself).
        self.moving = threading.RLock()
        self.last_error: str | None = None
        self._checked_at: float | None = None  # clock() of the last look at the alias
        self._check_failed = False  # last_error is about the registry being unreachable
        self._failed: tuple[str, float] | None = None  # (version, clock()) of the last failed load
        self._starting = threading.Lock()  # guards starting the background check
        self._checker: threading.Thread | None = None

    def registry(self) -> Any:
        from training.registry import Registry

        return Registry(self.registry_uri)

    def _load(self, version: str) -> Any:
        if self._loader is not None:
            return self._loader(version)
        return load_version(self.registry_uri, version)

    @property
    def current(self) -> Serving | None:
        """The serving model; starts a look at the registry's alias if one is due (see the class)."""
        if self._due():
            if self.background:
                self._check_in_background()
            else:
                self.refresh()
        return self._serving

    @property
    def snapshot(self) -> Serving | None:
        """The serving model as it is, without looking at the registry."""
        return self._serving

    def get(self) -> tuple[Any, str]:
        """(model, version) of the serving champion; :class:`NoChampion` with the reason if none serves."""
        serving = self.current
        if serving is None:
            raise NoChampion(self.last_error or missing_reason(self.registry_uri))
        return serving.model, serving.version

    def registered(self) -> bool:
        # Not at every start of an app that has never trained a model: the registry would be created.
        from training.registry import exists

        return exists(self.registry_uri)

    def load_initial(self) -> SwapResult:
        """At startup: load the registry's champion if there is one (failures are logged, not raised)."""
        with self.moving:
            self._checked_at = self._clock()
            return self._follow()

    def refresh(self, *, force: bool = False) -> SwapResult | None:
        """Follow the registry's alias if a check is due (or ``force``); None when nothing was checked."""
        if not force and not self._due():
            return None
        if not self.moving.acquire(blocking=False):  # a move or another check is under way
            return None
        try:
            if not force and not self._due():  # another thread checked while this one waited
                return None
            self._checked_at = self._clock()
            return self._follow()
        finally:
            self.moving.release()

    def _check_in_background(self) -> None:
        with self._starting:
            if not self._due() or (self._checker is not None and self._checker.is_alive()):
                return
            self._checked_at = self._clock()  # the next reads do not start another check
            self._checker = threading.Thread(
                target=self._background_check, name="champion-check", daemon=True
            )
            self._checker.start()

    def _background_check(self) -> None:
        try:
            self.refresh(force=True)
        except Exception:  # never an unhandled error in a thread; the next due read tries again
            log.exception("champion check failed")

    def wait_for_check(self, timeout: float | None = None) -> None:
        """Wait until a background check under way has finished (tests; a shutdown that wants it done)."""
        checker = self._checker
        if checker is not None:
            checker.join(timeout)

    def _due(self) -> bool:
        checked = self._checked_at
        return checked is None or self._clock() - checked >= self.check_seconds

    def _follow(self) -> SwapResult:
        """Swap to the version the alias names, unless it already serves (or failed recently)."""
        current = self._serving.version if self._serving else None
        if not self.registered():
            return SwapResult(False, current, current, "no model registry yet")
        try:
            wanted = champion_version(self.registry_uri)
        except Exception as exc:  # an unreachable registry must neither stop the API nor the model serving
            self.last_error = f"registry unavailable: {exc}"
            self._check_failed = True
            log.warning("champion not checked: %s", self.last_error)
            return SwapResult(False, current, current, self.last_error)
        if self._check_failed:
            self._check_failed = False
            self.last_error = None
        if wanted is None:  # no champion (yet, or the alias was removed): keep what serves
            return SwapResult(False, current, current, "no champion registered")
        if wanted == current:
            self._failed = None
            return SwapResult(False, current, current, f"version {current} is serving")
        failed = self._failed
        if (
            failed is not None
            and failed[0] == wanted
            and self._clock() - failed[1] < self.retry_failed_seconds
        ):
            return SwapResult(False, current, current, self.last_error or f"version {wanted} failed to load")
        result = self.swap(wanted)
        if not result.swapped:
            self._failed = (wanted, self._clock())
        return result

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
            self._failed = None
            log.info("version %s is serving (was %s)", version, previous)
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
            self._failed = None
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


class FileCache(Generic[T]):
    """One file's parsed content, kept until the file changes (its mtime and size): readers of an unchanged
    file take the cached value without a lock; a changed or new file is read once, under a lock."""

    def __init__(self) -> None:
        self._cached: tuple[Path, tuple[int, int], T] | None = None
        self._lock = threading.Lock()

    def get(self, path: Path, read: Callable[[Path, tuple[int, int]], T]) -> T | None:
        """The content of `path` (``read(path, stamp)`` when not cached); None when the file is missing."""
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cached
        if cached is not None and cached[0] == path and cached[1] == stamp:
            return cached[2]
        with self._lock:
            cached = self._cached
            if cached is None or cached[0] != path or cached[1] != stamp:
                cached = self._cached = (path, stamp, read(path, stamp))
            return cached[2]


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


@dataclass(frozen=True)
class _Listing:
    """One listing of the scores folder: the folder's mtime before it was listed, and when it was listed."""

    mtime_ns: int
    trusted: bool  # the folder had not changed for a while: a later change gets a later mtime
    listed_at: float  # monotonic seconds
    files: tuple[tuple[date, Path], ...]


class ScoreStore:
    """The newest score file, read once and indexed by USCC; re-read when a newer or rewritten file appears.

    The folder is listed again only when its mtime changed (writing a file into it — ``creditwatch score``
    writes a temporary file and renames it — changes the folder's mtime), and at least every
    ``relist_seconds`` (file systems whose directory mtimes cannot be trusted). A folder changed within the
    last ``racy_seconds`` is listed on every read: a change in the same clock tick as a listing would keep
    the mtime the listing saw. The newest file itself is stat'ed on every read (one system call), so a file
    rewritten in place is re-read too.
    """

    racy_seconds = 2.0

    def __init__(self, home: Path, *, relist_seconds: float = 60.0) -> None:
        self.home = home
        self.relist_seconds = relist_seconds
        self._file: FileCache[ScoreTable] = FileCache()
        self._listing: _Listing | None = None
        self.listings = 0  # how many times the folder was listed (tests, benchmarks)
        self.features = FeatureStore(home)  # the features the score files were computed from

    def files(self) -> list[tuple[date, Path]]:
        """:func:`score_files`, listed again only when the folder changed (see the class)."""
        folder = self.home / "scores"
        try:
            mtime = folder.stat().st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            self._listing = None
            return []
        now = time.monotonic()
        listing = self._listing
        if (
            listing is not None
            and listing.trusted
            and listing.mtime_ns == mtime
            and now - listing.listed_at < self.relist_seconds
        ):
            return list(listing.files)
        trusted = time.time_ns() - mtime > self.racy_seconds * 1e9
        files = score_files(self.home)
        self.listings += 1
        self._listing = _Listing(mtime, trusted, now, tuple(files))
        return files

    def latest(self) -> ScoreTable | None:
        files = self.files()
        if not files:
            return None
        day, path = files[-1]

        def read(path: Path, stamp: tuple[int, int]) -> ScoreTable:
            frame = pl.read_parquet(path)
            return ScoreTable(day, path, stamp, frame, {u: i for i, u in enumerate(frame["uscc"].to_list())})

        table = self._file.get(path, read)
        if table is None:
            self._listing = None  # removed since the listing
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


# ------------------------------------------------------------------------------------------ stored features
def feature_file(home: Path, day: date) -> Path:
    """``HOME/features/as_of=DATE.parquet``: written by ``creditwatch score`` (and ``features build``)."""
    return home / "features" / f"as_of={day.isoformat()}.parquet"


@dataclass(frozen=True)
class FeatureTable:
    """One feature file, indexed by USCC. Small files are held in memory; large ones keep only the index
    and read the one row asked for (see :class:`FeatureStore`)."""

    as_of: date
    path: Path
    stamp: tuple[int, int]
    columns: frozenset[str]
    index: dict[str, int]
    frame: pl.DataFrame | None  # None: read lazily, one row at a time

    def row(self, uscc: str, columns: list[str]) -> pl.DataFrame | None:
        """The entity's row (at least ``uscc``, ``as_of`` and ``columns``), or None when absent from the file."""
        i = self.index.get(uscc)
        if i is None:
            return None
        if self.frame is not None:
            found = self.frame.slice(i, 1)  # every column: a select would cost a query per request
        else:
            keep = ["uscc", "as_of", *[c for c in columns if c not in ("uscc", "as_of")]]
            found = pl.scan_parquet(self.path).select(keep).slice(i, 1).collect()
        # A file named for another date than its rows (e.g. copied by hand) is not used.
        return found if found.height == 1 and found["as_of"][0] == self.as_of else None


class FeatureStore:
    """The feature file of a date, read once and indexed by USCC; re-read when the file is rewritten.

    Files of at most ``eager_rows`` rows are held in memory (measured: 12,673 entities × 89 columns is 8 MB,
    so about 640 bytes an entity); larger ones keep only the USCC index (a dict of row numbers) and read the
    one row a request asks for from the Parquet file (docs/benchmarks.md "Serving"). One file is kept: the
    explanations it serves are of the newest stored score's date.
    """

    def __init__(self, home: Path, *, eager_rows: int = 250_000) -> None:
        self.home = home
        self.eager_rows = eager_rows
        self._file: FileCache[FeatureTable] = FileCache()

    def table(self, day: date) -> FeatureTable | None:
        """The feature table of ``day``, or None when no such file exists (or it cannot be read)."""
        path = feature_file(self.home, day)
        try:
            return self._file.get(path, lambda path, stamp: self._read(day, path, stamp))
        except Exception as exc:  # an unreadable file: the lake path answers instead
            log.warning("feature file %s not used: %s", path, exc)
            return None

    def _read(self, day: date, path: Path, stamp: tuple[int, int]) -> FeatureTable:
        schema = pl.read_parquet_schema(path)
        if "uscc" not in schema or "as_of" not in schema:
            raise ValueError("no uscc or as_of column")
        rows = pl.scan_parquet(path).select(pl.len()).collect().item()
        frame = pl.read_parquet(path) if rows <= self.eager_rows else None
        usccs = frame["uscc"] if frame is not None else pl.read_parquet(path, columns=["uscc"])["uscc"]
        index = {u: i for i, u in enumerate(usccs.to_list())}
        return FeatureTable(day, path, stamp, frozenset(schema), index, frame)
