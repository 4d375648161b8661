"""``creditwatch sample`` through Typer's CliRunner on the SQLite default under --home."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from features.identity import check_digit
from features.uscc import complete
from serving.cli import app
from tests.conftest import china_half_past_midnight

runner = CliRunner()
DEPARTMENT = "市场监管局"


def _uscc(i: int) -> str:
    return complete(f"91320902MA{i:07d}")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    n = 40
    tiers = ["A"] * 20 + ["B"] * 10 + ["C"] * 6 + ["D"] * 4
    scores = pl.DataFrame(
        {
            "uscc": [_uscc(i) for i in range(n)],
            "tier": tiers,
            "probability": [{"A": 0.02, "B": 0.1, "C": 0.3, "D": 0.7}[t] for t in tiers],
            "reasons": [[f"reason {i}", "other"] for i in range(n)],
            "division_code": ["320902"] * n,
            "industry": ["food"] * n,
            "entity_type": ["enterprise"] * n,
        }
    )
    scores_path = tmp_path / "scores.parquet"
    scores.write_parquet(scores_path)
    lines = ["inspector_id,name,department,division_code,qualifications,active,id_number"]
    for i in range(6):
        first17 = f"32090219800101{i:03d}"
        lines.append(f"I{i},检查员{i},市场监管局,320902,食品经营,是,{first17 + check_digit(first17)}")
    roster = tmp_path / "inspectors.csv"
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"scores": scores_path, "inspectors": roster, "home": tmp_path / "home"}


def _run(home: Path, *args: str) -> Any:
    return runner.invoke(
        app, ["--home", str(home), *args], env={"COLUMNS": "200"}, obj=china_half_past_midnight()
    )


def _json(home: Path, *args: str) -> Any:
    result = _run(home, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _token(home: Path, role: str, *, department: str = DEPARTMENT, person: str | None = None) -> str:
    """A token for a person of `department` (issued by the local operator, as on the server's machine)."""
    args = ["tokens", "create", "--role", role, "--name", f"{role}-{person}", "--department", department]
    return str(_json(home, *args, *(["--person", person] if person else []))["token"])


def test_create_draw_assign_record_export_verify(files: dict[str, Path], tmp_path: Path) -> None:
    home = files["home"]
    sup = ["--as", _token(home, "supervisor", person="S1")]
    assert _json(home, *sup, "sample", "inspectors", "import", str(files["inspectors"]))["created"] == 6
    assert _json(home, *sup, "sample", "inspectors", "deactivate", "I5") == {
        "inspector_id": "I5",
        "active": False,
    }
    roster = {r["inspector_id"]: r for r in _json(home, *sup, "sample", "inspectors", "list")}
    assert roster["I5"]["active"] is False and roster["I0"]["active"] is True
    created = _json(
        home,
        *sup,
        "sample",
        "create",
        "--scores",
        str(files["scores"]),
        "--item",
        "食品经营",
        "--period",
        "2026Q4",
        "--count",
        "10",
        "--as-of",
        "2026-11-01",
        "--task-id",
        "T1",
    )
    assert created["status"] == "created" and created["revealed_seed"] is None
    assert created["department"] == DEPARTMENT  # the acting identity's
    assert len(created["seed_sha256"]) == 64 and len(created["roster_sha256"]) == 64

    drawn = _json(home, *sup, "sample", "draw", "T1")
    # Up to the budget: tier D (4 entities) is drawn whole, so a control entity that fell in it is not
    # replaced (docs/sampling.md: the achieved size can fall short of the budget).
    selected = drawn["selected"]
    assert 8 <= selected <= 10 and len(drawn["revealed_seed"]) == 64
    assert sum(t["selected"] for t in drawn["tiers"]) == selected

    assigned = _json(home, *sup, "sample", "assign", "2026Q4", "--max-visits", "5")
    assert assigned["visits"] == selected and assigned["assigned"] == selected

    listed = _json(home, *sup, "sample", "list", "--task", "T1")
    first = listed[0]
    inspector = first["inspectors"].split("; ")[0]
    recorded = _json(
        home,
        *sup,
        "sample",
        "results",
        "record",
        "T1",
        first["uscc"],
        "--outcome",
        "violation",
        "--inspected-on",
        "2026-11-02",
        "--by",
        inspector,
        "--findings",
        "无证经营",
    )
    assert recorded["publication_due_on"] == "2026-11-30"  # 20 working days, no holiday in between
    assert recorded["recorded_by"] == inspector

    overdue = _json(home, *sup, "sample", "results", "overdue", "--today", "2026-12-01")
    assert overdue == [
        {"department": DEPARTMENT, "results": 1, "published": 0, "unpublished": 1, "overdue": 1}
    ]

    estimates = _json(home, *sup, "sample", "results", "estimate", "T1", "--scores", str(files["scores"]))
    assert [r["tier"] for r in estimates] == ["all", "A", "B", "C", "D"]
    assert estimates[4]["predicted_rate"] == pytest.approx(0.7)

    xlsx = tmp_path / "out" / "T1.xlsx"
    exported = _json(
        home, *sup, "sample", "export", "T1", "--out", str(xlsx), "--scores", str(files["scores"])
    )
    assert exported["rows"] == selected
    sheet = openpyxl.load_workbook(xlsx).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    reasons_col = header.index("主要原因 reasons")
    assert str(sheet.cell(2, reasons_col + 1).value).startswith("reason ")

    records = tmp_path / "inspections.parquet"
    _json(home, *sup, "sample", "results", "export", "--out", str(records))
    assert pl.read_parquet(records)["outcome"].to_list() == ["violation"]

    verified = _json(home, "sample", "verify", "T1")  # anyone: no identity needed
    assert verified["ok"] is True

    # A different roster than the one published: verify fails with exit code 1 and says why.
    changed = pl.read_parquet(files["scores"]).with_columns(tier=pl.lit("D"))
    changed_path = tmp_path / "changed.parquet"
    changed.write_parquet(changed_path)
    result = _run(home, "--json", "sample", "verify", "T1", "--roster", str(changed_path))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["ok"] is False

    table = _run(home, *sup, "sample", "list")
    assert table.exit_code == 0 and "T1" in table.stdout and "drawn" in table.stdout


def test_an_inspector_records_todays_visit_in_china_as_themselves(files: dict[str, Path]) -> None:
    home = files["home"]
    sup = ["--as", _token(home, "supervisor", person="S1")]
    _json(home, *sup, "sample", "inspectors", "import", str(files["inspectors"]))
    _json(
        home,
        *sup,
        "sample",
        "create",
        "--scores",
        str(files["scores"]),
        "--item",
        "食品经营",
        "--period",
        "P1",
        "--count",
        "6",
        "--task-id",
        "T1",
    )
    _json(home, *sup, "sample", "draw", "T1")
    _json(home, *sup, "sample", "assign", "P1")
    entity = _json(home, *sup, "sample", "list", "--task", "T1")[0]
    team = entity["inspectors"].split("; ")
    me = ["--as", _token(home, "inspector", person=team[0])]
    # The CLI's clock is 00:30 in Beijing (the UTC date is yesterday): today's visit is not in the future.
    today = china_half_past_midnight().today()
    base = ["sample", "results", "record", "T1", entity["uscc"], "--outcome", "no_problem"]
    result = _run(home, "--json", *me, *base, "--inspected-on", (today + timedelta(days=1)).isoformat())
    assert result.exit_code == 1 and "in the future" in json.loads(result.stdout)["error"]
    # Another team's member, or a recorder typed by an inspector, is refused (谁检查、谁录入).
    outsider = next(f"I{i}" for i in range(6) if f"I{i}" not in team)
    theirs = ["--as", _token(home, "inspector", person=outsider)]
    result = _run(home, "--json", *theirs, *base, "--inspected-on", today.isoformat())
    assert result.exit_code == 3 and "谁检查、谁录入" in json.loads(result.stdout)["error"]
    result = _run(home, "--json", *me, *base, "--inspected-on", today.isoformat(), "--by", team[1])
    assert result.exit_code == 3
    recorded = _json(home, *me, *base, "--inspected-on", today.isoformat())
    assert recorded["recorded_by"] == team[0]


def test_every_action_but_verify_needs_an_identity_of_the_department(files: dict[str, Path]) -> None:
    home = files["home"]
    for args in (
        ["sample", "inspectors", "import", str(files["inspectors"])],
        ["sample", "inspectors", "list"],
        ["sample", "list"],
        [
            "sample",
            "create",
            "--scores",
            str(files["scores"]),
            "--item",
            "i",
            "--period",
            "P",
            "--count",
            "5",
        ],
        ["sample", "assign", "P"],
        ["sample", "results", "overdue"],
    ):
        result = _run(home, "--json", *args)
        assert result.exit_code == 3 and "without an identity" in json.loads(result.stdout)["error"], args
    sup = ["--as", _token(home, "supervisor", person="S1")]
    other = ["--as", _token(home, "supervisor", department="消防救援", person="S2")]
    create = [
        "sample",
        "create",
        "--scores",
        str(files["scores"]),
        "--item",
        "i",
        "--period",
        "P",
        "--count",
        "5",
    ]
    result = _run(home, "--json", *sup, *create, "--department", "消防救援")
    assert result.exit_code == 3 and "a department creates its own tasks" in result.stdout
    _json(home, *sup, *create, "--department", DEPARTMENT, "--task-id", "T1")  # naming one's own is fine
    result = _run(home, "--json", *other, "sample", "draw", "T1")
    assert result.exit_code == 3 and "a department acts on its own tasks" in result.stdout
    assert _json(home, *other, "sample", "list") == []


def test_errors_are_one_line_with_the_exit_code_of_their_kind(files: dict[str, Path]) -> None:
    home = files["home"]
    sup = ["--as", _token(home, "supervisor", person="S1")]
    base = ["sample", "create", "--scores", str(files["scores"]), "--item", "i"]
    result = _run(home, "--json", *sup, *base, "--period", "P", "--count", "5", "--tier-ratio", "B=0.5")
    assert result.exit_code == 1
    assert "tier B: ratio 0.5 is outside the allowed range [0.05, 0.2]" in json.loads(result.stdout)["error"]

    result = _run(home, "--json", *sup, *base, "--period", "P", "--count", "500")
    assert result.exit_code == 1 and "exceeds the 40 eligible" in result.stdout

    result = _run(home, "--json", *sup, *base, "--period", "P", "--count", "5", "--industry", "mining")
    assert result.exit_code == 1 and "no eligible entity" in result.stdout

    result = _run(home, "--json", *sup, *base, "--period", "P" * 40, "--count", "5")
    assert result.exit_code == 1 and "period" in json.loads(result.stdout)["error"]

    result = _run(home, "--json", *sup, *base, "--period", "P", "--count", "5", "--as-of", "0001-01-01")
    # refused by the one plausible range before the frequency limit is reckoned
    assert result.exit_code == 1 and "as_of: 0001-01-01 is out of range" in json.loads(result.stdout)["error"]

    result = _run(home, "--json", *sup, "sample", "draw", "NOPE")
    assert result.exit_code == 4 and "no sampling task 'NOPE'" in result.stdout  # not found

    assert _json(home, *sup, "sample", "list") == []
    result = _run(home, "--json", *sup, "sample", "inspectors", "deactivate", "I9")
    assert result.exit_code == 1 and "no inspector 'I9'" in result.stdout


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_an_export_never_carries_a_formula_from_a_typed_item(
    files: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    # A department types the check items; spreadsheet software must show them, never run them.
    home = files["home"]
    sup = ["--as", _token(home, "supervisor", person="S1")]
    _json(home, *sup, "sample", "inspectors", "import", str(files["inspectors"]))
    hostile = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3"]
    create = ["sample", "create", "--scores", str(files["scores"]), "--period", "2026Q4", "--count", "5"]
    _json(home, *sup, *create, *[a for item in hostile for a in ("--item", item)], "--task-id", "T9")
    _json(home, *sup, "sample", "draw", "T9")
    out = tmp_path / f"T9.{fmt}"
    _json(home, *sup, "sample", "export", "T9", "--out", str(out), "--scores", str(files["scores"]))
    if fmt == "xlsx":
        page = openpyxl.load_workbook(out).active
        assert page is not None
        cells = [cell for row in page.iter_rows() for cell in row]
        assert not [c.coordinate for c in cells if c.data_type == "f"]
        texts = [str(c.value) for c in cells if isinstance(c.value, str)]
    else:
        with out.open(encoding="utf-8-sig", newline="") as handle:
            texts = [value for row in csv.reader(handle) for value in row]
    assert texts and not [t for t in texts if t.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert any("'=HYPERLINK" in t for t in texts)  # shown as text, whole


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31"])
def test_a_task_dated_outside_the_plausible_range_is_refused(files: dict[str, Path], as_of: str) -> None:
    home = files["home"]
    sup = ["--as", _token(home, "supervisor", person="S1")]
    create = ["sample", "create", "--scores", str(files["scores"]), "--item", "i", "--period", "P1"]
    result = _run(home, "--json", *sup, *create, "--count", "5", "--as-of", as_of, "--task-id", "T0")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"].startswith(f"as_of: {as_of} is out of range")
    assert _json(home, *sup, "sample", "list") == []  # nothing was created
