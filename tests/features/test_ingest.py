"""Ingest: readers (CSV encodings, JSON Lines, Parquet), every quarantine rule, idempotency, references."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features import catalog, identity, ingest, lake
from tests.features.conftest import (
    ALLOWED,
    AUTHORITY,
    CHECKSUM_BAD,
    CODE_A,
    CODE_B,
    CODE_C,
    CODE_D,
    FORMAT_BAD,
    ID_A,
    ID_B,
    ID_BAD,
    ORG_WARNING,
    SALT,
    TODAY,
    Ingest,
    csv_text,
    entity,
    inspection,
    penalty,
    person,
    relation,
    write_csv,
    write_jsonl,
    write_parquet,
    write_text,
)


def quarantine(lake_dir: Path, table: str | None = None) -> pl.DataFrame:
    return lake.scan_quarantine(lake_dir, table).collect()


def rules_by_line(lake_dir: Path, table: str) -> dict[int, set[str]]:
    q = quarantine(lake_dir, table)
    out: dict[int, set[str]] = {}
    for line, rule in q.select("line", "rule").iter_rows():
        out.setdefault(line, set()).add(rule)
    return out


def balanced(report: ingest.BatchReport) -> bool:
    return report.rows_read == report.rows_accepted + report.rows_quarantined


# ------------------------------------------------------------------------------------------ happy path
def test_valid_entities_are_accepted_in_catalog_schema(
    run: Ingest, lake_dir: Path, entities_file: Path
) -> None:
    [report] = run(entities_file)
    assert (report.table, report.status, report.rows_read, report.rows_accepted) == (
        "entities",
        "ingested",
        3,
        3,
    )
    assert report.rows_quarantined == 0 and report.ignored_columns == ()
    rows = lake.scan(lake_dir, "entities").collect()
    assert rows.schema == catalog.ENTITIES.schema
    assert rows["uscc"].to_list() == [CODE_A, CODE_B, CODE_C]
    assert rows["registered_capital"].to_list() == [1_000_000.0] * 3
    assert rows["closed_on"].null_count() == 3  # empty cell → null, not a type error


def test_report_hash_and_batch_id_follow_the_content(run: Ingest, entities_file: Path) -> None:
    import hashlib

    [report] = run(entities_file)
    assert report.content_sha256 == hashlib.sha256(entities_file.read_bytes()).hexdigest()
    assert report.batch_id == lake.batch_id_for("entities", report.content_sha256)
    assert report.ingested_at.tzinfo is not None and report.ingested_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------- encodings
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_decode_to_the_same_rows(
    run: Ingest, lake_dir: Path, tmp_path: Path, encoding: str
) -> None:
    path = write_csv(
        tmp_path / f"entities.{encoding}.csv",
        [entity(CODE_A, "盐城甲科技（集团）有限公司")],
        encoding=encoding,
    )
    [report] = run(path)
    assert report.rows_accepted == 1, quarantine(lake_dir)
    rows = lake.scan(lake_dir, "entities").collect()
    assert rows["name"].to_list() == ["盐城甲科技（集团）有限公司"]
    assert rows["uscc"].to_list() == [CODE_A]  # the BOM did not stick to the first column name


def test_gb18030_four_byte_characters(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    name = "𠀀记商行"  # outside GBK: only GB18030 encodes it
    path = write_csv(tmp_path / "entities.csv", [entity(CODE_A, name)], encoding="gb18030")
    run(path)
    assert lake.scan(lake_dir, "entities").collect()["name"].to_list() == [name]


def test_decode_prefers_utf8_and_reports_undecodable_bytes() -> None:
    assert ingest.decode("盐城".encode())[1] == "utf-8"
    assert ingest.decode(b"\xef\xbb\xbfa")[1] == "utf-8-sig"
    assert ingest.decode("盐城".encode("gbk"))[1] == "gb18030"
    with pytest.raises(ingest.IngestError, match="neither UTF-8 nor GB18030"):
        ingest.decode(b"\x81\x30\xff\xff")


def test_wrong_encoding_is_an_error_naming_the_file(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "entities.csv", [entity(CODE_A)], encoding="utf-16")
    with pytest.raises(ingest.IngestError, match=r"entities\.csv: contains NUL bytes"):
        run(path)
    assert lake.batches(lake_dir) == []


# --------------------------------------------------------------------------------- structure of a file
def test_blank_lines_are_not_rows_and_line_numbers_are_physical(
    run: Ingest, lake_dir: Path, tmp_path: Path
) -> None:
    header, *rows = csv_text([entity(CODE_A), entity(CODE_B, status="bogus")]).splitlines()
    text = "\n".join(["", header, "", rows[0], "   ", "", rows[1], ""]) + "\n"
    [report] = run(write_text(tmp_path / "entities.csv", text))
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (2, 1, 1)
    assert rules_by_line(lake_dir, "entities") == {7: {"enum"}}


def test_multi_line_quoted_field_keeps_the_start_line(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    rows = [entity(CODE_A, address="第一行\n第二行"), entity(CODE_B, status="bogus")]
    [report] = run(write_csv(tmp_path / "entities.csv", rows))
    assert report.rows_accepted == 1
    assert lake.scan(lake_dir, "entities").collect()["address"].to_list() == ["第一行\n第二行"]
    assert rules_by_line(lake_dir, "entities") == {4: {"enum"}}


def test_extra_columns_are_ignored_and_listed(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    rows = [entity(CODE_A) | {"备注": "x", "legacy_code": "y"}]
    [report] = run(write_csv(tmp_path / "entities.csv", rows))
    assert report.ignored_columns == ("备注", "legacy_code")
    assert report.rows_accepted == 1
    assert lake.scan(lake_dir, "entities").collect().columns == catalog.ENTITIES.columns


def test_missing_optional_columns_read_as_null(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    row = {k: v for k, v in entity(CODE_A).items() if k not in ("address", "phone", "closed_on")}
    [report] = run(write_csv(tmp_path / "entities.csv", [row]))
    assert report.rows_accepted == 1
    assert lake.scan(lake_dir, "entities").collect()["phone"].to_list() == [None]


def test_missing_required_column_quarantines_every_row(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    rows = [{k: v for k, v in entity(c).items() if k not in ("status", "name")} for c in (CODE_A, CODE_B)]
    [report] = run(write_csv(tmp_path / "entities.csv", rows))
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (2, 0, 2)
    q = quarantine(lake_dir)
    assert set(q["rule"]) == {"missing_column"}
    assert sorted(q.filter(pl.col("line") == 2)["field"].to_list()) == ["name", "status"]
    assert lake.scan(lake_dir, "entities").collect().height == 0


def test_row_with_wrong_field_count_and_file_cut_mid_line(
    run: Ingest, lake_dir: Path, tmp_path: Path
) -> None:
    text = csv_text([entity(CODE_A), entity(CODE_B)]) + "93320981MA1P3W4R1C,东台丙合"  # cut mid-line
    [report] = run(write_text(tmp_path / "entities.csv", text))
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (3, 2, 1)
    q = quarantine(lake_dir)
    assert q.select("line", "field", "rule").row(0) == (4, "<row>", "field_count")
    assert "expected 11 fields" in q["message"][0]


def test_file_cut_inside_a_quoted_field(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    text = csv_text([entity(CODE_A)]) + f'{CODE_B},"盐都区乙商'
    [report] = run(write_text(tmp_path / "entities.csv", text))
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (2, 1, 1)
    assert rules_by_line(lake_dir, "entities") == {3: {"field_count"}}


def test_empty_file_is_a_batch_of_nothing(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    [report] = run(write_text(tmp_path / "entities.csv", ""))
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (0, 0, 0)
    assert len(lake.batches(lake_dir)) == 1


# ------------------------------------------------------------------------------------- JSONL / Parquet
def test_jsonl_broken_line_is_quarantined_and_the_rest_read(
    run: Ingest, lake_dir: Path, tmp_path: Path
) -> None:
    records = [entity(CODE_A), '{"uscc": "92320903MA1N0G7C63", "name": ', "", "[1, 2]", entity(CODE_C)]
    [report] = run(write_jsonl(tmp_path / "entities.jsonl", records))
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (4, 2, 2)
    q = quarantine(lake_dir)
    assert q.select("line", "field", "rule").rows() == [(2, "<line>", "type"), (4, "<line>", "type")]


def test_jsonl_native_types_are_read(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    record = inspection() | {"selection_probability": 0.25, "in_control_slice": True, "findings": None}
    write_csv(tmp_path / "entities.csv", [entity(CODE_A)])
    run(tmp_path / "entities.csv")
    [report] = run(write_jsonl(tmp_path / "inspections.jsonl", [record]))
    assert report.rows_accepted == 1, quarantine(lake_dir)
    row = lake.scan(lake_dir, "inspections").collect().row(0, named=True)
    assert (row["selection_probability"], row["in_control_slice"], row["findings"]) == (0.25, True, None)


def test_parquet_typed_columns_are_checked_as_text(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    from datetime import date

    rows = [
        entity(CODE_A) | {"established_on": date(2015, 3, 1), "registered_capital": 5.5, "closed_on": None},
        entity(CODE_B) | {"established_on": date(2030, 1, 1), "registered_capital": -1.0, "closed_on": None},
    ]
    schema = {c: pl.String for c in rows[0]} | {
        "established_on": pl.Date,
        "registered_capital": pl.Float64,
        "closed_on": pl.Date,
    }
    [report] = run(write_parquet(tmp_path / "entities.parquet", rows, schema))
    assert (report.rows_read, report.rows_accepted) == (2, 1)
    assert lake.scan(lake_dir, "entities").collect()["registered_capital"].to_list() == [5.5]
    assert rules_by_line(lake_dir, "entities") == {2: {"past_date", "non_negative"}}  # line = row index + 1


def test_unreadable_parquet_is_an_error(run: Ingest, tmp_path: Path) -> None:
    with pytest.raises(ingest.IngestError, match="not a readable Parquet"):
        run(write_text(tmp_path / "entities.parquet", "not parquet"))


# ------------------------------------------------------------------------------------------ field rules
def test_uscc_rule_by_status(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    codes = [CODE_A, CHECKSUM_BAD, FORMAT_BAD, ORG_WARNING, ALLOWED, CODE_A.lower()]
    rows = [entity(c, f"主体{i}") for i, c in enumerate(codes)]
    [report] = run(write_csv(tmp_path / "entities.csv", rows), allow=[ALLOWED])
    assert report.rows_accepted == 3  # valid, org_code_warning (a warning only), allow-listed
    assert set(lake.scan(lake_dir, "entities").collect()["uscc"]) == {CODE_A, ORG_WARNING, ALLOWED}
    q = quarantine(lake_dir).filter(pl.col("rule") == "uscc")
    assert q.select("line", "value").rows() == [(3, CHECKSUM_BAD), (4, FORMAT_BAD), (7, CODE_A.lower())]
    assert q["message"].str.starts_with("checksum").to_list() == [True, False, False]


def test_allow_list_is_needed_for_known_exceptions(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    [report] = run(write_csv(tmp_path / "entities.csv", [entity(ALLOWED)]))
    assert report.rows_quarantined == 1


def test_dates_type_and_future(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    rows = [
        entity(CODE_A, established_on="2023-02-30"),  # no such day
        entity(CODE_B, established_on="2024/01/05"),  # not ISO
        entity(CODE_C, established_on="2024-1-5"),  # not zero-padded
        entity(CODE_D, established_on="2026-11-29"),  # tomorrow
        entity(ORG_WARNING, established_on="2026-11-28"),  # today is allowed
    ]
    [report] = run(write_csv(tmp_path / "entities.csv", rows))
    assert report.rows_accepted == 1
    assert rules_by_line(lake_dir, "entities") == {2: {"type"}, 3: {"type"}, 4: {"type"}, 5: {"past_date"}}


def test_required_enum_and_number_rules(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    rows = [
        entity(CODE_A, name="  "),  # blank after trimming → required
        entity(CODE_B, status="closed"),  # not in the enumeration
        entity(CODE_C, registered_capital="-1"),
        entity(CODE_D, registered_capital="1,000"),
        entity(ORG_WARNING, registered_capital="NaN"),
    ]
    [report] = run(write_csv(tmp_path / "entities.csv", rows))
    assert report.rows_accepted == 0
    assert rules_by_line(lake_dir, "entities") == {
        2: {"required"},
        3: {"enum"},
        4: {"non_negative"},
        5: {"type"},
        6: {"type"},
    }


def test_ordering_rule(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    rows = [
        entity(CODE_A, closed_on="2014-01-01", status="deregistered"),
        entity(CODE_B, closed_on="2015-03-01", status="deregistered"),  # same day is fine
    ]
    [report] = run(write_csv(tmp_path / "entities.csv", rows))
    assert report.rows_accepted == 1
    q = quarantine(lake_dir)
    assert q.select("line", "field", "rule").rows() == [(2, "closed_on", "ordering")]
    assert "before established_on" in q["message"][0]


def test_fraction_and_probability_and_booleans(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    run(write_csv(tmp_path / "a" / "entities.csv", [entity(CODE_A), entity(CODE_B)]))
    run(write_csv(tmp_path / "a" / "persons.csv", [person(ID_A)]))
    relations = [
        relation("R1", share="0.6", relation_type="shareholder"),
        relation("R2", share="1.2", relation_type="shareholder"),
        relation(
            "R3", code=CODE_B, relation_type="investment", person_id_number="", related_uscc=CODE_A, share="0"
        ),
    ]
    inspections = [
        inspection("I1", selection_probability="1", in_control_slice="是"),
        inspection("I2", selection_probability="0", in_control_slice="否"),
        inspection("I3", selection_probability="0.5", in_control_slice="maybe"),
        inspection("I4", selection_probability="0.01", in_control_slice="TRUE"),
    ]
    [rel] = run(write_csv(tmp_path / "relations.csv", relations))
    [ins] = run(write_csv(tmp_path / "inspections.csv", inspections))
    assert (rel.rows_accepted, ins.rows_accepted) == (2, 2)
    assert rules_by_line(lake_dir, "relations") == {3: {"fraction"}}
    assert rules_by_line(lake_dir, "inspections") == {3: {"probability"}, 4: {"type"}}
    assert lake.scan(lake_dir, "inspections").collect()["in_control_slice"].to_list() == [True, True]


def test_one_quarantine_row_per_rule_but_the_row_counted_once(
    run: Ingest, lake_dir: Path, tmp_path: Path
) -> None:
    bad = entity(CHECKSUM_BAD, status="bogus", established_on="2099-01-01", registered_capital="-3")
    [report] = run(write_csv(tmp_path / "entities.csv", [bad, entity(CODE_A)]))
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (2, 1, 1)
    assert rules_by_line(lake_dir, "entities") == {2: {"uscc", "enum", "past_date", "non_negative"}}
    q = quarantine(lake_dir)
    assert q.columns == ["table", "batch_id", "source", "line", "field", "rule", "value", "message"]
    assert set(q["source"]) == {str(tmp_path / "entities.csv")} and set(q["batch_id"]) == {report.batch_id}


# ------------------------------------------------------------------------------------------ duplicates
def test_duplicate_rows_and_keys_in_one_file(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    rows = [entity(CODE_A), entity(CODE_A), entity(CODE_A, name="另一个名字"), entity(CODE_B)]
    [report] = run(write_csv(tmp_path / "entities.csv", rows))
    assert (report.rows_accepted, report.rows_quarantined) == (2, 2)
    assert rules_by_line(lake_dir, "entities") == {3: {"duplicate_row"}, 4: {"duplicate_key"}}
    rows_out = lake.scan(lake_dir, "entities").collect()
    assert rows_out.select("uscc", "name").rows() == [
        (CODE_A, "盐城甲科技有限公司"),
        (CODE_B, "盐城甲科技有限公司"),
    ]


def test_duplicate_key_against_the_lake_for_records(
    run: Ingest, lake_dir: Path, tmp_path: Path, entities_file: Path
) -> None:
    run(entities_file)
    run(write_csv(tmp_path / "penalties-1.csv", [penalty("P1"), penalty("P2")]))
    [second] = run(write_csv(tmp_path / "penalties-2.csv", [penalty("P2", fine_amount="1"), penalty("P3")]))
    assert (second.rows_accepted, second.rows_quarantined) == (1, 1)
    q = quarantine(lake_dir, "penalties")
    assert q.select("line", "field", "rule", "value").rows() == [(2, "decision_no", "duplicate_key", "P2")]
    assert q["message"][0] == "key already in the lake"
    assert lake.scan(lake_dir, "penalties").collect()["decision_no"].to_list() == ["P1", "P2", "P3"]


def test_versioned_entities_keep_the_latest_row(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    run(write_csv(tmp_path / "entities-1.csv", [entity(CODE_A), entity(CODE_B)]))
    [second] = run(
        write_csv(tmp_path / "entities-2.csv", [entity(CODE_A, status="revoked", closed_on="2024-01-01")])
    )
    assert second.rows_accepted == 1  # a re-issue is not a duplicate key
    rows = lake.scan(lake_dir, "entities").collect()
    assert rows.height == 2
    assert rows.filter(pl.col("uscc") == CODE_A)["status"].to_list() == ["revoked"]
    assert lake.scan_versions(lake_dir, "entities").collect().height == 3


# ----------------------------------------------------------------------------------------- references
def test_penalty_must_reference_a_known_entity(
    run: Ingest, lake_dir: Path, tmp_path: Path, entities_file: Path
) -> None:
    run(entities_file)
    rows = [penalty("P1"), penalty("P2", code=CODE_D), penalty("P3", code=CHECKSUM_BAD)]
    [report] = run(write_csv(tmp_path / "penalties.csv", rows))
    assert report.rows_accepted == 1
    # A wrong code is a uscc error, not also an unknown reference.
    assert rules_by_line(lake_dir, "penalties") == {3: {"references"}, 4: {"uscc"}}


def test_entities_earlier_in_the_same_call_count_as_known(
    run: Ingest, lake_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    write_csv(folder / "penalties-2024.gbk.csv", [penalty("P1", code=CODE_B)], encoding="gbk")
    write_csv(folder / "entities.csv", [entity(CODE_B)])
    reports = run(folder)
    assert [r.table for r in reports] == ["entities", "penalties"]  # catalog order, not name order
    assert [r.rows_accepted for r in reports] == [1, 1]


def test_quarantined_entity_is_not_a_known_reference(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    run(write_csv(tmp_path / "entities.csv", [entity(CODE_A, status="bogus")]))
    [report] = run(write_csv(tmp_path / "penalties.csv", [penalty("P1")]))
    assert rules_by_line(lake_dir, "penalties") == {2: {"references"}}
    assert report.rows_accepted == 0


# ------------------------------------------------------------------------------------------- persons
def test_persons_id_numbers_become_keys_and_never_reach_the_lake(
    run: Ingest, lake_dir: Path, tmp_path: Path
) -> None:
    rows = [person(ID_A, "张三"), person(ID_BAD, "李四"), person("", "王五"), person(ID_B, "赵六")]
    [report] = run(write_csv(tmp_path / "persons.csv", rows))
    assert (report.rows_accepted, report.rows_quarantined, report.ignored_columns) == (2, 2, ())
    rows_out = lake.scan(lake_dir, "persons").collect()
    assert rows_out.schema == catalog.PERSONS.schema
    assert rows_out["person_key"].to_list() == [identity.person_key(n, salt=SALT) for n in (ID_A, ID_B)]
    assert rows_out["id_masked"].to_list() == ["110105********002X", "320902********0014"]
    assert rows_out["birth_year"].to_list() == [1949, 1985]  # the year only: never the birth date
    assert rules_by_line(lake_dir, "persons") == {3: {"id_number"}, 4: {"required"}}
    q = quarantine(lake_dir)
    assert q.filter(pl.col("rule") == "id_number")["value"].to_list() == ["110105********0021"]
    for path in lake_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert ID_A.encode() not in data and ID_BAD.encode() not in data, path


def test_persons_source_with_keys_instead_of_numbers(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    key = identity.person_key(ID_A, salt=SALT)
    rows = [
        {"person_key": key, "id_masked": identity.mask(ID_A), "name": "张三"},
        {"person_key": "not-a-key", "id_masked": ID_B, "name": "赵六"},
    ]
    [report] = run(write_csv(tmp_path / "persons.csv", rows))
    assert report.rows_accepted == 1
    q = quarantine(lake_dir)
    assert q.select("field", "rule").rows() == [("person_key", "id_number"), ("id_masked", "id_number")]


def test_persons_without_any_id_column(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    [report] = run(write_csv(tmp_path / "persons.csv", [{"name": "张三"}]))
    assert report.rows_quarantined == 1
    assert quarantine(lake_dir).select("field", "rule").rows() == [("id_number", "missing_column")]


def test_relations_reference_known_persons(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    run(write_csv(tmp_path / "entities.csv", [entity(CODE_A)]))
    run(write_csv(tmp_path / "persons.csv", [person(ID_A)]))
    rows = [relation("R1", id_number=ID_A), relation("R2", id_number=ID_B), relation("R3", id_number=ID_BAD)]
    [report] = run(write_csv(tmp_path / "relations.csv", rows))
    assert report.rows_accepted == 1
    assert rules_by_line(lake_dir, "relations") == {3: {"references"}, 4: {"id_number"}}
    assert lake.scan(lake_dir, "relations").collect()["person_key"].to_list() == [
        identity.person_key(ID_A, salt=SALT)
    ]


# --------------------------------------------------------------------------------- idempotency, planning
def test_reingesting_identical_content_changes_nothing(
    run: Ingest, lake_dir: Path, tmp_path: Path, entities_file: Path
) -> None:
    [first] = run(entities_file)
    before = {p: p.read_bytes() for p in lake_dir.rglob("*") if p.is_file()}
    copy = write_text(tmp_path / "elsewhere" / "entities-copy.csv", entities_file.read_text())
    again = run(entities_file, copy)
    assert [r.status for r in again] == ["already_ingested", "already_ingested"]
    assert again[0].batch_id == first.batch_id and again[0].ingested_at == first.ingested_at
    assert {p: p.read_bytes() for p in lake_dir.rglob("*") if p.is_file()} == before
    # The same bytes as another table are another batch.
    [other] = run(entities_file, table="persons")
    assert other.status == "ingested" and other.batch_id != first.batch_id


def test_same_input_gives_byte_identical_lake_files(tmp_path: Path, entities_file: Path) -> None:
    rows = [penalty("P1"), penalty("P2", code=CODE_D), penalty("P1")]
    penalties = write_csv(tmp_path / "in" / "penalties.csv", rows)
    outputs = []
    for name in ("one", "two"):
        ingest.ingest_paths([entities_file, penalties], lake_dir=tmp_path / name, salt=SALT, today=TODAY)
        outputs.append(
            {p.relative_to(tmp_path / name): p.read_bytes() for p in (tmp_path / name).rglob("*.parquet")}
        )
    assert outputs[0] == outputs[1] and len(outputs[0]) == 4


def test_table_for_file_names() -> None:
    assert ingest.table_for(Path("penalties.csv")) == "penalties"
    assert ingest.table_for(Path("penalties-2024.gbk.csv")) == "penalties"
    assert ingest.table_for(Path("self_reports_q1.jsonl")) == "self_reports"
    assert ingest.table_for(Path("list_entries.2024.parquet")) == "list_entries"
    assert ingest.table_for(Path("penaltiesx.csv")) is None
    assert ingest.table_for(Path("report.csv")) is None


def test_plan_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ingest.IngestError, match="no such file"):
        ingest.plan([tmp_path / "missing.csv"])
    with pytest.raises(ingest.IngestError, match="cannot tell its table"):
        ingest.plan([write_text(tmp_path / "report.csv", "a\n1\n")])
    with pytest.raises(ingest.IngestError, match="unknown format"):
        ingest.plan([write_text(tmp_path / "entities.xlsx", "")])
    with pytest.raises(ingest.IngestError, match="unknown table"):
        ingest.plan([tmp_path], table="nope")


def test_explicit_table_overrides_the_name(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    [report] = run(write_csv(tmp_path / "export-2024.csv", [entity(CODE_A)]), table="entities")
    assert (report.table, report.rows_accepted) == ("entities", 1)


def test_directory_skips_subfolders_and_other_files(run: Ingest, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    write_csv(folder / "entities.csv", [entity(CODE_A)])
    write_csv(folder / "truth" / "labels.csv", [{"a": "1"}])
    write_text(folder / "README.txt", "not data")
    reports = run(folder)
    assert [r.table for r in reports] == ["entities"]


def test_progress_is_called_once_per_file(run: Ingest, tmp_path: Path, entities_file: Path) -> None:
    seen: list[str] = []
    run(entities_file, write_csv(tmp_path / "penalties.csv", [penalty()]), progress=seen.append)
    assert len(seen) == 2 and seen[0].startswith("entities.csv → entities: ingested")


@pytest.mark.parametrize("table", [t.name for t in catalog.TABLES])
def test_every_table_accepts_an_empty_header_only_file(run: Ingest, tmp_path: Path, table: str) -> None:
    path = write_text(tmp_path / f"{table}.csv", ",".join(catalog.table(table).columns) + "\n")
    [report] = run(path)
    assert balanced(report) and report.rows_read == 0


def test_counts_always_balance(run: Ingest, lake_dir: Path, tmp_path: Path, entities_file: Path) -> None:
    rows = [penalty(f"P{i}", fine_amount=str(i - 3), decided_on=f"20{20 + i}-01-01") for i in range(10)]
    rows += [penalty("P1"), penalty(code=AUTHORITY)]
    reports = run(entities_file, write_csv(tmp_path / "penalties.csv", rows))
    assert all(balanced(r) for r in reports)
    assert reports[1].rows_quarantined == len(rules_by_line(lake_dir, "penalties")) > 0


HOSTILE_CSV = [
    "a,b\n1,2\n",
    "a,b\r\n1,2\r\n\r\n3,4",
    "\n\na,b\n\n1,2\n   \n3\n4,5,6\n7,8",
    'a,b\n1,"x,y"\n"2","line1\nline2"\n3,""\n""\n4,"say ""hi"""\n',
    'a,b\n1,2\n3,"cut inside quo',
    'a,b\n1,x"y\n2,3\n',  # a stray quote inside an unquoted field
    'a,b\n1,"x"y\n2,3\n',  # text after a closing quote
    "a,b\r1,2\r3,4\r",  # old Mac line ends
    '"a","b"\n1,2\n',
    "",
    "\n\n",
    "a\n\n1\n2\n",
    "a,b,\n1,2,\n",
    'a,b\r\n1,"x\r\ny"\r\n2,3\r\n',  # CRLF inside a quoted field is kept
    'a,"b',  # a header cut inside a quote
    'a\n""a"\na',  # the last quoted record breaks on its first line; the csv module reads on at line 3
]


@pytest.mark.parametrize("text", HOSTILE_CSV)
def test_vectorised_csv_reader_agrees_with_the_csv_module(text: str) -> None:
    try:
        slow = ingest._csv_rows(text)
    except ingest.IngestError as exc:
        with pytest.raises(ingest.IngestError):  # both refuse a broken header, or the fast one passes
            if ingest._csv_vectorised(text) is None:
                raise exc
        return
    fast = ingest._csv_vectorised(text)
    if fast is not None:  # None: the file is left to the csv module
        assert fast.frame.equals(slow.frame), (fast.frame, slow.frame)
        assert fast.rejected.equals(slow.rejected), (fast.rejected, slow.rejected)
        assert fast.rows_read == slow.rows_read


def test_vectorised_csv_reader_takes_the_common_files() -> None:
    for text in (HOSTILE_CSV[0], HOSTILE_CSV[1], HOSTILE_CSV[2], HOSTILE_CSV[3], HOSTILE_CSV[4]):
        assert ingest._csv_vectorised(text) is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet='ab,"\n\r 盐', max_size=40))
def test_vectorised_csv_reader_agrees_on_random_texts(text: str) -> None:
    test_vectorised_csv_reader_agrees_with_the_csv_module(text)


def test_synthetic_city_dirt_is_exactly_what_gets_quarantined(
    run: Ingest, lake_dir: Path, tmp_path: Path
) -> None:
    """Cross-check with the generator's truth: every injected dirt row is quarantined, for its rule, and
    nothing else is."""
    synth = pytest.importorskip("features.synth")
    city = tmp_path / "city"
    synth.generate(synth.CityConfig(entities=300, years=2, dirt_rate=0.02), city, today=TODAY)
    reports = run(city)
    assert all(balanced(r) for r in reports)
    truth = pl.read_parquet(city / synth.TRUTH_DIR / "dirt.parquet")
    expected = truth.group_by("table", "rule").len().sort("table", "rule")
    found = (
        quarantine(lake_dir)
        .group_by("table", "rule")
        .agg(pl.struct("batch_id", "line").n_unique().alias("len").cast(pl.UInt32))
        .sort("table", "rule")
    )
    assert found.equals(expected), (found, expected)
    assert sum(r.rows_quarantined for r in reports) == truth.height
