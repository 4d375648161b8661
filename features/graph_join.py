"""The related-party graph features of a partitioned city (issue 16): partitioned tables in, partitioned
graph-feature rows out, equal to :func:`features.graph.graph_features` on the whole city.

Every step is a polars join or aggregation inside one partition (``engine.map``) after a re-partition on the
join key (``engine.shuffle``); no process ever holds the whole graph. Entities and connectors (persons,
normalised addresses and phones, investment pairs) get 64-bit ids (a seeded hash of their key, checked for
collisions), so that the joins run on integers. The join plan, the shuffle keys and the cost are in
docs/features.md ("The graph on partitions").

Floats are summed after a sort by value within each group, so that a run is byte-identical to a repeated
run whatever the engine, and the sums differ from the single-process scipy sums by rounding only (1e-15).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import polars as pl

from features.engine import Engine, Partitioned, partition_of
from features.graph import (
    LEADING_ROLES,
    PERSON_ROLES,
    GraphConfig,
    _flags,
    normalise_address,
    normalise_phone,
    relations_in_force,
)
from features.indicators import family_schema
from features.lifecycle import RepairPolicy
from features.profiles import conform

ID_SEED = 0x6A0B  # the seed of the entity and connector ids (a hash: the same in every process of a run)
CHUNK_SEED = 0x2B0F  # the seed that spreads the two-hop rows over rounds of ``config.chunk_rows``

ATTRS = ("black", "pen", "grade")

# The columns each input table must have (the lifecycle-applied tables carry more).
REQUIRED = {
    "entities": ("uscc", "established_on", "address", "phone"),
    "relations": ("uscc", "relation_type", "person_key", "related_uscc", "share", "valid_from", "valid_to"),
    "penalties": ("uscc", "decided_on"),
    "list_entries": ("uscc", "list_type", "listed_on", "exited_on", "planned_end"),
    "evaluations": ("uscc", "scheme", "grade", "evaluated_on", "valid_until", "evaluation_id"),
    "rows": ("uscc",),
}


def _id(expr: pl.Expr) -> pl.Expr:
    return expr.hash(seed=ID_SEED)


# ------------------------------------------------------------------------------------ per-entity (uscc) side
def _checked(frame: pl.DataFrame, k: int, *, table: str, n: int) -> pl.DataFrame:
    """``frame`` as partition ``k`` of ``table``, once its columns and its cut (by ``partition_of(uscc)``) are
    checked: a table cut otherwise would silently lose relatives."""
    have = frame.collect_schema()
    missing = [c for c in REQUIRED[table] if c not in have]
    if missing:
        raise ValueError(f"{table}: partition {k} lacks the columns {missing}")
    stray = frame.lazy().filter(partition_of(pl.col("uscc"), n) != k).select(pl.len()).collect().item()
    if stray:
        raise ValueError(
            f"{table}: partition {k} holds {stray} rows whose uscc belongs to another partition; cut every "
            f"table by features.engine.partition_of(uscc, {n})"
        )
    return frame


def _nodes(
    entities: pl.DataFrame,
    relations: pl.DataFrame,
    penalties: pl.DataFrame,
    list_entries: pl.DataFrame,
    evaluations: pl.DataFrame,
    rows: pl.DataFrame | None,
    *,
    as_of: date,
    config: GraphConfig,
    policy: RepairPolicy,
) -> pl.DataFrame:
    """The partition's nodes (entities established before ``as_of``) with their id, normalised address and
    phone, flags, whether their features are wanted, and their person-role degrees."""
    nodes = (
        entities.lazy()
        .filter(pl.col("established_on") < as_of)
        .select(
            "uscc",
            address=normalise_address(pl.col("address")),
            phone=normalise_phone(pl.col("phone")),
        )
        .unique("uscc", keep="last")
        .sort("uscc")
        .collect()
    )
    flags = _flags(
        nodes,
        penalties=penalties.lazy(),
        list_entries=list_entries.lazy(),
        evaluations=evaluations.lazy(),
        as_of=as_of,
        config=config,
        policy=policy,
    )
    if rows is None:
        wanted = pl.lit(True)
        out = nodes.hstack(flags)
    else:
        want = rows.lazy().select("uscc").unique().with_columns(wanted=pl.lit(True)).collect()
        out = nodes.hstack(flags).join(want, on="uscc", how="left", maintain_order="left")
        wanted = pl.col("wanted").fill_null(False)
    out = out.select(
        "uscc",
        i=_id(pl.col("uscc")),
        address="address",
        phone="phone",
        black="blacklisted",
        pen="penalised",
        seed="seed",
        grade="grade",
        wanted=wanted,
    )
    people = (
        relations_in_force(relations.lazy(), as_of=as_of, roles=PERSON_ROLES)
        .filter(pl.col("person_key").is_not_null())
        .group_by("uscc")
        .agg(
            **{
                f"degree_{role}": pl.col("person_key").filter(pl.col("relation_type") == role).n_unique()
                for role in PERSON_ROLES
            }
        )
        .collect()
    )
    return out.join(people, on="uscc", how="left", maintain_order="left").with_columns(
        pl.col(f"degree_{role}").fill_null(0).cast(pl.Int64) for role in PERSON_ROLES
    )


CONNECTOR_SCHEMA = pl.Schema(
    {
        "cid": pl.UInt64(),
        "c": pl.String(),
        "kind": pl.String(),
        "i": pl.UInt64(),
        "hi": pl.UInt64(),
        "role": pl.String(),
        "w": pl.Float64(),
        "black": pl.Boolean(),
    }
)


def _connector_rows(
    nodes: pl.DataFrame, relations: pl.DataFrame, *, as_of: date, shared_weight: float
) -> pl.DataFrame:
    """Incidence of the partition's entities on persons (one row per relation in force), addresses and
    phones (one row per entity), keyed by the connector's id ``cid``."""
    node = nodes.lazy().select("uscc", "i", "black")
    persons = (
        relations_in_force(relations.lazy(), as_of=as_of, roles=PERSON_ROLES)
        .filter(pl.col("person_key").is_not_null())
        .join(node, on="uscc", how="inner")
        .select(
            c=pl.lit("p:") + pl.col("person_key"),
            kind=pl.lit("p"),
            i="i",
            hi=pl.lit(None, dtype=pl.UInt64),
            role="relation_type",
            w=pl.when(pl.col("relation_type") == "shareholder")
            .then(pl.col("share").fill_null(1.0))
            .otherwise(1.0),
            black="black",
        )
    )
    shared = [
        nodes.lazy()
        .filter(pl.col(kind).is_not_null())
        .select(
            c=pl.lit(prefix) + pl.col(kind),
            kind=pl.lit(prefix[0]),
            i="i",
            hi=pl.lit(None, dtype=pl.UInt64),
            role=pl.lit(None, dtype=pl.String),
            w=pl.lit(shared_weight, dtype=pl.Float64),
            black="black",
        )
        for kind, prefix in (("address", "a:"), ("phone", "t:"))
    ]
    return (
        pl.concat([persons, *shared], how="vertical")
        .with_columns(cid=_id(pl.col("c")))
        .pipe(conform, CONNECTOR_SCHEMA, name="connector rows")
        .collect()
    )


def _investments_out(nodes: pl.DataFrame, relations: pl.DataFrame, *, as_of: date) -> pl.DataFrame:
    """Investments in force of the partition's entities, still keyed by the investee's USCC."""
    return (
        relations_in_force(relations.lazy(), as_of=as_of, roles=("investment",))
        .filter(pl.col("related_uscc").is_not_null())
        .join(nodes.lazy().select("uscc", "i"), on="uscc", how="inner")
        .select("i", "related_uscc", w=pl.col("share").fill_null(1.0))
        .collect()
    )


def _investments_in(invest: pl.DataFrame, nodes: pl.DataFrame) -> pl.DataFrame:
    """Investments whose investee is a node (joined in the investee's partition), without self-investment."""
    return (
        invest.join(
            nodes.select(related_uscc="uscc", j="i"), on="related_uscc", how="inner", maintain_order="left"
        )
        .filter(pl.col("i") != pl.col("j"))
        .select("i", "j", "w")
    )


def _investment_connectors(invest: pl.DataFrame) -> pl.DataFrame:
    """Each investment as a row of the connector of its (unordered) pair of entities."""
    lo, hi = pl.min_horizontal("i", "j"), pl.max_horizontal("i", "j")
    return (
        invest.lazy()
        .select(
            c=pl.lit("v:") + lo.cast(pl.String) + pl.lit(":") + hi.cast(pl.String),
            kind=pl.lit("v"),
            i=lo,
            hi=hi,
            role=pl.lit(None, dtype=pl.String),
            w="w",
            black=pl.lit(False),
        )
        .with_columns(cid=_id(pl.col("c")))
        .pipe(conform, CONNECTOR_SCHEMA, name="investment connector rows")
        .collect()
    )


def _both_ways(invest: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([invest.select("i", "j"), invest.select(i="j", j="i")]).unique(maintain_order=True)


def _investment_degree(pairs: pl.DataFrame) -> pl.DataFrame:
    return pairs.group_by("i").agg(degree_investment=pl.col("j").n_unique().cast(pl.Int64)).sort("i")


# ------------------------------------------------------------------------------------------ connector side
def _connectors(rows: pl.DataFrame, *, max_shared_group: int) -> dict[str, pl.DataFrame]:
    """In the connector's partition: the incidence ``E`` (connector, entity, weight) of the connectors
    that link (two members or more; an address or phone of at most ``max_shared_group`` entities; an
    investment pair whose shares do not sum to 0), the shared address/phone degrees and the entities
    personally accountable for a listed entity (through a person)."""
    clash = rows.group_by("cid").agg(pl.col("c").n_unique()).filter(pl.col("c") > 1)
    if clash.height:
        raise ValueError(
            f"connector id collision: {clash.height} connector ids stand for more than one connector; "
            "change features.graph_join.ID_SEED"
        )
    size = pl.col("i").n_unique().over("cid")
    shared = (
        rows.filter(pl.col("kind").is_in(["a", "t"]))
        .with_columns(size=size)
        .group_by("i")
        .agg(
            degree_shared_address=(pl.col("size") - 1).filter(pl.col("kind") == "a").sum().cast(pl.Int64),
            degree_shared_phone=(pl.col("size") - 1).filter(pl.col("kind") == "t").sum().cast(pl.Int64),
        )
        .sort("i")
    )
    plain = (
        rows.filter(pl.col("kind") != "v")
        .with_columns(size=size)
        .filter((pl.col("kind") == "p") | (pl.col("size") <= max_shared_group))
        .filter(pl.col("size") >= 2)
        .sort("cid", "i", "w")
        .group_by("cid", "i", maintain_order=True)
        .agg(pl.col("w").sum())
        .with_columns(inv=pl.lit(False))
    )
    invest = (
        rows.filter(pl.col("kind") == "v")
        .sort("cid", "w")
        .group_by("cid", maintain_order=True)
        .agg(pl.col("w").sum(), lo=pl.col("i").first(), hi=pl.col("hi").first())
        .filter(pl.col("w") != 0.0)
    )
    links = pl.concat(
        [
            plain,
            invest.select("cid", i="lo", w="w", inv=pl.lit(True)),
            invest.select("cid", i="hi", w="w", inv=pl.lit(True)),
        ]
    ).sort("cid", "i")
    return {"E": links, "shared": shared, "accountable": _accountable(rows.filter(pl.col("kind") == "p"))}


def _accountable(person_rows: pl.DataFrame) -> pl.DataFrame:
    """Entities with a person (any role) who leads (legal representative, controller) another entity on the
    severe dishonesty list: features.graph._accountable, per person."""
    lead = (
        person_rows.filter(pl.col("role").is_in(LEADING_ROLES))
        .unique(["cid", "i"])
        .select("cid", "i", "black", own=pl.lit(True))
    )
    listed = lead.group_by("cid").agg(listed=pl.col("black").cast(pl.Int64).sum())
    return (
        person_rows.unique(["cid", "i"])
        .select("cid", "i", "black")
        .join(listed, on="cid", how="left")
        .join(lead.select("cid", "i", "own"), on=["cid", "i"], how="left")
        .filter(
            pl.col("listed").fill_null(0) - (pl.col("own").fill_null(False) & pl.col("black")).cast(pl.Int64)
            > 0
        )
        .select("i")
        .unique()
        .sort("i")
    )


def _pick(parts: dict[str, pl.DataFrame], name: str) -> pl.DataFrame:
    return parts[name]


def _concat(*frames: pl.DataFrame) -> pl.DataFrame:
    return pl.concat(frames, how="vertical")


def _unique_ids(nodes: pl.DataFrame) -> pl.DataFrame:
    """Nodes in their id's partition, once the ids are checked to be distinct."""
    if nodes.get_column("i").is_duplicated().any():
        raise ValueError("entity id collision: two USCCs hash to one id; change features.graph_join.ID_SEED")
    return nodes


def _with_attrs(links: pl.DataFrame, nodes: pl.DataFrame) -> pl.DataFrame:
    """Incidence rows with the entity's flags and grade (joined in the entity's partition)."""
    return links.join(nodes.select("i", *ATTRS, "wanted"), on="i", how="inner", maintain_order="left")


# --------------------------------------------------------------------------------------------- pairs, 1-hop
def _pair_rows(links: pl.DataFrame) -> pl.DataFrame:
    """Entity–entity pairs through each connector (self-join on the connector, no self pairs), with the
    connector's contribution to the pair's weight and the neighbour's attributes."""
    left = links.select("cid", a="i", wa="w", inv="inv")
    right = links.select("cid", b="i", wb="w", **{f"{k}_b": k for k in ATTRS})
    return (
        left.join(right, on="cid", how="inner")
        .filter(pl.col("a") != pl.col("b"))
        .select(
            "a",
            "b",
            contrib=pl.when(pl.col("inv")).then(pl.col("wa")).otherwise(pl.col("wa") * pl.col("wb")),
            **{f"{k}_b": f"{k}_b" for k in ATTRS},
        )
    )


def _pairs(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per ordered pair (a, b): its weight (the contributions summed in value order)."""
    return (
        rows.sort("a", "b", "contrib")
        .group_by("a", "b", maintain_order=True)
        .agg(pl.col("contrib").sum().alias("w"), *(pl.col(f"{k}_b").first() for k in ATTRS))
    )


def _one_hop(pairs: pl.DataFrame) -> pl.DataFrame:
    return (
        pairs.group_by("a", maintain_order=True)
        .agg(
            related_n_1hop=pl.len().cast(pl.Int64),
            related_blacklisted_n_1hop=pl.col("black_b").cast(pl.Int64).sum(),
            related_penalised_n_1hop=pl.col("pen_b").cast(pl.Int64).sum(),
            related_worst_grade=pl.col("grade_b").max(),
        )
        .rename({"a": "i"})
    )


# ------------------------------------------------------------------------------------------------- the walk
def _transitions(pairs: pl.DataFrame) -> pl.DataFrame:
    """Row-normalised weights ``t = w(a, b) / strength(a)``, keyed by the source ``b`` of the message."""
    strength = pairs.group_by("a", maintain_order=True).agg(s=pl.col("w").sum())
    return (
        pairs.join(strength, on="a", how="inner", maintain_order="left")
        .select(
            src="b",
            dst="a",
            t=pl.when(pl.col("s") > 0).then(1.0 / pl.col("s")).otherwise(0.0) * pl.col("w"),
        )
        .filter(pl.col("t") != 0.0)
    )


def _messages(transitions: pl.DataFrame, x: pl.DataFrame) -> pl.DataFrame:
    return transitions.join(x, left_on="src", right_on="i", how="inner").select(
        "dst", v=pl.col("t") * pl.col("x")
    )


def _step(messages: pl.DataFrame, total: pl.DataFrame, *, coef: float) -> dict[str, pl.DataFrame]:
    """One step of the walk at the receiving entities: ``x = P x`` (sums in value order) and
    ``total += coef * x``."""
    x = (
        messages.sort("dst", "v")
        .group_by("dst", maintain_order=True)
        .agg(x=pl.col("v").sum())
        .rename({"dst": "i"})
        .filter(pl.col("x") != 0.0)
    )
    added = (
        total.join(x, on="i", how="full", coalesce=True)
        .select(
            "i",
            total=pl.col("total").fill_null(0.0) + coef * pl.col("x").fill_null(0.0),
        )
        .sort("i")
    )
    return {"x": x, "total": added}


def _seeds(nodes: pl.DataFrame) -> pl.DataFrame:
    return nodes.filter(pl.col("seed")).select("i", x=pl.lit(1.0))


def _no_total(nodes: pl.DataFrame) -> pl.DataFrame:
    return nodes.select("i", total=pl.lit(0.0)).clear()


# ------------------------------------------------------------------------------------------- components
def _labels_out(links: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Each connector's smallest new member label, from this partition's members whose label changed in the
    last round (the others have sent theirs already)."""
    return (
        links.select("cid", "i")
        .join(labels.filter(pl.col("changed")).select("i", "label"), on="i", how="inner")
        .group_by("cid")
        .agg(pl.col("label").min())
    )


def _labels_back(connector_labels: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
    """Each member's smallest offered label over its connectors (in the connector's partition)."""
    best = connector_labels.group_by("cid").agg(pl.col("label").min())
    return links.select("cid", "i").join(best, on="cid", how="inner").group_by("i").agg(pl.col("label").min())


def _relabel(labels: pl.DataFrame, offers: pl.DataFrame, *, keep: bool) -> pl.DataFrame:
    """Labels lowered to the best offer; ``changed`` marks the lowered ones (or-ed with the earlier mark of
    this round when ``keep``) and ``old`` keeps the label before."""
    best = offers.group_by("i").agg(offer=pl.col("label").min())
    lowered = pl.col("offer").fill_null(pl.col("label")) < pl.col("label")
    return labels.join(best, on="i", how="left", maintain_order="left").select(
        "i",
        label=pl.min_horizontal("label", "offer"),
        changed=(pl.col("changed") | lowered) if keep else lowered,
        old="label",
    )


def _jump_requests(labels: pl.DataFrame) -> pl.DataFrame:
    """For each entity whose label changed: ask the entity its new label names for that one's label
    (pointer jumping), and offer the new label to the entity its old label named (hooking: the old
    label's whole group follows at once)."""
    changed = labels.filter(pl.col("changed"))
    return pl.concat(
        [
            changed.select(target="label", reply_to="i", offer=pl.lit(None, dtype=pl.UInt64)),
            changed.select(target="old", reply_to=pl.lit(None, dtype=pl.UInt64), offer="label"),
        ]
    )


def _jump_answers(requests: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    asks = requests.filter(pl.col("reply_to").is_not_null())
    answers = asks.join(labels.select(target="i", answer="label"), on="target", how="inner")
    return pl.concat(
        [
            answers.select(i="reply_to", label="answer"),
            requests.filter(pl.col("offer").is_not_null()).select(i="target", label="offer"),
        ]
    )


def _changed(labels: pl.DataFrame) -> int:
    return int(labels.get_column("changed").sum())


def _first_labels(nodes: pl.DataFrame) -> pl.DataFrame:
    return nodes.select("i", label="i", changed=pl.lit(True), old="i")


def _group_sizes(labels: pl.DataFrame) -> pl.DataFrame:
    """In the label's partition: each entity's component size."""
    return labels.select("i", group_size=pl.len().over("label").cast(pl.Int64))


# ------------------------------------------------------------------------------------------------ two hops
def _connector_pairs(links: pl.DataFrame) -> pl.DataFrame:
    """Connectors sharing an entity (a connector with itself included), from the entity's side."""
    own = links.select("i", "cid")
    return (
        own.join(own.rename({"cid": "c2"}), on="i", how="inner")
        .select(c1="cid", c2="c2")
        .unique(maintain_order=True)
    )


def _distinct(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.unique(maintain_order=True).sort(frame.columns)


def _sum_by_id(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by("i").agg(pl.all().sum()).sort("i")


def _reach_connectors(
    links: pl.DataFrame, connector_pairs: pl.DataFrame, *, chunk: int, chunks: int
) -> pl.DataFrame:
    """For the wanted entities ``a`` of this round: the connectors two hops away (a—c—m—c2)."""
    starts = links.filter(pl.col("wanted")).select("cid", a="i")
    if chunks > 1:
        starts = starts.filter((pl.col("a").hash(seed=CHUNK_SEED) % chunks) == chunk)
    return (
        starts.join(connector_pairs, left_on="cid", right_on="c1", how="inner")
        .select("a", "c2")
        .unique(maintain_order=True)
    )


def _reach_entities(reach: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
    """The members ``b`` of those connectors, with their flags: the entities within two hops."""
    return (
        reach.unique()
        .join(links.select(c2="cid", b="i", black_b="black", pen_b="pen"), on="c2", how="inner")
        .filter(pl.col("a") != pl.col("b"))
        .select("a", "b", "black_b", "pen_b")
        .unique(["a", "b"], maintain_order=True)
    )


def _two_hop(reached: pl.DataFrame) -> pl.DataFrame:
    return (
        reached.unique(["a", "b"])
        .group_by("a")
        .agg(
            related_n_2hop=pl.len().cast(pl.Int64),
            related_blacklisted_n_2hop=pl.col("black_b").cast(pl.Int64).sum(),
            related_penalised_n_2hop=pl.col("pen_b").cast(pl.Int64).sum(),
        )
        .rename({"a": "i"})
    )


def _wanted_count(nodes: pl.DataFrame) -> int:
    return int(nodes.get_column("wanted").sum())


# ------------------------------------------------------------------------------------------------ assembly
def _assemble(
    nodes: pl.DataFrame,
    invest: pl.DataFrame,
    shared: pl.DataFrame,
    sizes: pl.DataFrame,
    one: pl.DataFrame,
    two: pl.DataFrame,
    risk: pl.DataFrame,
    accountable: pl.DataFrame,
) -> pl.DataFrame:
    """The wanted entities' feature rows, in the id's partition (``i`` kept for the final shuffle)."""
    out = nodes.filter(pl.col("wanted")).select("uscc", "i", *(f"degree_{role}" for role in PERSON_ROLES))
    for part in (invest, shared, sizes, one, two, risk):
        out = out.join(part, on="i", how="left", maintain_order="left")
    out = out.join(
        accountable.select("i", person_accountable_for_listed=pl.lit(1, dtype=pl.Int8)),
        on="i",
        how="left",
        maintain_order="left",
    )

    def share(k: str, total: str) -> pl.Expr:
        return pl.when(pl.col(total) > 0).then(pl.col(k) / pl.col(total))

    counts = [c for c, dt in family_schema("graph").items() if dt == pl.Int64()]
    return out.with_columns(
        *(pl.col(c).fill_null(0) for c in counts if c != "group_size"),
        pl.col("group_size").fill_null(1),
        pl.col("related_risk_propagated").fill_null(0.0),
        pl.col("person_accountable_for_listed").fill_null(0),
        pl.col("related_worst_grade").replace(0, None),
    ).with_columns(
        related_blacklisted_share_1hop=share("related_blacklisted_n_1hop", "related_n_1hop"),
        related_penalised_share_1hop=share("related_penalised_n_1hop", "related_n_1hop"),
        related_blacklisted_share_2hop=share("related_blacklisted_n_2hop", "related_n_2hop"),
        related_penalised_share_2hop=share("related_penalised_n_2hop", "related_n_2hop"),
    )


def _finish(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.lazy().sort("uscc").pipe(conform, family_schema("graph"), name="graph_features").collect()


def _risk(total: pl.DataFrame) -> pl.DataFrame:
    return total.select("i", related_risk_propagated="total")


# -------------------------------------------------------------------------------------------------- driver
def graph_features_partitioned(
    engine: Engine,
    *,
    entities: list[Any],
    relations: list[Any],
    penalties: list[Any],
    list_entries: list[Any],
    evaluations: list[Any],
    rows: list[Any] | None,
    as_of: date,
    config: GraphConfig = GraphConfig(),
    policy: RepairPolicy = RepairPolicy(),
    stats: dict[str, int] | None = None,
) -> list[Any]:
    """Graph features of the entities established before ``as_of`` (or only of the ``rows`` USCCs), each
    table given as ``engine.n`` handles partitioned by ``partition_of(uscc)``; partition k of the result
    holds the rows of partition k's entities, sorted by USCC, with the schema of
    :func:`features.graph.graph_features` and its values (floats up to rounding).

    ``stats``, if given, receives the number of rounds of the connected-components propagation
    (``component_rounds``) and of the two-hop product (``two_hop_rounds``).
    """
    tables = {
        "entities": entities,
        "relations": relations,
        "penalties": penalties,
        "list_entries": list_entries,
        "evaluations": evaluations,
        **({} if rows is None else {"rows": rows}),
    }
    for name, parts in tables.items():
        if len(parts) != engine.n:
            raise ValueError(f"{name}: expected {engine.n} partitions, got {len(parts)}")
    P = Partitioned
    index = P(list(range(engine.n)))
    checked = {
        name: engine.map(_checked, P(parts), index, table=name, n=engine.n) for name, parts in tables.items()
    }
    entities, relations = checked["entities"], checked["relations"]
    penalties, list_entries, evaluations = (
        checked["penalties"],
        checked["list_entries"],
        checked["evaluations"],
    )
    rows = checked.get("rows")

    # Per entity partition (by USCC): nodes, incidence on persons/addresses/phones, investments.
    nodes = engine.map(
        _nodes,
        P(entities),
        P(relations),
        P(penalties),
        P(list_entries),
        P(evaluations),
        P(rows) if rows is not None else None,
        as_of=as_of,
        config=config,
        policy=policy,
    )
    incidence = engine.map(
        _connector_rows, P(nodes), P(relations), as_of=as_of, shared_weight=config.shared_weight
    )
    invest = engine.map(
        _investments_in,
        P(engine.shuffle(engine.map(_investments_out, P(nodes), P(relations), as_of=as_of), "related_uscc")),
        P(nodes),
    )
    # Nodes in their id's partition: every per-entity aggregate below is shuffled there, keyed by ``i``.
    by_id = engine.map(_unique_ids, P(engine.shuffle(nodes, "i")))
    invest_degree = engine.map(_investment_degree, P(engine.shuffle(engine.map(_both_ways, P(invest)), "i")))
    # A handle held here keeps its partitions in the cluster (or this process) until the function returns:
    # each is let go after its last use, so the step holds its working set, not every intermediate it made.
    del nodes, entities, relations, penalties, list_entries, evaluations, rows, checked, tables

    # Connectors: every incidence row in its connector's partition.
    connector_rows = engine.shuffle(
        engine.map(_concat, P(incidence), P(engine.map(_investment_connectors, P(invest)))), "cid"
    )
    del incidence, invest
    connectors = engine.map(_connectors, P(connector_rows), max_shared_group=config.max_shared_group)
    del connector_rows
    links_c = engine.map(_pick, P(connectors), "E")  # (cid, i, w, inv) by connector
    # An entity's address and phone (and persons) may sit in different connector partitions: re-aggregated.
    shared = engine.map(_sum_by_id, P(engine.shuffle(engine.map(_pick, P(connectors), "shared"), "i")))
    accountable = engine.map(
        _distinct, P(engine.shuffle(engine.map(_pick, P(connectors), "accountable"), "i"))
    )
    del connectors
    links_i = engine.map(_with_attrs, P(engine.shuffle(links_c, "i")), P(by_id))  # by entity, with flags
    links = engine.shuffle(links_i, "cid")  # by connector, with the member's flags

    # Pairs (a, b) by a: the self-join on the connector, then the contributions summed per pair.
    pairs = engine.map(_pairs, P(engine.shuffle(engine.map(_pair_rows, P(links)), "a")))
    one_hop = engine.map(_one_hop, P(pairs))

    # The walk: `steps` rounds of messages along the row-normalised pair weights.
    transitions = engine.shuffle(engine.map(_transitions, P(pairs)), "src")
    del pairs
    x = engine.map(_seeds, P(by_id))
    total = engine.map(_no_total, P(by_id))
    for k in range(1, config.steps + 1):
        coef = (1.0 - config.damping) * config.damping ** (k - 1)
        messages = engine.shuffle(engine.map(_messages, P(transitions), P(x)), "dst")
        step = engine.map(_step, P(messages), P(total), coef=coef)
        x = engine.map(_pick, P(step), "x")
        total = engine.map(_pick, P(step), "total")
    risk = engine.map(_risk, P(total))
    del transitions, x, total, messages, step

    # Connected components: min-label propagation entity → connector → entity (only the labels that changed
    # travel), then pointer jumping and hooking (_jump_requests), until no label changes. A label is always
    # the id of an entity of the same component, so the fixpoint is the component's smallest id.
    labels = engine.map(_first_labels, P(by_id))
    component_rounds = 0
    while True:
        component_rounds += 1
        to_connectors = engine.shuffle(engine.map(_labels_out, P(links_i), P(labels)), "cid")
        offers = engine.shuffle(engine.map(_labels_back, P(to_connectors), P(links_c)), "i")
        labels = engine.map(_relabel, P(labels), P(offers), keep=False)
        requests = engine.shuffle(engine.map(_jump_requests, P(labels)), "target")
        answers = engine.shuffle(engine.map(_jump_answers, P(requests), P(labels)), "i")
        labels = engine.map(_relabel, P(labels), P(answers), keep=True)
        if sum(engine.gather(engine.map(_changed, P(labels)))) == 0:
            break
    sizes = engine.shuffle(engine.map(_group_sizes, P(engine.shuffle(labels, "label"))), "i")
    del labels, links_c, to_connectors, offers, requests, answers

    # Two hops: a —c— m —c2— b as (entity, connector) ⋈ (connector, connector) ⋈ (connector, entity), in
    # rounds of about `chunk_rows` wanted entities per partition (the memory of one task, as `chunk_rows`
    # bounds one process's block in features.graph): the rounds, and their shuffles, stay a handful however
    # large the city, as long as the partitions grow with it.
    connector_pairs = engine.map(_distinct, P(engine.shuffle(engine.map(_connector_pairs, P(links_i)), "c1")))
    del links_i
    wanted = sum(engine.gather(engine.map(_wanted_count, P(by_id))))
    chunks = max(1, math.ceil(wanted / (config.chunk_rows * engine.n)))
    two_hop_parts: list[list[Any]] = []
    for chunk in range(chunks):
        reach = engine.shuffle(
            engine.map(_reach_connectors, P(links), P(connector_pairs), chunk=chunk, chunks=chunks), "c2"
        )
        reached = engine.shuffle(engine.map(_reach_entities, P(reach), P(links)), "a")
        two_hop_parts.append(engine.map(_two_hop, P(reached)))
    del links, connector_pairs, reach, reached
    two_hop = engine.map(_concat, *(P(p) for p in two_hop_parts))
    del two_hop_parts

    out = engine.map(
        _assemble,
        P(by_id),
        P(invest_degree),
        P(shared),
        P(sizes),
        P(one_hop),
        P(two_hop),
        P(risk),
        P(accountable),
    )
    if stats is not None:
        stats["component_rounds"] = component_rounds
        stats["two_hop_rounds"] = chunks
    return engine.map(_finish, P(engine.shuffle(out, "uscc")))
