"""The audit trail of the API: who did what, when, from where, with what result — for every change and every
access to an entity's detail, allowed or not.

Two paths, so that no audited request goes unrecorded:
- changes, in the handler's transaction: ``trail.record(session, ...)`` (``AuditDep``) appends the entry with
  the change itself, so a change and its entry are committed together or not at all;
- reads, and everything not recorded so: :class:`AuditMiddleware` writes the entry in its own transaction
  (group commit, :class:`AuditWriter`) — audited reads (a handler may add ``trail.note(...)`` details),
  denied (401/403), rejected (4xx) and failed (5xx) requests, or a handler that forgot.

An answer that carries data (status < 400) is not sent until its entry is committed: the middleware holds
the response's start until the group commit has returned, and if the entry cannot be written (the writer's
queue is full, the database is down or locked) the client gets 503 with Retry-After instead of the data — so
every answered audited read has its entry, even across a kill -9. A refusal (4xx/5xx) waits for its entry
the same way, but discloses nothing, so when the entry cannot be written it is answered anyway and the entry
is queued again (the writer's queue is bounded) or counted — never dropped silently: the counts are written
as ``audit.unrecorded`` entries (per action and result) with a later commit, and logged.
Requests refused by the rate limiter (429) are not written, so the limiter cannot become a write amplifier.
Audited = any method other than GET/HEAD/OPTIONS, any route marked with :func:`audited`, and every 401/403.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.api.deps import SAFE_METHODS
from serving.api.errors import error_response
from supervision.platform import audit
from supervision.platform.access import Principal
from supervision.platform.db import session_scope

log = logging.getLogger("creditwatch.audit")


def result_of(status: int) -> str:
    """The audit result for an HTTP status."""
    if status in (401, 403):
        return "denied"
    if status >= 500:
        return "error"
    if status >= 400:
        return "rejected"
    return "ok"


def _source(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def audited(action: str, *, target: str | None = None, prefix: str = "") -> Any:
    """Route marker: requests to this route are audited as `action` on the path parameter `target`.

    Put it in the route's ``dependencies=[...]``: it runs before the role check, so denied attempts are
    recorded under the route's action too.
    """

    async def mark(request: Request) -> None:
        request.state.audit_action = action
        if target is not None and target in request.path_params:
            request.state.audit_target = f"{prefix}{request.path_params[target]}"

    return Depends(mark)


class AuditTrail:
    """The current request's handle on the audit log (actor, role and source come from the request)."""

    def __init__(self, request: Request) -> None:
        self.request = request

    def record(
        self,
        session: Session,
        *,
        action: str | None = None,
        target: str | None = None,
        details: Mapping[str, Any] | None = None,
        result: str = "ok",
    ) -> audit.AuditEntry:
        """Append an entry in `session`'s transaction (committed with the handler's work)."""
        state = self.request.state
        principal: Principal | None = getattr(state, "principal", None)
        entry = audit.append(
            session,
            actor=principal.actor if principal else "anonymous",
            role=principal.role_name if principal else None,
            action=action or getattr(state, "audit_action", None) or _default_action(self.request.scope),
            target=target or getattr(state, "audit_target", None) or self.request.url.path,
            source=_source(self.request.scope),
            result=result,
            details={"method": self.request.method, "path": self.request.url.path, **(details or {})},
        )
        state.audit_pending = True
        return entry

    def note(self, *, target: str | None = None, **details: Any) -> None:
        """For an audited read: the target and details the middleware's entry will carry."""
        state = self.request.state
        if target is not None:
            state.audit_target = target
        state.audit_details = {**getattr(state, "audit_details", {}), **details}


def _default_action(scope: Scope) -> str:
    return f"http.{str(scope.get('method', 'get')).lower()}"


async def get_trail(request: Request) -> AuditTrail:
    return AuditTrail(request)


AuditDep = Annotated[AuditTrail, Depends(get_trail)]


class AnonymousSummary:
    """One audit entry per client address and window for requests nobody is authenticated for.

    Anonymous traffic (no token, a bad token, a body refused before authentication) costs the attacker
    nothing, so writing an entry per request would let anyone fill the log (200 long-path requests once
    added 5 MB in 2.5 s). The first such request of an address in a window is written at once, so an attempt
    is visible immediately; the rest of that window is counted and written as one summary entry
    (``http.anonymous``, with the count and a few paths) when the window ends — at the address's next request
    after it, or at :meth:`flush` (shutdown). At most `max_sources` addresses are tracked per window; the
    others share one overflow bucket, so the number of entries per window is bounded whatever the traffic.
    """

    OVERFLOW = "*other-addresses*"
    PATH_CHARS = 200
    SAMPLE_PATHS = 5

    def __init__(self, *, window_seconds: float = 60.0, max_sources: int = 1000, clock: Any = time.monotonic):
        self.window_seconds = window_seconds
        self.max_sources = max_sources
        self.clock = clock
        self._windows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def admit(self, fields: dict[str, Any]) -> list[dict[str, Any]]:
        """The entries to write now for this anonymous request: itself if it opens a window, plus the
        summaries of windows that have ended."""
        now = self.clock()
        source = str(fields.get("source") or "unknown")
        with self._lock:
            due = self._expired(now)
            if source not in self._windows and len(self._windows) >= self.max_sources:
                source = self.OVERFLOW
            window = self._windows.get(source)
            if window is None:
                self._windows[source] = {"start": now, "count": 0, "paths": [], "first": fields}
                return [*due, fields]
            window["count"] += 1
            path = str(fields["details"].get("path", ""))[: self.PATH_CHARS]
            if len(window["paths"]) < self.SAMPLE_PATHS and path not in window["paths"]:
                window["paths"].append(path)
            return due

    def flush(self) -> list[dict[str, Any]]:
        """Summaries of every open window (at shutdown)."""
        with self._lock:
            return self._expired(float("inf"))

    def _expired(self, now: float) -> list[dict[str, Any]]:
        out = []
        for source, window in list(self._windows.items()):
            if now - window["start"] < self.window_seconds:
                continue
            del self._windows[source]
            if window["count"]:
                first = window["first"]
                out.append(
                    {
                        "actor": "anonymous",
                        "role": None,
                        "action": "http.anonymous",
                        "target": source,
                        "source": first.get("source"),
                        "result": first.get("result", "denied"),
                        "details": {
                            "count": window["count"],
                            "window_seconds": self.window_seconds,
                            "paths": window["paths"],
                        },
                    }
                )
        return out


def _shorten(fields: dict[str, Any]) -> dict[str, Any]:
    """Bound what an anonymous request puts in its entry: the path and target are truncated."""
    details = dict(fields["details"])
    details["path"] = str(details.get("path", ""))[: AnonymousSummary.PATH_CHARS]
    target = fields.get("target")
    return {
        **fields,
        "target": None if target is None else str(target)[: AnonymousSummary.PATH_CHARS],
        "details": details,
    }


class AuditUnavailable(RuntimeError):
    """The writer cannot take an entry that an answer must wait for (its queue is full)."""


# Headers of the held answer that do not describe the 503 sent instead (the security headers stay).
_ANSWER_HEADERS = {b"content-length", b"content-type", b"content-encoding", b"etag", b"last-modified"}
_ANSWER_HEADERS |= {b"set-cookie", b"location", b"content-disposition", b"retry-after"}


class AuditMiddleware:
    """Writes the entry of every audited request that the handler did not record in its transaction; an
    answer with data waits for its entry's commit (503 instead if it cannot be written)."""

    def __init__(self, app: ASGIApp, *, summary: AnonymousSummary | None = None) -> None:
        self.app = app
        self.summary = summary or AnonymousSummary()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        replaced = False

        async def hold(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the app's body of an answer replaced by 503
            if message["type"] == "http.response.start" and not await self._record(
                scope, int(message["status"])
            ):
                replaced = True
                await self._unavailable(message, send)
                return
            await send(message)

        try:
            await self.app(scope, receive, hold)
        except Exception:
            if not scope["state"].get("audit_written"):
                await self._record(scope, 500)
            raise

    async def _record(self, scope: Scope, status: int) -> bool:
        """Write the request's entry as the answer starts: False if the answer must not go out (data
        whose entry could not be committed)."""
        state: dict[str, Any] = scope["state"]
        if state.get("audit_written") or status == 429:
            return True
        state["audit_written"] = True
        method = str(scope.get("method", "GET"))
        if method in SAFE_METHODS and "audit_action" not in state and status not in (401, 403):
            return True
        principal: Principal | None = state.get("principal")
        path = str(scope.get("path", ""))
        fields: dict[str, Any] = {
            "actor": principal.actor if principal else "anonymous",
            "role": principal.role_name if principal else None,
            "action": state.get("audit_action") or state.get("audit_name") or _default_action(scope),
            "target": state.get("audit_target") or path,
            "source": _source(scope),
            "result": result_of(status),
            "details": {**state.get("audit_details", {}), "method": method, "path": path, "status": status},
        }
        batch = [fields] if principal is not None else self.summary.admit(_shorten(fields))
        writer: AuditWriter | None = getattr(scope["app"].state, "audit_writer", None)
        if writer is None:  # pragma: no cover - only before the lifespan has started
            log.error("audit entries lost (no database): %s", batch)
            return status >= 400
        outcomes = await asyncio.gather(*(writer.awrite(entry) for entry in batch), return_exceptions=True)
        failed = [entry for entry, outcome in zip(batch, outcomes, strict=True) if outcome is not None]
        if not failed:
            return True
        if status >= 400:
            # A refusal discloses nothing: answered anyway; its entry is retried later or counted.
            log.error("audit entry not written yet (queued again or counted): %s", failed)
            for entry in failed:
                writer.offer(entry)
            return True
        log.error("audit entry could not be written; the answer is withheld (503): %s", failed)
        for entry in failed:  # the attempt is recorded as failed when the log takes it again, or counted
            writer.offer({**entry, "result": "error", "details": {**entry["details"], "status": 503}})
        return False

    @staticmethod
    async def _unavailable(start: Message, send: Send) -> None:
        kept = [(k, v) for k, v in start.get("headers", []) if k.lower() not in _ANSWER_HEADERS]
        response = error_response(
            503,
            "unavailable",
            "the audit log could not record this request, so its answer is withheld; retry shortly",
            headers={"Retry-After": "1"},
        )
        await send({"type": "http.response.start", "status": 503, "headers": [*kept, *response.raw_headers]})
        await send({"type": "http.response.body", "body": response.body, "more_body": False})


class AuditWriter:
    """Group commit of the middleware's entries in one writer thread: everything queued while the previous
    commit ran goes into the next transaction, and each caller of :meth:`write`/:meth:`awrite` returns only
    once its own entry is committed (durable, unlike a fire-and-forget queue) — the middleware holds an
    answer with data until then.

    One commit then serves many requests, which is what keeps audited reads from being limited by one commit
    per request (see docs/api.md). The event loop hands entries over without a worker-thread hop
    (:meth:`awrite`), and the thread wakes each loop once per batch. The thread starts on the first entry and
    ends after `idle_seconds` without one (no thread to stop at shutdown; the next entry starts a new one).

    The thread may linger `linger_seconds` after the first entry of a batch before committing it, for larger
    batches; the default is not to (0): the wait would be the client's (its answer waits for the commit), and
    batches grow by themselves under load (everything that arrives during a commit goes into the next one).
    Measured with `python -m bench serve` (docs/benchmarks.md "Serving"): a 2 ms linger cost ~6 ms of median
    latency and more server CPU at 200 reads/s than none.

    The queue is bounded (`max_pending` entries): past it :meth:`awrite` refuses at once
    (:class:`AuditUnavailable`, the middleware answers 503) and :meth:`offer` — an entry nobody waits for
    any more (a refusal answered anyway, a withheld read) — counts the entry instead. Offered entries whose
    commit fails are counted too. The counts are written as ``audit.unrecorded`` entries (one per action and
    result, with the count) in front of the next batch, and kept for a later one if that fails: none is
    dropped silently.
    """

    MAX_BATCH = 500
    UNRECORDED = "audit.unrecorded"

    def __init__(
        self,
        engine: sa.Engine,
        *,
        linger_seconds: float = 0.0,
        idle_seconds: float = 5.0,
        max_pending: int = 5000,
    ) -> None:
        self.engine = engine
        self.linger_seconds = linger_seconds
        self.idle_seconds = idle_seconds
        self.max_pending = max_pending
        self.flushes = 0
        self._pending: list[tuple[dict[str, Any], _Waiter]] = []
        self._unrecorded: dict[tuple[str, str], int] = {}
        self._first_at = 0.0
        self._wake = threading.Condition()
        self._flush_lock = threading.Lock()
        self._running = False

    def write(self, fields: dict[str, Any]) -> None:
        """Append one entry (keyword arguments of :func:`supervision.platform.audit.append`); blocks until
        committed."""
        done: Future[None] = Future()
        self._submit(fields, done)
        done.result()

    async def awrite(self, fields: dict[str, Any]) -> None:
        """:meth:`write` for the event loop: waits (without blocking the loop) until the entry is
        committed; :class:`AuditUnavailable` at once if the queue is full."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not self._submit(fields, (loop, done), bounded=True):
            raise AuditUnavailable(f"the audit writer has {self.max_pending} entries queued")
        await done

    def offer(self, fields: dict[str, Any]) -> None:
        """Queue an entry nobody waits for; counted (``audit.unrecorded``) if the queue is full or its
        commit fails."""
        if not self._submit(fields, None, bounded=True):
            self._count([fields])

    def unrecorded(self) -> dict[tuple[str, str], int]:
        """The counts not yet written, by (action, result)."""
        with self._wake:
            return dict(self._unrecorded)

    def _count(self, entries: list[dict[str, Any]]) -> None:
        with self._wake:
            for fields in entries:
                key = (str(fields.get("action")), str(fields.get("result", "ok")))
                self._unrecorded[key] = self._unrecorded.get(key, 0) + 1
        log.error("audit: %d entries not written yet, counted for an audit.unrecorded entry", len(entries))

    def _summaries(self) -> list[tuple[dict[str, Any], _Waiter]]:
        """The counts as entries (taken: a failed commit puts them back). Called under `_wake`."""
        counts, self._unrecorded = self._unrecorded, {}
        return [
            (
                {
                    "actor": "audit-writer",
                    "action": self.UNRECORDED,
                    "target": action,
                    "result": result,
                    "details": {"count": count, "action": action},
                },
                _Counted(action, result, count),
            )
            for (action, result), count in sorted(counts.items())
        ]

    def _submit(self, fields: dict[str, Any], waiter: _Waiter, *, bounded: bool = False) -> bool:
        with self._wake:
            if bounded and len(self._pending) >= self.max_pending:
                return False
            self._pending.append((fields, waiter))
            if len(self._pending) == 1:
                self._first_at = time.monotonic()
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="audit-writer", daemon=True).start()
            elif len(self._pending) == 1 or len(self._pending) >= self.MAX_BATCH:
                self._wake.notify()  # the thread waits for a first entry, or lingers for more
            return True

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._pending:
                    self._wake.wait(self.idle_seconds)
                if not self._pending:
                    self._running = False
                    return
                # Linger a little for more entries: one commit for several requests costs far less CPU than
                # one each.
                deadline = self._first_at + self.linger_seconds
                while len(self._pending) < self.MAX_BATCH and (left := deadline - time.monotonic()) > 0:
                    self._wake.wait(left)
            with self._flush_lock:  # held while a batch is written (only this thread takes batches)
                with self._wake:
                    batch, self._pending = self._summaries() + self._pending, []
                outcomes: list[BaseException | None] = [None] * len(batch)
                try:
                    self._flush(batch, outcomes, 0)
                except BaseException as exc:  # pragma: no cover - _flush reports per entry; belt and braces
                    outcomes = [exc] * len(batch)
            self._settle_unwaited(batch, outcomes)
            _settle(batch, outcomes)

    def _settle_unwaited(
        self, batch: list[tuple[dict[str, Any], _Waiter]], outcomes: list[BaseException | None]
    ) -> None:
        """Failed entries nobody waits for are counted; failed counts are put back."""
        failed = [
            fields
            for (fields, waiter), outcome in zip(batch, outcomes, strict=True)
            if outcome and waiter is None
        ]
        if failed:
            self._count(failed)
        with self._wake:
            for (_, waiter), outcome in zip(batch, outcomes, strict=True):
                if outcome is not None and isinstance(waiter, _Counted):
                    key = (waiter.action, waiter.result)
                    self._unrecorded[key] = self._unrecorded.get(key, 0) + waiter.count

    def _flush(
        self, batch: list[tuple[dict[str, Any], _Waiter]], outcomes: list[BaseException | None], offset: int
    ) -> None:
        self.flushes += 1
        try:
            with session_scope(self.engine) as session:
                audit.append_many(session, [fields for fields, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                outcomes[offset] = exc
                return
            # One bad entry must not take the others down with it: write them one by one.
            for i, item in enumerate(batch):
                self._flush([item], outcomes, offset + i)


@dataclass(frozen=True)
class _Counted:
    """The waiter of an ``audit.unrecorded`` entry: the count it carries."""

    action: str
    result: str
    count: int


_Waiter = Future[None] | tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | _Counted | None


def _settle(batch: list[tuple[dict[str, Any], _Waiter]], outcomes: list[BaseException | None]) -> None:
    """Tell every caller of `batch` its outcome: thread callers directly, each event loop once."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], BaseException | None]]] = {}
    for (_, waiter), outcome in zip(batch, outcomes, strict=True):
        if isinstance(waiter, Future):
            if outcome is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(outcome)
        elif isinstance(waiter, tuple):
            by_loop.setdefault(waiter[0], []).append((waiter[1], outcome))
    for loop, futures in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, futures)
        except RuntimeError:  # pragma: no cover - the loop has closed: nobody is waiting any more
            log.error("audit: %d committed entries had no waiting request", len(futures))


def _resolve(futures: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    for done, outcome in futures:
        if done.cancelled():
            continue
        if outcome is None:
            done.set_result(None)
        else:
            done.set_exception(outcome)
