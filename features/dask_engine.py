"""The :class:`features.engine.Engine` on a ``dask.distributed`` cluster: partitions are futures on the
workers, and every operation is a task graph built with ``client.submit``.

Every task is *pure* (its key is a hash of its function and arguments) and depends only on other tasks, so
when a worker dies the scheduler recomputes what it held from their inputs, on another worker: a killed
worker costs time, never rows. The one exception is :meth:`DaskEngine.scatter` — scattered data has no
inputs to recompute it from — so the partitioned build (:mod:`features.partitioned`) never scatters its
partitions: each partition's first task reads the lake itself.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from features.engine import _args_for, _kwargs_for, split

if TYPE_CHECKING:
    from distributed import Client, Future


def _concat(*pieces: pl.DataFrame) -> pl.DataFrame:
    return pl.concat(pieces, how="vertical")


@dataclass
class DaskEngine:
    """``n`` partitions as futures of ``client``'s cluster."""

    client: Client
    n: int

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"the number of partitions must be at least 1, got {self.n}")

    def scatter(self, frames: Sequence[pl.DataFrame]) -> list[Any]:
        if len(frames) != self.n:
            raise ValueError(f"expected {self.n} partitions, got {len(frames)}")
        return list(self.client.scatter(list(frames), hash=True))

    def map(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        return [
            self.client.submit(fn, *_args_for(k, args), pure=True, **_kwargs_for(k, kwargs))
            for k in range(self.n)
        ]

    def shuffle(self, parts: list[Any], key: str | Sequence[str]) -> list[Any]:
        """Each source partition split once (a task on its worker), each piece taken out by a small task
        there, and one concatenation per target: a reducer receives only its own pieces."""
        if len(parts) != self.n:
            raise ValueError(f"expected {self.n} partitions, got {len(parts)}")
        keys = key if isinstance(key, str) else list(key)
        splits = [self.client.submit(split, part, keys, self.n, pure=True) for part in parts]
        pieces: list[list[Future]] = [
            [self.client.submit(operator.getitem, s, k, pure=True) for k in range(self.n)] for s in splits
        ]
        return [
            self.client.submit(_concat, *[pieces[src][k] for src in range(self.n)], pure=True)
            for k in range(self.n)
        ]

    def gather(self, parts: list[Any]) -> list[Any]:
        return list(self.client.gather(parts))

    def broadcast(self, value: Any) -> Any:
        """``value`` sent once to every worker (e.g. the model); pass the returned future to :meth:`map`."""
        return self.client.scatter(value, broadcast=True, hash=False)
