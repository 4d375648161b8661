"""Personal data by role: a record (or a polars frame) and the reader's role in, what that role may see out.

The policy is the :data:`POLICY` table, in this one place: for each kind of personal field, what each role
(and ``public``, for anything published) sees — in ``full``, ``masked`` or not at all (``hidden``). ID
numbers are never shown in full to anyone (domain-rules §9.3; features.identity.mask form). Records about
minors never reach public outputs (§9.2, §9.3).

Free text (a penalty's facts, an inspection's findings, a commitment's text) is scrubbed of ID, phone and
bank-card numbers for every audience by :func:`mask_free_text` (features.scrub): :func:`mask_record` and
:func:`mask_frame` apply it to free-text columns (entity pages, the API) and the public 双公示 export calls
it; ingest already scrubbed the lake's free text, this catches text typed since and lakes ingested before.

The lake keeps a person's birth *year*, not the date (with ``id_masked`` the date would give the whole ID
number back): a person known only by birth year is treated as possibly a minor through the end of the
year they turn 18 (:func:`is_minor`), so a record is never published early.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from enum import StrEnum
from typing import Any

import polars as pl

from features import catalog, identity, scrub
from supervision.platform.access import Role

PUBLIC = "public"
ADULT_AGE = 18


class Kind(StrEnum):
    """Kinds of personal field."""

    ID_NUMBER = "id_number"  # 身份证号: raw or already masked
    PERSON_NAME = "person_name"  # a natural person's name (not an entity's registered name)
    PHONE = "phone"
    ADDRESS = "address"
    PERSON_KEY = "person_key"  # pseudonymous, but linkable across tables
    BIRTH_DATE = "birth_date"


FULL, MASKED, HIDDEN = "full", "masked", "hidden"

# Who needs what, and why: inspectors visit and call (names, phones, addresses); supervisors look cases up;
# analysts work on pseudonymous data (the key, never the identity); another government system gets the
# entity verdict, not contact details; administrators manage accounts, not cases. The regulated entity sees
# only its own records (serving.services.context.own_entity): its own people's names, phone and address in
# full, ID numbers masked as everywhere, never the pseudonymous person key or a birth year.
POLICY: dict[Kind, dict[str, str]] = {
    Kind.ID_NUMBER: {
        Role.INSPECTOR: MASKED,
        Role.SUPERVISOR: MASKED,
        Role.ANALYST: MASKED,
        Role.ADMIN: MASKED,
        Role.SYSTEM: MASKED,
        PUBLIC: HIDDEN,
        Role.ENTITY: MASKED,
    },
    Kind.PERSON_NAME: {
        Role.INSPECTOR: FULL,
        Role.SUPERVISOR: FULL,
        Role.ANALYST: MASKED,
        Role.ADMIN: MASKED,
        Role.SYSTEM: MASKED,
        PUBLIC: MASKED,
        Role.ENTITY: FULL,
    },
    Kind.PHONE: {
        Role.INSPECTOR: FULL,
        Role.SUPERVISOR: FULL,
        Role.ANALYST: HIDDEN,
        Role.ADMIN: MASKED,
        Role.SYSTEM: HIDDEN,
        PUBLIC: HIDDEN,
        Role.ENTITY: FULL,
    },
    Kind.ADDRESS: {
        Role.INSPECTOR: FULL,
        Role.SUPERVISOR: FULL,
        Role.ANALYST: MASKED,
        Role.ADMIN: MASKED,
        Role.SYSTEM: MASKED,
        PUBLIC: MASKED,
        Role.ENTITY: FULL,
    },
    Kind.PERSON_KEY: {
        Role.INSPECTOR: HIDDEN,
        Role.SUPERVISOR: FULL,
        Role.ANALYST: FULL,
        Role.ADMIN: HIDDEN,
        Role.SYSTEM: HIDDEN,
        PUBLIC: HIDDEN,
        Role.ENTITY: HIDDEN,
    },
    Kind.BIRTH_DATE: {
        Role.INSPECTOR: MASKED,
        Role.SUPERVISOR: MASKED,
        Role.ANALYST: MASKED,
        Role.ADMIN: HIDDEN,
        Role.SYSTEM: HIDDEN,
        PUBLIC: HIDDEN,
        Role.ENTITY: HIDDEN,
    },
}

# Which column of which catalog table holds which kind of personal data. An entity's `name` is its
# registered name (public); a person's `name` is personal.
FIELDS: dict[str, dict[str, Kind]] = {
    "entities": {"phone": Kind.PHONE, "address": Kind.ADDRESS},
    "persons": {
        "id_number": Kind.ID_NUMBER,
        "id_masked": Kind.ID_NUMBER,
        "name": Kind.PERSON_NAME,
        "person_key": Kind.PERSON_KEY,
        "birth_year": Kind.BIRTH_DATE,
        "birth_date": Kind.BIRTH_DATE,
    },
    "relations": {"person_key": Kind.PERSON_KEY, "person_id_number": Kind.ID_NUMBER},
    "penalties": {"legal_representative": Kind.PERSON_NAME},
}
# Columns that are personal whatever the table (raw numbers must never leave unmasked).
ALWAYS: dict[str, Kind] = {
    "id_number": Kind.ID_NUMBER,
    "person_id_number": Kind.ID_NUMBER,
    "id_masked": Kind.ID_NUMBER,
    "person_key": Kind.PERSON_KEY,
    "legal_representative": Kind.PERSON_NAME,
    "person_name": Kind.PERSON_NAME,
}
# Free-text columns, scrubbed for every audience: the catalog's `free_text` fields per table, and these
# names whatever the table (text typed into cases and commitments, answers built from them).
FREE_TEXT: dict[str, frozenset[str]] = {
    t.name: frozenset(f.name for f in t.fields if f.free_text) for t in catalog.TABLES
}
FREE_TEXT_ANYWHERE = frozenset(
    {"facts", "content", "findings", "reason", "reasons", "text", "check_items", "notice", "response"}
)


def mask_free_text(text: str | None) -> str | None:
    """Free text with every ID, phone and bank-card number masked (features.scrub), for any audience."""
    return scrub.scrub_or_none(text)


def free_text_columns(table: str | None, columns: Iterable[str]) -> list[str]:
    """The free-text columns among `columns` of `table`."""
    known = FREE_TEXT.get(table or "", frozenset()) | FREE_TEXT_ANYWHERE
    return [c for c in columns if c in known]


def visibility(kind: Kind, audience: str) -> str:
    """``full``, ``masked`` or ``hidden`` for `audience` (a role or ``public``); unknown audiences see
    least."""
    return POLICY[kind].get(str(audience), HIDDEN)


def mask_id_number(value: str) -> str:
    """First 6 + ``********`` + last 4 for an 18-character number; anything else is fully starred."""
    if len(value) == 18:
        return identity.mask(value)
    return "*" * len(value)


def mask_name(value: str) -> str:
    """Keep the first character (the family name of a Chinese name): 张三丰 → 张**."""
    if not value:
        return value
    return value[0] + "*" * max(1, len(value) - 1)


def name_masker(audience: str) -> Callable[[str], str]:
    """How `audience` (a role or ``public``) sees a natural person's name under the policy, as a function."""
    seen = visibility(Kind.PERSON_NAME, audience)
    if seen == FULL:
        return lambda v: v
    if seen == MASKED:
        return mask_name
    return lambda v: "***"


def mask_phone(value: str) -> str:
    """Keep the first 3 and last 4 digits of a mobile number (138****5678); otherwise only the last 2."""
    if len(value) >= 11:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    return "*" * max(0, len(value) - 2) + value[-2:]


def mask_address(value: str) -> str:
    """Keep the first 6 characters (province, city, district), star the rest."""
    return value[:6] + "****" if len(value) > 6 else "****"


def _mask_value(kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    if kind is Kind.BIRTH_DATE:
        if isinstance(value, int):
            return value  # already a year
        return value.year if isinstance(value, date) else str(value)[:4]  # the year is enough for an age
    text = str(value)
    if kind is Kind.ID_NUMBER:
        return mask_id_number(text)
    if kind is Kind.PERSON_NAME:
        return mask_name(text)
    if kind is Kind.PHONE:
        return mask_phone(text)
    if kind is Kind.ADDRESS:
        return mask_address(text)
    return None  # person keys are never partially shown


def kinds_for(table: str | None, columns: Iterable[str]) -> dict[str, Kind]:
    """The personal columns among `columns` of `table` (None: only the columns personal everywhere)."""
    per_table = FIELDS.get(table or "", {})
    return {c: per_table.get(c) or ALWAYS[c] for c in columns if c in per_table or c in ALWAYS}


def mask_record(record: Mapping[str, Any], *, audience: str, table: str | None = None) -> dict[str, Any]:
    """A copy of `record` with each personal field shown, masked or dropped as :data:`POLICY` says."""
    kinds = kinds_for(table, record.keys())
    free = set(free_text_columns(table, record.keys()))
    out: dict[str, Any] = {}
    for column, value in record.items():
        kind = kinds.get(column)
        if kind is None:
            out[column] = mask_free_text(value) if column in free and isinstance(value, str) else value
            continue
        seen = visibility(kind, audience)
        if kind is Kind.ID_NUMBER and seen == FULL:  # never, whatever a future edit of POLICY says
            seen = MASKED
        if seen == FULL:
            out[column] = value
        elif seen == MASKED:
            out[column] = _mask_value(kind, value)
    return out


def mask_frame(frame: pl.LazyFrame, *, audience: str, table: str | None = None) -> pl.LazyFrame:
    """The LazyFrame twin of :func:`mask_record` (same policy, same masked forms)."""
    schema = frame.collect_schema()
    kinds = kinds_for(table, schema.names())
    drop: list[str] = []
    exprs: list[pl.Expr] = [
        scrub.scrub_expr(pl.col(c)).alias(c)
        for c in free_text_columns(table, schema.names())
        if c not in kinds and schema[c] == pl.String
    ]
    for column, kind in kinds.items():
        seen = visibility(kind, audience)
        if kind is Kind.ID_NUMBER and seen == FULL:
            seen = MASKED
        if seen == HIDDEN or (seen == MASKED and kind is Kind.PERSON_KEY):
            drop.append(column)
        elif seen == MASKED:
            exprs.append(_mask_expr(kind, pl.col(column)).alias(column))
    return frame.with_columns(exprs).drop(drop)


def _mask_expr(kind: Kind, col: pl.Expr) -> pl.Expr:
    text = col.cast(pl.String)
    n = text.str.len_chars()
    if kind is Kind.BIRTH_DATE:
        return text.str.slice(0, 4).cast(pl.Int32, strict=False)
    if kind is Kind.ID_NUMBER:
        return (
            pl.when(n == 18)
            .then(pl.concat_str(text.str.slice(0, 6), pl.lit("********"), text.str.slice(14, 4)))
            .otherwise(pl.lit("*").repeat_by(n).list.join(""))
        )
    if kind is Kind.PERSON_NAME:
        return pl.concat_str(
            text.str.slice(0, 1), pl.lit("*").repeat_by(pl.max_horizontal(n - 1, 1)).list.join("")
        )
    if kind is Kind.PHONE:
        return (
            pl.when(n >= 11)
            .then(
                pl.concat_str(
                    text.str.slice(0, 3), pl.lit("*").repeat_by(n - 7).list.join(""), text.str.slice(-4)
                )
            )
            .otherwise(
                pl.concat_str(
                    pl.lit("*").repeat_by(pl.max_horizontal(n - 2, 0)).list.join(""), text.str.slice(-2)
                )
            )
        )
    return pl.when(n > 6).then(pl.concat_str(text.str.slice(0, 6), pl.lit("****"))).otherwise(pl.lit("****"))


def is_minor(birth_date: date | int | None, *, on: date) -> bool:
    """Under 18 on `on` (an unknown birth date is not evidence of a minor). A birth year alone (what the lake
    keeps) counts as a minor through the end of the year the person turns 18: never published early."""
    if birth_date is None:
        return False
    if isinstance(birth_date, int):
        return on.year - birth_date <= ADULT_AGE
    years = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    return years < ADULT_AGE


def public_records(
    records: Iterable[Mapping[str, Any]],
    *,
    on: date,
    birth_dates: Mapping[str, date | int] | None = None,
    key_field: str = "person_key",
) -> Iterator[Mapping[str, Any]]:
    """The records fit to publish: those about a minor on `on` are left out.

    A record is a minor's when its own ``birth_date``, the birth date in its raw ``id_number``, or the
    birth date of its ``key_field`` in `birth_dates` (person key → birth year or date, from persons) says so.
    """
    known = birth_dates or {}
    for record in records:
        born = record.get("birth_date", record.get("birth_year"))
        raw = record.get("id_number")
        if born is None and isinstance(raw, str) and identity.is_valid(raw):
            born = identity.birth_date(raw)
        if born is None and record.get(key_field) is not None:
            born = known.get(str(record[key_field]))
        if not is_minor(born if isinstance(born, date | int) else None, on=on):
            yield record


def drop_minors(
    frame: pl.LazyFrame, *, on: date, persons: pl.LazyFrame | None = None, key_field: str = "person_key"
) -> pl.LazyFrame:
    """The LazyFrame twin of :func:`public_records`: rows about a person under 18 on `on` are removed."""
    cutoff = date(on.year - ADULT_AGE, on.month, on.day if (on.month, on.day) != (2, 29) else 28)
    names = frame.collect_schema().names()
    if "birth_date" in names:
        frame = frame.filter(pl.col("birth_date").is_null() | (pl.col("birth_date") <= cutoff))
    if "birth_year" in names:
        frame = frame.filter(pl.col("birth_year").is_null() | ~minor_by_year(pl.col("birth_year"), on))
    if persons is not None and key_field in names:
        known = persons.collect_schema().names()
        young = (
            minor_by_year(pl.col("birth_year"), on)
            if "birth_year" in known
            else pl.col("birth_date") > cutoff
        )
        minors = persons.filter(young).select(pl.col("person_key").alias(key_field))
        frame = frame.join(minors, on=key_field, how="anti")
    return frame


def minor_by_year(birth_year: pl.Expr, on: date | pl.Expr) -> pl.Expr:
    """Possibly under 18 on `on` knowing only the birth year: through the end of the year one turns 18."""
    year = on.dt.year() if isinstance(on, pl.Expr) else pl.lit(on.year)
    return (year - birth_year) <= ADULT_AGE
