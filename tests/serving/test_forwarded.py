"""``X-Forwarded-For`` is believed only from configured proxies, on the real server (uvicorn on loopback)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from serving.api.app import create_app
from serving.cli.serve import server_config
from serving.settings import Settings
from supervision.platform import audit
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(settings: Settings) -> Iterator[str]:
    engine = make_engine(settings.db_url)
    upgrade(engine)
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
        engine.dispose()


def _sources(settings: Settings) -> list[str | None]:
    engine = make_engine(settings.db_url)
    with session_scope(engine) as session:
        sources = [e.source for e in audit.entries(session)]
    engine.dispose()
    return sources


@pytest.mark.parametrize(("trusted", "seen"), [((), "127.0.0.1"), (("127.0.0.1",), "203.0.113.9")])
def test_forwarded_for_is_believed_only_from_a_configured_proxy(
    settings: Settings, trusted: tuple[str, ...], seen: str
) -> None:
    configured = settings.model_copy(update={"trusted_proxies": trusted})
    with _serving(configured) as base:
        r = httpx.post(f"{base}/tokens", json={}, headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 401
    assert _sources(configured) == [seen]
