"""``creditwatch demo`` end to end on a small city: every step runs and leaves its artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from serving.cli import app


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["--home", str(home), "demo", "--entities", "1500", "--years", "4"])
    assert result.exit_code == 0, result.output
    assert "verify DEMO-2026H2-XY: OK" in result.output
    scores = pl.read_parquet(home / "scores" / "as_of=2026-07-01.parquet")
    assert set(scores["tier"].unique()) <= {"A", "B", "C", "D"} and scores.height > 1000
    sheet = openpyxl.load_workbook(home / "exports" / "DEMO-2026H2-XY.xlsx").active
    assert sheet is not None and sheet.max_row > 1
    # The home it leaves is usable by every other command.
    again = CliRunner().invoke(app, ["--home", str(home), "--json", "data", "summary"])
    assert again.exit_code == 0
    assert json.loads(again.output)
