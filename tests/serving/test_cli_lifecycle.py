"""The lifecycle CLI end to end on a migrated SQLite home and a real lake, acting as `--as TOKEN`: the same
authority rules as the API (a department acts on its own cases, 谁认定、谁约谈, 四眼原则), and no lifecycle
decision without an identity."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from serving.cli import app
from serving.settings import Settings
from supervision.platform import access
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import OTHER_DEPARTMENT
from tests.supervision.lifecycle_lake import AUTHORITY, AUTHORITY_DIVISION, E, build_lake

runner = CliRunner()


@dataclass(frozen=True)
class People:
    """Tokens of the people the tests act as."""

    sup: str  # a supervisor of the lake's department (city level)
    second: str  # another supervisor of the same department
    other: str  # a supervisor of another department
    inspector: str
    system: str


def issue(settings: Settings, role: Role, name: str, **identity: str | None) -> str:
    """A token for `name` (also its person id) of the lake's department unless `identity` says otherwise."""
    identity = {"department": AUTHORITY, "division": AUTHORITY_DIVISION, "person_id": name, **identity}
    engine = make_engine(settings.db_url)
    try:
        with session_scope(engine) as s:
            return access.create_token(s, name=name, role=role, **identity).token
    finally:
        engine.dispose()


@pytest.fixture
def ready(settings: Settings) -> Settings:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    build_lake(settings.home)
    return settings


@pytest.fixture
def people(ready: Settings) -> People:
    return People(
        sup=issue(ready, Role.SUPERVISOR, "sup-1"),
        second=issue(ready, Role.SUPERVISOR, "sup-2"),
        other=issue(ready, Role.SUPERVISOR, "other-1", department=OTHER_DEPARTMENT, division="320902"),
        inspector=issue(ready, Role.INSPECTOR, "insp-1"),
        system=issue(ready, Role.SYSTEM, "platform", department="江苏省公共信用信息平台", division="320000"),
    )


def _json(settings: Settings, command: str, token: str | None = None) -> tuple[int, Any]:
    """Run `command` (split like a shell line) with --json, as the holder of `token` if given."""
    who = [] if token is None else ["--as", token]
    result = runner.invoke(
        app,
        ["--home", str(settings.home), "--json", *who, *shlex.split(command)],
        obj=china_half_past_midnight(),
    )
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def test_objection_check_disclosure_and_report(ready: Settings, people: People, tmp_path: Path) -> None:
    filing = f"objections file --uscc {E[0]} --table penalties --record P-GEN --grounds 金额有误"
    code, filed = _json(ready, f"{filing} --department {AUTHORITY} --on 2026-11-02", people.system)
    assert code == 0 and filed["decide_due"] == "2026-11-09"
    oid = filed["objection_id"]
    code, err = _json(ready, f"objections decide {oid} --upheld --resolution revoked --reasons r", people.sup)
    assert code == 5 and "'uphold' is not allowed" in err["error"]  # a conflict with the state: exit 5
    assert _json(ready, f"objections mark {oid} --on 2026-11-03", people.sup)[0] == 0
    decide = f"objections decide {oid} --upheld --resolution revoked --reasons 核实有误 --on 2026-11-04"
    code, decided = _json(ready, decide, people.sup)
    assert code == 0 and decided["status"] == "upheld"
    assert _json(ready, "objections overdue --on 2026-12-01", people.sup) == (0, [])

    code, checked = _json(ready, f"check run --uscc {E[4]} --matter bidding --on 2026-11-27", people.system)
    assert code == 0 and checked["restricted"] and checked["lists"][0]["list_type"] == "severe_dishonesty"

    # The upheld objection above revoked P-REVOKE: registering notes the revocation.
    assert _json(ready, "disclosure register", people.sup)[1] == {"registered": 7, "revocations": 1}
    assert _json(ready, "disclosure overdue --on 2026-11-27", people.sup)[0] == 1
    assert _json(ready, "disclosure publish penalties P-REVOKE --on 2026-11-02", people.sup)[0] == 0
    out = tmp_path / "public.csv"
    assert _json(ready, f"disclosure export --out {shlex.quote(str(out))} --on 2026-11-27")[1]["rows"] == 1
    assert not re.search(r"\d{17}[\dXx]", out.read_text(encoding="utf-8"))

    pdf = tmp_path / "report.pdf"
    issue_pdf = f"report issue --uscc {E[4]} --out {shlex.quote(str(pdf))} --on 2026-11-27"
    code, issued = _json(ready, issue_pdf, people.inspector)
    assert code == 0 and pdf.read_bytes().startswith(b"%PDF-")
    verify = f"report verify {issued['report_no']}"
    assert _json(ready, f"{verify} {issued['hash']}", people.inspector)[1]["valid"] is True
    assert _json(ready, f"{verify} {'0' * 64}", people.inspector)[0] == 1


def test_a_database_behind_the_code_is_a_clear_error(settings: Settings) -> None:
    engine = make_engine(settings.db_url)
    upgrade(engine, "0004")
    engine.dispose()
    code, err = _json(settings, "lists events")
    assert code == 1 and "at migration 0004" in err["error"] and "creditwatch db upgrade" in err["error"]


# ------------------------------------------------------------------------------------------- authority
@pytest.mark.parametrize(
    "command",
    [
        f"objections file --uscc {E[0]} --table penalties --record P-GEN --grounds g",
        "objections list",
        f"repairs apply --uscc {E[0]} --table penalties --record P-GEN",
        f"lists propose --uscc {E[6]} --type severe_dishonesty --reasons r --basis b",
        "lists list LST-X --document d",
        "lists interview LST-X --reason r",
        f"commitments make --uscc {E[0]} --matter food_business_licence",
        "disclosure register",
        f"check run --uscc {E[4]} --matter bidding",
        f"report issue --uscc {E[4]} --out r.html",
    ],
    ids=lambda command: " ".join(command.split()[:2]),
)
def test_the_cli_refuses_lifecycle_work_without_an_identity(ready: Settings, command: str) -> None:
    code, err = _json(ready, command)
    assert code == 3 and "without an identity" in err["error"]


def test_the_department_is_the_tokens_not_a_typed_one(ready: Settings, people: People) -> None:
    filing = f"objections file --uscc {E[0]} --table penalties --record P-GEN --grounds g --on 2026-11-02"
    code, err = _json(ready, f"{filing} --department {OTHER_DEPARTMENT}", people.sup)
    assert code == 3 and "their own department" in err["error"]
    code, filed = _json(ready, filing, people.inspector)
    assert code == 0 and filed["department"] == AUTHORITY  # the inspector's department handles it
    code, err = _json(ready, filing, people.system)
    assert code == 1 and "required when a system files" in err["error"]
    propose = f"lists propose --uscc {E[2]} --type severe_dishonesty --reasons r --basis b --on 2026-10-12"
    code, proposed = _json(ready, propose, people.other)
    assert code == 0 and proposed["department"] == OTHER_DEPARTMENT


def test_another_department_may_not_decide_or_read_a_case(ready: Settings, people: People) -> None:
    filing = f"objections file --uscc {E[0]} --table penalties --record P-GEN --grounds g --on 2026-11-02"
    oid = _json(ready, filing, people.sup)[1]["objection_id"]
    for command in (f"objections mark {oid}", f"objections show {oid}"):
        code, err = _json(ready, command, people.other)
        assert code == 3 and f"belongs to {AUTHORITY}" in err["error"]
    assert _json(ready, "objections list", people.other) == (0, [])  # reads are filtered
    assert [o["objection_id"] for o in _json(ready, "objections list", people.sup)[1]] == [oid]
    # The repair of a record of the lake's department is taken, and decided, by that department only.
    repair = (
        f"repairs apply --uscc {E[0]} --table penalties --record P-GEN --commitment c --evidence e "
        "--on 2026-11-02"
    )
    code, err = _json(ready, repair, people.other)
    assert code == 3 and "penalised or listed" in err["error"]
    code, applied = _json(ready, repair, people.system)  # a system applies for the party
    assert code == 0 and applied["department"] == AUTHORITY
    accept = f"repairs accept {applied['repair_id']} --on 2026-11-03"
    code, err = _json(ready, accept, people.other)
    assert code == 3 and f"belongs to {AUTHORITY}" in err["error"]
    assert _json(ready, accept, people.sup)[0] == 0


def test_only_the_listing_department_interviews(ready: Settings, people: People) -> None:
    cid = _listed(ready, people)
    interview = f"lists interview {cid} --reason 逾期未整改 --on 2026-11-20"
    code, err = _json(ready, interview, people.other)
    assert code == 3 and "谁认定、谁约谈" in err["error"]
    for command in (f"lists rectified {cid}", f"lists exit {cid}", f"lists show {cid}"):
        assert _json(ready, command, people.other)[0] == 3
    assert _json(ready, "lists interviews-due --on 2026-11-20", people.other) == (0, [])
    code, done = _json(ready, interview, people.sup)
    assert code == 0 and done["interviewed_on"] == "2026-11-20"


def _proposed(settings: Settings, token: str, uscc: str = E[2]) -> str:
    propose = (
        f"lists propose --uscc {uscc} --type severe_dishonesty --reasons 提供虚假材料 --basis 办法第二条"
    )
    code, case = _json(settings, f"{propose} --on 2026-10-12", token)
    assert code == 0, case
    return str(case["case_id"])


def _listed(settings: Settings, people: People) -> str:
    cid = _proposed(settings, people.sup)
    assert _json(settings, f"lists approve {cid} --on 2026-10-13", people.second)[0] == 0
    code, listed = _json(settings, f"lists list {cid} --document P-REVOKE --on 2026-10-20", people.sup)
    assert code == 0 and listed["status"] == "listed", listed
    return cid


def test_four_eyes_a_second_person_of_the_department_approves(ready: Settings, people: People) -> None:
    cid = _proposed(ready, people.sup)
    listing = f"lists list {cid} --document P-REVOKE --on 2026-10-20"
    code, err = _json(ready, listing, people.sup)
    assert code == 3 and "四眼原则" in err["error"] and "second approver" in err["error"]
    approve = f"lists approve {cid} --on 2026-10-13"
    code, err = _json(ready, approve, people.sup)
    assert code == 3 and "another person" in err["error"]  # not the proposer
    code, err = _json(ready, approve, people.other)
    assert code == 3 and f"belongs to {AUTHORITY}" in err["error"]  # not another department
    nameless = issue(ready, Role.SUPERVISOR, "sup-3", person_id=None)
    code, err = _json(ready, approve, nameless)
    assert code == 3 and "no person id" in err["error"]  # four eyes compare persons
    code, approved = _json(ready, approve, people.second)
    assert (
        code == 0
        and approved["approver_person_id"] == "sup-2"
        and approved["approved_by"].startswith("sup-2#")
    )
    code, listed = _json(ready, listing, people.sup)
    assert code == 0 and listed["status"] == "listed"


def test_four_eyes_only_at_the_levels_of_the_policy(ready: Settings) -> None:
    province = issue(ready, Role.SUPERVISOR, "prov-1", department="江苏省市场监督管理局", division="320000")
    cid = _proposed(ready, province)
    code, listed = _json(ready, f"lists list {cid} --document P-REVOKE --on 2026-10-20", province)
    assert code == 0 and listed["approved_by"] is None  # a province-level listing needs no second approver
    # A department whose level is unknown (no division) cannot show that it is exempt.
    unknown = issue(ready, Role.SUPERVISOR, "nodiv-1", department="某局", division=None)
    cid = _proposed(ready, unknown, uscc=E[4])
    code, err = _json(ready, f"lists list {cid} --document d --on 2026-10-20", unknown)
    assert code == 3 and "unknown-level" in err["error"]


def test_a_decision_is_not_dated_after_today(ready: Settings, people: People) -> None:
    propose = f"lists propose --uscc {E[6]} --type severe_dishonesty --reasons r --basis b --on 9999-12-31"
    code, err = _json(ready, propose, people.sup)
    assert code == 1 and "after today in China" in err["error"]
    code, err = _json(ready, "objections overdue --on 9999-12-31", people.sup)
    assert code == 1 and "calendar" in err["error"]
