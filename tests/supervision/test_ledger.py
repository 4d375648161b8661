"""The ingest batch ledger on SQLite and PostgreSQL: idempotent recording, conflicts, constraints, order."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from supervision.platform.db import session_scope
from supervision.platform.ledger import IngestBatch, list_batches, record_batch

CST = timezone(timedelta(hours=8))  # China Standard Time: where the city's clocks are


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _values(batch_id: str = "entities-0001", **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "batch_id": batch_id,
        "table": "entities",
        "source": "inbox/entities.csv",
        "content_sha256": _sha(batch_id),
        "rows_read": 10,
        "rows_accepted": 8,
        "rows_quarantined": 2,
        "ingested_at": datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC),
    }
    values.update(overrides)
    return values


def _record(engine: sa.Engine, **values: Any) -> None:
    with session_scope(engine) as session:
        record_batch(session, **values)


def _listed(engine: sa.Engine, **kwargs: Any) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        return list_batches(session, **kwargs)


def test_recorded_batch_is_listed_with_its_values(db_engine: sa.Engine) -> None:
    given = _values()
    before = datetime.now(UTC)
    _record(db_engine, **given)
    [row] = _listed(db_engine)
    recorded_at = row.pop("recorded_at")
    assert row == given
    assert row["ingested_at"].tzinfo is not None and row["ingested_at"].utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= recorded_at <= datetime.now(UTC) + timedelta(seconds=1)


def test_other_time_zones_are_stored_as_the_same_instant(db_engine: sa.Engine) -> None:
    local = datetime(2026, 3, 1, 16, 0, tzinfo=CST)
    _record(db_engine, **_values(ingested_at=local))
    [row] = _listed(db_engine)
    assert row["ingested_at"] == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert row["ingested_at"].tzinfo == UTC


def test_recording_the_same_batch_again_is_a_no_op(db_engine: sa.Engine) -> None:
    _record(db_engine, **_values())
    first = _listed(db_engine)
    _record(db_engine, **_values())  # a second session, as a re-run of the ingest would
    with session_scope(db_engine) as session:  # and twice within one session
        record_batch(session, **_values())
        record_batch(session, **_values(ingested_at=_values()["ingested_at"].astimezone(CST)))
    assert _listed(db_engine) == first


@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("table", "penalties"),
        ("source", "inbox/other.csv"),
        ("content_sha256", _sha("something else")),
        ("rows_read", 11),
        ("ingested_at", datetime(2026, 3, 2, tzinfo=UTC)),
    ],
)
def test_other_values_for_a_recorded_batch_are_refused(db_engine: sa.Engine, field: str, other: Any) -> None:
    _record(db_engine, **_values())
    before = _listed(db_engine)
    changed = _values(**{field: other})
    if field == "rows_read":
        changed["rows_accepted"] = 9  # keep the balance so that only the conflict is reported
    with pytest.raises(ValueError, match=r"batch 'entities-0001' is already in the ledger") as error:
        _record(db_engine, **changed)
    assert field in str(error.value)
    assert _listed(db_engine) == before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rows_read": 9}, r"rows_read \(9\) != rows_accepted \(8\) \+ rows_quarantined \(2\)"),
        ({"rows_quarantined": -1, "rows_read": 7}, "rows_quarantined must be a non-negative integer"),
        ({"rows_accepted": 8.0}, "rows_accepted must be a non-negative integer"),
        ({"ingested_at": datetime(2026, 3, 1, 8, 0)}, "ingested_at must be a timezone-aware datetime"),
        ({"content_sha256": "ABC"}, "content_sha256 must be 64 lowercase hex digits"),
        ({"table": ""}, "table must be a non-empty string"),
    ],
)
def test_bad_values_are_refused_naming_the_batch(
    db_engine: sa.Engine, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as error:
        _record(db_engine, **_values("bad-batch", **overrides))
    assert "'bad-batch'" in str(error.value)
    assert _listed(db_engine) == []


@pytest.mark.parametrize(
    ("counts", "constraint"),
    [
        ({"rows_read": 10, "rows_accepted": 8, "rows_quarantined": 1}, "rows_balance"),
        ({"rows_read": 0, "rows_accepted": 2, "rows_quarantined": -2}, "rows_non_negative"),
    ],
)
def test_check_constraints_reject_inconsistent_counts(
    db_engine: sa.Engine, counts: dict[str, int], constraint: str
) -> None:
    # Bypass record_batch's own checks: the database must hold the invariant by itself.
    with pytest.raises(sa.exc.IntegrityError, match=constraint), session_scope(db_engine) as session:
        session.add(
            IngestBatch(
                batch_id="raw",
                table_name="entities",
                source="raw.csv",
                content_sha256=_sha("raw"),
                ingested_at=datetime(2026, 3, 1, tzinfo=UTC),
                **counts,
            )
        )
    assert _listed(db_engine) == []


def test_a_failing_transaction_leaves_nothing_behind(db_engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.IntegrityError), session_scope(db_engine) as session:
        record_batch(session, **_values("first"))
        record_batch(session, **_values("second"))
        session.add(  # the third breaks the balance: the whole transaction goes
            IngestBatch(
                batch_id="third",
                table_name="entities",
                source="third.csv",
                content_sha256=_sha("third"),
                rows_read=1,
                rows_accepted=0,
                rows_quarantined=0,
                ingested_at=datetime(2026, 3, 1, tzinfo=UTC),
            )
        )
    assert _listed(db_engine) == []


def test_batches_are_listed_by_ingest_time_then_id(db_engine: sa.Engine) -> None:
    t0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    given = [
        _values("c", ingested_at=t0 + timedelta(hours=1)),
        _values("b", ingested_at=t0, table="penalties"),
        _values("a", ingested_at=t0),
        # 15:30 in Beijing is 07:30 UTC: the earliest of all, though its clock reads latest.
        _values("d", ingested_at=datetime(2026, 3, 1, 15, 30, tzinfo=CST)),
    ]
    for values in given:
        _record(db_engine, **values)
    assert [row["batch_id"] for row in _listed(db_engine)] == ["d", "a", "b", "c"]
    assert [row["batch_id"] for row in _listed(db_engine, table="penalties")] == ["b"]
    assert _listed(db_engine, table="persons") == []


def test_the_content_hash_is_indexed(db_engine: sa.Engine) -> None:
    # Re-ingest detection looks batches up by content hash.
    indexes = sa.inspect(db_engine).get_indexes("ingest_batch")
    assert {"name": "ix_ingest_batch_content_sha256", "columns": ["content_sha256"]} in [
        {"name": ix["name"], "columns": ix["column_names"]} for ix in indexes
    ]


def _record_in_thread(engine: sa.Engine, values: dict[str, Any], outcome: list[object]) -> threading.Thread:
    def work() -> None:
        try:
            _record(engine, **values)
            outcome.append("ok")
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


@pytest.mark.parametrize("same", [True, False], ids=["same-values", "other-values"])
def test_two_writers_of_one_new_batch(db_engine: sa.Engine, same: bool) -> None:
    # PostgreSQL holds the second INSERT on the primary key until the first transaction ends; the loser
    # then sees the winner's row and treats it as any recorded batch. (SQLite serialises writers itself.)
    if db_engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers block each other only on PostgreSQL")
    outcome: list[object] = []
    with session_scope(db_engine) as session:
        record_batch(session, **_values())
        second = _record_in_thread(db_engine, _values() if same else _values(source="x.csv"), outcome)
        time.sleep(0.5)  # let the second writer reach the primary key and wait there
        assert second.is_alive()
    second.join(timeout=30)
    assert not second.is_alive()
    if same:
        assert outcome == ["ok"]
    else:
        assert len(outcome) == 1 and isinstance(outcome[0], ValueError)
        assert "already in the ledger" in str(outcome[0]) and "source" in str(outcome[0])
    assert [row["source"] for row in _listed(db_engine)] == ["inbox/entities.csv"]


def test_a_record_inside_a_failed_transaction_goes_with_it(db_engine: sa.Engine) -> None:
    with pytest.raises(RuntimeError, match="later step"), session_scope(db_engine) as session:
        record_batch(session, **_values())
        raise RuntimeError("later step failed")
    assert _listed(db_engine) == []
    with session_scope(db_engine) as session:
        record_batch(session, **_values())
    assert len(_listed(db_engine)) == 1
