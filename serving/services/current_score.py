"""An entity's current score, by one rule, for every door and use case.

**The rule.** On a day `on`, an entity's current score is its row in the newest score file dated on or before
`on` (``HOME/scores/as_of=DATE.parquet``, written by ``creditwatch score``) — unless a re-score after a
decision (the score history, decided on or before `on`) is at least as recent: its features' date is later
than the file's, or the same and it was written after the file. A re-score after an upheld objection or an
approved repair is thus seen at once, and the next full scoring run takes over again.

The entity pages and ``GET /entities/{uscc}/score``, the batch look-up, the lifecycle's tier look-ups
(repairs, checks) and the credit report all ask here. The score files are read once per file and indexed by
USCC (:class:`ScoreStore`, one per home folder in a process); the score history is asked only about entities
that have a re-score at all (:class:`RescoreIndex`), which keeps the stored score's read fast
(docs/benchmarks.md "Serving").

**Which files count.** A score run writes its file, then its manifest (``as_of=DATE.manifest.json``: rows,
model version, SHA-256 of the file, schema version), both atomically, the manifest last. A score file is
taken only when it reads as Parquet, has the score columns (``uscc``, ``tier``, ``probability``, typed, no
nulls, one row per USCC) and matches its manifest (checksum, rows, date, model version); a file that does not
is refused — logged once per version of the file with its path and the reason — and the next older valid run
serves (:func:`check_score_file`). A file without a manifest was written before manifests existed: it is
taken (with a warning) only when dated before every run that has one, so a file dropped in as the newest is
refused while the history of an upgraded home stays.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from features import partitioned
from features.lake import atomic_write
from models.explain import ScoreReason
from serving.settings import Settings
from serving.workspace import Workspace, manifest_of
from supervision.lifecycle import reports
from supervision.lifecycle import scores as score_history

__all__ = [
    "CurrentScore",
    "FeatureStore",
    "FileCache",
    "Manifest",
    "RefusedFile",
    "RescoreIndex",
    "ScoreStore",
    "ScoreTable",
    "check_score_file",
    "current",
    "current_scores",
    "install_rescore_index",
    "report_score",
    "rescore_index",
    "score_files",
    "score_row",
    "score_store",
    "tiers",
    "write_manifest",
]

log = logging.getLogger("creditwatch.scores")

T = TypeVar("T")


# ------------------------------------------------------------------------------------------------ the rule
@dataclass(frozen=True, slots=True)
class CurrentScore:
    """An entity's current score and where it comes from (``source``): ``score_file:DATE`` or
    ``score_history:ID`` (a re-score after a decision: no per-feature reasons, only the Chinese sentence)."""

    uscc: str
    as_of: date
    tier: str
    probability: float
    model_tier: str | None
    expected_rate: float | None
    model_version: str | None
    reasons: tuple[ScoreReason, ...]
    reasons_zh: str | None
    source: str
    rescored_because: str | None = None

    @property
    def from_file(self) -> bool:
        return self.source.startswith("score_file:")

    @property
    def score_as_of(self) -> date:
        """The date of the score every answer carrying this tier states (API ``score_as_of``, the pages'
        评分日期, the credit report's): the features' date of the file row or the re-score."""
        return self.as_of


def current(
    table: ScoreTable | None, uscc: str, *, rescore: score_history.ScoreEntry | None
) -> CurrentScore | None:
    """The rule (see the module) on what the two stores hold: the file's row (`table`, the newest file dated
    on or before the day) and the newest re-score decided on or before the day."""
    row = table.row(uscc) if table is not None else None
    if rescore is not None and (
        table is None
        or row is None
        or rescore.as_of > table.as_of
        or (rescore.as_of == table.as_of and rescore.created_at.timestamp() >= table.stamp[0] / 1e9)
    ):
        return CurrentScore(
            uscc=uscc,
            as_of=rescore.as_of,
            tier=rescore.tier,
            probability=rescore.probability,
            model_tier=None,
            expected_rate=None,
            model_version=rescore.model_version,
            reasons=(),
            reasons_zh=rescore.reasons_zh,
            source=f"score_history:{rescore.id}",
            rescored_because=rescore.reason,
        )
    if table is None or row is None:
        return None
    rate, version = row.get("expected_rate"), row.get("model_version")
    return CurrentScore(
        uscc=uscc,
        as_of=table.as_of,
        tier=str(row["tier"]),
        probability=float(row["probability"]),
        model_tier=row.get("model_tier"),
        expected_rate=None if rate is None else float(rate),
        model_version=None if version is None else str(version),
        reasons=tuple(ScoreReason.of(r) for r in row.get("reasons") or ()),
        reasons_zh=row.get("reasons_zh"),
        source=f"score_file:{table.as_of.isoformat()}",
    )


def current_scores(
    settings: Settings, usccs: Sequence[str], on: date, session: Session | None = None
) -> dict[str, CurrentScore]:
    """The current score of each of `usccs` that has one (one score-history query per 500 codes)."""
    table = score_store(settings.home).table(on)
    rescored = rescores(session, usccs, on=on) if session is not None else {}
    out: dict[str, CurrentScore] = {}
    for uscc in usccs:
        found = current(table, uscc, rescore=rescored.get(uscc))
        if found is not None:
            out[uscc] = found
    return out


def score_row(settings: Settings, uscc: str, on: date, session: Session | None = None) -> CurrentScore | None:
    """The entity's current score on `on`, or None; without a session, the score file's alone."""
    rescore = latest_rescore(session, uscc, on=on) if session is not None else None
    return current(score_store(settings.home).table(on), uscc, rescore=rescore)


def tiers(settings: Settings, on: date, session: Session | None = None) -> Callable[[str], str | None]:
    """A tier look-up by USCC (the lifecycle's ``tiers=``): the current score's tier, or None."""

    def lookup(uscc: str) -> str | None:
        found = score_row(settings, uscc, on, session)
        return None if found is None else found.tier

    return lookup


def report_score(
    settings: Settings, uscc: str, on: date, session: Session | None = None
) -> reports.Score | None:
    """The current score as the credit report shows it: tier, probability (4 places), the reasons in
    Chinese (conduct, then the baseline line: models.explain) and the date of the score."""
    found = score_row(settings, uscc, on, session)
    if found is None:
        return None
    reasons = [r for r in (found.reasons_zh or "").split("；") if r]
    return reports.Score(
        tier=found.tier, score=round(found.probability, 4), reasons=reasons, as_of=found.score_as_of
    )


# ------------------------------------------------------------------------------------------ score history
def rescores(session: Session, usccs: Sequence[str], *, on: date) -> dict[str, score_history.ScoreEntry]:
    """The newest re-score (decided on or before `on`) of each of `usccs`, in one query per 500 codes."""
    out: dict[str, score_history.ScoreEntry] = {}
    codes = sorted(set(usccs))
    for start in range(0, len(codes), 500):
        stmt = sa.select(score_history.ScoreEntry).where(
            score_history.ScoreEntry.uscc.in_(codes[start : start + 500]),
            score_history.ScoreEntry.decided_on <= on,
        )
        for entry in session.scalars(stmt):
            best = out.get(entry.uscc)
            if best is None or (entry.as_of, entry.id) > (best.as_of, best.id):
                out[entry.uscc] = entry
    return out


def latest_rescore(session: Session, uscc: str, *, on: date) -> score_history.ScoreEntry | None:
    """The entity's newest re-score decided on or before `on`; the database is asked only when the
    :class:`RescoreIndex` says the entity may have one (or this session has just written one)."""
    if not session.info.get("score_history_written") and not rescore_index(session.get_bind()).may_have(
        session, uscc
    ):
        return None
    return score_history.latest(session, uscc, on=on)


# Re-scores this process has committed (the count moves after each such commit): see RescoreIndex.
_rescores_committed = 0


@sa.event.listens_for(score_history.ScoreEntry, "after_insert")
def _rescore_inserted(_mapper: Any, _connection: Any, target: score_history.ScoreEntry) -> None:
    session = object_session(target)
    if session is not None:
        session.info["score_history_written"] = True


@sa.event.listens_for(Session, "after_commit")
def _rescore_committed(session: Session) -> None:
    global _rescores_committed
    if session.info.pop("score_history_written", False):
        _rescores_committed += 1


class RescoreIndex:
    """The entities that have any re-score at all, so that reading one stored score asks the database only
    for those (score_history holds only entities with a decision since their score file; most have none).

    Re-checked against the database at most every `seconds` (row count and newest id: rows are only ever
    added), and at once after this process commits a re-score through the ORM (the lifecycle's decisions).
    A re-score written by another process (the CLI) is therefore served within `seconds`. Thread-safe.
    """

    def __init__(self, seconds: float = 1.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.refreshes = 0
        self._usccs: frozenset[str] | None = None
        self._stamp: tuple[int, int | None] | None = None
        self._checked = 0.0
        self._seen = -1
        self._lock = threading.Lock()

    def may_have(self, session: Session, uscc: str) -> bool:
        """False if `uscc` has no re-score (as of the last check); True means "look it up"."""
        now = self.clock()
        with self._lock:
            usccs = self._usccs
            fresh = (
                usccs is not None and now < self._checked + self.seconds and self._seen == _rescores_committed
            )
        if not fresh:
            usccs = self._refresh(session, now)
        assert usccs is not None
        return uscc in usccs

    def _refresh(self, session: Session, now: float) -> frozenset[str]:
        # On the caller's own session: a second pooled connection per request could wait on a full pool.
        seen = _rescores_committed  # before the query: a commit after it forces another check
        table = score_history.ScoreEntry.__table__
        count, top = session.execute(sa.select(sa.func.count(), sa.func.max(table.c.id))).one()
        stamp = (int(count), None if top is None else int(top))
        with self._lock:
            usccs = self._usccs if stamp == self._stamp else None
        if usccs is None:
            usccs = frozenset(session.execute(sa.select(table.c.uscc).distinct()).scalars())
            self.refreshes += 1
        with self._lock:
            self._usccs, self._stamp, self._checked, self._seen = usccs, stamp, now, seen
        return usccs


_indexes: WeakKeyDictionary[Any, RescoreIndex] = WeakKeyDictionary()
_indexes_lock = threading.Lock()


def rescore_index(bind: sa.Engine | sa.Connection) -> RescoreIndex:
    """The :class:`RescoreIndex` of a database (its engine), made on first use."""
    with _indexes_lock:
        index = _indexes.get(bind)
        if index is None:
            index = _indexes[bind] = RescoreIndex()
        return index


def install_rescore_index(bind: sa.Engine | sa.Connection, index: RescoreIndex) -> None:
    """Use `index` for the database `bind` from now on (a shorter interval, or a test's clock)."""
    with _indexes_lock:
        _indexes[bind] = index


# ------------------------------------------------------------------------------------------ the score files
SCHEMA_VERSION = 1  # the manifest's format and the score file's columns below; a change of either bumps it
SCORE_COLUMNS: dict[str, tuple[type[pl.DataType], ...]] = {
    "uscc": (pl.String,),
    "tier": (pl.String,),
    "probability": (pl.Float64, pl.Float32),
}


class RefusedFile(Exception):
    """A score or feature file that is not taken, and why (the log line names the file and the reason)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a run wrote (``as_of=DATE.manifest.json`` beside its file): checked before the file is used."""

    kind: str  # "scores" or "features"
    schema_version: int
    as_of: date
    file: str  # the file's name
    rows: int
    sha256: str
    model_version: str | None

    def to_json(self) -> str:
        body = {
            "kind": self.kind,
            "schema_version": self.schema_version,
            "as_of": self.as_of.isoformat(),
            "file": self.file,
            "rows": self.rows,
            "sha256": self.sha256,
            "model_version": self.model_version,
        }
        return json.dumps(body, ensure_ascii=False, indent=1, sort_keys=True) + "\n"

    @classmethod
    def parse(cls, text: str) -> Manifest:
        """The manifest in `text`; ValueError naming what is wrong."""
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg})") from None
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        try:
            version = body.get("model_version")
            manifest = cls(
                kind=str(body["kind"]),
                schema_version=int(body["schema_version"]),
                as_of=date.fromisoformat(str(body["as_of"])),
                file=str(body["file"]),
                rows=int(body["rows"]),
                sha256=str(body["sha256"]),
                model_version=None if version is None else str(version),
            )
        except KeyError as exc:
            raise ValueError(f"no {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"a malformed field ({exc})") from None
        return manifest


def write_manifest(path: Path, *, kind: str, as_of: date, rows: int, model_version: str | None) -> Path:
    """Write the manifest of the file `path` just written (its SHA-256 read back from disk), atomically and
    durably; returns the manifest's path. Called after the file: a run killed before has no manifest. A
    partitioned run (a folder of part files) gets the SHA-256 of its parts' names and SHA-256s
    (:func:`features.partitioned.content_sha256`)."""
    digest = partitioned.content_sha256(path)
    manifest = Manifest(kind, SCHEMA_VERSION, as_of, path.name, rows, digest, model_version)
    target = manifest_of(path)
    atomic_write(target, lambda tmp: tmp.write_text(manifest.to_json(), encoding="utf-8"), fsync=True)
    return target


def _read_manifest(path: Path, kind: str, day: date, sha256: str) -> Manifest | None:
    """The manifest of `path` checked against the SHA-256 of the file's bytes (of a partitioned folder's
    parts: :func:`features.partitioned.blobs_sha256`); None: there is none; RefusedFile when it does not
    match."""
    mpath = manifest_of(path)
    try:
        text = mpath.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise RefusedFile(path, f"its manifest {mpath.name} cannot be read ({exc})") from None
    try:
        manifest = Manifest.parse(text)
    except ValueError as exc:
        raise RefusedFile(path, f"its manifest {mpath.name} is malformed: {exc}") from None
    wrong = (
        f"of kind {manifest.kind!r}, not {kind!r}"
        if manifest.kind != kind
        else f"schema version {manifest.schema_version}, this version reads {SCHEMA_VERSION}"
        if manifest.schema_version != SCHEMA_VERSION
        else f"dated {manifest.as_of}, the file {day}"
        if manifest.as_of != day
        else f"for {manifest.file}"
        if manifest.file != path.name
        else "with another SHA-256 than the file's (changed or truncated since the run)"
        if manifest.sha256 != sha256
        else None
    )
    if wrong is not None:
        raise RefusedFile(path, f"its manifest {mpath.name} does not match: {wrong}")
    return manifest


def _parquet(path: Path, blobs: list[tuple[str, bytes]]) -> pl.DataFrame:
    """The run's rows from the bytes read; a partitioned folder's parts together, sorted by USCC as a
    single-process file's rows are."""
    if not blobs:
        raise RefusedFile(path, "a partitioned run without part files")
    try:
        frames = [pl.read_parquet(io.BytesIO(data)) for _, data in blobs]
        return pl.concat(frames).sort("uscc") if path.is_dir() else frames[0]
    except (Exception, pl.exceptions.PanicException) as exc:  # garbage, truncated: whatever the reader says
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise RefusedFile(path, f"not a readable Parquet file ({type(exc).__name__}: {first})") from None


def read_checked(path: Path, kind: str, day: date) -> tuple[pl.DataFrame, Manifest | None]:
    """A score or feature run's rows (file or partitioned folder) and its manifest, checked against each
    other (checksum, date, kind; rows); RefusedFile or OSError otherwise."""
    blobs = partitioned.blobs_of(path)
    manifest = _read_manifest(path, kind, day, partitioned.blobs_sha256(blobs, folder=path.is_dir()))
    frame = _parquet(path, blobs)
    if manifest is not None and manifest.rows != frame.height:
        raise RefusedFile(path, f"{frame.height} rows, its manifest says {manifest.rows}")
    return frame, manifest


def check_score_file(day: date, path: Path, *, manifest_required: bool) -> tuple[pl.DataFrame, bool]:
    """The score file's frame, and whether it had a manifest, or RefusedFile with the reason: unreadable,
    not the score columns (:data:`SCORE_COLUMNS`, no nulls, one row per USCC), or not what its manifest says
    (checksum, date, rows, model version); no manifest when `manifest_required`."""
    try:
        blobs = partitioned.blobs_of(path)
    except OSError as exc:
        raise RefusedFile(path, f"cannot be read ({exc.strerror or exc})") from None
    manifest = _read_manifest(path, "scores", day, partitioned.blobs_sha256(blobs, folder=path.is_dir()))
    if manifest is None and manifest_required:
        raise RefusedFile(
            path,
            f"no manifest ({manifest_of(path).name}), and it is not older than the runs that have one "
            "(a run still writing, or a file put there by hand)",
        )
    frame = _parquet(path, blobs)
    for column, types in SCORE_COLUMNS.items():
        if column not in frame.columns:
            raise RefusedFile(path, f"wrong schema: no column {column!r}")
        if frame.schema[column] not in types:
            raise RefusedFile(path, f"wrong schema: column {column!r} is {frame.schema[column]}")
        if frame[column].null_count():
            raise RefusedFile(path, f"column {column!r} has {frame[column].null_count()} empty values")
    if frame["uscc"].n_unique() != frame.height:
        raise RefusedFile(path, "a USCC appears on more than one row")
    if manifest is not None:
        if manifest.rows != frame.height:
            raise RefusedFile(path, f"{frame.height} rows, its manifest says {manifest.rows}")
        if "model_version" in frame.columns:
            versions = frame["model_version"].cast(pl.String).unique().to_list()
            if versions != [manifest.model_version]:
                raise RefusedFile(
                    path, f"model version {versions} in the file, {manifest.model_version} in its manifest"
                )
    return frame, manifest is not None


def score_files(home: Path) -> list[tuple[date, Path]]:
    """``HOME/scores/as_of=DATE.parquet`` files, oldest first (other names in the folder are ignored) —
    every file, valid or not: :meth:`ScoreStore.table` and :meth:`ScoreStore.history` take the valid ones."""
    return _dated(Workspace(home).scores, ".parquet")


def _dated(folder: Path, suffix: str) -> list[tuple[date, Path]]:
    if not folder.is_dir():
        return []
    out = []
    for path in folder.glob(f"as_of=*{suffix}"):
        try:
            day = date.fromisoformat(path.name.removeprefix("as_of=").removesuffix(suffix))
        except ValueError:
            continue
        out.append((day, path))
    return sorted(out)


class FileCache(Generic[T]):
    """Files' parsed content, kept until a file changes (its mtime and size): readers of an unchanged file
    take the cached value without a lock; a changed or new file is read once, under a lock. At most `slots`
    files are kept (the least recently read goes)."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"FileCache needs at least one slot, got {slots}")
        self.slots = slots
        self._cached: dict[Path, tuple[tuple[int, int], T]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, read: Callable[[Path, tuple[int, int]], T]) -> T | None:
        """The content of `path` (``read(path, stamp)`` when not cached); None when the file is missing."""
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cached.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with self._lock:
            cached = self._cached.get(path)
            if cached is None or cached[0] != stamp:
                cached = (stamp, read(path, stamp))
                self._cached.pop(path, None)
                while len(self._cached) >= self.slots:
                    self._cached.pop(next(iter(self._cached)))
                self._cached[path] = cached
            return cached[1]


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


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_mtime_ns, st.st_size)


# A score file's version as far as its check goes: its stamp, its manifest's, whether a manifest is needed.
_Key = tuple[tuple[int, int], tuple[int, int] | None, bool]


@dataclass(frozen=True)
class _Listing:
    """One listing of the scores folder: the folder's mtime before it was listed, and when it was listed."""

    mtime_ns: int
    trusted: bool  # the folder had not changed for a while: a later change gets a later mtime
    listed_at: float  # monotonic seconds
    files: tuple[tuple[date, Path], ...]
    first_manifest: date | None  # the oldest date with a manifest: older files without one are from before

    def manifest_required(self, day: date) -> bool:
        return self.first_manifest is not None and day >= self.first_manifest


class ScoreStore:
    """The valid score files, each checked and read once and indexed by USCC; re-read when a newer or
    rewritten file (or manifest) appears. A refused file is remembered with its stamps, so it is checked
    (and logged) once per version, and the newest valid run on or before the day serves instead.

    The folder is listed again only when its mtime changed (writing a file into it — ``creditwatch score``
    writes a temporary file and renames it — changes the folder's mtime), and at least every
    ``relist_seconds`` (file systems whose directory mtimes cannot be trusted). A folder changed within the
    last ``racy_seconds`` is listed on every read: a change in the same clock tick as a listing would keep
    the mtime the listing saw. The file asked for is stat'ed on every read (with its manifest), so a file
    rewritten in place is re-checked too. Two files are kept: today's, and one other day's.
    """

    racy_seconds = 2.0
    slots = 2

    def __init__(self, home: Path, *, relist_seconds: float = 60.0) -> None:
        self.home = home
        self.relist_seconds = relist_seconds
        self._tables: dict[Path, tuple[_Key, ScoreTable]] = {}
        self._verdicts: dict[Path, tuple[_Key, str | None]] = {}  # None: valid
        self._orphans: set[Path] = set()
        self._lock = threading.Lock()
        self._listing: _Listing | None = None
        self.listings = 0  # how many times the folder was listed (tests, benchmarks)
        self.features = FeatureStore(home)  # the features the score files were computed from

    def _list(self) -> _Listing | None:
        try:
            mtime = Workspace(self.home).scores.stat().st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            self._listing = None
            return None
        now = time.monotonic()
        listing = self._listing
        if (
            listing is not None
            and listing.trusted
            and listing.mtime_ns == mtime
            and now - listing.listed_at < self.relist_seconds
        ):
            return listing
        trusted = time.time_ns() - mtime > self.racy_seconds * 1e9
        files = score_files(self.home)
        manifests = _dated(Workspace(self.home).scores, ".manifest.json")
        have = {path for _, path in files}
        orphans = {m for _, m in manifests if m.with_suffix("").with_suffix(".parquet") not in have}
        for mpath in sorted(orphans - self._orphans):  # logged once while it stays an orphan
            log.warning("score manifest %s has no score file: ignored", mpath)
        self._orphans = orphans
        self.listings += 1
        first = manifests[0][0] if manifests else None
        listing = self._listing = _Listing(mtime, trusted, now, tuple(files), first)
        return listing

    def files(self) -> list[tuple[date, Path]]:
        """:func:`score_files`, listed again only when the folder changed (see the class)."""
        listing = self._list()
        return [] if listing is None else list(listing.files)

    def _key(self, path: Path, listing: _Listing, day: date) -> _Key | None:
        stamp = _stamp(path)
        if stamp is None:
            return None
        return (stamp, _stamp(manifest_of(path)), listing.manifest_required(day))

    def _refuse(self, path: Path, key: _Key, reason: str) -> None:
        self._verdicts[path] = (key, reason)
        log.warning("score file %s refused: %s; the previous valid run serves", path, reason)

    def _check(self, day: date, path: Path, key: _Key) -> pl.DataFrame | None:
        """The file's frame when valid (recording the verdict), None when refused (logged once per key)."""
        try:
            frame, manifested = check_score_file(day, path, manifest_required=key[2])
        except RefusedFile as exc:
            self._refuse(path, key, exc.reason)
            return None
        if not manifested and self._verdicts.get(path, (None, None))[0] != key:
            log.warning("score file %s has no manifest: taken as written before manifests existed", path)
        self._verdicts[path] = (key, None)
        return frame

    def _open(self, day: date, path: Path, listing: _Listing) -> ScoreTable | None:
        key = self._key(path, listing, day)
        if key is None:
            self._listing = None  # removed since the listing
            return None
        cached = self._tables.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        verdict = self._verdicts.get(path)
        if verdict is not None and verdict[0] == key and verdict[1] is not None:
            return None
        with self._lock:
            cached = self._tables.get(path)
            if cached is not None and cached[0] == key:
                return cached[1]
            verdict = self._verdicts.get(path)
            if verdict is not None and verdict[0] == key and verdict[1] is not None:
                return None
            frame = self._check(day, path, key)
            if frame is None:
                return None
            index = {u: i for i, u in enumerate(frame["uscc"].to_list())}
            table = ScoreTable(day, path, key[0], frame, index)
            self._tables.pop(path, None)
            while len(self._tables) >= self.slots:
                self._tables.pop(next(iter(self._tables)))
            self._tables[path] = (key, table)
            return table

    def table(self, on: date | None = None) -> ScoreTable | None:
        """The newest valid score file dated on or before `on` (any date when None), or None."""
        listing = self._list()
        if listing is None:
            return None
        for day, path in reversed(listing.files):
            if on is not None and day > on:
                continue
            table = self._open(day, path, listing)
            if table is not None:
                return table
        return None

    def latest(self) -> ScoreTable | None:
        """The newest valid score file, whatever its date."""
        return self.table()

    def refused(self) -> list[tuple[Path, str]]:
        """The files refused so far (as last checked) and why."""
        return sorted((p, v[1]) for p, v in self._verdicts.items() if v[1] is not None)

    def history(self, uscc: str) -> list[dict[str, Any]]:
        """The entity's row of every valid score file, oldest first (files without it are skipped)."""
        listing = self._list()
        if listing is None:
            return []
        rows = []
        keep = ["tier", "model_tier", "probability", "model_version"]
        for day, path in listing.files:
            key = self._key(path, listing, day)
            if key is None:
                continue
            cached = self._tables.get(path)
            verdict = self._verdicts.get(path)
            frame: pl.DataFrame | None
            if cached is not None and cached[0] == key:
                frame = cached[1].frame
            elif verdict is not None and verdict[0] == key and verdict[1] is not None:
                continue
            elif verdict is not None and verdict[0] == key:
                try:  # checked valid before: read only the entity's row
                    frame = pl.scan_parquet(path).filter(pl.col("uscc") == uscc).collect()
                except (Exception, pl.exceptions.PanicException) as exc:
                    self._refuse(path, key, f"not readable any more ({type(exc).__name__})")
                    continue
            else:
                with self._lock:
                    frame = self._check(day, path, key)
            if frame is None:
                continue
            found = frame.filter(pl.col("uscc") == uscc).select(c for c in keep if c in frame.columns)
            if found.height:
                rows.append({"as_of": day, **found.row(0, named=True)})
        return rows


_stores: dict[Path, ScoreStore] = {}
_stores_lock = threading.Lock()
MAX_HOMES = 4  # a server has one home; a test process meets many, and each store keeps its files in memory


def score_store(home: Path) -> ScoreStore:
    """The process's :class:`ScoreStore` of a home folder (every door and use case shares it)."""
    store = _stores.get(home)
    if store is not None:
        return store
    with _stores_lock:
        store = _stores.get(home)
        if store is None:
            while len(_stores) >= MAX_HOMES:
                _stores.pop(next(iter(_stores)))
            store = _stores[home] = ScoreStore(home)
        return store


# ------------------------------------------------------------------------------------------ stored features
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
        """The entity's row (at least ``uscc``, ``as_of`` and ``columns``), or None when absent from the
        file."""
        i = self.index.get(uscc)
        if i is None:
            return None
        if self.frame is not None:
            found = self.frame.slice(i, 1)  # every column: a select would cost a query per request
        else:
            keep = ["uscc", "as_of", *[c for c in columns if c not in ("uscc", "as_of")]]
            files = partitioned.parts_of(self.path)  # a partitioned run: its parts in partition order
            found = pl.scan_parquet(files).select(keep).slice(i, 1).collect()
        # A file named for another date than its rows (e.g. copied by hand) is not used.
        return found if found.height == 1 and found["as_of"][0] == self.as_of else None


class FeatureStore:
    """The feature file of a date (``creditwatch score`` writes it beside the scores), read once and indexed
    by USCC; re-read when the file is rewritten.

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
        path = Workspace(self.home).feature_file(day)
        try:
            return self._file.get(path, lambda path, stamp: self._read(day, path, stamp))
        except (Exception, pl.exceptions.PanicException) as exc:  # unreadable: the lake path answers instead
            log.warning("feature file %s not used: %s", path, exc)
            return None

    def _read(self, day: date, path: Path, stamp: tuple[int, int]) -> FeatureTable:
        # A feature file with a manifest (written by a score run or `features build` since manifests exist)
        # must match it; one without is read as before (the explanation checks its columns and dates).
        manifest = _read_manifest(path, "features", day, partitioned.content_sha256(path))
        files = partitioned.parts_of(path)  # a file, or a partitioned run's parts in partition order
        schema = pl.read_parquet_schema(files[0])
        if "uscc" not in schema or "as_of" not in schema:
            raise ValueError("no uscc or as_of column")
        rows = pl.scan_parquet(files).select(pl.len()).collect().item()
        if manifest is not None and manifest.rows != rows:
            raise RefusedFile(path, f"{rows} rows, its manifest says {manifest.rows}")
        frame = pl.read_parquet(files) if rows <= self.eager_rows else None
        usccs = frame["uscc"] if frame is not None else pl.read_parquet(files, columns=["uscc"])["uscc"]
        index = {u: i for i, u in enumerate(usccs.to_list())}
        return FeatureTable(day, path, stamp, frozenset(schema), index, frame)
