"""``creditwatch data``: ingest (tables, JSON, ledger, errors), quarantine, summary, governance, catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features import catalog
from serving.cli import app
from serving.settings import load_settings
from supervision import db, ledger
from tests.features.conftest import CHECKSUM_BAD, CODE_A, CODE_B, entity, penalty, write_csv

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def cli(home: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--home", str(home), *args], env={"COLUMNS": "240"})
    return result.exit_code, result.stdout


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    write_csv(folder / "entities.csv", [entity(CODE_A), entity(CODE_B), entity(CHECKSUM_BAD)])
    write_csv(
        folder / "penalties-2024.gbk.csv",
        [penalty("P1"), penalty("P2", code=CHECKSUM_BAD), penalty("P1")],
        encoding="gbk",
    )
    return folder


def test_ingest_prints_batches_and_the_balance(tmp_path: Path, drop: Path) -> None:
    code, out = cli(tmp_path, "data", "ingest", str(drop), "--today", "2026-11-28")
    assert code == 0, out
    assert "read 6 = accepted 3 + quarantined 3" in out
    assert "entities" in out and "penalties" in out


def test_ingest_json_and_ledger(tmp_path: Path, drop: Path) -> None:
    code, out = cli(tmp_path, "data", "ingest", str(drop), "--json")
    assert code == 0, out
    payload = json.loads(out)
    assert payload["totals"] == {"read": 6, "accepted": 3, "quarantined": 3, "batches": 2}
    assert [b["status"] for b in payload["batches"]] == ["ingested", "ingested"]
    engine = db.make_engine(load_settings(home=tmp_path).db_url)
    try:
        with db.session_scope(engine) as session:
            recorded = ledger.list_batches(session)
    finally:
        engine.dispose()
    assert sorted(r["batch_id"] for r in recorded) == sorted(b["batch_id"] for b in payload["batches"])

    # Again: nothing changes, and the ledger accepts the same batches again.
    code, out = cli(tmp_path, "--json", "data", "ingest", str(drop))
    assert code == 0, out
    assert [b["status"] for b in json.loads(out)["batches"]] == ["already_ingested"] * 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "nope"], "unknown table 'nope'"),
        (["--today", "28/11/2026"], "not a date"),
    ],
)
def test_ingest_errors_exit_1(tmp_path: Path, drop: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["--home", str(tmp_path), "data", "ingest", str(drop), *args])
    assert result.exit_code == 1
    assert message in result.stderr


def test_ingest_missing_path_exits_1_with_json_error(tmp_path: Path) -> None:
    code, out = cli(tmp_path, "--json", "data", "ingest", str(tmp_path / "missing.csv"))
    assert code == 1
    assert "no such file" in json.loads(out)["error"]


def test_quarantine_filters(tmp_path: Path, drop: Path) -> None:
    cli(tmp_path, "data", "ingest", str(drop))
    code, out = cli(tmp_path, "--json", "data", "quarantine", "--table", "penalties")
    assert code == 0
    payload = json.loads(out)
    assert payload["total"] == 2 and {r["rule"] for r in payload["rows"]} == {"uscc", "duplicate_row"}
    code, out = cli(tmp_path, "data", "quarantine", "--rule", "uscc", "--limit", "1", "--json")
    payload = json.loads(out)
    assert (payload["total"], len(payload["rows"])) == (2, 1)
    code, out = cli(tmp_path, "data", "quarantine", "--rule", "bogus")
    assert code == 1


def test_summary(tmp_path: Path, drop: Path) -> None:
    cli(tmp_path, "data", "ingest", str(drop))
    code, out = cli(tmp_path, "--json", "data", "summary")
    assert code == 0
    payload = json.loads(out)
    tables = {t["table"]: t for t in payload["tables"]}
    assert set(tables) == {t.name for t in catalog.TABLES}
    assert (tables["entities"]["rows_in_lake"], tables["penalties"]["quarantined"]) == (2, 2)
    rules = {(r["table"], r["rule"]): r["input_rows"] for r in payload["quarantine"]}
    assert rules == {("entities", "uscc"): 1, ("penalties", "uscc"): 1, ("penalties", "duplicate_row"): 1}
    code, out = cli(tmp_path, "data", "summary")
    assert code == 0 and "read 6 = accepted 3 + quarantined 3" in out


def test_governance(tmp_path: Path, drop: Path) -> None:
    cli(tmp_path, "data", "ingest", str(drop))
    code, out = cli(tmp_path, "--json", "data", "governance")
    assert code == 0
    payload = json.loads(out)
    found = {f["kind"]: f for f in payload["findings"]}
    assert payload["entities"] == 2
    assert found["invalid_checksum"]["count"] == 1 and found["invalid_checksum"]["rate_per_10k"] == 5000.0
    assert found["one_name_many_codes"]["count"] == 1  # A and B share the default name
    code, out = cli(tmp_path, "data", "governance")
    assert code == 0 and "重错码治理" in out


def test_catalog_table_and_json(tmp_path: Path) -> None:
    code, out = cli(tmp_path, "data", "catalog")
    assert code == 0 and "penalties" in out
    code, out = cli(tmp_path, "data", "catalog", "--json")
    tables = json.loads(out)
    assert [t["table"] for t in tables] == [t.name for t in catalog.TABLES]
    assert tables[0]["fields"][0]["rules"] == ["uscc"]


def test_catalog_markdown_is_the_generated_doc(tmp_path: Path) -> None:
    code, out = cli(tmp_path, "data", "catalog", "--markdown")
    assert code == 0 and out == catalog.catalog_markdown()


def test_docs_catalog_md_is_up_to_date() -> None:
    """docs/catalog.md is generated (make docs); regenerate it when the catalog changes."""
    assert (REPO / "docs" / "catalog.md").read_text(encoding="utf-8") == catalog.catalog_markdown()


def test_a_bad_file_mid_run_fails_but_earlier_batches_are_recorded(tmp_path: Path, drop: Path) -> None:
    (drop / "relations.csv").write_bytes("relation_id,uscc\nR1,x\n".encode("utf-16"))
    result = runner.invoke(
        app, ["--home", str(tmp_path), "data", "ingest", str(drop)], env={"COLUMNS": "1000"}
    )
    assert result.exit_code == 1
    assert "relations.csv: contains NUL bytes" in result.stderr
    engine = db.make_engine(load_settings(home=tmp_path).db_url)
    try:
        with db.session_scope(engine) as session:
            recorded = {r["table"] for r in ledger.list_batches(session)}
    finally:
        engine.dispose()
    assert recorded == {"entities"}  # written before relations; penalties come after it
