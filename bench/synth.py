"""Synthetic city benchmark: wall time, CPU time and peak memory of ``features.synth.generate``.

    python -m bench.synth --entities 1000000      # full run, writes the "Synthetic city" section
    python -m bench.synth --entities 100000 --no-write

The generation runs in a fresh subprocess so that its peak resident memory (ru_maxrss of the child) and
CPU time are its own; the child reports the time each step started.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.report import write_section

_CHILD = """
import json, sys, time
from pathlib import Path
from features.synth import CityConfig, generate
marks = []
start = time.perf_counter()
report = generate(
    CityConfig(entities=int(sys.argv[1]), years=int(sys.argv[2]), seed=int(sys.argv[3])),
    Path(sys.argv[4]),
    progress=lambda step: marks.append((step, time.perf_counter() - start)),
)
marks.append(("done", time.perf_counter() - start))
print(json.dumps({"report": report.to_dict(), "marks": marks}))
"""


def run(entities: int, years: int = 5, seed: int = 0) -> dict[str, Any]:
    """Generate one city in a subprocess; wall and CPU seconds, peak RSS, rows and bytes written."""
    work = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    out = work / "city"
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(entities), str(years), str(seed), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    shutil.rmtree(work)
    marks = child["marks"]
    steps = {name: marks[i + 1][1] - t for i, (name, t) in enumerate(marks[:-1])}
    return {
        "entities": entities,
        "years": years,
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_gb": after.ru_maxrss / 1024**2,  # KiB on Linux
        "records": child["report"]["records"],
        "dirt_rows": child["report"]["dirt_rows"],
        "oracle_auc": child["report"]["oracle_auc"],
        "bytes": size,
        "steps": steps,
        "load": load,
    }


def _write_docs(r: dict[str, Any], command: str) -> None:
    head = "## Synthetic city"
    steps = " · ".join(f"{name} {seconds:.1f} s" for name, seconds in r["steps"].items())
    header = (
        "| entities | years | records written | of which dirt | files on disk | wall time | CPU time "
        "| peak RSS | target (issue 3) |"
    )
    row = (
        f"| {r['entities']:,} | {r['years']} | {r['records']:,} | {r['dirt_rows']:,} | "
        f"{r['bytes'] / 1e6:,.0f} MB | {r['wall']:.0f} s | {r['cpu']:.0f} s | {r['peak_gb']:.1f} GB | "
        "< 3 min, < 8 GB |"
    )
    section = f"""{head}

Command: `{command}` — machine: {platform.machine()}, 2 vCPU, 24 GB RAM, Python {platform.python_version()},
polars {pl.__version__}, numpy {np.__version__} (shared machine: load average {r["load"]:.1f} at the start of
this run, so wall time includes waiting for the CPU; CPU time is the child's user + system seconds).
Inputs: `features.synth.generate(CityConfig(entities={r["entities"]:,}, years={r["years"]}))`, default dirt
rate.

{header}
|---|---|---|---|---|---|---|---|---|
{row}

Steps (wall): {steps}. Oracle AUC of this city: {r["oracle_auc"]:.3f}.
"""
    write_section(section)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true", help="print results, do not touch docs/benchmarks.md")
    args = ap.parse_args()
    r = run(args.entities, args.years, args.seed)
    for k, v in r.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    if not args.no_write:
        command = f"python -m bench.synth --entities {args.entities}" + (
            f" --years {args.years}" if args.years != 5 else ""
        )
        _write_docs(r, command)


if __name__ == "__main__":
    main()
