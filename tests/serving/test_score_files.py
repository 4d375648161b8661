"""Bad score files are refused, not served (issue 17, item 6): garbage, truncated or wrong-schema Parquet, a
file that does not match its manifest, a file without a manifest, a manifest without its file — each dropped
in as the newest run beside a good older one. Every route that reads scores keeps answering from the previous
valid run (no 500) and the log names the file and the reason; a home with no valid run answers 404/409, and a
home written before manifests keeps its files (serving/services/current_score.py)."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from serving.api.app import create_app
from serving.services import current_score
from serving.services.current_score import SCHEMA_VERSION, Manifest, ScoreStore, write_manifest
from serving.workspace import Workspace, manifest_of
from supervision.platform.access import Role
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, EARLIER, City, build_city
from tests.serving.api_city import ok as _ok

pytestmark = pytest.mark.slow  # the module's city: ~45 s to generate, ingest, train and score

NEWER = AS_OF + timedelta(days=1)  # the bad run's date: newer than the good ones, not after today
TASK = {"items": ["食品安全检查"], "period": "2026Q4", "count": 20, "as_of": AS_OF.isoformat()}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    city = build_city(tmp_path_factory.mktemp("score-files-city"))
    yield city
    city.engine.dispose()


@pytest.fixture(scope="module")
def client(city: City) -> Iterator[TestClient]:
    with TestClient(create_app(city.settings, engine=city.engine, clock=china_half_past_midnight())) as c:
        yield c


def _good(city: City) -> pl.DataFrame:
    return pl.read_parquet(Workspace(city.settings.home).score_file(AS_OF))


def _manifest(path: Path, **changed: object) -> None:
    """A manifest for `path` as a score run would write it, with `changed` fields."""
    body = json.loads(Manifest("scores", SCHEMA_VERSION, NEWER, path.name, 1500, "0" * 64, "1").to_json()) | {
        k: str(v) if isinstance(v, date) else v for k, v in changed.items()
    }
    manifest_of(path).write_text(json.dumps(body), encoding="utf-8")


def _five_rows(city: City) -> pl.DataFrame:
    """A valid score file of 5 rows, every tier D: were it taken, the city's scores would change visibly."""
    return _good(city).head(5).with_columns(pl.lit("D").alias("tier"))


def garbage(city: City, path: Path) -> None:
    path.write_bytes(b"PAR1 this is not a parquet file \x00\xff" * 50)
    write_manifest(path, kind="scores", as_of=NEWER, rows=1500, model_version=city.versions[0])


def truncated(city: City, path: Path) -> None:
    data = Workspace(city.settings.home).score_file(AS_OF).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    write_manifest(path, kind="scores", as_of=NEWER, rows=1500, model_version=city.versions[0])


def truncated_after_its_run(city: City, path: Path) -> None:
    _good(city).write_parquet(path)
    write_manifest(path, kind="scores", as_of=NEWER, rows=1500, model_version=city.versions[0])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])


def wrong_schema(city: City, path: Path) -> None:
    frame = _good(city).select("uscc", pl.col("probability").alias("score"))
    frame.write_parquet(path)
    write_manifest(path, kind="scores", as_of=NEWER, rows=frame.height, model_version=None)


def wrong_types(city: City, path: Path) -> None:
    frame = _good(city).with_columns(pl.col("probability").cast(pl.String))
    frame.write_parquet(path)
    write_manifest(path, kind="scores", as_of=NEWER, rows=frame.height, model_version=city.versions[0])


def rows_not_as_manifested(city: City, path: Path) -> None:
    _five_rows(city).write_parquet(path)
    write_manifest(path, kind="scores", as_of=NEWER, rows=5, model_version=city.versions[0])
    _manifest(path, sha256=json.loads(manifest_of(path).read_text())["sha256"], rows=1500)


def checksum_not_as_manifested(city: City, path: Path) -> None:
    _five_rows(city).write_parquet(path)
    _manifest(path, rows=5)


def model_version_not_as_manifested(city: City, path: Path) -> None:
    _five_rows(city).write_parquet(path)
    write_manifest(path, kind="scores", as_of=NEWER, rows=5, model_version="999")


def no_manifest(city: City, path: Path) -> None:
    _five_rows(city).write_parquet(path)


def manifest_without_its_file(city: City, path: Path) -> None:
    _five_rows(city).write_parquet(path)
    write_manifest(path, kind="scores", as_of=NEWER, rows=5, model_version=city.versions[0])
    path.unlink()


BAD: list[tuple[Callable[[City, Path], None], str]] = [
    (garbage, "not a readable Parquet file"),
    (truncated, "not a readable Parquet file"),
    (truncated_after_its_run, "another SHA-256"),
    (wrong_schema, "wrong schema: no column 'tier'"),
    (wrong_types, "wrong schema: column 'probability' is String"),
    (rows_not_as_manifested, "5 rows, its manifest says 1500"),
    (checksum_not_as_manifested, "another SHA-256"),
    (model_version_not_as_manifested, "model version"),
    (no_manifest, "no manifest"),
    (manifest_without_its_file, "has no score file"),
]


def _answers(client: TestClient, city: City, task_id: str) -> dict[str, object]:
    """What every route that reads the scores answers (each must answer, none with a 500)."""
    uscc = city.usccs[100]
    analyst, sup = city.tokens[Role.ANALYST], city.tokens[Role.SUPERVISOR]
    score = _ok(client.get(f"/entities/{uscc}/score", headers=city.tokens[Role.SYSTEM]))
    batch = _ok(client.post("/scores/batch", json={"usccs": [uscc]}, headers=city.tokens[Role.SYSTEM]))
    explained = _ok(client.get(f"/entities/{uscc}/explanation", headers=analyst))
    history = _ok(client.get(f"/entities/{uscc}/history", headers=analyst))["scores"]
    champion = _ok(client.get("/models/champion", headers=analyst))
    task = _ok(client.post("/sampling/tasks", json={**TASK, "task_id": task_id}, headers=sup), 201)
    report = client.post("/reports", json={"uscc": uscc}, headers=sup)
    assert report.status_code == 200, report.text
    return {
        "score": (score["as_of"], score["source"], score["tier"]),
        "batch": batch["as_of"],
        "explanation": (explained["as_of"], explained["features_from"]),
        "history": [p["as_of"] for p in history if p["source"].startswith("score_file:")],
        "champion": champion["scores_as_of"],
        "eligible": task["eligible"],
        "report": report.headers.get("X-Score-As-Of"),
    }


@pytest.fixture(scope="module")
def before(client: TestClient, city: City) -> dict[str, object]:
    got = _answers(client, city, "T-before")
    assert got["score"][:2] == (str(AS_OF), f"score_file:{AS_OF}")  # type: ignore[index]
    assert got["history"] == [str(EARLIER), str(AS_OF)] and got["champion"] == str(AS_OF)
    assert got["explanation"] == (str(AS_OF), f"score_file:{AS_OF}") and got["report"] == str(AS_OF)
    return got


@pytest.mark.parametrize(("make", "reason"), BAD, ids=[b[0].__name__ for b in BAD])
def test_a_bad_newest_score_file_is_refused_and_the_previous_run_serves(
    client: TestClient,
    city: City,
    before: dict[str, object],
    make: Callable[[City, Path], None],
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert china_half_past_midnight().today() >= NEWER
    path = Workspace(city.settings.home).score_file(NEWER)
    try:
        make(city, path)
        with caplog.at_level(logging.WARNING, logger="creditwatch.scores"):
            got = _answers(client, city, f"T-{make.__name__}")
            assert got == before
            said = [r.getMessage() for r in caplog.records if r.name == "creditwatch.scores"]
            named = [m for m in said if f"as_of={NEWER}." in m and reason in m]
            assert named, said
            # Checked once per version of the file: asking again logs nothing new.
            caplog.clear()
            assert _answers(client, city, f"T-{make.__name__}-again") == before
            assert not [r for r in caplog.records if f"as_of={NEWER}." in r.getMessage()]
    finally:
        path.unlink(missing_ok=True)
        manifest_of(path).unlink(missing_ok=True)


def test_a_feature_file_that_does_not_match_its_manifest_is_not_used(
    client: TestClient, city: City, caplog: pytest.LogCaptureFixture
) -> None:
    path = Workspace(city.settings.home).feature_file(AS_OF)
    assert manifest_of(path).is_file()  # the score run wrote one beside the features
    kept = path.read_bytes()
    uscc = city.usccs[100]
    try:
        path.write_bytes(kept[: len(kept) - 50])
        with caplog.at_level(logging.WARNING, logger="creditwatch.scores"):
            explained = _ok(client.get(f"/entities/{uscc}/explanation", headers=city.tokens[Role.ANALYST]))
        assert explained["as_of"] == str(AS_OF) and explained["features_from"] == "lake"
        assert any(path.name in r.getMessage() and "SHA-256" in r.getMessage() for r in caplog.records)
    finally:
        path.write_bytes(kept)
    explained = _ok(client.get(f"/entities/{uscc}/explanation", headers=city.tokens[Role.ANALYST]))
    assert explained["features_from"] == f"score_file:{AS_OF}"


def test_a_score_run_writes_a_manifest_that_matches_its_file(city: City) -> None:
    import hashlib

    for day in (EARLIER, AS_OF):
        path = Workspace(city.settings.home).score_file(day)
        manifest = Manifest.parse(Workspace(city.settings.home).score_manifest(day).read_text())
        frame = pl.read_parquet(path)
        assert manifest.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert (manifest.kind, manifest.as_of, manifest.file, manifest.rows) == (
            "scores",
            day,
            path.name,
            frame.height,
        )
        assert manifest.model_version == city.versions[0] == frame["model_version"].unique().item()


def test_with_only_bad_score_files_the_routes_say_there_is_no_valid_run(
    client: TestClient, city: City, caplog: pytest.LogCaptureFixture
) -> None:
    # Last in the module: the good runs are moved aside, then put back.
    folder = Workspace(city.settings.home).scores
    aside = folder.with_name("scores.aside")
    five = _five_rows(city)
    folder.rename(aside)
    uscc = city.usccs[100]
    analyst, sup = city.tokens[Role.ANALYST], city.tokens[Role.SUPERVISOR]
    try:
        folder.mkdir()
        garbage(city, folder / f"as_of={AS_OF}.parquet")
        five.write_parquet(folder / f"as_of={NEWER}.parquet")
        write_manifest(
            folder / f"as_of={NEWER}.parquet", kind="scores", as_of=NEWER, rows=5, model_version="1"
        )
        (folder / f"as_of={NEWER}.parquet").write_bytes(b"garbage")
        with caplog.at_level(logging.WARNING, logger="creditwatch.scores"):
            r = client.get(f"/entities/{uscc}/score", headers=city.tokens[Role.SYSTEM])
            assert r.status_code == 404, r.text
            r = client.post("/sampling/tasks", json={**TASK, "task_id": "T-none"}, headers=sup)
            assert r.status_code == 409 and "no stored scores" in r.json()["error"]["message"], r.text
            assert _ok(client.get("/models/champion", headers=analyst))["scores_as_of"] is None
            history = _ok(client.get(f"/entities/{uscc}/history", headers=analyst))["scores"]
            assert not [p for p in history if p["source"].startswith("score_file:")]
            # No stored score to explain: the champion explains the lake's features of today.
            explained = _ok(client.get(f"/entities/{uscc}/explanation", headers=analyst))
            assert explained["features_from"] == "lake"
            report = client.post("/reports", json={"uscc": uscc}, headers=sup)
            assert report.status_code == 200 and "X-Score-As-Of" not in report.headers, report.text
            batch = _ok(
                client.post("/scores/batch", json={"usccs": [uscc]}, headers=city.tokens[Role.SYSTEM])
            )
            assert batch["as_of"] is None and batch["items"][0]["status"] == "not_scored"
        said = " ".join(r.getMessage() for r in caplog.records)
        assert f"as_of={AS_OF}.parquet" in said and f"as_of={NEWER}.parquet" in said
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        aside.rename(folder)
    assert _ok(client.get(f"/entities/{uscc}/score", headers=city.tokens[Role.SYSTEM]))["as_of"] == str(AS_OF)


# ------------------------------------------------------------------ files written before manifests existed
def _legacy(folder: Path, day: date, tier: str = "B") -> Path:
    path = folder / f"as_of={day}.parquet"
    pl.DataFrame({"uscc": ["U1", "U2"], "tier": [tier, "C"], "probability": [0.1, 0.2]}).write_parquet(path)
    return path


def _run(folder: Path, day: date) -> Path:
    path = folder / f"as_of={day}.parquet"
    frame = pl.DataFrame({"uscc": ["U1"], "tier": ["A"], "probability": [0.01], "model_version": ["3"]})
    frame.write_parquet(path)
    write_manifest(path, kind="scores", as_of=day, rows=1, model_version="3")
    return path


def test_a_home_without_any_manifest_keeps_serving_its_files_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "scores"
    folder.mkdir()
    old, new = _legacy(folder, date(2026, 1, 1)), _legacy(folder, date(2026, 2, 1), tier="D")
    store = ScoreStore(tmp_path)
    with caplog.at_level(logging.WARNING, logger="creditwatch.scores"):
        table = store.latest()
        assert table is not None and table.path == new and table.row("U1")["tier"] == "D"  # type: ignore[index]
        assert [r["as_of"] for r in store.history("U1")] == [date(2026, 1, 1), date(2026, 2, 1)]
    said = [r.getMessage() for r in caplog.records]
    assert any(new.name in m and "no manifest" in m for m in said) and any(old.name in m for m in said)


def test_after_the_first_run_with_a_manifest_only_older_files_may_lack_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "scores"
    folder.mkdir()
    _legacy(folder, date(2026, 1, 1))
    _run(folder, date(2026, 2, 1))
    dropped = _legacy(folder, date(2026, 3, 1), tier="D")  # put there by hand after the upgrade
    store = ScoreStore(tmp_path)
    with caplog.at_level(logging.WARNING, logger="creditwatch.scores"):
        table = store.latest()
        assert table is not None and table.as_of == date(2026, 2, 1)
        early = store.table(date(2026, 1, 15))
        assert early is not None and early.as_of == date(2026, 1, 1)  # the upgraded home's history stays
        assert [r["as_of"] for r in store.history("U1")] == [date(2026, 1, 1), date(2026, 2, 1)]
    assert any(dropped.name in r.getMessage() and "no manifest" in r.getMessage() for r in caplog.records)
    assert [p for p, _ in store.refused()] == [dropped]
    # A run that writes its manifest afterwards (a run still writing when first seen) is taken then.
    write_manifest(dropped, kind="scores", as_of=date(2026, 3, 1), rows=2, model_version=None)
    table = store.latest()
    assert table is not None and table.as_of == date(2026, 3, 1)


def test_the_current_score_rule_skips_a_refused_file(tmp_path: Path) -> None:
    from serving.settings import load_settings

    folder = tmp_path / "scores"
    folder.mkdir()
    _run(folder, date(2026, 2, 1))
    bad = folder / "as_of=2026-03-01.parquet"
    bad.write_bytes(b"\x00" * 64)
    write_manifest(bad, kind="scores", as_of=date(2026, 3, 1), rows=1, model_version="3")
    settings = load_settings(home=tmp_path)
    found = current_score.score_row(settings, "U1", date(2026, 3, 5))
    assert found is not None and found.source == "score_file:2026-02-01" and found.tier == "A"
