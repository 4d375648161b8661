"""The entity, score and model use cases through the CLI door (serving/services/entities.py, scoring.py,
models.py): each checks the identity it needs and writes the hash-chained audit entry the API writes — actor,
role, department, door ``cli``. A registry move needs an analyst's identity (``--as``), records the actor as
who moved it, and a move to where the alias already points is refused. Real MLflow on SQLite, a small city.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from serving.cli import app
from serving.settings import Settings
from supervision.platform import audit
from supervision.platform.db import make_engine, session_scope
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, DEPARTMENT, DIVISION, City, build_city
from training.registry import Registry

pytestmark = pytest.mark.slow  # the module's city: ~45 s to generate, ingest, train twice and score

runner = CliRunner()


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    city = build_city(tmp_path_factory.mktemp("services-models"), models=2)
    yield city
    city.engine.dispose()


def _cli(settings: Settings, *args: str) -> tuple[int, Any]:
    result = runner.invoke(
        app, ["--home", str(settings.home), "--json", *args], obj=china_half_past_midnight()
    )
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


@pytest.fixture(scope="module")
def people(city: City) -> dict[str, tuple[list[str], str]]:
    """role → (``--as TOKEN``, the audit log's name) of a person of the test department (issued by the local
    operator, in the CLI's own database)."""
    out = {}
    for role in ("analyst", "supervisor"):
        code, issued = _cli(
            city.settings,
            "tokens",
            "create",
            "--role",
            role,
            "--name",
            f"{role}-wang",
            "--department",
            DEPARTMENT,
            "--division",
            DIVISION,
            "--person",
            f"{role}-7",
        )
        assert code == 0, issued
        out[role] = (["--as", issued["token"]], f"{role}-wang#{issued['id']}")
    return out


@pytest.fixture
def registry(city: City) -> Iterator[Registry]:
    """Each test leaves version 1 the champion, as it found it."""
    registry = Registry(city.settings.mlflow_uri)
    assert registry.champion() == city.versions[0]
    yield registry
    if registry.champion() != city.versions[0]:
        registry.promote(city.versions[0], who="test", why="reset", force=True)


def _last(settings: Settings, action: str) -> audit.AuditEntry:
    engine = make_engine(settings.db_url)
    try:
        with session_scope(engine) as session:
            assert audit.verify(session).ok
            return [e for e in audit.entries(session, limit=100_000) if e.action == action][-1]
    finally:
        engine.dispose()


def _entries(settings: Settings, action: str) -> int:
    engine = make_engine(settings.db_url)
    try:
        with session_scope(engine) as session:
            return sum(e.action == action for e in audit.entries(session, limit=100_000))
    finally:
        engine.dispose()


def _by(entry: audit.AuditEntry, actor: str, role: str) -> None:
    assert (entry.actor, entry.role, entry.result) == (actor, role, "ok")
    assert entry.details["door"] == "cli" and entry.details["department"] == DEPARTMENT


# ------------------------------------------------------------------------------------------------ scores
def test_a_score_run_is_audited_as_its_analyst_or_the_local_operator(
    city: City, people: dict[str, tuple[list[str], str]]
) -> None:
    token, actor = people["analyst"]
    day = AS_OF - timedelta(days=1)
    code, run = _cli(city.settings, *token, "score", "--as-of", day.isoformat())
    assert code == 0, run
    assert run["model_version"] == city.versions[0] and run["entities"] > 500
    written = pl.read_parquet(city.settings.home / "scores" / f"as_of={day}.parquet")
    assert written.height == run["entities"] and sum(t["entities"] for t in run["tiers"]) == run["entities"]
    entry = _last(city.settings, "scores.run")
    _by(entry, actor, "analyst")
    assert entry.target == f"scores:{day}" and entry.details["model_version"] == city.versions[0]
    # Work on one's own machine: the local operator may score too (recorded as such, without a role).
    code, _ = _cli(city.settings, "score", "--as-of", day.isoformat(), "--reasons", "0")
    assert code == 0
    local = _last(city.settings, "scores.run")
    assert local.actor.startswith("cli:") and local.role is None and local.details["door"] == "cli"
    (city.settings.home / "scores" / f"as_of={day}.parquet").unlink()
    (city.settings.home / "features" / f"as_of={day}.parquet").unlink()


def test_a_score_run_refuses_a_role_and_a_date_out_of_range(
    city: City, people: dict[str, tuple[list[str], str]]
) -> None:
    supervisor, _ = people["supervisor"]
    runs = _entries(city.settings, "scores.run")
    code, refused = _cli(city.settings, *supervisor, "score", "--as-of", AS_OF.isoformat())
    assert code == 3 and "may not" in refused["error"]
    code, refused = _cli(city.settings, "score", "--as-of", "9999-12-31")
    assert code == 1 and "as_of" in refused["error"]
    assert _entries(city.settings, "scores.run") == runs  # nothing half-written


def test_features_build_is_audited(
    city: City, people: dict[str, tuple[list[str], str]], tmp_path: Any
) -> None:
    token, actor = people["analyst"]
    code, built = _cli(
        city.settings, *token, "features", "build", "--as-of", AS_OF.isoformat(), "--out", str(tmp_path)
    )
    assert code == 0, built
    assert [b["path"] for b in built["built"]] == [str(tmp_path / f"as_of={AS_OF}.parquet")]
    entry = _last(city.settings, "features.build")
    _by(entry, actor, "analyst")
    assert entry.details["dates"] == [AS_OF.isoformat()]


def test_an_explanation_needs_an_identity_and_is_audited_as_a_read(
    city: City, people: dict[str, tuple[list[str], str]]
) -> None:
    uscc = city.usccs[3]
    code, refused = _cli(city.settings, "explain", uscc, "--as-of", AS_OF.isoformat())
    assert code == 3 and "without an identity" in refused["error"]
    token, actor = people["supervisor"]
    code, one = _cli(city.settings, *token, "explain", uscc, "--as-of", AS_OF.isoformat())
    assert code == 0, one
    stored = pl.read_parquet(city.settings.home / "scores" / f"as_of={AS_OF}.parquet").filter(
        pl.col("uscc") == uscc
    )
    assert one["probability"] == pytest.approx(stored["probability"][0]) and one["tier"] == stored["tier"][0]
    assert one["features_from"] == f"score_file:{AS_OF}" and one["charts"]
    entry = _last(city.settings, "entities.explain")
    _by(entry, actor, "supervisor")
    assert entry.target == f"uscc:{uscc}"
    # A code that breaks the rule is refused naming it; an unknown one is not found.
    code, refused = _cli(city.settings, *token, "explain", uscc[:-1] + "I", "--as-of", AS_OF.isoformat())
    assert code == 1 and "not a valid USCC" in refused["error"]


# ------------------------------------------------------------------------------------------------ models
def test_list_and_compare_are_audited_as_reads(
    city: City, people: dict[str, tuple[list[str], str]], registry: Registry
) -> None:
    v1, v2 = city.versions
    token, actor = people["analyst"]
    code, listed = _cli(city.settings, *token, "models", "list")
    assert code == 0 and [r["version"] for r in listed] == [v2, v1]
    assert [r["champion"] for r in listed] == [False, True]
    _by(_last(city.settings, "models.list"), actor, "analyst")
    code, compared = _cli(city.settings, *token, "models", "compare", v2)
    assert code == 0 and compared["b"] == v1
    assert compared["gate"]["passed"] == registry.gate(v2).passed
    entry = _last(city.settings, "models.compare")
    _by(entry, actor, "analyst")
    assert entry.target == f"model:{v2}" and entry.details["b"] == v1
    code, refused = _cli(city.settings, *token, "models", "compare", "abc")
    assert code == 1 and "not a model version" in refused["error"]
    code, refused = _cli(city.settings, *token, "models", "compare", "999")
    assert code == 4 and "no model version 999" in refused["error"]


def test_promote_and_rollback_record_the_actor_and_the_same_audit_entry(
    city: City, people: dict[str, tuple[list[str], str]], registry: Registry
) -> None:
    v1, v2 = city.versions
    token, actor = people["analyst"]
    code, moved = _cli(
        city.settings,
        *token,
        "models",
        "promote",
        v2,
        "--why",
        "retrained",
        "--force",
        "--who",
        "somebody-else",
    )
    assert code == 0, moved
    assert (moved["champion"], moved["previous"], moved["who"]) == (v2, v1, actor)
    assert registry.champion() == v2
    row = next(r for r in registry.versions() if r["version"] == v2)
    assert row["promoted_by"] == actor and row["promoted_why"] == "retrained"  # --who is ignored
    entry = _last(city.settings, "models.promote")
    _by(entry, actor, "analyst")
    assert entry.target == f"model:{v2}"
    assert (entry.details["previous"], entry.details["why"], entry.details["force"]) == (
        v1,
        "retrained",
        True,
    )

    code, back = _cli(city.settings, *token, "models", "rollback", "--why", "v2 misbehaves")
    assert code == 0 and (back["champion"], back["previous"]) == (v1, v2)
    assert registry.champion() == v1 and registry.history()[-1]["who"] == actor
    entry = _last(city.settings, "models.rollback")
    _by(entry, actor, "analyst")
    assert entry.target == f"model:{v1}" and entry.details["why"] == "v2 misbehaves"


def test_a_move_without_an_analysts_identity_is_refused(
    city: City, people: dict[str, tuple[list[str], str]], registry: Registry
) -> None:
    v2 = city.versions[1]
    moves = _entries(city.settings, "models.promote")
    code, refused = _cli(city.settings, "models", "promote", v2, "--why", "mine", "--force")
    assert code == 3 and "without an identity" in refused["error"]
    supervisor, _ = people["supervisor"]
    code, refused = _cli(city.settings, *supervisor, "models", "promote", v2, "--why", "mine", "--force")
    assert code == 3 and "may not" in refused["error"]
    code, refused = _cli(city.settings, "models", "rollback", "--why", "mine")
    assert code == 3
    assert registry.champion() == city.versions[0] and _entries(city.settings, "models.promote") == moves


def test_promoting_the_champion_is_refused_as_a_no_op(
    city: City, people: dict[str, tuple[list[str], str]], registry: Registry
) -> None:
    v1 = city.versions[0]
    token, _ = people["analyst"]
    history = registry.history()
    moves = _entries(city.settings, "models.promote")
    for forced in ([], ["--force"]):
        code, refused = _cli(city.settings, *token, "models", "promote", v1, "--why", "again", *forced)
        assert code == 5 and "already is the champion" in refused["error"]
    code, refused = _cli(city.settings, *token, "models", "promote", v1, "--why", "   ")
    assert code == 1 and "why" in refused["error"]
    assert registry.history() == history and _entries(city.settings, "models.promote") == moves
