"""Red/black cross-matching: entities on both sides, persons linked to both, lifecycle and dates respected."""

from __future__ import annotations

from datetime import date

import polars as pl
from polars.testing import assert_frame_equal

from features.crosscheck import (
    ENTITY_CONFLICTS,
    PERSON_CONFLICTS,
    active_list_records,
    entity_conflicts,
    person_conflicts,
)
from tests.features.records import E, Lake

AS_OF = date(2024, 1, 1)
PK = [f"{n:064x}" for n in range(1, 5)]


def lake() -> Lake:
    lk = Lake()
    for e in E[:6]:
        lk.entity(e, name=f"公司{E.index(e)}")
    for i, p in enumerate(PK):
        lk.add("persons", person_key=p, name=f"人{i}", id_masked=f"320902********00{i}1")
    entry = lk.add
    # E0: red and severe at once → conflict.
    entry("list_entries", uscc=E[0], entry_id="R0", list_type="red_list", listed_on=date(2023, 1, 1))
    entry("list_entries", uscc=E[0], entry_id="B0", list_type="severe_dishonesty", listed_on=date(2023, 6, 1))
    entry(
        "list_entries", uscc=E[0], entry_id="B0b", list_type="abnormal_operations", listed_on=date(2023, 6, 1)
    )
    # E1: red, and a black entry that exited before as_of → no conflict.
    entry("list_entries", uscc=E[1], entry_id="R1", list_type="red_list", listed_on=date(2023, 1, 1))
    entry(
        "list_entries",
        uscc=E[1],
        entry_id="B1",
        list_type="court_dishonest_debtor",
        listed_on=date(2022, 1, 1),
        exited_on=date(2023, 12, 31),
    )
    # E2: red, black listed on as_of (the future) → no conflict yet.
    entry("list_entries", uscc=E[2], entry_id="R2", list_type="red_list", listed_on=date(2023, 1, 1))
    entry("list_entries", uscc=E[2], entry_id="B2", list_type="court_dishonest_debtor", listed_on=AS_OF)
    # E3: black only; E4: red only. P0 is legal rep of E3 and shareholder of E4 → a person conflict.
    entry(
        "list_entries", uscc=E[3], entry_id="B3", list_type="abnormal_operations", listed_on=date(2023, 1, 1)
    )
    entry("list_entries", uscc=E[4], entry_id="R4", list_type="red_list", listed_on=date(2023, 1, 1))
    lk.add("relations", uscc=E[3], relation_type="legal_representative", person_key=PK[0])
    lk.add("relations", uscc=E[4], relation_type="shareholder", person_key=PK[0], share=0.2)
    # P1 controls E3 but its link to red E4 ended before as_of → no conflict.
    lk.add("relations", uscc=E[3], relation_type="actual_controller", person_key=PK[1])
    lk.add(
        "relations", uscc=E[4], relation_type="actual_controller", person_key=PK[1], valid_to=date(2023, 6, 1)
    )
    # E5: red and black, but the black entry was revoked by an upheld objection → no conflict.
    entry("list_entries", uscc=E[5], entry_id="R5", list_type="red_list", listed_on=date(2023, 1, 1))
    entry("list_entries", uscc=E[5], entry_id="B5", list_type="severe_dishonesty", listed_on=date(2023, 1, 1))
    lk.add(
        "objections",
        uscc=E[5],
        record_table="list_entries",
        record_id="B5",
        filed_on=date(2023, 2, 1),
        decided_on=date(2023, 2, 5),
        outcome="upheld",
        resolution="revoked",
    )
    return lk


def test_entities_on_both_sides():
    out = entity_conflicts(lake().sources(), as_of=AS_OF).collect()
    assert out.schema == ENTITY_CONFLICTS
    expected = pl.DataFrame(
        [
            {
                "uscc": E[0],
                "name": "公司0",
                "black_lists": ["abnormal_operations", "severe_dishonesty"],
                "red_entries": ["R0"],
                "black_entries": ["B0", "B0b"],
            }
        ],
        schema=ENTITY_CONFLICTS,
    )
    assert_frame_equal(out, expected)


def test_persons_linked_to_both_sides():
    out = person_conflicts(lake().sources(), as_of=AS_OF).collect()
    assert out.schema == PERSON_CONFLICTS
    rows = out.to_dicts()
    assert [r["person_key"] for r in rows] == [PK[0]]
    r = rows[0]
    assert (r["red_usccs"], r["black_usccs"], r["red_entries"], r["black_entries"]) == (
        [E[4]],
        [E[3]],
        ["R4"],
        ["B3"],
    )
    assert r["roles"] == ["legal_representative", "shareholder"]
    assert r["id_masked"] == "320902********0001" and r["name"] == "人0"


def test_later_date_sees_the_future_listing():
    later = entity_conflicts(lake().sources(), as_of=date(2024, 1, 2)).collect()
    assert later["uscc"].to_list() == sorted([E[0], E[2]])
    records = active_list_records(lake().sources(), as_of=AS_OF).collect()
    assert "B1" not in records["entry_id"].to_list() and "B5" not in records["entry_id"].to_list()
