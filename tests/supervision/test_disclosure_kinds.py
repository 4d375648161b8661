"""双公示 of the ten kinds (issue 14): registration of every kind, warnings by authority (a policy key), the
national 7-WD clock and the inspection results' parallel 20-WD clock on the real Chinese calendar, the
withdrawal of a revoked decision and its overdue, the publicity end of each kind, minors never shown, and the
public search's refusals (hostile strings, year 9999, pages over 100)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.identity import check_digit
from features.ingest import ingest_paths
from features.lake import sources
from serving.api.app import create_app
from serving.services import disclosure as service
from serving.services.context import THE_PUBLIC, Context, Door
from serving.settings import Settings
from supervision.lifecycle import disclosure, objections
from supervision.lifecycle.records import Lake, write_rows
from supervision.lifecycle.regimes import PolicyError, default_policy, parse_policy
from supervision.lifecycle.workflow import TransitionError
from supervision.platform.calendar import add_working_days, working_days_between
from supervision.platform.db import make_engine, session_scope, upgrade
from supervision.platform.errors import DomainError
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import error as _error
from tests.supervision.lifecycle_lake import (
    AUTHORITY,
    AUTHORITY_USCC,
    OFFICER,
    PARTY,
    SALT,
    TODAY,
    E,
    build_lake,
)

ENVIRONMENT = "盐城市生态环境局"
ENV_USCC = AUTHORITY_USCC
MINOR_ID = "11010520150101001" + check_digit("11010520150101001")
# Wed 30 September 2026: 7 WD → Thu 15 October (the National Day week skipped); 20 WD → Tue 3 November
# (Sat 10 October a make-up working day).
DECIDED = date(2026, 9, 30)
DUE_7, DUE_20 = date(2026, 10, 15), date(2026, 11, 3)
SEVEN = {
    "enforcement": "D-ENF",
    "confirmation": "D-CONF",
    "levy": "D-LEVY",
    "benefit": "D-BEN",
    "adjudication": "D-ADJ",
    "compensation": "D-COMP",
    "reward": "D-REW",
}


def _decision(did: str, kind: str, uscc: str, **extra: object) -> dict[str, object]:
    return {
        "decision_id": did,
        "uscc": uscc,
        "kind": kind,
        "title": f"{disclosure.KINDS[kind]}决定",
        "content": "依法作出决定，联系电话13812345678",
        "basis": "依据",
        "decided_on": DECIDED,
        "authority": "盐城市人力资源和社会保障局",
        "authority_uscc": AUTHORITY_USCC,
        "severity": None,
        "publicity_until": None,
        **extra,
    }


def _penalty(no: str, authority: str, kind: str) -> dict[str, object]:
    return {
        "decision_no": no,
        "uscc": E[6],
        "party_name": "测试公司6",
        "violation_type": "未按规定公示",
        "basis": "依据",
        "penalty_kind": kind,
        "fine_amount": 0.0,
        "domain": "other",
        "severity": "minor",
        "decided_on": DECIDED,
        "authority": authority,
        "authority_uscc": ENV_USCC,
    }


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """The lifecycle lake plus: a warning of the environment bureau (W-ENV) and one of market supervision
    (W-MS); a licence; an inspection of market supervision (I-1); one decision of each of the seven other
    kinds (D-LEVY with its own 公示截止期), and D-MINOR of E[2], whose legal representative is a minor."""
    lake = build_lake(tmp_path)
    src = tmp_path / "kinds"
    src.mkdir()
    pl.DataFrame({"id_number": [MINOR_ID], "name": ["小明"]}).write_csv(src / "persons.csv")
    pl.DataFrame(
        {
            "relation_id": ["R-MINOR"],
            "uscc": [E[2]],
            "relation_type": ["legal_representative"],
            "person_id_number": [MINOR_ID],
            "valid_from": [date(2020, 1, 1)],
        }
    ).write_csv(src / "relations.csv")
    pl.DataFrame(
        [_penalty("W-ENV", ENVIRONMENT, "warning"), _penalty("W-MS", AUTHORITY, "warning")]
    ).write_parquet(src / "penalties-warnings.parquet")
    pl.DataFrame(
        {
            "licence_id": ["LIC-K"],
            "uscc": [E[0]],
            "licence_name": ["食品经营许可证"],
            "matter": ["食品经营"],
            "decided_on": [DECIDED],
            "authority": ["盐城市行政审批局"],
        }
    ).write_parquet(src / "licences.parquet")
    pl.DataFrame(
        {
            "inspection_id": ["I-1"],
            "task_id": ["T-1"],
            "uscc": [E[1]],
            "department": [AUTHORITY],
            "inspected_on": [DECIDED],
            "inspectors": ["INS-1;INS-2"],
            "outcome": ["violation"],
            "findings": ["未按规定公示年度报告"],
            "selection_probability": [0.05],
            "in_control_slice": [False],
        }
    ).write_parquet(src / "inspections.parquet")
    rows = [_decision(did, kind, E[0]) for kind, did in SEVEN.items()]
    rows[2]["publicity_until"] = date(2026, 12, 31)  # D-LEVY
    rows.append(_decision("D-MINOR", "benefit", E[2]))
    pl.DataFrame(rows).write_parquet(src / "decisions.parquet")
    reports = ingest_paths([src], lake_dir=lake.dir, salt=SALT, today=TODAY)
    assert all(r.rows_quarantined == 0 for r in reports), reports
    return lake


def _publish_all(s: sa.orm.Session, on: date) -> None:
    for t, rid in s.execute(
        sa.select(disclosure.Disclosure.record_table, disclosure.Disclosure.record_id).where(
            disclosure.Disclosure.status == "pending"
        )
    ).all():
        disclosure.publish(s, t, rid, actor=OFFICER, on=on)


def test_the_ten_kinds_are_registered_with_their_clocks(db_engine: sa.Engine, lake: Lake) -> None:
    with session_scope(db_engine) as s:
        added = disclosure.register_from_lake(s, sources(lake.dir))
        # 7 base penalties + W-ENV (W-MS is market supervision's warning) + LIC-K + I-1 + 8 decisions.
        assert added == 7 + 1 + 1 + 1 + 8
        rows = {r.record_id: r for r in s.scalars(sa.select(disclosure.Disclosure))}
    assert {r.kind for r in rows.values()} == set(disclosure.KINDS)
    assert "W-MS" not in rows and rows["W-ENV"].kind == "penalty"
    for kind, did in SEVEN.items():
        row = rows[did]
        assert (row.kind, row.record_table, row.department) == (
            kind,
            "decisions",
            "盐城市人力资源和社会保障局",
        )
        assert row.due_on == DUE_7 == add_working_days(DECIDED, 7)
        assert row.rule["kind"] == "disclosure.publish" and row.due_on_samr is None
    # Inspection results: the national 7 WD and, in parallel, the publicity system's 20 WD.
    ins = rows["I-1"]
    assert (ins.kind, ins.due_on, ins.rule["kind"]) == ("inspection", DUE_7, "disclosure.publish")
    assert ins.due_on_samr == DUE_20 == add_working_days(DECIDED, 20)
    assert ins.rule_samr is not None and ins.rule_samr["kind"] == "disclosure.publish_inspection"
    # A licence of a non-market authority: 7 WD; market supervision's penalties keep Order 45's 20 WD.
    assert rows["LIC-K"].due_on == DUE_7 and rows["W-ENV"].due_on == DUE_7
    assert rows["P-GEN"].rule["kind"] == "disclosure.publish_samr"


def _policy_with(warnings: str) -> str:
    text = (Path(disclosure.__file__).parent / "policy" / "lifecycle.toml").read_text(encoding="utf-8")
    old = 'warnings_published_by = ["national"]'
    assert old in text
    return text.replace(old, f"warnings_published_by = {warnings}")


def test_which_authorities_publish_warnings_is_a_policy_key(db_engine: sa.Engine, lake: Lake) -> None:
    none = parse_policy(_policy_with("[]"), origin="no-warnings")
    with session_scope(db_engine) as s:
        disclosure.register_from_lake(s, sources(lake.dir), policy=none)
        ids = set(s.scalars(sa.select(disclosure.Disclosure.record_id)))
    assert "W-ENV" not in ids and "W-MS" not in ids
    # Naming the market-supervision regime is refused: Order 45 art 2 publishes no warning.
    samr = parse_policy(_policy_with('["national", "samr"]'), origin="samr-warnings")
    with pytest.raises(PolicyError, match="Order 45 art 2"):
        disclosure.warnings_published(samr)
    with pytest.raises(PolicyError, match="warnings_published_by"):
        disclosure.warnings_published(parse_policy(_policy_with('["nowhere"]'), origin="bad"))


def test_overdue_names_the_clock_missed(db_engine: sa.Engine, lake: Lake) -> None:
    with session_scope(db_engine) as s:
        disclosure.register_from_lake(s, sources(lake.dir))
        # 20 October: I-1 missed the national clock (3 WD late), not yet the 20-WD one.
        early = [r for r in disclosure.overdue_records(s, on=date(2026, 10, 20)) if r["record_id"] == "I-1"]
        assert [(r["clock"], r["due"], r["working_days_late"]) for r in early] == [
            ("disclosure.publish", DUE_7, 3)
        ]
        # 5 November: both clocks missed, each with its own lateness on the calendar.
        late = {
            r["clock"]: r["working_days_late"]
            for r in disclosure.overdue_records(s, on=date(2026, 11, 5))
            if r["record_id"] == "I-1"
        }
        assert late == {
            "disclosure.publish": working_days_between(DUE_7, date(2026, 11, 5)),
            "disclosure.publish_inspection": 2,
        }
        # The department report counts the inspection once.
        dept = {r["department"]: r for r in disclosure.overdue_report(s, on=date(2026, 11, 5))}
        assert dept[AUTHORITY]["oldest_due"] <= DUE_7
        published = disclosure.publish(s, "inspections", "I-1", actor=OFFICER, on=date(2026, 10, 20))
        assert published.status == "published"
        assert not [r for r in disclosure.overdue_records(s, on=date(2026, 11, 5)) if r["record_id"] == "I-1"]
        # A publication before the decision stays refused, for every kind.
        with pytest.raises(disclosure.DisclosureError, match="before the decision") as early_pub:
            disclosure.publish(s, "decisions", "D-ENF", actor=OFFICER, on=date(2026, 9, 29))
        assert early_pub.value.field == "on"


def _revoke_in_lake(lake: Lake, record_table: str, record_id: str, uscc: str, on: date) -> None:
    write_rows(
        lake,
        "objections",
        [
            {
                "objection_id": f"O-{record_id}",
                "uscc": uscc,
                "record_table": record_table,
                "record_id": record_id,
                "filed_on": on - timedelta(days=7),
                "marked_on": on - timedelta(days=6),
                "decided_on": on,
                "outcome": "upheld",
                "resolution": "revoked",
            }
        ],
        source="test",
        today=TODAY,
    )


def test_a_revoked_decision_is_withdrawn_within_the_policy_days(db_engine: sa.Engine, lake: Lake) -> None:
    revoked_on = date(2026, 11, 2)  # Monday: 3 WD → Thursday 5 November
    with session_scope(db_engine) as s:
        disclosure.register_from_lake(s, sources(lake.dir))
        _publish_all(s, date(2026, 10, 9))
    # D-ENF revoked by an objection in the lake; I-1 by an objection upheld in the register (not in the lake).
    _revoke_in_lake(lake, "decisions", "D-ENF", E[0], revoked_on)
    with session_scope(db_engine) as s:
        filed = objections.file(
            s,
            actor=PARTY,
            uscc=E[1],
            record_table="inspections",
            record_id="I-1",
            grounds="检查结论有误",
            department=AUTHORITY,
            filed_on=date(2026, 10, 26),
        )
        objections.mark(s, filed.objection_id, actor=OFFICER, on=date(2026, 10, 27))
        objections.decide(
            s,
            filed.objection_id,
            actor=OFFICER,
            on=revoked_on,
            upheld=True,
            reasons="抽查对象有误",
            resolution="revoked",
        )
        assert disclosure.register_from_lake(s, sources(lake.dir)) == 0
        for rid in ("D-ENF", "I-1"):
            row = disclosure.get(s, "decisions" if rid == "D-ENF" else "inspections", rid)
            assert row.revoked_on == revoked_on and row.withdraw_due == date(2026, 11, 5)
            assert row.withdraw_due == add_working_days(revoked_on, 3)
            assert row.withdraw_rule is not None and row.withdraw_rule["kind"] == "disclosure.withdraw"
        # Thursday 5 November is the last day; on Monday 9 November both are overdue (2 WD late).
        assert not [
            r
            for r in disclosure.overdue_records(s, on=date(2026, 11, 5))
            if r["clock"] == "disclosure.withdraw"
        ]
        overdue = {
            r["record_id"]: r["working_days_late"]
            for r in disclosure.overdue_records(s, on=date(2026, 11, 9))
            if r["clock"] == "disclosure.withdraw"
        }
        assert overdue == {"D-ENF": 2, "I-1": 2}
        # The lake's revocation already hides D-ENF; I-1 (revoked in the register only) until withdrawn.
        shown = set(
            disclosure.public_export(s, sources(lake.dir), on=date(2026, 11, 9), mask_name=lambda v: "*")[
                "record_id"
            ]
        )
        assert "D-ENF" not in shown and "I-1" in shown
        with pytest.raises(disclosure.DisclosureError, match="reason") as no_reason:
            disclosure.withdraw(s, "inspections", "I-1", actor=OFFICER, on=date(2026, 11, 9), reason="  ")
        assert no_reason.value.field == "reason"
        with pytest.raises(disclosure.DisclosureError, match="before the publication") as early:
            disclosure.withdraw(s, "inspections", "I-1", actor=OFFICER, on=date(2026, 10, 8), reason="撤销")
        assert early.value.field == "on"
        done = disclosure.withdraw(
            s, "inspections", "I-1", actor=OFFICER, on=date(2026, 11, 9), reason="异议成立，检查结论撤销"
        )
        assert (done.status, done.withdrawn_on) == ("withdrawn", date(2026, 11, 9))
        with pytest.raises(TransitionError):
            disclosure.withdraw(s, "inspections", "I-1", actor=OFFICER, on=date(2026, 11, 9), reason="再次")
        overdue_after = [r["record_id"] for r in disclosure.overdue_records(s, on=date(2026, 11, 9))]
        assert "I-1" not in overdue_after and "D-ENF" in overdue_after
        # Shown the day before the withdrawal (a look back), gone from it on.
        before = disclosure.public_export(s, sources(lake.dir), on=date(2026, 11, 8), mask_name=lambda v: "*")
        after = disclosure.public_export(s, sources(lake.dir), on=date(2026, 11, 9), mask_name=lambda v: "*")
        assert "I-1" in set(before["record_id"]) and "I-1" not in set(after["record_id"])
        # The register's objection no longer reports a withdrawal to do.
        assert not [o for o in objections.overdue(s, on=date(2026, 11, 9)) if o["deadline"] == "withdraw"]


def test_a_revoked_decision_is_never_published(db_engine: sa.Engine, lake: Lake) -> None:
    _revoke_in_lake(lake, "decisions", "D-BEN", E[0], date(2026, 10, 12))
    with session_scope(db_engine) as s:
        disclosure.register_from_lake(s, sources(lake.dir))
        with pytest.raises(disclosure.DisclosureError, match="revoked"):
            disclosure.publish(s, "decisions", "D-BEN", actor=OFFICER, on=date(2026, 10, 13))
        # Not overdue for publication; withdrawing the pending record closes it.
        assert "D-BEN" not in {r["record_id"] for r in disclosure.overdue_records(s, on=date(2026, 11, 20))}
        row = disclosure.withdraw(
            s, "decisions", "D-BEN", actor=OFFICER, on=date(2026, 10, 13), reason="已撤销"
        )
        assert row.status == "withdrawn" and row.published_on is None


def _shown(s: sa.orm.Session, lake: Lake, on: date) -> set[str]:
    frame = disclosure.public_export(
        s, sources(lake.dir), on=on, mask_name=lambda v: v[0] + "*" * (len(v) - 1)
    )
    return set(frame["record_id"])


def test_each_kind_leaves_the_public_pages_when_its_period_ends(db_engine: sa.Engine, lake: Lake) -> None:
    policy = default_policy()
    with session_scope(db_engine) as s:
        disclosure.register_from_lake(s, sources(lake.dir))
        _publish_all(s, DECIDED)
        on = date(2026, 11, 27)
        shown = _shown(s, lake, on)
        # Every kind is on the public pages; the minor's decision never is.
        assert set(SEVEN.values()) | {"I-1", "LIC-K", "W-ENV"} <= shown
        assert "D-MINOR" not in shown
        # publicity.<kind> (1 year, [U]) unless the record gives its own end (D-LEVY: 31 December 2026).
        year = policy.rules_for("publicity.reward", on=DECIDED).end(DECIDED)
        assert year == date(2027, 9, 30)
        assert "D-LEVY" in _shown(s, lake, date(2026, 12, 30)) and "D-LEVY" not in _shown(
            s, lake, date(2026, 12, 31)
        )
        last, gone = _shown(s, lake, date(2027, 9, 29)), _shown(s, lake, year)
        for did in ("D-REW", "D-ENF", "D-CONF", "D-BEN", "D-ADJ", "D-COMP", "I-1"):
            assert did in last and did not in gone, did
        # The environment bureau's warning: a minor penalty, 3 months (publicity.penalty.minor, Order 36).
        assert "W-ENV" in _shown(s, lake, date(2026, 12, 29)) and "W-ENV" not in _shown(
            s, lake, date(2026, 12, 30)
        )
        # A licence without an end of validity: publicity.licence (3 years).
        assert "LIC-K" in _shown(s, lake, date(2029, 9, 29)) and "LIC-K" not in _shown(
            s, lake, date(2029, 9, 30)
        )
        frame = disclosure.public_export(s, sources(lake.dir), on=on, mask_name=lambda v: "*")
    # Free text masked, as for penalties (a phone number in a decision's content).
    assert "13812345678" not in frame.write_csv()
    kinds = dict(zip(frame["record_id"], frame["kind"], strict=True))
    assert kinds["I-1"] == "inspection" and kinds["D-ADJ"] == "adjudication"


# ------------------------------------------------------------------------------------- the public search
HOSTILE = [
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    ".*",
    "(unclosed[",
    "%_\\",
    "\u202e测试\ufeff",
    "ＤＲＯＰ TABLE disclosures;",
]


@pytest.fixture
def app_settings(settings: Settings, tmp_path: Path, lake: Lake) -> Settings:
    """An app home whose lake is this module's (registered, everything published on the decision day)."""
    engine = make_engine(settings.db_url)
    upgrade(engine)
    settings.lake_dir.parent.mkdir(parents=True, exist_ok=True)
    if settings.lake_dir.exists():
        settings.lake_dir.rmdir()
    settings.lake_dir.symlink_to(lake.dir, target_is_directory=True)
    with session_scope(engine) as s:
        disclosure.register_from_lake(s, sources(settings.lake_dir))
        _publish_all(s, DECIDED)
    engine.dispose()
    return settings


def test_the_search_refuses_bad_input_cleanly(app_settings: Settings) -> None:
    # The public sees today's publication only: the app's today is the day the test looks at.
    with TestClient(create_app(app_settings, clock=china_half_past_midnight(date(2026, 11, 27)))) as client:
        for q in HOSTILE:
            body = client.get("/disclosure/search", params={"q": q, "on": "2026-11-27"})
            assert body.status_code == 200, (q, body.text)
            assert body.json()["total"] == 0, q
        # A literal match, not a pattern: "." matches nothing in these ids, "D-" matches the seven kinds.
        assert client.get("/disclosure/search", params={"q": "d-", "on": "2026-11-27"}).json()["total"] == 7
        for params, field in (
            ({"per_page": 101}, "per_page"),
            ({"page": 0}, "page"),
            ({"q": "x" * 101}, "q"),
            ({"on": "9999-12-31"}, "on"),
            ({"decided_from": "9999-01-01"}, "decided_from"),
            ({"decided_to": "9999-13-01"}, "decided_to"),
            ({"kind": "warning"}, "kind"),
            ({"decided_from": "2026-10-01", "decided_to": "2026-09-01"}, "decided_to"),
        ):
            refused = _error(client.get("/disclosure/search", params=params), 422, "validation")
            # Named as the request spells it (`query.per_page` from the route's bounds, `on` by the service).
            assert refused["field"].removeprefix("query.") == field, (params, refused)
            assert field in refused["message"], refused
        state = client.app.state  # type: ignore[attr-defined]
        with session_scope(state.engine) as session:
            ctx = Context(state.settings, session, state.clock, THE_PUBLIC, Door("test"))
            for bad, field in (
                ({"per_page": 101}, "per_page"),
                ({"q": "a\nb"}, "q"),
                ({"decided_to": date(9999, 1, 1)}, "decided_to"),
                ({"on": date(9999, 1, 1)}, "on"),
            ):
                with pytest.raises(DomainError) as refused_ctx:
                    service.search(ctx, **bad)
                assert refused_ctx.value.field == field, bad
