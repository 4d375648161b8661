"""features/engine.py: the partition of a key, the split, and the in-process engine every distributed run
must equal."""

from __future__ import annotations

import polars as pl
import pytest

from features.engine import LocalEngine, Partitioned, cluster, partition_of, split


def _frame(n: int = 500) -> pl.DataFrame:
    return pl.DataFrame({"uscc": [f"91320000{i:010d}" for i in range(n)], "v": list(range(n))})


def test_a_split_keeps_every_row_once_and_each_key_in_one_partition() -> None:
    frame = _frame()
    parts = split(frame, "uscc", 4)
    assert len(parts) == 4
    assert all(p.schema == frame.schema for p in parts)
    assert pl.concat(parts).sort("v").equals(frame)
    assert all(p.height > 0 for p in parts)  # the hash spreads 500 codes over every partition
    for k, part in enumerate(parts):
        assert part.select(partition_of(pl.col("uscc"), 4)).to_series().eq(k).all()


def test_the_partition_of_a_key_does_not_depend_on_its_frame() -> None:
    frame = _frame()
    alone = frame.head(7).select(partition_of(pl.col("uscc"), 5)).to_series()
    within = frame.select(partition_of(pl.col("uscc"), 5)).to_series().head(7)
    assert alone.equals(within)
    nulls = pl.DataFrame({"k": [None, "x", None]}, schema={"k": pl.String})
    assert nulls.select(partition_of(pl.col("k"), 3)).to_series().gather([0, 2]).n_unique() == 1


def test_a_shuffle_gathers_each_key_in_its_partition_in_source_order() -> None:
    engine = LocalEngine(3)
    parts = engine.scatter(split(_frame(), "uscc", 3))
    keyed = engine.map(_with_key, Partitioned(parts), 7)
    shuffled = engine.gather(engine.shuffle(keyed, "k"))
    assert sum(p.height for p in shuffled) == 500
    seen = [set(p.get_column("k").to_list()) for p in shuffled]
    assert all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1 :])
    # Within a partition: the rows of source partition 0 first, each source's rows in their order.
    for part in shuffled:
        order = [keyed[src].get_column("v").to_list() for src in range(3)]
        expected = [v for src in order for v in src if v in set(part.get_column("v").to_list())]
        assert part.get_column("v").to_list() == expected


def _with_key(frame: pl.DataFrame, modulo: int) -> pl.DataFrame:
    return frame.with_columns(k=pl.col("v") % modulo)


def test_a_local_engine_refuses_the_wrong_number_of_partitions() -> None:
    with pytest.raises(ValueError, match="expected 2 partitions, got 1"):
        LocalEngine(2).scatter([_frame()])
    with pytest.raises(ValueError, match="at least 1"):
        partition_of(pl.col("uscc"), 0)


@pytest.mark.parametrize(("address", "workers"), [(None, None), ("tcp://127.0.0.1:1", 2)])
def test_a_cluster_needs_exactly_one_of_address_and_local_workers(
    address: str | None, workers: int | None
) -> None:
    with pytest.raises(ValueError, match="either a scheduler address"), cluster(address, workers):
        pass


def test_a_local_cluster_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least 1, got 0"), cluster(local_workers=0):
        pass
