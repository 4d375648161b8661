"""Ingest: CSV / Parquet / JSON Lines files in, checked batches in the record lake out (bad rows quarantined).

Readers turn a file into string columns plus the physical line of every row; one vectorised polars pass
then checks every row against its catalog table (types, required, enumerations, rules, row orderings,
duplicates, references) and splits it into accepted rows (cast to the catalog schema) and quarantine rows
(file, line, field, rule, value, message). ``read = accepted + quarantined`` holds for every batch.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import polars as pl

from features import catalog, identity, lake, uscc
from features.catalog import Table

FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}
RULES = (
    "uscc",
    "required",
    "type",
    "enum",
    "past_date",
    "ordering",
    "non_negative",
    "fraction",
    "probability",
    "id_number",
    "references",
    "duplicate_key",
    "duplicate_row",
    "field_count",
    "missing_column",
)
# Booleans as government exports write them.
BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "是": True, "否": False}
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
ROW = "<row>"
LINE_FIELD = "<line>"
_LINE = "__line"
_MAX_VALUE = 200  # characters of a bad value kept in quarantine
# Source columns carrying raw ID numbers: they are replaced by keys and never reach the lake.
ID_SOURCES = {"persons": "id_number", "relations": "person_id_number"}
_RAW_QUARANTINE = pl.Schema(
    {
        "line": pl.Int64(),
        "field": pl.String(),
        "rule": pl.String(),
        "value": pl.String(),
        "message": pl.String(),
    }
)


class IngestError(ValueError):
    """A file that cannot be ingested at all (unknown table, unreadable, undecodable): nothing is written."""


@dataclass(frozen=True, slots=True)
class BatchReport:
    """The outcome of one file: where it went and how many rows were read, accepted and quarantined."""

    batch_id: str
    table: str
    source: str
    content_sha256: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    status: Literal["ingested", "already_ingested"]
    ignored_columns: tuple[str, ...]
    ingested_at: datetime


@dataclass(frozen=True, slots=True)
class RawRows:
    """What a reader gives: string columns plus ``__line``, and rows already rejected while reading."""

    frame: pl.DataFrame
    rejected: pl.DataFrame  # _RAW_QUARANTINE schema
    rows_read: int


@dataclass(frozen=True, slots=True)
class Checked:
    """The validation of one file: accepted rows in catalog schema, quarantine rows, and counts."""

    accepted: pl.DataFrame
    quarantine: pl.DataFrame  # _RAW_QUARANTINE schema, ordered by line
    rows_read: int
    rows_quarantined: int
    ignored_columns: tuple[str, ...]


# --------------------------------------------------------------------------------------------- planning
def table_for(path: Path) -> str | None:
    """The catalog table a file belongs to by its stem (``penalties-2024.gbk.csv`` → ``penalties``)."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    matches = [
        t.name
        for t in catalog.TABLES
        if stem == t.name or any(stem.startswith(t.name + sep) for sep in ("-", "_", "."))
    ]
    return max(matches, key=len) if matches else None


def plan(paths: Sequence[Path], *, table: str | None = None) -> list[tuple[Path, str]]:
    """The files to ingest and their tables, in catalog table order (entities and persons first).

    A directory means the files directly in it with a known format, sorted by name. Raises
    :class:`IngestError` for a missing path, an unknown format or a file that maps to no table.
    """
    if table is not None:
        try:
            catalog.table(table)
        except ValueError as exc:
            raise IngestError(str(exc)) from None
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p
                for p in path.iterdir()
                if p.is_file() and not p.name.startswith(".") and _format(p) is not None
            )
        elif path.is_file():
            if _format(path) is None:
                raise IngestError(f"{path}: unknown format; expected one of {sorted(FORMATS)}")
            files.append(path)
        else:
            raise IngestError(f"{path}: no such file or directory")
    planned: list[tuple[Path, str]] = []
    for path in files:
        name = table or table_for(path)
        if name is None:
            raise IngestError(
                f"{path}: cannot tell its table from the file name; name it after one of "
                f"{[t.name for t in catalog.TABLES]} (e.g. penalties-2024.csv) or pass --table"
            )
        planned.append((path, name))
    order = {t.name: i for i, t in enumerate(catalog.TABLES)}
    # Stable: within a table the files keep the order given (a directory's files by name).
    return sorted(planned, key=lambda item: order[item[1]])


def _format(path: Path) -> str | None:
    return FORMATS.get(path.suffix.lower())


# ---------------------------------------------------------------------------------------------- readers
def decode(data: bytes) -> tuple[str, str]:
    """Text and encoding: a UTF-8 BOM means utf-8-sig; else strict UTF-8; else GB18030 (GBK is a subset)."""
    if b"\x00" in data:
        # GB18030 would "decode" UTF-16 into text full of NULs: refuse it instead of quarantining garbage.
        raise IngestError(
            "contains NUL bytes (UTF-16/UTF-32 or a binary file); export it as UTF-8 or GB18030"
        )
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise IngestError(f"starts with a UTF-8 BOM but is not UTF-8: {exc}") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise IngestError(f"neither UTF-8 nor GB18030/GBK text: {exc}") from None


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE] + "…"


def _rejected(rows: list[tuple[int, str, str, str | None, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=_RAW_QUARANTINE, orient="row")


def _frame(header: list[str], lines: list[int], rows: list[list[str | None]]) -> pl.DataFrame:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    return pl.DataFrame(
        [pl.Series(_LINE, lines, dtype=pl.Int64)]
        + [
            pl.Series(name, list(values), dtype=pl.String)
            for name, values in zip(header, columns, strict=True)
        ]
    )


def _header(names: Iterable[str]) -> list[str]:
    header = [name.strip() or f"column_{i + 1}" for i, name in enumerate(names)]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise IngestError(f"the header names column {name!r} twice")
        seen.add(name)
    if _LINE in seen:
        raise IngestError(f"the header uses the reserved column name {_LINE!r}")
    return header


def read_csv(data: bytes) -> RawRows:
    """CSV rows with their physical line numbers; blank lines skipped; wrong field counts rejected.

    A vectorised reader handles the usual file (records found by quote parity, unquoted records split
    in polars, quoted ones by the csv module); anything it cannot prove it reads exactly as the csv
    module would (a lone CR, a stray quote) goes to the csv module row by row.
    """
    text, _ = decode(data)
    return _csv_vectorised(text) or _csv_rows(text)


def _field_count_message(expected: int, found: int) -> str:
    return f"expected {expected} fields as in the header, found {found}"


def _csv_rows(text: str) -> RawRows:
    """The csv module row by row: ``line_num`` gives exact physical lines."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    lines: list[int] = []
    rows: list[list[str | None]] = []
    rejected: list[tuple[int, str, str, str | None, str]] = []
    previous = 0
    while True:
        try:
            for row in reader:
                start, previous = previous + 1, reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line is not a row
                if header is None:
                    header = _header(row)
                elif len(row) != len(header):
                    message = _field_count_message(len(header), len(row))
                    rejected.append((start, ROW, "field_count", _clip(",".join(row)), message))
                else:
                    lines.append(start)
                    rows.append(list(row))
            break
        except csv.Error as exc:
            start, previous = previous + 1, reader.line_num
            if header is None:
                raise IngestError(f"line {start}: malformed header ({exc})") from None
            # e.g. the file stops inside a quoted field: the row is cut, so its fields cannot be trusted.
            rejected.append((start, ROW, "field_count", None, f"malformed CSV row ({exc})"))
    frame = _frame(header or [], lines, rows)
    return RawRows(frame, _rejected(rejected), frame.height + len(rejected))


def _csv_vectorised(text: str) -> RawRows | None:
    """Polars reading of a CSV text, or None when only the csv module can be trusted with it."""
    if text.count("\r") != text.count("\r\n"):
        return None  # the csv module ends a line at a lone CR too
    lines = pl.DataFrame({"raw": text.split("\n")}, schema={"raw": pl.String}).with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(_LINE)
    )
    quotes = pl.col("raw").str.count_matches('"', literal=True)
    lines = lines.with_columns(quotes.alias("quotes"))
    if lines["quotes"].sum() == 0:
        records = lines
    else:
        # A record starts on a line where the quotes seen so far are balanced; "" escapes keep parity.
        starts = ((pl.col("quotes").cum_sum() - pl.col("quotes")) % 2 == 0).cum_sum().alias("record")
        records = (
            lines.with_columns(starts)
            .group_by("record", maintain_order=True)
            .agg(pl.col(_LINE).first(), pl.col("raw").str.join("\n"), pl.col("quotes").sum())
            .drop("record")
        )
    # A CR inside a quoted field stays, as the csv module keeps it; the one ending the record goes.
    records = records.with_columns(pl.col("raw").str.strip_suffix("\r")).filter(
        pl.col("raw").str.strip_chars().str.len_bytes() > 0
    )
    parsed: list[tuple[int, list[str]]] = []  # quoted records, through the csv module
    rejected: list[tuple[int, str, str, str | None, str]] = []
    last_line = records[_LINE].max() if records.height else None
    for line, raw in records.filter(pl.col("quotes") > 0).select(_LINE, "raw").iter_rows():
        rows: list[list[str]] = []
        try:
            rows.extend(csv.reader(io.StringIO(raw, newline=""), strict=True))
        except csv.Error as exc:
            if rows or line != last_line:
                return None
            rejected.append((line, ROW, "field_count", None, f"malformed CSV row ({exc})"))
            continue
        if len(rows) != 1:
            return None  # a quote inside an unquoted field fooled the parity: let the csv module decide
        if not (len(rows[0]) == 1 and not rows[0][0].strip()):
            parsed.append((line, rows[0]))
    first_simple = records.filter(pl.col("quotes") == 0).head(1)
    candidates = [(line, raw.split(",")) for line, raw in first_simple.select(_LINE, "raw").iter_rows()]
    candidates += parsed[:1]
    if not candidates:
        return None if rejected else RawRows(_frame([], [], []), _rejected([]), 0)
    header_line, header_fields = min(candidates, key=lambda c: c[0])
    if any(line < header_line for line, *_ in rejected):
        return None  # a broken header: the csv module reports it as an error
    header = _header(header_fields)
    n = len(header)
    body = records.filter(pl.col(_LINE) > header_line)
    simple = body.filter(pl.col("quotes") == 0).with_columns(
        (pl.col("raw").str.count_matches(",", literal=True) + 1).alias("fields")
    )
    wrong = simple.filter(pl.col("fields") != n)
    rejected += [
        (line, ROW, "field_count", _clip(raw), _field_count_message(n, found))
        for line, raw, found in wrong.select(_LINE, "raw", "fields").iter_rows()
    ]
    good = simple.filter(pl.col("fields") == n).select(
        pl.col(_LINE),
        pl.col("raw").str.split_exact(",", n - 1).struct.rename_fields(header).alias("__fields"),
    )
    frames = [good.unnest("__fields")]
    quoted_good: list[tuple[int, list[str]]] = []
    for line, fields in parsed:
        if line <= header_line:
            continue
        if len(fields) != n:
            rejected.append(
                (line, ROW, "field_count", _clip(",".join(fields)), _field_count_message(n, len(fields)))
            )
        else:
            quoted_good.append((line, fields))
    if quoted_good:
        frames.append(_frame(header, [line for line, _ in quoted_good], [list(f) for _, f in quoted_good]))
    frame = pl.concat(frames, how="vertical").sort(_LINE)
    rejected.sort(key=lambda r: r[0])
    return RawRows(frame, _rejected(rejected), frame.height + len(rejected))


def read_parquet(data: bytes) -> RawRows:
    """Parquet rows with every column cast to text; the line of a row is its index + 1."""
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several error types for a broken file
        raise IngestError(f"not a readable Parquet file: {exc}") from None
    _header(frame.columns)
    try:
        text = frame.select(pl.all().cast(pl.String))
    except Exception as exc:
        raise IngestError(f"a column cannot be read as text (nested type?): {exc}") from None
    text = text.select(pl.int_range(1, text.height + 1, dtype=pl.Int64).alias(_LINE), pl.all())
    return RawRows(text, _rejected([]), text.height)


def _json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def read_jsonl(data: bytes) -> RawRows:
    """One JSON object per line; blank lines skipped; a broken line is rejected with rule ``type``."""
    text, _ = decode(data)
    records: list[dict[str, object]] = []
    lines: list[int] = []
    rejected: list[tuple[int, str, str, str | None, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            rejected.append((number, LINE_FIELD, "type", _clip(line.strip()), f"not valid JSON ({exc})"))
            continue
        if not isinstance(record, dict):
            rejected.append(
                (number, LINE_FIELD, "type", _clip(line.strip()), "not a JSON object (expected {...})")
            )
            continue
        records.append(record)
        lines.append(number)
    header = _header(dict.fromkeys(k for r in records for k in r))
    rows = [[_json_text(r.get(name)) for name in header] for r in records]
    frame = _frame(header, lines, rows)
    return RawRows(frame, _rejected(rejected), frame.height + len(rejected))


READERS: dict[str, Callable[[bytes], RawRows]] = {
    "csv": read_csv,
    "parquet": read_parquet,
    "jsonl": read_jsonl,
}


# ------------------------------------------------------------------------------------------- validation
@dataclass(frozen=True, slots=True)
class _Check:
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


def _cast(raw: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Strict-in-spirit cast: anything that is not exactly a value of ``dtype`` becomes null (a type error)."""
    if dtype == pl.String:
        return raw
    if dtype == pl.Date:
        return pl.when(raw.str.contains(DATE_PATTERN)).then(raw.str.to_date("%Y-%m-%d", strict=False))
    if dtype == pl.Boolean:
        return raw.str.to_lowercase().replace_strict(BOOLEANS, default=None, return_dtype=pl.Boolean)
    if dtype.is_float():
        number = raw.cast(dtype, strict=False)
        return pl.when(number.is_finite()).then(number)
    if dtype.is_integer():
        return raw.cast(dtype, strict=False)
    raise ValueError(f"catalog dtype {dtype} has no ingest cast")


_TYPE_MESSAGES = {
    "Date": "not a real ISO date yyyy-mm-dd",
    "Boolean": "not a boolean (true/false/1/0/是/否)",
    "Float64": "not a finite number",
    "Int64": "not a whole number",
}


def _type_message(dtype: pl.DataType) -> str:
    return _TYPE_MESSAGES.get(str(dtype), f"not a value of type {dtype}")


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
        derived["birth_date"] = pl.when(valid).then(identity.birth_date_expr(ids))
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


def validate(
    raw: RawRows,
    *,
    table: Table,
    salt: str,
    today: date,
    allow: Iterable[str] = (),
    known: Mapping[str, pl.LazyFrame] | None = None,
    existing_keys: pl.LazyFrame | None = None,
) -> Checked:
    """Check raw rows against ``table`` in one vectorised pass.

    ``known`` maps a field's ``references`` ("entities.uscc") to a one-column frame of the values already
    known (lake plus earlier files of this run); ``existing_keys`` holds the keys already in the lake
    for non-versioned tables (a second row with one of them is ``duplicate_key``).
    """
    known = known or {}
    allow = list(allow)
    frame = raw.frame
    columns = [c for c in frame.columns if c != _LINE]
    id_source = ID_SOURCES.get(table.name)
    id_source = id_source if id_source in columns else None
    derived = _derived(table, id_source, salt)
    catalog_names = set(table.columns)
    ignored = tuple(
        c for c in columns if (c not in catalog_names and c != id_source) or (c in derived and id_source)
    )
    missing = _missing_columns(table, columns, id_source)
    if missing:
        quarantine = pl.concat(
            [raw.rejected]
            + [
                frame.select(
                    pl.col(_LINE).alias("line"),
                    _lit(name).alias("field"),
                    _lit("missing_column").alias("rule"),
                    pl.lit(None, dtype=pl.String).alias("value"),
                    _lit(f"the file has no column {name!r}, required by table {table.name!r}").alias(
                        "message"
                    ),
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

    # Text as exported: surrounding blanks are noise and an empty cell is a missing value.
    lf = frame.lazy().with_columns(
        [
            pl.when(pl.col(c).str.strip_chars().str.len_bytes() > 0)
            .then(pl.col(c).str.strip_chars())
            .alias(c)
            for c in columns
        ]
    )
    typed = []
    for f in table.fields:
        if f.name in derived:
            expr = derived[f.name].cast(f.dtype)
        elif f.name in columns:
            expr = _cast(pl.col(f.name), f.dtype)
        else:
            expr = pl.lit(None, dtype=f.dtype)
        typed.append(expr.alias(_t(f.name)))
    lf = lf.with_columns(typed)

    checks: list[_Check] = []
    field_failed: dict[str, list[pl.Expr]] = {}

    def add(field: str, rule: str, failed: pl.Expr, value: pl.Expr, message: pl.Expr | str) -> None:
        msg = _lit(message) if isinstance(message, str) else message
        checks.append(_Check(field, rule, failed.fill_null(False), value, msg))
        field_failed.setdefault(field, []).append(failed.fill_null(False))

    if id_source is not None:
        ids = pl.col(id_source)
        if table.field("person_key").required:
            add(id_source, "required", ids.is_null(), _masked_value(ids), "required field is empty")
        add(
            id_source,
            "id_number",
            ids.is_not_null() & ~identity.valid_expr(ids).fill_null(False),
            _masked_value(ids),
            "not a valid resident ID number (GB 11643: 18 characters, a real birth date, check character)",
        )

    for f in table.fields:
        value = pl.col(_t(f.name))
        if f.name in derived:
            raw_value: pl.Expr = value.cast(pl.String)
        else:
            if f.name not in columns:
                continue
            raw_value = pl.col(f.name)
            if f.required:
                add(f.name, "required", raw_value.is_null(), raw_value, "required field is empty")
            if f.dtype != pl.String:
                add(
                    f.name,
                    "type",
                    raw_value.is_not_null() & value.is_null(),
                    raw_value,
                    _type_message(f.dtype),
                )
        if f.enum:
            add(
                f.name,
                "enum",
                value.is_not_null() & ~value.is_in(list(f.enum)),
                raw_value,
                f"not one of the allowed values: {', '.join(f.enum)}",
            )
        for rule in f.rules:
            if rule == "uscc":
                # Codes repeat (every penalty names its authority): judge each distinct code once.
                status_column = f"__uscc_status:{f.name}"
                verdicts = (
                    lf.select(value.unique().alias(_t(f.name)))
                    .drop_nulls()
                    .with_columns(uscc.verdict_expr(pl.col(_t(f.name)), allow=allow).alias(status_column))
                )
                lf = lf.join(verdicts, on=_t(f.name), how="left", maintain_order="left")
                status = pl.col(status_column)
                reasons = {s.value: f"{s.value}: {uscc.REASONS[s]}" for s in uscc.Status}
                add(
                    f.name,
                    "uscc",
                    status.is_in([uscc.Status.FORMAT.value, uscc.Status.CHECKSUM.value]),
                    raw_value,
                    status.replace_strict(reasons, default=None, return_dtype=pl.String),
                )
            elif rule == "past_date":
                add(
                    f.name,
                    "past_date",
                    value > today,
                    raw_value,
                    f"after the ingest date {today.isoformat()}",
                )
            elif rule == "non_negative":
                add(f.name, "non_negative", value < 0, raw_value, "must not be negative")
            elif rule == "fraction":
                add(f.name, "fraction", (value < 0) | (value > 1), raw_value, "must be a fraction in [0, 1]")
            elif rule == "probability":
                add(
                    f.name,
                    "probability",
                    (value <= 0) | (value > 1),
                    raw_value,
                    "must be a probability in (0, 1]",
                )
            elif rule == "person_key" and f.name not in derived:
                add(
                    f.name,
                    "id_number",
                    value.is_not_null() & ~value.str.contains(identity.KEY_PATTERN),
                    raw_value,
                    "not a person key (64 lowercase hex characters of the salted SHA-256)",
                )
            elif rule == "id_masked" and f.name not in derived:
                add(
                    f.name,
                    "id_number",
                    value.is_not_null() & ~value.str.contains(identity.MASKED_PATTERN),
                    raw_value,
                    "not a masked ID number (first 6 + ******** + last 4)",
                )

    for o in table.orderings:
        earlier, later = pl.col(_t(o.earlier)), pl.col(_t(o.later))
        add(
            o.later,
            "ordering",
            earlier.is_not_null() & later.is_not_null() & (earlier > later),
            later.cast(pl.String),
            pl.concat_str(
                _lit(f"{o.later} "),
                later.cast(pl.String),
                _lit(f" is before {o.earlier} "),
                earlier.cast(pl.String),
            ),
        )

    duplicate_row = pl.struct(columns).is_first_distinct().not_() if columns else pl.lit(False)
    key_value = pl.concat_str([pl.col(_t(k)).cast(pl.String) for k in table.key], separator="|")
    key_field = ",".join(table.key)
    key_present = pl.all_horizontal([pl.col(_t(k)).is_not_null() for k in table.key])
    add(ROW, "duplicate_row", duplicate_row, key_value, "identical to an earlier row of this file")
    add(
        key_field,
        "duplicate_key",
        key_present & ~duplicate_row & pl.struct([_t(k) for k in table.key]).is_first_distinct().not_(),
        key_value,
        "same key as an earlier row of this file",
    )
    if existing_keys is not None:
        marker = "__in_lake"
        lf = lf.join(
            existing_keys.select([pl.col(k).alias(_t(k)) for k in table.key])
            .unique()
            .with_columns(pl.lit(True).alias(marker)),
            on=[_t(k) for k in table.key],
            how="left",
            maintain_order="left",
        )
        add(key_field, "duplicate_key", key_present & pl.col(marker), key_value, "key already in the lake")

    for i, f in enumerate(table.fields):
        if f.references is None or (f.name not in columns and f.name not in derived):
            continue
        if f.references not in known:
            raise ValueError(f"no known values given for {f.references!r} (field {f.name!r})")
        marker = f"__known_{i}"
        lf = lf.join(
            known[f.references]
            .select(pl.first().alias(_t(f.name)))
            .drop_nulls()
            .unique()
            .with_columns(pl.lit(True).alias(marker)),
            on=_t(f.name),
            how="left",
            maintain_order="left",
        )
        own_failures = field_failed.get(f.name, []) + (
            field_failed.get(id_source, []) if f.name in derived and id_source else []
        )
        add(
            f.name,
            "references",
            pl.col(_t(f.name)).is_not_null()
            & pl.col(marker).is_null()
            & ~pl.any_horizontal(own_failures or [pl.lit(False)]),
            pl.col(_t(f.name)),
            f"not a known {f.references} (neither in the lake nor in an earlier file of this run)",
        )

    flags = [f"__failed_{i}" for i in range(len(checks))]
    checked = lf.with_columns([c.failed.alias(name) for c, name in zip(checks, flags, strict=True)]).collect()
    bad_row = pl.any_horizontal([pl.col(f) for f in flags]) if flags else pl.lit(False)
    accepted = checked.filter(~bad_row).select([pl.col(_t(f.name)).alias(f.name) for f in table.fields])
    bad = checked.filter(bad_row)
    parts = [raw.rejected.with_columns(pl.lit(-1, dtype=pl.Int64).alias("__order"))]
    for i, (check, flag) in enumerate(zip(checks, flags, strict=True)):
        parts.append(
            bad.filter(pl.col(flag)).select(
                pl.col(_LINE).alias("line"),
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


# ------------------------------------------------------------------------------------------------ ingest
def _known_values(lake_dir: Path, table: Table) -> dict[str, pl.LazyFrame]:
    known: dict[str, pl.LazyFrame] = {}
    for f in table.fields:
        if f.references is not None:
            ref_table, ref_column = f.references.split(".")
            known[f.references] = lake.scan(lake_dir, ref_table).select(ref_column)
    return known


def ingest_file(
    path: Path,
    *,
    table: str,
    lake_dir: Path,
    salt: str,
    today: date,
    allow: Iterable[str] = (),
) -> BatchReport:
    """Ingest one file as ``table`` (see :func:`ingest_paths`)."""
    t = catalog.table(table)
    fmt = _format(path)
    if fmt is None:
        raise IngestError(f"{path}: unknown format; expected one of {sorted(FORMATS)}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot read ({exc.strerror})") from None
    sha = hashlib.sha256(data).hexdigest()
    done = lake.find_batch(lake_dir, table, sha)
    if done is None:
        try:
            raw = READERS[fmt](data)
        except IngestError as exc:
            raise IngestError(f"{path}: {exc}") from None
        checked = validate(
            raw,
            table=t,
            salt=salt,
            today=today,
            allow=allow,
            known=_known_values(lake_dir, t),
            existing_keys=None if t.versioned else lake.scan(lake_dir, table).select(list(t.key)),
        )
        batch_id = lake.batch_id_for(table, sha)
        quarantine = checked.quarantine.select(
            _lit(table).alias("table"),
            _lit(batch_id).alias("batch_id"),
            _lit(str(path)).alias("source"),
            pl.all(),
        )
        done = lake.write_batch(
            lake_dir,
            table=table,
            source=str(path),
            content_sha256=sha,
            accepted=checked.accepted,
            quarantine=quarantine,
            rows_read=checked.rows_read,
            rows_quarantined=checked.rows_quarantined,
            ignored_columns=checked.ignored_columns,
            ingested_at=datetime.now(UTC),
        )
        status: Literal["ingested", "already_ingested"] = "ingested"
    else:
        status = "already_ingested"
    return BatchReport(
        batch_id=done.batch_id,
        table=done.table,
        source=done.source,
        content_sha256=done.content_sha256,
        rows_read=done.rows_read,
        rows_accepted=done.rows_accepted,
        rows_quarantined=done.rows_quarantined,
        status=status,
        ignored_columns=done.ignored_columns,
        ingested_at=done.ingested_at,
    )


def ingest_paths(
    paths: Sequence[Path],
    *,
    lake_dir: Path,
    salt: str,
    today: date,
    allow: Iterable[str] = (),
    table: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[BatchReport]:
    """Ingest files (a directory means the files in it) into the lake, one batch per file.

    Files go in catalog table order so that entities and persons are known before the records that
    reference them. ``progress`` is called once per file when it is done. Raises :class:`IngestError`
    before anything is written if a path is missing or maps to no table.
    """
    planned = plan(paths, table=table)
    allow = tuple(allow)
    lake.clean_staging(lake_dir)
    reports = []
    for path, name in planned:
        report = ingest_file(path, table=name, lake_dir=lake_dir, salt=salt, today=today, allow=allow)
        reports.append(report)
        if progress is not None:
            progress(
                f"{path.name} → {name}: {report.status} (read {report.rows_read}, accepted "
                f"{report.rows_accepted}, quarantined {report.rows_quarantined})"
            )
    return reports
