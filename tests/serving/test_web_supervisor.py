"""The supervisor's pages on a small synthetic city with a real champion: entity search and the entity page
per role (the API's readers; 403 for the others), masking as the API masks, the SHAP waterfall and the
related-party graph against the API's numbers, errors as 4xx pages, the audit entry of a view, both languages,
and a real Chromium that signs in, searches, opens the page and switches language."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pytest
from fastapi.testclient import TestClient

from features import lake as lake_io
from features import uscc as uscc_rules
from serving.api.app import create_app
from serving.api.routers import entities
from serving.web import i18n
from serving.web import supervisor as pages
from supervision.platform import audit
from supervision.platform.access import Role
from supervision.platform.db import session_scope
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, City, build_city, raw_token, related_pair, sign_in

pytestmark = pytest.mark.slow  # the module's city: ~45 s to generate, ingest, train and score

READERS = (Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST)
Kind = Literal["person", "investment", "shared_address", "shared_phone"]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    city = build_city(tmp_path_factory.mktemp("web-sup-city"))
    yield city
    city.engine.dispose()


@pytest.fixture(scope="module")
def client(city: City) -> Iterator[TestClient]:
    with TestClient(
        create_app(city.settings, engine=city.engine, clock=china_half_past_midnight()),
        follow_redirects=False,
    ) as c:
        yield c


def api(client: TestClient, city: City, role: Role, path: str, **params: Any) -> Any:
    """The API's answer for `role` (its bearer header; the page cookie is not sent outside /ui)."""
    r = client.get(path, params=params, headers=city.tokens[role])
    assert r.status_code == 200, r.text
    return r.json()


def register(city: City, uscc: str) -> dict[str, Any]:
    return (
        lake_io.scan(city.settings.lake_dir, "entities")
        .filter(pl.col("uscc") == uscc)
        .collect()
        .row(0, named=True)
    )


def scores(city: City) -> pl.DataFrame:
    return pl.read_parquet(city.settings.home / "scores" / f"as_of={AS_OF}.parquet")


def unknown_uscc(city: City) -> str:
    known = set(city.usccs)
    for i in range(1000):
        code = uscc_rules.complete(f"91320900MA{i:07d}")
        if code not in known:
            return code
    raise AssertionError("no unused code")


def section(text: str, ident: str) -> str:
    """The HTML of ``<section ... id="ident">`` up to its end."""
    start = text.index(f'id="{ident}"')
    return text[start : text.index("</section>", start)]


def features_drawn(text: str) -> list[str]:
    svg = text[
        text.index('<svg class="waterfall"') : text.index("</svg>", text.index('<svg class="waterfall"'))
    ]
    groups = re.findall(r'<g class="wf-row wf-feature" data-feature="([^"]+)">(.*?)</g>', svg, re.S)
    assert all(body.count("<rect") == 1 for _, body in groups)  # one bar per feature
    return [f for f, _ in groups]


# --------------------------------------------------------------------------------------------- roles
def test_pages_admit_the_api_readers_only(client: TestClient, city: City) -> None:
    uscc = city.usccs[3]
    paths = ["/ui/entities", f"/ui/entities?q={uscc[:8]}", f"/ui/entities/{uscc}"]
    client.cookies.clear()
    for path in paths:
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next="), path
    for role in Role:
        sign_in(client, city, role)
        for path in paths:
            r = client.get(path)
            if role in READERS:
                assert r.status_code == 200, (role, path, r.text[-500:])
                assert "text/html" in r.headers["content-type"]
            else:
                assert r.status_code == 403, (role, path)
                assert 'data-status="403"' in r.text and "<html" in r.text


# --------------------------------------------------------------------------------------------- search
def test_search_by_prefix_and_name_with_empty_and_no_match_states(client: TestClient, city: City) -> None:
    sign_in(client, city, Role.INSPECTOR)
    empty = client.get("/ui/entities")
    assert empty.status_code == 200 and 'id="q"' in empty.text and 'id="results"' not in empty.text

    target = city.usccs[5]
    r = client.get("/ui/entities", params={"q": target})
    assert re.findall(r'<tr data-uscc="([^"]+)">', r.text) == [target]
    assert f'href="/ui/entities/{target}"' in r.text

    name = register(city, target)["name"]
    by_name = client.get("/ui/entities", params={"q": name})
    listed = re.findall(r'<tr data-uscc="([^"]+)">', by_name.text)
    expected = api(client, city, Role.INSPECTOR, "/entities", q=name, limit=pages.SEARCH_LIMIT)
    assert listed == [e["uscc"] for e in expected["entities"]] and target in listed
    assert html.escape(name) in by_name.text

    # A common word: more matches than the page lists, and the page says how many there are.
    many = api(client, city, Role.INSPECTOR, "/entities", q="有限公司", limit=100)
    r = client.get("/ui/entities", params={"q": "有限公司"})
    assert len(re.findall(r"<tr data-uscc=", r.text)) == min(many["total"], pages.SEARCH_LIMIT)
    assert i18n.t("entity.search.total", "zh").format(total=many["total"]) in r.text

    none = client.get("/ui/entities", params={"q": "无此名称的主体"})
    assert none.status_code == 200 and 'data-state="no-match"' in none.text
    assert i18n.t("entity.search.none", "zh") in none.text


def test_a_bad_query_is_a_clear_4xx_page(client: TestClient, city: City) -> None:
    sign_in(client, city, Role.SUPERVISOR)
    short = client.get("/ui/entities", params={"q": "9"})
    assert short.status_code == 422 and 'data-field="q"' in short.text
    assert i18n.t("entity.search.too_short", "zh") in short.text
    long = client.get("/ui/entities", params={"q": "9" * 101, "lang": "en"})
    assert long.status_code == 422 and 'data-status="422"' in long.text
    assert "query.q" in long.text and "100 characters" in long.text


# --------------------------------------------------------------------------------------------- entity page
def test_the_header_shows_the_stored_score_and_the_waterfall_adds_the_explanation(
    client: TestClient, city: City
) -> None:
    uscc = city.usccs[11]
    sign_in(client, city, Role.SUPERVISOR)
    text = client.get(f"/ui/entities/{uscc}").text
    row = scores(city).filter(pl.col("uscc") == uscc).row(0, named=True)
    assert f'class="tier big tier-{row["tier"]}" id="tier"' in text
    assert f'id="probability">{row["probability"]:.3f}<' in text
    assert f'id="model-version">{city.versions[0]}<' in text and f'id="as-of">{AS_OF.isoformat()}<' in text

    explained = api(
        client,
        city,
        Role.SUPERVISOR,
        f"/entities/{uscc}/explanation",
        as_of=AS_OF.isoformat(),
        top=pages.REASONS,
    )
    drawn = features_drawn(text)
    # Conduct features one by one; the structural attributes are one baseline bar (models.explain).
    conduct = [f["feature"] for f in explained["features"] if not f["structural"]]
    assert drawn == conduct[: pages.WATERFALL_FEATURES]
    rest = len(conduct) - len(drawn)
    assert i18n.t("entity.waterfall.others", "zh").format(n=rest) in text
    assert f"{explained['raw_score']:.3f} → p = {explained['probability']:.3f}" in text
    assert f">{explained['base_value']:.3f}<" in text
    first = next(f for f in explained["features"] if not f["structural"])
    assert html.escape(f"{first['zh']} = ") in text  # labelled in the page language with the value

    # Top reasons: Chinese first, English beneath; the dimension bars, signed, one per dimension.
    reasons = section(text, "reasons")
    assert re.findall(r'<span class="reason-main" lang="zh-CN">([^<]+)</span>', reasons) == [
        html.escape(r["zh"]) for r in explained["reasons"] if r["contribution"] is not None
    ]
    assert re.findall(r'<span class="reason-other muted" lang="en">([^<]+)</span>', reasons) == [
        html.escape(r["en"]) for r in explained["reasons"] if r["contribution"] is not None
    ]
    dims = section(text, "dimensions")
    assert re.findall(r'data-dimension="([^"]+)"', dims) == [d["dimension"] for d in explained["dimensions"]]
    for d in explained["dimensions"]:
        assert f"{d['contribution']:+.3f}" in dims


def test_a_rule_override_is_shown_as_a_reason(client: TestClient, city: City) -> None:
    frame = scores(city).filter(pl.col("override").is_not_null())
    if frame.height == 0:
        pytest.skip("no tier override in this synthetic city")
    row = frame.row(0, named=True)
    sign_in(client, city, Role.ANALYST)
    text = client.get(f"/ui/entities/{row['uscc']}").text
    assert 'class="override alert"' in text and html.escape(row["override_zh"]) in text


def test_inspector_and_analyst_see_what_the_api_shows_them(client: TestClient, city: City) -> None:
    a, b = related_pair(city)
    raw = register(city, a)
    pages_by_role = {}
    for role in READERS:
        sign_in(client, city, role)
        pages_by_role[role] = client.get(f"/ui/entities/{a}").text
    sup, ins, ana = (pages_by_role[r] for r in READERS)
    assert f'id="address">{html.escape(raw["address"])}<' in sup
    if raw["phone"]:
        assert f'id="phone">{raw["phone"]}<' in ins
        assert 'id="phone"' not in ana and raw["phone"] not in ana  # analysts: pseudonymous data
    masked = api(client, city, Role.ANALYST, f"/entities/{a}")["registration"]["address"]
    assert f'id="address">{html.escape(masked)}<' in ana and html.escape(raw["address"]) not in ana

    # Related parties: the page's "why" is the API's, per role (the shared person masked for analysts).
    for role, text in pages_by_role.items():
        got = api(client, city, role, f"/entities/{a}/related")
        table = section(text, "related")
        assert re.findall(r'<tr data-uscc="([^"]+)">', table) == [r["uscc"] for r in got["related"]]
        for r in got["related"]:
            for w in r["why"]:
                assert html.escape(w["detail"]) in table, (role, w)
    person = [
        w["detail"]
        for r in api(client, city, Role.SUPERVISOR, f"/entities/{a}/related")["related"]
        if r["uscc"] == b
        for w in r["why"]
        if w["kind"] == "person"
    ]
    assert person and html.escape(person[0]) in sup and html.escape(person[0]) not in ana


def test_graph_timeline_and_history_match_the_api(client: TestClient, city: City) -> None:
    a, b = related_pair(city)
    sign_in(client, city, Role.SUPERVISOR)
    text = client.get(f"/ui/entities/{a}").text
    related = api(client, city, Role.SUPERVISOR, f"/entities/{a}/related")["related"]
    svg = text[text.index('<svg class="graph"') : text.index("</svg>", text.index('<svg class="graph"'))]
    nodes = re.findall(r'class="g-node hop-(\d)" data-uscc="([^"]+)"', svg)
    assert nodes[0] == ("0", a)
    hop1 = [r["uscc"] for r in related if r["hops"] == 1]
    assert [u for h, u in nodes if h == "1"] == hop1[: pages.GRAPH_CAP] and b in hop1
    drawn1 = hop1[: pages.GRAPH_CAP]
    hop2 = sorted(r["uscc"] for r in related if r["hops"] == 2 and r["via"] in drawn1)
    assert sorted(u for h, u in nodes if h == "2") == hop2[: pages.GRAPH_CAP - len(drawn1)]
    assert svg.count('<line class="g-edge') == len(nodes) - 1  # one edge per related node drawn
    assert re.search(rf'<line class="g-edge k-person" data-target="{b}"', svg)

    profile = api(client, city, Role.SUPERVISOR, f"/entities/{a}")
    timeline = section(text, "timeline")
    items = re.findall(r'<li data-table="([^"]+)"><time(?: datetime="([^"]+)")?', timeline)
    total = sum(profile["counts"].values())
    assert len(items) == min(total, pages.TIMELINE_CAP) and total >= 1
    assert sorted(t for t, _ in items) == sorted(t for t, rows in profile["records"].items() for _ in rows)
    days = [date.fromisoformat(d) for _, d in items if d]
    assert days == sorted(days, reverse=True)  # newest first

    history = api(client, city, Role.SUPERVISOR, f"/entities/{a}/history")["scores"]
    rows = re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td>", section(text, "history"))
    assert rows == [h["as_of"] for h in reversed(history)] and len(rows) == 2
    line = re.search(r'<polyline points="([^"]+)"', section(text, "history"))
    assert line and len(line[1].split()) == len(history)
    ys = [float(p.split(",")[1]) for p in line[1].split()]
    # Higher probability → higher on the line (smaller y).
    assert (ys[0] - ys[1] > 0) == (history[1]["probability"] > history[0]["probability"]) or ys[0] == ys[1]


def test_without_a_champion_or_a_stored_score_the_page_still_renders(city: City, tmp_path: Path) -> None:
    unscored = (
        lake_io.scan(city.settings.lake_dir, "entities")
        .filter(~pl.col("uscc").is_in(city.usccs))
        .select("uscc")
        .sort("uscc")
        .collect()["uscc"][0]
    )
    empty = city.settings.model_copy(update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'none.db'}"})
    with TestClient(
        create_app(empty, engine=city.engine, clock=china_half_past_midnight()), follow_redirects=False
    ) as c:
        sign_in(c, city, Role.SUPERVISOR)
        r = c.get(f"/ui/entities/{unscored}")
        assert r.status_code == 200
        assert 'id="not-scored"' in r.text and 'id="no-champion"' in r.text
        assert '<svg class="waterfall"' not in r.text and 'id="timeline"' in r.text
        scored = c.get(f"/ui/entities/{city.usccs[11]}")
        assert scored.status_code == 200 and 'id="no-champion"' in scored.text and 'id="tier"' in scored.text
        # Without the champion the reasons come from the stored score, said so.
        assert i18n.t("entity.reasons.from_score", "zh") in scored.text


def test_unknown_and_malformed_uscc_are_4xx_pages(client: TestClient, city: City) -> None:
    sign_in(client, city, Role.INSPECTOR)
    unknown = unknown_uscc(city)
    r = client.get(f"/ui/entities/{unknown}")
    assert r.status_code == 404 and 'data-status="404"' in r.text and unknown in r.text
    for bad in ("91X", unknown[:-1] + ("0" if unknown[-1] != "0" else "1"), "O" * 18):
        r = client.get(f"/ui/entities/{bad}")
        assert r.status_code == 422 and 'data-status="422"' in r.text, bad
        # The message names the field and the rule: the path's pattern, or the USCC check digit.
        message = re.search(r'data-status="422">([^<]+)<', r.text)
        assert message and ("path.uscc" in message[1] or "is not a valid USCC" in message[1]), r.text


def test_a_view_is_audited_like_the_api_entity_detail(client: TestClient, city: City) -> None:
    uscc = city.usccs[13]
    sign_in(client, city, Role.ANALYST)
    assert client.get(f"/ui/entities/{uscc}").status_code == 200
    sign_in(client, city, Role.ADMIN)
    assert client.get(f"/ui/entities/{uscc}").status_code == 403
    with session_scope(city.engine) as session:
        entries = [e for e in audit.entries(session, target=f"uscc:{uscc}", limit=1000)]
        views = [(e.action, e.role, e.result, e.details.get("path")) for e in entries]
        assert ("entities.read", "analyst", "ok", f"/ui/entities/{uscc}") in views
        assert views[-1] == ("entities.read", "admin", "denied", f"/ui/entities/{uscc}")
        assert audit.verify(session).ok


def test_both_languages_render(client: TestClient, city: City) -> None:
    uscc = city.usccs[11]
    sign_in(client, city, Role.SUPERVISOR)
    zh = client.get(f"/ui/entities/{uscc}").text
    en = client.get(f"/ui/entities/{uscc}", params={"lang": "en"}).text
    assert '<html lang="zh-CN">' in zh and i18n.t("entity.reasons.title", "zh") in zh
    assert '<html lang="en">' in en and "Top reasons" in en and "Score explanation (SHAP waterfall)" in en
    main = re.findall(r'<span class="reason-main" lang="en">([^<]+)</span>', en)
    assert main and all(not CJK.search(m) for m in main)
    assert re.findall(r'<span class="reason-other muted" lang="zh-CN">([^<]+)</span>', en)
    search = client.get("/ui/entities", params={"q": uscc[:6], "lang": "en"}).text
    assert "Entity search" in search and "Details" in search


# --------------------------------------------------------------------------------------------- geometry
def _related(
    uscc: str, hops: Literal[1, 2], via: str | None = None, kind: Kind = "person"
) -> entities.Related:
    why = [entities.Relation(kind=kind, detail=f"{kind} of {uscc}")]
    return entities.Related(uscc=uscc, name=f"盐城市亭湖区测试{uscc}有限公司", hops=hops, via=via, why=why)


def test_a_small_graph_gets_a_small_frame() -> None:
    lone = pages.graph("C0", "中心主体", [_related("A000", 1)], {})
    big = pages.graph("C0", "中心主体", [_related(f"A{i:03d}", 1) for i in range(12)], {})
    assert lone["box"][3] < big["box"][3] < pages.G_SIZE + 1  # one neighbour below: a short picture
    for g in (lone, big):
        x0, y0, w, h = g["box"]
        assert all(x0 < n["x"] < x0 + w and y0 < n["y"] < y0 + h for n in g["nodes"])


def test_the_graph_is_capped_sorted_and_draws_two_hops_beside_their_neighbour() -> None:
    hop1 = [_related(f"A{i:03d}", 1) for i in range(30)]
    hop2 = [_related(f"B{i:03d}", 2, via=f"A{i % 5:03d}", kind="investment") for i in range(30)]
    g = pages.graph("C0", "中心主体", [*hop1, *hop2], {"A001": "D", "C0": "B"})
    shuffled = pages.graph("C0", "中心主体", [*reversed(hop2), *reversed(hop1)], {"A001": "D", "C0": "B"})

    def strip(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in n.items() if k != "number"} for n in nodes]  # numbers follow the table

    assert strip(g["nodes"]) == strip(shuffled["nodes"]) and g["edges"] == shuffled["edges"]
    assert (g["shown"], g["total"], len(g["nodes"])) == (pages.GRAPH_CAP, 60, pages.GRAPH_CAP + 1)
    by = {n["uscc"]: n for n in g["nodes"]}
    assert [n["uscc"] for n in g["nodes"] if n["hops"] == 1] == [f"A{i:03d}" for i in range(30)]
    second = [n for n in g["nodes"] if n["hops"] == 2]
    assert {n["uscc"] for n in second} == {f"B{i:03d}" for i in range(10)}  # the first 10 by USCC
    assert by["A001"]["tier"] == "D" and by["C0"]["tier"] == "B" and by["A002"]["tier"] is None
    for n in g["nodes"]:
        assert 0 < n["x"] < g["size"] and 0 < n["y"] < g["size"]
        x0, y0, w, h = g["box"]  # the frame holds every node
        assert x0 < n["x"] < x0 + w and y0 < n["y"] < y0 + h
    for n in second:  # each two-hop party sits nearest to the neighbour it is reached through
        via = f"A{int(n['uscc'][1:]) % 5:03d}"
        nearest = min(
            (m for m in g["nodes"] if m["hops"] == 1),
            key=lambda m: math.dist((m["x"], m["y"]), (n["x"], n["y"])),
        )
        assert nearest["uscc"] == via, n["uscc"]
    kinds = {e["target"]: e["kind"] for e in g["edges"]}
    assert (
        kinds["A000"] == "person" and kinds["B000"] == "investment" and g["kinds"] == ["person", "investment"]
    )


def test_the_timeline_is_newest_first_and_capped() -> None:
    start = date(2020, 1, 1)
    records: dict[str, list[dict[str, Any]]] = {
        "penalties": [
            {"decided_on": start + timedelta(days=i), "violation_type": f"违法{i}", "fine_amount": 100.0}
            for i in range(150)
        ],
        "self_reports": [{"reported_on": None, "topic": "无日期"}],
    }
    items, hidden = pages._timeline(records, "zh")
    assert len(items) == pages.TIMELINE_CAP and hidden == 51
    assert (
        items[0]["date"] == start + timedelta(days=149)
        and items[0]["text"] == "违法行为类型: 违法149；罚款金额（元）: 100"
    )
    en, _ = pages._timeline(records, "en")
    assert en[0]["category"] == "administrative penalties" and en[0]["text"].startswith(
        "violation type: 违法149"
    )


def test_the_waterfall_adds_up_to_the_raw_score() -> None:
    feats = [("f1", 0.8), ("f2", -0.5), ("f3", 0.1), ("f4", -0.05)]
    explanation = entities.Explanation(
        uscc="C0",
        as_of=AS_OF,
        score_as_of=AS_OF,
        model_version="7",
        probability=0.4,
        tier="C",
        model_tier="C",
        expected_rate=None,
        raw_score=-1.0 + sum(c for _, c in feats),
        base_value=-1.0,
        features=[
            entities.FeatureContribution(
                feature=f,
                zh=f"特征{f}",
                en=f"feature {f}",
                dimension="d",
                value=1.5,
                contribution=c,
                structural=False,
            )
            for f, c in feats
        ],
        dimensions=[],
        reasons=[],
    )
    wf = pages.waterfall(explanation, "zh", n=2)
    rows = wf["rows"]
    assert [r["kind"] for r in rows] == ["base", "feature", "feature", "others", "raw"]
    assert wf["features"] == ["f1", "f2"] and rows[1]["label"] == "特征f1 = 1.5"
    assert rows[3]["label"] == i18n.t("entity.waterfall.others", "zh").format(n=2)
    assert rows[1]["up"] and not rows[2]["up"] and rows[3]["up"]
    # Each bar starts where the previous one ended; the last ends at the raw score's mark.
    assert rows[1]["x"] == rows[0]["x"]
    ends = [r["x"] + r["w"] if r["up"] else r["x"] for r in rows[1:4]]
    starts = [r["x"] if r["up"] else r["x"] + r["w"] for r in rows[1:4]]
    assert starts[1:] == pytest.approx(ends[:-1], abs=0.02)
    assert (
        ends[-1] == pytest.approx(wf["raw_x"], abs=0.02) and wf["plot_left"] < wf["raw_x"] < wf["plot_right"]
    )
    assert pages.waterfall(explanation, "zh", n=2) == wf  # deterministic


# --------------------------------------------------------------------------------------------- browser
def test_a_supervisor_searches_opens_an_entity_and_reads_it_in_both_languages(city: City) -> None:
    from tests.serving.browser import browser, login, serve

    a, b = related_pair(city)
    app = create_app(city.settings, engine=city.engine, clock=china_half_past_midnight())
    with TestClient(app) as c:
        explained = c.get(
            f"/entities/{a}/explanation",
            params={"as_of": AS_OF.isoformat(), "top": pages.REASONS},
            headers=city.tokens[Role.SUPERVISOR],
        ).json()
        related = c.get(f"/entities/{a}/related", headers=city.tokens[Role.SUPERVISOR]).json()["related"]
    reasons = [r for r in explained["reasons"] if r["contribution"] is not None]
    conduct = [f["feature"] for f in explained["features"] if not f["structural"]]
    shown = conduct[: pages.WATERFALL_FEATURES]
    with serve(app) as base, browser() as br:
        page = br.new_page()
        login(page, base, raw_token(city, Role.SUPERVISOR))
        assert page.url == f"{base}/ui/entities"
        page.fill("#q", a)
        page.click("form[role=search] button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.click(f"tr[data-uscc='{a}'] a")
        page.wait_for_url(f"{base}/ui/entities/{a}")

        bars = page.locator("svg.waterfall g.wf-feature")
        assert bars.count() == len(shown)
        assert [bars.nth(i).get_attribute("data-feature") for i in range(bars.count())] == shown
        assert page.locator("svg.waterfall g.wf-feature rect.wf-bar").count() == len(shown)
        box = page.locator("svg.waterfall rect.wf-bar").first.bounding_box()
        assert box is not None and box["width"] > 0

        main = page.locator("#reasons .reason-main")
        assert main.all_inner_texts() == [r["zh"] for r in reasons] and CJK.search(main.first.inner_text())
        page.click("a.lang")  # to English
        page.wait_for_load_state("networkidle")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("#reasons .reason-main").all_inner_texts() == [r["en"] for r in reasons]

        nodes = page.locator("svg.graph .g-node")
        drawn = [nodes.nth(i).get_attribute("data-uscc") for i in range(nodes.count())]
        assert drawn[0] == a and b in drawn
        assert set(drawn[1:]) <= {r["uscc"] for r in related}
        hop1 = [r["uscc"] for r in related if r["hops"] == 1][: pages.GRAPH_CAP]
        assert [u for u in drawn if u in hop1] == hop1  # every direct neighbour (up to the cap) is drawn
        assert page.locator("svg.graph line.g-edge").count() == len(drawn) - 1
