"""Source files as other departments send them: CSV in UTF-8, UTF-8 with BOM or GB18030, Parquet and
JSON Lines."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass(frozen=True, slots=True)
class FileFormat:
    """How one table is delivered: file name (stem = table name, as ingest expects) and encoding."""

    file: str
    kind: str  # "csv" | "parquet" | "jsonl"
    encoding: str = "utf-8"  # CSV only: "utf-8", "utf-8-sig" or "gb18030"

    @property
    def text_dates(self) -> bool:
        return self.kind in ("csv", "jsonl")


# The registration office exports CSV with a BOM (Excel), older departmental systems export GB18030,
# the big event tables come as Parquet from the data platform, one system pushes JSON Lines.
FORMATS: dict[str, FileFormat] = {
    "entities": FileFormat("entities.csv", "csv", "utf-8-sig"),
    "persons": FileFormat("persons.csv", "csv"),
    "relations": FileFormat("relations.parquet", "parquet"),
    "licences": FileFormat("licences.parquet", "parquet"),
    "penalties": FileFormat("penalties.csv", "csv", "gb18030"),
    "commitments": FileFormat("commitments.parquet", "parquet"),
    "self_reports": FileFormat("self_reports.jsonl", "jsonl"),
    "evaluations": FileFormat("evaluations.parquet", "parquet"),
    "list_entries": FileFormat("list_entries.csv", "csv"),
    "interviews": FileFormat("interviews.csv", "csv", "gb18030"),
    "repairs": FileFormat("repairs.csv", "csv"),
    "objections": FileFormat("objections.csv", "csv"),
    "inspections": FileFormat("inspections.parquet", "parquet"),
    "decisions": FileFormat("decisions.csv", "csv"),
}


def write_table(frame: pl.DataFrame, path: Path, fmt: FileFormat) -> None:
    """Write with fixed settings, so that the same frame always gives the same bytes."""
    if fmt.kind == "parquet":
        frame.write_parquet(
            path, compression="zstd", compression_level=3, statistics=True, row_group_size=256_000
        )
    elif fmt.kind == "jsonl":
        buf = io.BytesIO()
        frame.write_ndjson(buf)
        path.write_bytes(buf.getvalue())
    else:
        buf = io.BytesIO()
        frame.write_csv(buf, date_format="%Y-%m-%d")
        data = buf.getvalue()
        if fmt.encoding == "gb18030":
            data = data.decode("utf-8").encode("gb18030")
        elif fmt.encoding == "utf-8-sig":
            data = b"\xef\xbb\xbf" + data
        path.write_bytes(data)


def write_truth(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(
        path, compression="zstd", compression_level=3, statistics=True, row_group_size=256_000
    )


def write_json(payload: object, path: Path) -> None:
    path.write_text(
        json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
