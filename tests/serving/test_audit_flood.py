"""Anonymous traffic cannot flood the audit log: one entry per client address and window, with a count."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from serving.api.app import create_app
from serving.api.trail import AnonymousSummary
from serving.settings import Settings
from supervision.platform import audit
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _fields(source: str, path: str = "/x") -> dict[str, Any]:
    return {
        "actor": "anonymous",
        "role": None,
        "action": "http.post",
        "target": path,
        "source": source,
        "result": "denied",
        "details": {"path": path, "status": 401},
    }


def test_the_first_request_of_a_window_is_written_the_rest_counted() -> None:
    ticks = Ticks()
    summary = AnonymousSummary(window_seconds=60, clock=ticks)
    assert summary.admit(_fields("1.2.3.4")) == [_fields("1.2.3.4")]
    assert all(summary.admit(_fields("1.2.3.4", f"/p{i}")) == [] for i in range(99))
    assert summary.admit(_fields("5.6.7.8")) == [_fields("5.6.7.8")]  # another address: its own window
    ticks.now = 61
    written = summary.admit(_fields("1.2.3.4"))
    summaries = [e for e in written if e["action"] == "http.anonymous"]
    assert [(e["target"], e["details"]["count"]) for e in summaries] == [("1.2.3.4", 99)]
    assert len(summaries[0]["details"]["paths"]) == AnonymousSummary.SAMPLE_PATHS
    assert written[-1] == _fields("1.2.3.4")  # and the new window's first request


def test_many_addresses_share_one_overflow_window() -> None:
    summary = AnonymousSummary(window_seconds=60, max_sources=3, clock=Ticks())
    written = [e for i in range(50) for e in summary.admit(_fields(f"10.0.0.{i}"))]
    assert len(written) == 4  # three addresses, then one overflow bucket
    flushed = summary.flush()
    assert sum(e["details"]["count"] for e in flushed) == 46
    assert summary.flush() == []


def test_a_flood_of_anonymous_requests_writes_two_entries(settings: Settings) -> None:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    app = create_app(settings, engine=engine, clock=china_half_past_midnight())
    long = "/a" * 2000
    with TestClient(app) as client:
        for i in range(200):
            r = client.post(f"{long}{i}", content=b"{not json")
            assert r.status_code in (401, 404, 422)
        for _ in range(20):
            assert client.post("/tokens", json={"name": "x", "role": "admin"}).status_code == 401
    with session_scope(engine) as session:
        entries = audit.entries(session, limit=1000)
        assert audit.verify(session).ok
    engine.dispose()
    assert [e.action for e in entries] == ["http.post", "http.anonymous"]
    assert entries[1].details["count"] == 219  # written at shutdown, nothing lost
    assert all(len(str(e.target)) <= AnonymousSummary.PATH_CHARS for e in entries)
    assert sum(len(str(e.details)) for e in entries) < 5_000


def test_refused_requests_of_an_identity_are_still_written_one_by_one(settings: Settings) -> None:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    with session_scope(engine) as session:
        from supervision.platform import access

        token = access.create_token(session, name="root", role="admin", department="市场监管局").token
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as client:
        for _ in range(5):
            r = client.post(
                "/tokens", json={"name": "x", "role": "nobody"}, headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 422
    with session_scope(engine) as session:
        count = session.execute(sa.select(sa.func.count()).select_from(audit.AuditEntry)).scalar_one()
    engine.dispose()
    assert count == 5
