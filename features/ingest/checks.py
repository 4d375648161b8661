"""Raw rows and their catalog table in; accepted rows and quarantine rows out (the rule table, one pass)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

import polars as pl

from features import catalog, identity, scrub
from features.catalog import Table
from features.ingest.readers import LINE, ROW, RawRows
from features.ingest.rules import ROW_RULES, Rule, Run, Scope, Subject, cast, render

# Source columns carrying raw ID numbers: they are replaced by keys and never reach the lake.
ID_SOURCES = {"persons": "id_number", "relations": "person_id_number"}

# 谁产生、谁报送: the column naming the department that produced a row, in the tables that have one. A batch
# pushed by a department (the exchange API) is checked against it; files ingested by the analyst are not.
# Not `repairs`: a repair changes the legal state of ANOTHER record (possibly another department's penalty or
# the court's list entry), which its own `authority` column cannot vouch for; repairs are decided through the
# repair workflow, and only the platform's analysts push repair rows (docs/exchange.md).
PRODUCER_COLUMNS: dict[str, str] = {
    "licences": "authority",
    "penalties": "authority",
    "evaluations": "evaluator",
    "list_entries": "authority",
    "interviews": "authority",
    "inspections": "department",
}
# Rules only pushed batches are checked by (the quarantine writes them; RULES lists the file ingest's).
PUSH_RULES: tuple[str, ...] = ("producer",)


@dataclass(frozen=True, slots=True)
class Producer:
    """The department pushing a batch: each row's producer column must name it (谁产生、谁报送)."""

    column: str
    department: str


@dataclass(frozen=True, slots=True)
class Checked:
    """The validation of one file: accepted rows in catalog schema, quarantine rows, and counts."""

    accepted: pl.DataFrame
    quarantine: pl.DataFrame  # readers.QUARANTINE schema, ordered by line
    rows_read: int
    rows_quarantined: int
    ignored_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Check:
    """One rule on one subject: the quarantine entry's field, rule, value and message where `failed`."""

    field: str
    rule: str
    failed: pl.Expr
    value: pl.Expr
    message: pl.Expr


def _t(name: str) -> str:
    return f"__typed:{name}"


def _lit(text: str) -> pl.Expr:
    return pl.lit(text, dtype=pl.String)


def _masked_value(raw: pl.Expr) -> pl.Expr:
    # Quarantine is read by analysts: a raw ID number never appears there either.
    return (
        pl.when(raw.str.len_chars() >= 10)
        .then(pl.concat_str(raw.str.slice(0, 6), pl.lit("********"), raw.str.tail(4)))
        .otherwise(pl.lit("********"))
    )


def _derived(table: Table, id_source: str | None, salt: str) -> dict[str, pl.Expr]:
    """The catalog columns computed from a raw ID column (null where the number is invalid)."""
    if id_source is None:
        return {}
    ids = pl.col(id_source)
    valid = identity.valid_expr(ids).fill_null(False)
    derived: dict[str, pl.Expr] = {
        "person_key": pl.when(valid).then(identity.person_key_expr(ids, salt=salt))
    }
    if table.name == "persons":
        derived["id_masked"] = pl.when(valid).then(identity.mask_expr(ids))
        derived["birth_year"] = pl.when(valid).then(identity.birth_year_expr(ids))  # never the date
    return derived


def _missing_columns(table: Table, columns: Sequence[str], id_source: str | None) -> list[str]:
    present = set(columns)
    missing = []
    for f in table.fields:
        if not f.required or f.name in present:
            continue
        if id_source is not None and f.name in ("person_key", "id_masked"):
            continue
        if table.name == "persons" and f.name in ("person_key", "id_masked") and "person_key" not in present:
            name = "id_number"  # the usual source column; a source may carry person_key + id_masked instead
            if name not in missing:
                missing.append(name)
            continue
        missing.append(f.name)
    return missing


def _all_missing(raw: RawRows, table: Table, missing: list[str], ignored: tuple[str, ...]) -> Checked:
    """A file without a required column: every row is quarantined, once per missing column."""
    quarantine = pl.concat(
        [raw.rejected]
        + [
            raw.frame.select(
                pl.col(LINE).alias("line"),
                _lit(name).alias("field"),
                _lit("missing_column").alias("rule"),
                pl.lit(None, dtype=pl.String).alias("value"),
                _lit(f"the file has no column {name!r}, required by table {table.name!r}").alias("message"),
            )
            for name in missing
        ]
    ).sort("line", maintain_order=True)
    return Checked(
        accepted=catalog.empty_frame(table),
        quarantine=quarantine,
        rows_read=raw.rows_read,
        rows_quarantined=raw.rows_read,
        ignored_columns=ignored,
    )


@dataclass(frozen=True, slots=True)
class _File:
    """One file as the checks see it: the rules' run, its columns, its raw ID column and the fields derived
    from that column."""

    run: Run
    columns: tuple[str, ...]
    id_source: str | None
    derived: Mapping[str, pl.Expr]

    def carries(self, name: str) -> bool:
        return name in self.columns or name in self.derived

    @property
    def key_value(self) -> pl.Expr:
        return pl.concat_str([pl.col(_t(k)).cast(pl.String) for k in self.run.table.key], separator="|")


def _id_subjects(file: _File) -> list[Subject]:
    if file.id_source is None:
        return []
    ids = pl.col(file.id_source)
    return [
        Subject(
            Scope.ID_COLUMN,
            field=file.id_source,
            text=ids,
            value=ids,
            shown=_masked_value(ids),
            present=ids.is_not_null(),
            run=file.run,
        )
    ]


def _field_subjects(file: _File) -> list[Subject]:
    subjects = []
    for f in file.run.table.fields:
        if not file.carries(f.name):
            continue
        read = f.name not in file.derived
        value = pl.col(_t(f.name))
        text = pl.col(f.name) if read else value.cast(pl.String)
        subjects.append(
            Subject(
                Scope.FIELD,
                field=f.name,
                text=text,
                value=value,
                shown=text,
                present=value.is_not_null(),
                run=file.run,
                on=(_t(f.name),),
                catalog=f,
                read=read,
            )
        )
    return subjects


def _ordering_subjects(file: _File) -> list[Subject]:
    subjects = []
    for o in file.run.table.orderings:
        later = pl.col(_t(o.later))
        subjects.append(
            Subject(
                Scope.ORDERING,
                field=o.later,
                text=later.cast(pl.String),
                value=later,
                shown=later.cast(pl.String),
                present=later.is_not_null(),
                run=file.run,
                on=(_t(o.later),),
                catalog=file.run.table.field(o.later),
                earlier_field=o.earlier,
                earlier_value=pl.col(_t(o.earlier)),
            )
        )
    return subjects


def _row_subjects(file: _File) -> list[Subject]:
    return [
        Subject(
            Scope.ROW,
            field=ROW,
            text=file.key_value,
            value=pl.struct(list(file.columns)),
            shown=file.key_value,
            present=pl.lit(True),
            run=file.run,
        )
    ]


def _key_subjects(file: _File) -> list[Subject]:
    keys = tuple(_t(k) for k in file.run.table.key)
    return [
        Subject(
            Scope.KEY,
            field=",".join(file.run.table.key),
            text=file.key_value,
            value=pl.struct(list(keys)),
            shown=file.key_value,
            present=pl.all_horizontal([pl.col(k).is_not_null() for k in keys]),
            run=file.run,
            on=keys,
            row=pl.struct(list(file.columns)),
        )
    ]


def _reference_subjects(file: _File, failures: Mapping[str, list[pl.Expr]]) -> list[Subject]:
    """Fields whose value must be known, with what their row already failed for them (a code that broke
    its own rule is not also an unknown reference)."""
    subjects = []
    for f in file.run.table.fields:
        if f.references is None or not file.carries(f.name):
            continue
        own = list(failures.get(f.name, []))
        if f.name in file.derived and file.id_source is not None:
            own += failures.get(file.id_source, [])
        value = pl.col(_t(f.name))
        subjects.append(
            Subject(
                Scope.REFERENCE,
                field=f.name,
                text=value,
                value=value,
                shown=value,
                present=value.is_not_null(),
                run=file.run,
                on=(_t(f.name),),
                catalog=f,
                read=f.name in file.columns,
                failed_before=pl.any_horizontal(own or [pl.lit(False)]),
            )
        )
    return subjects


def _subjects(scope: Scope, file: _File, failures: Mapping[str, list[pl.Expr]]) -> list[Subject]:
    """What the rules of `scope` are checked on in this file; built when the scope's turn comes, so that a
    reference sees every failure of its field before it."""
    if scope is Scope.REFERENCE:
        return _reference_subjects(file, failures)
    builders = {
        Scope.ID_COLUMN: _id_subjects,
        Scope.FIELD: _field_subjects,
        Scope.ORDERING: _ordering_subjects,
        Scope.ROW: _row_subjects,
        Scope.KEY: _key_subjects,
    }
    return builders[scope](file)


def _applying(scope: Scope, subject: Subject) -> list[Rule]:
    return [r for r in ROW_RULES if r.fields.scope is scope and r.fields.where(subject)]


def _once_per_value(lf: pl.LazyFrame, subject: Subject, rules: list[Rule], names: list[str]) -> pl.LazyFrame:
    """Evaluate `rules` on the subject's distinct values and join the verdicts back (codes repeat: every
    penalty names its authority)."""
    if len(subject.on) != 1:
        raise ValueError(f"distinct rules need a one-column subject, not {subject.field!r}")
    column = subject.on[0]
    verdicts = (
        lf.select(subject.value.unique().alias(column))
        .drop_nulls()
        .with_columns([rule.failed(subject).alias(name) for rule, name in zip(rules, names, strict=True)])
    )
    return lf.join(verdicts, on=column, how="left", maintain_order="left")


def _apply(lf: pl.LazyFrame, file: _File) -> tuple[pl.LazyFrame, list[_Check]]:
    """Every entry of the rule table on every subject it applies to, scope by scope: the frame with the
    lookups joined in, and one check per (subject, rule) in the order of the quarantine rows."""
    checks: list[_Check] = []
    failures: dict[str, list[pl.Expr]] = {}
    for scope in Scope:
        for subject in _subjects(scope, file, failures):
            rules = _applying(scope, subject)
            distinct = [r for r in rules if r.distinct]
            names = [f"__distinct:{len(checks)}:{i}" for i in range(len(distinct))]
            if distinct:
                lf = _once_per_value(lf, subject, distinct, names)
            verdicts = dict(zip(distinct, names, strict=True))
            for rule in rules:
                seen = subject
                if rule.lookup is not None:
                    marker = f"__found:{len(checks)}"
                    lf = lf.join(
                        rule.lookup(subject).unique().with_columns(pl.lit(True).alias(marker)),
                        on=list(subject.on),
                        how="left",
                        maintain_order="left",
                    )
                    seen = replace(subject, found=pl.col(marker).is_not_null())
                failed = (pl.col(verdicts[rule]) if rule.distinct else rule.failed(seen)).fill_null(False)
                checks.append(_Check(seen.field, rule.name, failed, seen.shown, render(rule.message, seen)))
                failures.setdefault(seen.field, []).append(failed)
    return lf, checks


def _producer_check(producer: Producer) -> _Check:
    """谁产生、谁报送: a producer value other than the pushing department (an empty one is `required`)."""
    value = pl.col(_t(producer.column))
    return _Check(
        producer.column,
        "producer",
        value.is_not_null() & (value != producer.department),
        value,
        _lit(
            f"谁产生、谁报送 (the department that produced a record reports it): not the pushing department "
            f"{producer.department}"
        ),
    )


def validate(
    raw: RawRows,
    *,
    table: Table,
    salt: str,
    today: date,
    allow: Iterable[str] = (),
    known: Mapping[str, pl.LazyFrame] | None = None,
    existing_keys: pl.LazyFrame | None = None,
    producer: Producer | None = None,
) -> Checked:
    """Check raw rows against ``table`` in one vectorised pass.

    ``known`` maps a field's ``references`` ("entities.uscc") to a one-column frame of the values already
    known (lake plus earlier files of this run); ``existing_keys`` holds the keys already in the lake
    for non-versioned tables (a second row with one of them is ``duplicate_key``). ``producer`` (a batch a
    department pushed) adds the ``producer`` rule: a row whose producer column names another department is
    quarantined (谁产生、谁报送).
    """
    frame = raw.frame
    columns = [c for c in frame.columns if c != LINE]
    id_source = ID_SOURCES.get(table.name)
    id_source = id_source if id_source in columns else None
    derived = _derived(table, id_source, salt)
    catalog_names = set(table.columns)
    ignored = tuple(
        c for c in columns if (c not in catalog_names and c != id_source) or (c in derived and id_source)
    )
    missing = _missing_columns(table, columns, id_source)
    if missing:
        return _all_missing(raw, table, missing, ignored)

    # Text as exported: surrounding blanks are noise and an empty cell is a missing value.
    lf = frame.lazy().with_columns(
        [
            pl.when(pl.col(c).str.strip_chars().str.len_bytes() > 0)
            .then(pl.col(c).str.strip_chars())
            .alias(c)
            for c in columns
        ]
    )
    # Free text loses its ID, phone and bank-card numbers before anything reads it (the quarantine too);
    # the lake has no restricted store, so no original is kept.
    free = [f.name for f in table.fields if f.free_text and f.name in columns]
    if free:
        lf = lf.with_columns([scrub.scrub_expr(pl.col(c)).alias(c) for c in free])
    typed = []
    for f in table.fields:
        if f.name in derived:
            expr = derived[f.name].cast(f.dtype)
        elif f.name in columns:
            expr = cast(pl.col(f.name), f.dtype)
        else:
            expr = pl.lit(None, dtype=f.dtype)
        typed.append(expr.alias(_t(f.name)))
    lf = lf.with_columns(typed)

    run = Run(table=table, today=today, allow=tuple(allow), known=known or {}, lake_keys=existing_keys)
    lf, checks = _apply(lf, _File(run=run, columns=tuple(columns), id_source=id_source, derived=derived))
    if producer is not None:
        checks.append(_producer_check(producer))

    flags = [f"__failed_{i}" for i in range(len(checks))]
    checked = lf.with_columns([c.failed.alias(name) for c, name in zip(checks, flags, strict=True)]).collect()
    bad_row = pl.any_horizontal([pl.col(f) for f in flags]) if flags else pl.lit(False)
    accepted = checked.filter(~bad_row).select([pl.col(_t(f.name)).alias(f.name) for f in table.fields])
    bad = checked.filter(bad_row)
    parts = [raw.rejected.with_columns(pl.lit(-1, dtype=pl.Int64).alias("__order"))]
    for i, (check, flag) in enumerate(zip(checks, flags, strict=True)):
        parts.append(
            bad.filter(pl.col(flag)).select(
                pl.col(LINE).alias("line"),
                _lit(check.field).alias("field"),
                _lit(check.rule).alias("rule"),
                check.value.cast(pl.String).alias("value"),
                check.message.cast(pl.String).alias("message"),
                pl.lit(i, dtype=pl.Int64).alias("__order"),
            )
        )
    quarantine = pl.concat(parts).sort(["line", "__order"]).drop("__order")
    return Checked(
        accepted=accepted,
        quarantine=quarantine,
        rows_read=raw.rows_read,
        rows_quarantined=bad.height + raw.rejected["line"].n_unique(),
        ignored_columns=ignored,
    )
