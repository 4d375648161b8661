"""A small hand-made record lake for the lifecycle tests, written through the real ingest."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from features.ingest import ingest_paths
from features.uscc import complete
from supervision.lifecycle.records import Lake, write_rows
from supervision.lifecycle.workflow import Actor

E = [complete(f"91320902MA{n:07d}") for n in range(1, 8)]
# The department that made every penalty and listing of the lake (a city-level department: 320900).
AUTHORITY = "盐城市市场监管局"
AUTHORITY_DIVISION = "320900"
AUTHORITY_USCC = complete("11320900MB1886843")
SALT = "lifecycle-test-salt"
TODAY = date(2026, 11, 27)
OFFICER = Actor("officer-li", role="supervisor", department=AUTHORITY)
PARTY = Actor("party-e0", role="system")


def _penalty(
    no: str,
    uscc: str,
    decided: date,
    *,
    kind: str = "fine",
    domain: str = "advertising",
    severity: str = "general",
) -> dict[str, object]:
    return {
        "decision_no": no,
        "uscc": uscc,
        "party_name": "测试公司",
        "legal_representative": "张三",
        "violation_type": "虚假宣传",
        "basis": "广告法第五十五条",
        "penalty_kind": kind,
        "fine_amount": 20000.0,
        "domain": domain,
        "severity": severity,
        "decided_on": decided,
        "authority": AUTHORITY,
        "authority_uscc": AUTHORITY_USCC,
    }


def build_lake(root: Path) -> Lake:
    """Entities E[0..6]; penalties; E[3] on the abnormal list; E[4] on the severe list since 2024-01-10."""
    src = root / "src"
    src.mkdir(parents=True)
    pl.DataFrame(
        {
            "uscc": E,
            "name": [f"测试公司{i}" for i in range(len(E))],
            "entity_type": ["enterprise"] * len(E),
            "industry": ["H62"] * len(E),
            "division_code": ["320902"] * len(E),
            "established_on": [date(2015, 1, 1)] * len(E),
            "status": ["active"] * len(E),
        }
    ).write_parquet(src / "entities.parquet")
    pl.DataFrame(
        [
            _penalty("P-GEN", E[0], date(2025, 3, 3)),
            _penalty("P-FOOD", E[1], date(2026, 2, 2), domain="food"),
            _penalty("P-REVOKE", E[2], date(2024, 5, 6), kind="licence_revocation", severity="serious"),
            _penalty("P-ABN", E[3], date(2024, 5, 6)),
            _penalty("P-REP1", E[5], date(2024, 1, 8)),
            _penalty("P-REP2", E[5], date(2025, 6, 9)),
            _penalty("P-SEV", E[4], date(2024, 1, 8), severity="serious"),
        ]
    ).write_parquet(src / "penalties.parquet")
    pl.DataFrame(
        {
            "entry_id": ["L-ABN", "L-SEV"],
            "uscc": [E[3], E[4]],
            "list_type": ["abnormal_operations", "severe_dishonesty"],
            "basis": ["企业信息公示暂行条例第十七条", "市场监督管理严重违法失信名单管理办法"],
            "basis_document_no": ["盐市监异〔2025〕1号", "盐市监严〔2024〕2号"],
            "listed_on": [date(2025, 1, 6), date(2024, 1, 10)],
            "authority": [AUTHORITY, AUTHORITY],
        }
    ).write_parquet(src / "list_entries.parquet")
    lake = Lake(dir=root / "lake", salt=SALT)
    ingest_paths([src], lake_dir=lake.dir, salt=SALT, today=TODAY)
    return lake


# Penalties of an authority outside market supervision (an environment bureau) for E[6], written by the tests
# that need them (the repair regime follows the issuing authority, issue 12) through
# `add_environment_penalties`: build_lake's own records, which other tests count, stay as they are.
ENV_AUTHORITY = "盐城市生态环境局"
ENV_AUTHORITY_USCC = complete("11320900MB0000001")


def add_environment_penalties(lake: Lake) -> None:
    """P-ENV (general, decided Mon 2026-06-01) and P-ENV-SER (serious, 2021-06-01) of E[6], by the bureau."""
    rows = [
        _penalty("P-ENV", E[6], date(2026, 6, 1), domain="other") | {"violation_type": "超标排放"},
        _penalty("P-ENV-SER", E[6], date(2021, 6, 1), domain="other", severity="serious")
        | {"violation_type": "未批先建"},
    ]
    for row in rows:
        row |= {
            "basis": "大气污染防治法第九十九条",
            "authority": ENV_AUTHORITY,
            "authority_uscc": ENV_AUTHORITY_USCC,
        }
    write_rows(lake, "penalties", rows, source="environment-bureau", today=TODAY)
