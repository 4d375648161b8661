"""Signed checkpoints of the audit chain's head, kept outside the database: (seq, hash) in, a verdict out.

The hash chain (``supervision.platform.audit``) exposes an edit that does not re-hash what follows, but
whoever can write the database can append a correctly hashed entry, or rewrite the tail and move the head.
So after every commit that appended entries, the committing process appends one line to a checkpoint file
outside the database: the range of entries it wrote (``from``..``seq``) and the new head's hash, signed
with an HMAC key that is not stored in the database (``CREDITWATCH_AUDIT_KEY``). ``audit verify`` then
requires

- every checkpoint line to carry a valid signature (a forged or edited line is caught),
- the chain to still hold each checkpointed (seq, hash) (a rewritten or truncated chain is caught), and
- every entry to lie in a signed range (an entry appended outside the application lies in none — also
  after later legitimate commits, whose ranges start after it).

A crash between a commit and its checkpoint line leaves the newest entries uncovered: verify reports them,
and an administrator who has looked at them signs the head again (``creditwatch audit checkpoint``), which
is itself audited. Lines are appended with one ``write`` on a file opened with ``O_APPEND``, so several
processes (the API and the CLI) can share one file; their lines may arrive out of order, which is fine.
An optional second file (``CREDITWATCH_AUDIT_CHECKPOINT_SINK``, e.g. on write-once storage) gets every line
too. Replicas on several machines each write their own home's file: ``CheckpointUnion`` reads the files of
all machines as one log (``creditwatch audit verify --checkpoints FILE …``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from supervision.platform.errors import DomainError

__all__ = [
    "CheckpointFileError",
    "CheckpointLog",
    "CheckpointUnion",
    "CheckpointVerdict",
    "Marks",
    "attach",
    "pending",
    "vouch",
]

FORMAT = "v1"
_PENDING_KEY = "audit_checkpoint_head"


@dataclass(frozen=True, slots=True)
class CheckpointVerdict:
    """What the checkpoints say of a chain: ``ok``, the highest sequence covered, and the problems found."""

    ok: bool
    lines: int
    covered_seq: int  # every entry up to here lies in a signed range
    problems: tuple[str, ...] = ()
    gaps: tuple[tuple[int, int], ...] = ()  # runs of entries no signed range covers


@dataclass(frozen=True)
class CheckpointLog:
    """The checkpoint file(s) and the signing key."""

    path: Path
    key: bytes = field(repr=False)
    sinks: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ValueError("audit checkpoint key: at least 16 bytes")

    def sign(self, first: int, seq: int, head_hash: str, at: str) -> str:
        message = f"{FORMAT}|{first}|{seq}|{head_hash}|{at}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def append(self, first: int, seq: int, head_hash: str, *, at: datetime | None = None) -> None:
        """Sign and append "entries `first`..`seq` were written here, and the head is then `head_hash`"."""
        stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
        line = {
            "v": FORMAT,
            "from": first,
            "seq": seq,
            "hash": head_hash,
            "at": stamp,
            "mac": self.sign(first, seq, head_hash, stamp),
        }
        data = (json.dumps(line, separators=(",", ":"), sort_keys=True) + "\n").encode()
        for path in (self.path, *self.sinks):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, data)  # one write on O_APPEND: concurrent writers do not interleave lines
            finally:
                os.close(fd)

    def lines(self) -> Iterator[tuple[int, str]]:
        """(line number, text) of the main file; none if it does not exist."""
        try:
            with self.path.open(encoding="utf-8") as handle:
                yield from ((n, text.rstrip("\n")) for n, text in enumerate(handle, start=1) if text.strip())
        except FileNotFoundError:
            return

    def seqs(self) -> set[int]:
        """The sequence numbers the lines name (unchecked): the entries whose hashes verify must collect."""
        return _seqs(text for _, text in self.lines())

    def check(self, hashes: dict[int, str], *, head_seq: int) -> CheckpointVerdict:
        """Check every line against `hashes` (seq → the chain's hash) and that the signed ranges cover
        entries 1..`head_seq` without a gap."""
        lines = ((f"checkpoint line {number}", text, self.sign) for number, text in self.lines())
        return _verdict(lines, hashes, head_seq=head_seq)


class CheckpointFileError(DomainError):
    """A checkpoint file that was named but cannot be read: an error, never an empty file (skipping it would
    report the entries it covers as uncovered, and hide any forged line in it)."""

    def __init__(self, path: Path, exc: OSError | UnicodeDecodeError) -> None:
        cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        super().__init__(f"checkpoint file {path}: cannot be read ({cause})", field="checkpoints")
        self.path = path


@dataclass(frozen=True)
class CheckpointUnion:
    """The checkpoint files of several machines on one database, read as one log: the union of their lines.

    Each replica appends to its own home's file, so a file covers only what its machine committed. Every
    line is checked as :class:`CheckpointLog` checks its own (same signature, same key); a problem names its
    file and line. Lines may repeat across files (a copied or collected file) and come in any order. A file
    that is missing or unreadable is a :class:`CheckpointFileError` naming it, never skipped."""

    logs: tuple[CheckpointLog, ...]

    def __post_init__(self) -> None:
        if not self.logs:
            raise ValueError("checkpoint files: name at least one")

    @classmethod
    def of(cls, paths: Iterable[Path], key: bytes) -> CheckpointUnion:
        """The files at `paths`, signed with `key` (the operator's ``CREDITWATCH_AUDIT_KEY``)."""
        return cls(tuple(CheckpointLog(Path(path), key) for path in paths))

    def lines(self) -> Iterator[tuple[CheckpointLog, int, str]]:
        """(the file's log, line number, text) of every file in turn."""
        for log in self.logs:
            yield from ((log, number, text) for number, text in _required_lines(log.path))

    def seqs(self) -> set[int]:
        """The sequence numbers the lines of every file name (unchecked)."""
        return _seqs(text for _, _, text in self.lines())

    def check(self, hashes: dict[int, str], *, head_seq: int) -> CheckpointVerdict:
        """As :meth:`CheckpointLog.check`, over the lines of every file together: a range signed on one
        machine covers its entries whichever file holds the line."""
        lines = ((f"checkpoint line {n} of {log.path}", text, log.sign) for log, n, text in self.lines())
        return _verdict(lines, hashes, head_seq=head_seq)


# What `audit.verify` checks the chain against: one machine's file, or the files of several.
Marks = CheckpointLog | CheckpointUnion


def _required_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a file that must exist and be readable."""
    try:
        with path.open(encoding="utf-8") as handle:
            yield from ((n, text.rstrip("\n")) for n, text in enumerate(handle, start=1) if text.strip())
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointFileError(path, exc) from exc


def _seqs(texts: Iterable[str]) -> set[int]:
    out = set()
    for text in texts:
        try:
            out.add(int(json.loads(text)["seq"]))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def _verdict(
    lines: Iterable[tuple[str, str, Callable[[int, int, str, str], str]]],
    hashes: dict[int, str],
    *,
    head_seq: int,
) -> CheckpointVerdict:
    """Check each (where, text, signer) line against `hashes`; the signed ranges must cover 1..`head_seq`."""
    problems: list[str] = []
    ranges: list[tuple[int, int]] = []
    count = 0
    for where, text, sign in lines:
        count += 1
        try:
            line: dict[str, Any] = json.loads(text)
            first, seq = int(line["from"]), int(line["seq"])
            head_hash, at, mac = str(line["hash"]), str(line["at"]), str(line["mac"])
        except (ValueError, KeyError, TypeError):
            problems.append(f"{where} is not a checkpoint (corrupt or edited)")
            continue
        if not hmac.compare_digest(mac, sign(first, seq, head_hash, at)):
            problems.append(f"{where} has a bad signature (forged, edited, or another key)")
            continue
        found = hashes.get(seq)
        if found is None:
            problems.append(f"{where}: entry {seq} is missing from the chain (truncated)")
        elif found != head_hash:
            problems.append(f"{where}: entry {seq} differs from its checkpoint (rewritten)")
        else:
            ranges.append((first, seq))
    gaps = _gaps(ranges, head_seq)
    if gaps:
        shown = ", ".join(f"{a}-{b}" for a, b in gaps[:5]) + (" …" if len(gaps) > 5 else "")
        problems.append(
            f"entries {shown} are not covered by a signed checkpoint: appended outside the application, "
            "written just before a crash (look at them, then `creditwatch audit checkpoint`), or signed on "
            "another machine whose file was not given (`audit verify --checkpoints FILE …`)"
        )
    covered = gaps[0][0] - 1 if gaps else head_seq
    return CheckpointVerdict(not problems, count, covered, tuple(problems), tuple(gaps))


def _gaps(ranges: list[tuple[int, int]], head_seq: int) -> list[tuple[int, int]]:
    """The runs of 1..`head_seq` that no range covers, in order."""
    gaps, reached = [], 0
    for first, last in sorted(ranges):
        if first > reached + 1:
            gaps.append((reached + 1, min(first - 1, head_seq)))
        reached = max(reached, last)
        if reached >= head_seq:
            break
    if reached < head_seq:
        gaps.append((reached + 1, head_seq))
    return [g for g in gaps if g[0] <= g[1]]


# Engine → its checkpoint log: sessions on an attached engine write a line after each commit that appended.
_LOGS: weakref.WeakKeyDictionary[sa.Engine, CheckpointLog] = weakref.WeakKeyDictionary()


def attach(engine: sa.Engine, log: CheckpointLog) -> None:
    """Checkpoint every commit on `engine` that appended audit entries (the API, the CLI)."""
    _LOGS[engine] = log


def pending(session: Session, first: int, seq: int, head_hash: str) -> None:
    """Called by the audit append: this session's commit adds entries `first`..`seq` and moves the head to
    `head_hash` (appends of one transaction are contiguous: it holds the head's lock)."""
    known = session.info.get(_PENDING_KEY)
    session.info[_PENDING_KEY] = (min(first, known[0]) if known else first, seq, head_hash)


def vouch(session: Session, first: int) -> None:
    """Make this session's checkpoint cover entries from `first` on: an administrator who has looked at
    entries no checkpoint covers vouches for them (``creditwatch audit checkpoint``; audited)."""
    known = session.info.get(_PENDING_KEY)
    if known is None:
        raise RuntimeError("vouch() after an audit append in the same transaction")
    session.info[_PENDING_KEY] = (min(first, known[0]), known[1], known[2])


@sa.event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    head = session.info.pop(_PENDING_KEY, None)
    if head is None:
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, sa.Engine) else bind.engine
    log = _LOGS.get(engine)
    if log is not None:
        log.append(*head)


@sa.event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    # Whatever rolled back (the transaction, or a savepoint that may have held the append), this commit's
    # head is no longer known for sure: sign nothing for it. The next commit's checkpoint covers it.
    session.info.pop(_PENDING_KEY, None)
