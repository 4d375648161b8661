"""Schemathesis against the app's own OpenAPI document: every operation, valid and invalid requests generated
from the document, sent with a token of a role the operation admits (its ``x-roles``), so they reach the
handlers. No response may be a 5xx, and each must be documented (status, content type, body schema).

Bounded: MAX_EXAMPLES per operation and generation mode, derandomized (the same cases every run).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serving.api.app import create_app, role_matrix
from supervision.platform import access
from supervision.platform.access import Role
from supervision.platform.db import session_scope
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import DEPARTMENT, City, build_city

pytestmark = pytest.mark.slow  # the module's city: ~45 s to build, then ~1-2 min of generated requests

MAX_EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Of the roles an operation admits, the one its requests are sent with (the domain roles first; the entity's
# token is bound to an entity of the city, so its own routes reach the handlers).
PREFERENCE = (Role.SUPERVISOR, Role.ANALYST, Role.INSPECTOR, Role.SYSTEM, Role.ADMIN, Role.ENTITY)
OPERATIONS = [(method, path) for method, path, _ in role_matrix()]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    city = build_city(tmp_path_factory.mktemp("schema-city"))
    yield city
    city.engine.dispose()


@pytest.fixture(scope="module")
def schema(city: City) -> Iterator[Any]:
    # Rate limiting off: the generated requests would otherwise mostly meet 429 and never reach a handler.
    settings = city.settings.model_copy(update={"rate_limit_per_minute": 0})
    app = create_app(settings, engine=city.engine, clock=china_half_past_midnight())
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    asgi.shutdown_lifespans()  # the app's lifespan, started by schemathesis' in-process client


def _token(city: City, role: Role) -> str:
    # A fresh token per request: a generated DELETE /tokens/{id} may revoke any earlier one.
    with session_scope(city.engine) as s:
        if role is Role.ENTITY:
            return access.create_token(s, name="fuzz-entity", role=role, uscc=city.usccs[0]).token
        issued = access.create_token(
            s,
            name=f"fuzz-{role.value}",
            role=role,
            department=DEPARTMENT,
            division="320902",
            person_id="fuzz-1",
        )
        return issued.token


def test_every_route_is_in_the_document(schema: Any) -> None:
    documented = {
        (method.upper(), path) for path, ops in schema.raw_schema["paths"].items() for method in ops
    }
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms(schema: Any, city: City, method: str, path: str) -> None:
    operation = schema[path][method]
    roles = operation.definition.raw["x-roles"]
    role = None if roles == ["public"] else next(r for r in PREFERENCE if r.value in roles)
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: schemathesis.Case) -> None:
        headers = {} if role is None else {"Authorization": f"Bearer {_token(city, role)}"}
        response = case.call(headers=headers)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)

    statuses: list[int] = []
    check()
    # The token opened the door: requests reached the handler (not only 401/403 from the role checks).
    assert set(statuses) - {401, 403}, f"{method} {path}: only {sorted(set(statuses))}"
