"""Hand-made record lakes for the feature tests: rows with defaults for the required fields."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from features.catalog import BY_NAME
from features.uscc import complete

# Valid USCCs built from distinct 17-character stems (the check character is computed).
E = [complete(f"91320902MA{n:07d}") for n in range(1, 60)]

_DEFAULTS: dict[str, dict[str, Any]] = {
    "entities": {
        "name": "测试公司",
        "entity_type": "enterprise",
        "industry": "H62",
        "division_code": "320902",
        "registered_capital": 1_000_000.0,
        "established_on": date(2015, 1, 1),
        "status": "active",
    },
    "persons": {"id_masked": "320902********0011", "name": "张三"},
    "relations": {"valid_from": date(2016, 1, 1)},
    "licences": {"licence_name": "食品经营许可证", "matter": "食品经营", "authority": "市场监管局"},
    "penalties": {
        "party_name": "测试公司",
        "violation_type": "虚假宣传",
        "basis": "广告法第五十五条",
        "penalty_kind": "fine",
        "domain": "advertising",
        "severity": "general",
        "authority": "市场监管局",
        "authority_uscc": complete("11320900MB1886843"),
    },
    "commitments": {"commitment_type": "voluntary", "matter": "守法经营", "fulfilment": "pending"},
    "self_reports": {"topic": "tax"},
    "evaluations": {"scheme": "public_credit", "evaluator": "信用中心"},
    "list_entries": {"basis": "依据", "basis_document_no": "文书1", "authority": "市场监管局"},
    "interviews": {"authority": "市场监管局", "reason": "约谈"},
    "repairs": {"outcome": "approved", "authority": "市场监管局"},
    "objections": {"outcome": "pending"},
    "inspections": {
        "task_id": "T1",
        "department": "市场监管局",
        "inspectors": "I1;I2",
        "outcome": "no_problem",
        "selection_probability": 0.1,
        "in_control_slice": False,
    },
}


class Lake:
    """Collects rows per table; ``sources()`` gives catalog-typed LazyFrames like features.lake.sources."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in BY_NAME}
        self._ids = 0

    def add(self, table: str, **values: Any) -> Lake:
        t = BY_NAME[table]
        row = {**_DEFAULTS.get(table, {}), **values}
        for k in t.key:
            if k not in row:
                self._ids += 1
                row[k] = f"{table[:3]}-{self._ids:05d}"
        unknown = set(row) - set(t.columns)
        if unknown:
            raise KeyError(f"{table}: unknown fields {sorted(unknown)}")
        self.rows[table].append(row)
        return self

    def entity(self, uscc: str, **values: Any) -> Lake:
        return self.add("entities", uscc=uscc, **values)

    def frames(self) -> dict[str, pl.DataFrame]:
        return {
            name: pl.DataFrame(
                [{c: r.get(c) for c in t.columns} for r in self.rows[name]], schema=t.schema, orient="row"
            )
            for name, t in BY_NAME.items()
        }

    def sources(self) -> dict[str, pl.LazyFrame]:
        return {k: v.lazy() for k, v in self.frames().items()}
