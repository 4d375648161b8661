"""The analyst's pages on a small city with two registered versions: the versions table, one version in full
with the charts its training run logged, promote with a reason and roll back through the API's own gate,
load and atomic swap — page by page and role by role, in both languages, and in a real Chromium."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.api.app import create_app
from serving.champion import ServingChampion
from serving.settings import Settings
from serving.web import auth, i18n
from supervision.platform import access, audit
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import City, build_city, raw_token, sign_in
from training.registry import Registry

pytestmark = pytest.mark.slow  # the module's city: ~45 s to generate, ingest, train twice and score

OTHERS = [r for r in Role if r is not Role.ANALYST]
CHARTS = ("reliability", "tiers", "shap_summary")  # the charts the brief asks the page to show


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    city = build_city(tmp_path_factory.mktemp("web-analyst"), models=2)
    yield city
    city.engine.dispose()


@pytest.fixture(scope="module")
def client(city: City) -> Iterator[TestClient]:
    with TestClient(
        create_app(city.settings, engine=city.engine, clock=china_half_past_midnight()),
        follow_redirects=False,
    ) as c:
        yield c


def _registry(city: City) -> Registry:
    return Registry(city.settings.mlflow_uri)


def _serving(client: TestClient, city: City) -> str | None:
    r = client.get("/models/champion", headers=city.tokens[Role.ANALYST])
    assert r.status_code == 200, r.text
    return r.json()["version"]  # type: ignore[no-any-return]


def _unchanged(client: TestClient, city: City, version: str) -> None:
    assert _registry(city).champion() == version
    assert _serving(client, city) == version


def _alert(text: str) -> str:
    found = re.search(r'<p class="alert" role="alert"[^>]*>(.*?)</p>', text, re.S)
    assert found, text[:2000]
    return html.unescape(found.group(1))


def _run_dir(city: City, version: str) -> Path:
    registry = _registry(city)
    run_id = registry.client.get_model_version(registry.name, version).run_id
    found = list(city.settings.mlflow_artifacts_dir.rglob(f"{run_id}/artifacts/report"))
    assert len(found) == 1, found
    return found[0]


def _run_metrics(city: City, version: str) -> dict[str, float]:
    registry = _registry(city)
    run_id = registry.client.get_model_version(registry.name, version).run_id
    return dict(registry.client.get_run(run_id).data.metrics)


@pytest.fixture
def v1_champion(client: TestClient, city: City) -> Iterator[None]:
    """Each test starts (and leaves the city) with version 1 as the champion, serving."""

    def reset() -> None:
        v1 = city.versions[0]
        if _registry(city).champion() != v1:
            body = {"who": "test", "why": "reset", "force": True}
            r = client.post(f"/models/{v1}/promote", json=body, headers=city.tokens[Role.ANALYST])
            assert r.status_code == 200, r.text
        # The browser test's own server moves the alias to v2 and back through another app: this app's
        # follower may have followed the first move in between. Let it look at the alias now, as it would
        # by itself within champion_check_seconds (a refresh is skipped while another check runs).
        champion: ServingChampion = cast(FastAPI, client.app).state.champion
        for _ in range(200):
            serving = champion.snapshot
            if serving is not None and serving.version == v1:
                break
            champion.refresh(force=True)
            time.sleep(0.05)
        _unchanged(client, city, v1)

    reset()
    yield
    reset()


# ---------------------------------------------------------------------------------------------- roles
def test_only_analysts_open_the_pages(client: TestClient, city: City, v1_champion: None) -> None:
    v1, v2 = city.versions
    paths = ["/ui/models", f"/ui/models/{v2}", f"/ui/models/{v2}/charts/reliability.svg"]
    client.cookies.clear()
    for path in paths:
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next="), path
    for role in OTHERS:
        csrf = sign_in(client, city, role)
        for path in paths:
            r = client.get(path)
            assert r.status_code == 403, (role, path)
            assert "text/html" in r.headers["content-type"] and 'data-status="403"' in r.text
        form = {"csrf": csrf, "reason": "not mine to decide"}
        assert client.post(f"/ui/models/{v2}/promote", data=form).status_code == 403
        assert client.post("/ui/models/rollback", data=form).status_code == 403
        _unchanged(client, city, v1)
    sign_in(client, city, Role.ANALYST)
    for path in paths:
        assert client.get(path).status_code == 200, path


def test_without_a_registry_the_page_says_there_is_no_model(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    upgrade(engine)
    with session_scope(engine) as session:
        token = access.create_token(session, name="ana", role=Role.ANALYST).token
    settings = Settings(home=tmp_path / "home")
    assert settings.mlflow_uri.startswith("sqlite:///")
    with TestClient(
        create_app(settings, engine=engine, clock=china_half_past_midnight()), follow_redirects=False
    ) as c:
        assert c.post("/ui/login", data={"token": token}).status_code == 303
        r = c.get("/ui/models?lang=en")
        assert r.status_code == 200 and i18n.t("model.list.empty", "en") in r.text
        assert i18n.t("model.serving.none", "en") in r.text
        for path in ("/ui/models/1", "/ui/models/1/charts/reliability.svg"):
            r = c.get(path)
            assert r.status_code == 404 and "no model version 1" in r.text
        csrf = auth.csrf_token(c.cookies[auth.COOKIE])
        r = c.post("/ui/models/1/promote", data={"csrf": csrf, "reason": "first"})
        assert r.status_code == 404
        r = c.post("/ui/models/rollback?lang=en", data={"csrf": csrf, "reason": "back"})
        assert r.status_code == 409 and "nothing to roll back to" in _alert(r.text)
        assert not Path(settings.mlflow_uri.removeprefix("sqlite:///")).exists()  # looking created nothing
    engine.dispose()


# ------------------------------------------------------------------------------------------ the pages
def test_the_versions_table(client: TestClient, city: City, v1_champion: None) -> None:
    v1, v2 = city.versions
    sign_in(client, city, Role.ANALYST)
    r = client.get("/ui/models?lang=en")
    assert r.status_code == 200
    text = r.text
    assert re.findall(r'<tr data-version="(\d+)">', text) == [v2, v1]  # newest first
    rows = dict(re.findall(r'<tr data-version="(\d+)">(.*?)</tr>', text, re.S))
    assert "badge champion" in rows[v1] and "badge serving" in rows[v1]
    assert "badge champion" not in rows[v2] and "badge previous" not in rows[v1]
    # "previous": the version a rollback would return to (none in a fresh city, v2 after a roll back to v1).
    last = _registry(city).history()[-1]
    assert ("badge previous" in rows[v2]) == (last["version"] == v1 and last["previous"] == v2)
    for version in (v1, v2):
        m = _run_metrics(city, version)
        cells = re.findall(r'<td class="num">(.*?)</td>', rows[version])
        assert cells[:4] == [
            f"{m['test_roc_auc']:.3f}",
            f"{m['test_pr_auc']:.3f}",
            f"{m['test_brier']:.4f}",
            f"{m['test_ece']:.4f}",
        ]
        per100 = f"{m['test_violations_per_100_at_budget']:.1f} / {m['test_violations_per_100_random']:.1f}"
        assert cells[4] == per100
        windows = json.loads((_run_dir(city, version) / "windows.json").read_text())
        assert (
            f"<time>{windows['train']['from']}</time> – <time>{windows['test']['to']}</time>" in rows[version]
        )
    gate = _registry(city).gate(v2)
    assert i18n.t("model.gate.passed" if gate.passed else "model.gate.failed", "en") in rows[v2]
    assert 'data-serving="' + v1 + '"' in text and 'data-champion="' + v1 + '"' in text
    assert i18n.t("model.serving.last_error", "en") not in text  # nothing failed to load


def test_one_version_in_full(client: TestClient, city: City, v1_champion: None) -> None:
    v1, v2 = city.versions
    sign_in(client, city, Role.ANALYST)
    text = client.get(f"/ui/models/{v2}?lang=en").text
    m = _run_metrics(city, v2)
    metric_rows = dict(re.findall(r'<tr data-metric="(\w+)"><td>.*?</td>\s*(.*?)</tr>', text, re.S))
    assert f'<td class="num">{m["test_roc_auc"]:.4f}</td>' in metric_rows["roc_auc"]
    assert f'<td class="num">{m["control_roc_auc"]:.4f}</td>' in metric_rows["roc_auc"]
    # Run-level metrics outside the core table carry their label where one is known.
    assert (
        f"<td>{i18n.t('model.extra.psi_train_test', 'en')}</td>" in text and "psi_train_test" in metric_rows
    )
    tiers = re.findall(
        r'<tr data-tier="([A-D])">.*?</td>\s*<td class="num">(.*?)</td><td class="num">(.*?)</td>'
        r'<td class="num">(.*?)</td>',
        text,
        re.S,
    )
    assert [t for t, *_ in tiers] == ["A", "B", "C", "D"]
    for tier, share, predicted, observed in tiers:
        if f"tier_{tier}_observed" in m:
            assert share == f"{100 * m[f'tier_{tier}_share']:.1f}%"
            assert predicted == f"{100 * m[f'tier_{tier}_predicted']:.1f}%"
            assert observed == f"{100 * m[f'tier_{tier}_observed']:.1f}%"
    for name in CHARTS:  # drawn inline from the run's numbers; its files stay downloadable
        assert f'data-chart-svg="{name}"' in text
        assert f'href="/ui/models/{v2}/charts/{name}.svg"' in text
    card = (_run_dir(city, v2) / "model_card.md").read_text(encoding="utf-8")
    assert html.escape(card, quote=False).splitlines()[0] in text and '<pre class="model-card">' in text
    # The comparison with the champion, as GET /models/compare answers it.
    api = client.get("/models/compare", params={"a": v2}, headers=city.tokens[Role.ANALYST]).json()
    assert api["b"] == v1
    assert (
        html.unescape(re.search(r'<dd class="gate-reason">(.*?)</dd>', text).group(1))
        == api["gate"]["reason"]
    )  # type: ignore[union-attr]
    compared = re.findall(r'<tr data-metric="(\w+)"(?: class="gated")?><td>', text.split('id="compare"')[1])
    assert compared == [row["metric"] for row in api["metrics"]]
    checks = re.findall(r'<tr data-check="(\w+)">', text)
    assert checks == [c["metric"] for c in api["gate"]["checks"]] and checks
    # The champion's own page: nothing to compare, nothing to promote.
    text = client.get(f"/ui/models/{v1}?lang=en").text
    assert i18n.t("model.compare.is_champion", "en") in text and i18n.t("model.promote.already", "en") in text
    assert f'action="/ui/models/{v1}/promote"' not in text


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_both_languages(client: TestClient, city: City, lang: str, v1_champion: None) -> None:
    v2 = city.versions[1]
    sign_in(client, city, Role.ANALYST)
    for path, keys in (
        ("/ui/models", ("model.list.title", "model.col.window", "model.rollback.none")),
        (f"/ui/models/{v2}", ("model.tiers.title", "model.chart.reliability", "model.promote.submit")),
    ):
        r = client.get(f"{path}?lang={lang}")
        assert r.status_code == 200
        for key in keys:
            assert i18n.t(key, lang) in r.text, (path, key)
        other = "en" if lang == "zh" else "zh"
        assert i18n.t("model.metrics.title", other) not in r.text


# ------------------------------------------------------------------------------------------------ charts
def test_charts_are_the_runs_artifacts_by_name(client: TestClient, city: City, v1_champion: None) -> None:
    v2 = city.versions[1]
    sign_in(client, city, Role.ANALYST)
    folder = _run_dir(city, v2) / "charts"
    for name in CHARTS:
        r = client.get(f"/ui/models/{v2}/charts/{name}.svg")
        assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
        assert r.content == (folder / f"{name}.svg").read_bytes() and b"<svg" in r.content
        assert "default-src 'none'" in r.headers["content-security-policy"]
        png = client.get(f"/ui/models/{v2}/charts/{name}.png")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    for bad in (
        "nope.svg",
        "reliability.pdf",
        "RELIABILITY.svg",
        "model_card.md",
        "..%2Fmodel_card.md",
        "..%2F..%2Fmeta.yaml",
        "reliability.svg.png",
    ):
        r = client.get(f"/ui/models/{v2}/charts/{bad}")
        assert r.status_code == 404, bad
        assert "text/html" in r.headers["content-type"] and 'data-status="404"' in r.text
    for version in ("999", "0", "abc"):
        r = client.get(f"/ui/models/{version}/charts/reliability.svg")
        assert r.status_code == 404 and "no model version" in html.unescape(r.text), version
        assert client.get(f"/ui/models/{version}").status_code == 404


def _chart_texts(text: str, name: str) -> list[str]:
    """The words of one inline chart: its <title> and every <text>, tooltips left out."""
    found = re.search(rf'<svg class="cw-chart"[^>]*data-chart-svg="{name}">(.*?)</svg>', text, re.S)
    assert found, name
    body = re.sub(r"<(rect|circle)[^>]*><title>.*?</title></\1>", "", found.group(1), flags=re.S)
    return [
        html.unescape(w).strip()
        for w in re.findall(r"<(?:text|title)[^>]*>(.*?)</(?:text|title)>", body, re.S)
    ]


def test_chart_titles_and_axes_follow_the_pages_language(
    client: TestClient, city: City, v1_champion: None
) -> None:
    v2 = city.versions[1]
    sign_in(client, city, Role.ANALYST)
    en = client.get(f"/ui/models/{v2}?lang=en").text
    zh = client.get(f"/ui/models/{v2}?lang=zh").text
    expected = {
        "reliability": ("model.chart.reliability", "chart.reliability.x", "chart.reliability.y"),
        "tiers": ("model.chart.tiers", "chart.tiers.x", "chart.tiers.share", "chart.tiers.rate"),
        "shap_summary": ("model.chart.shap_summary", "chart.shap.x"),
    }
    catalog = json.loads((_run_dir(city, v2) / "feature_catalog.json").read_text(encoding="utf-8"))
    names = {f["name"]: (f["zh"], f["en"]) for f in catalog}
    for name, keys in expected.items():
        words = {lang: _chart_texts(page, name) for lang, page in (("en", en), ("zh", zh))}
        for key in keys:
            assert i18n.t(key, "en") in words["en"] and i18n.t(key, "zh") in words["zh"], (name, key)
            assert i18n.t(key, "en") not in words["zh"], (name, key)
        # No English word is left in the Chinese chart: numbers, tier letters, symbols and the
        # catalog's Chinese feature names only (a few contain a Latin acronym such as SHAP or USCC).
        zh_names = {zh_name for zh_name, _ in names.values()}
        for word in words["zh"]:
            if word in zh_names:
                continue
            assert not re.search(r"[a-z]{3,}", word.replace("SHAP", "")), (name, word)
    # The waterfall's features and the summary's are named in the page's language.
    shap_en, shap_zh = set(_chart_texts(en, "shap_summary")), set(_chart_texts(zh, "shap_summary"))
    listed = [f for f, (_, en_name) in names.items() if en_name in shap_en]
    assert listed and all(names[f][0] in shap_zh for f in listed)


# ------------------------------------------------------------------------------------------------ moves
def _audit_tail(city: City) -> list[Any]:
    with session_scope(city.engine) as session:
        rows = audit.entries(session, limit=100_000)
        return [(e.action, e.target, e.result, e.details) for e in rows]


def test_promote_needs_a_reason_and_the_form_token(client: TestClient, city: City, v1_champion: None) -> None:
    v1, v2 = city.versions
    csrf = sign_in(client, city, Role.ANALYST)
    url = f"/ui/models/{v2}/promote"
    before = len(_audit_tail(city))
    r = client.post(url, data={"reason": "better recall"})  # no form token
    assert r.status_code == 403 and 'data-status="403"' in r.text
    r = client.post(url, data={"reason": "better recall", "csrf": "0" * 32})
    assert r.status_code == 403
    _unchanged(client, city, v1)
    for reason in ({}, {"reason": ""}, {"reason": "   \n "}):
        r = client.post(f"{url}?lang=en", data={"csrf": csrf, **reason})
        assert r.status_code == 422, reason
        assert "reason is required" in _alert(r.text)
        _unchanged(client, city, v1)
    r = client.post(url, data={"csrf": csrf, "reason": "x" * 4001})
    assert r.status_code == 422 and "body.reason: String should have at most 4000" in r.text
    r = client.post("/ui/models/rollback?lang=en", data={"csrf": csrf, "reason": " "})
    assert r.status_code == 422 and "reason is required" in _alert(r.text)
    r = client.post("/ui/models/rollback", data={"reason": "back"})
    assert r.status_code == 403
    r = client.post("/ui/models/999/promote", data={"csrf": csrf, "reason": "who?"})
    assert r.status_code == 404
    _unchanged(client, city, v1)
    moves = [a for a in _audit_tail(city)[before:] if a[0] in ("models.promote", "models.rollback")]
    assert moves and all(result != "ok" for _, _, result, _ in moves)


def test_a_gate_refusal_shows_its_reasons_and_changes_nothing(
    client: TestClient, city: City, v1_champion: None
) -> None:
    v1, v2 = city.versions
    csrf = sign_in(client, city, Role.ANALYST)
    # The champion itself: the gate refuses ("already is the champion").
    r = client.post(f"/ui/models/{v1}/promote?lang=en", data={"csrf": csrf, "reason": "again"})
    assert r.status_code == 409
    reason = _registry(city).gate(v1).reason
    assert "already is the champion" in reason and reason in _alert(r.text)
    assert i18n.t("model.error.refused", "en") in r.text
    _unchanged(client, city, v1)
    gate = _registry(city).gate(v2)
    if not gate.passed:  # this city's challenger fails the gate: refused unless forced
        r = client.post(f"/ui/models/{v2}/promote", data={"csrf": csrf, "reason": "try"})
        assert r.status_code == 409 and gate.reason in _alert(r.text)
        _unchanged(client, city, v1)
    # After v2 becomes the champion, v1's comparison is stale: the gate refuses with why.
    force = {} if gate.passed else {"force": "true"}
    r = client.post(f"/ui/models/{v2}/promote", data={"csrf": csrf, "reason": "better", **force})
    assert r.status_code == 303
    r = client.post(f"/ui/models/{v1}/promote?lang=en", data={"csrf": csrf, "reason": "prefer the old one"})
    assert r.status_code == 409
    stale = _registry(city).gate(v1).reason
    assert "retrain the challenger" in stale and stale in _alert(r.text)
    assert 'name="force"' in r.text and "prefer the old one</textarea>" in r.text  # the reason is kept
    _unchanged(client, city, v2)


def test_promote_and_roll_back_through_the_pages(client: TestClient, city: City, v1_champion: None) -> None:
    v1, v2 = city.versions
    csrf = sign_in(client, city, Role.ANALYST)
    force = {} if _registry(city).gate(v2).passed else {"force": "true"}
    why = "更好的召回率 — retrained on Q3 inspections"
    r = client.post(f"/ui/models/{v2}/promote", data={"csrf": csrf, "reason": why, **force})
    assert r.status_code == 303 and r.headers["location"] == f"/ui/models/{v2}?done=promoted"
    page = client.get(r.headers["location"] + "&lang=en").text
    assert i18n.t("model.notice.promoted", "en").format(version=v2) in page
    _unchanged(client, city, v2)
    row = next(v for v in _registry(city).versions() if v["version"] == v2)
    assert (
        row["promoted_why"] == why
        and row["promoted_by"] == f"analyst-user#{list(Role).index(Role.ANALYST) + 1}"
    )
    with session_scope(city.engine) as session:
        entry = audit.entries(session, target=f"model:{v2}", limit=100_000)[-1]
        assert (entry.action, entry.role, entry.result) == ("models.promote", "analyst", "ok")
        assert entry.details["why"] == why and entry.details["previous"] == v1
        assert entry.details["path"] == f"/ui/models/{v2}/promote"
    listing = client.get("/ui/models").text
    rows = dict(re.findall(r'<tr data-version="(\d+)">(.*?)</tr>', listing, re.S))
    assert "badge champion" in rows[v2] and "badge previous" in rows[v1]
    assert 'action="/ui/models/rollback"' in listing

    r = client.post("/ui/models/rollback", data={"csrf": csrf, "reason": "v2 misbehaves"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/models?done=rolled_back"
    page = client.get(r.headers["location"] + "&lang=en").text
    assert i18n.t("model.notice.rolled_back", "en").format(version=v1) in page
    _unchanged(client, city, v1)
    with session_scope(city.engine) as session:
        entry = [e for e in audit.entries(session, limit=100_000) if e.action == "models.rollback"][-1]
        assert entry.result == "ok" and entry.details["why"] == "v2 misbehaves"


def test_a_model_that_fails_to_load_is_refused_and_its_error_shown(
    client: TestClient, city: City, v1_champion: None
) -> None:
    v1, v2 = city.versions
    registry = _registry(city)
    model_id = str(registry.client.get_model_version(registry.name, v2).source).removeprefix("models:/")
    pickle = city.settings.mlflow_artifacts_dir / "models" / model_id / "artifacts" / "pyfunc_code.py"
    good = pickle.read_bytes()
    csrf = sign_in(client, city, Role.ANALYST)
    pickle.write_bytes(b"not a python model")
    try:
        r = client.post(
            f"/ui/models/{v2}/promote?lang=en", data={"csrf": csrf, "reason": "x", "force": "true"}
        )
        assert r.status_code == 409
        alert = _alert(r.text)
        assert "failed to load" in alert and f"version {v1} keeps serving" in alert
        _unchanged(client, city, v1)
        listing = client.get("/ui/models?lang=en").text
        assert i18n.t("model.serving.last_error", "en") in listing and "failed to load" in listing
    finally:
        pickle.write_bytes(good)
    # A move that loads clears the error (the fixture then moves the champion back to version 1).
    body = {"who": "test", "why": "clear the load error", "force": True}
    r = client.post(f"/models/{v2}/promote", json=body, headers=city.tokens[Role.ANALYST])
    assert r.status_code == 200 and r.json()["serving"] == v2


# ------------------------------------------------------------------------------------------------ browser
def test_a_real_browser_sees_the_charts_and_promotes_with_a_reason(city: City, v1_champion: None) -> None:
    from tests.serving.browser import browser, login, serve

    v1, v2 = city.versions
    force = not _registry(city).gate(v2).passed
    app = create_app(city.settings, engine=city.engine, clock=china_half_past_midnight())
    with serve(app) as base, browser() as b:
        page = b.new_page()
        login(page, base, raw_token(city, Role.ANALYST))
        assert page.url == f"{base}/ui/models"
        page.goto(f"{base}/ui/models?lang=en")
        assert page.locator(f'tr[data-version="{v1}"] .badge.champion').count() == 1
        page.click(f'tr[data-version="{v2}"] a[href="/ui/models/{v2}"]')
        page.wait_for_url(f"{base}/ui/models/{v2}")
        for name in CHARTS:
            svg = page.locator(f'figure[data-chart="{name}"] svg')
            svg.scroll_into_view_if_needed()
            box = svg.bounding_box()
            assert box is not None and box["width"] > 50 and box["height"] > 50, name
        page.fill("#promote-reason", "better calibrated on the last quarter")
        if force:
            page.check('input[name="force"]')
        page.click('#promote button[type="submit"]')
        page.wait_for_url(f"{base}/ui/models/{v2}?done=promoted")
        assert page.locator("h1 .badge.champion").count() == 1
        assert page.locator('[role="status"]').inner_text() == i18n.t("model.notice.promoted", "en").format(
            version=v2
        )
        page.goto(f"{base}/ui/models")
        assert page.locator(f'tr[data-version="{v2}"] .badge.champion').count() == 1
        assert page.locator(f'tr[data-version="{v1}"] .badge.previous').count() == 1
        api = httpx.get(f"{base}/models/champion", headers=city.tokens[Role.ANALYST]).json()
        assert api["version"] == api["registry_champion"] == v2
        page.fill("#rollback-reason", "back to the first model")
        page.click('#rollback button[type="submit"]')
        page.wait_for_url(f"{base}/ui/models?done=rolled_back")
        assert page.locator(f'tr[data-version="{v1}"] .badge.champion').count() == 1
        api = httpx.get(f"{base}/models/champion", headers=city.tokens[Role.ANALYST]).json()
        assert api["version"] == v1
