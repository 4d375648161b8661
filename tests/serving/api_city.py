"""The domain API's route → role matrix, and a small synthetic city with a trained, promoted model and stored
scores for the API tests (built once per test module; tens of seconds, so those tests are slow)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from typer.testing import CliRunner

from serving.settings import Settings, load_settings
from supervision.platform import access
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade

READERS = frozenset({Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST})
SUP = frozenset({Role.SUPERVISOR})
ANALYST = frozenset({Role.ANALYST})

# Imported by tests/serving/test_api_foundation.py: the app's matrix is MATRIX + LIFECYCLE_MATRIX + these.
DOMAIN_MATRIX: list[tuple[str, str, frozenset[Role] | str]] = [
    ("GET", "/entities", READERS),
    ("GET", "/entities/{uscc}", READERS),
    ("GET", "/entities/{uscc}/score", READERS | {Role.SYSTEM}),
    ("GET", "/entities/{uscc}/explanation", READERS),
    ("GET", "/entities/{uscc}/related", READERS),
    ("GET", "/entities/{uscc}/history", READERS),
    ("POST", "/scores/batch", READERS | {Role.SYSTEM}),
    ("GET", "/models/champion", access.STAFF_ROLES),
    ("GET", "/models", ANALYST),
    ("GET", "/models/compare", ANALYST),
    ("POST", "/models/{version}/promote", ANALYST),
    ("POST", "/models/rollback", ANALYST),
    ("POST", "/sampling/tasks", SUP),
    ("POST", "/sampling/tasks/{task_id}/draw", SUP),
    ("GET", "/sampling/tasks", frozenset({Role.SUPERVISOR, Role.INSPECTOR})),
    ("GET", "/sampling/tasks/{task_id}", frozenset({Role.SUPERVISOR, Role.INSPECTOR})),
    ("GET", "/sampling/tasks/{task_id}/export", frozenset({Role.SUPERVISOR, Role.INSPECTOR})),
    ("GET", "/sampling/tasks/{task_id}/verify", READERS),
    ("POST", "/sampling/periods/{period}/assign", SUP),
    ("POST", "/sampling/tasks/{task_id}/results", frozenset({Role.SUPERVISOR, Role.INSPECTOR})),
]

AS_OF = date(2026, 11, 27)
EARLIER = date(2026, 6, 30)


@dataclass
class City:
    settings: Settings
    engine: sa.Engine
    tokens: dict[Role, dict[str, str]]
    versions: list[str]
    usccs: list[str]


# What the policy publishes, for anyone (serving/api/routers/public.py: tests/serving/test_public_pages.py).
PUBLIC_MATRIX: list[tuple[str, str, frozenset[Role] | str]] = [
    ("GET", "/public/commitments", "public"),
    ("GET", "/public/measures", "public"),
    ("GET", "/public/lists", "public"),
    ("GET", "/public/court-debtors", "public"),
    ("GET", "/public/reports/{report_no}", "public"),
]
# Data exchange (一张网: tests/serving/test_exchange.py).
EXCHANGE_MATRIX: list[tuple[str, str, frozenset[Role] | str]] = [
    ("POST", "/exchange/batches", frozenset({Role.SYSTEM, Role.ANALYST})),
    ("GET", "/exchange/batches/{batch_id}", frozenset({Role.SYSTEM, Role.ANALYST})),
    ("GET", "/exchange/feed", frozenset({Role.SYSTEM})),
]


# Every test identity is a person of one department of a district (another department's has its own token).
DEPARTMENT = "亭湖区市场监督管理局"
DIVISION = "320902"
OTHER_DEPARTMENT = "亭湖区生态环境局"


# A valid USCC no city here holds: the default binding of an entity token (`issue(engine, Role.ENTITY)`).
ENTITY_USCC = "91320902MA1ENT000Y"


def entity_uscc(role: Role) -> str | None:
    """The USCC a test token of `role` is bound to: :data:`ENTITY_USCC` for an entity, else none."""
    return ENTITY_USCC if role is Role.ENTITY else None


def issue(
    engine: sa.Engine, role: Role, *, name: str | None = None, department: str = DEPARTMENT, **identity: Any
) -> dict[str, str]:
    """An Authorization header for a new token of a person of `department` with `role`; an entity's token is
    bound to ``identity["uscc"]`` (default :data:`ENTITY_USCC`) and to no department."""
    with session_scope(engine) as s:
        if role is Role.ENTITY:
            issued = access.create_token(
                s, name=name or "entity-user", role=role, uscc=identity.pop("uscc", ENTITY_USCC)
            )
            return {"Authorization": f"Bearer {issued.token}"}
        issued = access.create_token(
            s,
            name=name or f"{role.value}-user",
            role=role,
            department=department,
            division=identity.pop("division", DIVISION),
            person_id=identity.pop("person_id", f"{role.value}-1"),
            **identity,
        )
    return {"Authorization": f"Bearer {issued.token}"}


def tokens(engine: sa.Engine) -> dict[Role, dict[str, str]]:
    return {r: issue(engine, r) for r in Role}


def build_city(root: Path, *, models: int = 1) -> City:
    """1,500 entities → lake → `models` registered versions (the first promoted) → two score files."""
    from features.build import FeatureConfig
    from features.ingest import ingest_paths
    from features.lake import sources
    from features.synth import generate
    from features.synth.city import CityConfig
    from serving.cli import app
    from training.labels import labelled_features
    from training.registry import Registry
    from training.run import TrainConfig, catalog_feature_infos, train

    home = root / "home"
    home.mkdir(parents=True)
    settings = load_settings(home=home)
    generate(CityConfig(entities=1500, seed=3), root / "city", today=AS_OF)
    ingest_paths(
        sorted(p for p in (root / "city").iterdir() if p.is_file()),
        lake_dir=settings.lake_dir,
        salt=settings.person_salt,
        today=AS_OF,
    )
    frame = labelled_features(sources(settings.lake_dir))
    infos, categorical = catalog_feature_infos(FeatureConfig().catalog)
    registry = Registry(settings.mlflow_uri)
    versions = []
    for seed in range(models):
        config = TrainConfig(
            valid_months=4,
            test_months=4,
            num_threads=1,
            random_state=seed,
            estimator={
                "n_estimators": 30,
                "learning_rate": 0.1,
                "num_leaves": 7,
                "early_stopping_rounds": 10,
            },
        )
        _, record = train(
            frame,
            infos=infos,
            categorical=categorical,
            config=config,
            tracking_uri=settings.mlflow_uri,
            artifact_location=settings.mlflow_artifacts_dir,
        )
        versions.append(record.version)
        if seed == 0:
            registry.promote(record.version, who="test", why="first model")
    for day in (EARLIER, AS_OF):
        result = CliRunner().invoke(app, ["--home", str(home), "--json", "score", "--as-of", day.isoformat()])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["entities"] > 500
    usccs = pl.read_parquet(home / "scores" / f"as_of={AS_OF}.parquet")["uscc"].to_list()
    engine = make_engine(f"sqlite:///{root / 'api.db'}")
    upgrade(engine)
    return City(settings, engine, tokens(engine), versions, usccs)


def raw_token(city: City, role: Role) -> str:
    """The role's API token itself (the page tests type it into the login form)."""
    return city.tokens[role]["Authorization"].removeprefix("Bearer ")


def sign_in(client: Any, city: City, role: Role) -> str:
    """Sign `client` (a TestClient) in as `role` through the login form; returns the session's CSRF token."""
    from serving.web.auth import COOKIE, csrf_token

    client.cookies.clear()
    r = client.post("/ui/login", data={"token": raw_token(city, role)})
    assert r.status_code == 303, r.text
    return csrf_token(client.cookies[COOKIE])


def related_pair(city: City) -> tuple[str, str]:
    """Two scored entities sharing a person in the lake's relations valid on AS_OF, found independently."""
    from features import lake as lake_io

    rel = (
        lake_io.scan(city.settings.lake_dir, "relations")
        .filter(pl.col("person_key").is_not_null() & (pl.col("valid_from") < AS_OF))
        .filter(pl.col("valid_to").is_null() | (pl.col("valid_to") >= AS_OF))
        .select("uscc", "person_key")
        .unique()
        .collect()
    )
    pairs = rel.join(rel, on="person_key").filter(pl.col("uscc") < pl.col("uscc_right")).sort("uscc")
    pairs = pairs.filter(pl.col("uscc").is_in(city.usccs))
    assert pairs.height, "the synthetic city should have persons linked to two entities"
    return pairs["uscc"][0], pairs["uscc_right"][0]


def ok(response: Any, status: int = 200) -> Any:
    """The JSON body of a response that must have `status`."""
    assert response.status_code == status, response.text
    return response.json()


def error(response: Any, status: int, type_: str) -> dict[str, Any]:
    """The typed error of a response: exactly ``{"error": {...}}`` with `type_` and a message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["type"] == type_
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


def small_lake_home(root: Path, *, entities: int = 400, seed: int = 3) -> Settings:
    """A home (``root/home``) whose lake holds a small synthetic city ingested as of :data:`AS_OF` — no
    database, no model: for a test that runs ``creditwatch train`` itself."""
    from features.ingest import ingest_paths
    from features.synth import generate
    from features.synth.city import CityConfig

    home = root / "home"
    home.mkdir()
    settings = load_settings(home=home)
    generate(CityConfig(entities=entities, seed=seed), root / "city", today=AS_OF)
    ingest_paths(
        sorted(p for p in (root / "city").iterdir() if p.is_file()),
        lake_dir=settings.lake_dir,
        salt=settings.person_salt,
        today=AS_OF,
    )
    return settings
