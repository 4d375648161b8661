"""The model registry: versions of ``creditwatch-risk`` with their metrics, the champion gate, promote,
rollback.

Only the alias ``champion`` decides what serves. It moves through ``promote`` (after the gate) and
``rollback``; each move records who and why on the version (tags), in the registered model's
``champion_history`` tag (JSON list, newest last) and in the version's description.

MLflow writes the alias, the tags and the description in separate calls, so a move is one recorded
transaction by write-ahead: under an exclusive ``flock`` on ``<store>.moves.lock`` (one move at a time per
store, released by the OS when the mover dies), the move is first written as the registered model's
``champion_move`` tag (id, version, previous, action, who, why, at); then the alias, the version's tags and
description and the history entry (carrying the move's id) are written; then the journal tag is deleted.
Whoever opens the registry next and finds a journal tag (its mover dead: the lock is free) rolls the move
forward (every step is idempotent; the history entry is appended once, by id), so alias, tags and history
always show either the state before the move or the state after it, in full.

A training run holds a shared ``flock`` on ``<store>.training.lock`` while it is RUNNING and is tagged with
its process (``creditwatch.trainer``). A RUNNING run so tagged when nobody holds that lock belongs to a dead
process: the next train, or the first registry open in a process, marks it FAILED with the tag
``creditwatch.failed_reason``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.risk_model import RiskModel

MODEL_NAME = "creditwatch-risk"
ALIAS = "champion"
# metric → (higher_is_better, tolerance): the challenger may be worse than the champion by at most this much.
DEFAULT_TOLERANCES: dict[str, tuple[bool, float]] = {
    "test_roc_auc": (True, 0.005),
    "test_pr_auc": (True, 0.01),
    "test_brier": (False, 0.002),
    "test_ece": (False, 0.01),
}
SHOWN_METRICS = (
    "test_roc_auc",
    "test_pr_auc",
    "test_ece",
    "test_brier",
    "test_recall_at_budget",
    "control_roc_auc",
)


JOURNAL_TAG = "champion_move"
TRAINER_TAG = "creditwatch.trainer"
FAILED_TAG = "creditwatch.failed_reason"
FAULT_ENV = "CREDITWATCH_FAULT_AT"


class GateError(RuntimeError):
    """The challenger failed the champion gate (the message lists every failed check)."""


def fault_point(name: str) -> None:
    """Test-only fault injection, read in this one place: the process SIGKILLs itself at the point named by
    the environment variable ``CREDITWATCH_FAULT_AT`` (e.g. ``registry.after_alias``). Unset: nothing."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _store_file(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def lock_path(uri: str, kind: str) -> Path | None:
    """``<store>.<kind>.lock`` beside a SQLite tracking store (None for other stores: no file lock)."""
    store = _store_file(uri)
    return None if store is None else store.with_name(f"{store.name}.{kind}.lock")


_held = threading.local()


@contextlib.contextmanager
def _exclusive(path: Path | None) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (waited for), re-entrant within a thread."""
    key = str(path)
    depth: dict[str, int] = _held.__dict__.setdefault("depth", {})
    if depth.get(key, 0) or path is None:
        depth[key] = depth.get(key, 0) + 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holding(path: Path | None) -> bool:
    return bool(_held.__dict__.get("depth", {}).get(str(path), 0))


@contextlib.contextmanager
def training_lock(uri: str) -> Iterator[None]:
    """Held (shared) by a training process for as long as its MLflow run is RUNNING; first, when no other
    trainer holds it, the RUNNING runs of dead trainers are marked FAILED (:func:`mark_dead_runs`)."""
    path = lock_path(uri, "training")
    mark_dead_runs(uri)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def trainer_tag() -> str:
    """The tag a training run carries: which process runs it (for the FAILED reason if it dies)."""
    started = datetime.now(tz=UTC).isoformat(timespec="seconds")
    return f"pid {os.getpid()} on {socket.gethostname()}, started {started}"


def mark_dead_runs(uri: str) -> list[str]:
    """Mark FAILED every RUNNING run tagged ``creditwatch.trainer`` when no training process holds the
    store's training lock (so the process that started it is gone); returns their ids. Another trainer
    alive: nothing is marked (its run cannot be told from a dead one's), the next start will."""
    path = lock_path(uri, "training")
    if path is None or not path.exists() or not exists(uri):
        return []
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []
        try:
            return _fail_running(uri)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _fail_running(uri: str) -> list[str]:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    if not experiments:
        return []
    now = datetime.now(tz=UTC).isoformat(timespec="seconds")
    failed = []
    for run in client.search_runs(experiments, "attributes.status = 'RUNNING'", ViewType.ALL):
        trainer = run.data.tags.get(TRAINER_TAG)
        if trainer is None:
            continue  # not started by `creditwatch train`: not ours to judge
        client.set_tag(
            run.info.run_id,
            FAILED_TAG,
            f"the training process ({trainer}) ended without finishing the run (killed); "
            f"marked FAILED at {now} by pid {os.getpid()} on {socket.gethostname()}",
        )
        client.set_terminated(run.info.run_id, status="FAILED")
        failed.append(run.info.run_id)
    return failed


_swept: set[str] = set()
_swept_lock = threading.Lock()


@contextlib.contextmanager
def tracking(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at ``uri`` for the block, then restore the previous setting."""
    import mlflow

    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    previous_registry = mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        if previous is not None:
            mlflow.set_tracking_uri(previous)
            mlflow.set_registry_uri(previous_registry)


@dataclass
class GateResult:
    passed: bool
    challenger: str
    champion: str | None
    checks: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""


def gate_checks(
    challenger: Mapping[str, float],
    champion: Mapping[str, float],
    *,
    tolerances: Mapping[str, tuple[bool, float]] | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """The champion gate's rule on two sets of metrics measured on the same rows: per metric of
    ``tolerances`` (default :data:`DEFAULT_TOLERANCES`), the challenger may be worse than the champion by at
    most the tolerance; a metric missing on either side fails. Returns the checks and the reason. One rule
    for :meth:`Registry.gate` and for the sector models' comparison with the general model (issue 15)."""
    tol = DEFAULT_TOLERANCES if tolerances is None else tolerances
    checks: list[dict[str, Any]] = []
    for metric, (higher, allowed) in sorted(tol.items()):
        ours, theirs = challenger.get(metric), champion.get(metric)
        if ours is None or theirs is None:
            checks.append(
                {
                    "metric": metric,
                    "challenger": ours,
                    "champion": theirs,
                    "passed": False,
                    "rule": "metric missing",
                }
            )
            continue
        worse_by = (theirs - ours) if higher else (ours - theirs)
        checks.append(
            {
                "metric": metric,
                "challenger": ours,
                "champion": theirs,
                "worse_by": worse_by,
                "tolerance": allowed,
                "passed": worse_by <= allowed,
                "rule": f"{'drop' if higher else 'rise'} ≤ {allowed}",
            }
        )
    failed = [c["metric"] for c in checks if not c["passed"]]
    reason = "all checks passed" if not failed else f"worse than the champion beyond tolerance on {failed}"
    return checks, reason


def exists(tracking_uri: str) -> bool:
    """Whether there is a registry to read. A SQLite tracking store that does not exist yet has none: looking
    must not create it (``Registry`` would, with MLflow's migrations)."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///")).exists()
    return True


class Registry:
    """Registry operations on one tracking/registry URI (e.g. ``sqlite:///var/mlflow.db``)."""

    def __init__(self, tracking_uri: str, *, name: str = MODEL_NAME) -> None:
        from mlflow import MlflowClient

        self.uri = tracking_uri
        self.name = name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._moves_lock = lock_path(tracking_uri, "moves")
        self.recovered: list[dict[str, Any]] = []  # moves this instance finished for a dead mover
        self.last_move: dict[str, Any] | None = None  # the latest move this instance made (with its id)
        with _swept_lock:
            first = tracking_uri not in _swept
            _swept.add(tracking_uri)
        if first:  # the first open in a process: runs of dead trainers are marked FAILED
            mark_dead_runs(tracking_uri)
        if exists(tracking_uri):  # every open: a move a killed mover left unfinished is finished
            self._model()

    # -- reading ---------------------------------------------------------------------------------------
    def _read_model(self) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(self.name)
        except MlflowException:
            return None

    def _model(self) -> Any:
        """The registered model (None if there is none), after finishing a move its mover left unfinished."""
        model = self._read_model()
        if model is not None and JOURNAL_TAG in model.tags and not _holding(self._moves_lock):
            with _exclusive(self._moves_lock):  # waits for a live mover; a dead one's lock is free
                self._finish_unfinished()
            model = self._read_model()
        return model

    def settle(self) -> list[dict[str, Any]]:
        """Finish a move left unfinished by a dead mover (if any); the moves finished so, by this instance."""
        self._model()
        return list(self.recovered)

    def _exists(self) -> bool:
        return self._model() is not None

    def champion(self) -> str | None:
        from mlflow.exceptions import MlflowException

        if not self._exists():
            return None
        try:
            return str(self.client.get_model_version_by_alias(self.name, ALIAS).version)
        except MlflowException:
            return None

    def _run_metrics(self, version: str) -> dict[str, float]:
        mv = self.client.get_model_version(self.name, version)
        return dict(self.client.get_run(mv.run_id).data.metrics) if mv.run_id else {}

    def versions(self) -> list[dict[str, Any]]:
        """Every version, newest first: version, run, created, aliases, who/why of promotions, key metrics."""
        if not self._exists():
            return []
        champion = self.champion()
        rows = []
        for mv in self.client.search_model_versions(f"name='{self.name}'"):
            metrics = self._run_metrics(str(mv.version))
            rows.append(
                {
                    "version": str(mv.version),
                    "champion": str(mv.version) == champion,
                    "run_id": mv.run_id,
                    "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC).isoformat(
                        timespec="seconds"
                    ),
                    **{m: metrics.get(m) for m in SHOWN_METRICS},
                    "promoted_by": mv.tags.get("promoted_by"),
                    "promoted_why": mv.tags.get("promoted_why"),
                }
            )
        rows.sort(key=lambda r: -int(str(r["version"])))
        return rows

    def compare(self, a: str, b: str) -> list[dict[str, Any]]:
        """Metric by metric, version ``a`` against ``b`` (each on its own test window; see ``gate``)."""
        ma, mb = self._run_metrics(a), self._run_metrics(b)
        keys = sorted(k for k in set(ma) | set(mb) if not k.startswith("champion_"))
        return [
            {
                "metric": k,
                a: ma.get(k),
                b: mb.get(k),
                "difference": (ma[k] - mb[k]) if k in ma and k in mb else None,
            }
            for k in keys
        ]

    def history(self) -> list[dict[str, Any]]:
        model = self._model()
        if model is None:
            return []
        return list(json.loads(model.tags.get("champion_history", "[]")))

    # -- the gate --------------------------------------------------------------------------------------
    def gate(self, version: str, *, tolerances: Mapping[str, tuple[bool, float]] | None = None) -> GateResult:
        """Challenger vs the current champion on the SAME test window.

        At training time the champion was scored on the challenger's test rows and its metrics were logged
        in the challenger's run as ``champion_<metric>`` with the tag ``gate.champion_version``. The gate
        uses those, and refuses if the champion has changed since (the comparison would be stale).
        """
        tol = dict(DEFAULT_TOLERANCES if tolerances is None else tolerances)
        champion = self.champion()
        if champion is None:
            return GateResult(True, version, None, reason="no champion yet: the first model passes")
        if champion == version:
            return GateResult(False, version, champion, reason=f"version {version} already is the champion")
        mv = self.client.get_model_version(self.name, version)
        run = self.client.get_run(str(mv.run_id))
        compared = run.data.tags.get("gate.champion_version")
        if compared != champion:
            return GateResult(
                False,
                version,
                champion,
                reason=(
                    f"version {version} was compared on its test window with champion "
                    f"{compared or 'none'}, but the champion is now {champion}; retrain the challenger"
                ),
            )
        metrics = run.data.metrics
        theirs = {k.removeprefix("champion_"): v for k, v in metrics.items() if k.startswith("champion_")}
        checks, reason = gate_checks(metrics, theirs, tolerances=tol)
        return GateResult(all(c["passed"] for c in checks), version, champion, checks, reason)

    # -- moving the alias ------------------------------------------------------------------------------
    def _finish_unfinished(self) -> None:
        """With the moves lock held: roll an unfinished move (journal tag present) forward, in full."""
        model = self._read_model()
        raw = None if model is None else model.tags.get(JOURNAL_TAG)
        if raw is None:
            return
        entry = dict(json.loads(raw))
        self._apply(entry)
        self.client.delete_registered_model_tag(self.name, JOURNAL_TAG)
        self.recovered.append(entry)

    def _apply(self, entry: Mapping[str, Any]) -> None:
        """The steps of a move, each idempotent (a fault point after each, for the kill -9 tests)."""
        version, who, why, at = entry["version"], entry["who"], entry["why"], entry["at"]
        self.client.set_registered_model_alias(self.name, ALIAS, version)
        fault_point("registry.after_alias")
        self.client.set_model_version_tag(self.name, version, "promoted_by", who)
        self.client.set_model_version_tag(self.name, version, "promoted_why", why)
        fault_point("registry.after_tag")
        self.client.set_model_version_tag(self.name, version, "promoted_at", at)
        self.client.update_model_version(
            self.name, version, description=f"{entry['action']} to champion on {at} by {who}: {why}"
        )
        fault_point("registry.after_description")
        history = self.history()
        if not any(h.get("id") == entry["id"] for h in history):
            history.append(dict(entry))
            self.client.set_registered_model_tag(
                self.name, "champion_history", json.dumps(history, ensure_ascii=False)
            )
        fault_point("registry.after_history")

    def _move(self, version: str, *, who: str, why: str, action: str, at: datetime | None) -> None:
        """With the moves lock held: journal the move, apply it, close the journal (see the module)."""
        now = (at or datetime.now(tz=UTC)).astimezone(UTC).isoformat(timespec="seconds")
        entry = {
            "version": version,
            "previous": self.champion(),
            "action": action,
            "who": who,
            "why": why,
            "at": now,
            "id": uuid.uuid4().hex,
        }
        self.client.set_registered_model_tag(self.name, JOURNAL_TAG, json.dumps(entry, ensure_ascii=False))
        fault_point("registry.after_journal")
        self._apply(entry)
        self.client.delete_registered_model_tag(self.name, JOURNAL_TAG)
        self.last_move = entry

    def promote(
        self,
        version: str,
        *,
        who: str,
        why: str,
        force: bool = False,
        tolerances: Mapping[str, tuple[bool, float]] | None = None,
        at: datetime | None = None,
    ) -> GateResult:
        """Move ``champion`` to ``version`` if it passes the gate (``force`` records an override, never
        silently).

        ``at`` is when the move is recorded (the caller's clock; default now). Promoting the champion itself
        is refused even with ``force``: there is nothing to move, and the history would record a move (whose
        roll back would return to the same version for good)."""
        if not who.strip() or not why.strip():
            raise ValueError("promote needs who and why (both are recorded)")
        self.client.get_model_version(self.name, version)  # a clear MLflow error if it does not exist
        with _exclusive(self._moves_lock):
            self._finish_unfinished()
            if self.champion() == version:
                raise GateError(f"version {version} already is the champion: nothing to promote")
            result = self.gate(version, tolerances=tolerances)
            if not result.passed and not force:
                raise GateError(f"version {version} failed the champion gate: {result.reason}")
            action = "promoted" if result.passed else "force-promoted (gate failed: " + result.reason + ")"
            self._move(version, who=who, why=why, action=action, at=at)
        return result

    def rollback_target(self) -> str | None:
        """The version a roll back returns to: the one the champion named before its latest move (None if
        there is none, or if the history's latest move is not the champion's)."""
        history = self.history()
        champion = self.champion()
        if not history or history[-1]["previous"] is None or str(history[-1]["version"]) != champion:
            return None
        target = str(history[-1]["previous"])
        return None if target == champion else target

    def rollback(self, *, who: str, why: str, at: datetime | None = None) -> str:
        """Move ``champion`` back to the version it pointed at before the latest move; returns that
        version."""
        if not who.strip() or not why.strip():
            raise ValueError("rollback needs who and why (both are recorded)")
        with _exclusive(self._moves_lock):
            self._finish_unfinished()
            target = self.rollback_target()
            if target is None:
                raise ValueError("nothing to roll back to: the champion has no earlier version")
            latest = self.history()[-1]["version"]
            self._move(target, who=who, why=why, action=f"rolled back from {latest}", at=at)
        return target

    def load(self, version: str | None = None) -> RiskModel:
        """The RiskModel of ``version`` or of the champion, loaded offline through the registry."""
        from models.risk_model import load_model

        uri = f"models:/{self.name}/{version}" if version else f"models:/{self.name}@{ALIAS}"
        if version is None and self.champion() is None:
            raise LookupError(f"no champion for {self.name!r} yet: train and promote a model first")
        with tracking(self.uri):
            return load_model(uri)
