"""A killed training run is marked FAILED at the next start (issue 17): a real ``creditwatch train`` on a
small synthetic city is SIGKILLed right after its MLflow run starts (the test-only fault point
``CREDITWATCH_FAULT_AT=training.run_started``); its run is left RUNNING, and the next open of the registry
(the next train, serve or any registry command) marks it FAILED with a tag saying why. A run whose trainer
still holds the training lock is left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import ViewType

from tests.serving.api_city import AS_OF
from training import registry as reg

CREDITWATCH = str(Path(sys.executable).with_name("creditwatch"))


def _runs(uri: str) -> list[tuple[str, str, str | None]]:
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    return [
        (r.info.run_id, r.info.status, r.data.tags.get(reg.FAILED_TAG))
        for r in client.search_runs(experiments, "", ViewType.ALL)
    ]


def test_a_killed_train_is_marked_failed_at_the_next_start(tmp_path: Path) -> None:
    from tests.serving.api_city import small_lake_home

    settings = small_lake_home(tmp_path)
    home = settings.home
    env = {**os.environ, reg.FAULT_ENV: "training.run_started", "CREDITWATCH_HOME": str(home)}
    args = [CREDITWATCH, "--home", str(home), "train", "--until", AS_OF.isoformat()]
    done = subprocess.run(args, env=env, capture_output=True, timeout=600)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    uri = settings.mlflow_uri
    [(run_id, status, reason)] = _runs(uri)
    assert status == "RUNNING" and reason is None  # what issue 17 found: left RUNNING for good

    assert reg.mark_dead_runs(uri) == [run_id]  # what the next start does (train, or a registry open)
    [(_, status, reason)] = _runs(uri)
    assert status == "FAILED" and reason is not None and "ended without finishing the run" in reason


def test_a_running_trainers_run_is_left_alone(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("creditwatch", artifact_location=(tmp_path / "art").as_uri())
    with reg.training_lock(uri):  # this process is a live trainer
        run = client.create_run(experiment, tags={reg.TRAINER_TAG: reg.trainer_tag()})
        assert reg.mark_dead_runs(uri) == []
        untagged = client.create_run(experiment)  # not started by `creditwatch train`
    assert reg.mark_dead_runs(uri) == [run.info.run_id]  # the lock is free: its trainer is gone
    statuses = {r: s for r, s, _ in _runs(uri)}
    assert statuses == {run.info.run_id: "FAILED", untagged.info.run_id: "RUNNING"}
