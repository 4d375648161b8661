"""The regulated entity's identity (issue 14): a token bound to one USCC, standing in for the electronic
business licence; admitted only where a use case names the entity, and then to its own USCC only."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from serving.api.app import create_app, role_matrix
from serving.cli import app
from serving.services.context import Context, Door, check_role, own_entity, use_case
from serving.settings import Settings
from supervision.platform import access
from supervision.platform.access import Principal, Role
from supervision.platform.db import make_engine, session_scope, upgrade
from supervision.platform.errors import ForbiddenError
from tests.conftest import china_half_past_midnight

runner = CliRunner()
OWN = "91320902MA1ENT000Y"
OTHER = "91350100M000100Y43"


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    return settings


def _cli(settings: Settings, *args: str) -> Any:
    return runner.invoke(app, ["--home", str(settings.home), "--json", *args], obj=china_half_past_midnight())


def test_an_entity_token_is_bound_to_a_valid_uscc_and_the_api_says_which(migrated: Settings) -> None:
    result = _cli(migrated, "tokens", "create", "--role", "entity", "--name", "entity-1", "--uscc", OWN)
    assert result.exit_code == 0, result.output
    issued = json.loads(result.stdout)
    assert (issued["role"], issued["uscc"], issued["department"]) == ("entity", OWN, None)
    engine = make_engine(migrated.db_url)
    with TestClient(create_app(migrated, engine=engine, clock=china_half_past_midnight())) as client:
        me = client.get("/me", headers={"Authorization": f"Bearer {issued['token']}"}).json()
    engine.dispose()
    assert (me["role"], me["uscc"]) == ("entity", OWN)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "entity"], "bound to the entity's USCC"),
        (["--role", "entity", "--uscc", OWN[:-1] + "0"], "not a valid unified social credit code"),
        (["--role", "entity", "--uscc", OWN, "--department", "市场监管局"], "belongs to no department"),
        (["--role", "supervisor", "--uscc", OWN], "only an entity token"),
    ],
)
def test_a_wrong_binding_is_refused_naming_the_field(
    migrated: Settings, args: list[str], message: str
) -> None:
    result = _cli(migrated, "tokens", "create", "--name", "x", *args)
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert message in error
    engine = make_engine(migrated.db_url)
    with session_scope(engine) as s:
        assert access.list_tokens(s) == []  # nothing half-written
    engine.dispose()


def test_the_database_refuses_an_entity_row_without_its_uscc(migrated: Settings) -> None:
    engine = make_engine(migrated.db_url)
    with session_scope(engine) as s:
        issued = access.create_token(s, name="e", role=Role.ENTITY, uscc=OWN)
    with pytest.raises(sa.exc.IntegrityError), session_scope(engine) as s:
        s.execute(sa.update(access.ApiToken).where(access.ApiToken.id == issued.info.id).values(uscc=None))
    with pytest.raises(sa.exc.IntegrityError), session_scope(engine) as s:
        s.execute(sa.update(access.ApiToken).where(access.ApiToken.id == issued.info.id).values(role="admin"))
    engine.dispose()


def test_no_staff_route_admits_the_entity() -> None:
    # Routes whose services declare roles=None admit every staff role, never the entity: the entity gets in
    # only where a service names it.
    staff_only = [(m, p) for m, p, roles in role_matrix() if roles != "public" and Role.ENTITY not in roles]
    assert ("GET", "/uscc/{code}") in staff_only and ("GET", "/models/champion") in staff_only
    entity_routes = [(m, p) for m, p, roles in role_matrix() if roles != "public" and Role.ENTITY in roles]
    assert ("GET", "/me") in entity_routes


def test_use_cases_admit_the_entity_only_by_name_and_only_for_its_own_uscc(settings: Settings) -> None:
    entity = Principal(7, "entity-1", Role.ENTITY, uscc=OWN)
    with pytest.raises(ForbiddenError, match="may not"):
        check_role(entity, action="models.champion", roles=None, local=False)
    check_role(Principal(1, "s", Role.SUPERVISOR), action="models.champion", roles=None, local=False)
    with pytest.raises(ForbiddenError, match="without its USCC"):
        check_role(Principal(8, "e", Role.ENTITY), action="x", roles=frozenset({Role.ENTITY}), local=False)

    @use_case("demo.own", roles=(Role.ENTITY, Role.SUPERVISOR))
    def own(ctx: Context, uscc: str) -> str:
        own_entity(ctx, uscc)
        return uscc

    engine = sa.create_engine("sqlite://")
    with session_scope(engine) as session:

        def ctx(actor: Principal) -> Context:
            return Context(
                settings=settings,
                session=session,
                clock=china_half_past_midnight(),
                actor=actor,
                door=Door("t"),
            )

        assert own(ctx(entity), OWN) == OWN
        with pytest.raises(ForbiddenError, match="its own USCC only"):
            own(ctx(entity), OTHER)
        assert own(ctx(Principal(1, "s", Role.SUPERVISOR, department="d")), OTHER) == OTHER


# Every route that admits the entity, and the test that tries another entity's credential against it — None
# where there is no object to try (the route acts on the token's own USCC; its body has no uscc field). A new
# entity route fails the test below until it is listed here with its attack.
ZONE = "tests.serving.test_zone"
FILINGS = "tests.serving.test_filings"
ATTACK = (ZONE, "test_another_entity_reaches_none_of_a_objects")
ENTITY_ROUTES: dict[tuple[str, str], tuple[str, str] | None] = {
    ("GET", "/me"): None,
    ("POST", "/objections"): ATTACK,
    ("POST", "/repairs"): ATTACK,
    ("POST", "/lists/{case_id}/response"): ATTACK,
    ("POST", "/commitments"): ATTACK,
    ("POST", "/reports"): ATTACK,
    ("GET", "/zone/record"): ATTACK,
    ("POST", "/zone/objections"): ATTACK,
    ("POST", "/zone/commitments"): None,
    ("POST", "/zone/notices/{case_id}/statement"): ATTACK,
    ("POST", "/zone/report"): None,
    ("POST", "/zone/repairs"): (FILINGS, "test_another_entitys_record_is_refused_and_nothing_is_written"),
    ("GET", "/zone/repairs/records"): (
        FILINGS,
        "test_another_entitys_record_is_refused_and_nothing_is_written",
    ),
    ("POST", "/zone/self-reports"): None,
    ("GET", "/self-reports"): (
        FILINGS,
        "test_a_self_report_is_verified_then_enters_the_lake_and_the_features",
    ),
    ("GET", "/documents/{sha256}"): (
        FILINGS,
        "test_a_document_is_served_as_an_attachment_of_its_type_never_as_a_page",
    ),
}


def test_every_entity_route_is_attacked_with_another_entitys_credential() -> None:
    admitting = {(m, p) for m, p, roles in role_matrix() if roles != "public" and Role.ENTITY in roles}
    assert admitting == set(ENTITY_ROUTES)
    for route, attack in ENTITY_ROUTES.items():
        if attack is not None:
            module, name = attack
            assert callable(getattr(importlib.import_module(module), name, None)), (route, attack)
