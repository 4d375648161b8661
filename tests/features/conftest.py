"""Hand-made record files for ingest tests: small Python literals written into tmp_path."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from features import ingest

TODAY = date(2026, 11, 28)
SALT = "test-salt-0001"
# Valid codes (domain-rules §1.4): mod-31 and GB 11714 both pass.
CODE_A = "91320902MA1MXY2K8U"
CODE_B = "92320903MA1N0G7C63"
CODE_C = "93320981MA1P3W4R1C"
CODE_D = "913209006921075291"
ORG_WARNING = "91320902MA1MXY2K7Q"  # mod-31 right, embedded GB 11714 digit wrong: accepted
CHECKSUM_BAD = "91320902MA1MXY2K8T"
FORMAT_BAD = "91320902MA1IXY2K8U"
AUTHORITY = "11320100MB1886843H"  # a 机关 code, valid
ALLOWED = "91350211M0000XUF46"  # genuine Xiamen code that fails mod-31 (allow-list)
ID_A = "11010519491231002X"  # GB 11643 worked example
ID_B = "320902198507140014"
ID_BAD = "110105194912310021"  # wrong check digit


def entity(code: str = CODE_A, name: str = "盐城甲科技有限公司", **over: str) -> dict[str, str]:
    row = {
        "uscc": code,
        "name": name,
        "entity_type": "enterprise",
        "industry": "I65",
        "division_code": "320902",
        "registered_capital": "1000000",
        "established_on": "2015-03-01",
        "closed_on": "",
        "status": "active",
        "address": "盐城市亭湖区人民路1号",
        "phone": "0515-88000001",
    }
    return row | over


def penalty(decision_no: str = "盐市监罚〔2024〕1号", code: str = CODE_A, **over: str) -> dict[str, str]:
    row = {
        "decision_no": decision_no,
        "uscc": code,
        "party_name": "盐城甲科技有限公司",
        "legal_representative": "张三",
        "violation_type": "虚假宣传",
        "facts": "发布虚假广告",
        "basis": "《中华人民共和国广告法》第五十五条",
        "penalty_kind": "fine",
        "content": "罚款五万元",
        "fine_amount": "50000",
        "confiscated_amount": "0",
        "domain": "advertising",
        "severity": "general",
        "decided_on": "2024-05-10",
        "valid_until": "2025-05-10",
        "publicity_until": "2027-05-10",
        "authority": "盐城市市场监督管理局",
        "authority_uscc": AUTHORITY,
        "data_source": "盐城市市场监督管理局",
        "data_source_uscc": AUTHORITY,
    }
    return row | over


def person(id_number: str = ID_A, name: str = "张三", **over: str) -> dict[str, str]:
    return {"id_number": id_number, "name": name} | over


def relation(
    relation_id: str = "R1", code: str = CODE_A, id_number: str = ID_A, **over: str
) -> dict[str, str]:
    row = {
        "relation_id": relation_id,
        "uscc": code,
        "relation_type": "legal_representative",
        "person_id_number": id_number,
        "related_uscc": "",
        "share": "",
        "valid_from": "2015-03-01",
        "valid_to": "",
    }
    return row | over


def inspection(inspection_id: str = "I1", code: str = CODE_A, **over: str) -> dict[str, str]:
    row = {
        "inspection_id": inspection_id,
        "task_id": "T2024-01",
        "uscc": code,
        "department": "盐城市市场监督管理局",
        "check_items": "广告;价格",
        "inspected_on": "2024-06-01",
        "inspectors": "E001;E002",
        "outcome": "no_problem",
        "findings": "",
        "selection_probability": "0.2",
        "in_control_slice": "false",
    }
    return row | over


def csv_text(rows: Sequence[Mapping[str, str]], columns: Sequence[str] | None = None) -> str:
    out = io.StringIO()
    cols = list(columns or rows[0].keys())
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(cols)
    for row in rows:
        writer.writerow([row.get(c, "") for c in cols])
    return out.getvalue()


def write_csv(
    path: Path,
    rows: Sequence[Mapping[str, str]],
    *,
    columns: Sequence[str] | None = None,
    encoding: str = "utf-8",
) -> Path:
    """Write rows as CSV in ``encoding`` (``utf-8-sig`` gives a BOM, ``gbk`` a government export)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_text(rows, columns).encode(encoding))
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def write_jsonl(path: Path, records: Sequence[Mapping[str, Any] | str]) -> Path:
    """One JSON object per line; a ``str`` item is written as it is (to make broken lines)."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    return write_text(path, "\n".join(lines) + "\n")


def write_parquet(
    path: Path, rows: Sequence[Mapping[str, Any]], schema: Mapping[str, Any] | None = None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(list(rows), schema=schema).write_parquet(path)
    return path


Ingest = Callable[..., list[ingest.BatchReport]]


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def run(lake_dir: Path) -> Ingest:
    """ingest_paths with the test lake, salt and date; keyword arguments override."""

    def _run(*paths: Path, **kwargs: Any) -> list[ingest.BatchReport]:
        options: dict[str, Any] = {"lake_dir": lake_dir, "salt": SALT, "today": TODAY} | kwargs
        return ingest.ingest_paths(list(paths), **options)

    return _run


@pytest.fixture
def entities_file(tmp_path: Path) -> Path:
    """Three registered entities (A, B, C)."""
    return write_csv(
        tmp_path / "in" / "entities.csv",
        [
            entity(CODE_A),
            entity(CODE_B, "盐都区乙商店", entity_type="individual_business", division_code="320903"),
            entity(CODE_C, "东台丙合作社", entity_type="cooperative", division_code="320981"),
        ],
    )
