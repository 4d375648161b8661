"""Partitioned execution (issue 16): the city cut into ``n`` partitions by a hash of a key, and the few
operations a partitioned computation needs, behind one small interface.

An :class:`Engine` holds a *partitioned frame* as a list of ``n`` opaque handles (for :class:`LocalEngine`,
the polars DataFrames themselves; for the Dask engine, futures on the cluster's workers). The same
computation, written once against this interface with plain polars functions, runs in one process
(:class:`LocalEngine`) or on a ``dask.distributed`` cluster — the code path is the same, only the engine
differs.

- :meth:`Engine.map` applies a function partition by partition (the k-th handle of every partitioned
  argument; other arguments are passed as they are, to every partition).
- :meth:`Engine.shuffle` re-partitions by the hash of a key column: afterwards every row whose key hashes to
  ``k`` sits in partition ``k`` (a hash join of two frames shuffled on the join key is then a ``map``).
- :meth:`Engine.gather` brings the partitions back to the caller (small results only: counts, flags).

The partition of a key is :func:`partition_of`: polars' hash with a fixed seed, modulo ``n``. Polars
guarantees that hash only within one polars version; every process of a run (the client and every worker)
runs the same pinned version (constraints.txt), and a run's partition files are written and read as a
whole, so nothing depends on it across versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

if TYPE_CHECKING:
    from distributed import Client

SEED = 0x5EED


def partition_of(key: pl.Expr, n: int) -> pl.Expr:
    """The partition (0 … n-1, UInt32) of each value of ``key``; every null key lands in one partition."""
    if n < 1:
        raise ValueError(f"the number of partitions must be at least 1, got {n}")
    # A value below n always fits: the cast is not strict, so the optimiser may move a filter on the partition
    # below a de-duplication on the key (a strict cast could fail, and blocks it): the lake's versioned
    # entities are then read partition by partition, not whole (docs/scaling.md, "Reading").
    return (key.hash(seed=SEED) % n).fill_null(0).cast(pl.UInt32, strict=False)


def split(frame: pl.DataFrame, key: str | Sequence[str], n: int) -> list[pl.DataFrame]:
    """``frame`` cut into ``n`` frames by the hash of ``key`` (several columns: hashed as one struct); each
    keeps the rows in their order, and every frame has the schema of ``frame``."""
    cols = [key] if isinstance(key, str) else list(key)
    expr = pl.col(cols[0]) if len(cols) == 1 else pl.struct(cols)
    part = frame.select(partition_of(expr, n).alias("__part")).to_series()
    return [frame.filter(part == k) for k in range(n)]


class Engine(Protocol):
    """Where a partitioned computation runs. ``Parts`` is a list of ``n`` engine-specific handles."""

    n: int

    def scatter(self, frames: Sequence[pl.DataFrame]) -> list[Any]:
        """Hand ``n`` frames (one per partition) to the engine."""
        ...

    def map(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        """``fn`` per partition k, called with the k-th handle of every argument that is a list of handles
        (a :class:`Partitioned`) and any other argument as given."""
        ...

    def shuffle(self, parts: list[Any], key: str | Sequence[str]) -> list[Any]:
        """Re-partition frames by the hash of ``key``: every row lands in partition ``partition_of(key)``;
        within a partition, rows come in the order of their source partitions, then of their rows."""
        ...

    def gather(self, parts: list[Any]) -> list[Any]:
        """The partitions' values, in the caller's process."""
        ...


@dataclass(frozen=True)
class Partitioned:
    """Marks an argument of :meth:`Engine.map` as partitioned (its k-th handle goes to partition k)."""

    parts: list[Any]


def _args_for(k: int, args: Sequence[Any]) -> list[Any]:
    return [a.parts[k] if isinstance(a, Partitioned) else a for a in args]


def _kwargs_for(k: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: a.parts[k] if isinstance(a, Partitioned) else a for name, a in kwargs.items()}


@dataclass
class LocalEngine:
    """Every partition in this process, one after another: the reference the distributed engine must equal."""

    n: int = 1

    def scatter(self, frames: Sequence[pl.DataFrame]) -> list[Any]:
        if len(frames) != self.n:
            raise ValueError(f"expected {self.n} partitions, got {len(frames)}")
        return list(frames)

    def map(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        return [fn(*_args_for(k, args), **_kwargs_for(k, kwargs)) for k in range(self.n)]

    def shuffle(self, parts: list[Any], key: str | Sequence[str]) -> list[Any]:
        pieces = [split(frame, key, self.n) for frame in parts]
        return [pl.concat([p[k] for p in pieces], how="vertical") for k in range(self.n)]

    def gather(self, parts: list[Any]) -> list[Any]:
        return list(parts)


@contextmanager
def cluster(address: str | None = None, local_workers: int | None = None) -> Iterator[Client]:
    """A ``dask.distributed`` client: of the running scheduler at ``address`` (``--dask``), or of a
    ``LocalCluster`` of ``local_workers`` single-threaded worker processes started here and stopped after
    (``--dask-local N``). Exactly one of the two."""
    if (address is None) == (local_workers is None):
        raise ValueError(
            "give either a scheduler address (--dask) or a number of local workers (--dask-local)"
        )
    from distributed import Client, LocalCluster

    if address is not None:
        with Client(address) as client:
            yield client
        return
    assert local_workers is not None
    if local_workers < 1:
        raise ValueError(f"--dask-local: the number of workers must be at least 1, got {local_workers}")
    with (
        LocalCluster(
            n_workers=local_workers,
            threads_per_worker=1,
            processes=True,
            # A free local port: with None the scheduler's HTTP server still tries 8787, and a second
            # cluster on the machine (another user's, a test's) makes it warn and move (an error under -W).
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
        ) as local,
        Client(local) as client,
    ):
        yield client
