"""Early warning (信用风险预警): each rule of warnings.toml fires on a hand-made lake and score pair and not
without its trigger; the window (previous, current]; severe links only when new; departments by division
prefix; the policy's errors name the key; recording is idempotent and feeds the outbox; open → acknowledged →
closed with a note."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from features import catalog
from features.uscc import complete
from supervision.lifecycle import commitments, lists
from supervision.lifecycle.regimes import PolicyError
from supervision.lifecycle.workflow import Actor, TransitionError
from supervision.monitoring import warnings
from supervision.platform.audit import AuditEntry
from supervision.platform.db import session_scope

U = [complete(f"91320902MB{n:07d}") for n in range(1, 16)]
SEVERE = complete("91320903MC0000001")
P, C = date(2026, 10, 1), date(2026, 11, 1)
WINDOW = (P, C)
POLICY = warnings.load_policy()
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
OFFICER = Actor("officer-wang", role="supervisor", department="亭湖区市场监管局", at=AT)
KEY_A, KEY_B = "a" * 64, "b" * 64


def lake(**tables: list[dict[str, Any]]) -> dict[str, pl.LazyFrame]:
    """Every catalog table as a LazyFrame of its schema, with the rows given (missing columns null)."""
    return {
        t.name: pl.DataFrame(
            [{c: row.get(c) for c in t.columns} for row in tables.get(t.name, [])], schema=t.schema
        ).lazy()
        for t in catalog.TABLES
    }


def scores(rows: dict[str, tuple[float, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "uscc": list(rows),
            "probability": [p for p, _ in rows.values()],
            "tier": [t for _, t in rows.values()],
        }
    )


QUIET = scores({u: (0.05, "A") for u in U})


def fired(found: pl.DataFrame, rule: str) -> dict[str, dict[str, Any]]:
    return {r["uscc"]: json.loads(r["evidence"]) for r in found.filter(pl.col("rule") == rule).to_dicts()}


def run(sources: dict[str, pl.LazyFrame] | None = None, **kw: Any) -> pl.DataFrame:
    return warnings.evaluate(
        kw.get("previous", QUIET),
        kw.get("current", QUIET),
        sources or lake(),
        kw.get("window", WINDOW),
        POLICY,
    )


# ------------------------------------------------------------------------------------------------ scores
def test_probability_rise_fires_above_the_threshold_only() -> None:
    previous = scores({U[0]: (0.10, "A"), U[1]: (0.30, "B"), U[2]: (0.50, "C"), U[3]: (0.2, "A")})
    current = scores({U[0]: (0.25, "A"), U[1]: (0.40, "B"), U[2]: (0.45, "C"), U[4]: (0.9, "D")})
    found = fired(run(previous=previous, current=current), "probability_rise")
    # +0.15 fires; exactly +0.10 (0.30 → 0.40, not "more than") does not; a fall does not; an entity in one
    # run only has no change to speak of.
    assert list(found) == [U[0]]
    assert found[U[0]] == {"before": 0.1, "after": 0.25, "rise": 0.15, "threshold": 0.1}


def test_tier_up_fires_on_a_move_up_into_c_or_d_only() -> None:
    previous = scores(
        {U[0]: (0.1, "B"), U[1]: (0.5, "C"), U[2]: (0.9, "D"), U[3]: (0.1, "A"), U[4]: (0.9, "D")}
    )
    current = scores(
        {U[0]: (0.3, "C"), U[1]: (0.8, "D"), U[2]: (0.9, "D"), U[3]: (0.15, "B"), U[4]: (0.5, "C")}
    )
    found = fired(run(previous=previous, current=current), "tier_up")
    assert sorted(found) == sorted([U[0], U[1]])
    assert found[U[0]]["before"] == "B" and found[U[0]]["after"] == "C"


# ------------------------------------------------------------------------------------------------ records
def _penalty(no: str, uscc: str, decided: date, severity: str = "serious") -> dict[str, Any]:
    return {"decision_no": no, "uscc": uscc, "severity": severity, "decided_on": decided}


def test_serious_penalty_in_the_window_boundaries_included_and_excluded() -> None:
    src = lake(
        penalties=[
            _penalty("P-IN", U[0], date(2026, 10, 15)),
            _penalty("P-END", U[1], C),  # the current run's day: in (previous, current]
            _penalty("P-START", U[2], P),  # the previous run's day: already seen then
            _penalty("P-GEN", U[3], date(2026, 10, 15), severity="general"),
            _penalty("P-LATE", U[4], date(2026, 11, 2)),
        ]
    )
    found = fired(run(src), "serious_penalty")
    assert sorted(found) == sorted([U[0], U[1]])
    assert found[U[0]] == {
        "records": [{"decided_on": "2026-10-15", "decision_no": "P-IN", "severity": "serious"}]
    }
    assert fired(run(lake()), "serious_penalty") == {}


def _entry(eid: str, uscc: str, list_type: str, listed: date, **more: Any) -> dict[str, Any]:
    return {"entry_id": eid, "uscc": uscc, "list_type": list_type, "listed_on": listed, **more}


def test_abnormal_listing_and_court_judgment_each_on_their_own_list() -> None:
    src = lake(
        list_entries=[
            _entry("L-AB", U[0], "abnormal_operations", date(2026, 10, 20)),
            _entry("L-CT", U[1], "court_dishonest_debtor", date(2026, 10, 21)),
            _entry("L-OLD", U[2], "abnormal_operations", date(2026, 9, 1)),
            _entry("L-RED", U[3], "red_list", date(2026, 10, 20)),
        ]
    )
    found = run(src)
    assert list(fired(found, "abnormal_listing")) == [U[0]]
    assert list(fired(found, "court_judgment")) == [U[1]]
    assert fired(found, "abnormal_listing")[U[0]]["records"][0]["entry_id"] == "L-AB"


def test_commitment_breach_in_the_window() -> None:
    src = lake(
        commitments=[
            {
                "commitment_id": "C-1",
                "uscc": U[0],
                "fulfilment": "breached",
                "fulfilment_on": date(2026, 10, 3),
            },
            {
                "commitment_id": "C-2",
                "uscc": U[1],
                "fulfilment": "fulfilled",
                "fulfilment_on": date(2026, 10, 3),
            },
            {
                "commitment_id": "C-3",
                "uscc": U[2],
                "fulfilment": "breached",
                "fulfilment_on": date(2026, 9, 3),
            },
        ]
    )
    assert fired(run(src), "commitment_breach") == {
        U[0]: {"records": [{"commitment_id": "C-1", "fulfilment_on": "2026-10-03"}]}
    }


# -------------------------------------------------------------------------------------------- severe links
def _rel(rid: str, uscc: str, kind: str, since: date, **more: Any) -> dict[str, Any]:
    return {"relation_id": rid, "uscc": uscc, "relation_type": kind, "valid_from": since, **more}


def test_severe_link_fires_for_new_links_only_and_names_no_person() -> None:
    src = lake(
        list_entries=[_entry("L-SEV", SEVERE, "severe_dishonesty", date(2025, 1, 1))],
        relations=[
            _rel("R-S", SEVERE, "legal_representative", date(2020, 1, 1), person_key=KEY_A),
            _rel("R-S2", SEVERE, "shareholder", date(2020, 1, 1), person_key=KEY_B),
            # U0: the same legal representative since 2021: the link existed at the previous run.
            _rel("R-0", U[0], "legal_representative", date(2021, 1, 1), person_key=KEY_A),
            # U1: became the same person's company in the window: a new link.
            _rel("R-1", U[1], "actual_controller", date(2026, 10, 10), person_key=KEY_A),
            # U2: invested in by the severe party in the window (an investment counts either way).
            _rel("R-2", SEVERE, "investment", date(2026, 10, 12), related_uscc=U[2]),
            # U3: a link that ended before the current run.
            _rel(
                "R-3", U[3], "shareholder", date(2026, 10, 5), person_key=KEY_B, valid_to=date(2026, 10, 20)
            ),
        ],
    )
    found = fired(run(src), "severe_link")
    assert sorted(found) == sorted([U[1], U[2]])
    assert found[U[1]] == {"records": [{"severe_uscc": SEVERE, "via": ["actual_controller"]}]}
    assert found[U[2]] == {"records": [{"severe_uscc": SEVERE, "via": ["investment"]}]}
    text = run(src).filter(pl.col("rule") == "severe_link")["evidence"].str.join("")[0]
    assert KEY_A not in text and KEY_B not in text
    # No severe party, no link warning.
    quiet = dict(src, list_entries=lake()["list_entries"])
    assert fired(run(quiet), "severe_link") == {}


def test_severe_link_fires_when_a_linked_party_is_newly_listed() -> None:
    src = lake(
        list_entries=[_entry("L-SEV", SEVERE, "severe_dishonesty", date(2026, 10, 15))],
        relations=[
            _rel("R-S", SEVERE, "legal_representative", date(2020, 1, 1), person_key=KEY_A),
            _rel("R-0", U[0], "legal_representative", date(2021, 1, 1), person_key=KEY_A),
        ],
    )
    # The severe party itself gets no "link to itself".
    assert list(fired(run(src), "severe_link")) == [U[0]]


# -------------------------------------------------------------------------------------- departments, order
def test_departments_by_the_longest_division_prefix_else_the_default() -> None:
    src = lake(
        entities=[
            {"uscc": U[0], "division_code": "320902"},
            {"uscc": U[1], "division_code": "320900"},
            {"uscc": U[2], "division_code": "320981"},
        ],
        penalties=[_penalty(f"P-{i}", U[i], date(2026, 10, 15)) for i in range(4)],
    )
    found = run(src).filter(pl.col("rule") == "serious_penalty")
    assert dict(zip(found["uscc"], found["department"], strict=True)) == {
        U[0]: "亭湖区市场监管局",
        U[1]: POLICY.default_department,
        U[2]: "东台市市场监管局",
        U[3]: POLICY.default_department,  # not registered in the lake
    }
    prefixes = {"32": "省局", "3209": "市局", "320902": "亭湖"}
    assert warnings.department_of("320902", prefixes, "x") == "亭湖"
    assert warnings.department_of("320903", prefixes, "x") == "市局"
    assert warnings.department_of("330100", prefixes, "x") == "x"
    assert warnings.department_of(None, prefixes, "x") == "x"


def test_evaluation_is_deterministic_and_sorted() -> None:
    src = lake(
        penalties=[_penalty("P-B", U[1], date(2026, 10, 2)), _penalty("P-A", U[0], date(2026, 10, 3))],
        list_entries=[_entry("L-AB", U[0], "abnormal_operations", date(2026, 10, 20))],
    )
    previous = scores({U[0]: (0.1, "B"), U[1]: (0.1, "A")})
    current = scores({U[0]: (0.9, "D"), U[1]: (0.1, "A")})
    first = run(src, previous=previous, current=current)
    assert first.equals(run(src, previous=previous, current=current))
    assert first.select("uscc", "rule").rows() == [
        (U[0], "probability_rise"),
        (U[0], "tier_up"),
        (U[0], "serious_penalty"),
        (U[0], "abnormal_listing"),
        (U[1], "serious_penalty"),
    ]
    with pytest.raises(warnings.WarningError, match="previous run must be before"):
        run(src, window=(C, C))


# ------------------------------------------------------------------------------------------------ the policy
POLICY_TEXT = (Path(warnings.__file__).with_name("warnings.toml")).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("min_rise = 0.10", "min_rise = 1.5", "rules.probability_rise.min_rise"),
        ('into = ["C", "D"]', 'into = ["E"]', "rules.tier_up.into"),
        ('severities = ["serious"]', "severities = []", "rules.serious_penalty.severities"),
        ("[rules.commitment_breach]", "[rules.commitment_breech]", "rules.commitment_breech"),
        (
            'via = ["legal_representative",',
            'hops = 2\nvia = ["legal_representative",',
            "rules.severe_link.hops",
        ),
        ('default = "盐城市市场监管局"', "default = 3", "departments.default"),
        ('"320902" = "亭湖区市场监管局"', '"32x" = "亭湖区市场监管局"', "departments.prefixes.32x"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_key(old: str, new: str, key: str) -> None:
    assert old in POLICY_TEXT
    with pytest.raises(PolicyError) as exc:
        warnings.parse_policy(POLICY_TEXT.replace(old, new, 1))
    assert key in str(exc.value) and exc.value.field == key


def test_a_missing_rule_or_confidence_is_refused() -> None:
    start = POLICY_TEXT.index("[rules.tier_up]")
    end = POLICY_TEXT.index("[rules.serious_penalty]")
    with pytest.raises(PolicyError, match=r"\[rules.tier_up\] is missing"):
        warnings.parse_policy(POLICY_TEXT[:start] + POLICY_TEXT[end:])
    with pytest.raises(PolicyError, match="confidence"):
        warnings.parse_policy(POLICY_TEXT.replace('confidence = "U"', 'confidence = "maybe"', 1))
    for rule in POLICY.rules.values():
        assert rule.confidence == "U" and rule.source


# ------------------------------------------------------------------------------------------------ recording
def _found() -> pl.DataFrame:
    src = lake(
        entities=[{"uscc": U[0], "division_code": "320902"}],
        penalties=[_penalty("P-IN", U[0], date(2026, 10, 15))],
        list_entries=[_entry("L-CT", U[0], "court_dishonest_debtor", date(2026, 10, 21))],
    )
    return run(src)


def test_record_is_idempotent_per_run_entity_and_rule_and_feeds_the_outbox(db_engine: sa.Engine) -> None:
    found = _found()
    with session_scope(db_engine) as s:
        new = warnings.record(s, found, run_as_of=C, previous_as_of=P, actor=OFFICER)
        assert [(w.uscc, w.rule, w.status, w.department) for w in new] == [
            (U[0], "serious_penalty", "open", "亭湖区市场监管局"),
            (U[0], "court_judgment", "open", "亭湖区市场监管局"),
        ]
        assert new[0].evidence["records"][0]["decision_no"] == "P-IN"
    with session_scope(db_engine) as s:
        assert warnings.record(s, found, run_as_of=C, previous_as_of=P, actor=OFFICER) == []
        assert s.scalar(sa.select(sa.func.count()).select_from(warnings.Warning)) == 2
        # The outbox has one warning event each; list consumers (GET /events, the change feed) see none.
        assert lists.events_after(s) == []
        events = lists.events_after(s, kinds=("warning",))
        assert [(e.kind, e.event, e.uscc) for e in events] == [("warning", "opened", U[0])] * 2
        assert events[0].data is not None and events[0].data["rule"] == "serious_penalty"
        # A later run of another month is a new warning.
        assert (
            len(warnings.record(s, found, run_as_of=date(2026, 12, 1), previous_as_of=C, actor=OFFICER)) == 2
        )


def test_acknowledge_then_close_with_a_note_audited(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as s:
        first, second = warnings.record(s, _found(), run_as_of=C, previous_as_of=P, actor=OFFICER)
        ids = first.id, second.id
    with session_scope(db_engine) as s:
        row = warnings.acknowledge(s, ids[0], actor=OFFICER)
        assert (row.status, row.acknowledged_by, row.acknowledged_at) == ("acknowledged", "officer-wang", AT)
        with pytest.raises(TransitionError, match="'acknowledge' is not allowed"):
            warnings.acknowledge(s, ids[0], actor=OFFICER)
        with pytest.raises(warnings.WarningError, match="note is required") as exc:
            warnings.close(s, ids[0], actor=OFFICER, note="  ")
        assert exc.value.field == "note"
        with pytest.raises(warnings.WarningError, match="at most 2000"):
            warnings.close(s, ids[0], actor=OFFICER, note="x" * 2001)
        row = warnings.close(s, ids[0], actor=OFFICER, note="已约谈企业负责人")
        assert (row.status, row.closed_by, row.note) == ("closed", "officer-wang", "已约谈企业负责人")
        with pytest.raises(TransitionError, match="final state"):
            warnings.close(s, ids[0], actor=OFFICER, note="again")
        # open → closed directly is allowed (nothing to acknowledge first).
        assert warnings.close(s, ids[1], actor=OFFICER, note="核查无异常").status == "closed"
        with pytest.raises(warnings.NotFound):
            warnings.acknowledge(s, 999_999, actor=OFFICER)
        actions = s.scalars(
            sa.select(AuditEntry.action)
            .where(AuditEntry.target == f"warning:{ids[0]}")
            .order_by(AuditEntry.id)
        ).all()
        assert actions == ["warning.open", "warning.acknowledge", "warning.close"]


def test_decisions_made_here_count_once(db_engine: sa.Engine) -> None:
    """A breach recorded here without a lake write still warns; one already in the lake is not doubled."""
    with session_scope(db_engine) as s:
        for cid, uscc, day in (("CM-1", U[0], date(2026, 10, 9)), ("CM-2", U[1], date(2026, 10, 9))):
            s.add(
                commitments.Commitment(
                    commitment_id=cid,
                    uscc=uscc,
                    matter="m",
                    commitment_type="voluntary",
                    title="t",
                    text="x",
                    department="亭湖区市场监管局",
                    made_on=date(2026, 1, 1),
                    status="breached",
                    determined_on=day,
                    updated_at=AT,
                )
            )
        s.flush()
        base = lake(
            commitments=[
                {
                    "commitment_id": "CM-2",
                    "uscc": U[1],
                    "fulfilment": "breached",
                    "fulfilment_on": date(2026, 10, 9),
                }
            ]
        )
        src = warnings.with_decisions(base, s)
        assert src["commitments"].collect().height == 2
        found = fired(run(src), "commitment_breach")
        assert sorted(found) == sorted([U[0], U[1]])
        assert found[U[1]] == {"records": [{"commitment_id": "CM-2", "fulfilment_on": "2026-10-09"}]}
