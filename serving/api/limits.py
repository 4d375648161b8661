"""Request limits: a body-size guard (413) and admission control per route class (503) as ASGI middleware,
and a token bucket per caller (429).

The admission queues live in the process (each replica sheds its own overload). The buckets live in the
process too by default (one uvicorn worker per process: the whole server), where several processes would
each allow the rate; with ``CREDITWATCH_RATE_LIMIT_STORE=database`` they live in the operational database,
shared by every replica (:class:`DatabaseBuckets`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import anyio.to_thread
import sqlalchemy as sa
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.api.errors import error_response
from supervision.platform import buckets

log = logging.getLogger("creditwatch.api")


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse bodies over `max_bytes` with 413: by Content-Length first, by counting for chunked bodies."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                await error_response(400, "bad_request", "Content-Length is not a non-negative integer")(
                    scope, receive, send
                )
                return
            if length > self.max_bytes:
                await self._refuse(scope, receive, send, length)
                return

        received = 0
        started = too_large = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                return  # the app's answer to a body it could not read (FastAPI: 400) is replaced by 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            if started:  # pragma: no cover - handlers read the body before answering
                raise
        if too_large and not started:
            await self._refuse(scope, receive, send, received)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        scope.setdefault("state", {})["limit_refused"] = "body_size"
        response = error_response(
            413,
            "payload_too_large",
            f"request body of {size} bytes exceeds the limit of {self.max_bytes} bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class BodySizeLimits:
    """:class:`BodySizeLimit` with a larger limit for some POST paths (the routes that take documents:
    serving/api/routers/filings.py ``UPLOAD_PATHS``); every other request keeps `max_bytes`."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, larger: Mapping[str, int]) -> None:
        self.usual = BodySizeLimit(app, max_bytes=max_bytes)
        self.by_path = {path: BodySizeLimit(app, max_bytes=max(n, max_bytes)) for path, n in larger.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        special = None
        if scope["type"] == "http" and scope.get("method") == "POST":
            special = self.by_path.get(scope.get("path", ""))
        await (special or self.usual)(scope, receive, send)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class MemoryBuckets:
    """The buckets in this process (the default): thread-safe (sync handlers use threads), bounded to
    `MAX_KEYS` keys. Several processes each allow the whole rate: use :class:`DatabaseBuckets` there."""

    MAX_KEYS = 10_000
    blocking = False  # no I/O: may be asked on the event loop

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def sibling(self, name: str) -> MemoryBuckets:
        """The store of another limiter (its own buckets)."""
        return MemoryBuckets(self.clock)

    def take(self, key: str, *, rate: float, burst: int) -> int | None:
        """Take one token from `key`'s bucket: None if allowed, else the seconds to wait (Retry-After)."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.MAX_KEYS:
                    self._prune(now, rate, burst)
                bucket = self._buckets[key] = _Bucket(tokens=float(burst), stamp=now)
            else:
                bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp) * rate)
                bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return _wait(bucket.tokens, rate)

    def _prune(self, now: float, rate: float, burst: int) -> None:
        # A bucket that has refilled completely carries no information: forget it to bound the memory.
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * rate >= burst]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.MAX_KEYS:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].stamp)[: self.MAX_KEYS // 10]
            for key in oldest:
                del self._buckets[key]


def _wait(tokens: float, rate: float) -> int:
    return max(1, math.ceil((1.0 - tokens) / rate))


class DatabaseBuckets:
    """The buckets in the operational database (``rate_buckets``, supervision/platform/buckets.py), shared by
    every process on it: N replicas together allow the configured rate, not N times it. One atomic UPSERT per
    request on a pooled connection in autocommit (≈1 ms on an idle PostgreSQL: docs/operations.md,
    "Replicas and the cluster").

    If the database cannot answer (down, pool exhausted, locked), the request is limited by an in-process
    bucket instead — each replica then allows the configured rate on its own, so N replicas at most N times
    it, never unlimited — and the failure is counted (`failures`) and logged (the first at once, then at most
    once a minute with the count): a limiter outage neither lets traffic through unlimited nor takes the API
    down (docs/security.md, "Choices and known limits").
    """

    blocking = True  # a database round trip: ask it from a worker thread
    PRUNE_SECONDS = 60.0
    LOG_SECONDS = 60.0

    def __init__(
        self,
        engine: sa.Engine | None = None,
        *,
        name: str = "api",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not name or buckets.SEPARATOR in name or any(c in name for c in "%_\\"):
            raise ValueError(f"name={name!r}: a non-empty limiter name without '|', '%', '_' or '\\'")
        self.name = name
        self.clock = clock
        self.engine = engine
        self.fallback = MemoryBuckets(clock)
        self.failures = 0
        self._logged_at: float | None = None
        self._unlogged = 0
        self._pruned_at = clock()
        self._lock = threading.Lock()

    def bind(self, engine: sa.Engine) -> None:
        """Use `engine` (the app's, once its lifespan has opened it)."""
        self.engine = engine

    def sibling(self, name: str) -> DatabaseBuckets:
        """The store of another limiter on the same database (its keys under its own name)."""
        return DatabaseBuckets(self.engine, name=name, clock=self.clock)

    def take(self, key: str, *, rate: float, burst: int) -> int | None:
        """Take one token from `key`'s bucket: None if allowed, else the seconds to wait (Retry-After)."""
        if self.engine is None:
            raise RuntimeError("DatabaseBuckets.take before bind(engine)")
        try:
            with self._transaction(self.engine) as connection:
                taken = buckets.take(
                    connection, f"{self.name}{buckets.SEPARATOR}{key}", rate=rate, burst=burst
                )
        except sa.exc.SQLAlchemyError as exc:
            self._failed(exc)
            return self.fallback.take(key, rate=rate, burst=burst)
        self._maybe_prune(self.engine, rate, burst)
        return None if taken.allowed else _wait(taken.tokens, rate)

    @staticmethod
    def _transaction(engine: sa.Engine) -> AbstractContextManager[sa.Connection]:
        if engine.dialect.name == "postgresql":
            # One statement: autocommit saves BEGIN and COMMIT round trips (the row lock lasts the statement).
            return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return engine.begin()  # SQLite: the engine emits BEGIN itself (db.py), so commit explicitly

    def _maybe_prune(self, engine: sa.Engine, rate: float, burst: int) -> None:
        # One request a minute per process also deletes the buckets that are full again (past burst / rate),
        # in a transaction of its own: a failure here must not undo or repeat the request's take.
        now = self.clock()
        with self._lock:
            if now - self._pruned_at < self.PRUNE_SECONDS:
                return
            self._pruned_at = now
        try:
            with self._transaction(engine) as connection:
                buckets.prune(connection, f"{self.name}{buckets.SEPARATOR}", horizon=burst / rate + 1.0)
        except sa.exc.SQLAlchemyError as exc:
            log.warning(
                "rate buckets not pruned (%s: %s)", type(exc).__name__, (str(exc).splitlines() or [""])[0]
            )

    def _failed(self, exc: BaseException) -> None:
        now = self.clock()
        with self._lock:
            self.failures += 1
            self._unlogged += 1
            if self._logged_at is not None and now - self._logged_at < self.LOG_SECONDS:
                return
            self._logged_at, count, self._unlogged = now, self._unlogged, 0
        log.warning(
            "rate-limit store unavailable (%s: %s): %d request(s) limited by this process alone "
            "(%d since start)",
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
            count,
            self.failures,
        )


class BucketStore(Protocol):
    blocking: bool

    def take(self, key: str, *, rate: float, burst: int) -> int | None: ...

    def sibling(self, name: str) -> BucketStore: ...


class RateLimiter:
    """Token bucket per key: `per_minute` refill, `burst` capacity, kept in `store` (default: this process's
    :class:`MemoryBuckets`; :class:`DatabaseBuckets` for several replicas)."""

    def __init__(
        self,
        *,
        per_minute: int,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        store: BucketStore | None = None,
    ) -> None:
        if per_minute < 0:
            raise ValueError(f"per_minute={per_minute}: must be >= 0 (0 turns limiting off)")
        if burst < 1:
            raise ValueError(f"burst={burst}: must be >= 1")
        self.per_minute = per_minute
        self.burst = burst
        self.clock = clock
        self.store: BucketStore = store if store is not None else MemoryBuckets(clock)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    @property
    def blocking(self) -> bool:
        """Whether :meth:`acquire` may do I/O (the database store): call it off the event loop then."""
        return self.enabled and self.store.blocking

    def bind(self, engine: sa.Engine) -> None:
        """Give a database store the app's engine (a no-op for the in-process store)."""
        if isinstance(self.store, DatabaseBuckets):
            self.store.bind(engine)

    def derived(self, *, per_minute: int, burst: int, name: str) -> RateLimiter:
        """Another limiter (another rate) on the same kind of store, its keys apart under `name`."""
        return RateLimiter(
            per_minute=per_minute, burst=burst, clock=self.clock, store=self.store.sibling(name)
        )

    def acquire(self, key: str) -> int | None:
        """Take one request from `key`'s bucket: None if allowed, else the seconds to wait (Retry-After)."""
        if not self.enabled:
            return None
        return self.store.take(key, rate=self.per_minute / 60.0, burst=self.burst)


class _Gate:
    """One route class's slots and its bounded FIFO queue (event-loop only: no lock needed)."""

    def __init__(self, limit: int, queue: int) -> None:
        self.limit = limit
        self.queue = queue
        self.active = 0
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def enter(self, wait_seconds: float) -> bool:
        """Take a slot (True), waiting at most `wait_seconds` in the queue; False if the queue is full or the
        wait ran out."""
        if self.active < self.limit and not self.waiters:
            self.active += 1
            return True
        if len(self.waiters) >= self.queue:
            return False
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(slot)
        try:
            async with asyncio.timeout(wait_seconds):
                await slot
        except BaseException as exc:  # the wait ran out, or the client went away
            if slot.done() and not slot.cancelled():
                self.leave()  # the slot was handed over just as the wait ended: pass it on
            else:
                slot.cancel()
                if slot in self.waiters:
                    self.waiters.remove(slot)
            if isinstance(exc, TimeoutError):
                return False
            raise
        return True

    def leave(self) -> None:
        """Give the slot to the first request still waiting, or free it."""
        while self.waiters:
            slot = self.waiters.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self.active -= 1


class AdmissionControl:
    """Admission control per route class: at most `concurrency` requests of a class are handled at once,
    at most `queue` more wait (FIFO, up to `queue_seconds`), and the rest are answered at once with
    ``503 busy`` and ``Retry-After`` — so an overload sheds requests instead of piling them up on the
    database pool, the worker threads and the audit chain's lock.

    A request's class is the first two segments of its path when they are one of `classes` (``ui/public``:
    the anonymous public's pages, so a flood of them leaves the staff's pages their slots), else the first
    segment (``/check``, ``/entities``, ``/ui``, ...) when that is one of `classes` (the app's), else
    ``other``: a flood of one route leaves the others their own slots, and invented paths cannot create
    classes. The `exempt` paths (``/health``) are never queued or shed. A shed
    request has done no work (no body read, no authentication, no database) and, like a 429, writes no audit
    entry. Admitted requests need at most one worker thread at a time, so the first request raises the worker
    pool (anyio's default thread limiter) to the classes' total slots and some spare: an admitted request
    holding a transaction never waits for a thread (docs/api.md, "Overload").
    """

    OTHER = "other"

    def __init__(
        self,
        app: ASGIApp,
        *,
        concurrency: int,
        queue: int,
        queue_seconds: float,
        retry_after: int = 1,
        classes: Iterable[str] = (),
        exempt: Iterable[str] = ("/health", "/health/ready"),
    ) -> None:
        self.app = app
        self.concurrency = concurrency
        self.queue = queue
        self.queue_seconds = queue_seconds
        self.retry_after = retry_after
        self.classes = frozenset(classes) | {self.OTHER}
        self.exempt = frozenset(exempt)
        self._gates = {name: _Gate(concurrency, queue) for name in self.classes}
        self._threads_sized = False

    @property
    def enabled(self) -> bool:
        return self.concurrency > 0

    def route_class(self, path: str) -> str:
        parts = path.lstrip("/").split("/", 2)
        # A class may name two segments (``ui/public``: the anonymous public's pages apart from the staff's).
        two = "/".join(parts[:2])
        if two in self.classes:
            return two
        return parts[0] if parts[0] in self.classes else self.OTHER

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled or scope.get("path", "") in self.exempt:
            await self.app(scope, receive, send)
            return
        if not self._threads_sized:
            self._size_threads()
        name = self.route_class(str(scope.get("path", "")))
        gate = self._gates[name]
        if not await gate.enter(self.queue_seconds):
            await self._shed(scope, receive, send, name)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            gate.leave()

    def _size_threads(self) -> None:
        limiter = anyio.to_thread.current_default_thread_limiter()
        needed = self.concurrency * len(self.classes) + 8  # + authentication hops, /health/ready, spare
        if limiter.total_tokens < needed:
            limiter.total_tokens = needed
        self._threads_sized = True

    async def _shed(self, scope: Scope, receive: Receive, send: Send, name: str) -> None:
        scope.setdefault("state", {})["limit_refused"] = "admission"
        where = "routes outside the API" if name == self.OTHER else f"/{name}"
        response = error_response(
            503,
            "busy",
            f"too many requests for {where} at once ({self.concurrency} handled, {self.queue} waiting): "
            f"try again in {self.retry_after} s",
            headers={"Retry-After": str(self.retry_after)},
        )
        await response(scope, receive, send)


# The pages' content security policy: everything from this site only, no script but our own files (there are
# none inline), no framing, forms post only here. Inline style *attributes* stay allowed (a bar's width is
# one); they cannot run script.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class SecurityHeaders:
    """Headers every answer carries: ``nosniff`` and no referrer everywhere; on the pages (``/ui``) the
    content security policy and no framing; and ``Cache-Control: no-store`` unless the route set its own (a
    page or an answer about an entity must not stay in a shared cache or the browser's history)."""

    def __init__(self, app: ASGIApp, *, page_prefix: str = "/ui") -> None:
        self.app = app
        self.page_prefix = page_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        page = path == self.page_prefix or path.startswith(self.page_prefix + "/")
        static = path.startswith(self.page_prefix + "/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                # The shipped assets may be kept and revalidated (ETag); nothing else is kept.
                headers.setdefault("Cache-Control", "no-cache" if static else "no-store")
                if page:
                    headers.setdefault("Content-Security-Policy", PAGE_CSP)
                    headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, with_headers)
