"""The synthetic city through the real ingest: everything accepted except the injected dirt, by the right
rule."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from features import catalog, ingest, lake
from features.synth import FORMATS, CityConfig, GenerationReport, generate

SALT = "synth-test-salt"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    out = tmp_path_factory.mktemp("synth") / "city"
    # A dirtier than default city, so that every kind of dirt appears in every big table.
    return out, generate(CityConfig(entities=1500, years=4, seed=11, dirt_rate=0.03), out)


@pytest.fixture(scope="module")
def ingested(
    city: tuple[Path, GenerationReport], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[ingest.BatchReport]]:
    out, _ = city
    lake_dir = tmp_path_factory.mktemp("lake")
    reports = ingest.ingest_paths([out], lake_dir=lake_dir, salt=SALT, today=date.today())
    return lake_dir, reports


def _line_offset(table: str) -> int:
    # ingest numbers CSV rows by physical line (the header is line 1), Parquet and JSON Lines rows from 1.
    return 2 if FORMATS[table].kind == "csv" else 1


def test_every_table_is_read_from_the_top_level_and_truth_is_not(
    city: tuple[Path, GenerationReport], ingested: tuple[Path, list[ingest.BatchReport]]
) -> None:
    out, _ = city
    _, reports = ingested
    assert sorted(r.table for r in reports) == sorted(t.name for t in catalog.TABLES)
    assert all(Path(r.source).parent == out for r in reports)
    assert (out / "truth" / "inspections.parquet").exists()
    assert all(r.ignored_columns == () for r in reports)


def test_rows_accepted_are_exactly_the_clean_rows(
    city: tuple[Path, GenerationReport], ingested: tuple[Path, list[ingest.BatchReport]]
) -> None:
    _, report = city
    _, reports = ingested
    by_table = {f.table: f for f in report.files}
    for r in reports:
        expected = by_table[r.table]
        assert r.rows_read == expected.rows, r.table
        assert (r.table, r.rows_quarantined) == (r.table, expected.dirt_rows)
        assert r.rows_accepted == expected.rows - expected.dirt_rows


def test_quarantine_holds_exactly_the_injected_dirt_with_its_rules(
    city: tuple[Path, GenerationReport], ingested: tuple[Path, list[ingest.BatchReport]]
) -> None:
    out, _ = city
    lake_dir, _ = ingested
    manifest = pl.read_parquet(out / "truth" / "dirt.parquet")
    assert manifest.height > 100
    expected = {
        (table, row + _line_offset(table), rule)
        for table, row, rule in manifest.select("table", "row", "rule").iter_rows()
    }
    found = set(lake.scan_quarantine(lake_dir).select("table", "line", "rule").collect().iter_rows())
    assert found == expected
    # Every rule the generator means to exercise actually occurs.
    assert set(manifest["rule"]) >= {
        "uscc",
        "required",
        "type",
        "enum",
        "past_date",
        "ordering",
        "non_negative",
        "fraction",
        "id_number",
        "references",
        "duplicate_key",
        "duplicate_row",
    }


def test_lake_holds_the_population_and_no_raw_id_numbers(
    city: tuple[Path, GenerationReport], ingested: tuple[Path, list[ingest.BatchReport]]
) -> None:
    out, _ = city
    lake_dir, _ = ingested
    truth = pl.read_parquet(out / "truth" / "entities.parquet")
    entities = lake.scan(lake_dir, "entities").collect()
    assert set(truth["uscc"]) <= set(entities["uscc"])
    persons = lake.scan(lake_dir, "persons").collect()
    assert "id_number" not in persons.columns and persons["person_key"].null_count() == 0
    relations = lake.scan(lake_dir, "relations").collect()
    people = relations.filter(pl.col("relation_type") != "investment")
    assert people["person_key"].is_in(persons["person_key"].implode()).all()
