"""The record lake: layout, atomic batches (crash safety), sequence, versioned scans, empty tables."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features import catalog, lake
from tests.features.conftest import CODE_A, CODE_B, Ingest, entity, penalty, write_csv

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def _entities(*codes: str, status: str = "active") -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "uscc": c,
                "name": f"主体{c[-2:]}",
                "entity_type": "enterprise",
                "industry": "I65",
                "division_code": "320902",
                "registered_capital": 1.0,
                "established_on": datetime(2015, 3, 1).date(),
                "closed_on": None,
                "status": status,
                "address": None,
                "phone": None,
            }
            for c in codes
        ],
        schema=catalog.ENTITIES.schema,
    )


def _write(lake_dir: Path, accepted: pl.DataFrame, sha: str, table: str = "entities") -> lake.Batch:
    return lake.write_batch(
        lake_dir,
        table=table,
        source=f"{sha}.csv",
        content_sha256=sha,
        accepted=accepted,
        quarantine=pl.DataFrame(schema=lake.QUARANTINE_SCHEMA),
        rows_read=accepted.height,
        rows_quarantined=0,
        ignored_columns=(),
        ingested_at=NOW,
    )


def test_layout_and_manifest(tmp_path: Path) -> None:
    batch = _write(tmp_path, _entities(CODE_A), "a" * 64)
    folder = tmp_path / "entities" / batch.batch_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "accepted.parquet",
        "manifest.json",
        "quarantine.parquet",
    ]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["table"] == "entities" and manifest["content_sha256"] == "a" * 64
    assert manifest["counts"] == {"read": 1, "accepted": 1, "quarantined": 0}
    assert manifest["sequence"] == 1 and manifest["ignored_columns"] == []
    assert datetime.fromisoformat(manifest["ingested_at"]) == NOW
    assert lake.find_batch(tmp_path, "entities", "a" * 64) is not None
    assert lake.find_batch(tmp_path, "persons", "a" * 64) is None
    assert list((tmp_path / lake.STAGING).iterdir()) == []


def test_sequence_increases_across_tables(tmp_path: Path) -> None:
    _write(tmp_path, _entities(CODE_A), "a" * 64)
    _write(tmp_path, pl.DataFrame(schema=catalog.PERSONS.schema), "b" * 64, table="persons")
    _write(tmp_path, _entities(CODE_B), "c" * 64)
    assert [(b.table, b.sequence) for b in lake.batches(tmp_path)] == [
        ("entities", 1),
        ("persons", 2),
        ("entities", 3),
    ]
    assert [b.sequence for b in lake.batches(tmp_path, "entities")] == [1, 3]


def test_sequence_continues_from_the_manifests_of_a_lake_without_a_counter(tmp_path: Path) -> None:
    _write(tmp_path, _entities(CODE_A), "a" * 64)
    _write(tmp_path, _entities(CODE_B), "b" * 64)
    (tmp_path / lake.SEQUENCE_FILE).unlink()  # a lake written before the counter existed
    assert _write(tmp_path, _entities(CODE_A, CODE_B), "c" * 64).sequence == 3
    assert (tmp_path / lake.SEQUENCE_FILE).read_text().strip() == "3"


def test_a_refused_or_crashed_write_never_reuses_a_sequence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, _entities(CODE_A), "a" * 64)
    with pytest.raises(FileExistsError):
        _write(tmp_path, _entities(CODE_A), "a" * 64)  # the same content again: no number is claimed

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash before the batch became visible")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="simulated crash"):
        _write(tmp_path, _entities(CODE_B), "b" * 64)
    monkeypatch.undo()
    lake.clean_staging(tmp_path)
    # The crashed write's number (2) stays unused: a gap, never a duplicate.
    assert _write(tmp_path, _entities(CODE_B), "b" * 64).sequence == 3
    assert [b.sequence for b in lake.batches(tmp_path)] == [1, 3]


def test_write_refuses_a_wrong_schema_or_unbalanced_counts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="catalog schema"):
        _write(tmp_path, _entities(CODE_A).drop("phone"), "a" * 64)
    with pytest.raises(ValueError, match="accepted"):
        lake.write_batch(
            tmp_path,
            table="entities",
            source="x",
            content_sha256="a" * 64,
            accepted=_entities(CODE_A),
            quarantine=pl.DataFrame(schema=lake.QUARANTINE_SCHEMA),
            rows_read=5,
            rows_quarantined=0,
            ignored_columns=(),
            ingested_at=NOW,
        )
    _write(tmp_path, _entities(CODE_A), "a" * 64)
    with pytest.raises(FileExistsError):
        _write(tmp_path, _entities(CODE_A), "a" * 64)


def test_empty_lake_scans_to_the_catalog_schema(tmp_path: Path) -> None:
    frames = lake.sources(tmp_path / "nothing")
    assert list(frames) == [t.name for t in catalog.TABLES]
    for t in catalog.TABLES:
        df = frames[t.name].collect()
        assert df.height == 0 and df.schema == t.schema
    q = lake.scan_quarantine(tmp_path).collect()
    assert q.height == 0 and q.schema == lake.QUARANTINE_SCHEMA
    with pytest.raises(ValueError, match="unknown table"):
        lake.scan(tmp_path, "nope")


def test_versioned_scan_keeps_latest_row_by_sequence(tmp_path: Path) -> None:
    _write(tmp_path, _entities(CODE_A, CODE_B), "a" * 64)
    _write(tmp_path, _entities(CODE_A, status="revoked"), "b" * 64)
    rows = lake.scan(tmp_path, "entities").collect()
    expected = pl.DataFrame({"uscc": [CODE_A, CODE_B], "status": ["revoked", "active"]})
    assert_frame_equal(rows.select("uscc", "status"), expected, check_row_order=False)
    versions = lake.scan_versions(tmp_path, "entities").collect()
    assert versions.columns[:2] == ["batch_id", "sequence"] and versions.height == 3


def test_a_later_catalog_column_reads_as_null_in_old_batches(tmp_path: Path) -> None:
    batch = _write(tmp_path, _entities(CODE_A), "a" * 64)
    path = tmp_path / "entities" / batch.batch_id / lake.ACCEPTED
    pl.read_parquet(path).drop("phone").write_parquet(path)  # as written before `phone` existed
    rows = lake.scan(tmp_path, "entities").collect()
    assert rows.schema == catalog.ENTITIES.schema and rows["phone"].to_list() == [None]


def test_parquet_writes_are_byte_identical(tmp_path: Path) -> None:
    one = _write(tmp_path / "one", _entities(CODE_A, CODE_B), "a" * 64)
    two = _write(tmp_path / "two", _entities(CODE_A, CODE_B), "a" * 64)
    for name in (lake.ACCEPTED, lake.QUARANTINE):
        a = (tmp_path / "one" / "entities" / one.batch_id / name).read_bytes()
        b = (tmp_path / "two" / "entities" / two.batch_id / name).read_bytes()
        assert a == b


def test_crash_before_the_rename_leaves_no_batch_and_a_retry_succeeds(
    run: Ingest, lake_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entities = write_csv(tmp_path / "in" / "entities.csv", [entity(CODE_A), entity(CODE_B)])
    run(entities)
    penalties = write_csv(tmp_path / "in" / "penalties.csv", [penalty("P1"), penalty("P2")])

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash: power lost before the batch became visible")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="simulated crash"):
        run(penalties)
    monkeypatch.undo()

    # The half-written batch sits in staging only: no reader sees it, no manifest claims it.
    assert [p.name for p in (lake_dir / lake.STAGING).iterdir()] != []
    assert [b.table for b in lake.batches(lake_dir)] == ["entities"]
    assert lake.scan(lake_dir, "penalties").collect().height == 0
    assert not any((lake_dir / "penalties").glob("*/manifest.json"))

    [report] = run(penalties)
    assert (report.status, report.rows_accepted) == ("ingested", 2)
    assert list((lake_dir / lake.STAGING).iterdir()) == []  # the stale staging folder was cleaned
    assert lake.scan(lake_dir, "penalties").collect()["decision_no"].to_list() == ["P1", "P2"]


def test_clean_staging_removes_leftovers(tmp_path: Path) -> None:
    (tmp_path / lake.STAGING / "entities-0000").mkdir(parents=True)
    (tmp_path / lake.STAGING / "entities-0000" / "accepted.parquet").write_bytes(b"partial")
    (tmp_path / lake.STAGING / "stray").write_text("x")
    assert lake.clean_staging(tmp_path) == ["entities-0000", "stray"]
    assert list((tmp_path / lake.STAGING).iterdir()) == []
    assert lake.clean_staging(tmp_path / "none") == []
