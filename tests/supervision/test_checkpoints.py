"""Signed checkpoints outside the database: a forged append, a rewritten tail, an edited or forged checkpoint
line and a truncated chain are all caught — on SQLite and PostgreSQL — and a crash between a commit and its
checkpoint shows up as uncovered entries, never as a false "rewritten"."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from supervision.platform import audit, checkpoints
from supervision.platform.checkpoints import CheckpointLog
from supervision.platform.db import session_scope
from tests.supervision.test_audit import _rows, _tamper

KEY = b"a-test-key-of-32-bytes-0123456789"


@pytest.fixture
def marks(tmp_path: Path, db_engine: sa.Engine) -> CheckpointLog:
    log = CheckpointLog(tmp_path / "audit" / "checkpoints.jsonl", KEY, (tmp_path / "sink.jsonl",))
    checkpoints.attach(db_engine, log)
    return log


def _append(engine: sa.Engine, n: int, *, actor: str = "zhang#1") -> None:
    with session_scope(engine) as session:
        audit.append_many(
            session, [{"actor": actor, "action": "lists.list", "target": f"list:{i}"} for i in range(n)]
        )


def _verify(engine: sa.Engine, marks: CheckpointLog) -> audit.VerifyResult:
    with session_scope(engine) as session:
        return audit.verify(session, marks=marks)


def _forge_append(engine: sa.Engine) -> None:
    """What an attacker with database access can do: append a correctly hashed entry and move the head."""
    with session_scope(engine) as session:
        head = session.execute(sa.select(audit.AuditChainHead)).scalar_one()
        at = datetime.now(UTC)
        fields = {
            "id": head.seq + 1,
            "at": at,
            "actor": "zhang#1",
            "role": "admin",
            "action": "tokens.create",
            "target": "token:99",
            "source": "10.0.0.1",
            "result": "ok",
            "details": {},
            "prev_hash": head.hash,
        }
        digest = audit.entry_hash(**fields)
        session.execute(sa.insert(audit.AuditEntry.__table__).values(**fields, hash=digest))
        session.execute(sa.update(audit.AuditChainHead.__table__).values(seq=head.seq + 1, hash=digest))


def test_every_commit_that_appends_is_signed_and_verifies(db_engine: sa.Engine, marks: CheckpointLog) -> None:
    _append(db_engine, 3)
    _append(db_engine, 2)
    result = _verify(db_engine, marks)
    assert result.ok, result.reason
    assert result.checkpoints is not None and result.checkpoints.lines == 2
    assert result.checkpoints.covered_seq == 5
    sink = marks.sinks[0].read_text().splitlines()
    assert sink == marks.path.read_text().splitlines()  # the external sink got every line


def test_a_correctly_hashed_append_outside_the_application_is_caught(
    db_engine: sa.Engine, marks: CheckpointLog
) -> None:
    _append(db_engine, 3)
    _forge_append(db_engine)
    with session_scope(db_engine) as session:
        assert audit.verify(session).ok  # the hash chain alone cannot see it
    result = _verify(db_engine, marks)
    assert not result.ok and result.first_bad_id == 4
    assert "not covered by a signed checkpoint" in str(result.reason)
    # Legitimate commits after it sign their own entries only: the forged one stays uncovered.
    _append(db_engine, 2)
    result = _verify(db_engine, marks)
    assert not result.ok and result.first_bad_id == 4
    assert result.checkpoints is not None and result.checkpoints.gaps == ((4, 4),)


def test_a_rewritten_tail_is_caught(db_engine: sa.Engine, marks: CheckpointLog) -> None:
    _append(db_engine, 4)
    with _tamper(db_engine) as connection:  # rewrite entry 4 and re-hash it: the chain alone verifies
        row = _rows(connection)[-1]
        row["actor"] = "someone-else#7"
        row["hash"] = audit.entry_hash(**{k: v for k, v in row.items() if k != "hash"})
        table = audit.AuditEntry.__table__
        connection.execute(
            sa.update(table).where(table.c.id == 4).values(actor=row["actor"], hash=row["hash"])
        )
        connection.execute(sa.update(audit.AuditChainHead.__table__).values(hash=row["hash"]))
    with session_scope(db_engine) as session:
        assert audit.verify(session).ok
    result = _verify(db_engine, marks)
    assert not result.ok and "differs from its checkpoint (rewritten)" in str(result.reason)


def test_a_forged_or_edited_checkpoint_line_is_caught(db_engine: sa.Engine, marks: CheckpointLog) -> None:
    _append(db_engine, 2)
    _forge_append(db_engine)
    with session_scope(db_engine) as session:
        head = session.execute(sa.select(audit.AuditChainHead)).scalar_one()
        seq, head_hash = head.seq, head.hash
    # Without the key: a line for the forged head with a made-up signature.
    line = {
        "v": "v1",
        "from": seq,
        "seq": seq,
        "hash": head_hash,
        "at": "2026-12-06T00:00:00+00:00",
        "mac": "0" * 64,
    }
    with marks.path.open("a") as handle:
        handle.write(json.dumps(line) + "\n")
    result = _verify(db_engine, marks)
    assert not result.ok and "bad signature" in str(result.reason)
    # Signed with another key (the attacker's own): refused the same way.
    other = CheckpointLog(marks.path, b"not-the-operators-key-0123456789")
    other.append(seq, seq, head_hash)
    assert "bad signature" in " ".join(_verify(db_engine, marks).checkpoints.problems)  # type: ignore[union-attr]


def test_a_truncated_chain_is_caught_against_its_checkpoint(
    db_engine: sa.Engine, marks: CheckpointLog
) -> None:
    _append(db_engine, 3)
    with _tamper(db_engine) as connection:
        table = audit.AuditEntry.__table__
        last = _rows(connection)[1]
        connection.execute(sa.delete(table).where(table.c.id == 3))
        connection.execute(sa.update(audit.AuditChainHead.__table__).values(seq=2, hash=last["hash"]))
    result = _verify(db_engine, marks)
    assert not result.ok and "missing from the chain (truncated)" in str(result.reason)


def test_a_rolled_back_append_signs_nothing(db_engine: sa.Engine, marks: CheckpointLog) -> None:
    _append(db_engine, 2)
    with pytest.raises(RuntimeError), session_scope(db_engine) as session:
        audit.append(session, actor="x#1", action="lists.list")
        raise RuntimeError("the change failed after its entry was added")
    assert len(list(marks.lines())) == 1
    assert _verify(db_engine, marks).ok


def test_without_the_file_every_entry_is_uncovered(db_engine: sa.Engine, marks: CheckpointLog) -> None:
    _append(db_engine, 2)
    marks.path.unlink()  # deleting the checkpoints does not make a chain look clean
    result = _verify(db_engine, marks)
    assert not result.ok and "entries 1-2 are not covered" in str(result.reason)


def test_a_short_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CheckpointLog(tmp_path / "c.jsonl", b"short")


def test_insert_or_replace_cannot_rewrite_an_entry_on_sqlite(tmp_path: Path) -> None:
    from supervision.platform.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(engine)
    _append(engine, 2)
    with engine.connect() as connection:
        row = _rows(connection)[0]
    row["actor"] = "rewritten#9"
    columns = ", ".join(row)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as connection:
        connection.exec_driver_sql(
            f"INSERT OR REPLACE INTO audit_entries ({columns}) VALUES ({', '.join('?' * len(row))})",
            tuple(json.dumps(v) if isinstance(v, dict) else v for v in row.values()),
        )
    with engine.connect() as connection:
        assert _rows(connection)[0]["actor"] == "zhang#1"
    engine.dispose()
