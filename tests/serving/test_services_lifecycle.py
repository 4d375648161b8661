"""Every credit-lifecycle use case, run through the CLI as `--as TOKEN` on a real lake and SQLite: each writes
its audit entry naming the action, the actor, the role, the acting department and the door."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from serving.cli import app
from serving.services import checks, commitments, disclosure, lists, objections, repairs, reports
from serving.settings import Settings
from supervision.platform import access, audit
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.supervision.lifecycle_lake import AUTHORITY, AUTHORITY_DIVISION, E, build_lake

runner = CliRunner()
SERVICES: tuple[ModuleType, ...] = (objections, repairs, lists, checks, commitments, disclosure, reports)
PLATFORM = "江苏省公共信用信息平台"


@dataclass(frozen=True)
class Holder:
    """A token and how the audit log must name its holder."""

    token: str
    actor: str
    role: str
    department: str


def _holder(settings: Settings, role: Role, name: str, department: str = AUTHORITY) -> Holder:
    engine = make_engine(settings.db_url)
    try:
        with session_scope(engine) as s:
            issued = access.create_token(
                s, name=name, role=role, department=department, division=AUTHORITY_DIVISION, person_id=name
            )
    finally:
        engine.dispose()
    return Holder(issued.token, f"{name}#{issued.info.id}", role.value, department)


class Walk:
    """Runs commands as their holders and remembers which action each one must have audited."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.expected: list[tuple[str, Holder]] = []

    def run(self, holder: Holder, action: str, command: str, *, exit_code: int = 0) -> Any:
        """`command` (split like a shell line) as `holder`, which must audit `action`."""
        result = runner.invoke(
            app,
            ["--home", str(self.settings.home), "--json", "--as", holder.token, *shlex.split(command)],
            obj=china_half_past_midnight(),
        )
        assert result.exit_code == exit_code, (command, result.output)
        self.expected.append((action, holder))
        return json.loads(result.stdout) if result.stdout.strip() else None


def _actions(module: ModuleType) -> set[str]:
    """The actions of the use cases a service module defines."""
    return {
        fn.action
        for fn in vars(module).values()
        if callable(fn) and hasattr(fn, "action") and fn.__module__ == module.__name__
    }


@pytest.fixture
def walk(settings: Settings) -> Walk:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    build_lake(settings.home)
    return Walk(settings)


def test_every_lifecycle_use_case_is_audited_from_the_cli(
    walk: Walk, settings: Settings, tmp_path: Path
) -> None:
    sup = _holder(settings, Role.SUPERVISOR, "sup-1")
    second = _holder(settings, Role.SUPERVISOR, "sup-2")
    inspector = _holder(settings, Role.INSPECTOR, "insp-1")
    analyst = _holder(settings, Role.ANALYST, "analyst-1")
    system = _holder(settings, Role.SYSTEM, "platform", department=PLATFORM)
    admin = _holder(settings, Role.ADMIN, "admin-1")
    run = walk.run

    # Objections: a system files for the party with the department that handles it; that department decides.
    filing = f"--uscc {E[0]} --table penalties --record P-GEN --grounds 金额有误"
    oid = run(system, "objections.file", f"objections file {filing} --department {AUTHORITY} --on 2026-11-02")
    oid = oid["objection_id"]
    run(sup, "objections.mark", f"objections mark {oid} --on 2026-11-03")
    run(sup, "objections.decide", f"objections decide {oid} --rejected --reasons 证据不足 --on 2026-11-04")
    run(inspector, "objections.get", f"objections show {oid}")
    run(inspector, "objections.list", "objections list")
    run(sup, "objections.overdue", "objections overdue --on 2026-11-27")
    # An upheld one: the department records the withdrawal of the corrected decision's publication.
    food = f"--uscc {E[1]} --table penalties --record P-FOOD --grounds 金额有误 --on 2026-11-02"
    fixed = run(sup, "objections.file", f"objections file {food}")["objection_id"]
    run(sup, "objections.mark", f"objections mark {fixed} --on 2026-11-03")
    correct = "--upheld --resolution corrected --reasons 金额更正 --on 2026-11-04"
    run(sup, "objections.decide", f"objections decide {fixed} {correct}")
    run(sup, "objections.withdraw", f"objections withdrawn {fixed} --on 2026-11-05")

    # Repairs, at the department that penalised.
    repair = (
        f"--uscc {E[0]} --table penalties --record P-GEN --commitment 承诺 --evidence 缴款凭证 "
        "--on 2026-11-02"
    )
    rid = run(sup, "repairs.apply", f"repairs apply {repair}")["repair_id"]
    run(sup, "repairs.accept", f"repairs accept {rid} --on 2026-11-03")
    approved = run(sup, "repairs.approve", f"repairs approve {rid} --on 2026-11-04")
    assert approved["status"] == "approved" and approved["rescore"]["status"] == "skipped"
    repeat = run(system, "repairs.apply", f"repairs apply --uscc {E[5]} --table penalties --record P-REP1")
    run(sup, "repairs.reject", f"repairs reject {repeat['repair_id']} --reasons 有新的同类违法")
    run(inspector, "repairs.get", f"repairs show {rid}")
    run(inspector, "repairs.list", "repairs list")
    run(inspector, "repairs.overdue", "repairs overdue --on 2026-11-27")

    # Lists: notice, the party's response, the second approver, listing, interview, rectification, exits.
    propose = "lists propose --type severe_dishonesty --reasons 提供虚假材料 --basis 办法第二条"
    cid = run(sup, "lists.propose", f"{propose} --uscc {E[2]} --on 2026-10-12")["case_id"]
    run(system, "lists.respond", f"lists respond {cid} --response 我方已补正材料")
    run(second, "lists.approve", f"lists approve {cid} --on 2026-10-13")
    run(sup, "lists.list", f"lists list {cid} --document P-REVOKE --on 2026-10-14")
    late = run(analyst, "lists.overdue", "lists overdue --on 2026-11-27", exit_code=1)
    assert [(c["case_id"], c["deadline"]) for c in late] == [(cid, "publish")]
    run(sup, "lists.publish", f"lists publish {cid} --on 2026-11-12")
    due = run(analyst, "lists.interviews_due", "lists interviews-due --on 2026-11-20")
    assert [c["case_id"] for c in due] == [cid]
    run(sup, "lists.interview", f"lists interview {cid} --reason 逾期未整改 --on 2026-11-20")
    run(sup, "lists.rectify", f"lists rectified {cid} --on 2026-11-21")
    run(analyst, "lists.get", f"lists show {cid}")
    run(analyst, "lists.person", f"lists person {'k' * 64}")
    dropped = run(sup, "lists.propose", f"{propose} --uscc {E[4]} --on 2026-10-12")["case_id"]
    run(sup, "lists.withdraw", f"lists withdraw {dropped} --reasons 采纳申辩 --on 2026-10-13")
    early = run(sup, "lists.propose", f"{propose} --uscc {E[4]} --on 2025-06-02")["case_id"]
    run(second, "lists.approve", f"lists approve {early} --on 2025-06-03")
    run(sup, "lists.list", f"lists list {early} --document P-SEV --on 2025-06-10")
    run(sup, "lists.rectify", f"lists rectified {early} --on 2025-07-01")
    run(sup, "lists.exit", f"lists exit {early} --on 2026-06-10")
    run(sup, "lists.expire", "lists expire --on 2026-11-27")
    events = run(system, "lists.events", "lists events --after 0")
    assert [(e["event"], e["case_id"]) for e in events][-1] == ("exited", early)
    run(admin, "lists.subscribe", "lists subscribe --name procurement --url http://127.0.0.1:9/hook")
    run(admin, "lists.deliver", "lists deliver")

    # The embedded check and the catalog.
    run(system, "check", f"check run --uscc {E[4]} --matter bidding --on 2026-11-27")
    run(inspector, "restrictions.catalog", "check catalog")
    run(inspector, "incentives.catalog", "check incentives")

    # Commitments: one brought by a system, one taken by the department.
    run(inspector, "commitments.templates", "commitments templates")
    make = "commitments make --matter food_business_licence"
    made = run(system, "commitments.make", f"{make} --uscc {E[0]} --department {AUTHORITY} --on 2026-09-01")
    made = made["commitment_id"]
    run(sup, "commitments.breach", f"commitments breach {made} --facts 逾期 --on 2026-10-08")
    run(sup, "commitments.interview", f"commitments interview {made} --reason 违诺 --on 2026-10-09")
    kept = run(sup, "commitments.make", f"{make} --uscc {E[1]} --on 2026-09-02")["commitment_id"]
    run(sup, "commitments.fulfil", f"commitments fulfil {kept} --on 2026-10-01")
    run(inspector, "commitments.public", f"commitments export --out {shlex.quote(str(tmp_path / 'c.csv'))}")

    # 双公示.
    run(sup, "disclosure.register", "disclosure register")
    run(sup, "disclosure.publish", "disclosure publish penalties P-REVOKE --on 2026-11-02")
    # The upheld objection revoked P-REVOKE on 2026-11-04: its publication is withdrawn (Order 45 art 11).
    withdraw = "disclosure withdraw penalties P-REVOKE --reason 决定已撤销 --on 2026-11-05"
    run(sup, "disclosure.withdraw", withdraw)
    run(inspector, "disclosure.overdue", "disclosure overdue --on 2026-11-27", exit_code=1)
    run(inspector, "disclosure.overdue_records", "disclosure overdue --records --on 2026-11-27", exit_code=1)
    run(inspector, "disclosure.search", "disclosure search --kind penalty --on 2026-11-27")
    run(
        inspector,
        "disclosure.public",
        f"disclosure export --out {shlex.quote(str(tmp_path / 'd.csv'))} --on 2026-11-27",
    )

    # Credit reports.
    out = shlex.quote(str(tmp_path / "r.html"))
    issued = run(sup, "reports.issue", f"report issue --uscc {E[4]} --out {out} --on 2026-11-27 --with-score")
    run(inspector, "reports.verify", f"report verify {issued['report_no']} {issued['hash']}")

    walked = {action for action, _ in walk.expected}
    assert walked == set().union(*map(_actions, SERVICES)), "a lifecycle use case is not walked through"
    engine = make_engine(settings.db_url)
    try:
        with session_scope(engine) as s:
            entries = audit.entries(s, limit=10_000)
    finally:
        engine.dispose()
    seen = {
        (e.action, e.actor, e.role, e.details.get("department"), e.details.get("door"), e.source)
        for e in entries
        if e.result == "ok"
    }
    for action, holder in walk.expected:
        assert (action, holder.actor, holder.role, holder.department, "cli", "cli") in seen, action


def test_an_inspector_may_not_ask_for_the_score_in_a_report(
    walk: Walk, settings: Settings, tmp_path: Path
) -> None:
    inspector = _holder(settings, Role.INSPECTOR, "insp-1")
    result = runner.invoke(
        app,
        [
            "--home",
            str(settings.home),
            "--json",
            "--as",
            inspector.token,
            "report",
            "issue",
            "--uscc",
            E[4],
            "--out",
            str(tmp_path / "r.html"),
            "--with-score",
        ],
        obj=china_half_past_midnight(),
    )
    assert result.exit_code == 3 and "with_score" in json.loads(result.stdout)["error"]
    assert not (tmp_path / "r.html").exists()
