"""The rule table: one example per entry (a row breaking exactly that rule, and a row that passes), the
rules checked on the file, and the table's own guards. A new entry without an example fails here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from features import catalog, identity, ingest, lake, uscc
from features.ingest import checks, rules
from tests.features.conftest import (
    CHECKSUM_BAD,
    CODE_A,
    CODE_B,
    FORMAT_BAD,
    ID_A,
    ID_B,
    ID_BAD,
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
    write_text,
)

Row = dict[str, str]


@dataclass(frozen=True)
class Example:
    """A file of `table` with a good row (line 2) then a bad one (line 3), after the `before` files; the bad
    row is quarantined once, under `field` with `message`."""

    table: str
    good: Row
    bad: Row
    field: str
    message: str
    before: tuple[tuple[str, tuple[Row, ...]], ...] = ()


ENTITY_A = (("entities", (entity(CODE_A),)),)
KEY_A = identity.person_key(ID_A, salt=SALT)
KEY_B = identity.person_key(ID_B, salt=SALT)
INVALID_ID = "not a valid resident ID number (GB 11643: 18 characters, a real birth date, check character)"

# One per entry of rules.ROW_RULES, by its label.
EXAMPLES: dict[str, Example] = {
    "required:id_column": Example(
        "persons", person(ID_A), person("", "王五"), "id_number", "required field is empty"
    ),
    "id_number:id_column": Example("persons", person(ID_A), person(ID_BAD, "李四"), "id_number", INVALID_ID),
    "required": Example(
        "entities", entity(CODE_A), entity(CODE_B, name="  "), "name", "required field is empty"
    ),
    "type": Example(
        "entities",
        entity(CODE_A),
        entity(CODE_B, registered_capital="1,000"),
        "registered_capital",
        "not a finite number",
    ),
    "enum": Example(
        "entities",
        entity(CODE_A),
        entity(CODE_B, status="closed"),
        "status",
        "not one of the allowed values: active, suspended, revoked, deregistered",
    ),
    "uscc:format": Example(
        "entities",
        entity(CODE_A),
        entity(FORMAT_BAD),
        "uscc",
        f"format: {uscc.REASONS[uscc.Status.FORMAT]}",
    ),
    "uscc:checksum": Example(
        "entities",
        entity(CODE_A),
        entity(CHECKSUM_BAD),
        "uscc",
        f"checksum: {uscc.REASONS[uscc.Status.CHECKSUM]}",
    ),
    "past_date": Example(
        "entities",
        entity(CODE_A, established_on=TODAY.isoformat()),
        entity(CODE_B, established_on="2026-11-29"),
        "established_on",
        "after the ingest date 2026-11-28",
    ),
    "non_negative": Example(
        "entities",
        entity(CODE_A, registered_capital="0"),
        entity(CODE_B, registered_capital="-1"),
        "registered_capital",
        "must not be negative",
    ),
    "fraction": Example(
        "relations",
        relation("R1", share="1", relation_type="shareholder"),
        relation("R2", share="1.2", relation_type="shareholder"),
        "share",
        "must be a fraction in [0, 1]",
        before=(*ENTITY_A, ("persons", (person(ID_A),))),
    ),
    "probability": Example(
        "inspections",
        inspection("I1", selection_probability="1"),
        inspection("I2", selection_probability="0"),
        "selection_probability",
        "must be a probability in (0, 1]",
        before=ENTITY_A,
    ),
    "id_number:person_key": Example(
        "persons",
        {"person_key": KEY_A, "id_masked": identity.mask(ID_A), "name": "张三"},
        {"person_key": KEY_B.upper(), "id_masked": identity.mask(ID_B), "name": "赵六"},
        "person_key",
        "not a person key (64 lowercase hex characters of the salted SHA-256)",
    ),
    "id_number:id_masked": Example(
        "persons",
        {"person_key": KEY_A, "id_masked": identity.mask(ID_A), "name": "张三"},
        {"person_key": KEY_B, "id_masked": ID_B, "name": "赵六"},
        "id_masked",
        "not a masked ID number (first 6 + ******** + last 4)",
    ),
    "ordering": Example(
        "entities",
        entity(CODE_A, closed_on="2015-03-01", status="deregistered"),
        entity(CODE_B, closed_on="2014-01-01", status="deregistered"),
        "closed_on",
        "closed_on 2014-01-01 is before established_on 2015-03-01",
    ),
    "duplicate_row": Example(
        "entities", entity(CODE_A), entity(CODE_A), "<row>", "identical to an earlier row of this file"
    ),
    "duplicate_key:file": Example(
        "entities",
        entity(CODE_A),
        entity(CODE_A, name="另一个名字"),
        "uscc",
        "same key as an earlier row of this file",
    ),
    "duplicate_key:lake": Example(
        "penalties",
        penalty("P2"),
        penalty("P1", fine_amount="1"),
        "decision_no",
        "key already in the lake",
        before=(*ENTITY_A, ("penalties", (penalty("P1"),))),
    ),
    "references": Example(
        "penalties",
        penalty("P1"),
        penalty("P2", code=CODE_B),
        "uscc",
        "not a known entities.uscc (neither in the lake nor in an earlier file of this run)",
        before=ENTITY_A,
    ),
}


def _ingest_example(run: Ingest, folder: Path, example: Example) -> ingest.BatchReport:
    for i, (table, rows) in enumerate(example.before):
        run(write_csv(folder / f"{table}-before{i}.csv", list(rows)))
    [report] = run(write_csv(folder / f"{example.table}.csv", [example.good, example.bad]))
    return report


@pytest.mark.parametrize("rule", rules.ROW_RULES, ids=lambda r: r.label)
def test_every_rule_quarantines_a_row_breaking_it_and_accepts_one_that_passes(
    run: Ingest, lake_dir: Path, tmp_path: Path, rule: rules.Rule
) -> None:
    example = EXAMPLES.get(rule.label)
    if example is None:
        pytest.fail(f"rule entry {rule.label!r} has no example in EXAMPLES: add a row breaking it")
    report = _ingest_example(run, tmp_path / "in", example)
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (2, 1, 1)
    found = lake.scan_quarantine(lake_dir, example.table).filter(pl.col("batch_id") == report.batch_id)
    assert found.select("line", "field", "rule", "message").collect().rows() == [
        (3, example.field, rule.name, example.message)
    ]


def test_every_example_belongs_to_an_entry_of_the_table() -> None:
    labels = [r.label for r in rules.ROW_RULES]
    assert len(labels) == len(set(labels)), "two entries share a label: give one a variant"
    assert set(EXAMPLES) == set(labels)


def test_a_raw_id_number_is_shown_masked_in_quarantine(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    _ingest_example(run, tmp_path / "in", EXAMPLES["id_number:id_column"])
    assert lake.scan_quarantine(lake_dir).collect()["value"].to_list() == ["110105********0021"]


# ------------------------------------------------------------------------------- rules checked on the file
def test_field_count(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    text = csv_text([entity(CODE_A)]) + "a,b,c\n"
    [report] = run(write_text(tmp_path / "entities.csv", text))
    assert (report.rows_read, report.rows_accepted) == (2, 1)
    assert lake.scan_quarantine(lake_dir).select("line", "field", "rule", "message").collect().rows() == [
        (3, "<row>", "field_count", "expected 11 fields as in the header, found 3")
    ]


def test_missing_column(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    rows = [{k: v for k, v in entity(code).items() if k != "status"} for code in (CODE_A, CODE_B)]
    [report] = run(write_csv(tmp_path / "entities.csv", rows))
    assert (report.rows_read, report.rows_accepted) == (2, 0)
    assert lake.scan_quarantine(lake_dir).select("line", "field", "rule", "message").collect().rows() == [
        (line, "status", "missing_column", "the file has no column 'status', required by table 'entities'")
        for line in (2, 3)
    ]


def test_a_json_line_that_is_no_record_is_a_type_error(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    [report] = run(write_jsonl(tmp_path / "entities.jsonl", [entity(CODE_A), "[1, 2]"]))
    assert (report.rows_read, report.rows_accepted) == (2, 1)
    assert lake.scan_quarantine(lake_dir).select("line", "field", "rule", "message").collect().rows() == [
        (2, "<line>", "type", "not a JSON object (expected {...})")
    ]


@pytest.mark.parametrize("name", rules.FILE_RULES)
def test_every_file_rule_has_a_test(name: str) -> None:
    assert f"test_{name}" in globals(), f"rule {name!r} is checked on the file: add test_{name}"


def test_the_rule_names_are_the_fifteen_the_quarantine_writes() -> None:
    assert ingest.RULES == rules.RULES
    names = "uscc required type enum past_date ordering non_negative fraction probability id_number"
    names += " references duplicate_key duplicate_row field_count missing_column"
    assert sorted(ingest.RULES) == sorted(names.split())


# ------------------------------------------------------------------------------------- the table itself
def test_every_catalog_rule_tag_has_an_entry() -> None:
    described = " ".join(r.fields.describe for r in rules.ROW_RULES)
    assert {tag for tag in catalog.RULES if f"`{tag}`" not in described} == set()


def test_a_template_naming_an_unknown_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match=r"placeholders \['colour'\] are not known"):
        rules.Rule("shade", rules.tagged("non_negative"), lambda s: s.value < 0, "not {colour}")


def test_a_new_entry_is_applied_by_the_checks_unchanged(
    run: Ingest, lake_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zero = rules.Rule(
        "non_zero", rules.tagged("non_negative"), lambda s: s.value == 0, "{field} must not be 0"
    )
    monkeypatch.setattr(checks, "ROW_RULES", (*rules.ROW_RULES, zero))
    [report] = run(
        write_csv(tmp_path / "entities.csv", [entity(CODE_A), entity(CODE_B, registered_capital="0")])
    )
    assert report.rows_accepted == 1
    assert lake.scan_quarantine(lake_dir).select("line", "field", "rule", "message").collect().rows() == [
        (3, "registered_capital", "non_zero", "registered_capital must not be 0")
    ]
