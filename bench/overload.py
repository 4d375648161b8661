"""Overload benchmark (issue 17): ``POST /check`` at 100/s from one system token, at most 50 in flight,
against ``creditwatch serve`` (one uvicorn worker) on 127.0.0.1 — on SQLite and on PostgreSQL, admission
control off (the baseline) and on, in the same run (the machine is shared: only a comparison within one run
means much).

    python -m bench overload                   # builds var/bench-overload (3,000 entities) once
    python -m bench overload --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    python -m bench overload --backends sqlite --no-write

Per run: 2,000 requests due at start + i/100 s (open loop; latency from the due time, so the client's own
wait for one of its 50 connections counts), a poller asking ``GET /health`` every 100 ms on a new connection
(2 s timeout) from the start of the load to the end of the recovery, and after the last request is due a
second system token sends one ``POST /check`` every 100 ms until one answers 200 within 0.5 s and
``/health/ready`` answers 200: the time from the end of the load to then is the recovery. The bars: every
request answered within 2 s with 200, or 429/503 carrying Retry-After; every ``/health`` poll answered 200
within 2 s; recovered within 5 s. On PostgreSQL, a second poller counts the server's sessions idle in a
transaction or waiting for a lock (``pg_stat_activity``) every 0.5 s.

The PostgreSQL runs use a database of their own (``creditwatch_bench_overload``, dropped and re-created on the
server of ``--postgres``) and a copy of the home without its SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.report import write_section
from bench.serve import (
    Pool,
    StaleConnection,
    _creditwatch,
    ensure_home,
    free_port,
    percentile,
    running,
    scored_usccs,
)

DEFAULT_HOME = Path("var/bench-overload")
BENCH_DB = "creditwatch_bench_overload"
ANSWER_BAR_S, RECOVERY_BAR_S = 2.0, 5.0
MATTER = "bidding"


# ------------------------------------------------------------------------------------------ the client
async def http_request(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> tuple[int, dict[str, str], bool]:
    """One request on an open connection: (status, headers, keep the connection)."""
    reader, writer = conn
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    if body or method != "GET":
        lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    try:
        status_line = await reader.readline()
    except ConnectionResetError as exc:
        raise StaleConnection("reset before answering") from exc
    if not status_line:
        raise StaleConnection("closed before answering")
    status = int(status_line.split(b" ", 2)[1])
    got: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        got[name.strip().lower()] = value.strip()
    length = int(got.get("content-length", "0"))
    if length:
        await reader.readexactly(length)
    return status, got, got.get("connection", "").lower() != "close"


@dataclass
class Answer:
    due: float
    done: float
    status: int | None
    retry_after: bool = False
    error: str | None = None

    @property
    def latency(self) -> float:
        return self.done - self.due

    @property
    def acceptable(self) -> bool:
        """Answered in time: 200, or a refusal that says when to come back."""
        if self.status is None or self.latency > ANSWER_BAR_S:
            return False
        return self.status == 200 or (self.status in (429, 503) and self.retry_after)


@dataclass
class Run:
    backend: str
    mode: str
    answers: list[Answer]
    health: list[tuple[float, int | None]]  # (latency s, status) of each poll
    recovery_s: float | None
    pg_peak: dict[str, int] = field(default_factory=dict)
    server_cpu: float = 0.0

    def statuses(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.answers:
            key = str(a.status) if a.status is not None else (a.error or "error")
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))

    @property
    def acceptable(self) -> int:
        return sum(a.acceptable for a in self.answers)

    @property
    def health_failures(self) -> int:
        return sum(1 for lat, status in self.health if status != 200 or lat > ANSWER_BAR_S)

    @property
    def passes(self) -> bool:
        return (
            self.acceptable == len(self.answers)
            and self.health_failures == 0
            and self.recovery_s is not None
            and self.recovery_s <= RECOVERY_BAR_S
        )


async def load(
    port: int, token: str, probe_token: str, usccs: list[str], *, rate: float, requests: int, concurrency: int
) -> tuple[list[Answer], list[tuple[float, int | None]], float | None]:
    loop = asyncio.get_running_loop()
    pool = Pool("127.0.0.1", port, concurrency)
    rng = random.Random(0)
    picks = [rng.choice(usccs) for _ in range(requests)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    answers: list[Answer] = []
    health: list[tuple[float, int | None]] = []
    stop_health = asyncio.Event()

    async def one(i: int, due: float, start: float) -> None:
        body = json.dumps({"uscc": picks[i], "matter": MATTER}).encode()
        conn = None
        try:
            async with asyncio.timeout(10):
                conn, reused = await pool.acquire()
                try:
                    status, got, keep = await http_request(conn, "POST", "/check", headers, body)
                except StaleConnection:
                    if not reused:
                        raise
                    # uvicorn closed this idle keep-alive connection (5 s) just as it was reused: nothing of
                    # the request was read, so it is sent again on a new connection (bench/serve.py does so).
                    await pool.discard(conn)
                    conn, _ = await pool.acquire(fresh=True)
                    status, got, keep = await http_request(conn, "POST", "/check", headers, body)
        except (OSError, ConnectionError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            answers.append(Answer(due, loop.time() - start, None, error=type(exc).__name__))
            await pool.discard(conn)
            return
        answers.append(Answer(due, loop.time() - start, status, "retry-after" in got))
        await (pool.release(conn) if keep else pool.discard(conn))

    async def poll_health() -> None:
        while not stop_health.is_set():
            t0 = loop.time()
            status: int | None = None
            try:
                async with asyncio.timeout(ANSWER_BAR_S):
                    conn = await asyncio.open_connection("127.0.0.1", port)
                    try:
                        status, _, _ = await http_request(conn, "GET", "/health", {})
                    finally:
                        conn[1].close()
            except (OSError, ConnectionError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                status = None
            health.append((loop.time() - t0, status))
            await asyncio.sleep(max(0.0, 0.1 - (loop.time() - t0)))

    async def recovered() -> bool:
        probe = {"Authorization": f"Bearer {probe_token}", "Content-Type": "application/json"}
        body = json.dumps({"uscc": usccs[0], "matter": MATTER}).encode()
        try:
            async with asyncio.timeout(0.5):
                conn = await asyncio.open_connection("127.0.0.1", port)
                try:
                    status, _, _ = await http_request(conn, "POST", "/check", probe, body)
                    if status != 200:
                        return False
                    status, _, _ = await http_request(conn, "GET", "/health/ready", {})
                    return status == 200
                finally:
                    conn[1].close()
        except (OSError, ConnectionError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            return False

    poller = asyncio.ensure_future(poll_health())
    start = loop.time()
    tasks = []
    for i in range(requests):
        due = i / rate
        delay = start + due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, due, start)))
    end = loop.time()
    recovery: float | None = None
    while loop.time() - end < 60:
        if await recovered():
            recovery = loop.time() - end
            break
        await asyncio.sleep(0.1)
    await asyncio.gather(*tasks)
    stop_health.set()
    await poller
    await pool.close()
    return sorted(answers, key=lambda a: a.due), health, recovery


# ------------------------------------------------------------------------------------------ the server
def _pg_poller(url: str, peak: dict[str, int], stop: threading.Event) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    query = sa.text(
        "SELECT count(*) FILTER (WHERE state = 'idle in transaction'),"
        " count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*)"
        " FROM pg_stat_activity WHERE application_name = 'creditwatch' AND datname = :db"
    )
    try:
        with engine.connect() as connection:
            while not stop.wait(0.5):
                idle, waiting, total = connection.execute(query, {"db": BENCH_DB}).one()
                peak["idle in transaction"] = max(peak.get("idle in transaction", 0), idle)
                peak["waiting for a lock"] = max(peak.get("waiting for a lock", 0), waiting)
                peak["sessions"] = max(peak.get("sessions", 0), total)
                connection.rollback()
    finally:
        engine.dispose()


@contextmanager
def server(home: Path, env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [*_creditwatch(), "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running([*cmd, "--log-level", "error"], {**os.environ, **env}, port) as proc:
        yield proc


def system_tokens(db_url: str) -> tuple[str, str]:
    from supervision.platform import access
    from supervision.platform.access import Role
    from supervision.platform.db import make_engine, session_scope

    engine = make_engine(db_url)
    try:
        with session_scope(engine) as s:
            load = access.create_token(s, name="bench-overload", role=Role.SYSTEM).token
            probe = access.create_token(s, name="bench-overload-probe", role=Role.SYSTEM).token
            return load, probe
    finally:
        engine.dispose()


def postgres_home(home: Path, admin_url: str) -> tuple[Path, str]:
    """A copy of `home` without its SQLite file, and a fresh migrated database of its own on that server."""
    from supervision.platform.db import make_engine, upgrade

    pg_home = home.with_name(home.name + "-pg")
    if pg_home.exists():
        shutil.rmtree(pg_home)
    shutil.copytree(home, pg_home, ignore=shutil.ignore_patterns("creditwatch.db*", "audit"))
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as c:
        c.execute(sa.text(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"))
        c.execute(sa.text(f"CREATE DATABASE {BENCH_DB}"))
    admin.dispose()
    url = sa.make_url(admin_url).set(database=BENCH_DB).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return pg_home, url


MODES: dict[str, dict[str, str]] = {
    # The issue's run: default limits (600/min, burst 60 per token), no admission control.
    "baseline: admission off, default rate limit": {"CREDITWATCH_ADMISSION_CONCURRENCY": "0"},
    "admission on, default rate limit": {},
    # Everything reaches /check: the per-token limiter off, so only admission control stands in the way.
    "baseline: admission off, rate limit off": {
        "CREDITWATCH_ADMISSION_CONCURRENCY": "0",
        "CREDITWATCH_RATE_LIMIT_PER_MINUTE": "0",
    },
    "admission on, rate limit off": {"CREDITWATCH_RATE_LIMIT_PER_MINUTE": "0"},
}


def one_run(
    backend: str, mode: str, home: Path, db_url: str, usccs: list[str], args: argparse.Namespace
) -> Run:
    from bench.serve import _cpu_seconds

    token, probe = system_tokens(db_url)
    env = {"CREDITWATCH_DEMO": "1", "CREDITWATCH_DATABASE_URL": db_url, **MODES[mode]}
    port = free_port()
    peak: dict[str, int] = {}
    stop = threading.Event()
    with server(home, env, port) as proc:
        poller = None
        if backend == "postgresql":
            poller = threading.Thread(target=_pg_poller, args=(db_url, peak, stop), daemon=True)
            poller.start()
        cpu0, wall0 = _cpu_seconds(proc.pid), time.perf_counter()
        answers, health, recovery = asyncio.run(
            load(
                port,
                token,
                probe,
                usccs,
                rate=args.rate,
                requests=args.requests,
                concurrency=args.concurrency,
            )
        )
        cpu = (_cpu_seconds(proc.pid) - cpu0) / (time.perf_counter() - wall0)
        stop.set()
        if poller is not None:
            poller.join()
    run = Run(backend, mode, answers, health, recovery, peak, cpu)
    lat = [a.latency for a in answers]
    print(
        f"{backend} / {mode}: {run.acceptable}/{len(answers)} acceptable {run.statuses()}, "
        f"p50 {percentile(lat, 50) * 1000:.0f} ms, p99 {percentile(lat, 99) * 1000:.0f} ms, "
        f"max {max(lat) * 1000:.0f} ms; /health {len(health)} polls, {run.health_failures} failed, "
        f"max {max((h[0] for h in health), default=0) * 1000:.0f} ms; recovery "
        f"{'none' if recovery is None else f'{recovery:.1f} s'}; server CPU {cpu:.0%} {peak or ''}",
        flush=True,
    )
    return run


# ------------------------------------------------------------------------------------------ the report
def _row(r: Run) -> str:
    lat = [a.latency * 1000 for a in r.answers]
    statuses = ", ".join(f"{k}: {v}" for k, v in r.statuses().items())
    hmax = max((h[0] for h in r.health), default=0.0) * 1000
    recovery = "never (60 s)" if r.recovery_s is None else f"{r.recovery_s:.1f} s"
    pg = ", ".join(f"{k} {v}" for k, v in r.pg_peak.items()) or "—"
    verdict = "**pass**" if r.passes else "fail"
    return (
        f"| {r.backend} | {r.mode} | {r.acceptable:,} / {len(r.answers):,} | {statuses} | "
        f"{percentile(lat, 50):.0f} / {percentile(lat, 99):.0f} / {max(lat):.0f} | "
        f"{len(r.health) - r.health_failures} / {len(r.health)} (max {hmax:.0f} ms) | {recovery} | "
        f"{r.server_cpu:.0%} | {pg} | {verdict} |"
    )


HEADER = (
    "| backend | run | acceptable | statuses | latency p50 / p99 / max ms | /health ok (max) | recovery "
    "| server CPU | PostgreSQL sessions (peak) | bars |\n|---|---|---|---|---|---|---|---|---|---|"
)


def render(runs: list[Run], command: str, info: dict[str, Any]) -> str:
    rows = "\n".join(_row(r) for r in runs)
    return f"""## Overload

Command: `{command}` — machine: {platform.machine()}, {os.cpu_count()} vCPU, Python
{platform.python_version()}, shared with other jobs (load average {info["load"]:.1f} at the start of this run,
{info["load_end"]:.1f} at its end). City: {info["entities"]:,} scored entities (`creditwatch demo`).
Server: `creditwatch serve` (uvicorn, one worker) on 127.0.0.1, restarted for every run; PostgreSQL
{info["pg"]}. Load (bench/overload.py): {info["requests"]:,} `POST /check` from one system token due at
{info["rate"]:g}/s (open loop; latency from the due time), at most {info["concurrency"]} in flight; `GET
/health` polled every 100 ms on a new connection throughout; recovery = from the last request's due time until
a second system token's `POST /check` answers 200 within 0.5 s and `/health/ready` answers 200. Admission
control at its defaults (4 at once and 16 waiting per route class, 0.5 s in the queue at most,
`Retry-After: 1`); the baseline runs set `CREDITWATCH_ADMISSION_CONCURRENCY=0`. "acceptable" = answered within
{ANSWER_BAR_S:g} s with 200, or 429/503 with `Retry-After`.

{HEADER}
{rows}

Bars (issue 17): every request answered within {ANSWER_BAR_S:g} s (200, or 429/503 with Retry-After),
`/health` never fails, back to normal within {RECOVERY_BAR_S:g} s after.
{info.get("notes", "")}
"""


# ------------------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", help=f"a built home (default: {DEFAULT_HOME}, built with the demo if missing)")
    ap.add_argument("--entities", type=int, default=3000, help="entities of the demo city when building")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=100.0, help="requests per second")
    ap.add_argument("--concurrency", type=int, default=50, help="at most this many requests in flight")
    ap.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES), metavar="MODE")
    ap.add_argument(
        "--postgres",
        default=os.environ.get(
            "CREDITWATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL URL whose server gets the bench's own database",
    )
    ap.add_argument("--notes", default="", help="a paragraph appended to the docs section (or @FILE)")
    ap.add_argument("--no-write", action="store_true", help="print results, do not touch docs/benchmarks.md")
    args = ap.parse_args()
    home = Path(args.home) if args.home else DEFAULT_HOME
    ensure_home(home, entities=args.entities)
    usccs = scored_usccs(home)
    load_start = os.getloadavg()[0]
    runs: list[Run] = []
    pg_version = "not run"
    for backend in args.backends:
        if backend == "sqlite":
            where, url = home, f"sqlite:///{(home / 'creditwatch.db').resolve()}"
        else:
            where, url = postgres_home(home, args.postgres)
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            with engine.connect() as c:
                pg_version = str(c.execute(sa.text("SHOW server_version")).scalar()).split()[0]
            engine.dispose()
            pg_version = f"{pg_version} on 127.0.0.1 (database `{BENCH_DB}`)"
        for mode in args.modes:
            runs.append(one_run(backend, mode, where, url, usccs, args))
    notes = Path(args.notes[1:]).read_text(encoding="utf-8") if args.notes.startswith("@") else args.notes
    info = {
        "load": load_start,
        "load_end": os.getloadavg()[0],
        "entities": len(usccs),
        "requests": args.requests,
        "rate": args.rate,
        "concurrency": args.concurrency,
        "pg": pg_version,
        "notes": notes,
    }
    if not args.no_write:
        shown = [a for a in sys.argv[1:] if not a.startswith("--notes") and not a.startswith("@")]
        command = " ".join(["python -m bench overload", *shown])
        write_section(render(runs, command, info).rstrip() + "\n")


if __name__ == "__main__":
    main()
