"""The API's foundation with TestClient on a migrated SQLite database: roles route by route, typed errors,
limits (413, 429), the audit trail of changes and denied attempts, and the masking policy."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from serving.api.app import create_app, role_matrix
from serving.api.limits import RateLimiter
from serving.api.trail import AuditWriter
from serving.settings import Settings
from supervision.platform import access, audit, masking
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import (
    DOMAIN_MATRIX,  # entities, scores, models, sampling: tested there
    EXCHANGE_MATRIX,
    PUBLIC_MATRIX,
    entity_uscc,
)
from tests.serving.api_city import error as _error
from tests.serving.test_api_lifecycle import LIFECYCLE_MATRIX  # routes of issue 8, tested there
from tests.serving.test_filings import FILINGS_MATRIX  # the entity's filings and the staff queues
from tests.serving.test_monitoring import MONITORING_MATRIX  # runs compared, the model's feedback
from tests.serving.test_sectors import SECTORS_MATRIX  # sector risk
from tests.serving.test_warnings import WARNINGS_MATRIX  # early warning
from tests.serving.test_zone import ZONE_MATRIX  # the entity's service zone
from tests.supervision.databases import backend_params, fresh_database_url

VALID_USCC = "91350100M000100Y43"
ANY = frozenset(Role)  # the entity included
STAFF = access.STAFF_ROLES
ADMIN = frozenset({Role.ADMIN})

# (method, path template, roles): the whole route → role matrix. A route added to the app without a row
# here fails test_the_matrix_is_the_apps.
MATRIX: list[tuple[str, str, frozenset[Role] | str]] = [
    ("GET", "/health", "public"),
    ("GET", "/health/ready", "public"),
    ("GET", "/me", ANY),
    ("POST", "/tokens", ADMIN),
    ("GET", "/tokens", ADMIN),
    ("DELETE", "/tokens/{token_id}", ADMIN),
    ("GET", "/audit/verify", ADMIN),
    ("GET", "/uscc/{code}", STAFF),
]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per module; each test works on its own copy."""
    path = tmp_path_factory.mktemp("template") / "api.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection closing folds the WAL back into the file
    return path


@pytest.fixture
def engine(migrated: Path, tmp_path: Path) -> Iterator[sa.Engine]:
    path = shutil.copyfile(migrated, tmp_path / "api.db")
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def _actor(role: Role) -> str:
    """How the audit log names the `tokens` fixture's holder of `role` (ids follow Role's order)."""
    return f"{role.value}-user#{list(Role).index(role) + 1}"


@pytest.fixture
def tokens(engine: sa.Engine) -> dict[Role, str]:
    with session_scope(engine) as session:
        return {
            role: access.create_token(
                session, name=f"{role.value}-user", role=role, uscc=entity_uscc(role)
            ).token
            for role in Role
        }


def _app_client(settings: Settings, engine: sa.Engine, **overrides: Any) -> TestClient:
    return TestClient(
        create_app(settings.model_copy(update=overrides), engine=engine, clock=china_half_past_midnight())
    )


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    with _app_client(settings, engine) as client:
        yield client


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _victim(engine: sa.Engine) -> int:
    with session_scope(engine) as session:
        return access.create_token(session, name="victim", role="inspector").info.id


def _call(client: TestClient, engine: sa.Engine, method: str, template: str, headers: dict[str, str]) -> Any:
    path = template.replace("{token_id}", str(_victim(engine))).replace("{code}", VALID_USCC)
    body = {"name": "new-inspector", "role": "inspector"} if method == "POST" else None
    return client.request(method, path, json=body, headers=headers)


def _entries(engine: sa.Engine) -> list[audit.AuditEntry]:
    with session_scope(engine) as session:
        return audit.entries(session, limit=10_000)


# --- roles ------------------------------------------------------------------------------------------------


def test_the_matrix_is_the_apps(client: TestClient) -> None:
    everything = MATRIX + LIFECYCLE_MATRIX + DOMAIN_MATRIX + PUBLIC_MATRIX + EXCHANGE_MATRIX
    everything += ZONE_MATRIX + FILINGS_MATRIX + MONITORING_MATRIX + WARNINGS_MATRIX
    everything += SECTORS_MATRIX
    assert role_matrix() == everything
    spec = client.get("/openapi.json").json()
    served = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    assert served == {(method, path) for method, path, _ in everything}
    assert spec["paths"]["/tokens"]["post"]["x-roles"] == ["admin"]
    assert spec["paths"]["/health"]["get"]["x-roles"] == ["public"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


@pytest.mark.parametrize(("method", "template", "roles"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_each_route_admits_only_its_roles(
    client: TestClient,
    engine: sa.Engine,
    tokens: dict[Role, str],
    method: str,
    template: str,
    roles: frozenset[Role] | str,
    role: Role,
) -> None:
    response = _call(client, engine, method, template, _auth(tokens[role]))
    if roles == "public" or role in roles:
        assert response.status_code in (200, 201), response.text
    else:
        error = _error(response, 403, "forbidden")
        assert role.value in error["message"] and "admin" in error["message"]


@pytest.mark.parametrize(("method", "template", "roles"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_each_route_without_a_token_is_401(
    client: TestClient, engine: sa.Engine, method: str, template: str, roles: frozenset[Role] | str
) -> None:
    response = _call(client, engine, method, template, {})
    if roles == "public":
        assert response.status_code == 200
        return
    _error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_bad_revoked_and_malformed_tokens_are_401(
    client: TestClient, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    good = tokens[Role.SUPERVISOR]
    assert client.get("/me", headers=_auth(good)).json()["role"] == "supervisor"
    for header in (f"Bearer {good[:-2]}xx", "Bearer nonsense", f"Basic {good}", "Bearer "):
        _error(client.get("/me", headers={"Authorization": header}), 401, "unauthenticated")
    with session_scope(engine) as session:
        principal = access.authenticate(session, good)
        assert principal is not None
        access.revoke_token(session, principal.token_id)
    _error(client.get("/me", headers=_auth(good)), 401, "unauthenticated")


def _revoke_elsewhere(engine: sa.Engine, token: str) -> None:
    """As the CLI or another server process would: the row changes, this process is not told."""
    with session_scope(engine) as session:
        principal = access.authenticate(session, token)
        assert principal is not None
        session.execute(
            sa.update(access.ApiToken)
            .where(access.ApiToken.id == principal.token_id)
            .values(revoked_at=datetime.now(UTC))
        )


def test_a_revocation_elsewhere_is_refused_within_the_auth_cache_ttl(
    settings: Settings, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    good = tokens[Role.SUPERVISOR]
    with _app_client(settings, engine, auth_cache_seconds=1.0) as client:
        assert client.get("/me", headers=_auth(good)).status_code == 200  # now cached
        _revoke_elsewhere(engine, good)
        assert client.get("/me", headers=_auth(good)).status_code == 200  # inside the TTL
        time.sleep(1.1)
        _error(client.get("/me", headers=_auth(good)), 401, "unauthenticated")


def test_with_the_auth_cache_off_a_revocation_elsewhere_is_refused_at_once(
    settings: Settings, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    good = tokens[Role.SUPERVISOR]
    with _app_client(settings, engine, auth_cache_seconds=0) as client:
        assert client.get("/me", headers=_auth(good)).status_code == 200
        _revoke_elsewhere(engine, good)
        _error(client.get("/me", headers=_auth(good)), 401, "unauthenticated")


def test_an_app_with_an_undeclared_route_does_not_start(settings: Settings) -> None:
    from serving.api import app as app_module

    stray = APIRouter()

    @stray.get("/stray")
    def _stray() -> dict[str, str]:
        return {}

    original = app_module.ROUTERS
    app_module.ROUTERS = (*original, stray)
    try:
        with pytest.raises(RuntimeError, match=r"/stray declares no roles"):
            create_app(settings, clock=china_half_past_midnight())
    finally:
        app_module.ROUTERS = original


# --- the routes -------------------------------------------------------------------------------------------


def test_token_lifecycle_through_the_api(
    client: TestClient, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    admin = _auth(tokens[Role.ADMIN])
    created = client.post("/tokens", json={"name": "analyst-li", "role": "analyst"}, headers=admin)
    assert created.status_code == 201
    body = created.json()
    assert body["role"] == "analyst" and body["active"] and body["created_by"] == _actor(Role.ADMIN)
    new_token = body["token"]
    assert client.get("/me", headers=_auth(new_token)).json()["name"] == "analyst-li"
    listed = client.get("/tokens", headers=admin).json()
    assert "token" not in listed[-1] and listed[-1]["prefix"] == body["prefix"]
    assert new_token not in client.get("/tokens", headers=admin).text
    revoked = client.delete(f"/tokens/{body['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    _error(client.get("/me", headers=_auth(new_token)), 401, "unauthenticated")
    _error(client.delete("/tokens/9999", headers=admin), 404, "not_found")


def test_uscc_route_gives_the_verdict(client: TestClient, tokens: dict[Role, str]) -> None:
    headers = _auth(tokens[Role.SYSTEM])
    good = client.get(f"/uscc/{VALID_USCC}", headers=headers).json()
    assert good["ok"] and good["status"] == "valid" and good["entity_type"] == "企业"
    assert good["division_code"] == "350100"
    bad = client.get(f"/uscc/{VALID_USCC[:-1]}0", headers=headers)
    assert bad.status_code == 200  # a failed check is the answer, not an error of the request
    assert bad.json()["ok"] is False and bad.json()["status"] == "checksum"
    assert "expected '3'" in bad.json()["reason"]
    assert client.get("/uscc/abc", headers=headers).json()["status"] == "format"


def test_health_is_liveness_and_ready_reports_the_database(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ok", "database": "ok"}


# --- typed errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "role": "root"}, "body.role"),
        ({"role": "inspector"}, "body.name"),
        ({"name": "bad;name", "role": "inspector"}, "body.name"),
        ({"name": "x", "role": "inspector", "is_admin": True}, "body.is_admin"),
        ({"name": "x", "role": "inspector", "expires_at": "2030-01-01T00:00:00"}, "body.expires_at"),
        ([1, 2], "body"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(
    client: TestClient, tokens: dict[Role, str], body: object, field: str
) -> None:
    response = client.post("/tokens", json=body, headers=_auth(tokens[Role.ADMIN]))
    error = _error(response, 422, "validation")
    assert error["field"] == field
    assert field in {e["field"] for e in error["errors"]}


def test_malformed_requests_are_typed_4xx(client: TestClient, tokens: dict[Role, str]) -> None:
    admin = {**_auth(tokens[Role.ADMIN])}
    _error(
        client.post("/tokens", content=b"{not json", headers={**admin, "content-type": "application/json"}),
        422,
        "validation",
    )
    assert _error(client.delete("/tokens/abc", headers=admin), 422, "validation")["field"] == "path.token_id"
    assert _error(client.delete("/tokens/0", headers=admin), 422, "validation")["field"] == "path.token_id"
    assert (
        _error(client.delete(f"/tokens/{10**30}", headers=admin), 422, "validation")["field"]
        == "path.token_id"
    )
    assert _error(client.get("/uscc/" + "9" * 65, headers=admin), 422, "validation")["field"] == "path.code"
    _error(client.get("/no/such/route", headers=admin), 404, "not_found")
    _error(client.put("/tokens", headers=admin), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"null",
        b"\xff\xfe\x00",
        b'{"name": "\\ud800", "role": "admin"}',
        b'{"name": 1e999, "role": "admin"}',
        b"[" * 5000,
    ],
)
def test_garbage_never_gives_a_500(client: TestClient, tokens: dict[Role, str], content: bytes) -> None:
    headers = {**_auth(tokens[Role.ADMIN]), "content-type": "application/json"}
    response = client.post("/tokens", content=content, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()


def test_an_unreachable_database_is_503_without_sql(
    settings: Settings, tmp_path: Path, tokens: dict[Role, str]
) -> None:
    missing = make_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}")
    with _app_client(settings, missing) as client:
        error = _error(client.get("/me", headers=_auth(tokens[Role.ADMIN])), 503, "unavailable")
        assert "SELECT" not in error["message"]
        assert client.get("/health").json() == {"status": "ok"}  # liveness does not ask the database
        _error(client.get("/health/ready"), 503, "unavailable")


def test_an_exhausted_connection_pool_is_503_not_500(
    settings: Settings, migrated: Path, tmp_path: Path, tokens: dict[Role, str], engine: sa.Engine
) -> None:
    # Every connection of a one-connection pool is taken: the request's wait for one times out.
    path = tmp_path / "api.db"  # the `engine` fixture's copy, where `tokens` were issued
    small = make_engine(f"sqlite:///{path}", pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        with _app_client(settings, small) as client, small.connect():
            error = _error(client.get("/me", headers=_auth(tokens[Role.ADMIN])), 503, "unavailable")
            assert "QueuePool" not in error["message"]
            assert client.get("/me", headers=_auth(tokens[Role.ADMIN])).headers["Retry-After"] == "1"
    finally:
        small.dispose()


# --- limits -----------------------------------------------------------------------------------------------


def test_bodies_over_the_limit_are_413(
    settings: Settings, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    admin = _auth(tokens[Role.ADMIN])
    with _app_client(settings, engine, max_body_bytes=300) as client:
        big = {"name": "x" * 90, "role": "inspector", "padding": "y" * 400}
        _error(client.post("/tokens", json=big, headers=admin), 413, "payload_too_large")

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"name": "chunked", "role": "inspector", "pad": "'
            yield b"z" * 400
            yield b'"}'

        response = client.post(
            "/tokens", content=chunks(), headers={**admin, "content-type": "application/json"}
        )
        _error(response, 413, "payload_too_large")
        assert (
            client.post("/tokens", json={"name": "small", "role": "inspector"}, headers=admin).status_code
            == 201
        )


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_per_token_is_429_with_retry_after(client: TestClient, tokens: dict[Role, str]) -> None:
    clock = _Clock()
    client.app.state.limiter = RateLimiter(per_minute=60, burst=3, clock=clock)  # type: ignore[attr-defined]
    inspector, analyst = _auth(tokens[Role.INSPECTOR]), _auth(tokens[Role.ANALYST])
    assert [client.get("/me", headers=inspector).status_code for _ in range(3)] == [200, 200, 200]
    limited = client.get("/me", headers=inspector)
    _error(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"] == "1"
    assert client.get("/me", headers=analyst).status_code == 200  # buckets are per token
    clock.now += 1.0
    assert client.get("/me", headers=inspector).status_code == 200
    _error(client.get("/me", headers=inspector), 429, "rate_limited")


def test_failed_authentication_is_limited_per_address(client: TestClient) -> None:
    client.app.state.limiter = RateLimiter(per_minute=6, burst=2, clock=_Clock())  # type: ignore[attr-defined]
    statuses = [client.get("/me", headers=_auth("cw_guess")).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert client.get("/me").headers["Retry-After"] == "10"


def test_rate_limiter_refills_and_can_be_off() -> None:
    clock = _Clock()
    limiter = RateLimiter(per_minute=120, burst=2, clock=clock)
    assert [limiter.acquire("k") for _ in range(3)] == [None, None, 1]
    clock.now += 0.5
    assert limiter.acquire("k") is None
    assert RateLimiter(per_minute=0, burst=1).acquire("k") is None
    with pytest.raises(ValueError, match="burst=0"):
        RateLimiter(per_minute=1, burst=0)


# --- audit ------------------------------------------------------------------------------------------------


def test_changes_are_audited_with_who_what_where_and_result(
    client: TestClient, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    before = len(_entries(engine))
    created = client.post(
        "/tokens", json={"name": "audited", "role": "system"}, headers=_auth(tokens[Role.ADMIN])
    )
    token_id = created.json()["id"]
    client.delete(f"/tokens/{token_id}", headers=_auth(tokens[Role.ADMIN]))
    new = _entries(engine)[before:]
    assert [(e.action, e.target, e.result, e.role) for e in new] == [
        ("tokens.create", f"token:{token_id}", "ok", "admin"),
        ("tokens.revoke", f"token:{token_id}", "ok", "admin"),
    ]
    assert new[0].actor == _actor(Role.ADMIN) and new[0].source == "testclient"
    assert new[0].details["name"] == "audited" and new[0].details["method"] == "POST"
    assert created.json()["token"] not in str([e.details for e in new])  # the clear token is never logged


def test_denied_and_rejected_attempts_are_audited(
    client: TestClient, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    body = {"name": "sneaky", "role": "admin"}
    client.post("/tokens", json=body, headers=_auth(tokens[Role.INSPECTOR]))  # wrong role
    client.post("/tokens", json=body)  # no token
    client.get("/audit/verify", headers=_auth(tokens[Role.ANALYST]))  # read of the audit log, wrong role
    client.get("/me")  # unauthenticated read
    client.post("/tokens", json={"name": "x", "role": "root"}, headers=_auth(tokens[Role.ADMIN]))  # invalid
    client.delete("/tokens/9999", headers=_auth(tokens[Role.ADMIN]))  # not found
    got = [(e.actor, e.role, e.action, e.result, e.details.get("status")) for e in _entries(engine)]
    # The second anonymous request of the window is counted, not written: it reaches the log in the window's
    # summary (serving/api/trail.py AnonymousSummary; tests/serving/test_audit_flood.py).
    assert got == [
        (_actor(Role.INSPECTOR), "inspector", "tokens.create", "denied", 403),
        ("anonymous", None, "tokens.create", "denied", 401),
        (_actor(Role.ANALYST), "analyst", "audit.verify", "denied", 403),
        (_actor(Role.ADMIN), "admin", "tokens.create", "rejected", 422),
        (_actor(Role.ADMIN), "admin", "tokens.revoke", "rejected", 404),
    ]
    assert _entries(engine)[-1].target == "token:9999"
    with session_scope(engine) as session:
        assert audit.verify(session).ok


def test_reads_are_not_audited_but_rate_limited_requests_are_not_written(
    client: TestClient, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    client.get("/me", headers=_auth(tokens[Role.SUPERVISOR]))
    client.get(f"/uscc/{VALID_USCC}", headers=_auth(tokens[Role.SUPERVISOR]))
    assert _entries(engine) == []
    client.app.state.limiter = RateLimiter(per_minute=1, burst=1, clock=_Clock())  # type: ignore[attr-defined]
    admin = _auth(tokens[Role.ADMIN])
    assert client.post("/tokens", json={"name": "a", "role": "system"}, headers=admin).status_code == 201
    assert client.post("/tokens", json={"name": "b", "role": "system"}, headers=admin).status_code == 429
    assert [e.result for e in _entries(engine)] == ["ok"]


def test_audit_verify_route_reports_and_is_itself_audited(
    client: TestClient, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    admin = _auth(tokens[Role.ADMIN])
    client.post("/tokens", json={"name": "one", "role": "system"}, headers=admin)
    report = client.get("/audit/verify", headers=admin).json()
    assert report["ok"] is True and report["entries"] == 1 and report["first_bad_id"] is None
    assert _entries(engine)[-1].action == "audit.verify"
    with engine.begin() as connection:  # an insider edits the log behind the triggers' back
        connection.exec_driver_sql("DROP TRIGGER audit_entries_no_update")
        connection.exec_driver_sql("UPDATE audit_entries SET actor = 'nobody#0' WHERE id = 1")
    broken = client.get("/audit/verify", headers=admin).json()
    assert broken["ok"] is False and broken["first_bad_id"] == 1


def test_concurrent_changes_on_sqlite_do_not_fail(settings: Settings, engine: sa.Engine) -> None:
    # Each revoke reads its token before writing; without taking the write lock first, SQLite refused a
    # good share of these with "database is locked" (500) as soon as another request had committed.
    with session_scope(engine) as session:
        admin = _auth(access.create_token(session, name="root", role="admin").token)
        victims = [access.create_token(session, name=f"v{i}", role="system").info.id for i in range(48)]
    statuses: list[int] = []
    # Admission control off: this is about SQLite's write lock, not about shedding (test_admission.py).
    with _app_client(settings, engine, rate_limit_per_minute=0, admission_concurrency=0) as client:

        def work(k: int) -> None:
            for token_id in victims[k::6]:
                statuses.append(client.delete(f"/tokens/{token_id}", headers=admin).status_code)
                statuses.append(
                    client.post(
                        "/tokens", json={"name": f"n{token_id}", "role": "system"}, headers=admin
                    ).status_code
                )

        threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [200] * 48 + [201] * 48
    with session_scope(engine) as session:
        result = audit.verify(session)
    assert result.ok and result.entries == 96


@pytest.fixture(params=backend_params())
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated database on SQLite and on PostgreSQL (skipped without CREDITWATCH_TEST_POSTGRES_URL)."""
    with fresh_database_url(request.param, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def test_the_stack_on_both_backends(settings: Settings, any_engine: sa.Engine) -> None:
    with session_scope(any_engine) as session:
        admin = _auth(access.create_token(session, name="root", role="admin").token)
        inspector = _auth(access.create_token(session, name="wang", role="inspector").token)
    statuses: list[int] = []
    with _app_client(settings, any_engine, rate_limit_per_minute=0) as client:
        assert client.get("/health").status_code == 200
        _error(
            client.post("/tokens", json={"name": "x", "role": "admin"}, headers=inspector), 403, "forbidden"
        )

        def work(k: int) -> None:
            for i in range(4):
                created = client.post("/tokens", json={"name": f"t{k}-{i}", "role": "system"}, headers=admin)
                statuses.append(created.status_code)
                statuses.append(client.delete(f"/tokens/{created.json()['id']}", headers=admin).status_code)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        report = client.get("/audit/verify", headers=admin).json()
    assert sorted(statuses) == [200] * 16 + [201] * 16
    assert report["ok"] and report["entries"] == 33  # the denied attempt and 32 changes
    got = [(e.action, e.result) for e in _entries(any_engine)]
    assert got[0] == ("tokens.create", "denied") and got[-1] == ("audit.verify", "ok")
    with session_scope(any_engine) as session:
        assert audit.verify(session).ok


def _queued(writer: AuditWriter, entries: list[dict[str, Any]]) -> list[BaseException | None]:
    """Write `entries` from one thread each while a flush is in progress, then let the flush go."""
    outcomes: list[BaseException | None] = [None] * len(entries)

    def write(i: int) -> None:
        try:
            writer.write(entries[i])
        except BaseException as exc:  # collected for the test: a thread cannot fail it
            outcomes[i] = exc

    with writer._flush_lock:  # as if a flush were running: newcomers queue up behind it
        threads = [threading.Thread(target=write, args=(i,)) for i in range(len(entries))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(writer._pending) < len(entries) and time.monotonic() < deadline:
            time.sleep(0.005)
    for thread in threads:
        thread.join()
    return outcomes


def test_audit_writer_commits_concurrent_entries_together(engine: sa.Engine) -> None:
    writer = AuditWriter(engine)
    outcomes = _queued(writer, [{"actor": f"reader{i}#1", "action": "entities.read"} for i in range(6)])
    assert outcomes == [None] * 6
    assert writer.flushes == 1  # one transaction for the six
    assert sorted(e.actor for e in _entries(engine)) == [f"reader{i}#1" for i in range(6)]
    with session_scope(engine) as session:
        assert audit.verify(session).ok


def test_audit_writer_keeps_good_entries_when_one_is_bad(engine: sa.Engine) -> None:
    writer = AuditWriter(engine)
    outcomes = _queued(
        writer,
        [{"actor": "a#1", "action": "x"}, {"actor": "", "action": "x"}, {"actor": "c#1", "action": "x"}],
    )
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    assert sorted(e.actor for e in _entries(engine)) == ["a#1", "c#1"]


def test_audit_writer_lingers_so_that_requests_arriving_apart_share_a_commit(engine: sa.Engine) -> None:
    writer = AuditWriter(engine, linger_seconds=0.3)

    async def arrive_apart() -> list[int]:
        async def one(i: int) -> int:
            await asyncio.sleep(0.03 * i)  # 0-120 ms apart: inside the 300 ms linger
            await writer.awrite({"actor": f"reader{i}#1", "action": "entities.score"})
            return len(_entries(engine))  # committed by the time the await returns

        return await asyncio.gather(*(one(i) for i in range(5)))

    seen = asyncio.run(arrive_apart())
    assert writer.flushes == 1 and seen == [5] * 5
    with session_scope(engine) as session:
        assert audit.verify(session).ok


def test_audit_writer_thread_ends_when_idle_and_starts_again(engine: sa.Engine) -> None:
    writer = AuditWriter(engine, linger_seconds=0, idle_seconds=0.05)
    writer.write({"actor": "a#1", "action": "x"})
    deadline = time.monotonic() + 5
    while writer._running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not writer._running
    writer.write({"actor": "b#1", "action": "x"})  # a new thread takes it
    assert [e.actor for e in _entries(engine)] == ["a#1", "b#1"]


# --- masking ----------------------------------------------------------------------------------------------

ID = "110105200501011234"  # format-true example; masking does not need a valid check digit
PERSON = {
    "person_key": "a" * 64,
    "id_masked": "110105********1234",
    "id_number": ID,
    "name": "张三丰",
    "birth_date": date(1980, 5, 17),
}
AUDIENCES = [*(r.value for r in Role), masking.PUBLIC]


def test_the_policy_covers_every_kind_and_audience() -> None:
    for kind in masking.Kind:
        assert set(masking.POLICY[kind]) == set(AUDIENCES), kind
        assert set(masking.POLICY[kind].values()) <= {masking.FULL, masking.MASKED, masking.HIDDEN}


@pytest.mark.parametrize("audience", [*AUDIENCES, "stranger"])
def test_id_numbers_are_never_shown_in_full(audience: str) -> None:
    shown = masking.mask_record(PERSON, audience=audience, table="persons")
    assert ID not in str(shown)
    for column in ("id_number", "id_masked"):
        assert shown.get(column) in (None, "110105********1234")
    framed = masking.mask_frame(pl.LazyFrame([PERSON]), audience=audience, table="persons").collect()
    assert ID not in str(framed.to_dicts())


def test_names_phones_and_keys_follow_the_role() -> None:
    entity = {
        "uscc": VALID_USCC,
        "name": "盐城某某有限公司",
        "phone": "13812345678",
        "address": "江苏省盐城市亭湖区人民路1号",
    }
    inspector = masking.mask_record(entity, audience="inspector", table="entities")
    analyst = masking.mask_record(entity, audience="analyst", table="entities")
    public = masking.mask_record(entity, audience="public", table="entities")
    assert inspector == entity
    assert analyst["name"] == entity["name"]  # an entity's registered name is public
    assert "phone" not in analyst and analyst["address"] == "江苏省盐城市****"
    assert "phone" not in public
    person_for = {a: masking.mask_record(PERSON, audience=a, table="persons") for a in AUDIENCES}
    assert person_for["supervisor"]["name"] == "张三丰"
    assert (
        person_for["analyst"]["name"]
        == person_for["system"]["name"]
        == person_for["public"]["name"]
        == "张**"
    )
    assert "person_key" not in person_for["inspector"] and person_for["analyst"]["person_key"] == "a" * 64
    assert person_for["analyst"]["birth_date"] == 1980 and "birth_date" not in person_for["public"]
    penalty = {"decision_no": "盐市监罚〔2026〕1号", "legal_representative": "李四"}
    assert masking.mask_record(penalty, audience="system", table="penalties")["legal_representative"] == "李*"


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("table", ["persons", "entities", "penalties", None])
def test_frame_and_record_masking_agree(audience: str, table: str | None) -> None:
    rows = [
        {**PERSON, "phone": "13812345678", "address": "江苏省盐城市亭湖区", "legal_representative": "王五"},
        {
            **PERSON,
            "name": "欧阳",
            "phone": "05158888",
            "address": "短",
            "id_number": "12345",
            "legal_representative": None,
        },
    ]
    expected = [masking.mask_record(r, audience=audience, table=table) for r in rows]
    got = masking.mask_frame(pl.LazyFrame(rows), audience=audience, table=table).collect().to_dicts()
    assert got == expected


def test_mask_forms() -> None:
    assert masking.mask_name("王") == "王*"
    assert masking.mask_phone("13812345678") == "138****5678"
    assert masking.mask_phone("88886666") == "******66"
    assert masking.mask_id_number("11010519800101123X") == "110105********123X"


def test_minors_are_left_out_of_public_records() -> None:
    on = date(2026, 6, 1)
    rows = [
        {"id": "adult", "birth_date": date(2008, 6, 1)},  # 18 today
        {"id": "minor", "birth_date": date(2008, 6, 2)},  # 18 tomorrow
        {"id": "minor-by-number", "id_number": "11010520100101123" + "X"},
        {"id": "minor-by-key", "person_key": "k1"},
        {"id": "adult-by-key", "person_key": "k2"},
        {"id": "unknown"},
    ]
    from features import identity

    rows[2]["id_number"] = rows[2]["id_number"][:17] + identity.check_digit(rows[2]["id_number"][:17])
    births = {"k1": date(2015, 1, 1), "k2": date(1990, 1, 1)}
    kept = [r["id"] for r in masking.public_records(rows, on=on, birth_dates=births)]
    assert kept == ["adult", "adult-by-key", "unknown"]
    frame = pl.LazyFrame(
        [{"id": r["id"], "birth_date": r.get("birth_date"), "person_key": r.get("person_key")} for r in rows],
        schema={"id": pl.String, "birth_date": pl.Date, "person_key": pl.String},
    )
    persons = pl.LazyFrame({"person_key": ["k1", "k2"], "birth_date": [date(2015, 1, 1), date(1990, 1, 1)]})
    dropped = masking.drop_minors(frame, on=on, persons=persons).collect()["id"].to_list()
    assert dropped == [
        "adult",
        "minor-by-number",
        "adult-by-key",
        "unknown",
    ]  # the frame carries no raw numbers


def test_leap_day_birthdays() -> None:
    born = date(2008, 2, 29)
    assert masking.is_minor(born, on=date(2026, 2, 28))
    assert not masking.is_minor(born, on=date(2026, 3, 1))
    frame = pl.LazyFrame({"birth_date": [born]})
    assert masking.drop_minors(frame, on=date(2026, 2, 28)).collect().height == 0
    assert masking.drop_minors(frame, on=date(2026, 3, 1)).collect().height == 1


def test_no_page_pulls_scripts_from_a_cdn(client: TestClient) -> None:
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").status_code == 200


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_bodies = _json_values | st.fixed_dictionaries(
    {
        "name": _json_values | st.text(max_size=120),
        "role": _json_values | st.sampled_from([r.value for r in Role]),
    },
    optional={"expires_at": _json_values | st.datetimes().map(str)},
)


@hypothesis_settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=_bodies,
    code=st.text(min_size=1, max_size=80).filter(lambda c: "/" not in c and "?" not in c and "#" not in c),
)
def test_fuzzed_inputs_never_give_a_500(
    client: TestClient, tokens: dict[Role, str], body: object, code: str
) -> None:
    client.app.state.limiter = RateLimiter(per_minute=0, burst=1)  # type: ignore[attr-defined]
    admin = _auth(tokens[Role.ADMIN])
    created = client.post("/tokens", json=body, headers=admin)
    assert created.status_code in (201, 413, 422), created.text
    assert ("token" in created.json()) == (created.status_code == 201)
    checked = client.get(f"/uscc/{quote(code, safe='')}", headers=admin)
    assert checked.status_code in (200, 404, 422), checked.text
