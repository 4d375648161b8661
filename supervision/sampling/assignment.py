"""Random inspectors per visit (the second 随机): qualified, active, no conflict of interest (回避),
workload-capped.

Takes visits (visit_id, uscc, items), the inspector roster, declared conflicts, the entity–person links of
the related-party graph and the previous inspectors of each entity; returns the assignments, every
exclusion with its reason, and the visits that cannot be staffed with the reason why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from features.graph import relations_in_force
from supervision.sampling.errors import SamplingInputError

__all__ = [
    "CONFLICT_RELATIONS",
    "DECLARED_SCHEMA",
    "INSPECTOR_SCHEMA",
    "LINK_SCHEMA",
    "PREVIOUS_SCHEMA",
    "REASONS",
    "VISIT_SCHEMA",
    "Assignment",
    "assign_inspectors",
    "entity_person_links",
]

INSPECTOR_SCHEMA = pl.Schema(
    {
        "inspector_id": pl.String(),
        "person_key": pl.String(),
        "active": pl.Boolean(),
        "qualifications": pl.List(pl.String()),
    }
)
VISIT_SCHEMA = pl.Schema({"visit_id": pl.String(), "uscc": pl.String(), "items": pl.List(pl.String())})
# A declared conflict names either an entity (uscc) or a person (person_key); the other stays null.
DECLARED_SCHEMA = pl.Schema({"inspector_id": pl.String(), "uscc": pl.String(), "person_key": pl.String()})
# Legal representatives, shareholders and actual controllers of each entity, by salted person key.
LINK_SCHEMA = pl.Schema({"uscc": pl.String(), "person_key": pl.String()})
PREVIOUS_SCHEMA = pl.Schema({"uscc": pl.String(), "inspector_id": pl.String()})

REASONS = {
    "declared_entity": "declared a conflict with this entity",
    "declared_person": "declared a conflict with a person linked to this entity",
    "related_party": "is the legal representative, a shareholder or a controller of this entity",
    "previous_inspector": "inspected this entity last time",
}


# Relation types whose person a recused inspector must not be (行政处罚法 art 43: direct interest).
CONFLICT_RELATIONS = ("legal_representative", "shareholder", "actual_controller")


def entity_person_links(relations: pl.LazyFrame, *, as_of: date) -> pl.LazyFrame:
    """(uscc, person_key) of each entity's legal representative, shareholders and actual controllers
    in force at ``as_of`` (:func:`features.graph.relations_in_force`, the graph's rule), from the catalog's
    ``relations`` table (the related-party graph's person edges)."""
    return (
        relations_in_force(relations, as_of=as_of, roles=CONFLICT_RELATIONS)
        .filter(pl.col("person_key").is_not_null())
        .select("uscc", "person_key")
        .unique()
        .sort("uscc", "person_key")
        .match_to_schema(LINK_SCHEMA)
    )


@dataclass(frozen=True)
class Assignment:
    """``assignments`` (visit_id, inspector_id), ``exclusions`` (visit_id, inspector_id, reason) and
    ``unstaffed`` (visit_id, uscc, reason); all sorted, so the same inputs and seed give the same frames."""

    assignments: pl.DataFrame
    exclusions: pl.DataFrame
    unstaffed: pl.DataFrame


def _conform(df: pl.DataFrame | None, schema: pl.Schema, name: str) -> pl.DataFrame:
    if df is None:
        return pl.DataFrame(schema=schema)
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise SamplingInputError(f"{name}: missing columns {missing}; expected {list(schema)}")
    return df.select([pl.col(c).cast(t) for c, t in schema.items()])


def _generator(seed: bytes) -> np.random.Generator:
    # A separate stream of the task seed: the entity draw and the inspector draw never share numbers.
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(int.from_bytes(seed, "big"), spawn_key=(1,)))
    )


def _conflicts(
    visits: pl.DataFrame,
    inspectors: pl.DataFrame,
    declared: pl.DataFrame,
    links: pl.DataFrame,
    previous: pl.DataFrame,
) -> pl.DataFrame:
    """All (visit_id, inspector_id, reason) conflict pairs, by joins (sparse; never visits × inspectors)."""
    v = visits.select("visit_id", "uscc")
    known = inspectors.select("inspector_id")
    parts = [
        v.join(
            declared.filter(pl.col("uscc").is_not_null()).select("inspector_id", "uscc"), on="uscc"
        ).with_columns(reason=pl.lit("declared_entity")),
        v.join(links, on="uscc")
        .join(
            declared.filter(pl.col("person_key").is_not_null()).select("inspector_id", "person_key"),
            on="person_key",
        )
        .select("visit_id", "uscc", "inspector_id")
        .with_columns(reason=pl.lit("declared_person")),
        v.join(links, on="uscc")
        .join(
            inspectors.filter(pl.col("person_key").is_not_null()).select("inspector_id", "person_key"),
            on="person_key",
        )
        .select("visit_id", "uscc", "inspector_id")
        .with_columns(reason=pl.lit("related_party")),
        v.join(previous, on="uscc").with_columns(reason=pl.lit("previous_inspector")),
    ]
    return (
        pl.concat([p.select("visit_id", "inspector_id", "reason") for p in parts])
        .join(known, on="inspector_id", how="semi")
        .unique()
        .sort("visit_id", "inspector_id", "reason")
    )


def assign_inspectors(
    visits: pl.DataFrame,
    inspectors: pl.DataFrame,
    *,
    seed: bytes,
    declared: pl.DataFrame | None = None,
    links: pl.DataFrame | None = None,
    previous: pl.DataFrame | None = None,
    team_size: int = 2,
    max_visits: int | None = None,
) -> Assignment:
    """Draw ``team_size`` inspectors per visit from the active ones qualified for every item of the visit.

    Conflicted inspectors are removed before the draw (行政处罚法 art 43: recusal); nobody gets more than
    ``max_visits`` visits. Visits are staffed hardest-first (fewest candidates; ties in seeded random order)
    so that a tight roster is spent where it is needed; a visit with fewer than ``team_size`` candidates is
    reported in ``unstaffed`` and gets nobody.
    """
    if team_size < 1:
        raise SamplingInputError(
            f"team_size {team_size}: must be ≥ 1 (行政处罚法 art 42 requires 2 for enforcement)"
        )
    if max_visits is not None and max_visits < 1:
        raise SamplingInputError(f"max_visits {max_visits}: must be ≥ 1 or None (no cap)")
    if len(seed) < 16:
        raise SamplingInputError(f"seed: expected the task's 32-byte seed, got {len(seed)} bytes")
    visits = _conform(visits, VISIT_SCHEMA, "visits").sort("visit_id")
    inspectors = _conform(inspectors, INSPECTOR_SCHEMA, "inspectors").sort("inspector_id")
    declared = _conform(declared, DECLARED_SCHEMA, "declared conflicts")
    links = _conform(links, LINK_SCHEMA, "links").unique()
    previous = _conform(previous, PREVIOUS_SCHEMA, "previous inspectors").unique()
    for frame, key, name in ((visits, "visit_id", "visits"), (inspectors, "inspector_id", "inspectors")):
        dup = frame.group_by(key).len().filter(pl.col("len") > 1).sort(key)
        if dup.height:
            raise SamplingInputError(f"{name}: {key} {dup[key][0]!r} appears {dup['len'][0]} times")
        if frame[key].null_count():
            raise SamplingInputError(f"{name}: {key} must not be null")

    n_visits, n_insp = visits.height, inspectors.height
    exclusions = _conflicts(visits, inspectors, declared, links, previous)

    # Qualification: one boolean column per distinct item, then one mask per distinct item set.
    item_sets = visits.select(key=pl.col("items").list.unique().list.sort())
    distinct_sets = item_sets.unique(maintain_order=True)["key"].to_list()
    set_id = (
        item_sets.with_row_index("i")
        .join(pl.DataFrame({"key": distinct_sets}).with_row_index("set"), on="key", how="left")
        .sort("i")["set"]
        .to_numpy()
    )
    all_items = sorted({i for s in distinct_sets for i in s})
    qual_rows = inspectors.select(pl.int_range(pl.len()).alias("row"), "qualifications").explode(
        "qualifications"
    )
    qual = np.zeros((n_insp, max(len(all_items), 1)), dtype=bool)
    item_index = {item: j for j, item in enumerate(all_items)}
    hit = qual_rows.filter(pl.col("qualifications").is_in(all_items))
    if hit.height:
        qual[hit["row"].to_numpy(), [item_index[q] for q in hit["qualifications"].to_list()]] = True
    active = inspectors["active"].fill_null(False).to_numpy()
    set_masks = np.empty((len(distinct_sets), n_insp), dtype=bool)
    for k, items in enumerate(distinct_sets):
        cols = [item_index[i] for i in items]
        set_masks[k] = active & (qual[:, cols].all(axis=1) if cols else True)

    # Conflicts as CSR rows over visits (unique inspector indices per visit).
    visit_pos = {v: i for i, v in enumerate(visits["visit_id"].to_list())}
    insp_ids = inspectors["inspector_id"].to_list()
    insp_pos = {v: i for i, v in enumerate(insp_ids)}
    pairs = exclusions.select("visit_id", "inspector_id").unique()
    pv = np.array([visit_pos[v] for v in pairs["visit_id"].to_list()], dtype=np.int64)
    pi = np.array([insp_pos[v] for v in pairs["inspector_id"].to_list()], dtype=np.int64)
    order = np.lexsort((pi, pv))
    pv, pi = pv[order], pi[order]
    indptr = np.searchsorted(pv, np.arange(n_visits + 1))

    qualified_n = set_masks.sum(axis=1)[set_id] if n_visits else np.zeros(0, dtype=np.int64)
    conflicted_qualified = np.zeros(n_visits, dtype=np.int64)
    if pv.size:
        np.add.at(conflicted_qualified, pv, set_masks[set_id[pv], pi])
    rng = _generator(bytes(seed))
    tie = rng.permutation(n_visits)
    visit_order = np.lexsort((tie, qualified_n - conflicted_qualified))

    load = np.zeros(n_insp, dtype=np.int64)
    cap = max_visits if max_visits is not None else np.iinfo(np.int64).max
    team_v: list[np.ndarray] = []
    team_i: list[np.ndarray] = []
    unstaffed_rows: list[tuple[int, str]] = []
    for v in visit_order:
        candidates = set_masks[set_id[v]] & (load < cap)
        blocked = pi[indptr[v] : indptr[v + 1]]
        candidates[blocked] = False
        pool = np.flatnonzero(candidates)
        if pool.size < team_size:
            at_cap = int((set_masks[set_id[v]] & (load >= cap)).sum())
            unstaffed_rows.append(
                (
                    int(v),
                    f"{pool.size} eligible inspector(s), need {team_size}: {int(qualified_n[v])} active and "
                    f"qualified for all items, {int(conflicted_qualified[v])} of them excluded for conflicts "
                    f"of interest (回避), {at_cap} at the workload cap"
                    + (f" of {max_visits}" if max_visits is not None else ""),
                )
            )
            continue
        chosen = rng.choice(pool, size=team_size, replace=False)
        load[chosen] += 1
        team_v.append(np.full(team_size, v))
        team_i.append(chosen)

    visit_ids = np.array(visits["visit_id"].to_list(), dtype=object)
    insp_arr = np.array(insp_ids, dtype=object)
    tv = np.concatenate(team_v) if team_v else np.zeros(0, dtype=np.int64)
    ti = np.concatenate(team_i) if team_i else np.zeros(0, dtype=np.int64)
    assignments = pl.DataFrame(
        {"visit_id": visit_ids[tv].tolist(), "inspector_id": insp_arr[ti].tolist()},
        schema={"visit_id": pl.String(), "inspector_id": pl.String()},
    ).sort("visit_id", "inspector_id")
    unstaffed = pl.DataFrame(
        {
            "visit_id": [visit_ids[v] for v, _ in unstaffed_rows],
            "uscc": [visits["uscc"][v] for v, _ in unstaffed_rows],
            "reason": [r for _, r in unstaffed_rows],
        },
        schema={"visit_id": pl.String(), "uscc": pl.String(), "reason": pl.String()},
    ).sort("visit_id")
    return Assignment(assignments=assignments, exclusions=exclusions, unstaffed=unstaffed)
