"""Monitoring on a small synthetic city with two score runs: the runs compared (migration, risers explained by
SHAP change) and the feedback loop (calibration with intervals, drift, fairness, recommendation) through the
API, the CLI and the page (and a real Chromium); roles; bad input. The issue's "done when" check: a drift
alert fires when a city shifted population-wide is scored with the old model, and stays quiet on an
unshifted one."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features import lake as lake_io
from serving.api.app import create_app, role_matrix
from serving.cli import app as cli
from serving.services.monitoring import training_cutoff
from serving.settings import load_settings
from supervision.platform.access import Role
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, EARLIER, City, build_city, error, ok, raw_token, sign_in

pytestmark = pytest.mark.slow  # the module's city: generate, ingest, train, score twice

READERS = frozenset({Role.ANALYST, Role.SUPERVISOR})
# The lead wires these into tests/serving/test_api_foundation.py (the app's matrix lists every route).
MONITORING_MATRIX: list[tuple[str, str, frozenset[Role] | str]] = [
    ("GET", "/monitoring/compare", READERS),
    ("GET", "/monitoring/feedback", READERS),
]
NEW = AS_OF + timedelta(days=4)  # the next run of the shifted and the unshifted copies
BACKFILL = date(2025, 1, 1)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    city = build_city(tmp_path_factory.mktemp("monitoring"))
    # The synthetic city's inspections end before its two runs: a back-filled run a year earlier gives them
    # the scores their entities had when inspected (what a monthly series gives a real city).
    _cli(city.settings.home, "score", "--as-of", BACKFILL.isoformat())
    yield city
    city.engine.dispose()


@pytest.fixture(scope="module")
def client(city: City) -> Iterator[TestClient]:
    with TestClient(
        create_app(city.settings, engine=city.engine, clock=china_half_past_midnight()),
        follow_redirects=False,
    ) as c:
        yield c


def _cli(home: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--home", str(home), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ------------------------------------------------------------------------------------------------ roles
def test_the_routes_are_in_the_apps_matrix() -> None:
    rows = role_matrix()
    for row in MONITORING_MATRIX:
        assert row in rows


@pytest.mark.parametrize("path", ["/monitoring/compare", "/monitoring/feedback"])
@pytest.mark.parametrize("role", [r for r in Role if r not in READERS])
def test_other_roles_are_refused(client: TestClient, city: City, path: str, role: Role) -> None:
    error(client.get(path, headers=city.tokens[role]), 403, "forbidden")


def test_the_page_refuses_an_inspector(client: TestClient, city: City) -> None:
    sign_in(client, city, Role.INSPECTOR)
    r = client.get("/ui/monitoring")
    client.cookies.clear()
    assert r.status_code == 403, r.text[:500]


# ------------------------------------------------------------------------------------------------ compare
def test_compare_the_two_runs(client: TestClient, city: City) -> None:
    body = ok(client.get("/monitoring/compare", params={"top": 5}, headers=city.tokens[Role.SUPERVISOR]))
    assert (body["current"]["as_of"], body["previous"]["as_of"]) == (AS_OF.isoformat(), EARLIER.isoformat())
    assert body["current"]["model_version"] == city.versions[0]
    prev = pl.read_parquet(city.settings.home / "scores" / f"as_of={EARLIER}.parquet")
    cur = pl.read_parquet(city.settings.home / "scores" / f"as_of={AS_OF}.parquet")
    both = prev.join(cur, on="uscc", suffix="_cur")
    # The matrix counted independently of the service.
    expected = both.group_by("tier", "tier_cur").len()
    cells = {(c["from_tier"], c["to_tier"]): c["entities"] for c in body["migration"]}
    for r in expected.iter_rows(named=True):
        assert cells[(r["tier"], r["tier_cur"])] == r["len"]
    assert sum(cells.values()) == both.height
    assert sum(body["entered"].values()) == cur.height - both.height
    assert sum(body["left"].values()) == prev.height - both.height
    risers = body["risers"]
    assert 0 < len(risers) <= 5
    changes = [r["change"] for r in risers]
    assert changes == sorted(changes, reverse=True) and changes[0] > 0
    top = both.with_columns((pl.col("probability_cur") - pl.col("probability")).alias("d")).sort(
        ["d", "uscc"], descending=[True, False]
    )
    assert risers[0]["uscc"] == top["uscc"][0]
    assert risers[0]["change"] == pytest.approx(top["d"][0])
    for r in risers:
        # The SHAP change in log-odds: the dimensions add up to the raw-score change …
        assert sum(d["change"] for d in r["dimensions"]) == pytest.approx(r["raw_change"], abs=1e-6)
        # … and their probability shares to the probability change (same model scored both runs).
        assert sum(d["probability_share"] for d in r["dimensions"]) == pytest.approx(r["change"], abs=1e-6)
        assert {d["zh"] for d in r["dimensions"]} and all(d["en"] for d in r["dimensions"])
    assert body["explained_with"] == city.versions[0]


def test_compare_refuses_bad_input(client: TestClient, city: City) -> None:
    h = city.tokens[Role.ANALYST]
    assert error(
        client.get("/monitoring/compare", params={"as_of": "9999-01-01"}, headers=h), 422, "validation"
    )
    found = error(
        client.get("/monitoring/compare", params={"as_of": "2026-01-01"}, headers=h), 404, "not_found"
    )
    assert "2026-01-01" in found["message"]
    later = client.get(
        "/monitoring/compare", params={"as_of": EARLIER.isoformat(), "previous": AS_OF.isoformat()}, headers=h
    )
    assert "must be before" in error(later, 422, "validation")["message"]
    only_one = client.get("/monitoring/compare", params={"as_of": BACKFILL.isoformat()}, headers=h)
    assert "needs two runs" in error(only_one, 404, "not_found")["message"]
    assert client.get("/monitoring/compare", params={"top": 1000}, headers=h).status_code == 422
    assert client.get("/monitoring/compare", params={"as_of": "<script>"}, headers=h).status_code == 422


# ------------------------------------------------------------------------------------------------ feedback
def test_feedback(client: TestClient, city: City) -> None:
    body = ok(client.get("/monitoring/feedback", headers=city.tokens[Role.ANALYST]))
    assert body["current"]["as_of"] == AS_OF.isoformat() and body["previous"]["as_of"] == EARLIER.isoformat()
    assert body["inspections"] > 0
    slices = {r["slice"] for r in body["calibration"]}
    assert slices == {"all", "control"}
    for r in body["calibration"]:
        assert r["ci_low"] <= r["observed"] <= r["ci_high"]
        assert r["outside"] == (not r["ci_low"] <= r["predicted"] <= r["ci_high"])
    assert sum(r["n"] for r in body["calibration"] if r["slice"] == "all") == body["inspections"]
    # No feature file of the training cut-off in this home: the oldest run stands in, and the answer says so.
    assert body["reference_kind"] == "oldest_run" and body["reference"] == BACKFILL.isoformat()
    assert any("features build" in n for n in body["notes"])
    against = {d["against"] for d in body["drift"]}
    assert against == {"previous", "reference"}
    assert {f["by"] for f in body["fairness"]} == {"division_code", "entity_type"}
    assert isinstance(body["retrain"], bool) and body["reason_zh"] and body["reason_en"]
    assert (
        ok(client.get("/monitoring/feedback", headers=city.tokens[Role.SUPERVISOR]))["current"]
        == body["current"]
    )
    assert (
        client.get(
            "/monitoring/feedback", params={"as_of": "1800-01-01"}, headers=city.tokens[Role.ANALYST]
        ).status_code
        == 422
    )


def test_the_cli_answers_as_the_api(client: TestClient, city: City) -> None:
    compared = _cli(city.settings.home, "monitor", "compare", "--top", "3")
    api = ok(client.get("/monitoring/compare", params={"top": 3}, headers=city.tokens[Role.ANALYST]))
    assert [r["uscc"] for r in compared["risers"]] == [r["uscc"] for r in api["risers"]]
    assert compared["migration"] == api["migration"]
    fed = _cli(city.settings.home, "monitor", "feedback")
    api_fed = ok(client.get("/monitoring/feedback", headers=city.tokens[Role.ANALYST]))
    assert fed["calibration"] == api_fed["calibration"] and fed["retrain"] == api_fed["retrain"]
    table = CliRunner().invoke(cli, ["--home", str(city.settings.home), "monitor", "feedback"])
    assert table.exit_code == 0 and "calibration" in table.output
    bad = CliRunner().invoke(
        cli, ["--home", str(city.settings.home), "monitor", "compare", "--as-of", "2026-13-01"]
    )
    assert bad.exit_code != 0


# ------------------------------------------------------------------------------------------------ drift
def _copy(city: City, root: Path) -> Path:
    home = root / "home"
    shutil.copytree(city.settings.home, home)
    return home


def _shock(home: Path, *, per_entity: int = 3) -> int:
    """Every registered entity gets `per_entity` new administrative penalties decided in the days before
    NEW: a population-wide shift of the penalty features (a new batch in the copy's lake)."""
    settings = load_settings(home=home)
    lake = settings.lake_dir
    penalties = lake_io.scan(lake, "penalties").collect()
    template = penalties.row(0, named=True)
    usccs = lake_io.scan(lake, "entities").select("uscc").collect()["uscc"].to_list()
    rows = []
    for i, uscc in enumerate(sorted(usccs)):
        for k in range(per_entity):
            decided = AS_OF + timedelta(days=1 + k % 2)
            rows.append(
                {
                    **template,
                    "decision_no": f"SHOCK-{i:05d}-{k}",
                    "uscc": uscc,
                    "decided_on": decided,
                    "valid_until": None,
                    "publicity_until": decided + timedelta(days=365),
                }
            )
    frame = pl.DataFrame(rows, schema=penalties.schema)
    digest = hashlib.sha256(frame.write_csv().encode()).hexdigest()
    lake_io.write_batch(
        lake,
        table="penalties",
        source="test-shock",
        content_sha256=digest,
        accepted=frame,
        quarantine=pl.DataFrame(schema=lake_io.QUARANTINE_SCHEMA),
        rows_read=frame.height,
        rows_quarantined=0,
        ignored_columns=(),
        ingested_at=datetime.now(tz=UTC),
    )
    return frame.height


def _third_run(city: City, root: Path, *, shocked: bool) -> dict[str, Any]:
    from training.registry import Registry

    home = _copy(city, root)
    cutoff = training_cutoff(Registry(city.settings.mlflow_uri).load(city.versions[0]))
    assert cutoff is not None and cutoff < NEW
    # The training reference: the features of the old model's training cut-off (before any shock).
    _cli(home, "features", "build", "--as-of", cutoff.isoformat())
    if shocked:
        assert _shock(home) > 1000
    _cli(home, "score", "--as-of", NEW.isoformat())  # the old model scores the new month
    return _cli(home, "monitor", "feedback")


def test_a_population_wide_shift_fires_the_drift_alert(city: City, tmp_path: Path) -> None:
    fed = _third_run(city, tmp_path, shocked=True)
    assert fed["current"]["as_of"] == NEW.isoformat() and fed["reference_kind"] == "training_cutoff"
    drift_alerts = [a for a in fed["alerts"] if a["kind"] == "drift"]
    subjects = {a["subject"] for a in drift_alerts}
    assert any(s.startswith("penalties_n_") for s in subjects), fed["alerts"]
    major = {(d["against"], d["feature"]) for d in fed["drift"] if d["level"] == "major"}
    assert ("previous", "penalties_n_365d") in major and ("reference", "penalties_n_365d") in major
    important_drifted = [
        d for d in fed["drift"] if d["against"] == "reference" and d["level"] == "major" and d["important"]
    ]
    assert fed["retrain"] == bool(important_drifted)
    if important_drifted:
        assert important_drifted[0]["feature"] in fed["reason_en"]


def test_no_drift_alert_on_an_unshifted_city(city: City, tmp_path: Path) -> None:
    fed = _third_run(city, tmp_path, shocked=False)
    assert fed["current"]["as_of"] == NEW.isoformat() and fed["reference_kind"] == "training_cutoff"
    # Month over month (the run before, scored by the same old model): no feature drifted.
    monthly = [d for d in fed["drift"] if d["against"] == "previous"]
    assert monthly and all(d["level"] == "stable" for d in monthly), [
        d for d in monthly if d["level"] != "stable"
    ]
    assert [a for a in fed["alerts"] if a["kind"] == "drift" and "previous" in a["message"]] == []
    # Against the training reference (nine months back in this synthetic city, whose public credit grades and
    # inspections change over the year) drift is real and reported; the shock's features are not among it.
    shocked = {
        d["feature"]
        for d in fed["drift"]
        if d["against"] == "reference" and d["level"] == "major" and d["feature"].startswith("penalties_n_3")
    }
    assert shocked == set()


# ------------------------------------------------------------------------------------------------ page
@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("role", [Role.ANALYST, Role.SUPERVISOR])
def test_the_page_shows_the_pictures(client: TestClient, city: City, role: Role, lang: str) -> None:
    sign_in(client, city, role)
    r = client.get("/ui/monitoring", params={"lang": lang})
    client.cookies.clear()
    assert r.status_code == 200, r.text[:1000]
    text = r.text
    assert 'data-chart-svg="migration"' in text and 'data-chart-svg="calibration"' in text
    assert text.count("data-cell=") == 16
    assert 'id="recommendation"' in text and 'id="drift"' in text and 'id="fairness"' in text
    assert ("风险等级迁移矩阵" in text) == (lang == "zh")
    assert 'href="/ui/monitoring"' in text  # in the visitor's menu


def test_a_real_browser_sees_the_monitoring_page(city: City) -> None:
    from tests.serving.browser import browser, login, screenshot, serve

    app = create_app(city.settings, engine=city.engine, clock=china_half_past_midnight())
    with serve(app) as base, browser() as b:
        page = b.new_page()
        login(page, base, raw_token(city, Role.ANALYST))
        page.goto(f"{base}/ui/monitoring?lang=en")
        assert page.locator("svg[data-chart-svg=migration]").count() == 1
        assert page.locator("svg[data-chart-svg=calibration]").count() == 1
        assert page.locator("svg[data-chart-svg=migration] g[data-cell]").count() == 16
        assert page.locator("svg[data-chart-svg=calibration] g[data-mark]").count() >= 4
        box = page.locator("svg[data-chart-svg=migration]").bounding_box()
        assert box is not None and box["width"] > 200
        assert page.locator("#recommendation").inner_text().strip()
        screenshot(page, "monitoring")
