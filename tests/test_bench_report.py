"""bench.report: a benchmark replaces its own section of docs/benchmarks.md and nothing else, and
``python -m bench report`` shows the sections as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import replace_section

DOC = "# Benchmarks\n\nintro\n\n## A\n\nold a\n\n## B\n\nold b\n"
ROOT = Path(__file__).resolve().parents[1]


def test_replaces_only_its_own_section() -> None:
    out = replace_section(DOC, "## A\n\nnew a\n")
    assert out == "# Benchmarks\n\nintro\n\n## A\n\nnew a\n\n## B\n\nold b\n"


def test_last_section_and_append() -> None:
    assert (
        replace_section(DOC, "## B\n\nnew b") == "# Benchmarks\n\nintro\n\n## A\n\nold a\n\n## B\n\nnew b\n"
    )
    assert replace_section(DOC, "## C\n\nc\n").endswith("## B\n\nold b\n\n## C\n\nc\n")


def test_heading_is_required() -> None:
    with pytest.raises(ValueError, match="starts with '## '"):
        replace_section(DOC, "no heading")


def _bench_report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "report", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "benchmarks.md"
    path.write_text(
        "# Benchmarks\n\nintro\n\n## Sampling\n\n| step | wall |\n|---|---|\n| draw | 0.31 s |\n\n"
        "## Model on the synthetic city\n\nAUC 0.75\n### detail\n\nmore\n",
        encoding="utf-8",
    )
    return path


def test_command_lists_the_sections(doc: Path) -> None:
    done = _bench_report("--doc", str(doc))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Sampling\nModel on the synthetic city\n"


def test_command_prints_the_named_sections_in_full(doc: Path) -> None:
    done = _bench_report("model on the synthetic city", "SAMPLING", "--doc", str(doc))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "## Model on the synthetic city\n\nAUC 0.75\n### detail\n\nmore\n\n"
        "## Sampling\n\n| step | wall |\n|---|---|\n| draw | 0.31 s |\n"
    )


def test_command_refuses_an_unknown_section_or_file(doc: Path, tmp_path: Path) -> None:
    done = _bench_report("Serving", "--doc", str(doc))
    assert done.returncode == 2 and done.stdout == ""
    assert "no section 'Serving'" in done.stderr
    assert "the sections: Sampling, Model on the synthetic city" in done.stderr
    missing = _bench_report("--doc", str(tmp_path / "absent.md"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_command_help_names_it() -> None:
    done = _bench_report("--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: python -m bench report")
