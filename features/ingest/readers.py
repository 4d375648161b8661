"""File bytes in; text columns, each row's physical line and the rows rejected while reading out (RawRows)."""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}
ROW = "<row>"  # the quarantine `field` of a rule about the whole row
LINE_FIELD = "<line>"  # the quarantine `field` of a JSON line that is no record
LINE = "__line"  # the column holding each row's physical line
_MAX_VALUE = 200  # characters of a bad value kept in quarantine
QUARANTINE = pl.Schema(
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
class RawRows:
    """What a reader gives: string columns plus ``__line``, and rows already rejected while reading."""

    frame: pl.DataFrame
    rejected: pl.DataFrame  # QUARANTINE schema
    rows_read: int


def format_of(path: Path) -> str | None:
    """The reader a file takes by its suffix (``csv``, ``parquet``, ``jsonl``), None for another file."""
    return FORMATS.get(path.suffix.lower())


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
    return pl.DataFrame(rows, schema=QUARANTINE, orient="row")


def _frame(header: list[str], lines: list[int], rows: list[list[str | None]]) -> pl.DataFrame:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    return pl.DataFrame(
        [pl.Series(LINE, lines, dtype=pl.Int64)]
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
    if LINE in seen:
        raise IngestError(f"the header uses the reserved column name {LINE!r}")
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
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(LINE)
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
            .agg(pl.col(LINE).first(), pl.col("raw").str.join("\n"), pl.col("quotes").sum())
            .drop("record")
        )
    # A CR inside a quoted field stays, as the csv module keeps it; the one ending the record goes.
    records = records.with_columns(pl.col("raw").str.strip_suffix("\r")).filter(
        pl.col("raw").str.strip_chars().str.len_bytes() > 0
    )
    parsed: list[tuple[int, list[str]]] = []  # quoted records, through the csv module
    rejected: list[tuple[int, str, str, str | None, str]] = []
    last_line = records[LINE].max() if records.height else None
    for line, raw in records.filter(pl.col("quotes") > 0).select(LINE, "raw").iter_rows():
        rows: list[list[str]] = []
        try:
            rows.extend(csv.reader(io.StringIO(raw, newline=""), strict=True))
        except csv.Error as exc:
            # Only a broken last record of one physical line is rejected here, as the csv module rejects it;
            # a record over several lines may break before its end, and the csv module then reads on from
            # the next line (its later lines are rows of their own).
            if rows or line != last_line or "\n" in raw:
                return None
            rejected.append((line, ROW, "field_count", None, f"malformed CSV row ({exc})"))
            continue
        if len(rows) != 1:
            return None  # a quote inside an unquoted field fooled the parity: let the csv module decide
        if not (len(rows[0]) == 1 and not rows[0][0].strip()):
            parsed.append((line, rows[0]))
    first_simple = records.filter(pl.col("quotes") == 0).head(1)
    candidates = [(line, raw.split(",")) for line, raw in first_simple.select(LINE, "raw").iter_rows()]
    candidates += parsed[:1]
    if not candidates:
        return None if rejected else RawRows(_frame([], [], []), _rejected([]), 0)
    header_line, header_fields = min(candidates, key=lambda c: c[0])
    if any(line < header_line for line, *_ in rejected):
        return None  # a broken header: the csv module reports it as an error
    header = _header(header_fields)
    n = len(header)
    body = records.filter(pl.col(LINE) > header_line)
    simple = body.filter(pl.col("quotes") == 0).with_columns(
        (pl.col("raw").str.count_matches(",", literal=True) + 1).alias("fields")
    )
    wrong = simple.filter(pl.col("fields") != n)
    rejected += [
        (line, ROW, "field_count", _clip(raw), _field_count_message(n, found))
        for line, raw, found in wrong.select(LINE, "raw", "fields").iter_rows()
    ]
    good = simple.filter(pl.col("fields") == n).select(
        pl.col(LINE),
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
    frame = pl.concat(frames, how="vertical").sort(LINE)
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
    text = text.select(pl.int_range(1, text.height + 1, dtype=pl.Int64).alias(LINE), pl.all())
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
