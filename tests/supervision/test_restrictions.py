"""The embedded check: the right restrictions for each list type, recorded; the catalog validates and
exports."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from features.lake import sources
from supervision.lifecycle import restrictions
from supervision.lifecycle.records import Lake
from supervision.lifecycle.workflow import Actor
from supervision.platform.db import session_scope
from tests.supervision.lifecycle_lake import E, build_lake

CALLER = Actor("procurement-platform", role="system")
ON = date(2026, 11, 27)


def _measures(list_type: str, matter: str) -> set[str]:
    return {
        m.restriction
        for m in restrictions.default_catalog()
        if m.list_type == list_type and m.matter == matter
    }


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return build_lake(tmp_path)


@pytest.mark.parametrize(
    ("uscc_index", "list_type"),
    [(3, "abnormal_operations"), (4, "severe_dishonesty")],
)
@pytest.mark.parametrize("matter", restrictions.ENTITY_MATTERS)
def test_check_returns_the_catalog_restrictions_of_the_active_list(
    db_engine: sa.Engine, lake: Lake, uscc_index: int, list_type: str, matter: str
) -> None:
    with session_scope(db_engine) as s:
        got = restrictions.check(
            s,
            sources(lake.dir),
            caller=CALLER,
            uscc=E[uscc_index],
            matter=matter,
            on=ON,
            scores=lambda u: ("D", date(2026, 11, 1)),
        )
    assert {r["restriction"] for r in got.restrictions} == _measures(list_type, matter)
    assert {r["list_type"] for r in got.restrictions} <= {list_type}
    assert [x["list_type"] for x in got.lists] == [list_type]
    assert (got.tier, got.score_as_of) == ("D", date(2026, 11, 1)) and got.restricted == bool(
        _measures(list_type, matter)
    )


def test_severe_list_restricts_procurement_and_abnormal_list_not_fiscal_funds(
    db_engine: sa.Engine, lake: Lake
) -> None:
    # Independent of the loop above: the two cases a procurement officer asks about most.
    with session_scope(db_engine) as s:
        severe = restrictions.check(
            s, sources(lake.dir), caller=CALLER, uscc=E[4], matter="government_procurement", on=ON
        )
        abnormal = restrictions.check(
            s, sources(lake.dir), caller=CALLER, uscc=E[3], matter="fiscal_funds", on=ON
        )
        clean = restrictions.check(s, sources(lake.dir), caller=CALLER, uscc=E[0], matter="bidding", on=ON)
        assert severe.restricted and "政府采购法第二十二条" in severe.restrictions[0]["basis"]
        assert not abnormal.restricted and abnormal.lists
        assert not clean.restricted and clean.lists == [] and clean.tier is None
        rows = s.execute(sa.select(restrictions.CheckRecord.uscc, restrictions.CheckRecord.restricted)).all()
        assert sorted(rows) == sorted([(E[4], True), (E[3], False), (E[0], False)])


def test_court_list_restricts_persons_for_flights(db_engine: sa.Engine, tmp_path: Path) -> None:
    lake = build_lake(tmp_path)
    court = [m for m in restrictions.default_catalog() if m.list_type == "court_dishonest_debtor"]
    assert {m.matter for m in court if m.subject == "person"} == {"flights", "high_speed_rail"}
    with session_scope(db_engine) as s:
        # No court listing in the lake: no restriction even for flights.
        got = restrictions.check(s, sources(lake.dir), caller=CALLER, uscc=E[0], matter="flights", on=ON)
        assert got.restrictions == [] and got.persons == []


def test_bad_checks_and_catalog_entries_are_named(db_engine: sa.Engine, lake: Lake, tmp_path: Path) -> None:
    with session_scope(db_engine) as s:
        with pytest.raises(restrictions.RestrictionError, match="matter 'loans'"):
            restrictions.check(s, sources(lake.dir), caller=CALLER, uscc=E[0], matter="loans", on=ON)
        with pytest.raises(restrictions.RestrictionError, match="uscc '123'"):
            restrictions.check(s, sources(lake.dir), caller=CALLER, uscc="123", matter="bidding", on=ON)
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[measure]]\nlist_type = "blue_list"\nmatter = "bidding"\nsubject = "entity"\nrestriction = "r"\n'
        'basis = "b"\nconfidence = "P"\n',
        encoding="utf-8",
    )
    with pytest.raises(restrictions.RestrictionError, match=r"measure\[0\]: list_type 'blue_list'"):
        restrictions.load_catalog(bad)


def test_catalog_export_covers_every_matter_with_a_basis() -> None:
    frame = restrictions.catalog_frame()
    assert set(frame["matter"]) == set(restrictions.MATTERS)
    assert frame["basis"].str.len_chars().min() > 0
    assert frame.write_csv() == restrictions.catalog_frame().write_csv()  # deterministic export
