"""Lifecycle state of record tables as of a date: objections (revoked, corrected, pending) and repairs.

Takes a record table's LazyFrame plus the ``objections`` and ``repairs`` tables and returns the records the
profiles should see at ``as_of``, with three added columns: ``under_objection`` (异议处理中 at as_of),
``corrected`` (an upheld objection corrected it) and ``repaired_on`` (date of an approved repair decided
before as_of, else null). Only decisions dated strictly before ``as_of`` apply: a decision taken on or after
the date was not known then, so the record is seen as it stood.

A revoked record is seen as if it had never been recorded (not as a new event on the decision day). For
commitments and inspections the revocation concerns the department's finding, not the fact: a commitment
stays made with its breach determination voided, an inspection stays held with no violation established.
With ``corrected_stops_counting`` (the features of the risk score) a corrected record is treated the same
way: the record as it was published was wrong, and a corrected version is a record of its own.
:func:`without_rows` gives the sources without the rows one decision wrote (the score "before" it).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from features.catalog import BY_NAME, RECORD_TABLES, table

# Tables whose revoked rows stay, with the department's finding voided: the column and its voided value.
_FINDINGS: dict[str, tuple[str, str | None]] = {
    "commitments": ("fulfilment", None),  # the breach determination (违诺认定) is what can be wrong
    "inspections": ("outcome", "no_problem"),  # the inspection was held; its finding stands no more
}


@dataclass(frozen=True, slots=True)
class RepairPolicy:
    """What an approved credit repair (信用修复) does to the repaired record from its decision date.

    ``end_list_entries``: a repaired list entry stops being active (early removal, 提前移出).
    ``stop_penalty_publicity``: a repaired penalty stops counting in the penalty features (公示提前停止,
    SAMR Order 45 art 14); with False it keeps counting and only ``repaired_on`` marks it.
    """

    end_list_entries: bool = True
    stop_penalty_publicity: bool = True


def _key(table_name: str) -> str:
    t = table(table_name)
    if table_name not in RECORD_TABLES:
        raise ValueError(f"table {table_name!r} has no lifecycle; expected one of {list(RECORD_TABLES)}")
    (key,) = t.key
    return key


def _per(as_of: date | pl.Expr) -> list[str]:
    # With a per-row as_of column (many events at once) the state is per record *and* date.
    return [] if isinstance(as_of, date) else ["as_of"]


def objection_state(objections: pl.LazyFrame, *, as_of: date | pl.Expr) -> pl.LazyFrame:
    """Per disputed record (record_table, record_id): revoked / corrected / under objection at ``as_of``."""
    filed = objections.filter(pl.col("filed_on") < as_of)
    decided = pl.col("decided_on").is_not_null() & (pl.col("decided_on") < as_of)
    upheld = decided & (pl.col("outcome") == "upheld")
    return filed.group_by("record_table", "record_id", *_per(as_of)).agg(
        revoked=(upheld & (pl.col("resolution") == "revoked")).any(),
        corrected=(upheld & (pl.col("resolution") == "corrected")).any(),
        # A decision dated on or after as_of is the future: the objection was still pending then.
        under_objection=(~decided).any(),
    )


def repair_state(repairs: pl.LazyFrame, *, as_of: date | pl.Expr) -> pl.LazyFrame:
    """Per repaired record: the earliest approved repair decided before ``as_of``."""
    return (
        repairs.filter(
            (pl.col("outcome") == "approved")
            & pl.col("decided_on").is_not_null()
            & (pl.col("decided_on") < as_of)
        )
        .group_by("record_table", "record_id", *_per(as_of))
        .agg(repaired_on=pl.col("decided_on").min())
    )


def apply_lifecycle(
    records: pl.LazyFrame,
    *,
    table_name: str,
    objections: pl.LazyFrame,
    repairs: pl.LazyFrame,
    as_of: date | pl.Expr,
    policy: RepairPolicy = RepairPolicy(),
    corrected_stops_counting: bool = False,
) -> pl.LazyFrame:
    """``records`` without revoked rows, plus the lifecycle columns; repaired rows handled per ``policy``.

    ``as_of`` is a date, or ``pl.col("as_of")`` when records, objections and repairs all carry a per-row
    ``as_of`` column (events joined in: :func:`features.build.build_for_events`). Commitments and
    inspections keep their revoked rows with the finding voided (module docstring);
    ``corrected_stops_counting`` treats corrected records as revoked.
    """
    key = _key(table_name)
    per = _per(as_of)
    obj = (
        objection_state(objections, as_of=as_of)
        .filter(pl.col("record_table") == table_name)
        .select(pl.col("record_id").alias(key), *per, "revoked", "corrected", "under_objection")
    )
    rep = (
        repair_state(repairs, as_of=as_of)
        .filter(pl.col("record_table") == table_name)
        .select(pl.col("record_id").alias(key), *per, "repaired_on")
    )
    joined = (
        records.join(obj, on=[key, *per], how="left", maintain_order="left")
        .join(rep, on=[key, *per], how="left", maintain_order="left")
        .with_columns(
            pl.col("revoked").fill_null(False),
            pl.col("corrected").fill_null(False),
            pl.col("under_objection").fill_null(False),
        )
    )
    # An upheld objection that revoked the record: it never counts (国办发〔2019〕35号 §十七).
    void = pl.col("revoked") | pl.col("corrected") if corrected_stops_counting else pl.col("revoked")
    if table_name in _FINDINGS:
        column, voided = _FINDINGS[table_name]
        dtype = records.collect_schema()[column]
        out = joined.with_columns(
            pl.when(void).then(pl.lit(voided, dtype=dtype)).otherwise(pl.col(column)).alias(column)
        ).drop("revoked")
    else:
        out = joined.filter(~void).drop("revoked")
    if table_name == "penalties" and policy.stop_penalty_publicity:
        out = out.filter(pl.col("repaired_on").is_null())
    return out


def list_entry_end(*, policy: RepairPolicy = RepairPolicy()) -> pl.Expr:
    """The first day a list entry is no longer active: exit, planned end, or (per policy) the repair
    decision."""
    ends = [pl.col("exited_on"), pl.col("planned_end")]
    if policy.end_list_entries:
        ends.append(pl.col("repaired_on"))
    return pl.min_horizontal(*ends)


def lifecycle_sources(
    sources: Mapping[str, pl.LazyFrame],
    *,
    as_of: date | pl.Expr,
    policy: RepairPolicy = RepairPolicy(),
    corrected_stops_counting: bool = False,
) -> dict[str, pl.LazyFrame]:
    """Every record table of ``sources`` with :func:`apply_lifecycle` applied; other tables unchanged."""
    src = dict(sources)
    out = dict(src)
    for name in RECORD_TABLES:
        if name in src:
            out[name] = apply_lifecycle(
                src[name],
                table_name=name,
                objections=src["objections"],
                repairs=src["repairs"],
                as_of=as_of,
                policy=policy,
                corrected_stops_counting=corrected_stops_counting,
            )
    return out


def without_rows(
    sources: Mapping[str, pl.LazyFrame], rows: Mapping[str, Collection[str]]
) -> dict[str, pl.LazyFrame]:
    """``sources`` without the rows whose key is in ``rows[table]``: the lake as it stood before the
    decision that wrote them (lifecycle rows are written once, when their decision is final)."""
    out = dict(sources)
    for name, ids in rows.items():
        if name not in BY_NAME:
            raise ValueError(f"unknown table {name!r}; expected one of {sorted(BY_NAME)}")
        if name in out and ids:
            (key,) = BY_NAME[name].key
            out[name] = out[name].filter(~pl.col(key).is_in(sorted(ids)))
    return out
