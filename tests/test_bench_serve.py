"""bench.serve: the open-loop schedule, nearest-rank percentiles, latency from the due time, the ladder's
verdict, and the asyncio HTTP/1.1 client against a tiny uvicorn app on 127.0.0.1 (counts, not timings)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from bench.serve import (
    Outcome,
    RunStats,
    Sampler,
    free_port,
    highest_sustainable,
    open_loop,
    percentile,
    schedule,
    summarise,
)


def test_schedule_is_evenly_spaced_at_the_rate() -> None:
    due = schedule(200, 2.5)
    assert len(due) == 500
    assert due[0] == 0.0 and due[1] == pytest.approx(0.005) and due[-1] == pytest.approx(499 / 200)
    with pytest.raises(ValueError, match="must be > 0"):
        schedule(0, 1)


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 … 1, unsorted on purpose
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0], 0) == 1.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_latency_runs_from_the_due_time_not_the_send_time() -> None:
    # Request 1 was due at 0.010 but the generator only sent it at 0.050: its latency includes that wait.
    outcomes = [
        Outcome(due=0.000, sent=0.000, done=0.002, status=200),
        Outcome(due=0.010, sent=0.050, done=0.052, status=200),
        Outcome(due=0.020, sent=0.052, done=0.060, status=None, error="TimeoutError"),
        Outcome(due=0.030, sent=0.060, done=0.061, status=503),
    ]
    s = summarise("x", 100, 0.04, outcomes)
    assert s.requests == 4 and s.ok == 2 and s.errors == 2
    assert s.statuses == {"200": 2, "503": 1, "TimeoutError": 1}
    assert s.max_ms == pytest.approx(42.0)
    assert s.p50_ms == pytest.approx(31.0)  # sorted 2, 31, 40, 42 → the 2nd
    assert s.max_send_lag_ms == pytest.approx(40.0)


def _stats(rate: float, p99: float, errors: int = 0) -> RunStats:
    return RunStats("x", rate, 10, 100, 100 - errors, errors, {}, 1, 1, p99, p99, rate, 0)


def test_highest_sustainable_stops_at_the_first_failing_rung() -> None:
    ladder = [_stats(100, 5), _stats(200, 8), _stats(300, 25), _stats(400, 9)]
    assert highest_sustainable(ladder, 20) == 200  # 400 passing after 300 failed does not count
    assert highest_sustainable([_stats(100, 5), _stats(200, 5, errors=1)], 20) == 100
    assert highest_sustainable([_stats(100, 30)], 20) is None


async def _tiny_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path.startswith("/chunked"):
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ab", "more_body": True})
        await send({"type": "http.response.body", "body": b"c"})
        return
    status = 404 if path.startswith("/missing") else 200
    body = path.encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def tiny_server() -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_tiny_app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the tiny server did not start"
        time.sleep(0.01)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def test_open_loop_sends_every_scheduled_request(tiny_server: int) -> None:
    def path(i: int) -> str:
        return ("/missing/" if i % 5 == 4 else "/ok/" if i % 5 else "/chunked/") + str(i)

    outcomes, peak = asyncio.run(
        open_loop(
            "127.0.0.1", tiny_server, path, rate=100, seconds=0.5, headers={"X-Test": "1"}, connections=4
        )
    )
    assert len(outcomes) == 50
    assert [o.due for o in outcomes] == schedule(100, 0.5)
    assert sum(o.status == 404 for o in outcomes) == 10
    assert sum(o.status == 200 for o in outcomes) == 40
    assert all(o.done >= o.sent >= o.due - 1e-3 for o in outcomes)
    assert 1 <= peak <= 4


def test_open_loop_reports_refused_connections() -> None:
    port = free_port()  # nothing listens there
    outcomes, _ = asyncio.run(
        open_loop("127.0.0.1", port, lambda i: "/", rate=50, seconds=0.1, headers={}, connections=2)
    )
    assert len(outcomes) == 5
    assert all(o.status is None and o.error == "ConnectionRefusedError" for o in outcomes)


def test_sampler_counts_busy_stacks_and_skips_idle_waits() -> None:
    sampler = Sampler()

    def inner() -> None:
        sampler.sample(sys._getframe())

    def outer() -> None:
        inner()

    outer()
    outer()
    waiter = threading.Event()
    idle = threading.Thread(target=waiter.wait)
    idle.start()
    time.sleep(0.05)
    sampler.sample(sys._current_frames()[idle.ident])  # parked in threading.py wait: idle, not counted
    waiter.set()
    idle.join()
    assert sampler.busy == 2
    keys = {k.rpartition(":")[2]: v for k, v in sampler.inclusive.items()}
    assert keys["outer"] == 2 and keys["inner"] == 2
    assert sum(sampler.self_.values()) == 2
    assert "inner" in sampler.report()
