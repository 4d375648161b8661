"""Case ids stay what the rows already stored hold: one formula for every kind of case
(``supervision.lifecycle.workflow.case_id``), the facts of each kind in its own order."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from supervision.lifecycle import commitments, lists, objections, repairs, self_reports
from supervision.lifecycle.workflow import NotFound
from supervision.platform.db import make_engine, session_scope, upgrade

USCC = "91350100M000100Y43"
DAY = date(2026, 3, 2)


def _written_out(prefix: str, text: str) -> str:
    """The id as the first release computed it, spelled out: prefix, dash, 16 upper-case hex digits."""
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:16].upper()}"


def test_each_kind_keeps_the_id_of_its_facts() -> None:
    assert objections._objection_id(USCC, "penalties", "P-1", DAY, "ent") == _written_out(
        "OBJ", f"{USCC}|penalties|P-1|2026-03-02|ent"
    )
    assert repairs._repair_id(USCC, "penalties", "P-1", DAY) == _written_out(
        "REP", f"{USCC}|penalties|P-1|2026-03-02"
    )
    assert self_reports._report_id(USCC, "honour", "a | b", DAY) == _written_out(
        "SR", f"{USCC}|honour|2026-03-02|a | b"
    )
    assert lists._list_case_id(USCC, "severe", DAY, "samr") == _written_out(
        "LST", f"{USCC}|severe|2026-03-02|samr"
    )
    assert commitments._commitment_id(USCC, "licence", DAY, None) == _written_out(
        "CMT", f"{USCC}|licence|2026-03-02|None"
    )


@pytest.mark.parametrize(
    ("get", "noun"),
    [
        (objections.get, "objection"),
        (repairs.get, "repair"),
        (self_reports.get, "self-report"),
        (lists.get, "list case"),
        (commitments.get, "commitment"),
    ],
)
def test_an_unknown_id_is_not_found_naming_the_kind(
    get: Callable[..., Any], noun: str, tmp_path: Path
) -> None:
    engine: sa.Engine = make_engine(f"sqlite:///{tmp_path}/db.sqlite")
    upgrade(engine)
    try:
        with session_scope(engine) as session, pytest.raises(NotFound, match=f"^{noun} NO-SUCH not found$"):
            get(session, "NO-SUCH")
    finally:
        engine.dispose()
