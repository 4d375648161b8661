"""A full or read-only disk is one clear line and an exit code from the real command, never a traceback.

The disk is a real one: a small tmpfs mounted for the test (root only, as CI runs; elsewhere skipped)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("creditwatch"))


@contextmanager
def _small_disk(path: Path, *, size: str = "256k") -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}): needs root, as in CI")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CREDITWATCH_DEMO": "1"}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small disk needs root (CI runs as root)")
def test_a_full_disk_is_one_line_and_exit_74(tmp_path: Path) -> None:
    with _small_disk(tmp_path / "disk") as disk:
        result = _run(
            "--home", str(disk), "data", "generate", "--out", str(disk / "city"), "--entities", "3000"
        )
    assert result.returncode == 74, result.stderr
    assert "Traceback" not in result.stderr
    # Above it the progress bar's last state; the error itself is one line.
    assert result.stderr.strip().splitlines()[-1].startswith("error: No space left on device")


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small disk needs root (CI runs as root)")
def test_a_read_only_disk_is_one_line_and_exit_73(tmp_path: Path) -> None:
    with _small_disk(tmp_path / "disk") as disk:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        generated = _run(
            "--home", str(disk), "data", "generate", "--out", str(disk / "city"), "--entities", "100"
        )
        upgraded = _run("--home", str(disk), "db", "upgrade")
    assert generated.returncode == 73, generated.stderr
    assert "Traceback" not in generated.stderr
    assert generated.stderr.strip().splitlines()[-1].startswith("error: Read-only file system")
    # The database commands already say it in their own words: one line, non-zero.
    assert upgraded.returncode != 0 and "Traceback" not in upgraded.stderr
    assert "unable to open database file" in upgraded.stderr
