"""Request limits: a body-size guard (413) as ASGI middleware, and an in-memory token bucket per caller (429).

The bucket lives in the process: with one uvicorn worker per process (ecosystem-notes) that is the whole
server; several processes would each allow the rate.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.api.errors import error_response


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


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token bucket per key: `per_minute` refill, `burst` capacity; thread-safe (sync handlers use
    threads)."""

    MAX_KEYS = 10_000

    def __init__(self, *, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 0:
            raise ValueError(f"per_minute={per_minute}: must be >= 0 (0 turns limiting off)")
        if burst < 1:
            raise ValueError(f"burst={burst}: must be >= 1")
        self.per_minute = per_minute
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def acquire(self, key: str) -> int | None:
        """Take one request from `key`'s bucket: None if allowed, else the seconds to wait (Retry-After)."""
        if not self.enabled:
            return None
        rate = self.per_minute / 60.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.MAX_KEYS:
                    self._prune(now, rate)
                bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), stamp=now)
            else:
                bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * rate)
                bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    def _prune(self, now: float, rate: float) -> None:
        # A bucket that has refilled completely carries no information: forget it to bound the memory.
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * rate >= self.burst]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.MAX_KEYS:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].stamp)[: self.MAX_KEYS // 10]
            for key in oldest:
                del self._buckets[key]


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
