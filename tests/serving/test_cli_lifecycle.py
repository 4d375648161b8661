"""The lifecycle CLI end to end on a migrated SQLite home and a real lake."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from serving.cli import app
from serving.settings import Settings
from supervision.db import make_engine, upgrade
from tests.supervision.lifecycle_lake import E, build_lake

runner = CliRunner()


@pytest.fixture
def ready(settings: Settings) -> Settings:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    build_lake(settings.home)
    return settings


def _json(settings: Settings, *args: str) -> tuple[int, Any]:
    result = runner.invoke(app, ["--home", str(settings.home), "--json", *args])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def test_objection_check_disclosure_and_report(ready: Settings, tmp_path: Path) -> None:
    code, filed = _json(ready, "objections", "file", "--uscc", E[0], "--table", "penalties", "--record", "P-GEN",
                        "--grounds", "金额有误", "--department", "盐城市市场监管局", "--on", "2026-11-02")  # fmt: skip
    assert code == 0 and filed["decide_due"] == "2026-11-09"
    oid = filed["objection_id"]
    code, err = _json(
        ready, "objections", "decide", oid, "--upheld", "--resolution", "revoked", "--reasons", "r"
    )
    assert code == 1 and "'uphold' is not allowed" in err["error"]
    assert _json(ready, "objections", "mark", oid, "--on", "2026-11-03")[0] == 0
    code, decided = _json(ready, "objections", "decide", oid, "--upheld", "--resolution", "revoked",
                          "--reasons", "核实有误", "--on", "2026-11-04")  # fmt: skip
    assert code == 0 and decided["status"] == "upheld"
    assert _json(ready, "objections", "overdue", "--on", "2026-12-01") == (0, [])

    code, checked = _json(ready, "check", "run", "--uscc", E[4], "--matter", "bidding", "--on", "2026-11-27")
    assert code == 0 and checked["restricted"] and checked["lists"][0]["list_type"] == "severe_dishonesty"

    assert _json(ready, "disclosure", "register")[1] == {"registered": 7}
    assert _json(ready, "disclosure", "overdue", "--on", "2026-11-27")[0] == 1
    assert _json(ready, "disclosure", "publish", "penalties", "P-REVOKE", "--on", "2026-11-02")[0] == 0
    out = tmp_path / "public.csv"
    assert _json(ready, "disclosure", "export", "--out", str(out), "--on", "2026-11-27")[1]["rows"] == 1
    assert not re.search(r"\d{17}[\dXx]", out.read_text(encoding="utf-8"))

    pdf = tmp_path / "report.pdf"
    code, issued = _json(ready, "report", "issue", "--uscc", E[4], "--out", str(pdf), "--on", "2026-11-27")
    assert code == 0 and pdf.read_bytes().startswith(b"%PDF-")
    assert _json(ready, "report", "verify", issued["report_no"], issued["hash"])[1]["valid"] is True
    assert _json(ready, "report", "verify", issued["report_no"], "0" * 64)[0] == 1


def test_a_database_behind_the_code_is_a_clear_error(settings: Settings) -> None:
    engine = make_engine(settings.db_url)
    upgrade(engine, "0004")
    engine.dispose()
    code, err = _json(settings, "lists", "events")
    assert code == 1 and "at migration 0004" in err["error"] and "creditwatch db upgrade" in err["error"]
