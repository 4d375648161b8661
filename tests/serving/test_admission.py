"""Overload (issue 17): admission control per route class sheds with 503 + Retry-After when a class's queue is
full, `/health` answers without the database pool, a system token has its own rate, and a change's session
takes SQLite's write lock only when the handler first uses it (not across the awaits before it).

No timings are asserted: the numbers are bench/overload.py's (docs/benchmarks.md, "Overload").
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from serving.api.app import PAGE_CLASSES, create_app
from serving.api.deps import get_session
from serving.api.limits import AdmissionControl
from serving.settings import Settings
from supervision.platform import access
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import entity_uscc
from tests.serving.browser import serve

VALID_USCC = "91350100M000100Y43"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "api.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def db_path(migrated: Path, tmp_path: Path) -> Path:
    return Path(shutil.copyfile(migrated, tmp_path / "api.db"))


@pytest.fixture
def engine(db_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{db_path}")
    yield engine
    engine.dispose()


@pytest.fixture
def tokens(engine: sa.Engine) -> dict[Role, str]:
    with session_scope(engine) as session:
        return {
            role: access.create_token(
                session, name=f"{role.value}-user", role=role, uscc=entity_uscc(role)
            ).token
            for role in Role
        }


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _app(settings: Settings, engine: sa.Engine, **overrides: Any) -> FastAPI:
    return create_app(settings.model_copy(update=overrides), engine=engine, clock=china_half_past_midnight())


def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for a state of the server (not a timing: the bound only turns a hang into a failure)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def _admission(app: FastAPI) -> AdmissionControl:
    layer: Any = app.middleware_stack
    while layer is not None and not isinstance(layer, AdmissionControl):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, AdmissionControl), "AdmissionControl is not in the app's middleware"
    return layer


# --- the middleware on its own ----------------------------------------------------------------------------


def test_a_full_queue_sheds_with_503_and_retry_after() -> None:
    release = asyncio.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith("/check"):
            await release.wait()  # a slow request, held until the test lets it go
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    gate = AdmissionControl(
        slow, concurrency=1, queue=1, queue_seconds=3600, retry_after=7, classes={"check", "entities"}
    )

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.ensure_future(client.post("/check"))
            while gate._gates["check"].active < 1:
                await asyncio.sleep(0)
            second = asyncio.ensure_future(client.post("/check"))  # waits in the queue
            while len(gate._gates["check"].waiters) < 1:
                await asyncio.sleep(0)

            shed = await client.post("/check")  # the queue is full: answered at once
            assert shed.status_code == 503
            assert shed.headers["Retry-After"] == "7"
            assert shed.json()["error"]["type"] == "busy"
            assert "/check" in shed.json()["error"]["message"]
            # Another class has its own slots; /health is never queued; unknown paths share "other".
            assert (await client.get("/entities/x")).status_code == 200
            assert (await client.get("/health")).status_code == 200
            assert (await client.get("/no-such-class")).status_code == 200
            assert gate.route_class("/invented/path") == AdmissionControl.OTHER

            release.set()
            assert (await first).status_code == 200
            assert (await second).status_code == 200  # the queued request got the slot
            assert gate._gates["check"].active == 0 and not gate._gates["check"].waiters
            assert (await client.post("/check")).status_code == 200

    asyncio.run(scenario())


def test_a_request_that_waited_too_long_is_shed_and_frees_its_place() -> None:
    release = asyncio.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    gate = AdmissionControl(slow, concurrency=1, queue=5, queue_seconds=0.05, classes={"check"})

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.ensure_future(client.post("/check"))
            while gate._gates["check"].active < 1:
                await asyncio.sleep(0)
            waited = await client.post("/check")  # the held request never finishes while this one waits
            assert waited.status_code == 503 and waited.headers["Retry-After"] == "1"
            assert not gate._gates["check"].waiters
            release.set()
            assert (await first).status_code == 200
            assert gate._gates["check"].active == 0

    asyncio.run(scenario())


def test_admission_control_off_admits_everything() -> None:
    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    gate = AdmissionControl(ok, concurrency=0, queue=0, queue_seconds=1, classes={"check"})

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            statuses = await asyncio.gather(*(client.post("/check") for _ in range(20)))
        assert {r.status_code for r in statuses} == {204}

    asyncio.run(scenario())


# --- the real app on a real server ------------------------------------------------------------------------


def test_the_app_sheds_check_while_one_is_held_and_health_answers(
    settings: Settings, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    app = _app(settings, engine, admission_concurrency=1, admission_queue=0, rate_limit_per_minute=0)
    system = _auth(tokens[Role.SYSTEM])
    body = json.dumps({"uscc": VALID_USCC, "matter": "bidding"}).encode()
    with serve(app) as base:
        port = int(base.rsplit(":", 1)[1])
        admission = _admission(app)
        # A POST /check whose body has not arrived: admitted, it holds the class's only slot.
        held = socket.create_connection(("127.0.0.1", port))
        try:
            head = (
                f"POST /check HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {system['Authorization']}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            held.sendall(head.encode() + body[:1])
            _until(lambda: admission._gates["check"].active == 1, "the held request took the slot")

            shed = httpx.post(f"{base}/check", json=json.loads(body), headers=system, timeout=30)
            assert shed.status_code == 503, shed.text
            assert shed.headers["Retry-After"] == "1"
            assert shed.json()["error"]["type"] == "busy"
            assert httpx.get(f"{base}/health", timeout=30).json() == {"status": "ok"}
            assert httpx.get(f"{base}/health/ready", timeout=30).status_code == 200
            assert httpx.get(f"{base}/me", headers=system, timeout=30).status_code == 200  # another class

            held.sendall(body[1:])  # the held request completes, and frees the slot
            answer = held.recv(65536).split(b"\r\n", 1)[0]
            assert b" 503 " not in answer and answer.startswith(b"HTTP/1.1 "), answer
        finally:
            held.close()
        _until(lambda: admission._gates["check"].active == 0, "the slot was freed")
        again = httpx.post(f"{base}/check", json=json.loads(body), headers=system, timeout=30)
        assert again.status_code != 503, again.text


def test_health_answers_while_the_pool_is_exhausted(
    settings: Settings, db_path: Path, tokens: dict[Role, str]
) -> None:
    small = make_engine(f"sqlite:///{db_path}", pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        with TestClient(_app(settings, small)) as client, small.connect():  # the pool's only connection
            assert client.get("/health").json() == {"status": "ok"}
            # Readiness asks the database on a connection of its own, not the pool's.
            assert client.get("/health/ready").json() == {"status": "ok", "database": "ok"}
            # A request that needs the pool waits for it and gives up: 503, not a hang.
            assert client.get("/me", headers=_auth(tokens[Role.ADMIN])).status_code == 503
    finally:
        small.dispose()


def test_readiness_fails_when_the_database_is_gone(settings: Settings, tmp_path: Path) -> None:
    missing = make_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}")
    with TestClient(_app(settings, missing)) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["error"]["type"] == "unavailable"
        assert "SELECT" not in ready.json()["error"]["message"]


# --- per-token limit of the system role ---------------------------------------------------------------------


def test_system_tokens_have_their_own_rate(
    settings: Settings, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    app = _app(
        settings,
        engine,
        rate_limit_per_minute=600,
        rate_limit_burst=60,
        rate_limit_system_per_minute=1,
        rate_limit_system_burst=2,
    )
    with TestClient(app) as client:
        system, inspector = _auth(tokens[Role.SYSTEM]), _auth(tokens[Role.INSPECTOR])
        assert [client.get("/me", headers=system).status_code for _ in range(2)] == [200, 200]
        refused = client.get("/me", headers=system)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        # Other roles keep the general rate; another system token has its own bucket.
        assert {client.get("/me", headers=inspector).status_code for _ in range(5)} == {200}
        with session_scope(engine) as session:
            other = _auth(access.create_token(session, name="other-system", role=Role.SYSTEM).token)
        assert client.get("/me", headers=other).status_code == 200


def test_without_a_system_rate_system_tokens_share_the_general_one(
    settings: Settings, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    with TestClient(_app(settings, engine, rate_limit_per_minute=1, rate_limit_burst=3)) as client:
        system = _auth(tokens[Role.SYSTEM])
        assert [client.get("/me", headers=system).status_code for _ in range(4)] == [200, 200, 200, 429]


# --- no transaction held across an await --------------------------------------------------------------------


def test_a_change_takes_the_sqlite_write_lock_at_its_first_query_not_before(
    settings: Settings, engine: sa.Engine, db_path: Path
) -> None:
    app = _app(settings, engine)
    other = make_engine(f"sqlite:///{db_path}", connect_args={"timeout": 0})

    def can_write() -> bool:
        try:
            with other.begin() as connection:
                connection.execute(sa.text("UPDATE audit_chain_head SET seq = seq"))
            return True
        except sa.exc.OperationalError:
            return False

    try:
        with TestClient(app):
            request = Request({"type": "http", "method": "POST", "app": app, "headers": [], "path": "/x"})
            dependency = get_session(request)
            session = next(dependency)  # what FastAPI does before the other dependencies and the handler
            assert can_write(), "the session dependency holds the write lock before the handler runs"
            session.execute(sa.text("SELECT 1"))  # the handler's first query
            assert not can_write(), "a change's transaction must start with the write lock"
            with pytest.raises(StopIteration):
                next(dependency)  # commits
            assert can_write()
    finally:
        other.dispose()


def test_the_publics_pages_have_their_own_class() -> None:
    # A flood of anonymous /ui/public requests takes the public's slots, not the staff's and the entity's.
    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never called
        raise AssertionError

    gate = AdmissionControl(app, concurrency=1, queue=1, queue_seconds=1, classes=PAGE_CLASSES)
    assert gate.route_class("/ui/public/commitments") == "ui/public"
    assert gate.route_class("/ui/zone") == gate.route_class("/ui/queues") == "ui"
    assert gate.route_class("/ui") == "ui"
    assert gate.route_class("/uipublic/x") == AdmissionControl.OTHER
