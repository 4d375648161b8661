"""Model routes on a small city with two registered versions: list, compare, promote through the CLI's gate,
roll back — the serving champion swaps without a restart, and a model that fails to load keeps the old one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.api.app import create_app
from supervision.platform import audit
from supervision.platform.access import Role
from supervision.platform.db import session_scope
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, DOMAIN_MATRIX, City, build_city
from tests.serving.api_city import error as _error
from tests.serving.api_city import ok as _ok
from training.registry import Registry

pytestmark = pytest.mark.slow  # the module's city: ~45 s to generate, ingest, train twice and score

MODEL_ROUTES = [r for r in DOMAIN_MATRIX if r[1].startswith("/models") and r[1] != "/models/champion"]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    city = build_city(tmp_path_factory.mktemp("api-models"), models=2)
    yield city
    city.engine.dispose()


@pytest.fixture(scope="module")
def client(city: City) -> Iterator[TestClient]:
    with TestClient(create_app(city.settings, engine=city.engine, clock=china_half_past_midnight())) as c:
        yield c


def _serving(client: TestClient, city: City) -> Any:
    return _ok(client.get("/models/champion", headers=city.tokens[Role.SUPERVISOR]))


def _explained_by(client: TestClient, city: City) -> str:
    got = _ok(
        client.get(
            f"/entities/{city.usccs[3]}/explanation",
            params={"as_of": AS_OF.isoformat()},
            headers=city.tokens[Role.SUPERVISOR],
        )
    )
    return str(got["model_version"])


@pytest.mark.parametrize(
    ("method", "template", "roles"), MODEL_ROUTES, ids=[f"{m} {p}" for m, p, _ in MODEL_ROUTES]
)
def test_each_model_route_admits_only_its_roles(
    client: TestClient, city: City, method: str, template: str, roles: frozenset[Role]
) -> None:
    path = template.replace("{version}", "999")
    params = {"a": city.versions[1]} if template == "/models/compare" else None
    # A valid promotion of a version that does not exist (404); an empty rollback body (422).
    body = {"who": "li", "why": "try"} if "999" in path else {} if method == "POST" else None
    for role in Role:
        response = client.request(method, path, params=params, json=body, headers=city.tokens[role])
        if role in roles:
            # GETs answer; the changes get an unknown version (404) or an empty body (422): nothing moves.
            assert response.status_code == (200 if method == "GET" else 404 if "999" in path else 422), (
                response.text
            )
        else:
            _error(response, 403, "forbidden")
    _error(client.request(method, path, params=params), 401, "unauthenticated")
    assert Registry(city.settings.mlflow_uri).champion() == city.versions[0]


def test_list_and_compare(client: TestClient, city: City) -> None:
    v1, v2 = city.versions
    auth = city.tokens[Role.ANALYST]
    listed = _ok(client.get("/models", headers=auth))
    assert [m["version"] for m in listed] == [v2, v1]
    assert [m["champion"] for m in listed] == [False, True] and [m["serving"] for m in listed] == [
        False,
        True,
    ]
    assert listed[1]["promoted_by"] == "test" and 0.5 < listed[1]["test_roc_auc"] <= 1
    compared = _ok(client.get("/models/compare", params={"a": v2, "b": v1}, headers=auth))
    rows = {r["metric"]: r for r in compared["metrics"]}
    assert rows["test_roc_auc"]["a"] == pytest.approx(listed[0]["test_roc_auc"])
    assert rows["test_roc_auc"]["b"] == pytest.approx(listed[1]["test_roc_auc"])
    gate = Registry(city.settings.mlflow_uri).gate(v2)
    assert compared["gate"]["passed"] == gate.passed and compared["gate"]["reason"] == gate.reason
    assert _ok(client.get("/models/compare", params={"a": v2}, headers=auth))["b"] == v1  # default: champion
    _error(client.get("/models/compare", params={"a": "999"}, headers=auth), 404, "not_found")
    _error(client.get("/models/compare", params={"a": "x"}, headers=auth), 422, "validation")
    _error(client.get("/models/compare", headers=auth), 422, "validation")


def test_promote_and_rollback_swap_the_serving_champion(client: TestClient, city: City) -> None:
    v1, v2 = city.versions
    auth = city.tokens[Role.ANALYST]
    assert _serving(client, city)["version"] == v1 and _explained_by(client, city) == v1
    gate = Registry(city.settings.mlflow_uri).gate(v2)
    body: dict[str, Any] = {"who": "wang", "why": "retrained on Q3 inspections"}
    if not gate.passed:  # the same gate as the CLI: refused unless forced, and the champion stays
        error = _error(client.post(f"/models/{v2}/promote", json=body, headers=auth), 409, "conflict")
        assert "gate" in error["message"] and _serving(client, city)["version"] == v1
        body["force"] = True
    _error(client.post(f"/models/{v2}/promote", json={"who": "wang"}, headers=auth), 422, "validation")
    _error(client.post(f"/models/{v2}/promote", json={**body, "who": ""}, headers=auth), 422, "validation")
    moved = _ok(client.post(f"/models/{v2}/promote", json=body, headers=auth))
    assert moved["champion"] == v2 and moved["previous"] == v1 and moved["serving"] == v2
    assert moved["gate"]["passed"] == gate.passed
    assert Registry(city.settings.mlflow_uri).champion() == v2
    now = _serving(client, city)
    actor = _ok(client.get("/me", headers=auth))["actor"]  # who moved it: the token's holder, not `who`
    assert moved["who"] == actor
    assert now["version"] == now["registry_champion"] == v2 and now["promoted_by"] == actor
    assert _explained_by(client, city) == v2  # no restart
    with session_scope(city.engine) as session:
        entry = audit.entries(session, target=f"model:{v2}", limit=100)[-1]
        assert (entry.action, entry.role, entry.result) == ("models.promote", "analyst", "ok")
        assert entry.details["previous"] == v1 and entry.details["why"] == body["why"]

    back = _ok(client.post("/models/rollback", json={"who": "zhao", "why": "v2 misbehaves"}, headers=auth))
    assert back["champion"] == back["serving"] == v1 and back["previous"] == v2
    assert Registry(city.settings.mlflow_uri).champion() == v1 and _explained_by(client, city) == v1


def test_requests_in_flight_during_a_swap_all_succeed(client: TestClient, city: City) -> None:
    v1, v2 = city.versions
    auth = city.tokens[Role.ANALYST]
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def explain() -> None:
        while not stop.is_set():
            r = client.get(
                f"/entities/{city.usccs[3]}/explanation",
                params={"as_of": AS_OF.isoformat()},
                headers=city.tokens[Role.SUPERVISOR],
            )
            seen.append((r.status_code, r.json().get("model_version")))

    workers = [threading.Thread(target=explain) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        body = {"who": "wang", "why": "swap under load", "force": True}
        assert _ok(client.post(f"/models/{v2}/promote", json=body, headers=auth))["serving"] == v2
        assert (
            _ok(client.post("/models/rollback", json={"who": "wang", "why": "back"}, headers=auth))["serving"]
            == v1
        )
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert seen and all(status == 200 for status, _ in seen)
    assert {version for _, version in seen} <= {v1, v2}
    assert _explained_by(client, city) == v1


def test_a_model_that_fails_to_load_leaves_the_champion_serving(client: TestClient, city: City) -> None:
    v1, v2 = city.versions
    registry = Registry(city.settings.mlflow_uri)
    assert registry.champion() == v1
    # Damage v2's stored model (as a broken artifact store would): its code no longer loads.
    model_id = str(registry.client.get_model_version(registry.name, v2).source).removeprefix("models:/")
    pickle = city.settings.mlflow_artifacts_dir / "models" / model_id / "artifacts" / "pyfunc_code.py"
    assert pickle.exists()
    pickle.write_bytes(b"not a python model")
    error = _error(
        client.post(
            f"/models/{v2}/promote",
            json={"who": "wang", "why": "again", "force": True},
            headers=city.tokens[Role.ANALYST],
        ),
        409,
        "conflict",
    )
    assert "failed to load" in error["message"] and f"version {v1} keeps serving" in error["message"]
    now = _serving(client, city)
    assert now["version"] == now["registry_champion"] == v1 and "failed to load" in now["last_error"]
    assert registry.champion() == v1 and _explained_by(client, city) == v1


def test_the_lifespan_loads_the_registered_champion(city: City) -> None:
    with TestClient(create_app(city.settings, engine=city.engine, clock=china_half_past_midnight())) as fresh:
        got = _serving(fresh, city)
        assert got["serving"] and got["version"] == Registry(city.settings.mlflow_uri).champion()
