"""features/graph_join.py: the partitioned related-party graph equals the single-process graph_features on a
synthetic city and on hand-drawn graphs whose relatives sit in other partitions; runs are byte-identical."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from itertools import pairwise
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features import lake
from features.build import population_at
from features.engine import LocalEngine, partition_of, split
from features.graph import GraphConfig, graph_features
from features.graph_join import graph_features_partitioned
from features.ingest import ingest_paths
from features.lifecycle import RepairPolicy, lifecycle_sources
from features.synth import CityConfig, generate
from features.uscc import complete
from tests.features.records import E, Lake

AS_OF = date(2024, 1, 1)
TODAY = date(2026, 6, 30)
P = [f"{n:064x}" for n in range(1, 40)]  # person keys
NS = (1, 2, 3, 5)
LIVE = ("penalties", "list_entries", "evaluations")

Sources = Mapping[str, pl.LazyFrame]


def reference(
    src: Sources, as_of: date, config: GraphConfig = GraphConfig(), *, rows: bool = True
) -> pl.DataFrame:
    """graph_features on the whole city, the inputs prepared as features.build prepares them."""
    live = lifecycle_sources(src, as_of=as_of, policy=RepairPolicy(), corrected_stops_counting=True)
    return graph_features(
        src["entities"],
        src["relations"],
        penalties=live["penalties"],
        list_entries=live["list_entries"],
        evaluations=live["evaluations"],
        as_of=as_of,
        rows=population_at(src["entities"], as_of=as_of) if rows else None,
        config=config,
    ).collect()


def partitions(src: Sources, n: int) -> list[dict[str, pl.DataFrame]]:
    """Every table with a USCC cut by partition_of(uscc)."""
    frames = {k: v.collect() for k, v in src.items() if "uscc" in v.collect_schema()}
    cut = {k: split(v, "uscc", n) for k, v in frames.items()}
    return [{k: cut[k][p] for k in cut} for p in range(n)]


def partitioned(
    src: Sources,
    as_of: date,
    n: int,
    config: GraphConfig = GraphConfig(),
    *,
    rows: bool = True,
    stats: dict[str, int] | None = None,
) -> list[pl.DataFrame]:
    """graph_features_partitioned on LocalEngine(n), the lifecycle applied per partition."""
    engine = LocalEngine(n)
    inputs: dict[str, list[pl.DataFrame]] = {k: [] for k in ("entities", "relations", *LIVE, "rows")}
    for part in partitions(src, n):
        lazy = {k: v.lazy() for k, v in part.items()}
        live = lifecycle_sources(lazy, as_of=as_of, policy=RepairPolicy(), corrected_stops_counting=True)
        inputs["entities"].append(part["entities"])
        inputs["relations"].append(part["relations"])
        for name in LIVE:
            inputs[name].append(live[name].collect())
        inputs["rows"].append(population_at(lazy["entities"], as_of=as_of).collect())
    handles = {k: engine.scatter(v) for k, v in inputs.items()}
    out = graph_features_partitioned(
        engine,
        entities=handles["entities"],
        relations=handles["relations"],
        penalties=handles["penalties"],
        list_entries=handles["list_entries"],
        evaluations=handles["evaluations"],
        rows=handles["rows"] if rows else None,
        as_of=as_of,
        config=config,
        stats=stats,
    )
    return engine.gather(out)


def assert_same(parts: list[pl.DataFrame], ref: pl.DataFrame, n: int) -> None:
    """Partition k holds exactly partition k's entities, sorted; together they equal the reference."""
    for k, part in enumerate(parts):
        assert part.get_column("uscc").is_sorted()
        assert part.select(partition_of(pl.col("uscc"), n)).to_series().eq(k).all()
    got = pl.concat(parts, how="vertical").sort("uscc")
    assert_frame_equal(got, ref.sort("uscc"), check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def by_uscc(parts: list[pl.DataFrame]) -> dict[str, dict[str, Any]]:
    return {r["uscc"]: r for r in pl.concat(parts).to_dicts()}


def crossing(a: str, b: str) -> bool:
    """a and b in different partitions for every partition count above 1."""
    frame = pl.DataFrame({"uscc": [a, b]})
    return all(frame.select(partition_of(pl.col("uscc"), n)).to_series().n_unique() == 2 for n in NS[1:])


def rel(
    lk: Lake, uscc: str, kind: str, *, person: str | None = None, to: str | None = None, **kw: Any
) -> None:
    lk.add("relations", uscc=uscc, relation_type=kind, person_key=person, related_uscc=to, **kw)


# ------------------------------------------------------------------------------------------ synthetic city
@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.LazyFrame]:
    root = tmp_path_factory.mktemp("graph-join")
    generate(CityConfig(entities=1500, years=3, seed=5, end_date=TODAY), root / "city", today=TODAY)
    ingest_paths(
        sorted(p for p in (root / "city").iterdir() if p.is_file()),
        lake_dir=root / "lake",
        salt="graph-join-test-salt",
        today=TODAY,
    )
    return {k: v.collect().lazy() for k, v in lake.sources(root / "lake").items()}


CITY_AS_OF = date(2026, 1, 1)


@pytest.fixture(scope="module")
def city_reference(city: dict[str, pl.LazyFrame]) -> pl.DataFrame:
    ref = reference(city, CITY_AS_OF)
    # The city has a graph worth the name: relatives, two-hop reach, listed neighbours, the walk.
    assert ref.get_column("related_n_1hop").sum() > 1000
    assert ref.get_column("related_n_2hop").gt(ref.get_column("related_n_1hop")).sum() > 100
    assert ref.get_column("group_size").max() > 20  # type: ignore[operator]
    assert ref.get_column("related_risk_propagated").gt(0).sum() > 20
    assert ref.get_column("person_accountable_for_listed").sum() > 0
    return ref


@pytest.mark.parametrize("n", NS)
def test_the_city_partitioned_equals_the_single_process_graph(
    city: dict[str, pl.LazyFrame], city_reference: pl.DataFrame, n: int
) -> None:
    assert_same(partitioned(city, CITY_AS_OF, n), city_reference, n)


def test_the_city_relatives_really_sit_in_other_partitions(
    city: dict[str, pl.LazyFrame], city_reference: pl.DataFrame
) -> None:
    # Persons whose entities are in several of 3 partitions: their relatives are found across partitions.
    relations = city["relations"].collect().filter(pl.col("person_key").is_not_null())
    spread = relations.group_by("person_key").agg(parts=partition_of(pl.col("uscc"), 3).n_unique())
    assert spread.filter(pl.col("parts") > 1).height > 50
    assert_same(partitioned(city, CITY_AS_OF, 3), city_reference, 3)


def test_every_entity_without_rows_and_another_date(city: dict[str, pl.LazyFrame]) -> None:
    as_of = date(2025, 3, 1)
    ref = reference(city, as_of, rows=False)
    assert ref.height > city_reference_height(city, as_of)  # closed entities are in: rows=None is every node
    assert_same(partitioned(city, as_of, 2, rows=False), ref, 2)


def city_reference_height(city: dict[str, pl.LazyFrame], as_of: date) -> int:
    return population_at(city["entities"], as_of=as_of).collect().height


def test_two_hop_rounds_and_a_small_group_limit_change_nothing(city: dict[str, pl.LazyFrame]) -> None:
    config = GraphConfig(max_shared_group=2, chunk_rows=100, steps=3, damping=0.7, shared_weight=0.25)
    stats: dict[str, int] = {}
    parts = partitioned(city, CITY_AS_OF, 3, config, stats=stats)
    assert stats["two_hop_rounds"] > 1
    assert_same(parts, reference(city, CITY_AS_OF, config), 3)


def test_runs_are_byte_identical_whatever_the_partition_count(city: dict[str, pl.LazyFrame]) -> None:
    first = pl.concat(partitioned(city, CITY_AS_OF, 3))
    again = pl.concat(partitioned(city, CITY_AS_OF, 3))
    assert first.equals(again)
    other = pl.concat(partitioned(city, CITY_AS_OF, 2)).sort("uscc")
    # Floats are summed in value order, not in partition order: the partition count changes no bit either.
    assert other.equals(first.sort("uscc"))


# --------------------------------------------------------------------------------------- hand-drawn graphs
def chain_lake() -> tuple[Lake, list[str]]:
    """E0 — E1 — … — E9 through one person per link (alternately legal representative and shareholder),
    E9 on the severe list; E10 alone."""
    lk = Lake()
    chain = E[:10]
    for e in [*chain, E[10]]:
        lk.entity(e)
    for k in range(9):
        role = "legal_representative" if k % 2 else "shareholder"
        rel(lk, chain[k], role, person=P[k], share=0.3)
        rel(lk, chain[k + 1], "shareholder", person=P[k], share=0.6)
    lk.add("list_entries", uscc=chain[9], list_type="severe_dishonesty", listed_on=date(2023, 1, 1))
    lk.add("penalties", uscc=chain[4], decided_on=date(2023, 6, 1))
    return lk, chain


@pytest.mark.parametrize("n", NS)
def test_a_chain_across_partitions_one_component_and_the_walk(n: int) -> None:
    lk, chain = chain_lake()
    assert sum(crossing(a, b) for a, b in pairwise(chain)) >= 2
    src = lk.sources()
    stats: dict[str, int] = {}
    parts = partitioned(src, AS_OF, n, stats=stats)
    assert_same(parts, reference(src, AS_OF), n)
    f = by_uscc(parts)
    assert [f[e]["group_size"] for e in chain] == [10] * 10
    assert f[E[10]]["group_size"] == 1
    assert [f[e]["related_n_2hop"] for e in chain] == [2, 3, 4, 4, 4, 4, 4, 4, 3, 2]
    # The listed end reaches back along the chain, less at every hop; nothing beyond `steps` hops.
    risk = [f[e]["related_risk_propagated"] for e in chain]
    assert risk[8] > risk[7] > risk[6] > risk[1] > 0.0
    assert f[E[10]]["related_risk_propagated"] == 0.0


@pytest.mark.parametrize("n", NS)
def test_oversized_shared_address_self_investment_and_zero_share(n: int) -> None:
    lk = Lake()
    for e in E[:4]:
        lk.entity(e, address="某商务秘书公司集中登记地")  # four entities: above max_shared_group=3
    lk.entity(E[4], address="盐城市 亭湖区１号", phone="+86 138-0000-0000")
    lk.entity(E[5], address="盐城市亭湖区1号")
    lk.entity(E[6], phone="13800000000")
    for e in E[7:12]:
        lk.entity(e)
    rel(lk, E[7], "investment", to=E[7], share=0.5)  # self-investment: no relative of itself
    rel(lk, E[8], "investment", to=E[9], share=0.4)  # both ways: one relative each
    rel(lk, E[9], "investment", to=E[8], share=0.2)
    rel(lk, E[10], "investment", to=E[11], share=0.0)  # a zero share: a degree, no edge
    rel(lk, E[0], "investment", to=E[8])  # no share: weight 1
    lk.add("evaluations", uscc=E[5], grade="D", evaluated_on=date(2023, 1, 1))
    src = lk.sources()
    config = GraphConfig(max_shared_group=3)
    parts = partitioned(src, AS_OF, n, config)
    assert_same(parts, reference(src, AS_OF, config), n)
    f = by_uscc(parts)
    assert all((f[e]["degree_shared_address"], f[e]["related_n_1hop"]) == (3, int(e == E[0])) for e in E[:4])
    assert (f[E[4]]["degree_shared_address"], f[E[4]]["degree_shared_phone"], f[E[4]]["related_n_1hop"]) == (
        1,
        1,
        2,
    )
    assert f[E[4]]["related_worst_grade"] == 4
    assert (f[E[7]]["degree_investment"], f[E[7]]["related_n_1hop"], f[E[7]]["group_size"]) == (0, 0, 1)
    assert (f[E[8]]["degree_investment"], f[E[8]]["related_n_1hop"]) == (2, 2)
    assert (f[E[10]]["degree_investment"], f[E[10]]["related_n_1hop"]) == (1, 0)


@pytest.mark.parametrize("n", NS)
def test_a_person_leading_a_listed_entity_in_another_partition(n: int) -> None:
    listed, other = next((a, b) for a in E for b in E if a < b and crossing(a, b))
    bystander = next(e for e in E if e not in (listed, other))
    lk = Lake()
    for e in (listed, other, bystander):
        lk.entity(e)
    rel(lk, listed, "legal_representative", person=P[0])
    rel(lk, other, "shareholder", person=P[0], share=0.2)
    rel(lk, listed, "shareholder", person=P[1], share=0.5)  # P1 only holds shares of the listed entity:
    rel(lk, bystander, "legal_representative", person=P[1])  # no accountability through P1
    lk.add("list_entries", uscc=listed, list_type="severe_dishonesty", listed_on=date(2023, 1, 1))
    src = lk.sources()
    parts = partitioned(src, AS_OF, n)
    assert_same(parts, reference(src, AS_OF), n)
    f = by_uscc(parts)
    assert [f[e]["person_accountable_for_listed"] for e in (listed, other, bystander)] == [0, 1, 0]
    assert f[other]["related_blacklisted_n_1hop"] == 1


def test_a_hub_person_and_an_entity_outside_the_rows() -> None:
    many = [complete(f"91320903MA{k:07d}") for k in range(60)]
    lk = Lake()
    for e in many:
        lk.entity(e)
        rel(lk, e, "legal_representative", person=P[2])
    lk.entity(E[0], established_on=date(2024, 6, 1))  # the future at AS_OF: not a node
    rel(lk, E[0], "legal_representative", person=P[2])
    lk.add("list_entries", uscc=many[0], list_type="court_dishonest_debtor", listed_on=date(2023, 1, 1))
    src = lk.sources()
    parts = partitioned(src, AS_OF, 5)
    assert_same(parts, reference(src, AS_OF), 5)
    f = by_uscc(parts)
    assert E[0] not in f and len(f) == 60
    assert (f[many[1]]["related_n_1hop"], f[many[1]]["group_size"]) == (59, 60)
    assert f[many[1]]["related_risk_propagated"] > 0 and f[many[1]]["related_blacklisted_n_1hop"] == 0


def test_inputs_must_have_one_handle_per_partition() -> None:
    engine = LocalEngine(2)
    empty = Lake().frames()
    one = [empty["entities"]]
    with pytest.raises(ValueError, match="entities: expected 2 partitions, got 1"):
        graph_features_partitioned(
            engine,
            entities=one,
            relations=[empty["relations"]] * 2,
            penalties=[empty["penalties"]] * 2,
            list_entries=[empty["list_entries"]] * 2,
            evaluations=[empty["evaluations"]] * 2,
            rows=None,
            as_of=AS_OF,
        )


def test_an_empty_city_gives_empty_partitions_with_the_schema() -> None:
    src = Lake().sources()
    parts = partitioned(src, AS_OF, 3)
    ref = reference(src, AS_OF)
    assert [p.height for p in parts] == [0, 0, 0]
    assert all(p.schema == ref.schema for p in parts)


def test_an_id_collision_is_an_error_never_a_merged_node() -> None:
    from features.graph_join import CONNECTOR_SCHEMA, _connectors, _unique_ids

    nodes = pl.DataFrame({"uscc": [E[0], E[1]], "i": pl.Series([7, 7], dtype=pl.UInt64)})
    with pytest.raises(ValueError, match="entity id collision"):
        _unique_ids(nodes)
    rows = pl.DataFrame(
        {"cid": [5, 5], "c": ["p:x", "a:y"], "kind": ["p", "a"], "i": [1, 2], "w": [1.0, 0.5]}
    ).with_columns(hi=None, role=None, black=False)
    with pytest.raises(ValueError, match="connector id collision: 1 connector ids"):
        _connectors(rows.select(pl.col(c).cast(dt) for c, dt in CONNECTOR_SCHEMA.items()), max_shared_group=3)


def test_a_table_cut_by_another_key_or_missing_a_column_is_refused() -> None:
    lk, _ = chain_lake()
    frames = lk.frames()
    engine = LocalEngine(3)
    cut = {k: split(frames[k], "uscc", 3) for k in ("entities", "relations", *LIVE)}
    tables: dict[str, Any] = {k: engine.scatter(v) for k, v in cut.items()}
    wrong = dict(tables, relations=engine.scatter(split(frames["relations"], "relation_id", 3)))
    with pytest.raises(ValueError, match=r"relations: partition \d holds \d+ rows whose uscc belongs"):
        graph_features_partitioned(engine, **wrong, rows=None, as_of=AS_OF)
    bare = dict(tables, evaluations=engine.scatter([f.drop("grade") for f in cut["evaluations"]]))
    with pytest.raises(ValueError, match=r"evaluations: partition 0 lacks the columns \['grade'\]"):
        graph_features_partitioned(engine, **bare, rows=None, as_of=AS_OF)
