"""The incentive half of the embedded check: the catalog (守信激励措施), who qualifies (red list, tier A), the
legal basis in the answer, 容缺受理 only for qualifying entities, and the date of the score with the tier."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from features.lake import sources
from supervision.lifecycle import restrictions
from supervision.lifecycle.records import Lake, write_rows
from supervision.lifecycle.workflow import Actor
from supervision.platform.db import session_scope
from tests.supervision.lifecycle_lake import AUTHORITY, TODAY, E, build_lake

CALLER = Actor("licensing-platform", role="system")
ON = date(2026, 11, 27)
SCORED = date(2026, 11, 1)
CODES = ["green_channel", "missing_documents_accepted", "simplified_procedure", "fewer_inspections"]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """The lifecycle lake, with E[6] on the red list (守信激励对象) since 2026-03-02."""
    lake = build_lake(tmp_path)
    row = {
        "entry_id": "L-RED",
        "uscc": E[6],
        "list_type": "red_list",
        "basis": "诚信示范企业认定办法",
        "basis_document_no": "盐信红〔2026〕3号",
        "listed_on": date(2026, 3, 2),
        "authority": AUTHORITY,
    }
    write_rows(lake, "list_entries", [row], source="red-list", today=TODAY)
    return lake


def _check(
    s: sa.orm.Session,
    lake: Lake,
    uscc: str,
    *,
    tier: str | None = None,
    matter: str = "market_access",
    missing: list[str] | None = None,
) -> restrictions.CheckResult:
    return restrictions.check(
        s,
        sources(lake.dir),
        caller=CALLER,
        uscc=uscc,
        matter=matter,
        on=ON,
        scores=(lambda u: (tier, SCORED)) if tier is not None else None,
        missing_documents=missing,
    )


def test_the_catalog_names_each_incentive_with_its_basis_and_who_qualifies() -> None:
    catalog = restrictions.default_incentives()
    assert [m.code for m in catalog.measures] == CODES
    for m in catalog.measures:
        assert "33号" in m.basis and m.name_zh and m.name_en and m.confidence in "VPU"
        assert m.lists == ("red_list",) and m.tiers == ("A",)
    assert [m.code for m in catalog.measures if m.accepts_missing_documents] == ["missing_documents_accepted"]
    frame = restrictions.incentive_frame()
    assert frame["code"].to_list() == CODES and frame["matters"].to_list()[1] == ["market_access"]


def test_a_bad_incentive_entry_is_named() -> None:
    text = (
        '[[incentive]]\ncode = "x"\nname_zh = "x"\nname_en = "x"\nbasis = "b"\nconfidence = "U"\n'
        'matters = ["loans"]\nlists = ["red_list"]\ntiers = []\n'
    )
    with pytest.raises(
        restrictions.RestrictionError, match=r"incentive\[0\]: matters 'loans' must be one of"
    ):
        restrictions.parse_incentives(text, origin="t.toml")
    nobody = text.replace('["loans"]', '["bidding"]').replace('["red_list"]', "[]")
    with pytest.raises(restrictions.RestrictionError, match="nobody qualifies"):
        restrictions.parse_incentives(nobody, origin="t.toml")


def test_a_red_list_entity_gets_the_incentives_of_the_matter_with_their_basis(
    db_engine: sa.Engine, lake: Lake
) -> None:
    with session_scope(db_engine) as s:
        got = _check(s, lake, E[6])
        procurement = _check(s, lake, E[6], matter="government_procurement")
    assert [i["code"] for i in got.incentives] == CODES
    assert all(i["qualified_by"] == ["list:red_list"] and "33号" in i["basis"] for i in got.incentives)
    assert not got.restricted and got.incentives_withheld is None
    # Only the measures whose matters include the one asked about.
    assert [i["code"] for i in procurement.incentives] == ["simplified_procedure", "fewer_inspections"]


def test_a_tier_a_entity_gets_incentives_and_the_date_of_its_score(db_engine: sa.Engine, lake: Lake) -> None:
    with session_scope(db_engine) as s:
        a = _check(s, lake, E[0], tier="A")
        b = _check(s, lake, E[0], tier="B")
        unscored = _check(s, lake, E[0])
    assert [i["code"] for i in a.incentives] == CODES
    assert {tuple(i["qualified_by"]) for i in a.incentives} == {("tier:A",)}
    assert (a.tier, a.score_as_of) == ("A", SCORED) and a.as_dict()["score_as_of"] == SCORED
    assert b.incentives == [] and (b.tier, b.score_as_of) == ("B", SCORED)
    assert unscored.incentives == [] and (unscored.tier, unscored.score_as_of) == (None, None)


def test_a_listed_entity_gets_no_incentive_whatever_its_tier(db_engine: sa.Engine, lake: Lake) -> None:
    with session_scope(db_engine) as s:
        severe = _check(s, lake, E[4], tier="A", missing=["场所证明"])
    assert severe.incentives == []
    assert severe.incentives_withheld is not None and "severe_dishonesty" in severe.incentives_withheld
    assert severe.missing_documents is not None and severe.missing_documents["accepted"] is False


def test_missing_documents_are_accepted_only_for_qualifying_entities(
    db_engine: sa.Engine, lake: Lake
) -> None:
    docs = ["场所使用证明", "健康证明"]
    with session_scope(db_engine) as s:
        red = _check(s, lake, E[6], missing=docs)
        tier_a = _check(s, lake, E[0], tier="A", missing=docs)
        tier_c = _check(s, lake, E[0], tier="C", missing=docs)
        honours = _check(s, lake, E[0], tier="A", matter="honours", missing=docs)
        none_named = _check(s, lake, E[0], tier="A")
        with pytest.raises(
            restrictions.RestrictionError, match=r"missing_documents\[1\]: '健康证明' named twice"
        ):
            _check(s, lake, E[0], missing=["健康证明", "健康证明"])
    for granted in (red, tier_a):
        assert granted.missing_documents is not None
        assert (
            granted.missing_documents["accepted"] is True and granted.missing_documents["documents"] == docs
        )
        assert granted.missing_documents["incentive"] == "missing_documents_accepted"
        assert (
            "容缺受理" in granted.missing_documents["reason"] and "33号" in granted.missing_documents["basis"]
        )
    assert tier_c.missing_documents is not None and tier_c.missing_documents["accepted"] is False
    assert tier_c.missing_documents["reason"].startswith(
        "required: matter market_access allows 容缺受理 only"
    )
    assert "tier A" in tier_c.missing_documents["reason"]
    assert honours.missing_documents is not None and honours.missing_documents["accepted"] is False
    assert honours.missing_documents["reason"] == "required: matter honours does not allow 容缺受理"
    assert none_named.missing_documents is None
