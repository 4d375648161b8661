"""The one way to find, load and serve the champion model: the API's serving champion, ``creditwatch score``
and ``explain``, the model moves and re-scoring after a decision all go through this module.

Looking never creates a registry: a SQLite tracking store that does not exist yet means "no model yet".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from supervision.platform.errors import BusyError

if TYPE_CHECKING:
    from models.risk_model import RiskModel
    from training.registry import Registry

__all__ = [
    "NoChampion",
    "Serving",
    "ServingChampion",
    "SwapResult",
    "champion_version",
    "load_champion",
    "load_version",
    "missing_reason",
]

log = logging.getLogger("creditwatch.api")

Loader = Callable[[str], "RiskModel"]


class NoChampion(BusyError, LookupError):
    """There is no champion to load (no registry yet, no version carries the ``champion`` alias, or the one
    it names failed to load): the serving model is unavailable (HTTP 503), the message says what to do."""


def missing_reason(uri: str) -> str:
    """Why there is no champion in the registry at ``uri`` (for when :func:`champion_version` gave None)."""
    from training.registry import exists

    if not exists(uri):
        return f"no champion model: no model registry at {uri} yet (train and promote a model first)"
    return "no champion model registered: `creditwatch train`, then `creditwatch models promote VERSION`"


def champion_version(uri: str) -> str | None:
    """The version the registry's ``champion`` alias points at, or None (no registry, no champion)."""
    from training.registry import Registry, exists

    if not exists(uri):
        return None
    return Registry(uri).champion()


def load_version(uri: str, version: str) -> RiskModel:
    """The RiskModel of a registered ``version``, loaded from the registry's artifacts (offline)."""
    from training.registry import Registry

    return Registry(uri).load(version)


def load_champion(uri: str) -> tuple[RiskModel, str]:
    """(model, version) of the champion; :class:`NoChampion` with the reason if there is none."""
    version = champion_version(uri)
    if version is None:
        raise NoChampion(missing_reason(uri), field="champion")
    return load_version(uri, version), version


# ------------------------------------------------------------------------------------------ serving champion
@dataclass(frozen=True)
class Serving:
    """One loaded model: what it is and when it started serving (immutable: swapped as a whole)."""

    model: RiskModel
    version: str
    loaded_at: datetime


@dataclass(frozen=True)
class SwapResult:
    swapped: bool
    version: str | None
    previous: str | None
    reason: str


class ServingChampion:
    """The model that serves, held in one reference: readers take a snapshot, a swap replaces it whole.

    A new model is loaded completely *before* the reference moves, so a request sees either the old model
    or the new one, never a half-loaded one; a model that fails to load leaves the current one serving.

    The registry's ``champion`` alias can also move in another process (``creditwatch models promote`` or
    ``rollback``). Reading :attr:`current` looks at the alias at most every ``check_seconds`` and swaps to
    the version it names. A due check runs in a background thread (reading the alias costs tens of
    milliseconds in MLflow, and loading a model more): the request that found it due, and every other one,
    answers with the snapshot it has. With ``check_seconds=0`` (tests) or ``background=False`` the check
    runs in the reading thread, so that read already sees the new model. One check runs at a time; a
    version that failed to load is retried only when the alias moves, or after ``retry_failed_seconds``.
    :meth:`follow` also looks every ``check_seconds`` without waiting for a read (the API does: with several
    replicas, a move made through one reaches the others within the interval, traffic or not).
    """

    retry_failed_seconds = 300.0

    def __init__(
        self,
        registry_uri: str,
        *,
        loader: Loader | None = None,
        check_seconds: float = 10.0,
        background: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if check_seconds < 0:
            raise ValueError(f"check_seconds must be >= 0, got {check_seconds}")
        self.registry_uri = registry_uri
        self.check_seconds = check_seconds
        self.background = background and check_seconds > 0
        self._loader = loader
        self._clock = clock
        self._serving: Serving | None = None
        self._swap_lock = threading.Lock()  # one swap at a time; readers never wait
        # Held by the model moves (serving.services.models) around gate → load → move the registry's alias
        # → swap, so two moves cannot interleave (reentrant: the swap inside takes its own lock). The alias
        # check takes it without waiting: during a move it is skipped (the move installs the new model).
        self.moving = threading.RLock()
        self.last_error: str | None = None
        self._checked_at: float | None = None  # clock() of the last look at the alias
        self._check_failed = False  # last_error is about the registry being unreachable
        self._failed: tuple[str, float] | None = None  # (version, clock()) of the last failed load
        self._starting = threading.Lock()  # guards starting the background check
        self._checker: threading.Thread | None = None
        self._follower: threading.Thread | None = None
        self._stop_following = threading.Event()

    def registry(self) -> Registry:
        from training.registry import Registry

        return Registry(self.registry_uri)

    def _load(self, version: str) -> RiskModel:
        if self._loader is not None:
            return self._loader(version)
        return load_version(self.registry_uri, version)

    @property
    def current(self) -> Serving | None:
        """The serving model; starts a look at the registry's alias if one is due (see the class)."""
        if self._due():
            if self.background:
                self._check_in_background()
            else:
                self.refresh()
        return self._serving

    @property
    def snapshot(self) -> Serving | None:
        """The serving model as it is, without looking at the registry."""
        return self._serving

    def get(self) -> tuple[RiskModel, str]:
        """(model, version) of the serving champion; :class:`NoChampion` with the reason if none serves."""
        serving = self.current
        if serving is None:
            raise NoChampion(self.last_error or missing_reason(self.registry_uri), field="champion")
        return serving.model, serving.version

    def registered(self) -> bool:
        # Not at every start of an app that has never trained a model: the registry would be created.
        from training.registry import exists

        return exists(self.registry_uri)

    def load_initial(self) -> SwapResult:
        """At startup: load the registry's champion if there is one (failures are logged, not raised)."""
        with self.moving:
            self._checked_at = self._clock()
            return self._follow()

    def refresh(self, *, force: bool = False) -> SwapResult | None:
        """Follow the registry's alias if a check is due (or ``force``); None when nothing was checked."""
        if not force and not self._due():
            return None
        if not self.moving.acquire(blocking=False):  # a move or another check is under way
            return None
        try:
            if not force and not self._due():  # another thread checked while this one waited
                return None
            self._checked_at = self._clock()
            return self._follow()
        finally:
            self.moving.release()

    def _check_in_background(self) -> None:
        with self._starting:
            if not self._due() or (self._checker is not None and self._checker.is_alive()):
                return
            self._checked_at = self._clock()  # the next reads do not start another check
            self._checker = threading.Thread(
                target=self._background_check, name="champion-check", daemon=True
            )
            self._checker.start()

    def _background_check(self) -> None:
        try:
            self.refresh(force=True)
        except Exception:  # never an unhandled error in a thread; the next due read tries again
            log.exception("champion check failed")

    def follow(self) -> None:
        """Look at the registry's alias every ``check_seconds`` in a background thread, whatever the traffic
        (the API's lifespan starts it): a promotion or rollback made elsewhere — another replica, the CLI —
        serves here within ``check_seconds`` plus the model's load, also in a replica where no request used
        the model meanwhile (the reads' own due check alone would answer the first such request with the
        old model). A no-op when checks run in the reading thread (``check_seconds=0``)."""
        with self._starting:
            if not self.background or (self._follower is not None and self._follower.is_alive()):
                return
            self._stop_following.clear()
            self._follower = threading.Thread(target=self._following, name="champion-follow", daemon=True)
            self._follower.start()

    def stop_following(self, timeout: float | None = 10.0) -> None:
        """Stop the thread :meth:`follow` started (the API's shutdown)."""
        self._stop_following.set()
        follower = self._follower
        if follower is not None:
            follower.join(timeout)
        self._follower = None

    def _following(self) -> None:
        while not self._stop_following.wait(self.check_seconds):
            try:
                self.refresh()  # skipped if a read checked meanwhile, or a move is under way
            except Exception:  # never an unhandled error in a thread; the next round tries again
                log.exception("champion check failed")

    def wait_for_check(self, timeout: float | None = None) -> None:
        """Wait until a background check under way has finished (tests; a shutdown that wants it done)."""
        checker = self._checker
        if checker is not None:
            checker.join(timeout)

    def _due(self) -> bool:
        checked = self._checked_at
        return checked is None or self._clock() - checked >= self.check_seconds

    def _follow(self) -> SwapResult:
        """Swap to the version the alias names, unless it already serves (or failed recently)."""
        current = self._serving.version if self._serving else None
        if not self.registered():
            return SwapResult(False, current, current, "no model registry yet")
        try:
            wanted = champion_version(self.registry_uri)
        except Exception as exc:  # an unreachable registry must neither stop the API nor the model serving
            self.last_error = f"registry unavailable: {exc}"
            self._check_failed = True
            log.warning("champion not checked: %s", self.last_error)
            return SwapResult(False, current, current, self.last_error)
        if self._check_failed:
            self._check_failed = False
            self.last_error = None
        if wanted is None:  # no champion (yet, or the alias was removed): keep what serves
            return SwapResult(False, current, current, "no champion registered")
        if wanted == current:
            self._failed = None
            return SwapResult(False, current, current, f"version {current} is serving")
        failed = self._failed
        if (
            failed is not None
            and failed[0] == wanted
            and self._clock() - failed[1] < self.retry_failed_seconds
        ):
            return SwapResult(False, current, current, self.last_error or f"version {wanted} failed to load")
        result = self.swap(wanted)
        if not result.swapped:
            self._failed = (wanted, self._clock())
        return result

    def swap(self, version: str) -> SwapResult:
        """Load ``version`` and make it serve; on failure keep the current model and say why."""
        with self._swap_lock:
            previous = self._serving.version if self._serving else None
            try:
                model = self._load(version)
            except Exception as exc:  # any failure to load (missing artifact, bad format) keeps the old one
                reason = f"version {version} failed to load ({type(exc).__name__}: {exc})"
                reason += f"; version {previous} keeps serving" if previous else "; no model is serving"
                self.last_error = reason
                log.warning("%s", reason)
                return SwapResult(False, previous, previous, reason)
            self._serving = Serving(model, str(version), datetime.now(tz=UTC))
            self.last_error = None
            self._failed = None
            log.info("version %s is serving (was %s)", version, previous)
            return SwapResult(True, str(version), previous, f"version {version} is serving")

    def try_load(self, version: str) -> tuple[RiskModel | None, str | None]:
        """Load without serving (to check a model before the registry's alias moves): (model, error)."""
        try:
            return self._load(version), None
        except Exception as exc:
            return None, f"version {version} failed to load ({type(exc).__name__}: {exc})"

    def install(self, model: RiskModel, version: str) -> SwapResult:
        """Serve an already loaded model (after the registry moved its alias to it)."""
        with self._swap_lock:
            previous = self._serving.version if self._serving else None
            self._serving = Serving(model, str(version), datetime.now(tz=UTC))
            self.last_error = None
            self._failed = None
            return SwapResult(True, str(version), previous, f"version {version} is serving")
