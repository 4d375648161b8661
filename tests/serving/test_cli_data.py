"""``creditwatch data``: ingest (tables, JSON, ledger, errors), quarantine, summary, governance, catalog."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features import catalog, lake
from serving.cli import app
from serving.settings import load_settings
from supervision.platform import audit, db, ledger
from supervision.platform.access import Role
from supervision.platform.clock import CHINA, FixedClock
from tests.conftest import china_half_past_midnight
from tests.features.conftest import CHECKSUM_BAD, CODE_A, CODE_B, entity, penalty, write_csv
from tests.serving.api_city import DEPARTMENT, issue

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def cli(home: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["--home", str(home), *args], env={"COLUMNS": "240"}, obj=china_half_past_midnight()
    )
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
    result = runner.invoke(
        app, ["--home", str(tmp_path), "data", "ingest", str(drop), *args], obj=china_half_past_midnight()
    )
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


# ------------------------------------------------------------------------- the service: actor, audit, clock
def _entries(home: Path, action: str) -> list[audit.AuditEntry]:
    engine = db.make_engine(load_settings(home=home).db_url)
    try:
        with db.session_scope(engine) as session:
            return [e for e in audit.entries(session, limit=1000) if e.action == action]
    finally:
        engine.dispose()


def _token(home: Path, role: Role) -> str:
    engine = db.make_engine(load_settings(home=home).db_url)
    try:
        db.upgrade(engine)
        return issue(engine, role)["Authorization"].removeprefix("Bearer ")
    finally:
        engine.dispose()


def _lake_batches(home: Path) -> list[lake.Batch]:
    return lake.batches(load_settings(home=home).lake_dir)


def test_ingest_is_audited_with_the_batches_in_one_transaction(tmp_path: Path, drop: Path) -> None:
    code, out = cli(tmp_path, "--json", "data", "ingest", str(drop))
    assert code == 0, out
    batches = json.loads(out)["batches"]
    [entry] = _entries(tmp_path, "data.ingest")
    assert entry.actor.startswith("cli:") and entry.role is None  # the local operator on the lake's machine
    assert (entry.target, entry.result, entry.details["door"]) == ("lake", "ok", "cli")
    assert entry.details["batches"] == [b["batch_id"] for b in batches]
    assert {k: entry.details[k] for k in ("read", "accepted", "quarantined", "ingested")} == {
        "read": 6,
        "accepted": 3,
        "quarantined": 3,
        "ingested": 2,
    }
    assert entry.details["today"] == china_half_past_midnight().today().isoformat()


def test_ingest_as_an_analyst_is_audited_under_their_name(tmp_path: Path, drop: Path) -> None:
    token = _token(tmp_path, Role.ANALYST)
    code, out = cli(tmp_path, "--as", token, "--json", "data", "ingest", str(drop))
    assert code == 0, out
    [entry] = _entries(tmp_path, "data.ingest")
    assert (entry.actor, entry.role) == ("analyst-user#1", "analyst")
    assert entry.details["department"] == DEPARTMENT


@pytest.mark.parametrize("command", [["ingest", "DROP"], ["quarantine"], ["summary"], ["governance"]])
def test_a_role_the_lake_commands_do_not_admit_is_refused_before_anything_is_written(
    tmp_path: Path, drop: Path, command: list[str]
) -> None:
    token = _token(tmp_path, Role.INSPECTOR)
    args = [str(drop) if a == "DROP" else a for a in command]
    code, out = cli(tmp_path, "--as", token, "--json", "data", *args)
    assert code == 3 and "may not" in json.loads(out)["error"]
    assert _lake_batches(tmp_path) == []
    assert _entries(tmp_path, f"data.{command[0]}") == []


def test_the_read_commands_are_audited_as_reads(tmp_path: Path, drop: Path) -> None:
    cli(tmp_path, "data", "ingest", str(drop))
    for command in ("quarantine", "summary", "governance"):
        code, out = cli(tmp_path, "--json", "data", command)
        assert code == 0, out
        [entry] = _entries(tmp_path, f"data.{command}")
        assert entry.actor.startswith("cli:") and entry.target == "lake"
    [entry] = _entries(tmp_path, "data.quarantine")
    assert (entry.details["total"], entry.details["shown"]) == (3, 3)


@pytest.mark.parametrize(
    "clock",
    [china_half_past_midnight(), FixedClock(datetime(2031, 3, 1, 0, 30, tzinfo=CHINA))],
    ids=["half-past-midnight", "a-day-the-machine-clock-is-not-on"],
)
def test_the_ingest_date_is_today_in_china(tmp_path: Path, clock: FixedClock) -> None:
    """Regression: the CLI took date.today() (the machine's, UTC on servers), so between 00:00 and 08:00
    Beijing time a row dated today in China was refused as in the future."""
    today = clock.today()
    tomorrow = today + timedelta(days=1)
    path = write_csv(
        tmp_path / "drop" / "entities.csv",
        [
            entity(CODE_A, established_on=today.isoformat()),
            entity(CODE_B, established_on=tomorrow.isoformat()),
        ],
    )
    result = runner.invoke(app, ["--home", str(tmp_path), "--json", "data", "ingest", str(path)], obj=clock)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["accepted"] == 1
    quarantined = lake.scan_quarantine(load_settings(home=tmp_path).lake_dir).collect()
    assert quarantined.select("line", "rule", "message").rows() == [
        (3, "past_date", f"after the ingest date {today.isoformat()}")
    ]


@pytest.mark.parametrize("day", ["9999-12-31", "2099-01-01"])
def test_an_ingest_date_after_today_in_china_is_refused(tmp_path: Path, drop: Path, day: str) -> None:
    code, out = cli(tmp_path, "--json", "data", "ingest", str(drop), "--today", day)
    assert code == 1
    error = json.loads(out)["error"]
    assert f"today {day}: after today in China" in error
    assert _lake_batches(tmp_path) == [] and _entries(tmp_path, "data.ingest") == []


def test_a_file_failing_mid_run_is_audited_as_an_error_with_the_batches_before_it(
    tmp_path: Path, drop: Path
) -> None:
    (drop / "relations.csv").write_bytes("relation_id,uscc\nR1,x\n".encode("utf-16"))
    code, out = cli(tmp_path, "--json", "data", "ingest", str(drop))
    assert code == 1 and "nothing of this file was written" in json.loads(out)["error"]
    [entry] = _entries(tmp_path, "data.ingest")
    assert entry.result == "error" and "relations.csv: contains NUL bytes" in entry.details["failure"]
    assert entry.details["batches"] == [b.batch_id for b in _lake_batches(tmp_path)]


def test_an_unreachable_database_stops_the_ingest_before_the_lake(
    tmp_path: Path, drop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITWATCH_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    code, out = cli(tmp_path, "--json", "data", "ingest", str(drop))
    assert code == 1 and "unreachable" in json.loads(out)["error"]
    assert _lake_batches(tmp_path) == []


def test_a_batch_the_ledger_holds_with_other_values_is_a_conflict(tmp_path: Path, drop: Path) -> None:
    cli(tmp_path, "data", "ingest", str(drop))
    shutil.rmtree(load_settings(home=tmp_path).lake_dir)  # a rebuilt lake: same batches, new ingest times
    code, out = cli(tmp_path, "--json", "data", "ingest", str(drop))
    assert code == 5
    assert "already in the ledger with other values" in json.loads(out)["error"]
    assert len(_entries(tmp_path, "data.ingest")) == 1  # the refused run left no entry
