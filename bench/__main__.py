"""``python -m bench NAME [ARGS]``: run one benchmark (each writes its section of docs/benchmarks.md).

``python -m bench report [NAME ...]`` shows those sections.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def _names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in _names():
        print(
            "usage: python -m bench NAME [ARGS]   (NAME: "
            + ", ".join(_names())
            + "; NAME --help for options)"
        )
        raise SystemExit(2)
    name = sys.argv[1]
    sys.argv = [f"bench.{name}", *sys.argv[2:]]
    importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main()
