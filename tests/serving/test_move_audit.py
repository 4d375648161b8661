"""Every registry move is audited with an identity (issue 17), even when its mover dies after the registry
move and before its audit entry commits: a real ``creditwatch --as TOKEN models promote`` is SIGKILLed right
there (the test-only fault point ``models.after_move``); the next use case that opens the registry finds the
move in the registry's history with no audit entry naming its id and audits it once, as
``models.move_recovered`` with the move's own who and why. A move audited normally carries its id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from serving.cli import app
from serving.settings import Settings
from supervision.platform import audit
from supervision.platform.db import make_engine, session_scope
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import DEPARTMENT, DIVISION, City, build_city
from training.registry import FAULT_ENV, Registry

pytestmark = pytest.mark.slow  # the module's city: generate, ingest, train twice

CREDITWATCH = str(Path(sys.executable).with_name("creditwatch"))
runner = CliRunner()


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    city = build_city(tmp_path_factory.mktemp("move-audit"), models=2)
    yield city
    city.engine.dispose()


def _cli(settings: Settings, *args: str) -> tuple[int, Any]:
    result = runner.invoke(
        app, ["--home", str(settings.home), "--json", *args], obj=china_half_past_midnight()
    )
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


@pytest.fixture(scope="module")
def analyst(city: City) -> tuple[str, str]:
    """An analyst's token (issued by the local operator in the CLI's database) and its audit name."""
    code, issued = _cli(
        city.settings,
        *("tokens", "create", "--role", "analyst", "--name", "analyst-zhao"),
        *("--department", DEPARTMENT, "--division", DIVISION, "--person", "analyst-9"),
    )
    assert code == 0, issued
    return issued["token"], f"analyst-zhao#{issued['id']}"


def _moves(settings: Settings) -> list[audit.AuditEntry]:
    engine = make_engine(settings.db_url)
    try:
        with session_scope(engine) as session:
            assert audit.verify(session).ok
            found = audit.entries(session, limit=100_000)
            return [e for e in found if e.action.startswith("models.") and "id" in e.details]
    finally:
        engine.dispose()


def test_a_promote_killed_before_its_audit_is_audited_once_by_the_next_use(
    city: City, analyst: tuple[str, str]
) -> None:
    token, actor = analyst
    settings = city.settings
    before = _moves(settings)
    env = {**os.environ, FAULT_ENV: "models.after_move"}
    args = [CREDITWATCH, "--home", str(settings.home), "--as", token, "models", "promote"]
    done = subprocess.run(
        [*args, city.versions[1], "--why", "killed before the audit", "--force"],
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    registry = Registry(settings.mlflow_uri)
    assert registry.champion() == city.versions[1]  # the registry moved ...
    move = registry.history()[-1]
    assert move["who"] == actor and move["why"] == "killed before the audit"
    ids = [e.details["id"] for e in _moves(settings)]
    assert ids == [e.details["id"] for e in before] and move["id"] not in ids  # ... and no entry names it

    code, listed = _cli(settings, "--as", token, "models", "list")
    assert code == 0, listed
    recovered = [e for e in _moves(settings) if e.details["id"] == move["id"]]
    assert len(recovered) == 1
    entry = recovered[0]
    assert entry.action == "models.move_recovered" and entry.details["unaudited"] is True
    assert entry.target == f"model:{city.versions[1]}"
    assert (entry.details["who"], entry.details["why"]) == (actor, "killed before the audit")
    assert entry.details["version"] == city.versions[1] and entry.details["previous"] == city.versions[0]

    # The next use finds it audited: nothing more is written.
    count = len(_moves(settings))
    assert _cli(settings, "--as", token, "models", "list")[0] == 0
    assert len(_moves(settings)) == count

    # A move that is not killed is audited by its use case, with its id, and never reconciled again.
    code, moved = _cli(settings, "--as", token, "models", "rollback", "--why", "back after the crash")
    assert code == 0, moved
    last = Registry(settings.mlflow_uri).history()[-1]
    named = [e for e in _moves(settings) if e.details["id"] == last["id"]]
    assert [(e.action, e.actor) for e in named] == [("models.rollback", actor)]
    assert _cli(settings, "--as", token, "models", "list")[0] == 0
    assert [e.details["id"] for e in _moves(settings)].count(last["id"]) == 1
