"""The public 双公示 export shows a penalty only while its publicity period runs, by the rule in force on its
decision date, per its authority and severity (issue 12): a market-supervision authority's by SAMR Order 45
art 13 (3 months for 通报批评 or a low fine, 3 years otherwise) once in force, every other authority's (and
market supervision's before 2021-09-01) by the national maximum of its severity (527号, NDRC Order 58,
Order 36: minor, general, serious)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from features.ingest import ingest_paths
from features.lake import sources
from supervision.lifecycle import disclosure
from supervision.lifecycle.records import Lake
from supervision.lifecycle.regimes import default_policy
from supervision.platform.db import session_scope
from tests.supervision.lifecycle_lake import AUTHORITY, AUTHORITY_USCC, OFFICER, SALT, TODAY, E, build_lake

ENVIRONMENT = "盐城市生态环境局"


def _penalty(no: str, decided: date, authority: str, severity: str, fine: float) -> dict[str, object]:
    return {
        "decision_no": no,
        "uscc": E[6],
        "party_name": "测试公司6",
        "violation_type": "超标排放",
        "basis": "大气污染防治法第九十九条",
        "penalty_kind": "fine",
        "fine_amount": fine,
        "domain": "other",
        "severity": severity,
        "decided_on": decided,
        "authority": authority,
        "authority_uscc": AUTHORITY_USCC,
    }


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = build_lake(tmp_path)
    src = tmp_path / "more"
    src.mkdir()
    pl.DataFrame(
        [
            # Order 58 in force: general at most 1 year, serious at most 3 years.
            _penalty("ENV-GEN", date(2025, 1, 6), ENVIRONMENT, "general", 200000.0),
            _penalty("ENV-SER", date(2025, 1, 6), ENVIRONMENT, "serious", 200000.0),
            # Before Order 36: a minor penalty has no publicity period (not published).
            _penalty("ENV-MINOR", date(2025, 6, 2), ENVIRONMENT, "minor", 5000.0),
            # Order 36: a minor penalty at most 3 months.
            _penalty("ENV-MINOR36", date(2026, 5, 4), ENVIRONMENT, "minor", 5000.0),
            # Market supervision under Order 45: a fine over the low threshold stays 3 years.
            _penalty("MS-GEN", date(2025, 1, 6), AUTHORITY, "general", 200000.0),
            # Market supervision before Order 45 (2021-09-01): the national rule, general 1 year.
            _penalty("MS-OLD", date(2021, 3, 1), AUTHORITY, "general", 200000.0),
        ]
    ).write_parquet(src / "penalties-periods.parquet")
    reports = ingest_paths([src], lake_dir=lake.dir, salt=SALT, today=TODAY)
    assert all(r.rows_quarantined == 0 for r in reports), reports
    return lake


def _shown(s: Session, lake: Lake, on: date) -> set[str]:
    frame = disclosure.public_export(s, sources(lake.dir), on=on, mask_name=lambda v: "*")
    return set(frame["record_id"]) & {"ENV-GEN", "ENV-SER", "ENV-MINOR", "ENV-MINOR36", "MS-GEN", "MS-OLD"}


def test_the_publicity_maximum_follows_authority_severity_and_the_decision_date(
    db_engine: sa.Engine, lake: Lake
) -> None:
    with session_scope(db_engine) as s:
        disclosure.register_from_lake(s, sources(lake.dir))
        for no, day in (
            ("ENV-GEN", date(2025, 1, 6)),
            ("ENV-SER", date(2025, 1, 6)),
            ("ENV-MINOR", date(2025, 6, 2)),
            ("ENV-MINOR36", date(2026, 5, 4)),
            ("MS-GEN", date(2025, 1, 6)),
            ("MS-OLD", date(2021, 3, 1)),
        ):
            disclosure.publish(s, "penalties", no, actor=OFFICER, on=day)
        # MS-OLD: 1 year under 527号 (in force on its decision day), not Order 45's 3 years of the day asked.
        assert _shown(s, lake, date(2022, 2, 28)) == {"MS-OLD"}
        assert _shown(s, lake, date(2022, 3, 1)) == set()
        # ENV-MINOR: no publicity period before Order 36 (market supervision's low fine: 3 months).
        assert _shown(s, lake, date(2025, 6, 3)) == {"ENV-GEN", "ENV-SER", "MS-GEN"}
        # ENV-GEN: general, at most 1 year (Order 58), where Order 45 would keep a fine this size 3 years.
        assert _shown(s, lake, date(2026, 1, 5)) == {"ENV-GEN", "ENV-SER", "MS-GEN"}
        assert _shown(s, lake, date(2026, 1, 6)) == {"ENV-SER", "MS-GEN"}
        # ENV-MINOR36: minor under Order 36, at most 3 months.
        assert _shown(s, lake, date(2026, 8, 3)) == {"ENV-SER", "ENV-MINOR36", "MS-GEN"}
        assert _shown(s, lake, date(2026, 8, 4)) == {"ENV-SER", "MS-GEN"}
        # Serious (national) and market supervision's 3 years end on the third anniversary.
        assert _shown(s, lake, date(2028, 1, 5)) == {"ENV-SER", "MS-GEN"}
        assert _shown(s, lake, date(2028, 1, 6)) == set()


def test_publicity_end_names_the_rule_of_the_decision_day() -> None:
    policy = default_policy()
    fine = {"penalty_kind": "fine", "fine_amount": 200000.0, "publicity_until": None}
    general = {**fine, "severity": "general", "decided_on": date(2024, 2, 29)}
    assert disclosure.publicity_end(general, samr=False, policy=policy) == date(2025, 2, 28)
    assert disclosure.publicity_end(general, samr=True, policy=policy) == date(2027, 2, 28)
    # The source's 公示截止期 governs when it gives one.
    given = {**general, "publicity_until": date(2030, 1, 1)}
    assert disclosure.publicity_end(given, samr=False, policy=policy) == date(2030, 1, 1)
    is_samr = disclosure.market_supervision(policy)
    assert is_samr(AUTHORITY) and is_samr("盐城市亭湖区市场监督管理局")
    assert not is_samr(ENVIRONMENT) and not is_samr(None)
