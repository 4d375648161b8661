"""One writer at a time per lake (issue 17): concurrent ingests queue on ``<lake>/.writer.lock`` instead of
mixing their duplicate checks, key checks and sequence numbers; a writer killed with SIGKILL leaves no
stale lock; a writer that waits too long gets a clear "busy" error (the CLI's exit 75)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from features import ingest, lake
from tests.features.conftest import CODE_A, CODE_B, SALT, TODAY, entity, write_csv


def _ingest(lake_dir: Path, path: Path) -> list[ingest.BatchReport]:
    return ingest.ingest_paths([path], lake_dir=lake_dir, salt=SALT, today=TODAY)


def test_an_ingest_waits_for_the_writer_before_it(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    path = write_csv(tmp_path / "in" / "entities.csv", [entity(CODE_A), entity(CODE_B, "乙商店")])
    done = threading.Event()
    reports: list[ingest.BatchReport] = []

    def second_writer() -> None:
        reports.extend(_ingest(lake_dir, path))
        done.set()

    with lake.writer_lock(lake_dir):
        worker = threading.Thread(target=second_writer)
        worker.start()
        # The other writer cannot start while the lock is held: no batch, no sequence, no staging cleanup.
        assert not done.wait(1.0)
        assert lake.batches(lake_dir) == []
    worker.join(timeout=60)
    assert done.is_set() and [r.rows_accepted for r in reports] == [2]


def test_the_lock_is_reentrant_in_one_thread(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    path = write_csv(tmp_path / "in" / "entities.csv", [entity(CODE_A)])
    with lake.writer_lock(lake_dir), lake.writer_lock(lake_dir):
        [report] = _ingest(lake_dir, path)  # takes it again inside: no deadlock
    assert report.status == "ingested"


def test_a_writer_that_waits_too_long_is_told_the_lake_is_busy(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    lake_dir.mkdir()
    failures: list[BaseException] = []

    def waiter() -> None:
        try:
            with lake.writer_lock(lake_dir, timeout=0.2):
                pass
        except lake.LakeBusy as exc:
            failures.append(exc)

    with lake.writer_lock(lake_dir):
        t = threading.Thread(target=waiter)
        t.start()
        t.join(timeout=30)
    assert len(failures) == 1 and "another ingest" in str(failures[0])


HOLDER = """
import sys, time
from pathlib import Path
from features import lake
with lake.writer_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_writer_killed_with_sigkill_leaves_no_stale_lock(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    lake_dir.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lake_dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(lake.LakeBusy), lake.writer_lock(lake_dir, timeout=0.2):
            pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
    started = time.monotonic()
    with lake.writer_lock(lake_dir, timeout=30):
        pass
    assert time.monotonic() - started < 30  # taken, not timed out


def test_a_waiting_ingest_says_so_and_then_runs(tmp_path: Path) -> None:
    """``creditwatch data ingest`` into a lake another writer holds prints that it waits, then ingests."""
    home = tmp_path / "home"
    path = write_csv(tmp_path / "in" / "entities.csv", [entity(CODE_A)])
    lake_dir = home / "lake"
    env = {**os.environ, "CREDITWATCH_HOME": str(home)}
    with lake.writer_lock(lake_dir):
        run = subprocess.Popen(
            [str(Path(sys.executable).with_name("creditwatch")), "--json", "data", "ingest", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            assert run.stderr is not None
            line = run.stderr.readline()  # blocks until the waiting run says so
            assert "waiting for another ingest" in line, line
            assert lake.batches(lake_dir) == []
        except BaseException:
            run.kill()
            run.communicate(timeout=30)
            raise
    _out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert [b.table for b in lake.batches(lake_dir)] == ["entities"]
