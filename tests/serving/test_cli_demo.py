"""``creditwatch demo`` end to end on a small city: every step runs and leaves its artifacts, a token per role
is printed, and the serve step serves that home until Ctrl-C."""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import polars as pl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from features import lake
from serving.cli import app
from supervision.platform import access
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope
from supervision.sampling import tables, tasks
from supervision.sampling.roster import inspector_of

pytestmark = pytest.mark.slow  # the demo on 1,500 entities: ~35 s

SERVE = """
import sys
from serving.cli.demo import serve_step
from serving.cli.state import State
from serving.settings import load_settings
serve_step(
    State(settings=load_settings(home=sys.argv[1]), json=True), host="127.0.0.1", port=int(sys.argv[2])
)
"""


# What the demo's run let libraries say: Python warnings a default run shows, and WARNING log records of
# loggers outside this project (MLflow logs its warnings rather than raising them, on a logger that does not
# propagate to the root). Filled by the `demo` fixture.
HEARD: list[str] = []
OURS = ("features", "models", "training", "supervision", "serving")


class _Heard(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] not in OURS:
            HEARD.append(f"{record.name} {record.levelname}: {record.getMessage()}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    home = tmp_path_factory.mktemp("demo") / "home"
    args = ["--home", str(home), "--json", "demo", "--entities", "1500", "--years", "4", "--no-serve"]
    heard = _Heard()
    loggers = [logging.getLogger(), logging.getLogger("mlflow")]
    for logger in loggers:
        logger.addHandler(heard)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = CliRunner().invoke(app, args)
    finally:
        for logger in loggers:
            logger.removeHandler(heard)
    # A default Python run hides deprecation warnings raised outside __main__: the demo shows the others.
    HEARD.extend(
        f"{w.category.__name__} ({w.filename}:{w.lineno}): {w.message}"
        for w in caught
        if not issubclass(w.category, DeprecationWarning | PendingDeprecationWarning)
    )
    return home, result


def test_the_demo_prints_no_library_warnings(demo: tuple[Path, Result]) -> None:
    _, result = demo
    assert HEARD == []
    assert "warning" not in result.output.lower(), result.output


def _principals(home: Path, tokens: list[str]) -> list[access.Principal | None]:
    engine = make_engine(f"sqlite:///{home / 'creditwatch.db'}")
    try:
        with session_scope(engine) as session:
            return [access.authenticate(session, t) for t in tokens]
    finally:
        engine.dispose()


def _active_demo_tokens(home: Path) -> list[access.TokenInfo]:
    engine = make_engine(f"sqlite:///{home / 'creditwatch.db'}")
    try:
        with session_scope(engine) as session:
            roster = {i.inspector_id for i in session.scalars(sa.select(tables.Inspector))}
            return [
                t
                for t in access.list_tokens(session)
                if (t.name.startswith("demo-") or t.name in roster) and t.active
            ]
    finally:
        engine.dispose()


def test_demo_runs_the_whole_pipeline(demo: tuple[Path, Result]) -> None:
    home, result = demo
    assert result.exit_code == 0, result.output
    assert "verify DEMO-2026H2-XY: OK" in result.output  # the steps' output (on stderr with --json)
    payload = json.loads(result.stdout)  # stdout is one JSON document
    scores = pl.read_parquet(home / "scores" / "as_of=2026-07-01.parquet")
    assert set(scores["tier"].unique()) <= {"A", "B", "C", "D"} and scores.height > 1000
    assert payload["scores"] == str(home / "scores" / "as_of=2026-07-01.parquet") and payload["task"]
    sheet = openpyxl.load_workbook(home / "exports" / "DEMO-2026H2-XY.xlsx").active
    assert sheet is not None and sheet.max_row > 1
    # One token per role, each authenticating as its role; the pages' sign-in address.
    assert payload["url"] == "http://127.0.0.1:8000/ui/login" and payload["serving"] is False
    tokens = payload["tokens"]
    assert [t["role"] for t in tokens] == [r.value for r in Role]
    principals = _principals(home, [t["token"] for t in tokens])
    names = [t["name"] for t in tokens]
    assert [(p.role, p.name) if p else None for p in principals] == list(zip(Role, names, strict=True))
    # The entity's token is bound to a USCC of the city with penalties (its zone has records), no department.
    entity = principals[list(Role).index(Role.ENTITY)]
    assert entity is not None and entity.department is None and entity.uscc is not None
    penalties = lake.scan(home / "lake", "penalties").select("uscc").collect()
    assert entity.uscc in set(penalties["uscc"])
    # The inspector's token carries a roster id with visits, so the pages find "my tasks" for it.
    inspector = names[list(Role).index(Role.INSPECTOR)]
    assert [n for n in names if not n.startswith("demo-")] == [inspector]
    engine = make_engine(f"sqlite:///{home / 'creditwatch.db'}")
    try:
        with session_scope(engine) as session:
            assert inspector_of(session, inspector) is not None
            assert tasks.task_progress(session, inspector_id=inspector)
    finally:
        engine.dispose()
    assert all("http://127.0.0.1:8000/" in t["open"] for t in tokens)
    # The home it leaves is usable by every other command.
    again = CliRunner().invoke(app, ["--home", str(home), "--json", "data", "summary"])
    assert again.exit_code == 0
    assert json.loads(again.output)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_json(stream: Any, deadline: float) -> dict[str, Any]:
    text = ""
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        text += line
        try:
            return dict(json.loads(text))
        except json.JSONDecodeError:
            continue
    raise AssertionError(f"no JSON document on the serve step's stdout: {text!r}")


@pytest.fixture
def served(demo: tuple[Path, Result], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    home, result = demo
    assert result.exit_code == 0, result.output
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(home), str(port)], stdout=subprocess.PIPE, stderr=err, text=True
        )
        try:
            yield proc, port, log
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            assert proc.stdout is not None
            proc.stdout.close()


def test_the_serve_step_serves_the_demo_home_until_ctrl_c(
    demo: tuple[Path, Result], served: tuple[subprocess.Popen[str], int, Path]
) -> None:
    home, result = demo
    proc, port, log = served
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    assert proc.stdout is not None
    printed = _read_json(proc.stdout, deadline)
    assert printed["url"] == f"{base}/ui/login" and printed["serving"] is True
    while True:
        try:
            health = httpx.get(f"{base}/health", timeout=5)
            break
        except httpx.TransportError:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not answer: " + log.read_text()
            time.sleep(0.2)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    tokens = {t["role"]: t["token"] for t in printed["tokens"]}
    me = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {tokens['supervisor']}"}, timeout=10)
    assert me.status_code == 200 and me.json()["role"] == "supervisor", me.text
    champion = httpx.get(
        f"{base}/models/champion", headers={"Authorization": f"Bearer {tokens['analyst']}"}, timeout=30
    )
    assert champion.status_code == 200 and champion.json()["serving"] is True, champion.text
    assert champion.json()["version"] == json.loads(result.stdout)["model_version"]
    # Re-issuing revoked the pipeline run's tokens: still exactly one active token per role.
    earlier = json.loads(result.stdout)["tokens"][0]["token"]
    stale = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {earlier}"}, timeout=10)
    assert stale.status_code == 401
    assert sorted(t.name for t in _active_demo_tokens(home)) == sorted(t["name"] for t in printed["tokens"])
    assert len(printed["tokens"]) == len(Role)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert proc.wait(timeout=30) == 0, log.read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/health", timeout=2)
