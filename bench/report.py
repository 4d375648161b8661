"""docs/benchmarks.md: each benchmark owns one ``## Heading`` section and replaces only that section."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def replace_section(doc: str, section: str) -> str:
    """``doc`` with the section headed like ``section``'s first line replaced (or appended if absent)."""
    heading = section.splitlines()[0]
    if not heading.startswith("## "):
        raise ValueError(f"a benchmark section starts with '## ', got {heading!r}")
    body = section.strip("\n") + "\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(doc):
        return pattern.sub(lambda _: body + "\n", doc, count=1).rstrip("\n") + "\n"
    return doc.rstrip("\n") + "\n\n" + body


def write_section(section: str, path: Path = DOCS) -> None:
    """Replace this benchmark's section of ``path``, leaving the other benchmarks' sections alone."""
    doc = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    path.write_text(replace_section(doc, section), encoding="utf-8")
