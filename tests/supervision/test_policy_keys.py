"""Policy files say only what the code reads (issue 12): every key of a shipped policy file
(``supervision/lifecycle/policy/*.toml``) is read by some code outside the tests.

Two checks, by how a file is read:

* ``lifecycle.toml`` is read through :class:`supervision.lifecycle.regimes.Policy` only, by kind, set and
  table, on the day a decision is taken. Its check is dynamic: inside ``recording_lookups()`` the policy
  notes every rule kind, set, table and table key its consumers look up (a table handed to a module notes
  the keys the module reads from it, copies included). The test runs the consumers over a small scenario on
  the lifecycle lake — objections (file, mark, decide), repairs (every condition check and an application
  for penalties of each severity and domain and for list entries of each list), listings (propose, list,
  publish), 双公示 (register, publish, public export) and, through the CLI, the doors' own reads (the
  back-dating limit, the second approver) — and asserts that every key of the shipped file was looked up.
  A key a name only builds at run time (``list.min.<list_type>``) counts only if the scenario reaches it:
  a rule no decision can reach (say the maximum of a list no department lists on) is reported as unread,
  which is the point. A step the domain refuses (an application before its earliest date …) still reads
  the keys it checked; refusals are listed in the failure message to tell a missing step from an unread key.
* Every other file (``restrictions.toml``, ``commitments.toml``, any new catalog) is parsed whole by one
  module into typed entries, with no lookup by key that could be noted without editing that module: its
  check is static. The modules that read the file are those naming it (outside tests); every key of every
  entry must appear in them as a name or string constant (a dataclass field, a key tuple, a lookup), found
  with ``ast``, not by searching the text, so a comment or the docstring does not count.

A new consumer of lifecycle.toml belongs in the scenario below; a new policy file needs no change here.
"""

from __future__ import annotations

import ast
import json
import shlex
import tomllib
from collections.abc import Callable, Iterator, Mapping
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from features.ingest import ingest_paths
from features.lake import sources
from serving.cli import app
from serving.settings import load_settings
from supervision.lifecycle import disclosure, lists, objections, repairs, self_reports
from supervision.lifecycle.regimes import Policy, parse_policy, recording_lookups
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from supervision.platform.errors import DomainError
from tests.conftest import china_half_past_midnight
from tests.supervision.lifecycle_lake import (
    AUTHORITY,
    AUTHORITY_USCC,
    OFFICER,
    PARTY,
    SALT,
    TODAY,
    E,
    build_lake,
)

POLICY_DIR = Path(str(resources.files("supervision.lifecycle") / "policy"))
REPO = Path(__file__).resolve().parents[2]
# Where the code that reads a policy file lives (tests excluded).
CODE = ("features", "models", "training", "supervision", "serving")
ENVIRONMENT = "盐城市生态环境局"


# ----------------------------------------------------------------------------- what a file says
def _paths(value: Any, path: str) -> Iterator[str]:
    """`path` and the dotted paths of every key under it (``[]`` for the tables of an array)."""
    yield path
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _paths(sub, f"{path}.{key}")
    elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
        for item in value:
            if isinstance(item, dict):
                for key, sub in item.items():
                    yield from _paths(sub, f"{path}[].{key}")


def lifecycle_keys(data: Mapping[str, Any]) -> set[str]:
    """The keys of lifecycle.toml as the policy notes them: ``rule:<kind>``, ``sets.<name>``, tables."""
    keys = {f"rule:{entry['kind']}" for entry in data.get("rule", [])}
    keys |= {f"sets.{name}" for name in data.get("sets", {})}
    for name, table in data.items():
        if name not in ("rule", "sets"):
            keys |= set(_paths(table, name))
    return keys


def entry_keys(value: Any) -> set[str]:
    """Every key name (the last part of its path) of a catalog file."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in entry_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in entry_keys(v)}
    return set()


# ----------------------------------------------------------------------------- the scenario
def _penalty(no: str, uscc: str, decided: date, **extra: object) -> dict[str, object]:
    return {
        "decision_no": no,
        "uscc": uscc,
        "party_name": "测试公司",
        "violation_type": "无证经营",
        "basis": "食品安全法第一百二十二条",
        "penalty_kind": "fine",
        "fine_amount": 50000.0,
        "domain": "food",
        "severity": "general",
        "decided_on": decided,
        "authority": AUTHORITY,
        "authority_uscc": AUTHORITY_USCC,
        **extra,
    }


def scenario_lake(root: Path) -> Path:
    """The lifecycle lake plus penalties of every severity, the domains with their own repair periods and an
    authority outside market supervision, entries of every list, and an inspection that found no one."""
    lake = build_lake(root)
    src = root / "more"
    src.mkdir()
    pl.DataFrame(
        [
            _penalty("K-DRUG", E[6], date(2022, 3, 1), domain="drug"),
            _penalty("K-SE", E[6], date(2022, 3, 1), domain="special_equipment"),
            _penalty("K-MINOR", E[6], date(2022, 3, 1), severity="minor", fine_amount=500.0),
            _penalty("K-ENV", E[6], date(2020, 3, 2), authority=ENVIRONMENT, domain="other"),
            _penalty(
                "K-ENV36", E[6], date(2026, 5, 6), authority=ENVIRONMENT, domain="other", severity="minor"
            ),
            _penalty(
                "K-ENV-SER", E[6], date(2023, 6, 1), authority=ENVIRONMENT, domain="other", severity="serious"
            ),
        ]
    ).write_parquet(src / "penalties-keys.parquet")
    pl.DataFrame(
        {
            "entry_id": ["L-COURT", "L-RED"],
            "uscc": [E[5], E[6]],
            "list_type": ["court_dishonest_debtor", "red_list"],
            "basis": ["最高人民法院关于公布失信被执行人名单信息的若干规定", "盐城市守信激励对象认定管理办法"],
            "basis_document_no": ["(2024)苏09执1号", "盐信〔2024〕1号"],
            "listed_on": [date(2024, 3, 1), date(2024, 3, 1)],
            "authority": ["江苏省盐城市中级人民法院", "盐城市发展和改革委员会"],
        }
    ).write_parquet(src / "list_entries-keys.parquet")
    pl.DataFrame(
        {
            "inspection_id": ["I-GONE"],
            "task_id": ["T-1"],
            "uscc": [E[1]],
            "department": [AUTHORITY],
            "inspected_on": [date(2026, 9, 1)],
            "inspectors": ["INS-1;INS-2"],
            "outcome": ["not_found"],
            "selection_probability": [0.05],
            "in_control_slice": [False],
        }
    ).write_parquet(src / "inspections-keys.parquet")
    reports = ingest_paths([src], lake_dir=lake.dir, salt=SALT, today=TODAY)
    assert all(r.rows_quarantined == 0 for r in reports), reports
    return lake.dir


class Steps:
    """Runs the scenario's steps; a step the domain refuses is noted (it still read what it checked)."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def __call__(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            self.refused.append(f"{name}: {exc}")
            return None


def run_supervision(policy: Policy, lake_dir: Path, engine: sa.Engine, steps: Steps) -> None:
    """The consumers of supervision/lifecycle that take a Policy, over the scenario's lake."""
    src = sources(lake_dir)
    penalties = src["penalties"].select("decision_no", "uscc").collect().rows()
    entries = src["list_entries"].select("entry_id", "uscc").collect().rows()
    with session_scope(engine) as s:
        # Objections: file, mark, decide (upheld: the decision is revoked and withdrawn).
        filed = steps(
            "objections.file",
            lambda: objections.file(
                s,
                actor=PARTY,
                uscc=E[0],
                record_table="penalties",
                record_id="P-GEN",
                grounds="罚款金额登记错误",
                department=AUTHORITY,
                filed_on=date(2026, 11, 2),
                policy=policy,
            ),
        )
        if filed is not None:
            oid = filed.objection_id
            steps("objections.mark", lambda: objections.mark(s, oid, actor=OFFICER, on=date(2026, 11, 3)))
            steps(
                "objections.decide",
                lambda: objections.decide(
                    s,
                    oid,
                    actor=OFFICER,
                    on=date(2026, 11, 4),
                    upheld=True,
                    reasons="金额错误",
                    resolution="revoked",
                    policy=policy,
                ),
            )
        # Repairs: the conditions of every penalty and list entry, on two days of different regimes.
        for table, rows in (("penalties", penalties), ("list_entries", entries)):
            for record_id, uscc in rows:
                for on in (date(2023, 6, 1), TODAY):
                    steps(
                        f"repairs.check_conditions {record_id} {on}",
                        repairs.check_conditions,
                        src,
                        uscc=uscc,
                        record_table=table,
                        record_id=record_id,
                        on=on,
                        commitment="承诺",
                        obligations_evidence="已缴纳罚款",
                        policy=policy,
                    )
        applied = steps(
            "repairs.apply P-GEN",
            lambda: repairs.apply(
                s,
                src,
                actor=OFFICER,
                uscc=E[0],
                record_table="penalties",
                record_id="P-GEN",
                department=AUTHORITY,
                applied_on=TODAY,
                commitment="承诺",
                obligations_evidence="已缴纳罚款",
                policy=policy,
            ),
        )
        if applied is not None:
            rid = applied.repair_id
            steps("repairs.accept", lambda: repairs.accept(s, rid, actor=OFFICER, on=TODAY, policy=policy))
        # Self-reports (自愿注册): the department of every topic and the clock, one submission.
        steps(
            "self_reports.submit",
            lambda: self_reports.submit(
                s, actor=PARTY, uscc=E[0], topic="honour", content="表彰", on=TODAY, policy=policy
            ),
        )
        # Listings: propose, list and publish on each list a department lists on.
        for list_type, uscc, basis_no in (
            ("severe_dishonesty", E[2], "P-REVOKE"),
            ("abnormal_operations", E[1], "I-GONE"),
        ):
            case = steps(
                f"lists.propose {list_type}",
                lists.propose,
                s,
                src,
                actor=OFFICER,
                uscc=uscc,
                list_type=list_type,
                department=AUTHORITY,
                reasons="列入事由",
                basis="依据",
                proposed_on=date(2026, 10, 12),
                policy=policy,
            )
            if case is None:
                continue
            cid = case.case_id
            listed = steps(
                f"lists.list_case {list_type}",
                lists.list_case,
                s,
                cid,
                src,
                actor=OFFICER,
                on=date(2026, 11, 2),
                basis_document_no=basis_no,
                policy=policy,
            )
            if listed is not None:
                steps(f"lists.publish {list_type}", lists.publish, s, cid, actor=OFFICER, on=TODAY)
        # 双公示: register, publish, the public export.
        steps("disclosure.register", lambda: disclosure.register_from_lake(s, src, policy=policy))
        for record_id, _ in penalties:
            steps(
                f"disclosure.publish {record_id}",
                disclosure.publish,
                s,
                "penalties",
                record_id,
                actor=OFFICER,
                on=TODAY,
            )
        steps(
            "disclosure.public_export",
            lambda: disclosure.public_export(s, src, on=TODAY, mask_name=lambda v: "*", policy=policy),
        )


def run_doors(home: Path, policy_file: Path, steps: Steps) -> None:
    """What the doors read themselves: the back-dating limit (any dated decision) and the second approver
    (a listing by a city-level department), through the CLI in this thread."""
    settings = load_settings(home=home, lifecycle_policy=policy_file)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    build_lake(settings.home)
    from tests.serving.test_cli_lifecycle import issue

    sup = issue(settings, Role.SUPERVISOR, "sup-keys")
    runner = CliRunner()
    today = china_half_past_midnight().today()

    def cli(command: str) -> Any:
        result = runner.invoke(
            app,
            ["--home", str(home), "--json", "--as", sup, *shlex.split(command)],
            obj=china_half_past_midnight(),
            env={"CREDITWATCH_LIFECYCLE_POLICY": str(policy_file)},
        )
        out = json.loads(result.stdout) if result.stdout.strip() else None
        if result.exit_code != 0:
            steps.refused.append(f"cli {command}: {out}")
        return out

    cli(
        f"objections file --uscc {E[0]} --table penalties --record P-GEN --grounds 金额有误 "
        f"--on {(today - timedelta(days=60)).isoformat()} --backdate-reason 纸质异议补录"
    )
    case = cli(
        f"lists propose --type severe_dishonesty --reasons 提供虚假材料 --basis 办法第二条 --uscc {E[2]} "
        f"--on {(today - timedelta(days=20)).isoformat()}"
    )
    if isinstance(case, dict) and "case_id" in case:
        cli(f"lists list {case['case_id']} --document P-REVOKE --on {today.isoformat()}")


def test_every_key_of_the_lifecycle_policy_is_read(tmp_path: Path) -> None:
    shipped = POLICY_DIR / "lifecycle.toml"
    text = shipped.read_text(encoding="utf-8")
    policy = parse_policy(text, origin=str(shipped))
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    upgrade(engine)
    steps = Steps()
    try:
        lake_dir = scenario_lake(tmp_path / "scenario")
        home = tmp_path / "home"
        home.mkdir()
        with recording_lookups() as seen:
            run_supervision(policy, lake_dir, engine, steps)
            run_doors(home, shipped, steps)
    finally:
        engine.dispose()
    unread = sorted(lifecycle_keys(tomllib.loads(text)) - seen)
    assert not unread, (
        f"keys of {shipped.name} read by nothing: {', '.join(unread)}\n"
        "steps the domain refused (they read what they checked):\n  " + "\n  ".join(steps.refused)
    )


# ----------------------------------------------------------------------------- the other files
def _names(module: Path) -> set[str]:
    """The names and string constants of a module's code (not its comments or docstrings)."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            out.add(node.value)
        elif isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, ast.arg | ast.keyword) and node.arg is not None:
            out.add(node.arg)
    return out


def _readers(file_name: str) -> list[Path]:
    """The modules outside tests that name the policy file (and so load it)."""
    return sorted(
        path
        for top in CODE
        for path in (REPO / top).rglob("*.py")
        if file_name in path.read_text(encoding="utf-8")
    )


CATALOGS = sorted(p.name for p in POLICY_DIR.glob("*.toml") if p.name != "lifecycle.toml")


@pytest.mark.parametrize("file_name", CATALOGS)
def test_every_key_of_a_catalog_file_is_read(file_name: str) -> None:
    readers = _readers(file_name)
    assert readers, f"{file_name}: no module outside tests names it, so nothing reads it"
    names = set().union(*(_names(m) for m in readers))
    data = tomllib.loads((POLICY_DIR / file_name).read_text(encoding="utf-8"))
    unread = sorted(entry_keys(data) - names)
    assert not unread, (
        f"{file_name}: keys read by nothing in {', '.join(str(m.relative_to(REPO)) for m in readers)}: "
        + ", ".join(unread)
    )


def test_the_recorder_notes_only_what_is_looked_up() -> None:
    """The instrument itself: a key is noted when a consumer reads it, not when the file merely has it."""
    policy = parse_policy((POLICY_DIR / "lifecycle.toml").read_text(encoding="utf-8"), origin="shipped")
    with recording_lookups() as seen:
        policy.rules_for("repair.accept", on=TODAY)
        table = policy.section("disclosure")
        assert set(table) and "disclosure.market_supervision_regime" not in seen  # listing keys reads none
        table.get("market_supervision_regime")
    assert seen == {"rule:repair.accept", "disclosure", "disclosure.market_supervision_regime"}
    policy.rules_for("repair.decide", on=TODAY)  # outside the block: not noted
    assert "rule:repair.decide" not in seen
