"""The related-party graph as of a date: entities linked through persons, addresses, phones and investments.

Takes the entities and relations tables plus the lifecycle-applied penalties, list entries and evaluations,
and returns one row per entity with its graph features (``family == "graph"`` in the feature catalog).

Nodes are entities, persons, normalised addresses and normalised phones; edges are legal_representative,
shareholder (weighted by the share), actual_controller (entity–person), investment (entity–entity) and
shared_address / shared_phone (entity–address, entity–phone), each valid at ``as_of``. Two entities are
related at one hop when they share a person, an address or a phone, or one invests in the other. The
computation runs on scipy.sparse matrices (CSR, csgraph, sparse mat-vec products); docs/features.md records
why. Polars frames go in and out; the numeric middle collects, because a graph is not a columnar query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from features.indicators import GRADE_ORDINAL, family_schema
from features.lifecycle import RepairPolicy, list_entry_end
from features.profiles import conform

PERSON_ROLES = ("legal_representative", "shareholder", "actual_controller")
LEADING_ROLES = ("legal_representative", "actual_controller")


@dataclass(frozen=True, slots=True)
class GraphConfig:
    """Graph parameters.

    ``max_shared_group``: an address or phone shared by more entities than this (a registration-agent
    address, a switchboard) still counts in ``degree_shared_*`` but creates no edges: it would link
    thousands of unrelated entities. ``damping`` and ``steps``: the propagated-risk walk.
    ``risk_lists``: the lists whose active entries seed the propagated risk.
    ``chunk_rows``: rows per block of the two-hop product (bounds memory).
    """

    max_shared_group: int = 200
    damping: float = 0.5
    steps: int = 8
    shared_weight: float = 0.5
    risk_lists: tuple[str, ...] = ("severe_dishonesty", "court_dishonest_debtor")
    chunk_rows: int = 50_000

    def __post_init__(self) -> None:
        if not 0.0 < self.damping < 1.0:
            raise ValueError(f"damping must be in (0, 1), got {self.damping!r}")
        if self.max_shared_group < 2:
            raise ValueError(f"max_shared_group must be at least 2, got {self.max_shared_group!r}")
        if self.steps < 1 or self.chunk_rows < 1:
            raise ValueError("steps and chunk_rows must be positive")


def normalise_address(expr: pl.Expr) -> pl.Expr:
    """Addresses compared after NFKC (full-width → half-width), upper-casing and dropping whitespace and
    punctuation, so '盐城市 亭湖区１号' and '盐城市亭湖区1号' are one node."""
    out = expr.str.normalize("NFKC").str.to_uppercase().str.replace_all(r"[\s\p{P}]+", "")
    return pl.when(out.str.len_chars() > 0).then(out)


def normalise_phone(expr: pl.Expr) -> pl.Expr:
    """Phones compared on their digits, without a leading +86 / 0086 country code."""
    digits = expr.str.normalize("NFKC").str.replace_all(r"\D", "").str.replace(r"^(0086|86)(1\d{10})$", "$2")
    return pl.when(digits.str.len_chars() >= 5).then(digits)


def relations_in_force(
    relations: pl.LazyFrame, *, as_of: date, roles: Sequence[str] | None = None
) -> pl.LazyFrame:
    """Relations in force at ``as_of`` (of the relation types `roles`, if given): started before it and not
    ended before it.

    The one rule for the graph, recusal (回避) and the API: ``valid_from < as_of`` because, as for every
    feature, the ``as_of`` day itself is the future (a relation registered that day is not known yet), and
    ``valid_to >= as_of`` because a relation ending that day still held the day before.
    """
    live = relations.filter(
        (pl.col("valid_from") < as_of) & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= as_of))
    )
    return live if roles is None else live.filter(pl.col("relation_type").is_in(list(roles)))


def _flags(
    nodes: pl.DataFrame,
    *,
    penalties: pl.LazyFrame,
    list_entries: pl.LazyFrame,
    evaluations: pl.LazyFrame,
    as_of: date,
    config: GraphConfig,
    policy: RepairPolicy,
) -> pl.DataFrame:
    """Per node: severe-list active, risk-seed active, penalised in 365 days, public-credit grade
    (0 = none)."""
    end = list_entry_end(policy=policy)
    active = list_entries.filter((pl.col("listed_on") < as_of) & (end.is_null() | (end >= as_of))).select(
        "uscc", "list_type"
    )
    lists = active.group_by("uscc").agg(
        blacklisted=(pl.col("list_type") == "severe_dishonesty").any(),
        seed=pl.col("list_type").is_in(config.risk_lists).any(),
    )
    penalised = (
        penalties.filter(
            (pl.col("decided_on") < as_of) & (pl.col("decided_on") >= as_of - timedelta(days=365))
        )
        .select("uscc")
        .unique()
        .with_columns(penalised=pl.lit(True))
    )
    grades = (
        evaluations.filter(
            (pl.col("scheme") == "public_credit")
            & (pl.col("evaluated_on") < as_of)
            & (pl.col("valid_until").is_null() | (pl.col("valid_until") >= as_of))
        )
        .group_by("uscc")
        .agg(grade=pl.col("grade").sort_by("evaluated_on", "evaluation_id").last())
        .with_columns(grade=pl.col("grade").replace_strict(GRADE_ORDINAL, default=0, return_dtype=pl.Int8))
    )
    return (
        nodes.lazy()
        .select("uscc")
        .join(lists, on="uscc", how="left", maintain_order="left")
        .join(penalised, on="uscc", how="left", maintain_order="left")
        .join(grades, on="uscc", how="left", maintain_order="left")
        .select(
            pl.col("blacklisted").fill_null(False),
            pl.col("seed").fill_null(False),
            pl.col("penalised").fill_null(False),
            pl.col("grade").fill_null(0),
        )
        .collect()
    )


def _incidence(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n: int, m: int) -> sp.csr_matrix:
    return sp.csr_matrix((weights, (rows, cols)), shape=(n, m), dtype=np.float64)


def _binary_offdiag(m: sp.spmatrix) -> sp.csr_matrix:
    """Structure of ``m`` without its diagonal: self-loops (an entity investing in itself, the same person
    twice on one entity) never make an entity its own relative."""
    m = sp.csr_matrix(m)
    m.setdiag(0)
    m.eliminate_zeros()
    m.data[:] = 1.0
    return m


def graph_features(
    entities: pl.LazyFrame,
    relations: pl.LazyFrame,
    *,
    penalties: pl.LazyFrame,
    list_entries: pl.LazyFrame,
    evaluations: pl.LazyFrame,
    as_of: date,
    rows: pl.LazyFrame | None = None,
    config: GraphConfig = GraphConfig(),
    policy: RepairPolicy = RepairPolicy(),
) -> pl.LazyFrame:
    """Graph features of every entity established before ``as_of`` (or only the ``rows`` USCCs)."""
    nodes = (
        entities.filter(pl.col("established_on") < as_of)
        .select(
            "uscc",
            address=normalise_address(pl.col("address")),
            phone=normalise_phone(pl.col("phone")),
        )
        .unique("uscc", keep="last")
        .sort("uscc")
        .with_row_index("i")
        .collect()
    )
    n = nodes.height
    index = nodes.lazy().select("uscc", pl.col("i").cast(pl.Int64))

    live = relations_in_force(relations, as_of=as_of)
    person_lf = (
        live.filter(pl.col("relation_type").is_in(PERSON_ROLES) & pl.col("person_key").is_not_null())
        .join(index, on="uscc", how="inner")
        .select("i", "person_key", "relation_type", weight=pl.col("share"))
    )
    investments_lf = (
        live.filter((pl.col("relation_type") == "investment") & pl.col("related_uscc").is_not_null())
        .join(index, on="uscc", how="inner")
        .join(index.rename({"uscc": "related_uscc", "i": "j"}), on="related_uscc", how="inner")
        .filter(pl.col("i") != pl.col("j"))
        .select("i", "j", weight=pl.col("share").fill_null(1.0))
    )
    # One collect for both edge sets: the relations are read once, not once per edge type.
    person_edges, investments = pl.collect_all([person_lf, investments_lf])
    # Sorted so that the sparse sums add in one order: byte-identical outputs.
    person_edges = person_edges.sort("i", "person_key", "relation_type", "weight", nulls_last=True)
    investments = investments.sort("i", "j", "weight")
    persons = person_edges.get_column("person_key").unique().sort()
    person_index = pl.DataFrame({"person_key": persons, "p": np.arange(persons.len(), dtype=np.int64)})
    person_edges = person_edges.join(person_index, on="person_key", how="left", maintain_order="left")

    # Degrees by edge type (on the entity node; shared_* as the number of other entities on the node).
    deg = {
        role: np.bincount(
            person_edges.filter(pl.col("relation_type") == role)
            .unique(["i", "person_key"])
            .get_column("i")
            .to_numpy(),
            minlength=n,
        )
        for role in PERSON_ROLES
    }
    inv_pairs = pl.concat([investments.select("i", "j"), investments.select(i="j", j="i")]).unique()
    deg["investment"] = np.bincount(inv_pairs.get_column("i").to_numpy(), minlength=n)

    shared_cols: list[tuple[np.ndarray, np.ndarray]] = []
    for kind in ("address", "phone"):
        groups = nodes.select("i", kind).drop_nulls(kind)
        codes = groups.get_column(kind).rank("dense").cast(pl.Int64).to_numpy() - 1
        sizes = np.bincount(codes) if codes.size else np.zeros(0, dtype=np.int64)
        d = np.zeros(n, dtype=np.int64)
        d[groups.get_column("i").to_numpy()] = sizes[codes] - 1
        deg[f"shared_{kind}"] = d
        keep = sizes[codes] <= config.max_shared_group
        shared_cols.append((groups.get_column("i").to_numpy()[keep], codes[keep]))

    # Incidence of entities on connectors (persons, then addresses, then phones); weighted copy for the walk.
    n_p = persons.len()
    n_a = int(shared_cols[0][1].max(initial=-1)) + 1
    n_ph = int(shared_cols[1][1].max(initial=-1)) + 1
    pe_i = person_edges.get_column("i").to_numpy()
    pe_p = person_edges.get_column("p").to_numpy()
    is_share = (person_edges.get_column("relation_type") == "shareholder").to_numpy()
    share_w = person_edges.get_column("weight").fill_null(1.0).to_numpy()
    pe_w = np.where(is_share, share_w, 1.0)
    rows_all = np.concatenate([pe_i, shared_cols[0][0], shared_cols[1][0]])
    cols_all = np.concatenate([pe_p, n_p + shared_cols[0][1], n_p + n_a + shared_cols[1][1]])
    w_all = np.concatenate(
        [
            pe_w,
            np.full(shared_cols[0][0].size, config.shared_weight),
            np.full(shared_cols[1][0].size, config.shared_weight),
        ]
    )
    m = n_p + n_a + n_ph
    b_bin = _incidence(rows_all, cols_all, np.ones_like(w_all), n, m)
    b_w = _incidence(rows_all, cols_all, w_all, n, m)
    inv = _incidence(
        investments.get_column("i").to_numpy(),
        investments.get_column("j").to_numpy(),
        investments.get_column("weight").to_numpy(),
        n,
        n,
    )
    adj = _binary_offdiag(b_bin @ b_bin.T + inv + inv.T)
    weighted = sp.csr_matrix(b_w @ b_w.T + inv + inv.T)
    weighted.setdiag(0)
    weighted.eliminate_zeros()

    flags = _flags(
        nodes,
        penalties=penalties,
        list_entries=list_entries,
        evaluations=evaluations,
        as_of=as_of,
        config=config,
        policy=policy,
    )
    black = flags.get_column("blacklisted").to_numpy().astype(np.float64)
    pen = flags.get_column("penalised").to_numpy().astype(np.float64)
    seed = flags.get_column("seed").to_numpy().astype(np.float64)
    grade = flags.get_column("grade").to_numpy().astype(np.int8)

    _, labels = connected_components(adj, directed=False)
    group_size = np.bincount(labels)[labels]

    n1 = np.diff(adj.indptr)
    black1 = adj @ black
    pen1 = adj @ pen
    worst = _row_max(adj, grade)

    wanted = np.arange(n)
    if rows is not None:
        want = rows.select("uscc").unique().join(index, on="uscc", how="inner").collect()
        wanted = np.sort(want.get_column("i").to_numpy())
    n2, black2, pen2 = _two_hop(adj, wanted, black, pen, chunk=config.chunk_rows)

    risk = _propagated(weighted, seed, damping=config.damping, steps=config.steps)
    accountable = _accountable(person_edges, n=n, n_persons=n_p, severe=black)

    def share(k: np.ndarray, total: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, k / np.maximum(total, 1), np.nan)

    w = wanted
    out = pl.DataFrame(
        {
            "uscc": nodes.get_column("uscc").gather(w),
            **{f"degree_{k}": v[w] for k, v in deg.items()},
            "group_size": group_size[w],
            "related_n_1hop": n1[w],
            "related_n_2hop": n2,
            "related_blacklisted_n_1hop": black1[w],
            "related_blacklisted_share_1hop": share(black1[w], n1[w]),
            "related_penalised_n_1hop": pen1[w],
            "related_penalised_share_1hop": share(pen1[w], n1[w]),
            "related_blacklisted_n_2hop": black2,
            "related_blacklisted_share_2hop": share(black2, n2),
            "related_penalised_n_2hop": pen2,
            "related_penalised_share_2hop": share(pen2, n2),
            "related_worst_grade": worst[w],
            "related_risk_propagated": risk[w],
            "person_accountable_for_listed": accountable[w],
        }
    )
    return (
        out.lazy()
        .with_columns(
            pl.col(c).fill_nan(None) for c in out.columns if out.schema[c] == pl.Float64 and "share" in c
        )
        .with_columns(pl.col("related_worst_grade").replace(0, None))
        .pipe(conform, family_schema("graph"), name="graph_features")
    )


def _row_max(adj: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """Per row, the largest value among the row's neighbours (0 for a row without neighbours)."""
    out = np.zeros(adj.shape[0], dtype=values.dtype)
    nonempty = np.flatnonzero(np.diff(adj.indptr))
    if nonempty.size:
        out[nonempty] = np.maximum.reduceat(values[adj.indices], adj.indptr[nonempty])
    return out


def _two_hop(
    adj: sp.csr_matrix, rows: np.ndarray, black: np.ndarray, pen: np.ndarray, *, chunk: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct entities within two hops of each row (excluding itself) and how many are flagged."""
    n2 = np.zeros(rows.size, dtype=np.int64)
    b2 = np.zeros(rows.size, dtype=np.float64)
    p2 = np.zeros(rows.size, dtype=np.float64)
    has_neighbour = np.diff(adj.indptr) > 0
    for start in range(0, rows.size, chunk):
        r = rows[start : start + chunk]
        block = adj[r]
        reach = block @ adj + block
        reach.data[:] = 1.0
        # adj is symmetric, so a row with any neighbour reaches itself in two steps (out and back): that
        # walk is not a relative, and it is the only way a row reaches its own column.
        own = has_neighbour[r]
        sl = slice(start, start + r.size)
        n2[sl] = np.diff(reach.indptr) - own
        b2[sl] = reach @ black - own * black[r]
        p2[sl] = reach @ pen - own * pen[r]
    return n2, b2, p2


def _propagated(weighted: sp.csr_matrix, seed: np.ndarray, *, damping: float, steps: int) -> np.ndarray:
    """Risk reaching each entity from the seeded (listed) entities through its relations.

    The personalised PageRank of a walk that starts at the entity and restarts there with probability
    ``1 - damping``, read off on the seed set and without the zero-length walk (the entity's own listing is
    a feature of its own): ``(1-d) Σ_{k≥1} d^(k-1) (P^k s)`` with ``P`` the row-normalised weighted
    adjacency. It lies in [0, 1]: 1 means every walk lands on a listed entity at every step.
    """
    strength = np.asarray(weighted.sum(axis=1)).ravel()
    inv = np.divide(1.0, strength, out=np.zeros_like(strength), where=strength > 0)
    transition = sp.diags(inv) @ weighted
    x = seed.astype(np.float64)
    total = np.zeros_like(x)
    for k in range(1, steps + 1):
        x = transition @ x
        total += (1.0 - damping) * damping ** (k - 1) * x
    return total


def _accountable(person_edges: pl.DataFrame, *, n: int, n_persons: int, severe: np.ndarray) -> np.ndarray:
    """1 when a person of the entity (any role) is legal representative or controller of another entity on
    the severe dishonesty list — the personal accountability of 国办发〔2019〕35号 (失信联合惩戒到人)."""
    out = np.zeros(n, dtype=np.int8)
    if person_edges.height == 0:
        return out
    lead = person_edges.filter(pl.col("relation_type").is_in(LEADING_ROLES)).unique(["i", "p"])
    li = lead.get_column("i").to_numpy()
    lp = lead.get_column("p").to_numpy()
    listed_led = np.bincount(lp, weights=severe[li], minlength=n_persons)  # listed entities a person leads
    pairs = person_edges.unique(["i", "p"]).sort("i", "p")
    pi = pairs.get_column("i").to_numpy()
    pp = pairs.get_column("p").to_numpy()
    # Subtract the entity's own listing when the person also leads it: only *other* entities count.
    leads_self = (
        pairs.join(lead.select("i", "p", own=pl.lit(1.0)), on=["i", "p"], how="left", maintain_order="left")
        .get_column("own")
        .fill_null(0.0)
        .to_numpy()
    )
    others = listed_led[pp] - leads_self * severe[pi]
    hit = pi[others > 0]
    out[hit] = 1
    return out
