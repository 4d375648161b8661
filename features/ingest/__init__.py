"""Ingest: CSV / Parquet / JSON Lines files in, checked batches in the record lake out (bad rows quarantined).

:mod:`~features.ingest.readers` turn a file into string columns plus the physical line of every row;
:mod:`~features.ingest.checks` applies the rule table of :mod:`~features.ingest.rules` to them in one
vectorised polars pass, splitting accepted rows (cast to the catalog schema) from quarantine rows (file,
line, field, rule, value, message); :mod:`~features.ingest.batch` plans the files and writes one lake batch
per file. ``read = accepted + quarantined`` holds for every batch.
"""

from features.ingest.batch import (
    BatchReport,
    describe,
    ingest_data,
    ingest_file,
    ingest_paths,
    ingest_planned,
    plan,
    table_for,
)
from features.ingest.checks import ID_SOURCES, PRODUCER_COLUMNS, PUSH_RULES, Checked, Producer, validate
from features.ingest.readers import (
    FORMATS,
    LINE_FIELD,
    READERS,
    ROW,
    IngestError,
    RawRows,
    decode,
    read_csv,
    read_jsonl,
    read_parquet,
)
from features.ingest.readers import _csv_rows as _csv_rows  # the reference reader (tests compare the two)
from features.ingest.readers import _csv_vectorised as _csv_vectorised
from features.ingest.rules import BOOLEANS, DATE_PATTERN, FILE_RULES, ROW_RULES, RULES, Rule

__all__ = [
    "BOOLEANS",
    "DATE_PATTERN",
    "FILE_RULES",
    "FORMATS",
    "ID_SOURCES",
    "LINE_FIELD",
    "PRODUCER_COLUMNS",
    "PUSH_RULES",
    "READERS",
    "ROW",
    "ROW_RULES",
    "RULES",
    "BatchReport",
    "Checked",
    "IngestError",
    "Producer",
    "RawRows",
    "Rule",
    "decode",
    "describe",
    "ingest_data",
    "ingest_file",
    "ingest_paths",
    "ingest_planned",
    "plan",
    "read_csv",
    "read_jsonl",
    "read_parquet",
    "table_for",
    "validate",
]
