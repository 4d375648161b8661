"""A registry move is one recorded transaction (issue 17): the mover is SIGKILLed right after each of its
steps (the test-only fault point ``CREDITWATCH_FAULT_AT``), and the next open of the registry finds alias,
version tags, description and history agreeing — the move rolled forward in full — and roll back works
afterwards. A no-op promote is refused, even forced, so roll back never gets stuck on the same version."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from training.registry import ALIAS, FAULT_ENV, JOURNAL_TAG, MODEL_NAME, GateError, Registry

STEPS = (
    "registry.after_journal",
    "registry.after_alias",
    "registry.after_tag",
    "registry.after_description",
    "registry.after_history",
)

MOVE = """
import sys
from training.registry import Registry
uri, kind = sys.argv[1], sys.argv[2]
registry = Registry(uri)
if kind == "promote":
    registry.promote("2", who="analyst-killed", why="killed mid-move", force=True)
else:
    registry.rollback(who="analyst-killed", why="killed mid-rollback")
"""


def _store(tmp_path: Path, versions: int = 2) -> str:
    """A registry with `versions` versions (real MLflow runs, no model artifacts: a move loads nothing)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("creditwatch", artifact_location=(tmp_path / "art").as_uri())
    client.create_registered_model(MODEL_NAME)
    for _ in range(versions):
        run = client.create_run(experiment)
        client.set_terminated(run.info.run_id)
        client.create_model_version(MODEL_NAME, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    return uri


def _killed_at(uri: str, step: str, kind: str) -> None:
    env = {**os.environ, FAULT_ENV: step}
    done = subprocess.run([sys.executable, "-c", MOVE, uri, kind], env=env, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def _assert_consistent(registry: Registry, version: str, who: str, why: str) -> None:
    """Alias, the version's tags and description, and the history's last entry all say the same move."""
    model = registry.client.get_registered_model(MODEL_NAME)
    assert JOURNAL_TAG not in model.tags
    assert registry.champion() == version
    mv = registry.client.get_model_version(MODEL_NAME, version)
    assert mv.tags["promoted_by"] == who and mv.tags["promoted_why"] == why
    assert (mv.description or "").endswith(f"by {who}: {why}")
    history = registry.history()
    assert history[-1]["version"] == version and history[-1]["who"] == who and history[-1]["why"] == why
    assert len({h["id"] for h in history if "id" in h}) == len(history)  # the move appended once


@pytest.mark.parametrize("step", STEPS)
def test_a_promote_killed_after_each_step_is_rolled_forward_in_full(tmp_path: Path, step: str) -> None:
    uri = _store(tmp_path)
    Registry(uri).promote("1", who="analyst-li", why="first model", force=True)
    _killed_at(uri, step, "promote")
    stored = Registry.__new__(Registry)  # the raw store before any open finishes the move
    from mlflow import MlflowClient

    stored.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert JOURNAL_TAG in stored.client.get_registered_model(MODEL_NAME).tags  # the move was left open

    registry = Registry(uri)
    _assert_consistent(registry, "2", "analyst-killed", "killed mid-move")
    assert [h["version"] for h in registry.history()] == ["1", "2"]
    assert [e["version"] for e in registry.recovered] == ["2"] and registry.recovered[0]["previous"] == "1"
    # Roll back works afterwards: back to 1, recorded.
    assert registry.rollback(who="analyst-wang", why="after the crash") == "1"
    _assert_consistent(Registry(uri), "1", "analyst-wang", "after the crash")


@pytest.mark.parametrize("step", STEPS)
def test_a_rollback_killed_after_each_step_is_rolled_forward_in_full(tmp_path: Path, step: str) -> None:
    uri = _store(tmp_path)
    registry = Registry(uri)
    registry.promote("1", who="analyst-li", why="first model", force=True)
    registry.promote("2", who="analyst-li", why="second model", force=True)
    _killed_at(uri, step, "rollback")
    reopened = Registry(uri)
    _assert_consistent(reopened, "1", "analyst-killed", "killed mid-rollback")
    assert [h["version"] for h in reopened.history()] == ["1", "2", "1"]
    assert reopened.rollback(who="analyst-wang", why="undo the roll back") == "2"  # not stuck
    _assert_consistent(Registry(uri), "2", "analyst-wang", "undo the roll back")


def test_a_move_without_a_fault_leaves_no_journal(tmp_path: Path) -> None:
    uri = _store(tmp_path)
    registry = Registry(uri)
    registry.promote("1", who="analyst-li", why="first", force=True)
    _assert_consistent(registry, "1", "analyst-li", "first")
    assert registry.recovered == [] and registry.client.get_model_version_by_alias(MODEL_NAME, ALIAS)


def test_force_promoting_the_champion_is_refused_and_rollback_keeps_working(tmp_path: Path) -> None:
    uri = _store(tmp_path)
    registry = Registry(uri)
    registry.promote("1", who="analyst-li", why="first", force=True)
    registry.promote("2", who="analyst-li", why="second", force=True)
    with pytest.raises(GateError, match="already is the champion"):
        registry.promote("2", who="analyst-li", why="again", force=True)
    assert [h["version"] for h in registry.history()] == ["1", "2"]
    assert registry.rollback(who="analyst-li", why="back") == "1"
    assert registry.rollback(who="analyst-li", why="forth") == "2"


def test_a_history_whose_latest_move_is_not_the_champions_offers_no_roll_back(tmp_path: Path) -> None:
    """A roll back never targets the version that already is the champion (the stuck case of issue 17)."""
    uri = _store(tmp_path)
    registry = Registry(uri)
    registry.promote("1", who="analyst-li", why="first", force=True)
    registry.promote("2", who="analyst-li", why="second", force=True)
    stuck = [*registry.history(), {"version": "2", "previous": "2", "action": "promoted", "who": "x"}]
    registry.client.set_registered_model_tag(MODEL_NAME, "champion_history", json.dumps(stuck))
    assert registry.rollback_target() is None
    with pytest.raises(ValueError, match="nothing to roll back to"):
        registry.rollback(who="analyst-li", why="stuck?")
