"""Credit repair: conditions checked against the lake under the regime in force; workflow; features change."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from features.build import build_features
from features.lake import scan, sources
from supervision.lifecycle import repairs
from supervision.lifecycle.records import Lake
from supervision.lifecycle.workflow import TransitionError
from supervision.platform.audit import AuditEntry
from supervision.platform.db import session_scope
from tests.supervision.lifecycle_lake import OFFICER, PARTY, E, build_lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return build_lake(tmp_path)


def _conditions(
    lake: Lake, record_id: str, uscc: str, on: date, *, table: str = "penalties"
) -> dict[str, bool]:
    got = repairs.check_conditions(
        sources(lake.dir),
        uscc=uscc,
        record_table=table,
        record_id=record_id,
        on=on,
        commitment="本单位承诺守法经营",
        obligations_evidence="罚款缴纳凭证",
    )
    return {c.name: c.ok for c in got}


def test_general_minimum_takes_the_longer_of_samr_and_national_rules(lake: Lake) -> None:
    # P-GEN decided 2025-03-03 (general, advertising). The SAMR publicity system asks 6 months
    # (国市监信规〔2021〕3号); the national platform under NDRC Order 58 (2023-05-01 on) 3 months.
    assert not _conditions(lake, "P-GEN", E[0], date(2025, 9, 2))["minimum_period"]
    assert _conditions(lake, "P-GEN", E[0], date(2025, 9, 3))["minimum_period"]
    got = repairs.check_conditions(
        sources(lake.dir),
        uscc=E[0],
        record_table="penalties",
        record_id="P-GEN",
        on=date(2025, 9, 3),
        commitment="c",
        obligations_evidence="e",
    )
    minimum = next(c for c in got if c.name == "minimum_period")
    assert minimum.rule is not None and minimum.rule["regime"] == "samr_2021"
    assert "ndrc_order58 repair.min_publicity.general 3 months → 2025-06-03" in minimum.detail
    assert all(c.ok for c in got)


def test_food_needs_a_year_from_the_samr_rule(lake: Lake) -> None:
    # P-FOOD decided 2026-02-02, domain food: the specific rule (≥1 year) wins over the general one.
    assert not _conditions(lake, "P-FOOD", E[1], date(2026, 11, 27))["minimum_period"]
    assert _conditions(lake, "P-FOOD", E[1], date(2027, 2, 2))["minimum_period"] is True


def test_never_stopped_kind_repeat_and_blocking_list_fail(lake: Lake) -> None:
    assert not _conditions(lake, "P-REVOKE", E[2], date(2026, 11, 27))["stoppable_kind"]
    assert not _conditions(lake, "P-REP1", E[5], date(2026, 11, 27))["no_repeat"]
    assert _conditions(lake, "P-REP2", E[5], date(2026, 11, 27))["no_repeat"]
    assert not _conditions(lake, "P-ABN", E[3], date(2026, 11, 27))["not_on_blocking_list"]
    missing = repairs.check_conditions(
        sources(lake.dir),
        uscc=E[0],
        record_table="penalties",
        record_id="P-GEN",
        on=date(2026, 11, 27),
        commitment=None,
        obligations_evidence="",
    )
    assert {c.name for c in missing if not c.ok} == {"credit_commitment", "obligations_fulfilled"}


def test_list_entry_minimum_follows_list_rules(lake: Lake) -> None:
    # L-SEV listed 2024-01-10 on the severe list: early removal after 1 year (SAMR Order 44, tag U).
    assert not _conditions(lake, "L-SEV", E[4], date(2025, 1, 9), table="list_entries")["minimum_period"]
    assert _conditions(lake, "L-SEV", E[4], date(2025, 1, 10), table="list_entries")["minimum_period"]


def test_wrong_owner_and_unknown_record_are_refused(lake: Lake) -> None:
    with pytest.raises(repairs.RepairError, match="belongs to"):
        _conditions(lake, "P-GEN", E[1], date(2026, 1, 1))
    with pytest.raises(repairs.RepairError, match="not in the lake"):
        _conditions(lake, "P-NOPE", E[1], date(2026, 1, 1))
    with pytest.raises(repairs.RepairError, match="repairs apply to"):
        _conditions(lake, "X", E[1], date(2026, 1, 1), table="licences")


def _apply(
    session: sa.orm.Session,
    lake: Lake,
    record_id: str = "P-GEN",
    uscc: str = E[0],
    on: date = date(2026, 11, 2),
) -> repairs.Repair:
    return repairs.apply(
        session,
        sources(lake.dir),
        actor=PARTY,
        uscc=uscc,
        record_table="penalties",
        record_id=record_id,
        department="盐城市市场监管局",
        applied_on=on,
        commitment="承诺",
        obligations_evidence="缴款凭证",
        tiers=lambda u: "C",
    )


def test_approval_stops_publicity_and_changes_features(db_engine: sa.Engine, lake: Lake) -> None:
    as_of = date(2026, 11, 10)
    before = build_features(sources(lake.dir), as_of=as_of).filter(pl.col("uscc") == E[0]).collect()
    with session_scope(db_engine) as s:
        row = _apply(s, lake)
        # Acceptance within 3 WD of Mon 2 Nov 2026: Thu 5 Nov; decision within 10 WD of acceptance.
        assert row.accept_due == date(2026, 11, 5) and row.tier_before == "C"
        repairs.accept(s, row.repair_id, actor=OFFICER, on=date(2026, 11, 3))
        assert row.decide_due == date(2026, 11, 17)
        repairs.approve(
            s,
            row.repair_id,
            sources(lake.dir),
            actor=OFFICER,
            on=date(2026, 11, 4),
            lake=lake,
            tiers=lambda u: "B",
        )
        assert (row.status, row.tier_after) == ("approved", "B")
    after = build_features(sources(lake.dir), as_of=as_of).filter(pl.col("uscc") == E[0]).collect()
    assert before["penalties_n_1095d"].item() == 1 and after["penalties_n_1095d"].item() == 0
    assert after["repairs_approved_n_1095d"].item() == 1
    lake_row = scan(lake.dir, "repairs").collect().row(0, named=True)
    assert (lake_row["record_id"], lake_row["outcome"]) == ("P-GEN", "approved")
    assert scan(lake.dir, "commitments").collect()["commitment_type"].to_list() == ["credit_repair"]
    with session_scope(db_engine) as s:
        actions = s.scalars(
            sa.select(AuditEntry.action)
            .where(AuditEntry.target == f"repair:{row.repair_id}")
            .order_by(AuditEntry.id)
        ).all()
        assert actions == ["repair.apply", "repair.accept", "repair.approve"]


def test_approval_refused_when_a_condition_fails(db_engine: sa.Engine, lake: Lake) -> None:
    with session_scope(db_engine) as s:
        row = _apply(s, lake, record_id="P-REVOKE", uscc=E[2])
        assert {c["name"] for c in row.conditions if not c["ok"]} == {"stoppable_kind"}
        repairs.accept(s, row.repair_id, actor=OFFICER, on=date(2026, 11, 3))
        with pytest.raises(repairs.RepairError, match="stoppable_kind: penalty kind licence_revocation"):
            repairs.approve(
                s, row.repair_id, sources(lake.dir), actor=OFFICER, on=date(2026, 11, 4), lake=lake
            )
        repairs.reject(
            s, row.repair_id, actor=OFFICER, on=date(2026, 11, 4), reasons="吊销许可证件不得提前停止公示"
        )
        assert row.status == "rejected"
    assert scan(lake.dir, "repairs").collect().height == 0


@pytest.mark.parametrize(
    ("path", "forbidden"),
    [
        ((), "approve"),
        (("accept",), "accept"),
        (("accept", "approve"), "reject"),
        (("accept", "approve"), "accept"),
        (("reject",), "accept"),
        (("reject",), "approve"),
        (("accept", "reject"), "approve"),
    ],
)
def test_forbidden_transitions(
    db_engine: sa.Engine, lake: Lake, path: tuple[str, ...], forbidden: str
) -> None:
    with session_scope(db_engine) as s:
        rid = _apply(s, lake).repair_id
        src = sources(lake.dir)

        def do(action: str) -> None:
            on = date(2026, 11, 4)
            if action == "accept":
                repairs.accept(s, rid, actor=OFFICER, on=on)
            elif action == "approve":
                repairs.approve(s, rid, src, actor=OFFICER, on=on)
            else:
                repairs.reject(s, rid, actor=OFFICER, on=on, reasons="材料不全")

        for action in path:
            do(action)
        state = repairs.get(s, rid).status
        with pytest.raises(TransitionError, match=f"repair {rid} is '{state}': '{forbidden}' is not allowed"):
            do(forbidden)


def test_second_open_application_and_overdue(db_engine: sa.Engine, lake: Lake) -> None:
    with session_scope(db_engine) as s:
        row = _apply(s, lake)
        with pytest.raises(repairs.RepairError, match="already open"):
            _apply(s, lake, on=date(2026, 11, 3))
        assert repairs.overdue(s, on=date(2026, 11, 5)) == []
        late = repairs.overdue(s, on=date(2026, 11, 9))
        assert [(r["repair_id"], r["deadline"], r["working_days_late"]) for r in late] == [
            (row.repair_id, "accept", 2)
        ]
