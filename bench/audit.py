"""Audit log benchmark: appends (one transaction each, and group-committed from concurrent threads), verify.

    python -m bench.audit                                    # SQLite file in a temporary folder
    python -m bench.audit --url postgresql+psycopg://postgres@127.0.0.1:5432/bench_audit   # an empty database

Prints a Markdown table for docs/api.md. Entries look like the API's: actor, role, action, target, source and
a small details object.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from typing import Any

import sqlalchemy as sa

from serving.api.trail import AuditWriter
from supervision.platform import audit
from supervision.platform.db import make_engine, session_scope, upgrade


def _entry(k: int, i: int) -> dict[str, Any]:
    return {
        "actor": f"reader{k}#{k}",
        "role": "supervisor",
        "action": "entities.read",
        "target": f"uscc:91320900MA1X{i:04d}",
        "source": "127.0.0.1",
        "details": {"method": "GET", "path": f"/entities/{i}", "status": 200},
    }


def run(
    engine: sa.Engine, *, singles: int, threads: int, per_thread: int, fill: int
) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    start = time.perf_counter()
    for i in range(singles):
        with session_scope(engine) as session:
            audit.append(session, **_entry(0, i))
    took = time.perf_counter() - start
    rows.append((f"append, one transaction each ({singles:,} entries)", f"{singles / took:,.0f}/s"))

    writer = AuditWriter(engine)

    def work(k: int) -> None:
        for i in range(per_thread):
            writer.write(_entry(k, i))

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    start = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    took = time.perf_counter() - start
    n = threads * per_thread
    rows.append(
        (
            f"group commit, {threads} threads ({n:,} entries)",
            f"{n / took:,.0f}/s ({writer.flushes:,} commits, {n / writer.flushes:.1f} entries each)",
        )
    )

    with session_scope(engine) as session:
        for lo in range(0, fill, 1000):
            audit.append_many(session, [_entry(9, i) for i in range(lo, min(fill, lo + 1000))])
    start = time.perf_counter()
    with session_scope(engine) as session:
        result = audit.verify(session)
    took = time.perf_counter() - start
    assert result.ok, result
    rows.append((f"verify ({result.entries:,} entries)", f"{took:.2f} s ({result.entries / took:,.0f}/s)"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an empty database (default: a new SQLite file)")
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--per-thread", type=int, default=200)
    parser.add_argument("--fill", type=int, default=50_000)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-audit-')}/audit.db"
    engine = make_engine(url)
    upgrade(engine)
    load = os.getloadavg()[0]
    rows = run(engine, singles=args.singles, threads=args.threads, per_thread=args.per_thread, fill=args.fill)
    backend = engine.dialect.name
    print(
        f"Command: `python -m bench.audit{' --url ...' if args.url else ''}` ({backend}) — machine: "
        f"{platform.machine()}, {os.cpu_count()} vCPU, Python {platform.python_version()}, "
        f"load average {load:.1f} at the start\n"
    )
    print("| step | result |\n|---|---|")
    for step, result in rows:
        print(f"| {step} | {result} |")
    engine.dispose()


if __name__ == "__main__":
    main()
