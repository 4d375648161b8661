"""Identities, the one clock and the service layer's core: tokens name a person in a department of a
division; the CLI acts as `--as TOKEN` or as the local operator; start-up refuses demo secrets outside demo
mode; every use case is checked and audited the same way from every door."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from serving.api.app import create_app
from serving.cli import app
from serving.services import admin
from serving.services.context import Context, Door, check_role, local_operator, use_case
from serving.settings import DemoSecretRefused, Settings
from supervision.platform import access, audit
from supervision.platform.access import Principal, Role, division_level
from supervision.platform.clock import CHINA, FixedClock, SystemClock, plausible_day
from supervision.platform.db import make_engine, session_scope, upgrade
from supervision.platform.errors import DomainError, ForbiddenError
from tests.conftest import china_half_past_midnight

runner = CliRunner()


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    return settings


def _cli(settings: Settings, *args: str) -> Any:
    return runner.invoke(app, ["--home", str(settings.home), "--json", *args], obj=china_half_past_midnight())


def _entries(settings: Settings) -> list[audit.AuditEntry]:
    engine = make_engine(settings.db_url)
    try:
        with session_scope(engine) as session:
            return audit.entries(session, limit=1000)
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------------ clock
def test_the_clock_reads_the_date_in_china_not_utc() -> None:
    # 00:30 in Beijing is 16:30 UTC of the day before: "today" is the Chinese date.
    clock = FixedClock(datetime(2026, 12, 6, 0, 30, tzinfo=CHINA))
    assert clock.today().isoformat() == "2026-12-06"
    assert clock.now().date().isoformat() == "2026-12-05"
    assert clock.now().tzinfo is UTC
    with pytest.raises(ValueError, match="aware"):
        FixedClock(datetime(2026, 12, 6, 0, 30))
    assert SystemClock().today() == datetime.now(CHINA).date()


def test_a_day_outside_the_plausible_range_is_refused_naming_the_field() -> None:
    assert plausible_day(date(2026, 12, 6), field="on") == date(2026, 12, 6)
    for day in (date(1, 1, 1), date(1989, 12, 31), date(2101, 1, 1), date(9999, 12, 31)):
        with pytest.raises(DomainError, match=f"on: {day.isoformat()} is out of range") as refused:
            plausible_day(day, field="on")
        assert refused.value.field == "on"


def test_the_tests_freeze_the_clock_at_half_past_midnight_china_time() -> None:
    at = china_half_past_midnight().at
    assert at.astimezone(CHINA).time() == time(0, 30)
    assert china_half_past_midnight().now().date() == china_half_past_midnight().today() - timedelta(days=1)


# ------------------------------------------------------------------------------------------- identities
def test_division_levels_follow_gb_t_2260() -> None:
    assert division_level("320000") == "province"
    assert division_level("320900") == "city"
    assert division_level("320902") == "county"
    assert Principal(1, "x", Role.SUPERVISOR, division="320981").level == "county"


def test_a_token_names_a_person_in_a_department_and_the_api_says_who_acts(migrated: Settings) -> None:
    result = _cli(
        migrated,
        "tokens",
        "create",
        "--role",
        "supervisor",
        "--name",
        "zhang",
        "--department",
        "亭湖区市场监督管理局",
        "--division",
        "320902",
        "--person",
        "ZF001",
    )
    assert result.exit_code == 0, result.output
    token = json.loads(result.stdout)["token"]
    engine = make_engine(migrated.db_url)
    with TestClient(create_app(migrated, engine=engine, clock=china_half_past_midnight())) as client:
        me = client.get("/me", headers={"Authorization": f"Bearer {token}"}).json()
    engine.dispose()
    assert (me["department"], me["division"], me["person_id"]) == ("亭湖区市场监督管理局", "320902", "ZF001")


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--division", "32090", "division"),
        ("--division", "3209AB", "division"),
        ("--department", "<script>", "department"),
        ("--person", "a b", "person_id"),
    ],
)
def test_a_malformed_identity_is_refused_naming_the_field(
    migrated: Settings, option: str, value: str, field: str
) -> None:
    result = _cli(migrated, "tokens", "create", "--role", "supervisor", "--name", "zhang", option, value)
    assert result.exit_code == 1
    assert field in json.loads(result.stdout)["error"]
    assert not [e for e in _entries(migrated) if e.action == "tokens.create"]  # nothing half-written


def test_the_cli_acts_as_the_holder_of_as_token_and_audits_the_door(migrated: Settings) -> None:
    first = json.loads(
        _cli(
            migrated,
            "tokens",
            "create",
            "--role",
            "admin",
            "--name",
            "root",
            "--department",
            "市场监管局",
            "--division",
            "320900",
        ).stdout
    )
    again = _cli(
        migrated, "--as", first["token"], "tokens", "create", "--role", "inspector", "--name", "wang"
    )
    assert again.exit_code == 0, again.output
    created = [e for e in _entries(migrated) if e.action == "tokens.create"]
    assert created[0].actor.startswith("cli:") and created[0].role is None  # the local operator bootstraps
    assert created[1].actor == f"root#{first['id']}" and created[1].role == "admin"
    assert created[1].details["door"] == "cli" and created[1].details["department"] == "市场监管局"


def test_a_bad_as_token_is_refused_before_anything_runs(migrated: Settings) -> None:
    result = _cli(migrated, "--as", "cw_000000000000_" + "x" * 43, "tokens", "list")
    assert result.exit_code == 3
    assert "operator token" in json.loads(result.stdout)["error"]


def test_a_role_the_service_does_not_admit_is_refused_at_every_door(migrated: Settings) -> None:
    issued = json.loads(_cli(migrated, "tokens", "create", "--role", "supervisor", "--name", "s").stdout)
    result = _cli(migrated, "--as", issued["token"], "tokens", "create", "--role", "admin", "--name", "evil")
    assert result.exit_code == 3
    assert "may not" in json.loads(result.stdout)["error"]
    engine = make_engine(migrated.db_url)
    with TestClient(create_app(migrated, engine=engine, clock=china_half_past_midnight())) as client:
        r = client.post(
            "/tokens",
            json={"name": "evil", "role": "admin"},
            headers={"Authorization": f"Bearer {issued['token']}"},
        )
    engine.dispose()
    assert r.status_code == 403
    denied = [e for e in _entries(migrated) if e.action == "tokens.create" and e.result == "denied"]
    assert len(denied) == 1  # the API's refusal is audited under the service's action


def test_use_cases_refuse_an_anonymous_operator_unless_local(settings: Settings) -> None:
    operator = local_operator()
    check_role(operator, action="x", roles=frozenset({Role.ADMIN}), local=True)
    with pytest.raises(ForbiddenError, match="without an identity"):
        check_role(operator, action="lists.list", roles=frozenset({Role.SUPERVISOR}), local=False)

    @use_case("demo.thing", roles=(Role.SUPERVISOR,))
    def thing(ctx: Context) -> str:
        return ctx.department()

    engine = sa.create_engine("sqlite://")
    with session_scope(engine) as session:

        def ctx(actor: Principal) -> Context:
            return Context(
                settings=settings,
                session=session,
                clock=china_half_past_midnight(),
                actor=actor,
                door=Door("test"),
            )

        assert thing(ctx(Principal(1, "a", Role.SUPERVISOR, department="市场监管局"))) == "市场监管局"
        with pytest.raises(ForbiddenError, match="no department"):
            thing(ctx(Principal(1, "a", Role.SUPERVISOR)))
        with pytest.raises(ForbiddenError, match="may not"):
            thing(ctx(Principal(1, "a", Role.INSPECTOR, department="市场监管局")))
    assert thing.roles == frozenset({Role.SUPERVISOR}) and thing.action == "demo.thing"  # type: ignore[attr-defined]
    assert admin.create_token.local  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------ demo secrets
def test_start_up_refuses_the_demo_salt_outside_demo_mode(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    production = migrated.model_copy(update={"demo": False})
    with pytest.raises(DemoSecretRefused, match="CREDITWATCH_PERSON_SALT"):
        create_app(production)
    monkeypatch.setenv("CREDITWATCH_DEMO", "0")
    result = _cli(migrated, "tokens", "list")
    assert result.exit_code == 3 and "demo value" in result.output
    monkeypatch.setenv("CREDITWATCH_PERSON_SALT", "a-secret-of-our-own")
    result = _cli(migrated, "tokens", "list")
    assert result.exit_code == 3 and "CREDITWATCH_AUDIT_KEY" in result.output  # the audit key too
    monkeypatch.setenv("CREDITWATCH_AUDIT_KEY", "an-audit-key-of-our-own")
    assert _cli(migrated, "tokens", "list").exit_code == 0
    with pytest.raises(DemoSecretRefused, match="CREDITWATCH_AUDIT_KEY"):
        create_app(production.model_copy(update={"person_salt": "a-secret-of-our-own"}))
    create_app(
        production.model_copy(
            update={"person_salt": "a-secret-of-our-own", "audit_key": SecretStr("an-audit-key-of-our-own")}
        )
    )


def test_version_is_printed(settings: Settings) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("creditwatch ")


def test_token_expiry_counts_from_the_injected_clock(migrated: Settings) -> None:
    engine = make_engine(migrated.db_url)
    clock = FixedClock(datetime(2026, 1, 1, 0, 30, tzinfo=CHINA))
    with session_scope(engine) as session:
        ctx = Context(
            settings=migrated, session=session, clock=clock, actor=local_operator(), door=Door("test")
        )
        issued = admin.create_token(ctx, name="t", role="system", expires_days=2)
    engine.dispose()
    assert issued.info.expires_at == clock.now() + timedelta(days=2)
    assert access.Role(issued.info.role) is Role.SYSTEM
