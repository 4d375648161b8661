"""Joint-punishment lists as a state machine: notice, listing, rectification, interview, exits, outbox."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from features.build import build_features
from features.ingest import ingest_paths
from features.lake import scan, sources
from supervision.lifecycle import lists, objections, repairs
from supervision.lifecycle.records import Lake
from supervision.lifecycle.workflow import Actor, TransitionError
from supervision.platform.db import session_scope
from tests.supervision.lifecycle_lake import OFFICER, PARTY, SALT, TODAY, E, build_lake

DEPT = "盐城市市场监管局"
PROPOSED = date(2025, 3, 3)  # Monday


# E[2]'s serious licence revocation (P-REVOKE, 2024-05-06) meets the severe list's criteria.
LISTED = E[2]
BASIS = "P-REVOKE"


@pytest.fixture(scope="module")
def ro(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.LazyFrame]:
    """The lifecycle lake's sources, read only (tests that write to the lake build their own)."""
    return sources(build_lake(tmp_path_factory.mktemp("lists-lake")).dir)


def _propose(s: sa.orm.Session, src: Mapping[str, pl.LazyFrame], uscc: str = LISTED) -> lists.ListCase:
    return lists.propose(
        s,
        src,
        actor=OFFICER,
        uscc=uscc,
        list_type="severe_dishonesty",
        department=DEPT,
        reasons="提供虚假材料取得许可",
        basis="市场监督管理严重违法失信名单管理办法第二条",
        proposed_on=PROPOSED,
    )


def _list(
    s: sa.orm.Session,
    src: Mapping[str, pl.LazyFrame],
    case_id: str,
    on: date = date(2025, 3, 11),
    lake: Lake | None = None,
) -> lists.ListCase:
    return lists.list_case(s, case_id, src, actor=OFFICER, on=on, basis_document_no=BASIS, lake=lake)


def test_notice_then_listing_fixes_periods_from_the_policy(
    ro: dict[str, pl.LazyFrame], db_engine: sa.Engine
) -> None:
    with session_scope(db_engine) as s:
        case = _propose(s, ro)
        # Response within 5 WD (tag U) of Mon 3 Mar 2025: Mon 10 Mar.
        assert case.response_due == date(2025, 3, 10)
        assert "陈述、申辩" in case.notice and "2025-03-10" in case.notice and "提供虚假材料" in case.notice
        assert "严重失信主体名单" in case.notice
        with pytest.raises(lists.ListError, match="may respond until 2025-03-10"):
            _list(s, ro, case.case_id, on=date(2025, 3, 10))
        _list(s, ro, case.case_id)
        # SAMR Order 44 (from 2021-09-01): early exit after 1 year, automatic after 3; rectify within 30 days.
        assert (case.min_exit_on, case.max_end) == (date(2026, 3, 11), date(2028, 3, 11))
        assert case.rectification_due == date(2025, 4, 10)


def test_response_allows_listing_before_the_deadline(
    ro: dict[str, pl.LazyFrame], db_engine: sa.Engine
) -> None:
    with session_scope(db_engine) as s:
        case = _propose(s, ro)
        lists.respond(s, case.case_id, actor=PARTY, response="我方已补正材料")
        _list(s, ro, case.case_id, on=date(2025, 3, 5))
        assert case.status == "listed"


def test_interview_by_the_listing_department_after_the_deadline(
    ro: dict[str, pl.LazyFrame], db_engine: sa.Engine
) -> None:
    with session_scope(db_engine) as s:
        case = _propose(s, ro)
        _list(s, ro, case.case_id)
        assert lists.interviews_due(s, on=date(2025, 4, 10)) == []
        assert [c.case_id for c in lists.interviews_due(s, on=date(2025, 4, 11))] == [case.case_id]
        with pytest.raises(lists.ListError, match="谁认定、谁约谈"):
            lists.interview(
                s, case.case_id, actor=OFFICER, on=date(2025, 4, 11), department="税务局", reason="逾期"
            )
        with pytest.raises(lists.ListError, match="has not passed"):
            lists.interview(
                s, case.case_id, actor=OFFICER, on=date(2025, 4, 10), department=DEPT, reason="逾期"
            )
        lists.interview(
            s, case.case_id, actor=OFFICER, on=date(2025, 4, 11), department=DEPT, reason="逾期未整改"
        )
        assert case.interviewed_on == date(2025, 4, 11)
        assert lists.interviews_due(s, on=date(2025, 5, 1)) == []


def test_exit_on_application_after_the_minimum_and_outbox(
    ro: dict[str, pl.LazyFrame], db_engine: sa.Engine
) -> None:
    with session_scope(db_engine) as s:
        case = _propose(s, ro)
        _list(s, ro, case.case_id)
        with pytest.raises(TransitionError, match="'exit_on_application' is not allowed"):
            lists.exit_on_application(s, case.case_id, actor=OFFICER, on=date(2026, 4, 1))
        lists.rectify(s, case.case_id, actor=OFFICER, on=date(2025, 4, 1))
        with pytest.raises(lists.ListError, match="from 2026-03-11"):
            lists.exit_on_application(s, case.case_id, actor=OFFICER, on=date(2026, 3, 10))
        lists.exit_on_application(s, case.case_id, actor=OFFICER, on=date(2026, 3, 11))
        assert (case.status, case.exit_reason) == ("exited", "repaired")
        events = lists.events_after(s, 0)
        assert [(e.event, e.case_id, e.reason) for e in events] == [
            ("listed", case.case_id, None),
            ("exited", case.case_id, "repaired"),
        ]
        assert lists.events_after(s, events[0].id) == events[1:]


def test_automatic_exit_at_the_maximum(ro: dict[str, pl.LazyFrame], db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as s:
        case = _propose(s, ro)
        _list(s, ro, case.case_id)
        assert lists.expire(s, actor=OFFICER, on=date(2028, 3, 10)) == []
        assert lists.expire(s, actor=OFFICER, on=date(2028, 6, 1)) == [case]
        assert (case.exited_on, case.exit_reason) == (date(2028, 3, 11), "expired")


@pytest.mark.parametrize(
    ("path", "forbidden"),
    [
        ((), "rectify"),
        ((), "interview"),
        ((), "expire"),
        (("withdraw",), "list"),
        (("list",), "list"),
        (("list",), "withdraw"),
        (("list", "rectify"), "rectify"),
        (("list", "rectify"), "interview"),
        (("list", "revoke"), "rectify"),
        (("list", "revoke"), "revoke"),
    ],
)
def test_forbidden_transitions(
    ro: dict[str, pl.LazyFrame], db_engine: sa.Engine, path: tuple[str, ...], forbidden: str
) -> None:
    on = date(2025, 3, 11)
    with session_scope(db_engine) as s:
        cid = _propose(s, ro).case_id
        actions = {
            "list": lambda: _list(s, ro, cid),
            "withdraw": lambda: lists.withdraw(s, cid, actor=OFFICER, on=on, reasons="采纳申辩"),
            "rectify": lambda: lists.rectify(s, cid, actor=OFFICER, on=on),
            "interview": lambda: lists.interview(
                s, cid, actor=OFFICER, on=date(2025, 5, 1), department=DEPT, reason="r"
            ),
            "expire": lambda: lists._exit(s, lists.get(s, cid), "expire", "expired", OFFICER, on),
            "revoke": lambda: lists.revoke(s, cid, actor=OFFICER, on=on),
        }
        for action in path:
            actions[action]()
        state = lists.get(s, cid).status
        with pytest.raises(TransitionError, match=f"is '{state}': '{forbidden}' is not allowed"):
            actions[forbidden]()


def test_lake_sees_listing_interview_exit_and_accountable_persons(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    lake = build_lake(tmp_path)
    src = tmp_path / "people"
    src.mkdir()
    pl.DataFrame({"id_number": ["11010519491231002X"], "name": ["王五"]}).write_csv(src / "persons.csv")
    pl.DataFrame(
        {
            "relation_id": ["R1", "R2"],
            "uscc": [LISTED, E[0]],
            "relation_type": ["legal_representative", "legal_representative"],
            "person_id_number": ["11010519491231002X", "11010519491231002X"],
            "valid_from": [date(2016, 1, 1), date(2016, 1, 1)],
        }
    ).write_csv(src / "relations.csv")
    reports = ingest_paths([src], lake_dir=lake.dir, salt=SALT, today=TODAY)
    assert all(r.rows_quarantined == 0 for r in reports)
    as_of = date(2025, 3, 20)
    with session_scope(db_engine) as s:
        case = _propose(s, sources(lake.dir))
        _list(s, sources(lake.dir), case.case_id, lake=lake)
        key = case.accountable[0]["person_key"]
        assert case.accountable == [{"person_key": key, "relation_type": "legal_representative"}]
        flags = lists.person_flags(s, sources(lake.dir), key, on=date(2025, 3, 11))
        assert [(f["case_id"], f["source"], f["active"]) for f in flags] == [(case.case_id, "case", True)]
    features = build_features(sources(lake.dir), as_of=as_of)
    row = features.filter(pl.col("uscc") == LISTED).collect()
    assert row["severe_dishonesty_days_listed"].item() == 9
    # E[0] shares the legal representative: the related-party feature sees the listing.
    assert features.filter(pl.col("uscc") == E[0]).collect()["person_accountable_for_listed"].item()
    entry = (
        scan(lake.dir, "list_entries").filter(pl.col("entry_id") == case.case_id).collect().row(0, named=True)
    )
    assert (entry["planned_end"], entry["basis_document_no"]) == (date(2028, 3, 11), BASIS)
    with session_scope(db_engine) as s:
        lists.interview(
            s, case.case_id, actor=OFFICER, on=date(2025, 4, 11), department=DEPT, reason="逾期", lake=lake
        )
        lists.rectify(s, case.case_id, actor=OFFICER, on=date(2025, 4, 20))
        lists.exit_on_application(s, case.case_id, actor=OFFICER, on=date(2026, 3, 11), lake=lake)
    assert scan(lake.dir, "interviews").collect()["related_record"].to_list() == [case.case_id]
    after = (
        build_features(sources(lake.dir), as_of=date(2026, 3, 20)).filter(pl.col("uscc") == LISTED).collect()
    )
    assert not after["severe_dishonesty_days_listed"].item()


def test_upheld_objection_revokes_the_case(ro: dict[str, pl.LazyFrame], db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as s:
        case = _propose(s, ro)
        _list(s, ro, case.case_id)
        oid = objections.file(
            s,
            actor=PARTY,
            uscc=LISTED,
            record_table="list_entries",
            record_id=case.case_id,
            grounds="依据已撤销",
            department=DEPT,
            filed_on=date(2025, 3, 12),
        ).objection_id
        objections.mark(s, oid, actor=OFFICER, on=date(2025, 3, 12))
        decision = objections.decide(
            s,
            oid,
            actor=OFFICER,
            on=date(2025, 3, 13),
            upheld=True,
            reasons="认定文书已被撤销",
            resolution="revoked",
        )
        assert decision.notice is not None
        assert (case.status, case.exit_reason) == ("exited", "revoked")
        assert [e.event for e in lists.events_after(s)] == ["listed", "exited"]


def test_approved_repair_of_the_entry_exits_the_case(
    ro: dict[str, pl.LazyFrame], db_engine: sa.Engine, tmp_path: Path
) -> None:
    lake = build_lake(tmp_path)
    with session_scope(db_engine) as s:
        case = _propose(s, ro)
        _list(s, sources(lake.dir), case.case_id, lake=lake)
        src = sources(lake.dir)
        row = repairs.apply(
            s,
            src,
            actor=PARTY,
            uscc=LISTED,
            record_table="list_entries",
            record_id=case.case_id,
            department=DEPT,
            applied_on=date(2026, 3, 11),
            commitment="承诺",
            obligations_evidence="已整改",
        )
        repairs.accept(s, row.repair_id, actor=OFFICER, on=date(2026, 3, 12))
        repairs.approve(s, row.repair_id, src, actor=OFFICER, on=date(2026, 3, 13), lake=lake)
        assert (case.status, case.exit_reason, case.exited_on) == ("exited", "repaired", date(2026, 3, 13))
        assert [e.event for e in lists.events_after(s)] == ["listed", "exited"]


def test_the_second_approver_is_recorded_once_before_listing(
    ro: dict[str, pl.LazyFrame], db_engine: sa.Engine
) -> None:
    with session_scope(db_engine) as s:
        case = lists.propose(
            s,
            ro,
            actor=OFFICER,
            uscc=LISTED,
            list_type="severe_dishonesty",
            department=DEPT,
            reasons="r",
            basis="b",
            proposed_on=PROPOSED,
            person_id="ZF001",
        )
        assert (case.proposed_by, case.proposer_person_id, case.approved_on) == (OFFICER.name, "ZF001", None)
        second = Actor("officer-wang", role="supervisor", department=DEPT)
        lists.approve(s, case.case_id, actor=second, on=date(2025, 3, 4), person_id="ZF002")
        assert (case.approved_by, case.approver_person_id, case.approved_on) == (
            "officer-wang",
            "ZF002",
            date(2025, 3, 4),
        )
        with pytest.raises(lists.ListError, match="already approved on 2025-03-04") as refused:
            lists.approve(s, case.case_id, actor=second, on=date(2025, 3, 5), person_id="ZF002")
        assert refused.value.kind == "conflict"
        _list(s, ro, case.case_id)
        with pytest.raises(TransitionError, match="'approve' is not allowed"):
            lists.approve(s, case.case_id, actor=second, on=date(2025, 3, 12), person_id="ZF003")


def test_expire_and_interviews_due_of_one_department(
    ro: dict[str, pl.LazyFrame], db_engine: sa.Engine
) -> None:
    with session_scope(db_engine) as s:
        case = _propose(s, ro)
        _list(s, ro, case.case_id)
        assert lists.interviews_due(s, on=date(2025, 4, 11), department="税务局") == []
        assert lists.interviews_due(s, on=date(2025, 4, 11), department=DEPT) == [case]
        assert lists.expire(s, actor=OFFICER, on=date(2028, 6, 1), department="税务局") == []
        assert case.status == "listed"
        assert lists.expire(s, actor=OFFICER, on=date(2028, 6, 1), department=DEPT) == [case]
