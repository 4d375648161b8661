"""Objections as a state machine on SQLite and PostgreSQL; deadlines in working days; features see upheld
ones."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from features.build import build_features
from features.lake import scan, sources
from features.uscc import complete
from supervision.lifecycle import objections
from supervision.lifecycle.records import RecordRejected
from supervision.lifecycle.workflow import NotFound, TransitionError
from supervision.platform.audit import AuditEntry, verify
from supervision.platform.db import session_scope
from tests.supervision.lifecycle_lake import OFFICER, PARTY, E, build_lake

FILED = date(2026, 9, 30)  # Wednesday before the National Day holiday (1–7 October 2026)


def _file(session: sa.orm.Session, record_id: str = "P-GEN", uscc: str = E[0]) -> objections.Objection:
    return objections.file(
        session,
        actor=PARTY,
        uscc=uscc,
        record_table="penalties",
        record_id=record_id,
        grounds="罚款金额登记错误",
        department="盐城市市场监管局",
        filed_on=FILED,
    )


def test_deadlines_are_working_days_across_the_holiday(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as s:
        row = _file(s)
        # Mark within 1 WD: 8 Oct is the first working day after 30 Sep. Decide within 5 WD: 8, 9, 10 (make-up
        # Saturday), 12, 13 October.
        assert row.mark_due == date(2026, 10, 8)
        assert row.decide_due == date(2026, 10, 13)
        assert row.rules["decide"]["confidence"] == "P"


def test_allowed_path_filed_marked_upheld_is_audited(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as s:
        oid = _file(s).objection_id
    with session_scope(db_engine) as s:
        row = objections.mark(s, oid, actor=OFFICER, on=date(2026, 10, 8))
        assert row.as_dict()["label"] == "异议处理中"
    with session_scope(db_engine) as s:
        decision = objections.decide(
            s,
            oid,
            actor=OFFICER,
            on=date(2026, 10, 9),
            upheld=True,
            reasons="核实有误",
            resolution="corrected",
        )
        assert decision.objection.status == "upheld" and decision.notice is None
    with session_scope(db_engine) as s:
        actions = s.scalars(
            sa.select(AuditEntry.action)
            .where(AuditEntry.target == f"objection:{oid}")
            .order_by(AuditEntry.id)
        ).all()
        assert actions == ["objection.file", "objection.mark", "objection.uphold"]
        assert verify(s).ok


def test_rejected_needs_reasons_and_no_resolution(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as s:
        oid = _file(s).objection_id
        objections.mark(s, oid, actor=OFFICER, on=FILED)
        with pytest.raises(objections.ObjectionError, match="reasons are required"):
            objections.decide(s, oid, actor=OFFICER, on=FILED, upheld=False, reasons=" ")
        with pytest.raises(objections.ObjectionError, match="no resolution"):
            objections.decide(
                s, oid, actor=OFFICER, on=FILED, upheld=False, reasons="无误", resolution="revoked"
            )
        with pytest.raises(objections.ObjectionError, match="needs resolution"):
            objections.decide(s, oid, actor=OFFICER, on=FILED, upheld=True, reasons="有误")
        row = objections.decide(s, oid, actor=OFFICER, on=FILED, upheld=False, reasons="记录无误").objection
        assert (row.status, row.reasons, row.resolution) == ("rejected", "记录无误", None)


@pytest.mark.parametrize(
    ("path", "forbidden"),
    [
        ((), "uphold"),
        ((), "reject"),
        (("mark",), "mark"),
        (("mark", "uphold"), "mark"),
        (("mark", "uphold"), "reject"),
        (("mark", "reject"), "uphold"),
        (("mark", "reject"), "mark"),
    ],
)
def test_forbidden_transitions_are_refused_clearly(
    db_engine: sa.Engine, path: tuple[str, ...], forbidden: str
) -> None:
    with session_scope(db_engine) as s:
        oid = _file(s).objection_id

        def do(action: str) -> None:
            if action == "mark":
                objections.mark(s, oid, actor=OFFICER, on=FILED)
            else:
                objections.decide(
                    s,
                    oid,
                    actor=OFFICER,
                    on=FILED,
                    upheld=action == "uphold",
                    reasons="理由",
                    resolution="revoked" if action == "uphold" else None,
                )

        for action in path:
            do(action)
        state = objections.get(s, oid).status
        with pytest.raises(TransitionError, match=f"is '{state}': '{forbidden}' is not allowed"):
            do(forbidden)
        assert objections.get(s, oid).status == state


def test_machine_lists_every_state() -> None:
    assert set(objections.MACHINE.states) == set(objections.STATUSES)
    assert objections.MACHINE.allowed("upheld") == ("withdraw",)


def test_bad_filing_names_the_field(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as s:
        with pytest.raises(objections.ObjectionError, match="uscc '913'"):
            objections.file(
                s,
                actor=PARTY,
                uscc="913",
                record_table="penalties",
                record_id="x",
                grounds="g",
                department="d",
                filed_on=FILED,
            )
        with pytest.raises(objections.ObjectionError, match="record_table 'entities'"):
            objections.file(
                s,
                actor=PARTY,
                uscc=E[0],
                record_table="entities",
                record_id="x",
                grounds="g",
                department="d",
                filed_on=FILED,
            )
        with pytest.raises(NotFound):
            objections.mark(s, "OBJ-NOPE", actor=OFFICER, on=FILED)


def test_overdue_report_counts_working_days_late(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as s:
        late = _file(s).objection_id
        marked = _file(s, record_id="P-FOOD", uscc=E[1]).objection_id
        objections.mark(s, marked, actor=OFFICER, on=date(2026, 10, 8))
        assert objections.overdue(s, on=date(2026, 10, 8)) == []
        report = objections.overdue(s, on=date(2026, 10, 14))
        got = {(r["objection_id"], r["deadline"], r["working_days_late"]) for r in report}
        # mark due 8 Oct: 9, 10, 12, 13, 14 Oct are 5 WD later; decide due 13 Oct: 1 WD later.
        assert got == {(late, "mark", 5), (late, "decide", 1), (marked, "decide", 1)}


def _decide_into_lake(
    db_engine: sa.Engine, tmp_path: Path, *, record_table: str, record_id: str, uscc: str, resolution: str
) -> objections.Decision:
    lake = build_lake(tmp_path)
    with session_scope(db_engine) as s:
        oid = objections.file(
            s,
            actor=PARTY,
            uscc=uscc,
            record_table=record_table,
            record_id=record_id,
            grounds="列入错误",
            department="盐城市市场监管局",
            filed_on=date(2026, 11, 2),
        ).objection_id
        objections.mark(s, oid, actor=OFFICER, on=date(2026, 11, 3))
        return objections.decide(
            s,
            oid,
            actor=OFFICER,
            on=date(2026, 11, 5),
            upheld=True,
            reasons="依据已撤销",
            resolution=resolution,
            lake=lake,
        )


def test_upheld_revocation_changes_the_features(db_engine: sa.Engine, tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    before = build_lake(tmp_path / "before")
    as_of = date(2026, 11, 10)
    old = build_features(sources(before.dir), as_of=as_of).filter(pl.col("uscc") == E[0]).collect()
    _decide_into_lake(
        db_engine, tmp_path, record_table="penalties", record_id="P-GEN", uscc=E[0], resolution="revoked"
    )
    new = build_features(sources(lake_dir), as_of=as_of).filter(pl.col("uscc") == E[0]).collect()
    assert old["penalties_n_1095d"].item() == 1
    assert new["penalties_n_1095d"].item() == 0
    assert new["objections_upheld_n_1095d"].item() == 1
    # The decision is not known before its date: as of the decision day the penalty still counts.
    same_day = build_features(sources(lake_dir), as_of=date(2026, 11, 5)).filter(pl.col("uscc") == E[0])
    assert same_day.collect()["penalties_n_1095d"].item() == 1
    row = scan(lake_dir, "objections").collect().row(0, named=True)
    assert (row["outcome"], row["resolution"], row["marked_on"]) == ("upheld", "revoked", date(2026, 11, 3))


def test_wrongful_listing_removed_with_notice(db_engine: sa.Engine, tmp_path: Path) -> None:
    decision = _decide_into_lake(
        db_engine, tmp_path, record_table="list_entries", record_id="L-SEV", uscc=E[4], resolution="revoked"
    )
    assert decision.notice is not None and "L-SEV" in decision.notice and "移出名单" in decision.notice
    as_of = date(2026, 11, 6)
    features = (
        build_features(sources(tmp_path / "lake"), as_of=as_of).filter(pl.col("uscc") == E[4]).collect()
    )
    before = build_features(sources(tmp_path / "lake"), as_of=date(2026, 11, 5)).filter(
        pl.col("uscc") == E[4]
    )
    assert before.collect()["severe_dishonesty_days_listed"].item() > 0
    assert not features["severe_dishonesty_days_listed"].item()


def test_lake_refusal_rolls_the_decision_back(db_engine: sa.Engine, tmp_path: Path) -> None:
    lake = build_lake(tmp_path)
    stranger = complete("91320902MA9999999")
    with session_scope(db_engine) as s:
        oid = objections.file(
            s,
            actor=PARTY,
            uscc=stranger,
            record_table="penalties",
            record_id="X",
            grounds="g",
            department="d",
            filed_on=date(2026, 11, 2),
        ).objection_id
        objections.mark(s, oid, actor=OFFICER, on=date(2026, 11, 2))
    # A valid code of an entity the lake does not know: the references check refuses the row.
    with pytest.raises(RecordRejected, match="uscc: references"), session_scope(db_engine) as s:
        objections.decide(
            s,
            oid,
            actor=OFFICER,
            on=date(2026, 11, 3),
            upheld=True,
            reasons="r",
            resolution="revoked",
            lake=lake,
        )
    with session_scope(db_engine) as s:
        assert objections.get(s, oid).status == "marked"
    assert scan(lake.dir, "objections").collect().height == 0
