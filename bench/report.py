"""docs/benchmarks.md: each benchmark owns one ``## Heading`` section and replaces only that section.

``python -m bench report`` lists the sections (the benchmarks with results); ``python -m bench report NAME``
prints the named sections in full.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
_SECTION_START = re.compile(r"^(?=## )", re.M)


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


def sections(doc: str) -> dict[str, str]:
    """The ``## Heading`` sections of ``doc`` in order: heading text → the section's text, heading
    included."""
    parts = (part for part in _SECTION_START.split(doc) if part.startswith("## "))
    return {part.splitlines()[0][3:].strip(): part.strip("\n") + "\n" for part in parts}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench report",
        description="The benchmark results in docs/benchmarks.md: the list of sections, or the named ones.",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="a section's heading, any case (e.g. 'Sampling'); none: list the headings",
    )
    parser.add_argument("--doc", type=Path, default=DOCS, help=f"the results file (default: {DOCS})")
    args = parser.parse_args(argv)
    if not args.doc.is_file():
        parser.error(f"--doc: no such file: {args.doc}")
    found = sections(args.doc.read_text(encoding="utf-8"))
    if not args.names:
        print("\n".join(found))
        return
    by_key = {heading.casefold(): heading for heading in found}
    unknown = [name for name in args.names if name.casefold() not in by_key]
    if unknown:
        parser.error(
            f"no section {', '.join(map(repr, unknown))} in {args.doc}; the sections: {', '.join(found)}"
        )
    print("\n".join(found[by_key[name.casefold()]] for name in args.names), end="")


if __name__ == "__main__":
    main()
