"""The service zone's filings (issue 14): documents typed by their content and never served as a page, repair
applications with the documents their regime requires, self-reports verified before they enter the lake,
and the department's queue with its clocks in working days — over HTTP on a real lake and SQLite."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features import lake as lake_io
from features.build import build_features
from serving.api.app import create_app
from serving.settings import Settings, load_settings
from supervision.lifecycle import documents, repairs, scores, self_reports
from supervision.lifecycle.records import Lake
from supervision.lifecycle.workflow import Actor
from supervision.platform import audit
from supervision.platform.access import Role
from supervision.platform.calendar import due_date, working_days_between
from supervision.platform.clock import CHINA, FixedClock, china_today
from supervision.platform.db import make_engine, session_scope, upgrade
from supervision.platform.errors import ConflictError
from tests.serving.api_city import OTHER_DEPARTMENT, issue
from tests.serving.api_city import error as _error
from tests.serving.api_city import ok as _ok
from tests.supervision.lifecycle_lake import AUTHORITY, AUTHORITY_DIVISION, E, build_lake

ENT = frozenset({Role.ENTITY})
SUP = frozenset({Role.SUPERVISOR})
# Imported by tests/serving/test_api_foundation.py (the lead wires it): the filings routes and their roles.
FILINGS_MATRIX: list[tuple[str, str, frozenset[Role] | str]] = [
    ("POST", "/zone/repairs", frozenset({Role.ENTITY, Role.SUPERVISOR, Role.SYSTEM})),
    ("GET", "/zone/repairs/records", frozenset({Role.ENTITY, Role.SUPERVISOR})),
    ("POST", "/zone/self-reports", ENT),
    ("GET", "/self-reports", frozenset({Role.ENTITY, Role.SUPERVISOR, Role.INSPECTOR})),
    ("POST", "/self-reports/{report_id}/verify", SUP),
    ("POST", "/self-reports/{report_id}/reject", SUP),
    ("GET", "/documents/{sha256}", frozenset({Role.ENTITY, Role.SUPERVISOR, Role.INSPECTOR})),
    ("GET", "/queues", frozenset({Role.SUPERVISOR, Role.INSPECTOR})),
]

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
DEMO_DEPARTMENT = "盐城市市场监督管理局（信用监管）"
# A shipped regime requires no route today; the test policy makes the market-supervision regime require a
# credit-training certificate for general penalties from 2026-01-01 (as 发改办财金〔2019〕527号 did for
# serious ones), and sends self-reports to the lake's department.
REQUIRES_TRAINING = """
[[repair_conditions.samr]]
effective_from = 2026-01-01
general = ["credit_training"]
source = "test: training required for general penalties"
confidence = "U"
"""


def _today() -> date:
    return china_today()


def clock_on(day: date) -> FixedClock:
    return FixedClock(datetime.combine(day, time(10, 0), tzinfo=CHINA))


def filings_policy(tmp_path: Path) -> Path:
    """The suite's policy, self-reports at the lake's department, training required (see above)."""
    text = Path(os.environ["CREDITWATCH_LIFECYCLE_POLICY"]).read_text(encoding="utf-8")
    path = tmp_path / "filings-policy.toml"
    path.write_text(text.replace(DEMO_DEPARTMENT, AUTHORITY) + REQUIRES_TRAINING, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "api.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(migrated: Path, tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{shutil.copyfile(migrated, tmp_path / 'api.db')}")
    yield engine
    engine.dispose()


@pytest.fixture
def fsettings(home: Path, tmp_path: Path) -> Settings:
    build_lake(home)
    return load_settings(home=home, lifecycle_policy=filings_policy(tmp_path), document_max_bytes=4096)


@pytest.fixture
def staff(engine: sa.Engine) -> dict[Role, dict[str, str]]:
    return {
        r: issue(engine, r, department=AUTHORITY, division=AUTHORITY_DIVISION)
        for r in (Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST)
    }


@pytest.fixture
def ent(engine: sa.Engine) -> dict[int, dict[str, str]]:
    """Entity tokens of E[0] (P-GEN: eligible) and E[1] (P-FOOD: food, eligible only from 2027-02-02)."""
    return {i: issue(engine, Role.ENTITY, name=f"entity-{i}", uscc=E[i]) for i in (0, 1, 2)}


def make_client(settings: Settings, engine: sa.Engine, day: date | None = None) -> TestClient:
    return TestClient(create_app(settings, engine=engine, clock=clock_on(day or _today())))


@pytest.fixture
def client(fsettings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    with make_client(fsettings, engine) as c:
        yield c


def _apply(
    client: TestClient, headers: dict[str, str], record_id: str, files: dict[str, tuple[str, bytes, str]]
):
    return client.post(
        "/zone/repairs",
        headers=headers,
        data={
            "record_table": "penalties",
            "record_id": record_id,
            "commitment": "本单位承诺依法诚信经营",
            "obligations_evidence": "罚款已缴纳，缴款书号 32090012345",
        },
        files=files,
    )


def _count(engine: sa.Engine, model: type) -> int:
    with session_scope(engine) as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model)) or 0


# ------------------------------------------------------------------------------------------- documents
def test_the_type_is_the_contents_never_the_name_or_the_declared_type() -> None:
    assert documents.check_upload(PDF, "a.png", max_bytes=1000).media_type == "application/pdf"
    assert documents.check_upload(PNG, "a.pdf", max_bytes=1000).media_type == "image/png"
    assert documents.check_upload(JPEG, "x", max_bytes=1000).media_type == "image/jpeg"
    for bad in (HTML, b"GIF89a....", b"%PD", b"PK\x03\x04zip"):
        with pytest.raises(documents.DocumentError, match="not a PDF, JPEG or PNG by its content"):
            documents.check_upload(bad, "looks.pdf", max_bytes=1000)
    with pytest.raises(documents.DocumentError, match="empty"):
        documents.check_upload(b"", "a.pdf", max_bytes=1000)
    with pytest.raises(documents.DocumentError, match="over the limit of 100 bytes") as exc:
        documents.check_upload(PDF + b"x" * 100, "a.pdf", max_bytes=100, field="document_credit_report")
    assert exc.value.field == "document_credit_report"


def test_a_hostile_name_is_reduced_to_a_label() -> None:
    checked = documents.check_upload(PDF, "../../etc/<script>alert(1)</script>.html", max_bytes=1000)
    assert checked.filename.endswith(".pdf") and "/" not in checked.filename and "<" not in checked.filename
    assert len(documents.check_upload(PDF, "名" * 500 + ".pdf", max_bytes=1000).filename) <= 120


def test_content_is_stored_once_by_hash_atomically(engine: sa.Engine, tmp_path: Path) -> None:
    root = tmp_path / "docs"
    at = datetime(2026, 12, 1, tzinfo=CHINA)
    checked = documents.check_upload(PDF, "证书.pdf", max_bytes=1000)
    with session_scope(engine) as s:
        a = documents.store(s, root, checked, uscc=E[0], uploaded_by="e0", at=at)
        b = documents.store(s, root, checked, uscc=E[0], uploaded_by="e0", at=at)
        c = documents.store(s, root, checked, uscc=E[1], uploaded_by="e1", at=at)
        assert a.document_id == b.document_id != c.document_id
    sha = hashlib.sha256(PDF).hexdigest()
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files == [root / sha[:2] / sha]  # one file, no temporary left behind
    assert files[0].read_bytes() == PDF
    # A damaged file of the same size is written again by the next upload of the content (the hash names the
    # bytes, not the size), so the document is served again.
    files[0].write_bytes(b"X" * len(PDF))
    with session_scope(engine) as s:
        again = documents.store(s, root, checked, uscc=E[0], uploaded_by="e0", at=at)
        assert documents.read_content(root, again) == PDF


# ------------------------------------------------------------------------------------------------ repairs
def test_an_entity_applies_with_the_document_its_regime_requires(
    client: TestClient, engine: sa.Engine, ent: dict[int, dict[str, str]], staff: dict[Role, dict[str, str]]
) -> None:
    missing = _error(_apply(client, ent[0], "P-GEN", {}), 422, "validation")
    assert missing["field"] == "document_credit_training"
    assert "credit_training" in missing["message"] and "不予受理" in missing["message"]
    assert _count(engine, repairs.Repair) == 0 and _count(engine, documents.Document) == 0

    html = _error(
        _apply(client, ent[0], "P-GEN", {"document_credit_training": ("cert.pdf", HTML, "application/pdf")}),
        422,
        "validation",
    )
    assert html["field"] == "document_credit_training" and "not a PDF, JPEG or PNG" in html["message"]
    too_big = _apply(
        client,
        ent[0],
        "P-GEN",
        {"document_credit_training": ("cert.pdf", PDF + b"0" * 5000, "application/pdf")},
    )
    assert "over the limit of 4096 bytes" in _error(too_big, 422, "validation")["message"]
    assert _count(engine, repairs.Repair) == 0 and _count(engine, documents.Document) == 0

    # The entity's stored tier: the department's view of the application carries it, the entity's never does
    # (risk classification is internal, 国市监信发〔2022〕6号).
    with session_scope(engine) as s:
        scores.record(
            s,
            uscc=E[0],
            as_of=_today(),
            decided_on=_today() - timedelta(days=1),
            probability=0.61,
            tier="D",
            model_version="7",
            reason="test",
            reasons_zh="",
        )
    view = _ok(
        _apply(client, ent[0], "P-GEN", {"document_credit_training": ("培训证书.pdf", PDF, "text/html")}), 201
    )
    assert view["tier_before"] is None and view["tier_after"] is None
    sha = hashlib.sha256(PDF).hexdigest()
    assert view["documents"] == {"credit_training": sha}
    assert view["department"] == AUTHORITY and view["applied_on"] == _today().isoformat()
    assert view["conditions_met"]["credit_training"] == f"document sha256:{sha}"
    # The department sees it with its documents.
    got = _ok(client.get(f"/repairs/{view['repair_id']}", headers=staff[Role.SUPERVISOR]))
    assert got["documents"] == {"credit_training": sha} and got["tier_before"] == "D"


def test_an_early_application_is_refused_with_its_earliest_date(
    fsettings: Settings, engine: sa.Engine, ent: dict[int, dict[str, str]]
) -> None:
    doc = {"document_credit_training": ("cert.pdf", PDF, "application/pdf")}
    with make_client(fsettings, engine, date(2026, 12, 7)) as early:
        refused = _error(_apply(early, ent[1], "P-FOOD", doc), 422, "validation")
    assert refused["field"] == "applied_on"
    assert "earliest eligible date 2027-02-02" in refused["message"] and "不予受理" in refused["message"]
    assert _count(engine, repairs.Repair) == 0 and _count(engine, documents.Document) == 0
    with make_client(fsettings, engine, date(2027, 2, 3)) as later:
        view = _ok(_apply(later, ent[1], "P-FOOD", doc), 201)
    assert view["applied_on"] == "2027-02-03" and view["status"] == "applied"


def test_another_entitys_record_is_refused_and_nothing_is_written(
    client: TestClient, engine: sa.Engine, ent: dict[int, dict[str, str]]
) -> None:
    doc = {"document_credit_training": ("cert.pdf", PDF, "application/pdf")}
    before = _count(engine, audit.AuditEntry)
    refused = _error(_apply(client, ent[1], "P-GEN", doc), 403, "forbidden")
    assert "own USCC only" in refused["message"]
    # Naming the other entity as the applicant does not help either.
    forged = client.post(
        "/zone/repairs",
        headers=ent[1],
        data={
            "uscc": E[0],
            "record_table": "penalties",
            "record_id": "P-GEN",
            "commitment": "承诺",
            "obligations_evidence": "已缴纳",
        },
        files=doc,
    )
    _error(forged, 403, "forbidden")
    assert _count(engine, repairs.Repair) == 0 and _count(engine, documents.Document) == 0
    stored = client.app.state.settings.documents_dir  # type: ignore[attr-defined]
    assert not stored.exists() or not [p for p in stored.rglob("*") if p.is_file()]
    with session_scope(engine) as s:
        denied = s.scalars(
            sa.select(audit.AuditEntry).where(audit.AuditEntry.action == "repairs.apply")
        ).all()
    assert _count(engine, audit.AuditEntry) > before
    assert all(e.result != "ok" for e in denied)
    # The records list is the entity's own too.
    assert {r["record_id"] for r in _ok(client.get("/zone/repairs/records", headers=ent[0]))} == {"P-GEN"}
    _error(client.get(f"/zone/repairs/records?uscc={E[0]}", headers=ent[1]), 403, "forbidden")


# ---------------------------------------------------------------------------------------- served back
def test_a_document_is_served_as_an_attachment_of_its_type_never_as_a_page(
    client: TestClient, ent: dict[int, dict[str, str]], staff: dict[Role, dict[str, str]]
) -> None:
    sneaky = PDF + b"<html><script>alert(document.cookie)</script></html>"
    _ok(_apply(client, ent[0], "P-GEN", {"document_credit_training": ("x.html", sneaky, "text/html")}), 201)
    sha = hashlib.sha256(sneaky).hexdigest()
    for who in (ent[0], staff[Role.SUPERVISOR], staff[Role.INSPECTOR]):
        r = client.get(f"/documents/{sha}", headers=who)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]
        assert r.content == sneaky
    _error(client.get(f"/documents/{sha}", headers=ent[1]), 403, "forbidden")
    _error(client.get(f"/documents/{sha}", headers=staff[Role.ANALYST]), 403, "forbidden")
    _error(client.get(f"/documents/{'0' * 64}", headers=staff[Role.SUPERVISOR]), 404, "not_found")
    assert client.get("/documents/..%2F..%2Fetc%2Fpasswd", headers=staff[Role.SUPERVISOR]).status_code in (
        404,
        422,
    )


def test_the_same_content_is_kept_once(
    client: TestClient, engine: sa.Engine, fsettings: Settings, ent: dict[int, dict[str, str]]
) -> None:
    for topic in ("honour", "qualification"):
        _ok(
            client.post(
                "/zone/self-reports",
                headers=ent[0],
                data={"topic": topic, "content": f"{topic}: 证书编号 123"},
                files=[("documents", ("证书.png", PNG, "image/png"))],
            ),
            201,
        )
    assert _count(engine, documents.Document) == 1
    assert len([p for p in fsettings.documents_dir.rglob("*") if p.is_file()]) == 1


def test_the_upload_routes_take_bodies_over_the_api_limit_and_others_do_not(
    home: Path, tmp_path: Path, engine: sa.Engine, ent: dict[int, dict[str, str]]
) -> None:
    build_lake(home)
    settings = load_settings(
        home=home,
        lifecycle_policy=filings_policy(tmp_path),
        max_body_bytes=2000,
        upload_max_body_bytes=20_000,
    )
    big = PDF + b"0" * 5000
    with make_client(settings, engine) as c:
        view = _apply(c, ent[0], "P-GEN", {"document_credit_training": ("c.pdf", big, "application/pdf")})
        assert view.status_code == 201, view.text
        huge = _apply(c, ent[0], "P-GEN", {"document_credit_training": ("c.pdf", big * 5, "application/pdf")})
        assert huge.status_code == 413
        other = c.post("/objections", headers=ent[0], content=b"{" + b" " * 3000 + b"}")
        assert other.status_code == 413


# ----------------------------------------------------------------------------------------- self-reports
def _feature(settings: Settings, uscc: str, as_of: date) -> dict[str, object]:
    frame = build_features(lake_io.sources(settings.lake_dir), as_of=as_of).filter(pl.col("uscc") == uscc)
    row = frame.collect().to_dicts()
    assert len(row) == 1
    return {k: v for k, v in row[0].items() if k.startswith("self_reports_")}


def test_a_self_report_is_verified_then_enters_the_lake_and_the_features(
    client: TestClient, fsettings: Settings, ent: dict[int, dict[str, str]], staff: dict[Role, dict[str, str]]
) -> None:
    as_of = _today() + timedelta(days=1)
    before = _feature(fsettings, E[0], as_of)
    submitted = _ok(
        client.post(
            "/zone/self-reports",
            headers=ent[0],
            data={"topic": "honour", "content": "2026年度江苏省守合同重信用企业（证书编号 SH-2026-001）"},
            files=[("documents", ("证书.pdf", PDF, "application/pdf"))],
        ),
        201,
    )
    assert submitted["department"] == AUTHORITY and submitted["status"] == "submitted"
    assert submitted["due"] == due_date(_today(), 10).isoformat()
    assert submitted["attached"][0]["media_type"] == "application/pdf"
    # Not in the lake while only submitted.
    assert lake_io.scan(fsettings.lake_dir, "self_reports").collect().height == 0
    assert _feature(fsettings, E[0], as_of) == before
    # The entity lists its own; staff their department's.
    assert [r["report_id"] for r in _ok(client.get("/self-reports", headers=ent[0]))] == [
        submitted["report_id"]
    ]
    assert _ok(client.get("/self-reports", headers=ent[1])) == []
    rid = submitted["report_id"]
    verified = _ok(client.post(f"/self-reports/{rid}/verify", headers=staff[Role.SUPERVISOR], json={}))
    assert verified["status"] == "verified" and verified["decided_on"] == _today().isoformat()
    rows = lake_io.scan(fsettings.lake_dir, "self_reports").collect()
    assert rows.select("report_id", "uscc", "topic", "verified", "verified_on").rows() == [
        (rid, E[0], "honour", True, _today())
    ]
    # The entity sees its report verified, not which staff member verified it.
    own = _ok(client.get("/self-reports", headers=ent[0]))
    assert own[0]["status"] == "verified" and own[0]["decided_by"] is None
    after = _feature(fsettings, E[0], as_of)
    assert after["self_reports_n_365d"] == int(before["self_reports_n_365d"] or 0) + 1  # type: ignore[call-overload]
    assert after["self_reports_verified_share_1095d"] == 1.0
    # Decided once.
    _error(
        client.post(f"/self-reports/{rid}/reject", headers=staff[Role.SUPERVISOR], json={"reason": "x"}),
        409,
        "conflict",
    )


def test_a_rejection_needs_a_reason_and_never_reaches_the_lake(
    client: TestClient, fsettings: Settings, ent: dict[int, dict[str, str]], staff: dict[Role, dict[str, str]]
) -> None:
    rid = _ok(
        client.post(
            "/zone/self-reports", headers=ent[0], data={"topic": "qualification", "content": "ISO 9001"}
        ),
        201,
    )["report_id"]
    sup = staff[Role.SUPERVISOR]
    _error(client.post(f"/self-reports/{rid}/reject", headers=sup, json={}), 422, "validation")
    blank = _error(
        client.post(f"/self-reports/{rid}/reject", headers=sup, json={"reason": "   "}), 422, "validation"
    )
    assert blank["field"] == "reason"
    done = _ok(client.post(f"/self-reports/{rid}/reject", headers=sup, json={"reason": "证书编号查无此证"}))
    assert (done["status"], done["reason"]) == ("rejected", "证书编号查无此证")
    assert lake_io.scan(fsettings.lake_dir, "self_reports").collect().height == 0


def test_only_the_topics_department_decides_and_the_entity_reports_only_for_itself(
    client: TestClient, engine: sa.Engine, ent: dict[int, dict[str, str]], staff: dict[Role, dict[str, str]]
) -> None:
    rid = _ok(
        client.post("/zone/self-reports", headers=ent[0], data={"topic": "honour", "content": "表彰"}), 201
    )["report_id"]
    other = issue(engine, Role.SUPERVISOR, name="other-dept", department=OTHER_DEPARTMENT, person_id="x")
    refused = _error(client.post(f"/self-reports/{rid}/verify", headers=other, json={}), 403, "forbidden")
    assert AUTHORITY in refused["message"]
    _error(
        client.post(f"/self-reports/{rid}/verify", headers=staff[Role.INSPECTOR], json={}), 403, "forbidden"
    )
    _error(client.post(f"/self-reports/{rid}/verify", headers=ent[0], json={}), 403, "forbidden")
    assert _ok(client.get("/self-reports", headers=other)) == []
    # Staff do not submit for an entity; bad topics and sizes are named.
    _error(
        client.post(
            "/zone/self-reports", headers=staff[Role.SUPERVISOR], data={"topic": "honour", "content": "x"}
        ),
        403,
        "forbidden",
    )
    bad = client.post("/zone/self-reports", headers=ent[0], data={"topic": "lottery", "content": "x"})
    assert bad.status_code == 422 and "topic" in bad.text
    long = client.post("/zone/self-reports", headers=ent[0], data={"topic": "honour", "content": "长" * 2001})
    assert long.status_code == 422 and "content" in long.text
    with session_scope(engine) as s:
        assert [r.report_id for r in self_reports.list_reports(s)] == [rid]


# ----------------------------------------------------------------------------------------------- queues
def test_the_queue_shows_each_filing_with_its_clock_in_working_days(
    client: TestClient, engine: sa.Engine, ent: dict[int, dict[str, str]], staff: dict[Role, dict[str, str]]
) -> None:
    today = _today()
    sup = staff[Role.SUPERVISOR]
    filed_on = today - timedelta(days=30)
    objection = _ok(
        client.post(
            "/objections",
            headers=sup,
            json={
                "uscc": E[2],
                "record_table": "penalties",
                "record_id": "P-REVOKE",
                "grounds": "处罚决定书编号登记错误",
                "filed_on": filed_on.isoformat(),
                "backdate_reason": "纸质异议补录",
            },
        ),
        201,
    )
    repair = _ok(
        _apply(client, ent[0], "P-GEN", {"document_credit_training": ("c.pdf", PDF, "application/pdf")}), 201
    )
    report = _ok(
        client.post("/zone/self-reports", headers=ent[0], data={"topic": "honour", "content": "表彰"}), 201
    )
    queue = _ok(client.get("/queues", headers=staff[Role.INSPECTOR]))
    assert queue["department"] == AUTHORITY and queue["on"] == today.isoformat()
    assert queue["counts"] == {"objection": 1, "repair": 1, "self_report": 1, "statement": 0}
    items = {i["kind"]: i for i in queue["items"]}
    o = items["objection"]
    assert (o["item_id"], o["clock"], o["due"]) == (objection["objection_id"], "mark", objection["mark_due"])
    mark_due = date.fromisoformat(objection["mark_due"])
    assert o["late"] and o["working_days_left"] == -working_days_between(mark_due, today) < 0
    r = items["repair"]
    assert (r["clock"], r["due"], r["actions"]) == ("accept", repair["accept_due"], ["accept", "reject"])
    assert r["working_days_left"] == working_days_between(today, date.fromisoformat(repair["accept_due"]))
    assert r["documents"] == {"credit_training": hashlib.sha256(PDF).hexdigest()}
    s = items["self_report"]
    assert (s["clock"], s["due"]) == ("verify", report["due"])
    assert s["working_days_left"] == 10 and not s["late"]  # ten working days from today, by the calendar
    assert queue["items"][0]["kind"] == "objection"  # the most urgent first
    # Another department's queue is its own (empty); an entity has no queue.
    other = issue(engine, Role.SUPERVISOR, name="other-dept", department=OTHER_DEPARTMENT, person_id="x")
    assert _ok(client.get("/queues", headers=other))["items"] == []
    _error(client.get("/queues", headers=ent[0]), 403, "forbidden")


def test_a_statement_waits_in_the_queue(
    client: TestClient, staff: dict[Role, dict[str, str]], engine: sa.Engine
) -> None:
    sup = staff[Role.SUPERVISOR]
    case = _ok(
        client.post(
            "/lists",
            headers=sup,
            json={
                "uscc": E[2],
                "list_type": "severe_dishonesty",
                "reasons": "提供虚假材料",
                "basis": "办法第二条",
            },
        ),
        201,
    )
    system = issue(engine, Role.SYSTEM, name="sys", department=AUTHORITY, division=AUTHORITY_DIVISION)
    _ok(client.post(f"/lists/{case['case_id']}/response", headers=system, json={"response": "我司已整改"}))
    items = _ok(client.get("/queues?kind=statement", headers=sup))["items"]
    assert [(i["item_id"], i["clock"], i["detail"]) for i in items] == [
        (case["case_id"], "statement", "我司已整改")
    ]
    assert items[0]["due"] == case["response_due"]


def test_the_entity_cannot_backdate_or_skip_the_documents_through_the_json_route(
    client: TestClient, engine: sa.Engine, ent: dict[int, dict[str, str]], staff: dict[Role, dict[str, str]]
) -> None:
    body = {
        "uscc": E[0],
        "record_table": "penalties",
        "record_id": "P-GEN",
        "commitment": "承诺",
        "obligations_evidence": "已缴纳",
        "conditions_met": [{"name": "credit_training", "reference": "证书 123"}],
    }
    # The JSON route takes references, not documents: the entity's own application needs the document.
    refused = _error(client.post("/repairs", headers=ent[0], json=body), 422, "validation")
    assert refused["field"] == "document_credit_training"
    backdated = {**body, "applied_on": (_today() - timedelta(days=400)).isoformat(), "backdate_reason": "x"}
    assert _error(client.post("/repairs", headers=ent[0], json=backdated), 422, "validation")["field"] == (
        "applied_on"
    )
    assert _count(engine, repairs.Repair) == 0
    # A far-future decision day is refused by name.
    rid = _ok(
        client.post("/zone/self-reports", headers=ent[0], data={"topic": "honour", "content": "表彰"}), 201
    )["report_id"]
    far = client.post(
        f"/self-reports/{rid}/verify", headers=staff[Role.SUPERVISOR], json={"on": "9999-12-31"}
    )
    assert _error(far, 422, "validation")["field"] == "on"
    with session_scope(engine) as s:
        assert self_reports.get(s, rid).status == "submitted"


def test_a_verification_whose_commit_failed_is_not_written_twice(
    fsettings: Settings, engine: sa.Engine
) -> None:
    # The lake is written before the database commits: a verification whose commit failed leaves the row in
    # the lake and the report "submitted". Verifying again keeps that row (the lake refuses a second one of
    # the key); rejecting it instead is refused, so a rejected report never counts in the features.
    lake = Lake(dir=fsettings.lake_dir, salt=fsettings.person_salt)
    actor = Actor("chief#1", role="supervisor", department=AUTHORITY, at=datetime.now(CHINA))
    with session_scope(engine) as s:
        first = self_reports.submit(s, actor=actor, uscc=E[0], topic="honour", content="表彰", on=_today())
        second = self_reports.submit(s, actor=actor, uscc=E[1], topic="honour", content="表彰", on=_today())
    for rid in (first.report_id, second.report_id):
        with pytest.raises(RuntimeError), session_scope(engine) as s:
            self_reports.verify(s, rid, actor=actor, on=_today(), lake=lake)
            raise RuntimeError("the commit fails")
    with session_scope(engine) as s:
        assert self_reports.get(s, first.report_id).status == "submitted"
        self_reports.verify(s, first.report_id, actor=actor, on=_today() + timedelta(days=1), lake=lake)
        with pytest.raises(ConflictError, match="already holds it as verified"):
            self_reports.reject(s, second.report_id, actor=actor, on=_today(), reason="不实", lake=lake)
    rows = lake_io.scan(fsettings.lake_dir, "self_reports").collect()
    assert sorted(rows["report_id"]) == sorted([first.report_id, second.report_id])
