"""Every place that shows a tier's configured ratio also shows its actual inclusion probability in that task
(issue 12: the pages showed "D 61–100 %" while D entities were drawn at 14 %): the API's task and draw
answers, the task's page and ``creditwatch sample``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features import uscc as uscc_rules
from serving.api.app import create_app
from serving.cli import app as cli_app
from serving.settings import Settings
from supervision.platform.access import Role
from supervision.platform.db import make_engine, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, tokens
from tests.serving.api_city import ok as _ok

TIERS = ["A", "B", "C", "D"]
USCCS = [uscc_rules.complete(f"91320900MA{i:07d}") for i in range(200)]
TASK = {
    "items": ["食品安全检查"],
    "period": "2026Q4",
    "count": 20,
    "as_of": AS_OF.isoformat(),
    "task_id": "T1",
}
CONFIGURED = {
    "A": (0.03, 0.0, 0.05),
    "B": (0.10, 0.05, 0.20),
    "C": (0.30, 0.21, 0.60),
    "D": (0.70, 0.61, 1.0),
}


def _scores() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "uscc": USCCS,
            "tier": [TIERS[i % 4] for i in range(len(USCCS))],
            "probability": [0.05 + 0.2 * (i % 4) for i in range(len(USCCS))],
            "division_code": ["320902"] * len(USCCS),
            "industry": ["food"] * len(USCCS),
            "entity_type": ["enterprise"] * len(USCCS),
        }
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def client(settings: Settings, home: Path, engine: sa.Engine) -> Iterator[TestClient]:
    (home / "scores").mkdir()
    _scores().write_parquet(home / "scores" / f"as_of={AS_OF}.parquet")
    with TestClient(
        create_app(settings, engine=engine, clock=china_half_past_midnight()), follow_redirects=False
    ) as c:
        yield c


def _check_tiers(tiers: list[dict[str, Any]], *, drawn: bool) -> None:
    assert [t["tier"] for t in tiers] == TIERS
    for t in tiers:
        assert (t["ratio"], t["range_low"], t["range_high"]) == pytest.approx(CONFIGURED[t["tier"]])
        assert t["eligible"] == 50 and t["rested"] == 0
        if drawn:
            assert t["actual_inclusion"] == pytest.approx(t["selected"] / t["eligible"])
        else:
            assert t["selected"] is None and t["actual_inclusion"] is None
    if drawn:
        # The configured ratio is an intensity, not a probability: D at 70 % configured, far less drawn.
        d = next(t for t in tiers if t["tier"] == "D")
        assert d["actual_inclusion"] < d["range_low"]
        assert sum(t["selected"] for t in tiers) <= 20


def test_the_api_shows_the_actual_inclusion_next_to_the_configured_ratio(
    client: TestClient, engine: sa.Engine
) -> None:
    sup = tokens(engine)[Role.SUPERVISOR]
    _ok(client.post("/sampling/tasks", json=TASK, headers=sup), 201)
    before = _ok(client.get("/sampling/tasks/T1", headers=sup))
    _check_tiers(before["tiers"], drawn=False)
    # Before the draw the exact design probability is already known.
    assert all(0 < t["inclusion_probability"] < 1 for t in before["tiers"])

    drawn = _ok(client.post("/sampling/tasks/T1/draw", headers=sup))
    _check_tiers(drawn["tiers"], drawn=True)
    detail = _ok(client.get("/sampling/tasks/T1", headers=sup))
    assert detail["tiers"] == drawn["tiers"]
    listed = {e["uscc"]: e for e in detail["entities"]}
    for t in drawn["tiers"]:
        on_list = [e for e in listed.values() if e["tier"] == t["tier"]]
        assert len(on_list) == t["selected"]
        assert all(e["inclusion_probability"] == pytest.approx(t["inclusion_probability"]) for e in on_list)


def test_the_task_page_shows_the_actual_inclusion_next_to_the_configured_ratio(
    client: TestClient, engine: sa.Engine
) -> None:
    issued = tokens(engine)
    sup = issued[Role.SUPERVISOR]
    _ok(client.post("/sampling/tasks", json=TASK, headers=sup), 201)
    drawn = _ok(client.post("/sampling/tasks/T1/draw", headers=sup))
    r = client.post("/ui/login", data={"token": sup["Authorization"].removeprefix("Bearer ")})
    assert r.status_code == 303, r.text
    page = client.get("/ui/tasks/T1", params={"lang": "en"})
    assert page.status_code == 200, page.text
    table = page.text[page.text.index('<table id="tiers">') :]
    table = table[: table.index("</table>")]
    assert "Configured ratio (range)" in table and "Actual inclusion probability" in table
    for t in drawn["tiers"]:
        row = re.search(rf'<tr data-tier="{t["tier"]}">(.*?)</tr>', table, re.S)
        assert row is not None
        ratio, low, high = CONFIGURED[t["tier"]]
        cells = dict(re.findall(r'<td class="num (\w+)">([^<]*)</td>', row.group(1)))
        assert cells["ratio"] == f"{100 * ratio:.1f} % ({100 * low:.1f} %–{100 * high:.1f} %)"
        assert cells["actual"] == f"{100 * t['selected'] / t['eligible']:.1f} %"
        assert cells["eligible"] == str(t["eligible"])


def test_the_cli_shows_the_actual_inclusion_next_to_the_configured_ratio(tmp_path: Path) -> None:
    home = tmp_path / "home"
    scores = tmp_path / "scores.parquet"
    _scores().write_parquet(scores)
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(
            cli_app, ["--home", str(home), *args], env={"COLUMNS": "200"}, obj=china_half_past_midnight()
        )
        assert result.exit_code == 0, result.output
        return result

    made = run(
        "--json", "tokens", "create", "--role", "supervisor", "--name", "s", "--department", "市场监管局"
    )
    sup = ["--as", json.loads(made.stdout)["token"]]
    args = [
        "sample",
        "create",
        "--scores",
        str(scores),
        "--item",
        "食品经营",
        "--period",
        "P",
        "--count",
        "20",
    ]
    run(*sup, *args, "--task-id", "T1")
    shown = run(*sup, "sample", "draw", "T1").stdout
    assert "configured ratio" in shown and "actual inclusion" in shown
    assert "70.0 % (61.0 %–100.0 %)" in shown  # D's configured ratio, next to …
    listed = run(*sup, "--json", "sample", "list", "--task", "T1")
    d_drawn = sum(1 for r in json.loads(listed.stdout) if r["tier"] == "D")
    assert f"{100 * d_drawn / 50:.1f} %" in shown  # … its actual inclusion: drawn / eligible
    assert "configured ratio" in run(*sup, "sample", "list", "--task", "T1").stdout
