"""Data exchange (issue 14): departments push batches through the file ingest's checks (read = accepted +
quarantined, with every rejected row's field and rule), idempotently, only their own records (谁产生、谁报送);
other platforms page through the change feed exactly once, with each record's legal state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features import ingest, lake
from features.uscc import complete
from serving.api.app import create_app
from serving.cli import app as cli
from serving.settings import Settings
from supervision.lifecycle.lists import ListEvent
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import DEPARTMENT, OTHER_DEPARTMENT, issue
from tests.serving.api_city import error as _error
from tests.serving.api_city import ok as _ok
from tests.supervision.databases import HeadTemplates, backend_params, fresh_database_url

E = [complete(f"91320902MA{n:07d}") for n in range(1, 6)]
UNKNOWN = complete("91320902MA9999999")
AUTHORITY_USCC = complete("11320900MB1886843")
HOSTILE = "<script>alert(1)</script>'; DROP TABLE audit_entries; --\u202e\x00"


def entity(code: str, **over: Any) -> dict[str, Any]:
    row = {
        "uscc": code,
        "name": f"测试公司{code[-4:]}",
        "entity_type": "enterprise",
        "industry": "H62",
        "division_code": "320902",
        "established_on": "2015-01-01",
        "status": "active",
    }
    return row | over


def penalty(no: str, code: str, **over: Any) -> dict[str, Any]:
    row = {
        "decision_no": no,
        "uscc": code,
        "party_name": "测试公司",
        "violation_type": "虚假宣传",
        "basis": "广告法第五十五条",
        "penalty_kind": "fine",
        "fine_amount": 20000,
        "domain": "advertising",
        "severity": "general",
        "decided_on": "2025-03-03",
        "authority": DEPARTMENT,
        "authority_uscc": AUTHORITY_USCC,
    }
    return row | over


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadTemplates]:
    templates = HeadTemplates(tmp_path_factory.mktemp("db-head"))
    yield templates
    templates.close()


@pytest.fixture(params=backend_params())
def engine(request: pytest.FixtureRequest, head: HeadTemplates, tmp_path: Path) -> Iterator[sa.Engine]:
    """A database at head: SQLite, and PostgreSQL when CREDITWATCH_TEST_POSTGRES_URL is set."""
    with fresh_database_url(request.param, tmp_path, at_head=head) as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _client(settings: Settings, engine: sa.Engine, **overrides: Any) -> TestClient:
    app = create_app(settings.model_copy(update=overrides), engine=engine, clock=china_half_past_midnight())
    return TestClient(app)


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    with _client(settings, engine) as c:
        yield c


@pytest.fixture
def who(engine: sa.Engine) -> dict[str, dict[str, str]]:
    return {
        "analyst": issue(engine, Role.ANALYST),
        "system": issue(engine, Role.SYSTEM, name="tax-system"),
        "other": issue(engine, Role.SYSTEM, name="env-system", department=OTHER_DEPARTMENT),
        "inspector": issue(engine, Role.INSPECTOR),
    }


def push(client: TestClient, headers: dict[str, str], table: str, rows: list[dict[str, Any]]) -> Any:
    return client.post("/exchange/batches", json={"table": table, "rows": rows}, headers=headers)


def _entities(client: TestClient, who: dict[str, dict[str, str]]) -> dict[str, Any]:
    return _ok(push(client, who["analyst"], "entities", [entity(code) for code in E]), 201)


def _rules(answer: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(r["row"], r["field"], r["rule"]) for r in answer["rejected"]]


# ------------------------------------------------------------------------------------------------- push
def test_a_push_answers_read_equals_accepted_plus_quarantined_with_each_row_its_field_and_rule(
    client: TestClient, who: dict[str, dict[str, str]], settings: Settings
) -> None:
    _entities(client, who)
    rows = [
        penalty("P-1", E[0]),
        penalty("P-2", E[1], authority=OTHER_DEPARTMENT),  # another department's decision
        penalty("P-3", UNKNOWN),  # no such entity in the lake
        penalty("P-4", E[2], decided_on="9999-12-31"),  # a date in year 9999
        penalty("P-5", E[3], facts=HOSTILE, party_name=HOSTILE),
    ]
    answer = _ok(push(client, who["system"], "penalties", rows), 201)
    assert answer["status"] == "ingested"
    assert answer["source"] == f"exchange:{DEPARTMENT}"
    assert (answer["read"], answer["accepted"], answer["quarantined"]) == (5, 2, 3)
    assert answer["read"] == answer["accepted"] + answer["quarantined"]
    assert _rules(answer) == [
        (1, "authority", "producer"),
        (2, "uscc", "references"),
        (3, "decided_on", "past_date"),
    ]
    assert "谁产生、谁报送" in answer["rejected"][0]["message"]
    accepted = lake.scan(settings.lake_dir, "penalties").collect()
    assert sorted(accepted["decision_no"]) == ["P-1", "P-5"]
    # Hostile text is data: stored as given (JSON-escaped NUL included), never interpreted.
    assert accepted.filter(pl.col("decision_no") == "P-5")["party_name"].item() == HOSTILE
    # The quarantine the CLI reads knows the rule.
    assert lake.scan_quarantine(settings.lake_dir, "penalties").collect()["rule"].to_list() == [
        "producer",
        "references",
        "past_date",
    ]


def test_the_same_batch_again_accepts_nothing_and_answers_the_first_batch(
    client: TestClient, who: dict[str, dict[str, str]], settings: Settings
) -> None:
    first = _entities(client, who)
    again = _ok(push(client, who["analyst"], "entities", [entity(code) for code in E]), 200)
    assert again["status"] == "already_ingested"
    assert {k: v for k, v in again.items() if k != "status"} == {
        k: v for k, v in first.items() if k != "status"
    }
    assert len(lake.batches(settings.lake_dir, "entities")) == 1
    assert (
        _ok(client.get(f"/exchange/batches/{first['batch_id']}", headers=who["analyst"]))["batch_id"]
        == (first["batch_id"])
    )


def test_two_identical_pushes_at_once_make_one_batch_and_get_one_answer(
    client: TestClient, who: dict[str, dict[str, str]], settings: Settings
) -> None:
    _entities(client, who)
    rows = [penalty(f"P-C{i}", E[i % len(E)]) for i in range(200)]
    answers: list[Any] = []

    def go() -> None:
        answers.append(push(client, who["system"], "penalties", rows))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [200, 201]
    bodies = [r.json() for r in answers]
    assert {b["batch_id"] for b in bodies} == {bodies[0]["batch_id"]}
    assert sorted(b["status"] for b in bodies) == ["already_ingested", "ingested"]
    assert len(lake.batches(settings.lake_dir, "penalties")) == 1
    assert lake.scan(settings.lake_dir, "penalties").select(pl.len()).collect().item() == 200


def test_a_batch_pushed_by_the_api_lands_in_the_lake_as_the_same_rows_from_a_file(
    client: TestClient, who: dict[str, dict[str, str]], settings: Settings, tmp_path: Path
) -> None:
    rows = [entity(code) for code in E] + [entity("not-a-code"), entity(E[0], name="重复")]
    answer = _ok(push(client, who["analyst"], "entities", rows), 201)
    other = tmp_path / "other-lake"
    path = tmp_path / "entities.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    [report] = ingest.ingest_paths([path], lake_dir=other, salt=settings.person_salt, today=_today())
    assert (answer["read"], answer["accepted"], answer["quarantined"]) == (
        report.rows_read,
        report.rows_accepted,
        report.rows_quarantined,
    )
    mine = lake.scan(settings.lake_dir, "entities").collect()
    theirs = lake.scan(other, "entities").collect()
    assert mine.equals(theirs)
    quarantined = lake.scan_quarantine(other).select("line", "field", "rule").collect().rows()
    assert [(row + 1, f, rule) for row, f, rule in _rules(answer)] == quarantined
    summary = CliRunner().invoke(cli, ["--home", str(settings.home), "--json", "data", "summary"])
    assert summary.exit_code == 0, summary.output
    [entities] = [t for t in json.loads(summary.stdout)["tables"] if t["table"] == "entities"]
    assert (entities["read"], entities["accepted"], entities["quarantined"], entities["rows_in_lake"]) == (
        report.rows_read,
        report.rows_accepted,
        report.rows_quarantined,
        theirs.height,
    )


def _today() -> Any:
    return china_half_past_midnight().today()


def test_a_system_cannot_push_a_table_without_producer_column_and_sees_only_its_batches(
    client: TestClient, who: dict[str, dict[str, str]]
) -> None:
    _error(push(client, who["system"], "entities", [entity(E[0])]), 403, "forbidden")
    _entities(client, who)
    mine = _ok(push(client, who["system"], "penalties", [penalty("P-1", E[0])]), 201)
    _ok(client.get(f"/exchange/batches/{mine['batch_id']}", headers=who["system"]))
    _error(client.get(f"/exchange/batches/{mine['batch_id']}", headers=who["other"]), 403, "forbidden")
    _error(
        client.get("/exchange/batches/penalties-0123456789abcdef", headers=who["system"]), 404, "not_found"
    )
    _error(client.get("/exchange/batches/..%2F..%2Fetc", headers=who["system"]), 404, "not_found")
    # The other department's identical rows are its own batch (a duplicate there); its own decision passes,
    # the market regulator's is quarantined.
    theirs = _ok(push(client, who["other"], "penalties", [penalty("P-1", E[0])]), 201)
    assert theirs["batch_id"] != mine["batch_id"]
    assert _rules(theirs) == [(0, "decision_no", "duplicate_key"), (0, "authority", "producer")]
    theirs = _ok(
        push(
            client,
            who["other"],
            "penalties",
            [penalty("P-9", E[0]), penalty("P-8", E[0], authority=OTHER_DEPARTMENT)],
        ),
        201,
    )
    assert theirs["batch_id"] != mine["batch_id"]
    assert _rules(theirs) == [(0, "authority", "producer")]
    assert theirs["accepted"] == 1


def test_roles_and_malformed_bodies_are_refused(client: TestClient, who: dict[str, dict[str, str]]) -> None:
    body = {"table": "penalties", "rows": [penalty("P-1", E[0])]}
    _error(client.post("/exchange/batches", json=body), 401, "unauthenticated")
    _error(client.post("/exchange/batches", json=body, headers=who["inspector"]), 403, "forbidden")
    _error(client.get("/exchange/feed", headers=who["inspector"]), 403, "forbidden")
    _error(client.get("/exchange/feed", headers=who["analyst"]), 403, "forbidden")
    _error(client.get("/exchange/feed"), 401, "unauthenticated")
    corrupt = client.post(
        "/exchange/batches",
        content=b'{"table": "penalties", "rows": [{"decision_no": "P-1",',
        headers=who["system"] | {"Content-Type": "application/json"},
    )
    _error(corrupt, 422, "validation")
    nested = {"table": "penalties", "rows": [{"decision_no": {"$gt": ""}}]}
    _error(client.post("/exchange/batches", json=nested, headers=who["system"]), 422, "validation")
    unknown = {"table": "../../etc/passwd", "rows": [{"a": 1}]}
    assert _error(client.post("/exchange/batches", json=unknown, headers=who["analyst"]), 422, "validation")
    _error(
        client.post("/exchange/batches", json={"table": "penalties", "rows": []}, headers=who["system"]),
        422,
        "validation",
    )


def test_an_oversize_batch_is_refused_naming_the_limit(
    settings: Settings, engine: sa.Engine, who: dict[str, dict[str, str]]
) -> None:
    rows = [penalty(f"P-{i}", E[0]) for i in range(4)]
    with _client(settings, engine, exchange_max_rows=3) as c:
        body = _error(push(c, who["system"], "penalties", rows), 422, "validation")
        assert "exchange_max_rows = 3" in body["message"]
    with _client(settings, engine, exchange_max_bytes=500) as c:
        body = _error(push(c, who["system"], "penalties", rows), 422, "validation")
        assert "exchange_max_bytes = 500" in body["message"]
    with _client(settings, engine, max_body_bytes=2000) as c:
        big = [penalty(f"P-{i}", E[0]) for i in range(50)]
        _error(push(c, who["system"], "penalties", big), 413, "payload_too_large")
    assert not (settings.lake_dir / "penalties").exists()


KILL = """
import os, signal, sys
from datetime import date
from pathlib import Path
from features import ingest, lake

real = lake._fsync
def crash(path):
    real(path)
    if path.name == "manifest.json":  # the batch is complete in staging, not yet renamed into the lake
        os.kill(os.getpid(), signal.SIGKILL)
lake._fsync = crash
data = Path(sys.argv[2]).read_bytes()
ingest.ingest_data(data, fmt="jsonl", table="entities", source="exchange:test", content_sha256="a" * 64,
                   lake_dir=Path(sys.argv[1]), salt="s", today=date(2026, 11, 27))
"""


def test_a_push_killed_half_way_leaves_no_batch(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(entity(code)) + "\n" for code in E), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", KILL, str(lake_dir), str(data)],
        cwd=Path(__file__).parents[2],
        env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[2])},
        check=False,
    )
    assert done.returncode == -9
    assert lake.batches(lake_dir) == []
    assert (lake_dir / lake.STAGING).is_dir()  # the half batch, invisible
    report = ingest.ingest_data(
        data.read_bytes(),
        fmt="jsonl",
        table="entities",
        source="exchange:test",
        content_sha256="a" * 64,
        lake_dir=lake_dir,
        salt="s",
        today=_today(),
    )
    assert (report.status, report.rows_accepted) == ("ingested", len(E))
    assert list((lake_dir / lake.STAGING).iterdir()) == []


# ------------------------------------------------------------------------------------------------- feed
def _page_all(
    client: TestClient, headers: dict[str, str], cursor: str | None, limit: int
) -> tuple[list[Any], str]:
    items: list[Any] = []
    while True:
        page = _ok(
            client.get(
                "/exchange/feed",
                params={"cursor": cursor, "limit": limit} if cursor else {"limit": limit},
                headers=headers,
            )
        )
        items += page["items"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return items, cursor


def test_paging_the_feed_yields_every_change_exactly_once_while_pushes_arrive(
    client: TestClient, who: dict[str, dict[str, str]]
) -> None:
    _entities(client, who)
    _ok(push(client, who["system"], "penalties", [penalty(f"P-{i}", E[i % 5]) for i in range(7)]), 201)
    page = _ok(client.get("/exchange/feed", params={"limit": 4}, headers=who["system"]))
    seen = page["items"]
    assert page["has_more"] and len(seen) == 4
    cursor = page["next_cursor"]
    for n in range(3):  # a new batch between pages
        _ok(push(client, who["system"], "penalties", [penalty(f"Q-{n}-{i}", E[i]) for i in range(3)]), 201)
        page = _ok(client.get("/exchange/feed", params={"cursor": cursor, "limit": 4}, headers=who["system"]))
        seen += page["items"]
        cursor = page["next_cursor"]
    rest, cursor = _page_all(client, who["system"], cursor, 4)
    seen += rest
    keys = [(i["table"], i["id"]) for i in seen]
    assert len(keys) == len(set(keys)) == 5 + 7 + 9
    assert [i["cursor"] for i in seen] == sorted((i["cursor"] for i in seen), key=_cursor_key)
    whole, _ = _page_all(client, who["system"], None, 1000)
    assert [(i["table"], i["id"]) for i in whole] == keys
    # Nothing new: the same cursor, no items.
    empty = _ok(client.get("/exchange/feed", params={"cursor": cursor}, headers=who["system"]))
    assert (empty["items"], empty["next_cursor"], empty["has_more"]) == ([], cursor, False)
    _error(client.get("/exchange/feed", params={"cursor": "v2.x"}, headers=who["system"]), 422, "validation")
    _error(client.get("/exchange/feed", params={"limit": 1001}, headers=who["system"]), 422, "validation")


def _cursor_key(cursor: str) -> tuple[int, ...]:
    return tuple(int(p) for p in cursor.split(".")[1:])


def test_the_feed_gives_each_record_its_legal_state_and_no_person_key(
    client: TestClient, who: dict[str, dict[str, str]]
) -> None:
    _entities(client, who)
    _ok(push(client, who["system"], "penalties", [penalty(f"P-{i}", E[i]) for i in range(4)]), 201)
    objections = [
        {
            "objection_id": "O-1",
            "uscc": E[0],
            "record_table": "penalties",
            "record_id": "P-0",
            "filed_on": "2025-04-01",
            "decided_on": "2025-04-10",
            "outcome": "upheld",
            "resolution": "revoked",
        },
        {
            "objection_id": "O-2",
            "uscc": E[2],
            "record_table": "penalties",
            "record_id": "P-2",
            "filed_on": "2025-04-01",
            "decided_on": "2025-04-10",
            "outcome": "upheld",
            "resolution": "corrected",
        },
    ]
    _ok(push(client, who["analyst"], "objections", objections), 201)
    repair = {
        "repair_id": "R-1",
        "uscc": E[1],
        "record_table": "penalties",
        "record_id": "P-1",
        "applied_on": "2025-05-01",
        "decided_on": "2025-05-20",
        "outcome": "approved",
        "authority": DEPARTMENT,
    }
    # A repair changes another record's legal state: no department's system pushes one (its own authority
    # column cannot vouch for the repaired record, another department's penalty or the court's list entry).
    _error(push(client, who["system"], "repairs", [repair]), 403, "forbidden")
    _ok(push(client, who["analyst"], "repairs", [repair]), 201)
    relation = {
        "relation_id": "REL-1",
        "uscc": E[0],
        "relation_type": "investment",
        "related_uscc": E[1],
        "valid_from": "2020-01-01",
    }
    _ok(push(client, who["analyst"], "relations", [relation]), 201)
    items, _ = _page_all(client, who["system"], None, 1000)
    states = {i["id"]: i["legal_state"] for i in items if i["table"] == "penalties"}
    assert states == {"P-0": "revoked", "P-1": "repaired", "P-2": "corrected", "P-3": "in_force"}
    assert all("person_key" not in i["data"] for i in items)
    assert {i["kind"] for i in items} == {"record"}
    assert any(i["table"] == "relations" for i in items)


def test_the_feed_carries_list_events_repairs_and_publications_once_each(
    client: TestClient, who: dict[str, dict[str, str]], engine: sa.Engine
) -> None:
    _entities(client, who)
    _ok(push(client, who["system"], "penalties", [penalty("P-1", E[0]), penalty("P-2", E[1])]), 201)
    start = _page_all(client, who["system"], None, 1000)[1]
    sup = issue(engine, Role.SUPERVISOR, name="chief")
    body = {"uscc": E[0], "record_table": "penalties", "record_id": "P-1", "commitment": "承诺守法经营"}
    applied = _ok(
        client.post("/repairs", json=body | {"obligations_evidence": "缴款凭证 1"}, headers=sup), 201
    )
    _ok(client.post("/disclosure/register", headers=sup))
    _ok(client.post("/disclosure/penalties/P-2/publish", json={}, headers=sup))
    at = china_half_past_midnight().now()
    with session_scope(engine) as s:
        for event in ("listed", "exited"):
            s.add(
                ListEvent(
                    at=at,
                    event=event,
                    case_id="LC-1",
                    uscc=E[2],
                    list_type="severe_dishonesty",
                    on=_today(),
                    reason=None if event == "listed" else "expired",
                )
            )
    one_by_one, end = _page_all(client, who["system"], start, 1)
    kinds = [(i["kind"], i["id"]) for i in one_by_one]
    assert sorted(kinds) == sorted(
        [
            ("list_event", "1"),
            ("list_event", "2"),
            ("repair", applied["repair_id"]),
            ("publication", "penalties:P-2"),
        ]
    )
    repair = next(i for i in one_by_one if i["kind"] == "repair")
    assert (repair["uscc"], repair["data"]["action"], repair["data"]["record_id"]) == (
        E[0],
        "repairs.apply",
        "P-1",
    )
    # The decision, not the risk tier nor the applicant's own text.
    assert not {"tier_before", "tier_after", "commitment", "obligations_evidence"} & set(repair["data"])
    publication = next(i for i in one_by_one if i["kind"] == "publication")
    assert publication["data"]["status"] == "published" and publication["uscc"] == E[1]
    states = [i["legal_state"] for i in one_by_one if i["kind"] == "list_event"]
    assert states == ["in_force", "exited"]
    # The same changes in one page from the same cursor, in the same order.
    whole = _ok(client.get("/exchange/feed", params={"cursor": start, "limit": 1000}, headers=who["system"]))
    assert [(i["kind"], i["id"]) for i in whole["items"]] == kinds and whole["next_cursor"] == end


def test_the_feed_shows_records_as_the_system_role_may_see_them(
    client: TestClient, who: dict[str, dict[str, str]]
) -> None:
    # The masking policy's system column: a legal representative's name masked, an entity's phone hidden and
    # its address masked; an inspection's draw (selection probability, control slice, inspectors) is internal.
    address = "盐城市亭湖区解放南路1号"
    _ok(
        push(
            client,
            who["analyst"],
            "entities",
            [entity(E[0], phone="0515-88886666", address=address)],
        ),
        201,
    )
    _ok(push(client, who["system"], "penalties", [penalty("P-1", E[0], legal_representative="张三丰")]), 201)
    inspection = {
        "inspection_id": "I-1",
        "task_id": "T-1",
        "uscc": E[0],
        "department": DEPARTMENT,
        "inspected_on": "2025-03-01",
        "inspectors": "ZF001;ZF002",
        "outcome": "violation",
        "selection_probability": 0.2,
        "in_control_slice": False,
    }
    _ok(push(client, who["system"], "inspections", [inspection]), 201)
    items, _ = _page_all(client, who["system"], None, 1000)
    by_table = {i["table"]: i["data"] for i in items}
    assert (
        "phone" not in by_table["entities"] and by_table["entities"]["address"] != "盐城市亭湖区解放南路1号"
    )
    assert by_table["penalties"]["legal_representative"] not in (None, "张三丰")
    assert not {"selection_probability", "in_control_slice", "inspectors"} & set(by_table["inspections"])
    assert "张三丰" not in str(items) and "0515-88886666" not in str(items)
