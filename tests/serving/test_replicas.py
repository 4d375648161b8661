"""Several API replicas on one database (issue 16): the rate limits' database store shared by every process
(N replicas allow the configured rate, not N times it; a store that fails limits per process, never
unlimited), and — with real ``creditwatch serve`` processes on one PostgreSQL database, one home and one
MLflow store — a promotion made through one replica served by every replica, one unbroken audit chain under
concurrent writers from several processes (``creditwatch audit verify``), and a token's rate held across
replicas with ``Retry-After`` on the 429s."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from bench.serve import _no_password, free_port, open_loop
from serving.api.limits import DatabaseBuckets, RateLimiter
from serving.champion import ServingChampion
from serving.settings import load_settings
from supervision.platform import audit, buckets, checkpoints
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.serving.api_city import issue
from tests.supervision.databases import backend_params, fresh_database_url
from training.registry import Registry

REPLICAS = 2
READ = "/restrictions"  # an audited read (restrictions.catalog) that needs no city
ACTION = "restrictions.catalog"
SYSTEM_PER_MINUTE, SYSTEM_BURST = 1, 3  # the system tokens' rate in the replicas: one a minute, three at once
PROXY = "127.0.0.1"  # where nginx connects to the replicas from: their trusted proxy
CLIENT = "127.0.0.7"  # where the tests' clients connect to nginx from: the address the replicas must record


# ------------------------------------------------------------------------------ the store, in one process
@pytest.fixture(params=backend_params())
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database_url(request.param, tmp_path) as found:
        engine = make_engine(found)
        upgrade(engine)
        engine.dispose()
        yield found


def _replica_limiters(url: str, n: int, *, per_minute: int, burst: int) -> list[RateLimiter]:
    """`n` limiters as `n` replicas hold them: each its own engine (pool) on the one database."""
    return [
        RateLimiter(per_minute=per_minute, burst=burst, store=DatabaseBuckets(make_engine(url)))
        for _ in range(n)
    ]


def _dispose(limiters: list[RateLimiter]) -> None:
    for limiter in limiters:
        store = limiter.store
        assert isinstance(store, DatabaseBuckets) and store.engine is not None
        store.engine.dispose()


def test_replicas_share_one_bucket_per_key(url: str) -> None:
    first, second = limiters = _replica_limiters(url, 2, per_minute=1, burst=3)
    try:
        # Three at once between them, whichever replica is asked; then both refuse with the wait.
        assert [first.acquire("token:1"), second.acquire("token:1"), first.acquire("token:1")] == [None] * 3
        waits = [second.acquire("token:1"), first.acquire("token:1")]
        assert all(w is not None and 1 <= w <= 60 for w in waits), waits
        # Another key, and the same key under another limiter's name, have buckets of their own.
        assert second.acquire("token:2") is None
        system = first.derived(per_minute=1, burst=1, name="system")
        assert system.acquire("token:1") is None and system.acquire("token:1") is not None
        # The in-process store would have let each replica allow its own three.
        memory = [RateLimiter(per_minute=1, burst=3) for _ in range(2)]
        assert sum(m.acquire("token:1") is None for m in memory for _ in range(3)) == 6
    finally:
        _dispose(limiters)


def test_concurrent_requests_of_several_replicas_take_each_token_once(url: str) -> None:
    # Threads of two "replicas" hammer one key: exactly `burst` requests are allowed in all (the refill of
    # one token a minute cannot add one within the test unless it runs for a minute).
    limiters = _replica_limiters(url, 2, per_minute=1, burst=10)
    allowed: list[bool] = []
    lock = threading.Lock()
    started = time.monotonic()

    def hammer(limiter: RateLimiter) -> None:
        for _ in range(15):
            verdict = limiter.acquire("token:7") is None
            with lock:
                allowed.append(verdict)

    try:
        threads = [threading.Thread(target=hammer, args=(limiters[i % 2],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        _dispose(limiters)
    refilled = int((time.monotonic() - started) / 60)
    assert len(allowed) == 60
    assert 10 <= sum(allowed) <= 10 + refilled


def test_full_buckets_are_pruned(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert buckets.take(connection, "api|a", rate=1.0, burst=2).allowed
            assert buckets.take(connection, "system|a", rate=1.0, burst=2).allowed
            connection.commit()
        with engine.connect() as connection:
            assert buckets.prune(connection, "api|", horizon=3600.0) == 0  # touched just now: kept
            assert buckets.prune(connection, "api|", horizon=-3600.0) == 1  # as an hour later
            connection.commit()
            left = connection.scalars(sa.select(buckets.RateBucket.key)).all()
        assert left == ["system|a"]
        with pytest.raises(ValueError, match="wildcards"), engine.connect() as connection:
            buckets.prune(connection, "api%", horizon=1.0)
    finally:
        engine.dispose()


def test_a_store_that_cannot_answer_limits_per_process_and_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A database that is not there (no table): every request fails in the store; the process's own bucket
    # still refuses past the burst — never unlimited — and each failure is counted, the first one logged.
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    store = DatabaseBuckets(engine)
    limiter = RateLimiter(per_minute=1, burst=2, store=store)
    try:
        verdicts = [limiter.acquire("token:1") for _ in range(4)]
    finally:
        engine.dispose()
    assert verdicts[:2] == [None, None] and all(v is not None and v >= 1 for v in verdicts[2:])
    assert store.failures == 4
    logged = [r.getMessage() for r in caplog.records if "rate-limit store unavailable" in r.getMessage()]
    assert len(logged) == 1 and "limited by this process alone" in logged[0]
    with pytest.raises(ValueError, match="limiter name"):
        DatabaseBuckets(name="a_b")


# ------------------------------------------------------------------------------ the benchmark's client
def test_the_load_generator_sends_round_robin_to_the_replicas() -> None:
    # bench/serve.py --replicas: request i goes to replica i mod N, as a reverse proxy's round robin.
    received: Counter[int] = Counter()

    def counting(name: int) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
                return
            received[name] += 1
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})

        return app

    ports = [free_port(), free_port()]
    servers = [
        uvicorn.Server(uvicorn.Config(counting(i), host="127.0.0.1", port=port, log_level="warning"))
        for i, port in enumerate(ports)
    ]
    threads = [threading.Thread(target=server.run, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    try:
        assert _until(lambda: all(server.started for server in servers), 10)
        outcomes, peak = asyncio.run(
            open_loop("127.0.0.1", ports, lambda i: f"/{i}", rate=100, seconds=0.4, headers={}, connections=2)
        )
    finally:
        for server in servers:
            server.should_exit = True
        for thread in threads:
            thread.join(10)
    assert [o.status for o in outcomes] == [200] * 40
    assert received == {0: 20, 1: 20}
    assert 2 <= peak <= 4
    assert _no_password("postgresql+psycopg://cw:secret@db:5432/x") == "postgresql+psycopg://cw@db:5432/x"


# ------------------------------------------------------------------------------ real replicas on PostgreSQL
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _creditwatch() -> str:
    return str(Path(sys.executable).with_name("creditwatch"))


def _register_two_versions(home: Path) -> None:
    """A small RiskModel registered twice in the home's MLflow store (version 2: the same artifact under a
    new version number, which is all a swap looks at); version 1 the champion."""
    import mlflow

    from models.risk_model import log_model
    from tests.models.factories import labelled_frame
    from tests.models.test_mlflow_artifact import _model
    from training.registry import MODEL_NAME, Registry, tracking

    uri = f"sqlite:///{home / 'mlflow.db'}"
    with tracking(uri):
        experiment = mlflow.create_experiment("replicas", artifact_location=(home / "mlartifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            info = log_model(_model(), example=labelled_frame(20, seed=4), registered_model_name=MODEL_NAME)
        # Inside tracking(): MLflow resolves a `models:/` source through the global tracking URI.
        registry = Registry(uri)
        first = registry.client.get_model_version(MODEL_NAME, str(info.registered_model_version))
        registry.client.create_model_version(MODEL_NAME, str(first.source), run_id=run.info.run_id)
        registry.promote("1", who="test", why="first model", force=True)


@dataclass
class Replicas:
    home: Path
    url: str
    engine: sa.Engine
    bases: list[str]
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [_creditwatch(), "--home", str(self.home), "--json", *args]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300)


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the replica at {base} exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the replica at {base} did not answer /health/ready within 120 s")


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    """`REPLICAS` ``creditwatch serve`` processes on one PostgreSQL database, one home (the audit checkpoint
    file, the MLflow store), the database rate-limit store, the champion looked at every second."""
    home = tmp_path_factory.mktemp("replicas")
    with fresh_database_url("postgresql", home) as url, _disposing(make_engine(url)) as engine:
        upgrade(engine)
        _register_two_versions(home)
        env = {
            **os.environ,
            "CREDITWATCH_DATABASE_URL": url,
            "CREDITWATCH_RATE_LIMIT_STORE": "database",
            "CREDITWATCH_RATE_LIMIT_SYSTEM_PER_MINUTE": str(SYSTEM_PER_MINUTE),
            "CREDITWATCH_RATE_LIMIT_SYSTEM_BURST": str(SYSTEM_BURST),
            "CREDITWATCH_CHAMPION_CHECK_SECONDS": "1",
            # Admission control off: on a loaded machine a queued read past its wait is shed (503), which is
            # the admission rule's business (tests/serving/test_admission.py), not the replicas'.
            "CREDITWATCH_ADMISSION_CONCURRENCY": "0",
            # The documented nginx (the tests at the end) connects from 127.0.0.1, as the docs' proxy is
            # trusted; the other tests send no X-Forwarded-For, so their address stays the connection's.
            "CREDITWATCH_TRUSTED_PROXIES": json.dumps([PROXY]),
        }
        ports = [_free_port() for _ in range(REPLICAS)]
        servers = [
            subprocess.Popen(
                [_creditwatch(), "--home", str(home), "serve", "--port", str(port), "--log-level", "warning"],
                env=env,
            )
            for port in ports
        ]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            for base, server in zip(bases, servers, strict=True):
                _wait_ready(base, server)
            yield Replicas(home, url, engine, bases, env)
        finally:
            for server in servers:
                if server.poll() is None:
                    server.send_signal(signal.SIGINT)
            for server in servers:
                try:
                    server.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


@contextmanager
def _disposing(engine: sa.Engine) -> Iterator[sa.Engine]:
    """The engine, disposed however the block ends (a failed setup leaves no open connection behind)."""
    try:
        yield engine
    finally:
        engine.dispose()


def _serving(base: str, header: dict[str, str]) -> str | None:
    r = httpx.get(f"{base}/models/champion", headers=header, timeout=30)
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    return None if version is None else str(version)


def _registry(replicas: Replicas) -> Registry:
    return Registry(f"sqlite:///{replicas.home / 'mlflow.db'}")


def _until(check: Callable[[], bool], seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.slow
@pytest.mark.postgres
def test_a_promotion_through_one_replica_is_served_by_every_replica(replicas: Replicas) -> None:
    analyst = issue(replicas.engine, Role.ANALYST, name="promoter")
    reader = issue(replicas.engine, Role.SUPERVISOR, name="champion-reader")
    old = _registry(replicas).champion()
    new = {"1": "2", "2": "1"}[str(old)]
    assert _until(lambda: [_serving(base, reader) for base in replicas.bases] == [old] * REPLICAS)
    promoted = httpx.post(
        f"{replicas.bases[0]}/models/{new}/promote",
        headers=analyst,
        json={"why": "retrained", "force": True},
        timeout=120,
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["serving"] == new  # the replica that moved the alias serves it at once
    # The others follow within the check interval (1 s here) plus the model's load.
    seen: dict[str, str | None] = {}

    def everywhere() -> bool:
        seen.update({base: _serving(base, reader) for base in replicas.bases})
        return set(seen.values()) == {new}

    assert _until(everywhere), seen


@pytest.mark.slow
@pytest.mark.postgres
def test_a_replica_follows_the_alias_without_any_request(replicas: Replicas) -> None:
    # As a replica that serves no request using the model: nothing reads `current`, the follower alone
    # swaps. (A read's own due check would answer its first request with the old model.)
    registry = _registry(replicas)
    old = str(registry.champion())
    new = {"1": "2", "2": "1"}[old]
    holder = ServingChampion(registry.uri, check_seconds=0.2)
    assert holder.load_initial().version == old
    holder.follow()
    try:
        registry.promote(new, who="cli:test", why="as `creditwatch models promote` does", force=True)
        assert _until(lambda: holder.snapshot is not None and holder.snapshot.version == new)
        assert holder.last_error is None
    finally:
        holder.stop_following()
    assert holder._follower is None


@pytest.mark.slow
@pytest.mark.postgres
def test_the_audit_chain_stays_whole_under_writers_in_several_processes(replicas: Replicas) -> None:
    readers = {f"reader{i}": issue(replicas.engine, Role.SUPERVISOR, name=f"reader{i}") for i in range(8)}
    with session_scope(replicas.engine) as session:
        before = session.scalar(sa.select(sa.func.count()).select_from(audit.AuditEntry)) or 0
    answered: Counter[int] = Counter()
    written_here = 0
    lock = threading.Lock()

    def read(name: str, base: str) -> None:
        with httpx.Client(base_url=base, headers=readers[name], timeout=60) as client:
            for _ in range(20):
                status = client.get(READ).status_code
                with lock:
                    answered[status] += 1

    # A third writer in another process (this one), as the CLI appends: its own transactions, each signed
    # into the home's checkpoint file after its commit.
    cli = make_engine(replicas.url)
    checkpoints.attach(cli, load_settings(home=replicas.home).audit_checkpoints())

    def append_here(stop: threading.Event) -> None:
        nonlocal written_here
        while not stop.is_set():
            with session_scope(cli) as session:
                audit.append(session, actor="cli:test", action="test.append", source="cli")
            written_here += 1

    stop = threading.Event()
    writer = threading.Thread(target=append_here, args=(stop,))
    threads = [
        threading.Thread(target=read, args=(name, replicas.bases[i % REPLICAS]))
        for i, name in enumerate(readers)
    ]
    writer.start()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        writer.join()
        cli.dispose()
    assert answered == {200: 20 * len(readers)}, answered
    assert written_here > 0

    verified = replicas.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    verdict = json.loads(verified.stdout)
    assert verdict["ok"] and verdict["reason"] is None
    # Every answered read has its entry, and nothing else was written in the meantime.
    assert verdict["entries"] == before + answered[200] + written_here
    with session_scope(replicas.engine) as session:
        actions = Counter(
            session.scalars(sa.select(audit.AuditEntry.action).where(audit.AuditEntry.id > before)).all()
        )
    actions.pop("audit.verify", None)  # the verification's own entry, written after it counted
    assert actions == {ACTION: answered[200], "test.append": written_here}


@pytest.mark.slow
@pytest.mark.postgres
def test_a_token_rate_holds_across_replicas(replicas: Replicas) -> None:
    system = issue(replicas.engine, Role.SYSTEM, name="other-system")
    started = time.monotonic()
    answers = [
        httpx.get(f"{replicas.bases[i % REPLICAS]}/models/champion", headers=system, timeout=30)
        for i in range(4 * SYSTEM_BURST)
    ]
    elapsed = time.monotonic() - started
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {200, 429}, statuses
    # The burst, plus what one token a minute refilled meanwhile — not the burst once per replica.
    assert SYSTEM_BURST <= statuses[200] <= SYSTEM_BURST + int(elapsed * SYSTEM_PER_MINUTE / 60)
    refused = [r for r in answers if r.status_code == 429]
    assert refused and all(1 <= int(r.headers["Retry-After"]) <= 60 for r in refused)
    assert {r.json()["error"]["type"] for r in refused} == {"rate_limited"}
    # Each replica refused some: the bucket they share was empty for both.
    assert {str(r.request.url).rsplit("/models", 1)[0] for r in refused} == set(replicas.bases)


# ------------------------------------------------------------------------------ behind the documented nginx
NGINX = "/usr/sbin/nginx"  # Debian's (apt-get install nginx; .ci/run installs it)
REQUIRE_NGINX_ENV = "CREDITWATCH_REQUIRE_NGINX"
OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
_UPSTREAM_SERVER = re.compile(r"(\s*)server\s+\S+:\d+([^;]*);\s*(#.*)?")
_LISTEN_TLS = re.compile(r"(\s*)listen\s+443\s+ssl;\s*(#.*)?")


def _nginx() -> str:
    """The nginx binary; a skip when it is missing (a failure under ``CREDITWATCH_REQUIRE_NGINX=1``: CI)."""
    found = shutil.which("nginx") or (NGINX if os.access(NGINX, os.X_OK) else None)
    if found is None:
        if os.environ.get(REQUIRE_NGINX_ENV) == "1":
            pytest.fail(f"nginx is missing ({REQUIRE_NGINX_ENV}=1): .ci/run installs it", pytrace=False)
        pytest.skip("nginx is not installed (apt-get install nginx); CI runs the documented reverse proxy")
    return found


def _documented_nginx() -> str:
    """The ```nginx block of docs/operations.md ("Replicas and the cluster"), as written."""
    blocks = re.findall(r"^```nginx\n(.*?)^```$", OPERATIONS.read_text(encoding="utf-8"), flags=re.M | re.S)
    assert len(blocks) == 1, f"{len(blocks)} ```nginx blocks in {OPERATIONS}"
    return str(blocks[0])


def _for_this_machine(block: str, servers: list[str], port: int) -> str:
    """The documented block with only what a test machine must change: the upstream's servers are `servers`
    (with the documented parameters), and it listens on 127.0.0.1:`port` in plain HTTP (no certificate)."""
    given = block.splitlines()
    documented = {i: m for i, line in enumerate(given) if (m := _UPSTREAM_SERVER.fullmatch(line))}
    assert documented, "no `server host:port ...;` line in the documented upstream"
    assert len({m.group(2) for m in documented.values()}) == 1, "the documented servers differ in parameters"
    first = min(documented)
    indent, params = documented[first].group(1), documented[first].group(2)
    lines: list[str] = []
    listens = 0
    for i, line in enumerate(given):
        if i == first:
            lines += [f"{indent}server {server}{params};" for server in servers]
        elif i in documented or re.match(r"\s*ssl_", line):
            continue
        elif found := _LISTEN_TLS.fullmatch(line):
            lines.append(f"{found.group(1)}listen {PROXY}:{port};")
            listens += 1
        else:
            lines.append(line)
    assert listens == 1, "the documented server does not `listen 443 ssl;` once"
    return "\n".join(lines)


@dataclass
class Proxy:
    base: str
    access_log: Path
    error_log: Path

    def upstreams(self, requests: int) -> list[tuple[str, str, list[str]]]:
        """(method, status, the upstream servers tried in order) of each request nginx logged, once it has
        logged `requests` (it logs a request after answering it, at times after the client has read it)."""

        def logged() -> list[str]:
            return self.access_log.read_text(encoding="utf-8").splitlines()

        _until(lambda: len(logged()) >= requests, 10)
        rows = []
        for line in logged():
            method, status, tried = line.split(" ", 2)
            rows.append((method, status, [] if tried == "-" else tried.split(", ")))
        return rows


@contextmanager
def _documented_proxy(tmp_path: Path, servers: list[str]) -> Iterator[Proxy]:
    """The documented nginx configuration in front of `servers`, in the foreground, its files under
    `tmp_path`; each request's upstream attempts in the access log (``$upstream_addr``)."""
    binary = _nginx()
    prefix = tmp_path / "nginx"
    prefix.mkdir(parents=True)
    port = _free_port()
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temps = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in kinds)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"daemon off;\nmaster_process off;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'};\n"
        "events { worker_connections 256; }\n"
        f"http {{\n{temps}\n"
        "    log_format attempts '$request_method $status $upstream_addr';\n"
        f"    access_log {prefix / 'access.log'} attempts;\n"
        f"{_for_this_machine(_documented_nginx(), servers, port)}\n}}\n",
        encoding="utf-8",
    )
    command = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, f"nginx -t refuses the documented configuration:\n{checked.stderr}"
    with (prefix / "stderr.log").open("wb") as stderr:
        server = subprocess.Popen(command, stderr=stderr)
    try:
        assert _until(lambda: server.poll() is not None or _accepts(port), 10), "nginx did not listen"
        assert server.poll() is None, f"nginx exited: {(prefix / 'error.log').read_text(encoding='utf-8')}"
        yield Proxy(f"http://{PROXY}:{port}", prefix / "access.log", prefix / "error.log")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _accepts(port: int) -> bool:
    try:
        socket.create_connection((PROXY, port), timeout=1).close()
    except OSError:
        return False
    return True


@contextmanager
def _dropping_upstream() -> Iterator[tuple[str, Counter[str]]]:
    """An upstream that reads each request and closes the connection without an answer — a replica dying
    with the request in hand; yields its address and the methods it received."""
    listener = socket.create_server((PROXY, 0))
    listener.settimeout(0.1)
    received: Counter[str] = Counter()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data and (chunk := connection.recv(65536)):
                    data += chunk
                if data:
                    received[data.split(b" ", 1)[0].decode()] += 1

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"{PROXY}:{listener.getsockname()[1]}", received
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _client(base: str, header: dict[str, str]) -> httpx.Client:
    """A client connecting from `CLIENT`, so the address nginx forwards differs from the proxy's own."""
    return httpx.Client(
        base_url=base, headers=header, timeout=30, transport=httpx.HTTPTransport(local_address=CLIENT)
    )


def _sources_after(engine: sa.Engine, first: int) -> list[str | None]:
    with session_scope(engine) as session:
        query = sa.select(audit.AuditEntry.source).where(audit.AuditEntry.id > first)
        return list(session.scalars(query.order_by(audit.AuditEntry.id)).all())


def _last_entry(engine: sa.Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(sa.select(sa.func.max(audit.AuditEntry.id))) or 0


def _addresses(replicas: Replicas) -> list[str]:
    return [base.removeprefix("http://") for base in replicas.bases]


@pytest.mark.slow
@pytest.mark.postgres
def test_the_documented_nginx_spreads_requests_and_forwards_the_client_address(
    replicas: Replicas, tmp_path: Path
) -> None:
    reader = issue(replicas.engine, Role.SUPERVISOR, name="behind-nginx")
    before = _last_entry(replicas.engine)
    with _documented_proxy(tmp_path, _addresses(replicas)) as proxy, _client(proxy.base, reader) as client:
        answers = [client.get(READ) for _ in range(10)]
        # A client's own X-Forwarded-For does not choose its address: nginx appends the connection's.
        answers.append(client.get(READ, headers={"X-Forwarded-For": "203.0.113.9"}))
        attempts = proxy.upstreams(len(answers))
    assert [r.status_code for r in answers] == [200] * 11, [r.text for r in answers if r.status_code != 200]
    # Each request answered by one replica, and both replicas answered (least_conn: in turn when idle).
    served = Counter(tried[0] for _, _, tried in attempts if len(tried) == 1)
    assert sum(served.values()) == 11 and set(served) == set(_addresses(replicas)), attempts
    assert min(served.values()) >= 3, served
    # The replicas trust the proxy (CREDITWATCH_TRUSTED_PROXIES): the audit records the client, not nginx.
    assert _sources_after(replicas.engine, before) == [CLIENT] * 11


@pytest.mark.slow
@pytest.mark.postgres
def test_the_documented_nginx_refuses_a_body_over_its_limit_and_passes_on_the_apis_413(
    replicas: Replicas, tmp_path: Path
) -> None:
    reader = issue(replicas.engine, Role.SUPERVISOR, name="large-bodies")
    block = _documented_nginx()
    megabytes = re.search(r"client_max_body_size\s+(\d+)m;", block)
    assert megabytes is not None, "no client_max_body_size in the documented configuration"
    limit = int(megabytes.group(1)) * 1024 * 1024
    fields = load_settings(home=replicas.home)
    # The proxy's limit is the API's largest (the document uploads'), so only the API refuses under it.
    assert limit == type(fields).model_fields["upload_max_body_bytes"].default
    with _documented_proxy(tmp_path, _addresses(replicas)) as proxy, _client(proxy.base, reader) as client:
        # Over nginx's limit: refused from the Content-Length alone, before any body or replica.
        host, port = proxy.base.removeprefix("http://").split(":")
        raw = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(CLIENT, 0))
        raw.putrequest("POST", "/zone/repairs")
        raw.putheader("Content-Length", str(limit + 1))
        raw.endheaders()
        refused = raw.getresponse()
        assert refused.status == 413 and b"nginx" in refused.read()
        raw.close()
        # Under it, over the API's own limit for the route: the replica's JSON 413 comes through.
        body = b'{"usccs": ["' + b"9" * fields.max_body_bytes + b'"]}'
        answer = client.post("/scores/batch", content=body, headers={"Content-Type": "application/json"})
        attempts = proxy.upstreams(2)
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["type"] == "payload_too_large"
    assert [(m, s, len(t)) for m, s, t in attempts] == [("POST", "413", 0), ("POST", "413", 1)], attempts


@pytest.mark.slow
@pytest.mark.postgres
def test_the_documented_nginx_passes_a_get_on_and_never_sends_a_post_twice(
    replicas: Replicas, tmp_path: Path
) -> None:
    reader = issue(replicas.engine, Role.SUPERVISOR, name="next-upstream")
    dead = f"{PROXY}:{_free_port()}"  # nothing listens: connection refused
    with _dropping_upstream() as (dropping, received):
        servers = [*_addresses(replicas), dead, dropping]
        with _documented_proxy(tmp_path / "gets", servers) as proxy, _client(proxy.base, reader) as client:
            gets = [client.get(READ).status_code for _ in range(8)]
            get_attempts = proxy.upstreams(len(gets))
        before = _last_entry(replicas.engine)
        with _documented_proxy(tmp_path / "posts", servers) as proxy, _client(proxy.base, reader) as client:
            posts = [client.post("/scores/batch", json={"usccs": ["X"]}).status_code for _ in range(8)]
            post_attempts = proxy.upstreams(len(posts))
    # Every GET answered: nginx passed it on from the dead server and from the one that dropped it.
    assert gets == [200] * 8, proxy.error_log.read_text(encoding="utf-8")
    passed_on = {tried[0] for _, _, tried in get_attempts if len(tried) > 1}
    assert passed_on == {dead, dropping}, get_attempts
    # A POST the dropping server received is not sent anywhere else: 502, and no replica recorded it; one
    # that found nothing listening (never sent) went on to a replica.
    assert received["POST"] >= 1 and posts.count(502) == received["POST"], (posts, post_attempts)
    for _, status, tried in post_attempts:
        sent = [server for server in tried if server != dead]
        assert len(sent) == 1 and (status == "502") == (sent[0] == dropping), post_attempts
    assert any(len(tried) > 1 for _, _, tried in post_attempts), post_attempts
    assert len(_sources_after(replicas.engine, before)) == 8 - received["POST"]
