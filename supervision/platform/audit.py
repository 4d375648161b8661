"""Tamper-evident audit log: entries (who, when, what, from where, result) in, a verification verdict out.

Each entry's ``hash`` is the SHA-256 of a canonical JSON form of its fields and of the previous entry's
hash, so editing, deleting, inserting or reordering any entry breaks the chain from that entry on. A
single-row chain head (``audit_chain_head``: last sequence number and hash) serialises writers and makes
truncation of the tail detectable. The tables are append-only by database triggers as well (migration
0003); the chain is what detects a writer who disabled them. Anchor the head hash outside the database
(``creditwatch audit verify`` prints it) to detect a rewrite of the whole chain.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from supervision.platform import checkpoints
from supervision.platform.db import Base
from supervision.platform.errors import BusyError

GENESIS = "0" * 64
FORMAT_VERSION = 1
HEAD_ID = 1

RESULTS = ("ok", "denied", "rejected", "error")
"""``ok`` done; ``denied`` no or wrong credentials/role; ``rejected`` invalid request; ``error`` server
fault."""


class AuditEntry(Base):
    """One audited event; rows are only ever inserted."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        sa.CheckConstraint("id >= 1", name="id_positive"),
        sa.CheckConstraint("result IN ('ok', 'denied', 'rejected', 'error')", name="result"),
        sa.CheckConstraint("length(hash) = 64 AND length(prev_hash) = 64", name="hash_length"),
    )

    # Assigned from the chain head (1, 2, 3, ...) rather than by the database, so a gap is itself evidence.
    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str | None] = mapped_column(sa.String(32))
    action: Mapped[str] = mapped_column(sa.String(100), index=True)
    target: Mapped[str | None] = mapped_column(sa.String(300), index=True)
    source: Mapped[str | None] = mapped_column(sa.String(100))
    result: Mapped[str] = mapped_column(sa.String(16))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class AuditChainHead(Base):
    """The single row holding the last sequence number and hash; locking it serialises appends."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (
        sa.CheckConstraint("id = 1", name="single_row"),
        sa.CheckConstraint("seq >= 0", name="seq_non_negative"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditConflict(BusyError, RuntimeError):
    """The chain head moved while this append held it: another writer bypassed the lock."""


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"audit details: {type(value).__name__} is not JSON serialisable")


def canonical_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """Details as plain JSON values (dates as ISO strings); NaN and unknown types are refused."""
    text = json.dumps(dict(details or {}), default=_jsonable, allow_nan=False, sort_keys=True)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _instant(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError(f"audit time {at.isoformat()} is naive: give a timezone-aware instant")
    # Microseconds: both SQLite and PostgreSQL keep them, so the stored value hashes the same after a read.
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(
    *,
    id: int,
    at: datetime,
    actor: str,
    role: str | None,
    action: str,
    target: str | None,
    source: str | None,
    result: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry's fields and the previous hash."""
    payload = {
        "v": FORMAT_VERSION,
        "id": id,
        "at": _instant(at),
        "actor": actor,
        "role": role,
        "action": action,
        "target": target,
        "source": source,
        "result": result,
        "details": details,
        "prev_hash": prev_hash,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _hash_of(entry: AuditEntry) -> str:
    return entry_hash(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        role=entry.role,
        action=entry.action,
        target=entry.target,
        source=entry.source,
        result=entry.result,
        details=entry.details,
        prev_hash=entry.prev_hash,
    )


def lock(session: Session) -> None:
    """Take the chain's write lock now, for the rest of the caller's transaction.

    For transactions that read before they write on SQLite: there a read transaction cannot become a write
    transaction once another connection has committed ("database is locked" at once, without waiting), so
    a unit of work that will be audited takes the lock it would take anyway at its start.
    """
    _lock_head(session)


_HEAD = cast(sa.Table, AuditChainHead.__table__)
_ENTRIES = cast(sa.Table, AuditEntry.__table__)
# Built once: constructing the statements cost as much CPU as running them (one append per audited read).
# A no-op UPDATE takes the write lock on both backends before anything is read — a row lock on PostgreSQL,
# the database's RESERVED lock on SQLite (where SELECT ... FOR UPDATE does nothing) — and returns the head.
_TOUCH_HEAD = (
    sa.update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=_HEAD.c.seq).returning(_HEAD.c.seq, _HEAD.c.hash)
)
_START_HEAD = sa.insert(_HEAD).values(id=HEAD_ID, seq=0, hash=GENESIS)
_INSERT_ENTRIES = sa.insert(_ENTRIES)
_MOVE_HEAD = (
    sa.update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID, _HEAD.c.seq == sa.bindparam("last_seq"))
    .values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash"))
)


def _lock_head(session: Session) -> tuple[int, str]:
    """The chain head's (seq, hash), locked until the end of the transaction (created on first use)."""
    connection = session.connection()
    row = connection.execute(_TOUCH_HEAD).one_or_none()
    if row is None:
        # First append on this database: the primary key makes a concurrent first insert fail, not fork.
        connection.execute(_START_HEAD)
        return 0, GENESIS
    return int(row.seq), str(row.hash)


def _prepared(
    *,
    actor: str,
    action: str,
    result: str = "ok",
    role: str | None = None,
    target: str | None = None,
    source: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One entry's fields, checked and canonical, before it gets its place in the chain."""
    if result not in RESULTS:
        raise ValueError(f"audit result {result!r}: expected one of {', '.join(RESULTS)}")
    if not actor or not action:
        raise ValueError("audit entry needs an actor and an action")
    if at is not None:
        _instant(at)
    return {
        "at": at,
        "actor": actor,
        "role": role,
        "action": action,
        "target": target,
        "source": source,
        "result": result,
        "details": canonical_details(details),
    }


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    result: str = "ok",
    role: str | None = None,
    target: str | None = None,
    source: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add one entry at the end of the chain, in the caller's transaction (committed with its work).

    The chain head stays locked until that transaction ends, so keep audited transactions short.
    """
    entry = dict(
        actor=actor,
        action=action,
        result=result,
        role=role,
        target=target,
        source=source,
        details=details,
        at=at,
    )
    return append_many(session, [entry])[0]


def append_many(session: Session, entries: Sequence[Mapping[str, Any]]) -> list[AuditEntry]:
    """Add several entries (keyword arguments of :func:`append`) in order, under one lock of the head.

    All are checked before any is written; the returned entries are values (not attached to `session`).
    """
    prepared = [_prepared(**entry) for entry in entries]
    if not prepared:
        return []
    last, prev = _lock_head(session)
    now = datetime.now(UTC)  # read under the lock: times follow the sequence
    rows: list[dict[str, Any]] = []
    for offset, fields in enumerate(prepared, start=1):
        row = {**fields, "id": last + offset, "at": (fields["at"] or now).astimezone(UTC), "prev_hash": prev}
        row["hash"] = prev = entry_hash(**row)
        rows.append(row)
    # Core statements, not the unit of work: the ORM's per-object flush cost dominated a batch of appends.
    connection = session.connection()
    connection.execute(_INSERT_ENTRIES, rows)
    moved = connection.execute(
        _MOVE_HEAD, {"last_seq": last, "new_seq": last + len(rows), "new_hash": prev}
    ).rowcount
    if moved != 1:
        raise AuditConflict(f"audit chain head moved during append of entries {last + 1}-{last + len(rows)}")
    checkpoints.pending(
        session, last + 1, last + len(rows), prev
    )  # signed outside the database once committed
    return [AuditEntry(**row) for row in rows]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The verdict on the whole chain: ``ok``, or the first bad entry and why."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_bad_id: int | None = None
    reason: str | None = None
    checkpoints: checkpoints.CheckpointVerdict | None = None

    def as_dict(self) -> dict[str, Any]:
        marks = self.checkpoints
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_id": self.first_bad_id,
            "reason": self.reason,
            "checkpoints": None
            if marks is None
            else {
                "lines": marks.lines,
                "covered_seq": marks.covered_seq,
                "gaps": [list(g) for g in marks.gaps],
                "problems": list(marks.problems),
            },
        }


def verify(
    session: Session,
    *,
    anchor: tuple[int, str] | None = None,
    batch: int = 1000,
    marks: checkpoints.Marks | None = None,
) -> VerifyResult:
    """Re-compute every hash in sequence order and compare the end of the chain with the head.

    `anchor` is a (seq, hash) published earlier (a previous run's head): the chain must still hold it.
    `marks` is the signed checkpoint log kept outside the database (one file, or the union of several
    machines' files): every line must be genuine, the chain must still hold each, and every entry must be
    covered by one (see supervision.platform.checkpoints).
    """
    wanted = marks.seqs() if marks is not None else set()
    hashes: dict[int, str] = {}
    head = session.execute(sa.select(AuditChainHead).where(AuditChainHead.id == HEAD_ID)).scalar_one_or_none()
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS)
    expected_id, prev, count = 1, GENESIS, 0

    def bad(entry_id: int, reason: str) -> VerifyResult:
        return VerifyResult(False, count, head_seq, head_hash, entry_id, reason)

    stmt = sa.select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=batch)
    result = session.execute(stmt)
    try:  # close the (server-side, on PostgreSQL) cursor also when stopping at a bad entry
        for entry in result.scalars():
            if entry.id != expected_id:
                return bad(
                    min(entry.id, expected_id),
                    f"sequence broken: expected entry {expected_id}, found {entry.id} "
                    "(deleted or inserted entry)",
                )
            if entry.prev_hash != prev:
                return bad(
                    entry.id, f"entry {entry.id} does not link to the entry before it (inserted or reordered)"
                )
            if _hash_of(entry) != entry.hash:
                return bad(entry.id, f"entry {entry.id} was altered: its content no longer matches its hash")
            if anchor is not None and entry.id == anchor[0] and entry.hash != anchor[1]:
                return bad(
                    entry.id, f"entry {entry.id} is not the one anchored earlier: the chain was rewritten"
                )
            if entry.id in wanted:
                hashes[entry.id] = entry.hash
            prev, count, expected_id = entry.hash, count + 1, expected_id + 1
    finally:
        result.close()
    if head_seq != count or head_hash != prev:
        if head_seq > count:
            return bad(
                count + 1, f"chain ends at entry {count} but the head records {head_seq}: entries deleted"
            )
        return bad(head_seq + 1 if head_seq < count else count, "chain does not end at the recorded head")
    if anchor is not None and anchor[0] > count:
        return bad(count + 1, f"the anchored entry {anchor[0]} is missing: the chain ends at {count}")
    if marks is not None:
        verdict = marks.check(hashes, head_seq=head_seq)
        if not verdict.ok:
            first = verdict.gaps[0][0] if verdict.gaps else None
            return VerifyResult(False, count, head_seq, head_hash, first, verdict.problems[0], verdict)
        return VerifyResult(True, count, head_seq, head_hash, checkpoints=verdict)
    return VerifyResult(True, count, head_seq, head_hash)


def entries(
    session: Session, *, after_id: int = 0, limit: int = 100, target: str | None = None
) -> list[AuditEntry]:
    """Entries in sequence order after `after_id` (paging), optionally for one target."""
    stmt = sa.select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id).limit(limit)
    if target is not None:
        stmt = stmt.where(AuditEntry.target == target)
    return list(session.execute(stmt).scalars())
