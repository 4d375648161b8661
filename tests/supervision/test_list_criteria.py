"""The policy's [list_criteria]: what a listing may stand on, per list type; a bad table names its key."""

from __future__ import annotations

import pytest

from supervision.lifecycle import lists
from supervision.lifecycle.regimes import PolicyError, default_policy, parse_policy

RULE = """
[[rule]]
kind = "list.notice_response"
regime = "pre_2021"
effective_from = 2000-01-01
value = 5
unit = "working_days"
source = "s"
confidence = "U"
"""
SEVERE = """
[list_criteria.severe_dishonesty]
source = "SAMR Order 44 art 2"
confidence = "P"
records = [{ table = "penalties", kinds = ["fine"], min_severity = "serious" }]
"""
ABNORMAL = """
[list_criteria.abnormal_operations]
source = "art 4 (4)"
confidence = "U"
records = [{ table = "inspections", kinds = ["not_found"] }]
"""
COURT = """
[list_criteria.court_dishonest_debtor]
source = "the court lists"
confidence = "U"
records = []
"""


def _criteria(text: str) -> dict[str, lists.ListCriteria]:
    return lists.list_criteria(parse_policy(RULE + text, origin="p.toml"))


def test_the_shipped_policy_grounds_each_list_on_records_of_the_lake() -> None:
    criteria = lists.list_criteria(default_policy())
    assert set(criteria) == {"severe_dishonesty", "abnormal_operations", "court_dishonest_debtor"}
    severe = criteria["severe_dishonesty"]
    assert "Order 44" in severe.source and "art 2" in severe.source
    assert {g.table for g in severe.grounds} == {"penalties"}
    # A fine grounds a severe listing only at the heavy end (severity serious); a licence revocation does
    # from general on; a warning never.
    fine = {"penalty_kind": "fine", "severity": "general"}
    assert not any(g.matches(fine) for g in severe.grounds)
    assert any(g.matches({**fine, "severity": "serious"}) for g in severe.grounds)
    assert any(
        g.matches({"penalty_kind": "licence_revocation", "severity": "general"}) for g in severe.grounds
    )
    assert not any(g.matches({"penalty_kind": "warning", "severity": "serious"}) for g in severe.grounds)
    assert [(g.table, g.kinds) for g in criteria["abnormal_operations"].grounds] == [
        ("inspections", ("not_found",))
    ]
    # No table of the lake holds court judgments: the court's list is ingested, not decided here.
    assert criteria["court_dishonest_debtor"].grounds == ()


def test_a_policy_file_may_set_its_own_criteria() -> None:
    criteria = _criteria(SEVERE + ABNORMAL + COURT)
    (ground,) = criteria["severe_dishonesty"].grounds
    assert (ground.table, ground.kinds, ground.min_severity) == ("penalties", ("fine",), "serious")
    assert criteria["severe_dishonesty"].confidence == "P"
    assert "[list_criteria.severe_dishonesty] penalties with penalty_kind fine, severity serious" in (
        criteria["severe_dishonesty"].describe()
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"p.toml: no \[list_criteria\] table"),
        (SEVERE + ABNORMAL, r"\[list_criteria\]: no criteria for court_dishonest_debtor"),
        (
            SEVERE
            + ABNORMAL
            + COURT
            + '[list_criteria.red_list]\nsource = "s"\nconfidence = "U"\nrecords = []\n',
            r"\[list_criteria\]: unknown list type\(s\) red_list",
        ),
        (
            SEVERE.replace('table = "penalties"', 'table = "licences"') + ABNORMAL + COURT,
            r"\[list_criteria.severe_dishonesty\] records\[0\] table: 'licences' is not a table a listing",
        ),
        (
            SEVERE.replace('["fine"]', '["fine", "beheading"]') + ABNORMAL + COURT,
            r"\[list_criteria.severe_dishonesty\] records\[0\] kinds: .* penalties.penalty_kind values",
        ),
        (
            SEVERE.replace('"serious"', '"grave"') + ABNORMAL + COURT,
            r"\[list_criteria.severe_dishonesty\] records\[0\] min_severity: 'grave' must be one of",
        ),
        (
            SEVERE + ABNORMAL.replace('["not_found"] }', '["not_found"], min_severity = "serious" }') + COURT,
            r"\[list_criteria.abnormal_operations\] records\[0\] min_severity: inspections records have no",
        ),
        (
            SEVERE.replace('kinds = ["fine"]', 'kinds = ["fine"], kind = "x"') + ABNORMAL + COURT,
            r"\[list_criteria.severe_dishonesty\] records\[0\]: unknown key\(s\) kind",
        ),
        (
            SEVERE.replace('source = "SAMR Order 44 art 2"', 'source = " "') + ABNORMAL + COURT,
            r"\[list_criteria.severe_dishonesty\] source: required",
        ),
        (
            SEVERE.replace('confidence = "P"', 'confidence = "sure"') + ABNORMAL + COURT,
            r"\[list_criteria.severe_dishonesty\] confidence: 'sure' must be one of V, P, U",
        ),
        (
            SEVERE + ABNORMAL + COURT.replace("records = []", ""),
            r"\[list_criteria.court_dishonest_debtor\] records: required",
        ),
        (
            SEVERE.replace("records =", "grounds =") + ABNORMAL + COURT,
            r"\[list_criteria.severe_dishonesty\]: unknown key\(s\) grounds",
        ),
    ],
    ids=[
        "no table",
        "missing list",
        "unknown list",
        "bad table",
        "bad kind",
        "bad severity",
        "severity without column",
        "unknown record key",
        "no source",
        "bad confidence",
        "no records",
        "unknown key",
    ],
)
def test_a_bad_table_is_refused_naming_the_table_and_key(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        _criteria(text)
