"""An audited read is not answered until its entry is durable (serving/api/trail.py): on the real server
(uvicorn on loopback), across a kill -9, and when the entry cannot be written (503, not the data).
Refusals' entries are never dropped silently: past the writer's bound they are counted (audit.unrecorded)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from serving.api.app import create_app
from serving.api.trail import AuditUnavailable, AuditWriter
from serving.cli.serve import server_config
from serving.settings import Settings
from supervision.platform import audit
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, sqlite_path, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import issue
from tests.supervision.databases import backend_params, fresh_database_url

READ = "/restrictions"  # an audited read (restrictions.catalog) that needs no city
ACTION = "restrictions.catalog"
WORKERS = 12
UNRECORDED = AuditWriter.UNRECORDED


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(settings: Settings, engine: sa.Engine) -> Iterator[str]:
    port = _free_port()
    app = create_app(settings, engine=engine, clock=china_half_past_midnight())
    server = uvicorn.Server(server_config(settings, app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _readers(engine: sa.Engine, n: int) -> dict[str, dict[str, str]]:
    """One token (its own actor in the log) per concurrent reader: name → Authorization header."""
    return {f"reader{i}": issue(engine, Role.SUPERVISOR, name=f"reader{i}") for i in range(n)}


def _written(engine: sa.Engine, name: str | None = None) -> Counter[str]:
    """Entries of the audited read per reader name (or for one reader)."""
    with session_scope(engine) as session:
        query = sa.select(audit.AuditEntry.actor).where(
            audit.AuditEntry.action == ACTION, audit.AuditEntry.result == "ok"
        )
        if name is not None:
            query = query.where(audit.AuditEntry.actor.like(f"{name}#%"))
        return Counter(actor.split("#")[0] for actor in session.scalars(query))


@pytest.fixture(params=backend_params())
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database_url(request.param, tmp_path) as url:
        yield url


def test_a_read_is_answered_only_once_its_entry_is_in_the_database(settings: Settings, any_url: str) -> None:
    engine = make_engine(any_url)
    upgrade(engine)
    readers = _readers(engine, WORKERS)
    # Admission control off: on a loaded machine a queued read past its wait is shed (503), which is the
    # admission rule's business (tests/serving/test_admission.py), not the audit's.
    configured = settings.model_copy(
        update={"database_url": any_url, "rate_limit_per_minute": 0, "admission_concurrency": 0}
    )
    seen: dict[str, list[tuple[int, int]]] = {name: [] for name in readers}

    def read(base: str, name: str) -> None:
        with httpx.Client(base_url=base, headers=readers[name], timeout=60) as client:
            for i in range(15):
                status = client.get(READ).status_code
                # Right after the answer, from another connection: the entry must be there already.
                seen[name].append((status, _written(engine, name)[name] - (i + 1)))

    try:
        with _serving(configured, engine) as base:
            threads = [threading.Thread(target=read, args=(base, name)) for name in readers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        wrong = {n: [(i, got) for i, got in enumerate(gots) if got != (200, 0)] for n, gots in seen.items()}
        assert not any(wrong.values()), wrong
        with session_scope(engine) as session:
            assert audit.verify(session).ok
    finally:
        engine.dispose()


def test_every_read_answered_before_a_kill_9_has_its_entry(settings: Settings) -> None:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    readers = _readers(engine, WORKERS)
    port = _free_port()
    env = {**os.environ, "CREDITWATCH_RATE_LIMIT_PER_MINUTE": "0"}
    script = Path(sys.executable).with_name("creditwatch")
    cmd = [str(script), "--home", str(settings.home), "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*cmd, "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    answered: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)

        def read(name: str) -> None:
            with httpx.Client(base_url=base, headers=readers[name], timeout=30) as client:
                while not stop.is_set():
                    try:
                        status = client.get(READ).status_code
                    except httpx.TransportError:
                        return  # the server is gone
                    if status == 200:
                        with lock:
                            answered[name] += 1

        threads = [threading.Thread(target=read, args=(name,)) for name in readers]
        for thread in threads:
            thread.start()
        while sum(answered.values()) < 300 and server.poll() is None:
            time.sleep(0.005)
        server.send_signal(signal.SIGKILL)  # mid-stream: every reader has a request in flight
        server.wait()
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
            server.wait()
    written = _written(engine)
    engine.dispose()
    assert sum(answered.values()) >= 300
    missing = {name: (n, written[name]) for name, n in answered.items() if written[name] < n}
    assert not missing, f"answered 200 without an entry (answered, written): {missing}"


def test_a_read_whose_entry_cannot_be_written_is_answered_503(settings: Settings, tmp_path: Path) -> None:
    with fresh_database_url("sqlite", tmp_path) as url:
        # The audit table locked by another connection for longer than the server's lock timeout.
        engine = make_engine(url, connect_args={"timeout": 0.2})
        upgrade(engine)
        header = issue(engine, Role.SUPERVISOR, name="reader")
        configured = settings.model_copy(update={"database_url": url, "rate_limit_per_minute": 0})
        path = sqlite_path(url)
        assert path is not None
        try:
            with _serving(configured, engine) as base, httpx.Client(base_url=base, headers=header) as client:
                assert client.get(READ).status_code == 200
                blocker = sqlite3.connect(path, isolation_level=None)
                blocker.execute("BEGIN IMMEDIATE")  # holds the write lock the audit append needs
                try:
                    withheld = client.get(READ)
                finally:
                    blocker.execute("ROLLBACK")
                    blocker.close()
                assert withheld.status_code == 503
                assert withheld.headers["Retry-After"] == "1"
                assert "audit log could not record" in withheld.json()["error"]["message"]
                assert "measure" not in withheld.text  # none of the catalog's data
                assert client.get(READ).status_code == 200  # the lock is gone: answered again
            with session_scope(engine) as session:
                entries = audit.entries(session, limit=100)
                assert audit.verify(session).ok
            # The withheld read is not lost either: its own entry (result error), or counted.
            results = [e.result for e in entries if e.action == ACTION]
            assert results in (["ok", "error", "ok"], ["ok", "ok"])
            counted = [(e.target, e.result, e.details["count"]) for e in entries if e.action == UNRECORDED]
            assert counted == ([] if len(results) == 3 else [(ACTION, "error", 1)])
        finally:
            engine.dispose()


def _hold_flush(writer: AuditWriter) -> Any:
    return writer._flush_lock  # while held, the writer thread cannot take a batch: the queue fills


def test_past_the_bound_a_read_is_refused_and_a_refusal_is_counted(engine: sa.Engine) -> None:
    writer = AuditWriter(engine, max_pending=3)
    with _hold_flush(writer):
        for i in range(5):  # refusals: three queued, two counted
            writer.offer({"actor": f"a#{i}", "action": "entities.read", "result": "denied"})
        assert writer.unrecorded() == {("entities.read", "denied"): 2}

        async def read() -> None:
            await writer.awrite({"actor": "r#1", "action": "entities.score"})

        with pytest.raises(AuditUnavailable):
            asyncio.run(read())  # the data would wait for a commit that cannot be queued: refused at once
    writer.write({"actor": "w#1", "action": "entities.read"})  # the next batch carries the count
    with session_scope(engine) as session:
        entries = audit.entries(session, limit=100)
        assert audit.verify(session).ok
    counted = [e for e in entries if e.action == AuditWriter.UNRECORDED]
    assert [(e.target, e.result, e.details["count"]) for e in counted] == [("entities.read", "denied", 2)]
    assert sorted(e.actor for e in entries if e.action == "entities.read") == ["a#0", "a#1", "a#2", "w#1"]
    assert writer.unrecorded() == {}


def test_a_refusal_whose_commit_fails_is_counted_and_written_later(engine: sa.Engine, tmp_path: Path) -> None:
    path = sqlite_path(engine.url)
    assert path is not None
    locked = make_engine(engine.url, connect_args={"timeout": 0.05})
    writer = AuditWriter(locked)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        writer.offer({"actor": "a#1", "action": "tokens.create", "result": "denied"})
        deadline = time.monotonic() + 30
        while not writer.unrecorded() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.unrecorded() == {("tokens.create", "denied"): 1}
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    writer.write({"actor": "b#1", "action": "x"})
    with session_scope(engine) as session:
        entries = audit.entries(session, limit=100)
    locked.dispose()
    assert [(e.action, e.target, e.details.get("count")) for e in entries] == [
        (AuditWriter.UNRECORDED, "tokens.create", 1),
        ("x", None, None),
    ]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
