"""Webhook delivery of list events to a real local HTTP server: in order, at least once, retried with
backoff."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from features.lake import sources
from supervision.lifecycle import lists, subscriptions
from supervision.platform.db import session_scope
from tests.supervision.lifecycle_lake import OFFICER, E, build_lake

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
# Two entities of the lake with a record that grounds a severe listing, and that record.
FIRST, SECOND = E[2], E[4]
BASIS = {FIRST: "P-REVOKE", SECOND: "P-SEV"}


@pytest.fixture(scope="module")
def ro(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.LazyFrame]:
    return sources(build_lake(tmp_path_factory.mktemp("subscriptions-lake")).dir)


class Receiver:
    """A local HTTP server that answers with the queued statuses (then 200) and keeps what it received."""

    def __init__(self) -> None:
        self.received: list[list[dict[str, Any]]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.received.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _listed(s: sa.orm.Session, src: Mapping[str, pl.LazyFrame], uscc: str) -> lists.ListCase:
    case = lists.propose(
        s,
        src,
        actor=OFFICER,
        uscc=uscc,
        list_type="severe_dishonesty",
        department="局",
        reasons="r",
        basis="b",
        proposed_on=date(2026, 3, 2),
    )
    return lists.list_case(
        s, case.case_id, src, actor=OFFICER, on=date(2026, 3, 16), basis_document_no=BASIS[uscc]
    )


def test_events_delivered_in_order_and_retried(
    ro: dict[str, pl.LazyFrame], db_engine: sa.Engine, receiver: Receiver
) -> None:
    with session_scope(db_engine) as s:
        subscriptions.subscribe(s, name="procurement", url=receiver.url, now=NOW)
        first = _listed(s, ro, FIRST)
        _listed(s, ro, SECOND)
    receiver.statuses = [503]
    with session_scope(db_engine) as s:
        report = subscriptions.deliver_due(s, now=NOW)
        assert report[0]["status"] == 503 and report[0]["retry_at"] == NOW + subscriptions.RETRY_BASE
        # Not due again before the backoff has passed.
        assert subscriptions.deliver_due(s, now=NOW + timedelta(seconds=10)) == []
    assert receiver.received == []
    with session_scope(db_engine) as s:
        report = subscriptions.deliver_due(s, now=NOW + subscriptions.RETRY_BASE)
        assert report == [{"subscriber": "procurement", "delivered": 2, "status": 200}]
        lists.revoke(s, first.case_id, actor=OFFICER, on=date(2026, 4, 1))
    with session_scope(db_engine) as s:
        subscriptions.deliver_due(s, now=NOW + timedelta(hours=1))
        assert subscriptions.deliver_due(s, now=NOW + timedelta(hours=2))[0]["delivered"] == 0
    delivered = [(e["event"], e["uscc"]) for batch in receiver.received for e in batch]
    assert delivered == [("listed", FIRST), ("listed", SECOND), ("exited", FIRST)]


def test_unreachable_backs_off_up_to_the_maximum(ro: dict[str, pl.LazyFrame], db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as s:
        sub = subscriptions.subscribe(s, name="down", url="http://127.0.0.1:9/none", now=NOW)
        _listed(s, ro, FIRST)
        at = NOW
        for _ in range(10):
            at = sub.next_attempt_at
            subscriptions.deliver_due(s, now=at)
        assert sub.last_error == "unreachable" and sub.attempts == 10 and sub.last_event_id == 0
        assert sub.next_attempt_at - at == subscriptions.RETRY_MAX
        with pytest.raises(ValueError, match="already exists"):
            subscriptions.subscribe(s, name="down", url="http://x", now=NOW)
        with pytest.raises(ValueError, match="http:// or https://"):
            subscriptions.subscribe(s, name="ftp", url="ftp://x", now=NOW)
