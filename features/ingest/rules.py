"""Catalog fields in; failing polars expressions and quarantine messages out: the row rules as a table.

Adding a rule is one :class:`Rule` entry in :data:`ROW_RULES` and one example in
``tests/features/test_ingest_rules.py`` (a new catalog tag is also listed in ``features.catalog.RULES``).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import TypeVar

import polars as pl

from features import identity, uscc
from features.catalog import Field, Table

# Booleans as government exports write them.
BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "是": True, "否": False}
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# What a value of each catalog dtype looks like, for the `type` rule's message ("not <expected>").
EXPECTED = {
    "Date": "a real ISO date yyyy-mm-dd",
    "Boolean": "a boolean (true/false/1/0/是/否)",
    "Float64": "a finite number",
    "Int64": "a whole number",
}
# Rules checked on the file rather than on its rows: a CSV record with the wrong number of fields (readers)
# and a required column the file lacks (checks). Quarantine and the CLI's --rule know them by these names.
FILE_RULES = ("field_count", "missing_column")
T = TypeVar("T")


class Scope(Enum):
    """What a rule looks at, in the order the checks visit them (a row's quarantine entries keep it)."""

    ID_COLUMN = "id_column"  # the raw ID number column of persons/relations (replaced by person_key)
    FIELD = "field"  # each catalog field the file carries or derives
    ORDERING = "ordering"  # each `earlier ≤ later` pair of the table
    ROW = "row"  # the whole row
    KEY = "key"  # the table's key
    REFERENCE = "reference"  # each field whose value must be known; after every other rule of the field


@dataclass(frozen=True, slots=True)
class Run:
    """What the rules of one file may consult: its table, the ingest date, the USCC allow-list and the
    lake."""

    table: Table
    today: date
    allow: tuple[str, ...] = ()
    known: Mapping[str, pl.LazyFrame] = field(default_factory=dict)  # "entities.uscc" → the known values
    lake_keys: pl.LazyFrame | None = None  # keys already in the lake (tables that are not versioned)


@dataclass(frozen=True, slots=True)
class Subject:
    """One thing a rule is checked on in a file (a field, a field pair, the key, the row) as expressions."""

    scope: Scope
    field: str  # the quarantine `field`
    text: pl.Expr  # as read: trimmed, an empty cell null
    value: pl.Expr  # cast to the catalog dtype (key: a struct of the key's fields; row: of every column)
    shown: pl.Expr  # the quarantine `value`
    present: pl.Expr  # the subject has a value (every key field, for the key)
    run: Run
    on: tuple[str, ...] = ()  # the frame's columns holding `value` (what a lookup joins on)
    catalog: Field | None = None
    read: bool = False  # the file carries the field itself (not derived from an ID number)
    earlier_field: str | None = None  # ORDERING: the field that must not be later
    earlier_value: pl.Expr | None = None
    row: pl.Expr | None = None  # KEY: the whole row (a repeated row is duplicate_row, not duplicate_key)
    found: pl.Expr | None = None  # the value is in the rule's lookup (set by the checks for that rule)
    failed_before: pl.Expr | None = None  # REFERENCE: the field already broke another rule in this row

    @property
    def spec(self) -> Field:
        return _need(self.catalog, "the catalog field")

    @property
    def earlier(self) -> pl.Expr:
        return _need(self.earlier_value, "the earlier value")

    def placeholder(self, name: str) -> str | pl.Expr:
        """A message template's ``{name}``: text, or an expression giving each row's text."""
        if name == "field":
            return self.field
        if name == "value":
            return self.shown
        if name == "today":
            return self.run.today.isoformat()
        if name == "enum":
            return ", ".join(self.spec.enum or ())
        if name == "expected":
            return EXPECTED.get(str(self.spec.dtype), f"a value of type {self.spec.dtype}")
        if name == "references":
            return str(self.spec.references)
        if name == "earlier":
            return _need(self.earlier_field, "the earlier field")
        if name == "earlier_value":
            return self.earlier.cast(pl.String)
        raise ValueError(f"message placeholder {{{name}}}: expected one of {', '.join(PLACEHOLDERS)}")


PLACEHOLDERS = ("field", "value", "today", "enum", "expected", "references", "earlier", "earlier_value")


def _need(value: T | None, what: str) -> T:
    if value is None:
        raise ValueError(f"this rule reads {what}, which its subject does not have (check the rule's fields)")
    return value


@dataclass(frozen=True, slots=True)
class Fields:
    """Which fields a rule applies to: a scope, and the subjects in it for which `where` holds."""

    scope: Scope
    describe: str  # for people (docs/ingest.md)
    where: Callable[[Subject], bool] = lambda _: True


@dataclass(frozen=True, slots=True)
class Rule:
    """One row rule: its quarantine name, the fields it applies to, when a row fails, and what it says.

    `message` is a template of :data:`PLACEHOLDERS` (``{today}``, ``{value}`` …). `lookup` gives the values a
    subject's value is looked up in (the checks join them and set ``Subject.found``); a `distinct` rule's
    `failed` reads only ``value`` and is evaluated once per distinct value (codes repeat across rows).
    `variant` tells entries of one quarantine rule apart (``id_number`` is checked three ways).
    """

    name: str
    fields: Fields
    failed: Callable[[Subject], pl.Expr]
    message: str
    variant: str = ""
    lookup: Callable[[Subject], pl.LazyFrame] | None = None
    distinct: bool = False

    def __post_init__(self) -> None:
        if self.distinct and self.lookup is not None:
            raise ValueError(
                f"rule {self.label!r}: a distinct rule reads only its value, so it has no lookup"
            )
        unknown = {n for _, n, _, _ in string.Formatter().parse(self.message) if n is not None} - set(
            PLACEHOLDERS
        )
        if unknown:
            raise ValueError(f"rule {self.label!r}: message placeholders {sorted(unknown)} are not known")

    @property
    def label(self) -> str:
        """The entry's name in tests and docs: the rule, and the variant when there are several."""
        return f"{self.name}:{self.variant}" if self.variant else self.name


def render(template: str, subject: Subject) -> pl.Expr:
    """The message of `template` for each row of `subject` (one literal when it names no row value)."""
    pieces: list[str | pl.Expr] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        if literal:
            pieces.append(literal)
        if name is not None:
            pieces.append(subject.placeholder(name))
    texts = [p for p in pieces if isinstance(p, str)]
    if len(texts) == len(pieces):
        return pl.lit("".join(texts), dtype=pl.String)
    return pl.concat_str(
        [pl.lit(p, dtype=pl.String) if isinstance(p, str) else p.cast(pl.String) for p in pieces]
    )


def cast(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Strict-in-spirit cast: anything that is not exactly a value of ``dtype`` becomes null (a type
    error)."""
    if dtype == pl.String:
        return text
    if dtype == pl.Date:
        return pl.when(text.str.contains(DATE_PATTERN)).then(text.str.to_date("%Y-%m-%d", strict=False))
    if dtype == pl.Boolean:
        return text.str.to_lowercase().replace_strict(BOOLEANS, default=None, return_dtype=pl.Boolean)
    if dtype.is_float():
        number = text.cast(dtype, strict=False)
        return pl.when(number.is_finite()).then(number)
    if dtype.is_integer():
        return text.cast(dtype, strict=False)
    raise ValueError(f"catalog dtype {dtype} has no ingest cast")


# ------------------------------------------------------------------------------------------- the fields
def read_fields(describe: str, where: Callable[[Field], bool]) -> Fields:
    """Catalog fields the file carries itself (not derived from an ID number) for which `where` holds."""
    return Fields(Scope.FIELD, describe, lambda s: s.read and where(s.spec))


def tagged(tag: str, *, read: bool = False) -> Fields:
    """Catalog fields with the rule tag `tag` (``rules=(...)`` in features/catalog.py); `read`: carried
    only."""
    where = "carried by the file, " if read else ""
    return Fields(
        Scope.FIELD,
        f"fields {where}tagged `{tag}` in the catalog",
        lambda s: (s.read or not read) and tag in s.spec.rules,
    )


def _uscc_status(subject: Subject, status: uscc.Status) -> pl.Expr:
    return uscc.verdict_expr(subject.value, allow=subject.run.allow) == status.value


def _uscc_message(status: uscc.Status) -> str:
    return f"{status.value}: {uscc.REASONS[status]}".replace("{", "{{").replace("}", "}}")


def _known_values(subject: Subject) -> pl.LazyFrame:
    reference = subject.spec.references
    if reference is None or reference not in subject.run.known:
        raise ValueError(f"no known values given for {reference!r} (field {subject.spec.name!r})")
    return subject.run.known[reference].select(pl.first().alias(subject.on[0])).drop_nulls().unique()


def _lake_keys(subject: Subject) -> pl.LazyFrame:
    keys = _need(subject.run.lake_keys, "the lake's keys")
    return keys.select([pl.col(k).alias(c) for k, c in zip(subject.run.table.key, subject.on, strict=True)])


ID_COLUMN = Fields(
    Scope.ID_COLUMN, "the raw ID number column (persons' `id_number`, relations' `person_id_number`)"
)

# The table. Within a scope, a field's entries run in this order, and so do its quarantine rows.
ROW_RULES: tuple[Rule, ...] = (
    Rule(
        "required",
        Fields(
            Scope.ID_COLUMN,
            "the raw ID number column, where person_key is required",
            lambda s: s.run.table.field("person_key").required,
        ),
        lambda s: s.text.is_null(),
        "required field is empty",
        variant="id_column",
    ),
    Rule(
        "id_number",
        ID_COLUMN,
        lambda s: s.present & ~identity.valid_expr(s.text).fill_null(False),
        "not a valid resident ID number (GB 11643: 18 characters, a real birth date, check character)",
        variant="id_column",
    ),
    Rule(
        "required",
        read_fields("required fields", lambda f: f.required),
        lambda s: s.text.is_null(),
        "required field is empty",
    ),
    Rule(
        "type",
        read_fields("fields whose type is not text", lambda f: f.dtype != pl.String),
        lambda s: s.text.is_not_null() & s.value.is_null(),
        "not {expected}",
    ),
    Rule(
        "enum",
        Fields(Scope.FIELD, "fields with an enumeration", lambda s: bool(s.spec.enum)),
        lambda s: s.present & ~s.value.is_in(list(s.spec.enum or ())),
        "not one of the allowed values: {enum}",
    ),
    Rule(
        "uscc",
        tagged("uscc"),
        lambda s: _uscc_status(s, uscc.Status.FORMAT),
        _uscc_message(uscc.Status.FORMAT),
        variant="format",
        distinct=True,
    ),
    Rule(
        "uscc",
        tagged("uscc"),
        lambda s: _uscc_status(s, uscc.Status.CHECKSUM),
        _uscc_message(uscc.Status.CHECKSUM),
        variant="checksum",
        distinct=True,
    ),
    Rule("past_date", tagged("past_date"), lambda s: s.value > s.run.today, "after the ingest date {today}"),
    Rule("non_negative", tagged("non_negative"), lambda s: s.value < 0, "must not be negative"),
    Rule(
        "fraction",
        tagged("fraction"),
        lambda s: (s.value < 0) | (s.value > 1),
        "must be a fraction in [0, 1]",
    ),
    Rule(
        "probability",
        tagged("probability"),
        lambda s: (s.value <= 0) | (s.value > 1),
        "must be a probability in (0, 1]",
    ),
    Rule(
        "id_number",
        tagged("person_key", read=True),
        lambda s: s.present & ~s.value.str.contains(identity.KEY_PATTERN),
        "not a person key (64 lowercase hex characters of the salted SHA-256)",
        variant="person_key",
    ),
    Rule(
        "id_number",
        tagged("id_masked", read=True),
        lambda s: s.present & ~s.value.str.contains(identity.MASKED_PATTERN),
        "not a masked ID number (first 6 + ******** + last 4)",
        variant="id_masked",
    ),
    Rule(
        "ordering",
        Fields(Scope.ORDERING, "the later field of each `earlier ≤ later` pair of the table"),
        lambda s: s.earlier.is_not_null() & s.present & (s.earlier > s.value),
        "{field} {value} is before {earlier} {earlier_value}",
    ),
    Rule(
        "duplicate_row",
        Fields(Scope.ROW, "the whole row (`<row>`)"),
        lambda s: ~s.value.is_first_distinct(),
        "identical to an earlier row of this file",
    ),
    Rule(
        "duplicate_key",
        Fields(Scope.KEY, "the table's key"),
        lambda s: s.present & _need(s.row, "the row").is_first_distinct() & ~s.value.is_first_distinct(),
        "same key as an earlier row of this file",
        variant="file",
    ),
    Rule(
        "duplicate_key",
        Fields(Scope.KEY, "the table's key, if not versioned", lambda s: s.run.lake_keys is not None),
        lambda s: s.present & _need(s.found, "the lookup"),
        "key already in the lake",
        variant="lake",
        lookup=_lake_keys,
    ),
    Rule(
        "references",
        Fields(Scope.REFERENCE, "fields that reference another table (`references` in the catalog)"),
        lambda s: s.present & ~_need(s.found, "the lookup") & ~_need(s.failed_before, "earlier failures"),
        "not a known {references} (neither in the lake nor in an earlier file of this run)",
        lookup=_known_values,
    ),
)

# Every rule name the quarantine writes (the CLI's --rule choices).
RULES: tuple[str, ...] = tuple(dict.fromkeys([r.name for r in ROW_RULES] + ["type", *FILE_RULES]))
