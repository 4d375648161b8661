"""Red/black list cross-matching (红黑名单交叉比对) as of a date: list entries, relations → conflicts.

An entity must not be rewarded (红名单, 守信激励) while it is on a black list (严重失信主体名单, 失信被执行人
名单, 经营异常名录); a person who leads or owns entities on both sides is a conflict as well. Takes the
lake sources, returns the active list records that put each entity or person on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import polars as pl

from features.catalog import BY_NAME
from features.graph import PERSON_ROLES, relations_in_force
from features.indicators import BLACK_LISTS
from features.lifecycle import RepairPolicy, apply_lifecycle, list_entry_end
from features.profiles import conform

ACTIVE_RECORDS = pl.Schema(
    {
        "uscc": pl.String(),
        "side": pl.String(),
        "entry_id": pl.String(),
        "list_type": pl.String(),
        "listed_on": pl.Date(),
        "basis_document_no": pl.String(),
        "authority": pl.String(),
    }
)
ENTITY_CONFLICTS = pl.Schema(
    {
        "uscc": pl.String(),
        "name": pl.String(),
        "black_lists": pl.List(pl.String()),
        "red_entries": pl.List(pl.String()),
        "black_entries": pl.List(pl.String()),
    }
)
PERSON_CONFLICTS = pl.Schema(
    {
        "person_key": pl.String(),
        "id_masked": pl.String(),
        "name": pl.String(),
        "red_usccs": pl.List(pl.String()),
        "black_usccs": pl.List(pl.String()),
        "roles": pl.List(pl.String()),
        "red_entries": pl.List(pl.String()),
        "black_entries": pl.List(pl.String()),
    }
)


def _table(sources: Mapping[str, pl.LazyFrame], name: str) -> pl.LazyFrame:
    return sources.get(name, pl.LazyFrame(schema=BY_NAME[name].schema))


def active_list_records(
    sources: Mapping[str, pl.LazyFrame], *, as_of: date, policy: RepairPolicy = RepairPolicy()
) -> pl.LazyFrame:
    """List entries active at ``as_of`` after the lifecycle (revoked ones gone, repaired ones ended)."""
    entries = apply_lifecycle(
        _table(sources, "list_entries"),
        table_name="list_entries",
        objections=_table(sources, "objections"),
        repairs=_table(sources, "repairs"),
        as_of=as_of,
        policy=policy,
    )
    end = list_entry_end(policy=policy)
    return (
        entries.filter((pl.col("listed_on") < as_of) & (end.is_null() | (end >= as_of)))
        .filter(pl.col("list_type").is_in([*BLACK_LISTS, "red_list"]))
        .with_columns(
            side=pl.when(pl.col("list_type") == "red_list").then(pl.lit("red")).otherwise(pl.lit("black"))
        )
        .pipe(conform, ACTIVE_RECORDS, name="active_list_records")
        .sort("uscc", "side", "entry_id")
    )


def entity_conflicts(
    sources: Mapping[str, pl.LazyFrame], *, as_of: date, policy: RepairPolicy = RepairPolicy()
) -> pl.LazyFrame:
    """Entities active on the red list and on a black list at once, with the entries on each side."""
    records = active_list_records(sources, as_of=as_of, policy=policy)
    names = _table(sources, "entities").select("uscc", "name").unique("uscc", keep="last")
    return (
        records.group_by("uscc")
        .agg(
            black_lists=pl.col("list_type").filter(pl.col("side") == "black").unique().sort(),
            red_entries=pl.col("entry_id").filter(pl.col("side") == "red").unique().sort(),
            black_entries=pl.col("entry_id").filter(pl.col("side") == "black").unique().sort(),
        )
        .filter((pl.col("red_entries").list.len() > 0) & (pl.col("black_entries").list.len() > 0))
        .join(names, on="uscc", how="left")
        .pipe(conform, ENTITY_CONFLICTS, name="entity_conflicts")
        .sort("uscc")
    )


def person_conflicts(
    sources: Mapping[str, pl.LazyFrame], *, as_of: date, policy: RepairPolicy = RepairPolicy()
) -> pl.LazyFrame:
    """Persons linked (legal representative, shareholder, actual controller) at ``as_of`` to an entity on the
    red list and to an entity on a black list (the same entity or two), with the entries on each side."""
    records = active_list_records(sources, as_of=as_of, policy=policy)
    links = (
        relations_in_force(_table(sources, "relations"), as_of=as_of)
        .filter(pl.col("relation_type").is_in(PERSON_ROLES) & pl.col("person_key").is_not_null())
        .select("person_key", "uscc", "relation_type")
    )
    linked = links.join(records, on="uscc", how="inner")
    red, black = pl.col("side") == "red", pl.col("side") == "black"
    persons = (
        _table(sources, "persons").select("person_key", "id_masked", "name").unique("person_key", keep="last")
    )
    return (
        linked.group_by("person_key")
        .agg(
            red_usccs=pl.col("uscc").filter(red).unique().sort(),
            black_usccs=pl.col("uscc").filter(black).unique().sort(),
            roles=pl.col("relation_type").unique().sort(),
            red_entries=pl.col("entry_id").filter(red).unique().sort(),
            black_entries=pl.col("entry_id").filter(black).unique().sort(),
        )
        .filter((pl.col("red_usccs").list.len() > 0) & (pl.col("black_usccs").list.len() > 0))
        .join(persons, on="person_key", how="left")
        .pipe(conform, PERSON_CONFLICTS, name="person_conflicts")
        .sort("person_key")
    )
