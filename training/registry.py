"""The model registry: versions of ``creditwatch-risk`` with their metrics, the champion gate, promote,
rollback.

Only the alias ``champion`` decides what serves. It moves through ``promote`` (after the gate) and
``rollback``; each move records who and why on the version (tags), in the registered model's
``champion_history`` tag (JSON list, newest last) and in the version's description.
"""

from __future__ import annotations

import contextlib
import json
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


class GateError(RuntimeError):
    """The challenger failed the champion gate (the message lists every failed check)."""


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

    # -- reading ---------------------------------------------------------------------------------------
    def _exists(self) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.name)
        except MlflowException:
            return False
        return True

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
        if not self._exists():
            return []
        raw = self.client.get_registered_model(self.name).tags.get("champion_history", "[]")
        return list(json.loads(raw))

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
        checks = []
        for metric, (higher, allowed) in sorted(tol.items()):
            ours, theirs = metrics.get(metric), metrics.get(f"champion_{metric}")
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
        reason = (
            "all checks passed" if not failed else f"worse than the champion beyond tolerance on {failed}"
        )
        return GateResult(not failed, version, champion, checks, reason)

    # -- moving the alias ------------------------------------------------------------------------------
    def _move(self, version: str, *, who: str, why: str, action: str, at: datetime | None) -> None:
        now = (at or datetime.now(tz=UTC)).astimezone(UTC).isoformat(timespec="seconds")
        previous = self.champion()
        self.client.set_registered_model_alias(self.name, ALIAS, version)
        self.client.set_model_version_tag(self.name, version, "promoted_by", who)
        self.client.set_model_version_tag(self.name, version, "promoted_why", why)
        self.client.set_model_version_tag(self.name, version, "promoted_at", now)
        self.client.update_model_version(
            self.name, version, description=f"{action} to champion on {now} by {who}: {why}"
        )
        history = self.history()
        history.append(
            {"version": version, "previous": previous, "action": action, "who": who, "why": why, "at": now}
        )
        self.client.set_registered_model_tag(
            self.name, "champion_history", json.dumps(history, ensure_ascii=False)
        )

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
        is refused even with ``force``: there is nothing to move, and the history would record a move."""
        if not who.strip() or not why.strip():
            raise ValueError("promote needs who and why (both are recorded)")
        self.client.get_model_version(self.name, version)  # a clear MLflow error if it does not exist
        if self.champion() == version:
            raise GateError(f"version {version} already is the champion: nothing to promote")
        result = self.gate(version, tolerances=tolerances)
        if not result.passed and not force:
            raise GateError(f"version {version} failed the champion gate: {result.reason}")
        action = "promoted" if result.passed else "force-promoted (gate failed: " + result.reason + ")"
        self._move(version, who=who, why=why, action=action, at=at)
        return result

    def rollback(self, *, who: str, why: str, at: datetime | None = None) -> str:
        """Move ``champion`` back to the version it pointed at before the latest move; returns that
        version."""
        if not who.strip() or not why.strip():
            raise ValueError("rollback needs who and why (both are recorded)")
        history = self.history()
        if not history or history[-1]["previous"] is None:
            raise ValueError("nothing to roll back to: the champion has no earlier version")
        target = str(history[-1]["previous"])
        self._move(target, who=who, why=why, action=f"rolled back from {history[-1]['version']}", at=at)
        return target

    def load(self, version: str | None = None) -> RiskModel:
        """The RiskModel of ``version`` or of the champion, loaded offline through the registry."""
        from models.risk_model import load_model

        uri = f"models:/{self.name}/{version}" if version else f"models:/{self.name}@{ALIAS}"
        if version is None and self.champion() is None:
            raise LookupError(f"no champion for {self.name!r} yet: train and promote a model first")
        with tracking(self.uri):
            return load_model(uri)
