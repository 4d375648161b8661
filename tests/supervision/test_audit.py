"""The hash-chained audit log: a clean chain verifies; any edit, deletion, insertion or reordering is
named."""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from supervision.platform import audit
from supervision.platform.db import session_scope

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
# PostgreSQL's append-only triggers (migrations 0003 and 0012).
ALWAYS_TRIGGERS = (
    ("audit_entries", "audit_entries_append_only"),
    ("audit_entries", "audit_entries_no_truncate"),
    ("audit_chain_head", "audit_chain_head_no_delete"),
    ("audit_chain_head", "audit_chain_head_no_truncate"),
)


def _fill(engine: sa.Engine, n: int = 5) -> None:
    with session_scope(engine) as session:
        for i in range(1, n + 1):
            audit.append(
                session,
                actor=f"user{i}#{i}",
                role="supervisor",
                action="entities.read",
                target=f"uscc:91320900MA1X{i:04d}",
                source="10.0.0.7",
                details={"i": i, "note": "查看主体详情", "nested": {"b": [1, 2.5], "a": None}},
                at=T0 + timedelta(minutes=i),
            )


def _verify(engine: sa.Engine) -> audit.VerifyResult:
    with session_scope(engine) as session:
        return audit.verify(session)


@contextmanager
def _tamper(engine: sa.Engine) -> Iterator[sa.Connection]:
    """Raw SQL as someone able to switch the append-only triggers off: the tables' owner on PostgreSQL (the
    replication-role trick no longer works: migration 0012), anyone with the file on SQLite."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        if postgres:
            for table in ("audit_entries", "audit_chain_head"):
                connection.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            for name in ("audit_entries_no_update", "audit_entries_no_delete", "audit_chain_head_no_delete"):
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        yield connection
        if postgres:  # the owner puts them back, as they were
            for table, trigger in ALWAYS_TRIGGERS:
                connection.exec_driver_sql(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")


def _rows(connection: sa.Connection) -> list[dict[str, object]]:
    table = audit.AuditEntry.__table__
    return [dict(r._mapping) for r in connection.execute(sa.select(table).order_by(table.c.id))]


def test_empty_log_verifies(db_engine: sa.Engine) -> None:
    result = _verify(db_engine)
    assert result.ok and result.entries == 0 and result.head_hash == audit.GENESIS


def test_clean_chain_verifies_and_links(db_engine: sa.Engine) -> None:
    _fill(db_engine, 5)
    result = _verify(db_engine)
    assert result.ok, result.reason
    assert (result.entries, result.head_seq) == (5, 5)
    with db_engine.connect() as connection:
        rows = _rows(connection)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["prev_hash"] == audit.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    assert result.head_hash == rows[-1]["hash"]
    assert len({r["hash"] for r in rows}) == 5
    # The stored times come back as the same UTC instants (the hash depends on it).
    assert rows[2]["at"].replace(tzinfo=UTC) == T0 + timedelta(minutes=3)


def test_hash_is_sha256_of_the_canonical_fields() -> None:
    fields = {
        "id": 1,
        "at": T0,
        "actor": "a#1",
        "role": None,
        "action": "x",
        "target": None,
        "source": None,
        "result": "ok",
        "details": {"b": 1, "a": 2},
        "prev_hash": audit.GENESIS,
    }
    reordered = {**fields, "details": {"a": 2, "b": 1}}
    assert audit.entry_hash(**fields) == audit.entry_hash(**reordered)  # key order is not content
    # Any field change, and the same instant in another zone is the same instant.
    assert audit.entry_hash(**{**fields, "actor": "a#2"}) != audit.entry_hash(**fields)
    other_zone = T0.astimezone(ZoneInfo("Asia/Shanghai"))
    assert audit.entry_hash(**{**fields, "at": other_zone}) == audit.entry_hash(**fields)
    assert audit.entry_hash(**{**fields, "at": T0 + timedelta(microseconds=1)}) != audit.entry_hash(**fields)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "someone-else#9"),
        ("result", "denied"),
        ("target", "uscc:OTHER"),
        ("source", "192.168.1.1"),
        ("role", None),
    ],
)
def test_edit_of_a_field_is_named(db_engine: sa.Engine, column: str, value: object) -> None:
    _fill(db_engine)
    with _tamper(db_engine) as connection:
        connection.execute(
            sa.update(audit.AuditEntry.__table__).where(sa.column("id") == 3).values({column: value})
        )
    result = _verify(db_engine)
    assert not result.ok
    assert result.first_bad_id == 3
    assert "altered" in (result.reason or "")


def test_edit_of_details_and_time_is_named(db_engine: sa.Engine) -> None:
    _fill(db_engine)
    table = audit.AuditEntry.__table__
    with _tamper(db_engine) as connection:
        connection.execute(sa.update(table).where(table.c.id == 4).values(details={"i": 4, "note": "edited"}))
    assert _verify(db_engine).first_bad_id == 4
    with _tamper(db_engine) as connection:
        connection.execute(sa.update(table).where(table.c.id == 2).values(at=T0 - timedelta(days=1)))
    assert _verify(db_engine).first_bad_id == 2


def test_deleting_a_middle_entry_is_named(db_engine: sa.Engine) -> None:
    _fill(db_engine)
    with _tamper(db_engine) as connection:
        connection.exec_driver_sql("DELETE FROM audit_entries WHERE id = 3")
    result = _verify(db_engine)
    assert not result.ok and result.first_bad_id == 3
    assert "deleted" in (result.reason or "")


def test_deleting_the_last_entries_is_detected_by_the_head(db_engine: sa.Engine) -> None:
    _fill(db_engine)
    with _tamper(db_engine) as connection:
        connection.exec_driver_sql("DELETE FROM audit_entries WHERE id >= 4")
    result = _verify(db_engine)
    assert not result.ok and result.first_bad_id == 4
    assert result.head_seq == 5 and result.entries == 3


def test_deleting_everything_including_the_head_is_detected(db_engine: sa.Engine) -> None:
    _fill(db_engine)
    with _tamper(db_engine) as connection:
        connection.exec_driver_sql("DELETE FROM audit_chain_head")
        connection.exec_driver_sql("DELETE FROM audit_entries WHERE id >= 2")
    result = _verify(db_engine)
    assert not result.ok and result.first_bad_id == 1


def _forged(prev: dict[str, object], new_id: int, **overrides: object) -> dict[str, object]:
    """A well-formed entry with a correct hash, as a forger who knows the format would write it."""
    fields: dict[str, object] = {
        "id": new_id,
        "at": T0 + timedelta(hours=1),
        "actor": "forger#0",
        "role": "admin",
        "action": "tokens.create",
        "target": "token:99",
        "source": "127.0.0.1",
        "result": "ok",
        "details": {},
        "prev_hash": prev["hash"],
    }
    fields.update(overrides)
    fields["hash"] = audit.entry_hash(**fields)  # type: ignore[arg-type]
    return fields


def test_appending_a_forged_entry_behind_the_head_is_detected(db_engine: sa.Engine) -> None:
    _fill(db_engine)
    with _tamper(db_engine) as connection:
        last = _rows(connection)[-1]
        connection.execute(sa.insert(audit.AuditEntry.__table__).values(**_forged(last, 6)))
    result = _verify(db_engine)
    assert not result.ok and result.first_bad_id == 6


def test_inserting_an_entry_in_the_middle_is_detected(db_engine: sa.Engine) -> None:
    _fill(db_engine)
    table = audit.AuditEntry.__table__
    with _tamper(db_engine) as connection:
        rows = _rows(connection)
        # Make room after entry 2 (renumber 3..5 to 4..6, highest first), then slip a forged entry 3 in.
        for row in reversed(rows[2:]):
            connection.execute(sa.update(table).where(table.c.id == row["id"]).values(id=int(row["id"]) + 1))  # type: ignore[call-overload]
        connection.execute(sa.insert(table).values(**_forged(rows[1], 3)))
    result = _verify(db_engine)
    assert not result.ok
    assert result.first_bad_id == 4  # the renumbered old entry 3 no longer has the hash it was sealed with


def test_reordering_two_entries_is_detected(db_engine: sa.Engine) -> None:
    _fill(db_engine)
    table = audit.AuditEntry.__table__
    with _tamper(db_engine) as connection:
        connection.execute(sa.update(table).where(table.c.id == 2).values(id=1000))
        connection.execute(sa.update(table).where(table.c.id == 3).values(id=2))
        connection.execute(sa.update(table).where(table.c.id == 1000).values(id=3))
    result = _verify(db_engine)
    assert not result.ok and result.first_bad_id == 2


def test_a_rewritten_chain_with_a_forged_head_changes_the_anchored_hash(db_engine: sa.Engine) -> None:
    # Someone who rewrites every hash and the head defeats the database alone; the published head does not.
    _fill(db_engine)
    anchored = _verify(db_engine).head_hash
    table = audit.AuditEntry.__table__
    with _tamper(db_engine) as connection:
        rows = _rows(connection)
        prev = audit.GENESIS
        for row in rows:
            fields = {k: row[k] for k in row if k != "hash"}
            fields["at"] = fields["at"].replace(tzinfo=UTC) if fields["at"].tzinfo is None else fields["at"]  # type: ignore[union-attr]
            fields["prev_hash"] = prev
            if row["id"] == 2:
                fields["actor"] = "someone-else#9"
            digest = audit.entry_hash(**fields)  # type: ignore[arg-type]
            connection.execute(
                sa.update(table)
                .where(table.c.id == row["id"])
                .values(actor=fields["actor"], prev_hash=prev, hash=digest)
            )
            prev = digest
        connection.exec_driver_sql(f"UPDATE audit_chain_head SET hash = '{prev}' WHERE id = 1")
    result = _verify(db_engine)
    assert result.ok  # internally consistent again ...
    assert result.head_hash != anchored  # ... but no longer the head that was published
    with session_scope(db_engine) as session:
        checked = audit.verify(session, anchor=(5, anchored))
    assert not checked.ok and checked.first_bad_id == 5 and "rewritten" in (checked.reason or "")


def test_an_anchor_still_in_the_chain_verifies(db_engine: sa.Engine) -> None:
    _fill(db_engine, 3)
    anchored = _verify(db_engine).head_hash
    _fill(db_engine, 2)  # the chain grows past the anchor
    with session_scope(db_engine) as session:
        assert audit.verify(session, anchor=(3, anchored)).ok
        missing = audit.verify(session, anchor=(9, anchored))
    assert not missing.ok and missing.first_bad_id == 6


def test_the_tables_are_append_only(db_engine: sa.Engine) -> None:
    _fill(db_engine, 2)
    for statement in (
        "UPDATE audit_entries SET actor = 'x' WHERE id = 1",
        "DELETE FROM audit_entries WHERE id = 2",
        "DELETE FROM audit_chain_head",
    ):
        with (
            pytest.raises(sa.exc.DatabaseError, match=r"append-only|cannot be deleted"),
            db_engine.begin() as c,
        ):
            c.exec_driver_sql(statement)
    assert _verify(db_engine).ok


def test_a_rolled_back_append_leaves_no_trace(db_engine: sa.Engine) -> None:
    _fill(db_engine, 2)
    with pytest.raises(RuntimeError, match="boom"), session_scope(db_engine) as session:
        audit.append(session, actor="a#1", action="tokens.create")
        raise RuntimeError("boom")
    result = _verify(db_engine)
    assert result.ok and result.entries == 2
    with session_scope(db_engine) as session:
        assert audit.append(session, actor="a#1", action="tokens.create").id == 3
    assert _verify(db_engine).ok


def test_concurrent_appends_form_one_chain(db_engine: sa.Engine) -> None:
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(8):
                with session_scope(db_engine) as session:
                    audit.append(session, actor=f"w{k}#{k}", action="x", details={"i": i})
        except BaseException as exc:  # reported below, a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = _verify(db_engine)
    assert result.ok and result.entries == 32


def test_append_checks_its_input(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        with pytest.raises(ValueError, match="result 'maybe'"):
            audit.append(session, actor="a#1", action="x", result="maybe")
        with pytest.raises(ValueError, match="actor and an action"):
            audit.append(session, actor="", action="x")
        with pytest.raises(ValueError, match="naive"):
            audit.append(session, actor="a#1", action="x", at=datetime(2026, 1, 1))
        with pytest.raises(ValueError):
            audit.append(session, actor="a#1", action="x", details={"v": math.nan})
        with pytest.raises(TypeError, match="not JSON serialisable"):
            audit.append(session, actor="a#1", action="x", details={"v": object()})
        entry = audit.append(session, actor="a#1", action="x", details={"day": date(2026, 1, 2)})
        assert entry.details == {"day": "2026-01-02"}
    assert _verify(db_engine).ok


def test_entries_pages_in_sequence(db_engine: sa.Engine) -> None:
    _fill(db_engine, 5)
    with session_scope(db_engine) as session:
        assert [e.id for e in audit.entries(session, after_id=1, limit=2)] == [2, 3]
        assert [e.id for e in audit.entries(session, target="uscc:91320900MA1X0004")] == [4]


def test_append_many_chains_in_order_and_checks_all_first(db_engine: sa.Engine) -> None:
    _fill(db_engine, 1)
    batch = [{"actor": f"r{i}#1", "action": "entities.read", "target": f"uscc:{i}"} for i in range(3)]
    with session_scope(db_engine) as session:
        written = audit.append_many(session, batch)
    assert [e.id for e in written] == [2, 3, 4]
    assert written[0].prev_hash != audit.GENESIS and written[1].prev_hash == written[0].hash
    with pytest.raises(ValueError, match="actor and an action"), session_scope(db_engine) as session:
        audit.append_many(session, [batch[0], {"actor": "", "action": "x"}])
    result = _verify(db_engine)
    assert result.ok and result.entries == 4 and result.head_hash == written[-1].hash


def test_the_replication_role_does_not_switch_the_triggers_off_on_postgresql(db_engine: sa.Engine) -> None:
    if db_engine.dialect.name != "postgresql":
        pytest.skip("session_replication_role is PostgreSQL's")
    _fill(db_engine, 2)
    table = audit.AuditEntry.__table__
    for statement in (sa.update(table).values(actor="x#9"), sa.delete(table)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), db_engine.begin() as connection:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            connection.execute(statement)
    assert _verify(db_engine).ok
