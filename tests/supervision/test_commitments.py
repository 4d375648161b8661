"""Credit commitments: templates, state machine, breach into the lake and features, masked public export."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from features.build import build_features
from features.lake import scan, sources
from supervision.lifecycle import commitments, restrictions
from supervision.lifecycle.records import Lake
from supervision.lifecycle.workflow import TransitionError
from supervision.platform.db import session_scope
from tests.supervision.lifecycle_lake import OFFICER, E, build_lake

DEPT = "盐城市市场监管局"
ID_RE = re.compile(r"\d{17}[\dXx]")


def _mask_name(v: str) -> str:
    return v[0] + "*" * (len(v) - 1)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return build_lake(tmp_path)


def _make(
    s: sa.orm.Session, lake: Lake, uscc: str = E[0], matter: str = "food_business_licence"
) -> commitments.Commitment:
    made_on, src = date(2026, 9, 1), sources(lake.dir)
    # A 告知承诺 is made after the embedded check of its matter (market access).
    check = restrictions.check(s, src, caller=OFFICER, uscc=uscc, matter="market_access", on=made_on)
    return commitments.make(
        s,
        actor=OFFICER,
        uscc=uscc,
        matter=matter,
        department=DEPT,
        made_on=made_on,
        licence_id="JY13209020000001",
        signatory="张三丰",
        check=check,
        sources=src,
    )


def test_template_sets_text_type_and_deadline(db_engine: sa.Engine, lake: Lake) -> None:
    with session_scope(db_engine) as s:
        row = _make(s, lake)
        assert (row.commitment_type, row.due_on, row.status) == (
            "licence_notification",
            date(2026, 10, 1),
            "pending",
        )
        assert "告知承诺" in row.title
        with pytest.raises(commitments.CommitmentError, match="matter 'loans': no template"):
            _make(s, lake, matter="loans")


@pytest.mark.parametrize(
    ("path", "forbidden"),
    [
        ((), "interview"),
        (("fulfil",), "breach"),
        (("fulfil",), "interview"),
        (("breach",), "fulfil"),
        (("breach", "interview"), "interview"),
    ],
)
def test_forbidden_transitions(
    db_engine: sa.Engine, lake: Lake, path: tuple[str, ...], forbidden: str
) -> None:
    on = date(2026, 10, 2)
    with session_scope(db_engine) as s:
        cid = _make(s, lake).commitment_id
        do = {
            "fulfil": lambda: commitments.fulfil(s, cid, actor=OFFICER, on=on),
            "breach": lambda: commitments.breach(
                s, cid, actor=OFFICER, on=on, facts="未在期限内具备许可条件"
            ),
            "interview": lambda: commitments.interview(s, cid, actor=OFFICER, on=on, reason="违诺约谈"),
        }
        for action in path:
            do[action]()
        state = commitments.get(s, cid).status
        with pytest.raises(TransitionError, match=f"is '{state}': '{forbidden}' is not allowed"):
            do[forbidden]()


def test_breach_becomes_a_record_the_features_see(db_engine: sa.Engine, lake: Lake) -> None:
    as_of = date(2026, 11, 1)
    with session_scope(db_engine) as s:
        cid = _make(s, lake).commitment_id
        commitments.breach(s, cid, actor=OFFICER, on=date(2026, 10, 8), facts="未具备许可条件", lake=lake)
        commitments.interview(s, cid, actor=OFFICER, on=date(2026, 10, 9), reason="违诺约谈", lake=lake)
    row = scan(lake.dir, "commitments").collect().row(0, named=True)
    assert (row["fulfilment"], row["fulfilment_on"]) == ("breached", date(2026, 10, 8))
    assert scan(lake.dir, "interviews").collect()["related_record"].to_list() == [cid]
    features = build_features(sources(lake.dir), as_of=as_of).filter(pl.col("uscc") == E[0]).collect()
    breach_cols = [c for c in features.columns if "breach" in c]
    assert breach_cols and any(features[c].item() for c in breach_cols)


def test_public_export_masks_names_and_id_numbers(db_engine: sa.Engine, lake: Lake) -> None:
    templates = {
        "x": commitments.Template(
            "x", "承诺书", "voluntary", 0, "签署人身份证号 11010519491231002X，承诺守法经营。"
        )
    }
    with session_scope(db_engine) as s:
        commitments.make(
            s,
            actor=OFFICER,
            uscc=E[1],
            matter="x",
            department=DEPT,
            made_on=date(2026, 9, 1),
            signatory="李四",
            templates=templates,
        )
        _make(s, lake)
        frame = commitments.public_export(s, mask_name=_mask_name)
    text = frame.write_csv()
    assert not ID_RE.search(text), text
    assert "110105********002X" in text and "李*" in text and "张**" in text
    assert "张三丰" not in text and "李四" not in text
    assert frame.height == 2
