"""The API follows a promotion or rollback made in another process (the CLI moves the registry's alias)
without a restart; a version that fails to load leaves the current one serving; the check is cached; the API's
re-score uses the model it serves. Real MLflow registry on SQLite, two trained versions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.lake import sources
from serving.api.app import create_app
from serving.champion import NoChampion, ServingChampion
from serving.cli import app as cli
from serving.settings import Settings
from supervision.platform.access import Role
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, DEPARTMENT, City, build_city
from training.registry import Registry

pytestmark = pytest.mark.slow  # the module's city: ~45 s to generate, ingest, train twice and score


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    city = build_city(tmp_path_factory.mktemp("champion-reload"), models=2)
    yield city
    city.engine.dispose()


@pytest.fixture
def registry(city: City) -> Iterator[Registry]:
    """The registry as the CLI sees it; each test leaves v1 as the champion, as it found it."""
    registry = Registry(city.settings.mlflow_uri)
    assert registry.champion() == city.versions[0]
    yield registry
    if registry.champion() != city.versions[0]:
        registry.promote(city.versions[0], who="test", why="reset", force=True)


def _settings(city: City, seconds: float) -> Settings:
    return city.settings.model_copy(update={"champion_check_seconds": seconds})


def _serving(client: TestClient, city: City) -> dict[str, Any]:
    r = client.get("/models/champion", headers=city.tokens[Role.SUPERVISOR])
    assert r.status_code == 200, r.text
    return dict(r.json())


def _explained_by(client: TestClient, city: City) -> str:
    r = client.get(
        f"/entities/{city.usccs[3]}/explanation",
        params={"as_of": AS_OF.isoformat()},
        headers=city.tokens[Role.SUPERVISOR],
    )
    assert r.status_code == 200, r.text
    return str(r.json()["model_version"])


def _cli(city: City, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--home", str(city.settings.home), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_promotion_and_a_rollback_by_the_cli_are_served_without_a_restart(
    city: City, registry: Registry
) -> None:
    v1, v2 = city.versions
    with TestClient(
        create_app(_settings(city, 0), engine=city.engine, clock=china_half_past_midnight())
    ) as client:
        assert _serving(client, city)["version"] == v1 and _explained_by(client, city) == v1
        # As `creditwatch models promote` does, in this process but not through the app.
        registry.promote(v2, who="wang", why="retrained", force=True)
        now = _serving(client, city)
        assert now["version"] == now["registry_champion"] == v2 and now["last_error"] is None
        assert _explained_by(client, city) == v2
        # The command itself, as an analyst (a move needs an identity).
        zhao = _cli(
            city, "tokens", "create", "--role", "analyst", "--name", "zhao", "--department", DEPARTMENT
        )
        _cli(city, "--as", zhao["token"], "models", "rollback", "--why", "v2 misbehaves")
        now = _serving(client, city)
        assert now["version"] == now["registry_champion"] == v1 and _explained_by(client, city) == v1


def test_a_version_that_fails_to_load_leaves_the_champion_serving(city: City, registry: Registry) -> None:
    v1, v2 = city.versions
    model_id = str(registry.client.get_model_version(registry.name, v2).source).removeprefix("models:/")
    pickle = city.settings.mlflow_artifacts_dir / "models" / model_id / "artifacts" / "pyfunc_code.py"
    good = pickle.read_bytes()
    try:
        pickle.write_bytes(b"not a python model")  # as a damaged artifact store would leave it
        with TestClient(
            create_app(_settings(city, 0), engine=city.engine, clock=china_half_past_midnight())
        ) as client:
            assert _serving(client, city)["version"] == v1
            registry.promote(v2, who="wang", why="broken on purpose", force=True)
            now = _serving(client, city)
            assert now["version"] == v1 and now["registry_champion"] == v2
            assert f"version {v2} failed to load" in now["last_error"]
            assert f"version {v1} keeps serving" in now["last_error"]
            assert _explained_by(client, city) == v1  # requests go on being answered by v1
            assert f"version {v2} failed to load" in _serving(client, city)["last_error"]
            # Back to the version that serves: nothing to swap, v1 goes on.
            registry.rollback(who="wang", why="back")
            assert _serving(client, city)["version"] == v1 and _explained_by(client, city) == v1
    finally:
        pickle.write_bytes(good)


def test_the_alias_is_checked_at_most_every_check_seconds(city: City, registry: Registry) -> None:
    v1, v2 = city.versions
    now = [0.0]
    holder = ServingChampion(
        city.settings.mlflow_uri, check_seconds=10, background=False, clock=lambda: now[0]
    )
    assert holder.load_initial().version == v1
    registry.promote(v2, who="wang", why="retrained", force=True)
    now[0] = 9.9  # within the interval: the registry is not read, v1 keeps answering
    current = holder.current
    assert current is not None and current.version == v1
    now[0] = 10.0
    current = holder.current
    assert current is not None and current.version == v2
    model, version = holder.get()
    assert version == v2 and model is current.model
    registry.rollback(who="wang", why="back")
    now[0] = 15.0
    assert holder.snapshot is not None and holder.snapshot.version == v2  # checked at 10.0: next at 20.0
    assert holder.refresh(force=True) is not None and holder.snapshot.version == v1


def test_a_due_check_runs_in_the_background(city: City, registry: Registry) -> None:
    v1, v2 = city.versions
    now = [0.0]
    holder = ServingChampion(city.settings.mlflow_uri, check_seconds=10, clock=lambda: now[0])
    assert holder.background and holder.load_initial().version == v1
    registry.promote(v2, who="wang", why="retrained", force=True)
    now[0] = 10.0
    first = holder.current  # the read that finds the check due answers at once, with what serves
    assert first is not None and first.version == v1
    holder.wait_for_check(timeout=120)
    later = holder.current  # checked at 10.0: no new check, the swapped model
    assert later is not None and later.version == v2 and holder.last_error is None
    assert ServingChampion(city.settings.mlflow_uri, check_seconds=0, background=True).background is False


def test_without_a_registry_get_says_why(tmp_path: Any) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    holder = ServingChampion(uri, check_seconds=0)
    assert holder.current is None and holder.load_initial().reason == "no model registry yet"
    with pytest.raises(NoChampion, match="no model registry"):
        holder.get()
    assert not (tmp_path / "mlflow.db").exists()  # looking never creates a registry
    with pytest.raises(ValueError, match="check_seconds"):
        ServingChampion(uri, check_seconds=-1)


def _penalty(city: City) -> tuple[str, str]:
    """A penalty decided well before the objection is filed, of an entity the city scored."""
    pens = (
        sources(city.settings.lake_dir)["penalties"]
        .filter(pl.col("decided_on") < date(2026, 10, 1), pl.col("uscc").is_in(city.usccs))
        .select("uscc", "decision_no")
        .sort("uscc", "decision_no")
        .collect()
    )
    assert pens.height, "the synthetic city should have penalties"
    uscc, no = pens.row(0)
    return str(uscc), str(no)


def test_the_api_rescore_uses_the_model_it_serves(city: City, registry: Registry) -> None:
    v1, v2 = city.versions
    uscc, record = _penalty(city)
    sup = city.tokens[Role.SUPERVISOR]
    # A long interval: the alias moves to v2, but this process serves v1 until its next check.
    with TestClient(
        create_app(_settings(city, 3600), engine=city.engine, clock=china_half_past_midnight())
    ) as client:
        assert _serving(client, city)["version"] == v1
        registry.promote(v2, who="wang", why="retrained", force=True)
        filed = client.post(
            "/objections",
            headers=sup,
            json={
                "uscc": uscc,
                "record_table": "penalties",
                "record_id": record,
                "grounds": "依据已撤销",
                "department": DEPARTMENT,
                "filed_on": "2026-11-02",
            },
        )
        assert filed.status_code == 201, filed.text
        oid = filed.json()["objection_id"]
        marked = client.post(f"/objections/{oid}/mark", json={"on": "2026-11-03"}, headers=sup)
        assert marked.status_code == 200, marked.text
        decided = client.post(
            f"/objections/{oid}/decision",
            headers=sup,
            json={"outcome": "upheld", "reasons": "核实有误", "resolution": "revoked", "on": "2026-11-04"},
        )
        assert decided.status_code == 200, decided.text
        rescored = decided.json()["rescore"]
        assert rescored["status"] == "rescored", rescored
        assert rescored["model_version"] == v1 == _serving(client, city)["version"]
