"""双公示 dates (issue 12, "Dates and bases are checked"): a decision is published on or after the day it was
made (a publication dated before it is a 422 / exit 1 naming the field and both dates), and its publication
deadline follows its authority: 20 working days on the SAMR system for a market-supervision authority
(``disclosure.publish_samr``, SAMR Order 45 art 9), 7 for every other (``disclosure.publish``,
国办发〔2015〕51号).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import polars as pl
import pytest
from fastapi.testclient import TestClient

from features.ingest import ingest_paths
from serving.api.app import create_app
from serving.settings import Settings
from supervision.platform.access import Role
from supervision.platform.db import make_engine, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import error as _error
from tests.serving.api_city import issue
from tests.serving.api_city import ok as _ok
from tests.serving.test_cli_lifecycle import _json
from tests.serving.test_cli_lifecycle import issue as cli_issue
from tests.supervision.lifecycle_lake import (
    AUTHORITY,
    AUTHORITY_DIVISION,
    AUTHORITY_USCC,
    SALT,
    E,
    build_lake,
)

ENVIRONMENT = "盐城市生态环境局"
# Wed 30 September 2026: 7 WD → 15 October; 20 WD → 3 November (National Day week, Sat 10 October worked).
DECIDED = "2026-09-30"


def _penalty(no: str, authority: str) -> dict[str, object]:
    return {
        "decision_no": no,
        "uscc": E[6],
        "party_name": "测试公司6",
        "violation_type": "超标排放",
        "basis": "大气污染防治法第九十九条",
        "penalty_kind": "fine",
        "fine_amount": 200000.0,
        "domain": "other",
        "severity": "general",
        "decided_on": date.fromisoformat(DECIDED),
        "authority": authority,
        "authority_uscc": AUTHORITY_USCC,
    }


@pytest.fixture
def ready(settings: Settings) -> Settings:
    """The lifecycle lake plus a penalty of the market-supervision authority (P-MS) and one of the environment
    bureau (P-ENV), both decided on 30 September 2026."""
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    build_lake(settings.home)
    src = settings.home / "more"
    src.mkdir()
    pl.DataFrame([_penalty("P-MS", AUTHORITY), _penalty("P-ENV", ENVIRONMENT)]).write_parquet(
        src / "penalties-dates.parquet"
    )
    reports = ingest_paths(
        [src], lake_dir=settings.lake_dir, salt=SALT, today=china_half_past_midnight().today()
    )
    assert all(r.rows_quarantined == 0 for r in reports), reports
    return settings


@pytest.fixture
def client(ready: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(ready, clock=china_half_past_midnight())) as c:
        yield c


def _supervisor(settings: Settings, department: str, person: str) -> dict[str, str]:
    engine = make_engine(settings.db_url)
    try:
        return issue(
            engine,
            Role.SUPERVISOR,
            name=person,
            department=department,
            division=AUTHORITY_DIVISION,
            person_id=person,
        )
    finally:
        engine.dispose()


def test_a_publication_before_the_decision_is_refused_over_http(ready: Settings, client: TestClient) -> None:
    sup = _supervisor(ready, AUTHORITY, "sup-ms")
    _ok(client.post("/disclosure/register", headers=sup))
    early = client.post("/disclosure/penalties/P-MS/publish", json={"on": "2026-08-31"}, headers=sup)
    message = _error(early, 422, "validation")["message"]
    assert early.json()["error"]["field"] == "on"
    assert "2026-08-31" in message and DECIDED in message, message
    # The day before is refused too; the decision day itself is accepted.
    _error(
        client.post("/disclosure/penalties/P-MS/publish", json={"on": "2026-09-29"}, headers=sup),
        422,
        "validation",
    )
    done = _ok(client.post("/disclosure/penalties/P-MS/publish", json={"on": DECIDED}, headers=sup))
    assert done["status"] == "published" and done["published_on"] == DECIDED


def test_a_publication_before_the_decision_is_refused_from_the_cli(ready: Settings) -> None:
    sup = cli_issue(ready, Role.SUPERVISOR, "sup-1")
    assert _json(ready, "disclosure register", sup)[0] == 0
    code, err = _json(ready, "disclosure publish penalties P-MS --on 2026-09-01", sup)
    assert code == 1 and "2026-09-01" in err["error"] and DECIDED in err["error"], err
    code, row = _json(ready, f"disclosure publish penalties P-MS --on {DECIDED}", sup)
    assert code == 0 and row["published_on"] == DECIDED, row


def test_the_publication_deadline_follows_the_authority(ready: Settings, client: TestClient) -> None:
    market = _supervisor(ready, AUTHORITY, "sup-ms")
    environment = _supervisor(ready, ENVIRONMENT, "sup-env")
    _ok(client.post("/disclosure/register", headers=market))
    # On 20 October the environment bureau's decision is overdue (7 WD), market supervision's not (20 WD).
    overdue = _ok(client.get("/disclosure/overdue", params={"on": "2026-10-20"}, headers=market))
    assert {
        "department": ENVIRONMENT,
        "overdue": 1,
        "oldest_due": "2026-10-15",
        "max_working_days_late": 3,
    } in (overdue)
    ms = _ok(client.post("/disclosure/penalties/P-MS/publish", json={"on": "2026-10-20"}, headers=market))
    assert ms["due_on"] == "2026-11-03" and ms["rule"]["kind"] == "disclosure.publish_samr", ms
    env = _ok(
        client.post("/disclosure/penalties/P-ENV/publish", json={"on": "2026-10-20"}, headers=environment)
    )
    assert env["due_on"] == "2026-10-15" and env["rule"]["kind"] == "disclosure.publish", env
