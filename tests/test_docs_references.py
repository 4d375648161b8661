"""Every test a document names exists: a rule table's "Test" column is only worth something if the test is
there (docs/*.md, README.md; ``tests/…py`` and ``tests/…py::name`` references, and ``::name`` following one
in the same line)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
REFERENCE = re.compile(r"(tests/[\w/{},.]+?\.py)((?:::[\w]+(?:\[[^\]]*\])?)?)|(?<![\w/.])::(test_\w+)")


def _names(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return set(re.findall(r"^\s*(?:async\s+)?def (test_\w+)", text, flags=re.M))


def _expand(file: str) -> list[str]:
    """`tests/serving/test_{a,b}.py` names two files."""
    m = re.search(r"\{([^}]+)\}", file)
    if not m:
        return [file]
    return [file[: m.start()] + part + file[m.end() :] for part in m.group(1).split(",")]


def _references() -> list[tuple[str, int, str, str | None]]:
    found = []
    for doc in DOCS:
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
            current: list[str] = []
            for file, test, bare in REFERENCE.findall(line):
                if file:
                    current = _expand(file)
                    name = test.removeprefix("::").split("[")[0] or None
                    found += [(f"{doc.name}:{number}", number, f, name) for f in current]
                elif bare and current:
                    found += [(f"{doc.name}:{number}", number, f, bare) for f in current]
    return found


def test_the_documents_name_tests() -> None:
    assert len(_references()) > 100  # the scan finds the rule tables' tests


@pytest.mark.parametrize("where,number,file,name", _references(), ids=lambda v: str(v))
def test_a_named_test_exists(where: str, number: int, file: str, name: str | None) -> None:
    path = ROOT / file
    assert path.is_file(), f"{where}: {file} does not exist"
    if name is not None and name.startswith("test_"):
        assert name in _names(path), f"{where}: {file} has no test {name}"
