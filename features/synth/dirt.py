"""Realistic dirt for ingest's quarantine: bad check characters, a code under two names, gaps, bad dates.

Each table gets about ``rate`` of its rows spoiled, spread evenly over the kinds that make sense for it.
Records about an entity are spoiled in place (the row is lost to the lake, as it would be); entities and
persons get *extra* rows instead, because other tables refer to them and must still be accepted. Every
spoiled row is listed in a manifest with the quarantine rule ingest should give it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from features import uscc as uscc_mod
from features.catalog import BY_NAME

MANIFEST_SCHEMA = pl.Schema(
    {
        "table": pl.String,
        "row": pl.Int64,
        "key": pl.String,
        "kind": pl.String,
        "rule": pl.String,
        "field": pl.String,
    }
)
FUTURE = date(2031, 3, 15)  # after any ingest date the project will see
_ALPHA = uscc_mod.ALPHABET


@dataclass(frozen=True, slots=True)
class Spoil:
    """One kind of dirt: the quarantine rule it should trigger and the field it touches."""

    kind: str
    rule: str
    field: str


# Chinese labels where an English code is expected: a common mistake of hand-made exports.
_ENUM_ZH: dict[str, tuple[str, str]] = {
    "entities": ("status", "存续"),
    "relations": ("relation_type", "法定代表人"),
    "licences": ("licence_kind", "普通"),
    "penalties": ("severity", "严重"),
    "commitments": ("fulfilment", "已履约"),
    "self_reports": ("topic", "荣誉"),
    "evaluations": ("grade", "A级"),
    "list_entries": ("list_type", "经营异常名录"),
    "interviews": ("authority", ""),  # no enum: unused
    "repairs": ("outcome", "同意"),
    "objections": ("outcome", "维持"),
    "inspections": ("outcome", "未发现问题"),
    "decisions": ("kind", "行政强制"),
}
_MISSING: dict[str, str] = {
    "entities": "name",
    "relations": "relation_type",
    "licences": "matter",
    "penalties": "basis",
    "commitments": "matter",
    "self_reports": "topic",
    "evaluations": "evaluator",
    "list_entries": "basis_document_no",
    "interviews": "reason",
    "repairs": "authority",
    "objections": "record_id",
    "inspections": "department",
    "decisions": "title",
}
# A date that may be set in the future without breaking a row rule (it is never the earlier of an ordering).
_FUTURE_FIELD: dict[str, str] = {
    "entities": "closed_on",
    "licences": "decided_on",
    "commitments": "fulfilment_on",
    "self_reports": "verified_on",
    "list_entries": "exited_on",
    "interviews": "held_on",
    "repairs": "decided_on",
    "objections": "decided_on",
    "inspections": "inspected_on",
}
# A non-required date for an impossible calendar date (2023-02-30) in text files.
_BAD_DATE_FIELD: dict[str, str] = {
    "entities": "closed_on",
    "penalties": "valid_until",
    "self_reports": "verified_on",
    "list_entries": "planned_end",
    "repairs": "decided_on",
    "objections": "decided_on",
}


def spoils_for(table: str, *, text_dates: bool) -> tuple[Spoil, ...]:
    """The kinds of dirt used on ``table``, in a fixed order."""
    t = BY_NAME[table]
    if table == "persons":
        return (Spoil("bad_id_number", "id_number", "id_number"), Spoil("duplicate_row", "duplicate_row", ""))
    out = [
        Spoil("check_character", "uscc", "uscc"),
        Spoil("missing_required", "required", _MISSING[table]),
        Spoil("duplicate_row", "duplicate_row", ""),
    ]
    if table == "entities":
        out.append(Spoil("two_names", "duplicate_key", "uscc"))
        out.append(Spoil("negative_amount", "non_negative", "registered_capital"))
    else:
        out.append(Spoil("unknown_entity", "references", "uscc"))
    if table in _ENUM_ZH and table != "interviews":
        out.append(Spoil("chinese_label", "enum", _ENUM_ZH[table][0]))
    if t.orderings:
        out.append(Spoil("date_order", "ordering", t.orderings[0].later))
    if table in _FUTURE_FIELD:
        out.append(Spoil("future_date", "past_date", _FUTURE_FIELD[table]))
    if text_dates and table in _BAD_DATE_FIELD:
        out.append(Spoil("impossible_date", "type", _BAD_DATE_FIELD[table]))
    if table == "penalties":
        out.append(Spoil("negative_amount", "non_negative", "fine_amount"))
    if table == "relations":
        out.append(Spoil("bad_id_number", "id_number", "person_id_number"))
        out.append(Spoil("share_over_one", "fraction", "share"))
    return tuple(out)


def _wrong_check(codes: list[str]) -> list[str]:
    """Each code with its check character replaced by another valid character (a typo)."""
    out = []
    for code in codes:
        c = code[17]
        out.append(code[:17] + _ALPHA[(_ALPHA.index(c) + 7) % 31] if c in _ALPHA else code[:17] + "0")
    return out


def _fresh_codes(rng: np.random.Generator, like: list[str], taken: set[str]) -> list[str]:
    """Valid codes with the same prefix and division as ``like`` but not in ``taken``."""
    out = []
    for code in like:
        while True:
            body = "MA" + "".join(_ALPHA[i] for i in rng.integers(0, 31, 6))
            new = uscc_mod.complete(code[:8] + body + uscc_mod.org_code_check_digit(body))
            if new not in taken:
                taken.add(new)
                out.append(new)
                break
    return out


def _wrong_id_check(numbers: list[str]) -> list[str]:
    out = []
    for num in numbers:
        c = num[17]
        out.append(num[:17] + ("0" if c == "X" else str((int(c) + 3) % 10)))
    return out


def inject(
    rng: np.random.Generator,
    table: str,
    frame: pl.DataFrame,
    *,
    rate: float,
    text_dates: bool,
    taken: set[str],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``frame`` with dirt added, and the manifest of the spoiled rows (row = 0-based row in the output)."""
    n = frame.height
    k = int(rng.binomial(n, rate)) if n else 0
    if k == 0:
        return frame, pl.DataFrame(schema=MANIFEST_SCHEMA)
    spoils = spoils_for(table, text_dates=text_dates)
    rows = np.sort(rng.choice(n, size=k, replace=False))
    kinds = rng.permutation(np.resize(np.arange(len(spoils)), k))
    t = BY_NAME[table]
    key_col = t.key[0] if table != "persons" else "id_number"
    extra_mode = table in ("entities", "persons")
    date_cols = [c for c, dt in frame.schema.items() if dt == pl.Date]
    # Text files carry dates as text: cast the field that will hold an impossible date.
    if text_dates and table in _BAD_DATE_FIELD:
        frame = frame.with_columns(pl.col(_BAD_DATE_FIELD[table]).cast(pl.String))
    base = frame.with_columns(_pos=pl.int_range(0, pl.len(), dtype=pl.Int64) * 2)
    replaced: list[pl.DataFrame] = []
    added: list[pl.DataFrame] = []
    manifest: list[pl.DataFrame] = []
    for j, spoil in enumerate(spoils):
        sel = rows[kinds == j]
        if len(sel) == 0:
            continue
        sub = base[sel.tolist()]
        f = spoil.field
        if spoil.kind == "duplicate_row":
            sub = sub.with_columns(pl.col("_pos") + 1)
            added.append(sub)
        elif spoil.kind == "two_names":
            sub = sub.with_columns(pl.col("name") + "（分店）", pl.col("_pos") + 1)
            added.append(sub)
        else:
            if extra_mode and table == "entities" and spoil.kind != "check_character":
                # A standalone extra entity under a fresh valid code, so that only this row is wrong.
                sub = sub.with_columns(uscc=pl.Series(_fresh_codes(rng, sub["uscc"].to_list(), taken)))
            if spoil.kind == "check_character":
                sub = sub.with_columns(uscc=pl.Series(_wrong_check(sub["uscc"].to_list())))
            elif spoil.kind == "unknown_entity":
                sub = sub.with_columns(uscc=pl.Series(_fresh_codes(rng, sub["uscc"].to_list(), taken)))
            elif spoil.kind == "missing_required":
                sub = sub.with_columns(pl.lit(None, dtype=sub.schema[f]).alias(f))
            elif spoil.kind == "chinese_label":
                sub = sub.with_columns(pl.lit(_ENUM_ZH[table][1]).alias(f))
            elif spoil.kind == "negative_amount":
                sub = sub.with_columns((-(pl.col(f).fill_null(1000.0).abs() + 100.0)).alias(f))
            elif spoil.kind == "share_over_one":
                sub = sub.with_columns(pl.col(f).fill_null(0.5) + 1.0)
            elif spoil.kind == "bad_id_number":
                if f == "person_id_number":  # an investment row carries no person: make it a shareholder's
                    no_person = pl.col(f).is_null()
                    sub = sub.with_columns(
                        pl.when(no_person)
                        .then(pl.lit("shareholder"))
                        .otherwise(pl.col("relation_type"))
                        .alias("relation_type"),
                        pl.when(no_person).then(None).otherwise(pl.col("related_uscc")).alias("related_uscc"),
                        pl.coalesce(pl.col(f), pl.lit("320902198001010010")).alias(f),
                    )
                sub = sub.with_columns(pl.Series(f, _wrong_id_check(sub[f].to_list())))
            elif spoil.kind == "date_order":
                earlier = next(o.earlier for o in t.orderings if o.later == f)
                sub = sub.with_columns(
                    (pl.col(earlier).cast(pl.Date) - pl.duration(days=pl.lit(30)))
                    .cast(sub.schema[f])
                    .alias(f)
                )
                if table == "entities":
                    sub = sub.with_columns(status=pl.lit("deregistered"))
                if table == "self_reports":
                    sub = sub.with_columns(verified=pl.lit(True))
            elif spoil.kind == "future_date":
                sub = sub.with_columns(pl.lit(FUTURE).cast(sub.schema[f]).alias(f))
                if table == "entities":
                    sub = sub.with_columns(status=pl.lit("deregistered"))
            elif spoil.kind == "impossible_date":
                year = sub[t.event_date or date_cols[0]].cast(pl.Date).dt.year().fill_null(2023)
                sub = sub.with_columns(pl.format("{}-02-30", year).alias(f))
            if extra_mode:
                sub = sub.with_columns(pl.col("_pos") + 1)
                added.append(sub)
            else:
                replaced.append(sub)
        manifest.append(
            pl.DataFrame(
                {
                    "table": [table] * len(sel),
                    "key": sub[key_col].cast(pl.String),
                    "kind": [spoil.kind] * len(sel),
                    "rule": [spoil.rule] * len(sel),
                    "field": pl.Series([f or None] * len(sel), dtype=pl.String),
                    "_pos": sub["_pos"],
                }
            )
        )
    spoiled_pos = pl.concat(replaced)["_pos"] if replaced else pl.Series("_pos", [], dtype=pl.Int64)
    kept = base.filter(~pl.col("_pos").is_in(spoiled_pos.implode()))
    combined = pl.concat([kept, *replaced, *added], how="vertical_relaxed").sort("_pos", maintain_order=True)
    positions = combined["_pos"]
    combined = combined.drop("_pos")
    man = pl.concat(manifest)
    row_of = pl.DataFrame(
        {"_pos": positions, "row": pl.int_range(0, len(positions), eager=True, dtype=pl.Int64)}
    )
    man = man.join(row_of, on="_pos", how="left").sort("row").select(MANIFEST_SCHEMA.names())
    return combined, man.cast(MANIFEST_SCHEMA)
