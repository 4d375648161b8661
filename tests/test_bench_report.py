"""bench.report: a benchmark replaces its own section of docs/benchmarks.md and nothing else."""

from __future__ import annotations

import pytest

from bench.report import replace_section

DOC = "# Benchmarks\n\nintro\n\n## A\n\nold a\n\n## B\n\nold b\n"


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
