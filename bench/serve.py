"""Serving benchmark: an open-loop load generator on ``creditwatch serve`` (one uvicorn worker), 127.0.0.1.

    python -m bench serve                   # builds var/bench-serve with the demo (20,000 entities) once
    python -m bench serve --home PATH       # a home that already has a champion and a score file
    python -m bench serve --no-write --seconds 10

Open loop: request i is due at ``start + i / rate``, whatever happened to the earlier ones, and its latency is
measured from that due time (not from when it was actually sent), so a server that falls behind shows its
queue in the percentiles instead of silently slowing the generator down (no coordinated omission). The
client is a small asyncio HTTP/1.1 client on keep-alive connections (opened as needed, up to
``--connections``): cheaper in CPU than httpx, which matters because the generator shares the two cores with
the server; its own CPU use is reported.

The server runs with ``CREDITWATCH_RATE_LIMIT_PER_MINUTE=0`` (the per-token limiter off: one token sends all
the load) and ``--log-level warning`` (no access log line per request). Every entity read is still audited.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import write_section

DEFAULT_HOME = Path("var/bench-serve")
LADDER = (100, 200, 300, 400, 500, 600, 800, 1000)
SCORE_BAR_MS, EXPLAIN_BAR_MS = 20.0, 100.0


# ------------------------------------------------------------------------------------------ pure parts
def schedule(rate: float, seconds: float) -> list[float]:
    """Due times (seconds from the start) of an open-loop run: evenly spaced at `rate` per second."""
    if rate <= 0 or seconds <= 0:
        raise ValueError(f"rate={rate}, seconds={seconds}: both must be > 0")
    return [i / rate for i in range(round(rate * seconds))]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of `values`; the max for q=100."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q={q}: must be within 0..100")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Outcome:
    """One request: when it was due, sent and finished (seconds since the start), and its result."""

    due: float
    sent: float
    done: float
    status: int | None  # None: no HTTP response (connection error, timeout)
    error: str | None = None

    @property
    def latency(self) -> float:
        return self.done - self.due


@dataclass
class RunStats:
    name: str
    rate: float
    seconds: float
    requests: int
    ok: int
    errors: int
    statuses: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    achieved_rate: float
    max_send_lag_ms: float
    generator_cpu: float = 0.0  # share of one core
    server_cpu: float = 0.0  # share of one core
    connections: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def passes(self, bar_ms: float) -> bool:
        return self.errors == 0 and self.p99_ms < bar_ms


def summarise(name: str, rate: float, seconds: float, outcomes: Sequence[Outcome]) -> RunStats:
    """Percentiles over every request (errors included: a failed request took its time too)."""
    lat = [o.latency * 1000 for o in outcomes]
    statuses: dict[str, int] = {}
    for o in outcomes:
        key = str(o.status) if o.status is not None else (o.error or "error")
        statuses[key] = statuses.get(key, 0) + 1
    ok = sum(1 for o in outcomes if o.status is not None and 200 <= o.status < 300)
    span = max((o.done for o in outcomes), default=0.0) - min((o.due for o in outcomes), default=0.0)
    return RunStats(
        name=name,
        rate=rate,
        seconds=seconds,
        requests=len(outcomes),
        ok=ok,
        errors=len(outcomes) - ok,
        statuses=dict(sorted(statuses.items())),
        p50_ms=percentile(lat, 50),
        p90_ms=percentile(lat, 90),
        p99_ms=percentile(lat, 99),
        max_ms=max(lat),
        achieved_rate=len(outcomes) / span if span > 0 else 0.0,
        max_send_lag_ms=max((o.sent - o.due) * 1000 for o in outcomes),
    )


def highest_sustainable(runs: Sequence[RunStats], bar_ms: float) -> float | None:
    """The highest rate of a ladder (ascending) that passes, with every lower rate passing too."""
    best = None
    for run in sorted(runs, key=lambda r: r.rate):
        if not run.passes(bar_ms):
            break
        best = run.rate
    return best


# ------------------------------------------------------------------------------------------ the client
class Pool:
    """Keep-alive HTTP/1.1 connections to one host: reused when idle, opened when none is (up to `limit`)."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.peak = 0
        self._free = asyncio.Condition()

    async def acquire(
        self, *, fresh: bool = False
    ) -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter], bool]:
        """(connection, reused): an idle one if any (unless `fresh`), else a new one once under the limit."""
        async with self._free:
            while (fresh or not self.idle) and self.opened >= self.limit:
                await self._free.wait()
            if self.idle and not fresh:
                return self.idle.pop(), True
            self.opened += 1
            self.peak = max(self.peak, self.opened)
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except BaseException:
            await self.discard(None)
            raise
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return (reader, writer), False

    async def release(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        async with self._free:
            self.idle.append(conn)
            self._free.notify()

    async def discard(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
        if conn is not None:
            conn[1].close()
        async with self._free:
            self.opened -= 1
            self._free.notify()

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


class StaleConnection(ConnectionError):
    """The connection was closed before any byte of the answer came back (safe to retry a GET)."""


async def http_get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str, headers: dict[str, str]
) -> tuple[int, bytes, bool]:
    """One GET on an open connection: (status, body, keep the connection); Content-Length or chunked
    bodies."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    try:
        status_line = await reader.readline()
    except ConnectionResetError as exc:
        raise StaleConnection("the server reset the connection before answering") from exc
    if not status_line:
        raise StaleConnection("the server closed the connection before answering")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ConnectionError(f"not an HTTP/1.x status line: {status_line[:60]!r}")
    status = int(parts[1])
    length, chunked, keep = None, False, True
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            keep = False
    if chunked:
        body = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                break
            body += await reader.readexactly(size)
            await reader.readline()
        return status, bytes(body), keep
    if length is None:
        return status, await reader.read(), False
    return status, await reader.readexactly(length), keep


async def open_loop(
    host: str,
    port: int | Sequence[int],
    paths: Callable[[int], str],
    *,
    rate: float,
    seconds: float,
    headers: dict[str, str],
    connections: int = 256,
    timeout: float = 10.0,
) -> tuple[list[Outcome], int]:
    """Send GET ``paths(i)`` at each due time of :func:`schedule`; wait for all; (outcomes, connections).

    Several ports (replicas): request *i* goes to ``ports[i % n]``, round robin as a reverse proxy's
    default upstream balancing does, each port with its own pool of `connections`."""
    due_times = schedule(rate, seconds)
    ports = [port] if isinstance(port, int) else list(port)
    pools = [Pool(host, p, connections) for p in ports]
    loop = asyncio.get_running_loop()
    outcomes: list[Outcome] = []

    async def one(i: int, due: float, start: float) -> None:
        sent = loop.time() - start
        pool = pools[i % len(pools)]
        host_header = f"{host}:{pool.port}"
        conn = None
        try:
            async with asyncio.timeout(timeout):
                conn, reused = await pool.acquire()
                try:
                    status, _, keep = await http_get(*conn, host_header, paths(i), headers)
                except StaleConnection:
                    if not reused:
                        raise
                    # The server closed an idle keep-alive connection just as it was reused (uvicorn closes
                    # them after 5 s idle): a GET is safe to send again, on a new connection.
                    await pool.discard(conn)
                    conn, _ = await pool.acquire(fresh=True)
                    status, _, keep = await http_get(*conn, host_header, paths(i), headers)
        except (OSError, ConnectionError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            outcomes.append(Outcome(due, sent, loop.time() - start, None, type(exc).__name__))
            await pool.discard(conn)
            return
        outcomes.append(Outcome(due, sent, loop.time() - start, status))
        if keep:
            await pool.release(conn)
        else:
            await pool.discard(conn)

    tasks = []
    start = loop.time()
    for i, due in enumerate(due_times):
        delay = start + due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, due, start)))
    await asyncio.gather(*tasks)
    for pool in pools:
        await pool.close()
    return sorted(outcomes, key=lambda o: o.due), sum(pool.peak for pool in pools)


# ------------------------------------------------------------------------------------------ the profiler
IDLE = {("threading.py", "wait"), ("queue.py", "get"), ("selectors.py", "select"), ("thread.py", "_worker")}
# Leaves where a thread blocks on a lock in C (no Python frame of its own): counted as waiting, not as busy.
WAITS = {("trail.py", "write"): "audit entry: waiting for the group commit (AuditWriter flush lock / result)"}


class Sampler:
    """A sampling profiler of every thread of this process (the handlers run in worker threads, which
    cProfile does not see): every `interval` s, each thread's stack is recorded unless it is idle (waiting
    for work)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.busy = 0
        self.inclusive: dict[str, int] = {}
        self.self_: dict[str, int] = {}
        self.waiting: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sampler")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            for tid, frame in sys._current_frames().items():
                if tid != me:
                    self.sample(frame)

    def sample(self, frame: Any) -> None:
        stack = []
        while frame is not None:
            code = frame.f_code
            stack.append((Path(code.co_filename).name, code.co_name, code.co_filename))
            frame = frame.f_back
        if not stack or (stack[0][0], stack[0][1]) in IDLE:
            return
        wait = WAITS.get((stack[0][0], stack[0][1]))
        if wait is not None:
            self.waiting[wait] = self.waiting.get(wait, 0) + 1
            return
        self.busy += 1
        leaf = f"{stack[0][2]}:{stack[0][1]}"
        self.self_[leaf] = self.self_.get(leaf, 0) + 1
        for key in {f"{path}:{name}" for _, name, path in stack}:
            self.inclusive[key] = self.inclusive.get(key, 0) + 1

    def report(self, top: int = 30) -> str:
        def short(key: str) -> str:
            path, _, name = key.rpartition(":")
            for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
                if marker in path:
                    path = path.split(marker, 1)[1]
            return f"{path}:{name}"

        busy = max(self.busy, 1)
        lines = [
            f"busy samples: {self.busy} (every {self.interval * 1000:g} ms, all threads, idle waits left out)"
        ]
        lines += [f"thread samples {what}: {n}" for what, n in self.waiting.items()]
        lines.append("inclusive % | self % | function")
        for key, n in sorted(self.inclusive.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"{100 * n / busy:5.1f} | {100 * self.self_.get(key, 0) / busy:5.1f} | {short(key)}")
        return "\n".join(lines) + "\n"


def profiled_server(out: Path, home: Path, port: int) -> None:
    """What ``creditwatch serve`` runs (one uvicorn worker), with the :class:`Sampler` on; report at exit."""
    import uvicorn

    from serving.api.app import create_app
    from serving.settings import load_settings

    sampler = Sampler()
    sampler.start()
    try:
        app = create_app(load_settings(home=home))
        uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning")
    finally:
        sampler.stop()
        out.write_text(sampler.report(), encoding="utf-8")


# ------------------------------------------------------------------------------------------ the server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _creditwatch() -> list[str]:
    script = Path(sys.executable).with_name("creditwatch")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from serving.cli import main; sys.exit(main())"]


@contextmanager
def server(
    home: Path, *, port: int, profile: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``creditwatch serve`` on 127.0.0.1:`port` (one worker, limiter off unless `env` says otherwise),
    stopped with SIGINT at the end; with `profile`, the same app under the bench's sampling profiler instead
    (report written to `profile`)."""
    env = {**os.environ, "CREDITWATCH_RATE_LIMIT_PER_MINUTE": "0", **(env or {})}
    cmd = [
        *_creditwatch(),
        "--home",
        str(home),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    if profile is not None:
        cmd = [sys.executable, "-m", "bench.serve", "_profiled-server", str(profile), str(home), str(port)]
    with running(cmd, env, port) as proc:
        yield proc


@contextmanager
def running(cmd: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Start `cmd` (a server on 127.0.0.1:`port`), wait until ``/health/ready`` answers (the database too),
    and stop it with SIGINT at the end (killed after 60 s)."""
    proc = subprocess.Popen(cmd, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode} before it answered")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /health/ready within 120 s")
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _cpu_seconds(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def measure(
    name: str,
    pid: int | Sequence[int],
    port: int | Sequence[int],
    paths: Callable[[int], str],
    *,
    rate: float,
    seconds: float,
    headers: dict[str, str],
    connections: int,
) -> RunStats:
    """One open-loop run; the server CPU is the sum over the server processes `pid` (replicas)."""
    pids = [pid] if isinstance(pid, int) else list(pid)

    def server_seconds() -> float:
        return sum(_cpu_seconds(p) for p in pids)

    cpu0, srv0, wall0 = time.process_time(), server_seconds(), time.perf_counter()
    outcomes, peak = asyncio.run(
        open_loop(
            "127.0.0.1", port, paths, rate=rate, seconds=seconds, headers=headers, connections=connections
        )
    )
    wall = time.perf_counter() - wall0
    stats = summarise(name, rate, seconds, outcomes)
    stats.generator_cpu = (time.process_time() - cpu0) / wall
    stats.server_cpu = (server_seconds() - srv0) / wall
    stats.connections = peak
    print(
        f"{name} @ {rate:g}/s × {seconds:g} s: {stats.requests} requests, {stats.errors} errors "
        f"{stats.statuses}, p50 {stats.p50_ms:.1f} ms, p90 {stats.p90_ms:.1f} ms, p99 {stats.p99_ms:.1f} ms, "
        f"max {stats.max_ms:.1f} ms; "
        f"generator CPU {stats.generator_cpu:.0%}, server CPU {stats.server_cpu:.0%}, {peak} connections",
        flush=True,
    )
    return stats


# ------------------------------------------------------------------------------------------ the city
def ensure_home(home: Path, *, entities: int) -> None:
    """A home with a champion and a score file: reuse it, or build it with ``creditwatch demo --no-serve``."""
    if any((home / "scores").glob("as_of=*.parquet")) and (home / "mlflow.db").exists():
        return
    print(f"building {home} with `creditwatch demo --entities {entities} --no-serve` (several minutes)")
    cmd = [*_creditwatch(), "--home", str(home), "demo", "--entities", str(entities), "--no-serve"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def bench_token(home: Path, database_url: str | None = None) -> str:
    """A fresh supervisor token (a reader of scores and explanations) in the home's database (or in
    `database_url`'s, migrated to head first)."""
    from serving.settings import load_settings
    from supervision.platform import access
    from supervision.platform.access import Role
    from supervision.platform.db import make_engine, session_scope, upgrade

    engine = make_engine(load_settings(home=home, database_url=database_url).db_url)
    try:
        if database_url is not None:
            upgrade(engine)
        with session_scope(engine) as s:
            return access.create_token(s, name="bench-serve", role=Role.SUPERVISOR).token
    finally:
        engine.dispose()


def scored_usccs(home: Path) -> list[str]:
    import polars as pl

    from serving.services.current_score import score_files

    files = score_files(home)
    if not files:
        raise SystemExit(f"{home} has no score file (scores/as_of=DATE.parquet): run `creditwatch score`")
    return sorted(pl.read_parquet(files[-1][1], columns=["uscc"])["uscc"].to_list())


# ------------------------------------------------------------------------------------------ the report
def _row(s: RunStats) -> str:
    return (
        f"| {s.name} | {s.rate:g}/s × {s.seconds:g} s | {s.requests:,} | {s.errors} | {s.p50_ms:.1f} | "
        f"{s.p90_ms:.1f} | {s.p99_ms:.1f} | {s.max_ms:.1f} | {s.generator_cpu:.0%} | {s.server_cpu:.0%} |"
    )


def render(r: dict[str, Any], command: str) -> str:
    score, explain, ladder = r["score"], r["explain"], r["ladder"]
    best = highest_sustainable(ladder, SCORE_BAR_MS)
    failed = next((s for s in sorted(ladder, key=lambda s: s.rate) if not s.passes(SCORE_BAR_MS)), None)
    verdict = (
        f"**{best:g} requests/s** (the highest rung with p99 < {SCORE_BAR_MS:g} ms and no errors"
        + (
            f"; the next rung, {failed.rate:g}/s, had p99 {failed.p99_ms:.1f} ms and {failed.errors} errors)"
            if failed
            else "; every rung passed)"
        )
        if best is not None
        else f"none: the first rung ({ladder[0].rate:g}/s) missed the bar"
    )
    rows = "\n".join(_row(s) for s in [score, *ladder, explain])
    score_met = "met" if score.passes(SCORE_BAR_MS) else "missed"
    explain_met = "met" if explain.passes(EXPLAIN_BAR_MS) else "missed"
    return f"""## Serving

Command: `{command}` — machine: {platform.machine()}, 2 vCPU, 24 GB RAM, Python {platform.python_version()}
(shared with other jobs: load average {r["load"]:.1f} at the start of this run, {r["load_end"]:.1f} at its
end). Home: {r["home_note"]}.
Server: `creditwatch serve` (uvicorn, one worker) on 127.0.0.1 with `CREDITWATCH_RATE_LIMIT_PER_MINUTE=0`
(the per-token limiter off: one supervisor token sends all the load) and `--log-level warning` (no access
log); every entity read is audited as in production (SQLite, group commit). Load: bench/serve.py, an
open-loop asyncio HTTP/1.1 client in a separate process on keep-alive connections (opened as needed, at most
{r["connections"]}); request *i* is due at start + *i*/rate and its latency runs from that due time, so
queueing shows. Entities drawn at random (seeded) from the {r["entities"]:,} scored. CPU columns: share of
one core over the run, the generator's own process and the server's. A request with no answer within 10 s
is an error (`TimeoutError`) and counts 10 s in the percentiles.

| run | rate × duration | requests | errors | p50 ms | p90 ms | p99 ms | max ms | generator CPU | server CPU |
|---|---|---|---|---|---|---|---|---|---|
{rows}

Bars (issue 7): stored score p99 < {SCORE_BAR_MS:g} ms at 200 requests/s — **{score_met}**
(p99 {score.p99_ms:.1f} ms); explanation p99 < {EXPLAIN_BAR_MS:g} ms at 20 requests/s —
**{explain_met}** (p99 {explain.p99_ms:.1f} ms).
Highest sustainable rate for the stored score (ladder {", ".join(f"{s.rate:g}" for s in ladder)}/s,
{ladder[0].seconds:g} s each, stopping at the first rung that fails): {verdict}.
{r.get("notes", "")}
"""


# ------------------------------------------------------------------------------------------ replicas
def linked_home(home: Path) -> Path:
    """A home beside `home` for a run on another database: its own audit checkpoint file (the other
    database's chain is another chain), the score and feature files linked from `home`."""
    other = home.parent / f"{home.name}-replicas"
    other.mkdir(exist_ok=True)
    for name in ("scores", "features"):
        link = other / name
        if not link.exists():
            link.symlink_to((home / name).resolve(), target_is_directory=True)
    return other


@contextmanager
def replica_servers(
    home: Path, n: int, env: dict[str, str]
) -> Iterator[tuple[list[subprocess.Popen[bytes]], list[int]]]:
    """`n` ``creditwatch serve`` processes on their own ports, one database (`env`); stopped at the end."""
    ports = [free_port() for _ in range(n)]
    with contextlib.ExitStack() as stack:
        procs = [stack.enter_context(server(home, port=port, env=env)) for port in ports]
        yield procs, ports


def run_replicas(args: argparse.Namespace) -> dict[str, Any]:
    """The stored-score ladder with 1, 2, … replicas on one database (PostgreSQL), every read audited."""
    home = Path(args.home) if args.home else DEFAULT_HOME
    ensure_home(home, entities=args.entities)
    usccs = scored_usccs(home)
    served = linked_home(home)
    env = {
        "CREDITWATCH_DATABASE_URL": args.database_url,
        "CREDITWATCH_MLFLOW_TRACKING_URI": f"sqlite:///{(home / 'mlflow.db').resolve()}",
    }
    if args.rate_limit_store == "database":
        # The database store on, at a rate the load never reaches: every request pays its UPSERT.
        env |= {
            "CREDITWATCH_RATE_LIMIT_STORE": "database",
            "CREDITWATCH_RATE_LIMIT_PER_MINUTE": "100000000",
            "CREDITWATCH_RATE_LIMIT_BURST": "1000000",
        }
    token = bench_token(served, args.database_url)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    rng = random.Random(args.seed)
    picks = [rng.choice(usccs) for _ in range(200_000)]

    def score_path(i: int) -> str:
        return f"/entities/{picks[i % len(picks)]}/score"

    load = os.getloadavg()[0]
    ladders: dict[int, list[RunStats]] = {}
    for n in args.replicas:
        with replica_servers(served, n, env) as (procs, ports):
            pids = [p.pid for p in procs]
            kw = {"headers": headers, "connections": args.connections}
            measure(f"warm-up, {n} replica(s)", pids, ports, score_path, rate=50, seconds=3, **kw)
            ladder: list[RunStats] = []
            for rate in args.ladder:
                step = measure(
                    f"{n} replica(s)", pids, ports, score_path, rate=rate, seconds=args.step_seconds, **kw
                )
                ladder.append(step)
                if not step.passes(SCORE_BAR_MS):
                    break
            ladders[n] = ladder
    return {
        "load": load,
        "load_end": os.getloadavg()[0],
        "home_note": args.home_note or f"`{home}`",
        "entities": len(usccs),
        "connections": args.connections,
        "ladders": ladders,
        "store": args.rate_limit_store,
    }


def render_replicas(r: dict[str, Any], command: str) -> str:
    rows, verdicts = [], []
    for n, ladder in r["ladders"].items():
        rows += [_row(s) for s in ladder]
        best = highest_sustainable(ladder, SCORE_BAR_MS)
        verdicts.append(f"{n} replica(s): " + (f"**{best:g}/s**" if best is not None else "none"))
    limiter = (
        "the database rate-limit store on (`CREDITWATCH_RATE_LIMIT_STORE=database`, at a rate the load never "
        "reaches, so every request pays its UPSERT on the one token's bucket)"
        if r["store"] == "database"
        else "`CREDITWATCH_RATE_LIMIT_PER_MINUTE=0` (the limiter off)"
    )
    return f"""## Serving replicas

Command: `{command}` — machine: {platform.machine()}, 2 vCPU, Python {platform.python_version()}
(shared with other jobs: load average {r["load"]:.1f} at the start, {r["load_end"]:.1f} at the end).
Home: {r["home_note"]}.
Servers: N `creditwatch serve` processes (one uvicorn worker each) on 127.0.0.1, one PostgreSQL database
(every read audited: one hash chain, the replicas' group commits serialised on its head row), {limiter}.
Load: the open-loop client of "Serving" sending request *i* to replica *i* mod N (round robin, as a
reverse proxy's default), latency from the due time; entities drawn at random (seeded) from the
{r["entities"]:,} scored. Each rung {next(iter(r["ladders"].values()))[0].seconds:g} s, stopping at the
first that misses p99 < {SCORE_BAR_MS:g} ms or has an error. Server CPU: the sum over the replicas, in
shares of one core.

| run | rate × duration | requests | errors | p50 ms | p90 ms | p99 ms | max ms | generator CPU | server CPU |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Highest rate with stored-score p99 < {SCORE_BAR_MS:g} ms: {"; ".join(verdicts)}.

{r.get("notes", "")}
"""


# ------------------------------------------------------------------------------------------ main
def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(args.home) if args.home else DEFAULT_HOME
    ensure_home(home, entities=args.entities)
    usccs = scored_usccs(home)
    headers = {"Authorization": f"Bearer {bench_token(home)}", "Accept": "application/json"}
    rng = random.Random(args.seed)
    picks = [rng.choice(usccs) for _ in range(200_000)]

    def score_path(i: int) -> str:
        return f"/entities/{picks[i % len(picks)]}/score"

    def explain_path(i: int) -> str:
        return f"/entities/{picks[-1 - i % len(picks)]}/explanation"

    port = free_port()
    load = os.getloadavg()[0]
    profile = Path(args.profile) if args.profile else None
    with server(home, port=port, profile=profile) as proc:
        kw = {"headers": headers, "connections": args.connections}
        # Warm-up (not reported): the score file is read and indexed, the model's first explanation is paid.
        measure("warm-up score", proc.pid, port, score_path, rate=50, seconds=3, **kw)
        measure("warm-up explanation", proc.pid, port, explain_path, rate=2, seconds=2, **kw)
        if args.only == "explanation":
            explain = measure(
                "explanation",
                proc.pid,
                port,
                explain_path,
                rate=args.explain_rate,
                seconds=args.seconds,
                **kw,
            )
            return {"explain": explain}
        score = measure(
            "stored score", proc.pid, port, score_path, rate=args.rate, seconds=args.seconds, **kw
        )
        if args.only == "score":
            return {"score": score}
        ladder: list[RunStats] = []
        for rate in args.ladder:
            step = measure(
                "stored score (ladder)",
                proc.pid,
                port,
                score_path,
                rate=rate,
                seconds=args.step_seconds,
                **kw,
            )
            ladder.append(step)
            if not step.passes(SCORE_BAR_MS):
                break
        explain = measure(
            "explanation", proc.pid, port, explain_path, rate=args.explain_rate, seconds=args.seconds, **kw
        )
    return {
        "load": load,
        "load_end": os.getloadavg()[0],
        "home_note": args.home_note or f"`{home}`",
        "entities": len(usccs),
        "connections": args.connections,
        "score": score,
        "ladder": ladder,
        "explain": explain,
    }


def main() -> None:
    if sys.argv[1:2] == ["_profiled-server"]:
        out, home, port = sys.argv[2:5]
        profiled_server(Path(out), Path(home), int(port))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", help=f"a built home (default: {DEFAULT_HOME}, built with the demo if missing)")
    ap.add_argument("--entities", type=int, default=20_000, help="entities of the demo city when building")
    ap.add_argument("--rate", type=float, default=200.0, help="stored-score rate (requests/s)")
    ap.add_argument("--seconds", type=float, default=25.0, help="duration of the score and explanation runs")
    ap.add_argument("--ladder", type=float, nargs="+", default=list(LADDER), help="rates of the ladder")
    ap.add_argument("--step-seconds", type=float, default=10.0, help="duration of each ladder rung")
    ap.add_argument("--explain-rate", type=float, default=20.0, help="explanation rate (requests/s)")
    ap.add_argument("--connections", type=int, default=256, help="at most this many keep-alive connections")
    ap.add_argument("--seed", type=int, default=0, help="seed of the entities' order")
    ap.add_argument("--profile", help="run the server under the sampling profiler; write its report here")
    ap.add_argument("--only", choices=["score", "explanation"], help="one run only (with --profile); no docs")
    ap.add_argument(
        "--replicas",
        type=int,
        nargs="+",
        help="run the stored-score ladder with each of these numbers of replicas on --database-url instead",
    )
    ap.add_argument("--database-url", help="the replicas' database (PostgreSQL; migrated to head first)")
    ap.add_argument(
        "--rate-limit-store",
        choices=["off", "database"],
        default="off",
        help="replicas: the limiter off, or the database store on at a rate never reached",
    )
    ap.add_argument("--home-note", help=argparse.SUPPRESS)
    ap.add_argument("--notes", default="", help="a paragraph appended to the docs section (or @FILE)")
    ap.add_argument("--no-write", action="store_true", help="print results, do not touch docs/benchmarks.md")
    args = ap.parse_args()
    if args.replicas:
        if not args.database_url:
            ap.error("--replicas needs --database-url (one database the replicas share, e.g. PostgreSQL)")
        if any(n < 1 for n in args.replicas):
            ap.error(f"--replicas {args.replicas}: each must be >= 1")
        r = run_replicas(args)
        r["notes"] = (
            Path(args.notes[1:]).read_text(encoding="utf-8") if args.notes.startswith("@") else args.notes
        )
        section = render_replicas(r, "python -m bench serve " + _shown(sys.argv[1:])).rstrip() + "\n"
        if args.no_write:
            print(section)
        else:
            write_section(section)
        return
    r = run(args)
    r["notes"] = (
        Path(args.notes[1:]).read_text(encoding="utf-8") if args.notes.startswith("@") else args.notes
    )
    if args.profile:
        print(Path(args.profile).read_text(encoding="utf-8"))
    if not args.no_write and not args.only:
        write_section(render(r, "python -m bench serve " + _shown(sys.argv[1:])).rstrip() + "\n")


def _shown(argv: list[str]) -> str:
    """The command as run, without the prose options (and without a password in a database URL)."""
    shown, skip = [], False
    for a in argv:
        if skip or a in ("--notes", "--home-note"):
            skip = not skip and a in ("--notes", "--home-note")
            continue
        shown.append(_no_password(a))
    return " ".join(shown)


def _no_password(arg: str) -> str:
    if "://" not in arg or "@" not in arg:
        return arg
    scheme, rest = arg.split("://", 1)
    credentials, at, host = rest.partition("@")
    return f"{scheme}://{credentials.split(':', 1)[0]}{at}{host}"


if __name__ == "__main__":
    main()
