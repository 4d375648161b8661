"""Several API replicas on one database (issue 16): the rate limits' database store shared by every process
(N replicas allow the configured rate, not N times it; a store that fails limits per process, never
unlimited), and — with real ``creditwatch serve`` processes on one PostgreSQL database, one home and one
MLflow store — a promotion made through one replica served by every replica, one unbroken audit chain under
concurrent writers from several processes (``creditwatch audit verify``), and a token's rate held across
replicas with ``Retry-After`` on the 429s."""

from __future__ import annotations

import asyncio
import json
import os
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
