"""双公示: due dates in working days, per-department overdue report, public export rules and masking."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from features.identity import check_digit
from features.ingest import ingest_paths
from features.lake import sources
from supervision.lifecycle import disclosure
from supervision.lifecycle.records import Lake, write_rows
from supervision.lifecycle.workflow import TransitionError
from supervision.platform.db import session_scope
from tests.supervision.lifecycle_lake import AUTHORITY_USCC, OFFICER, SALT, TODAY, E, build_lake

ADULT_ID = "11010519491231002X"
MINOR_ID = "11010520150101001" + check_digit("11010520150101001")
ID_RE = re.compile(r"\d{17}[\dXx]")


def _penalty(no: str, uscc: str, decided: date, fine: float, **extra: object) -> dict[str, object]:
    return {
        "decision_no": no,
        "uscc": uscc,
        "party_name": "测试公司",
        "legal_representative": "王五",
        "violation_type": "虚假宣传",
        "basis": "广告法第五十五条",
        "penalty_kind": "fine",
        "fine_amount": fine,
        "domain": "advertising",
        "severity": "general",
        "decided_on": decided,
        "authority": "盐城市亭湖区市场监管局",
        "authority_uscc": AUTHORITY_USCC,
        **extra,
    }


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = build_lake(tmp_path)
    src = tmp_path / "more"
    src.mkdir()
    pl.DataFrame({"id_number": [ADULT_ID, MINOR_ID], "name": ["王五", "小明"]}).write_csv(src / "persons.csv")
    pl.DataFrame(
        {
            "relation_id": ["R1", "R2"],
            "uscc": [E[6], E[2]],
            "relation_type": ["legal_representative", "legal_representative"],
            "person_id_number": [ADULT_ID, MINOR_ID],
            "valid_from": [date(2016, 1, 1), date(2020, 1, 1)],
        }
    ).write_csv(src / "relations.csv")
    pl.DataFrame(
        [
            _penalty(
                "P-BIG",
                E[6],
                date(2026, 6, 1),
                500000.0,
                facts=f"经查，当事人（身份证号{ADULT_ID}）发布虚假广告",
            ),
            _penalty("P-BIG2", E[3], date(2026, 6, 1), 500000.0, party_name="李大牛"),
            _penalty("P-WARN", E[6], date(2026, 6, 2), 0.0, penalty_kind="warning"),
        ]
    ).write_parquet(src / "penalties-more.parquet")
    pl.DataFrame(
        {
            "licence_id": ["LIC-1"],
            "uscc": [E[0]],
            "licence_name": ["食品经营许可证"],
            "matter": ["食品经营"],
            "decided_on": [date(2026, 9, 30)],
            "authority": ["盐城市市场监管局"],
        }
    ).write_parquet(src / "licences.parquet")
    # E[3] re-registered as an individual business whose name is its operator's.
    pl.DataFrame(
        {
            "uscc": [E[3]],
            "name": ["李大牛"],
            "entity_type": ["individual_business"],
            "industry": ["H62"],
            "division_code": ["320902"],
            "established_on": [date(2015, 1, 1)],
            "status": ["active"],
        }
    ).write_parquet(src / "entities-update.parquet")
    reports = ingest_paths([src], lake_dir=lake.dir, salt=SALT, today=TODAY)
    assert all(r.rows_quarantined == 0 for r in reports), reports
    return lake


def test_due_dates_overdue_report_and_publish(db_engine: sa.Engine, lake: Lake) -> None:
    with session_scope(db_engine) as s:
        # 7 penalties of the base lake + P-BIG, P-BIG2 (P-WARN is a warning: not published) + 1 licence.
        assert disclosure.register_from_lake(s, sources(lake.dir)) == 10
        assert disclosure.register_from_lake(s, sources(lake.dir)) == 0
        lic = s.get(disclosure.Disclosure, ("licences", "LIC-1"))
        assert lic is not None
        # A market-supervision decision: 20 WD (disclosure.publish_samr) after Wed 30 Sep 2026, the National
        # Day week skipped and Sat 10 October a make-up working day: 3 November (7 WD elsewhere:
        # tests/serving/test_disclosure_dates.py).
        assert lic.due_on == date(2026, 11, 3) and lic.rule["kind"] == "disclosure.publish_samr"
        disclosure.publish(s, "licences", "LIC-1", actor=OFFICER, on=date(2026, 10, 9))
        with pytest.raises(TransitionError, match="'publish' is not allowed"):
            disclosure.publish(s, "licences", "LIC-1", actor=OFFICER, on=date(2026, 10, 9))
        report = disclosure.overdue_report(s, on=date(2026, 11, 27))
        by_dept = {r["department"]: r["overdue"] for r in report}
        assert by_dept == {"盐城市市场监管局": 7, "盐城市亭湖区市场监管局": 2}
        assert report[0]["department"] == "盐城市市场监管局"


def test_public_export_respects_periods_repairs_minors_and_masks(db_engine: sa.Engine, lake: Lake) -> None:
    on = date(2026, 11, 27)
    with session_scope(db_engine) as s:
        disclosure.register_from_lake(s, sources(lake.dir))
        for t, rid in s.execute(
            sa.select(disclosure.Disclosure.record_table, disclosure.Disclosure.record_id)
        ).all():
            disclosure.publish(s, t, rid, actor=OFFICER, on=date(2026, 10, 9))
        before = disclosure.public_export(
            s, sources(lake.dir), on=on, mask_name=lambda v: v[0] + "*" * (len(v) - 1)
        )
    shown = set(before["record_id"])
    # P-REVOKE (E[2]) would be shown for 3 years, but E[2]'s legal representative is a minor.
    # Low fines (P-GEN, P-FOOD, P-SEV, P-REP*, P-ABN) end after 3 months; the warning is never published.
    assert shown == {"P-BIG", "P-BIG2", "LIC-1"}
    text = before.write_csv()
    assert not ID_RE.search(text), text
    assert "王*" in text and "王五" not in text
    assert "李**" in text and "李大牛" not in text and "测试公司" in text
    write_rows(
        lake,
        "repairs",
        [
            {
                "repair_id": "R-1",
                "uscc": E[3],
                "record_table": "penalties",
                "record_id": "P-BIG2",
                "applied_on": date(2026, 11, 2),
                "decided_on": date(2026, 11, 20),
                "outcome": "approved",
                "authority": "x",
            }
        ],
        source="test",
        today=on,
    )
    with session_scope(db_engine) as s:
        after = disclosure.public_export(s, sources(lake.dir), on=on, mask_name=lambda v: "*")
        assert set(after["record_id"]) == {"P-BIG", "LIC-1"}
        # Three years after P-BIG the period is over.
        assert "P-BIG" not in set(
            disclosure.public_export(s, sources(lake.dir), on=date(2029, 6, 2), mask_name=lambda v: "*")[
                "record_id"
            ]
        )


def test_minor_on_the_decision_day_by_birth_year() -> None:
    """The lake keeps the birth year only (issue 17): possibly a minor through the end of the year one
    turns 18, so a record is never published early."""
    from supervision.lifecycle.disclosure import _is_minor_on

    cases = [
        (2008, date(2026, 12, 31), True),  # turns 18 in 2026: treated as a minor all year
        (2008, date(2027, 1, 1), False),
        (2008, date(2026, 1, 1), True),
        (2006, date(2024, 2, 29), True),
        (2005, date(2024, 2, 29), False),
    ]
    frame = pl.DataFrame({"born": [c[0] for c in cases], "decided": [c[1] for c in cases]})
    minor = frame.select(_is_minor_on(pl.col("decided"), pl.col("born"))).to_series().to_list()
    assert minor == [c[2] for c in cases]
