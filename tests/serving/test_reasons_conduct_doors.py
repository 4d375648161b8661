"""Reasons speak of conduct at every door: on a synthetic city with a real champion, an entity whose strongest
risk-raising SHAP contribution is a structural attribute (entity type, industry, division, capital, age)
gets no structural reason in its stored score file, the API's score, explanation and batch answers, the
entity page, a re-score's stored sentence or its credit report — only one "baseline of similar entities"
line, which carries the structural attributes' summed contribution."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta

import polars as pl
import pytest
from fastapi.testclient import TestClient

from features.indicators import CATALOG
from models.explain import BASE_VALUE, BASELINE, BASELINE_ZH
from serving.api.app import create_app
from serving.champion import load_champion
from serving.rescore import rescore
from supervision.platform.access import Role
from supervision.platform.db import session_scope
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, City, build_city, ok, sign_in

pytestmark = pytest.mark.slow  # the module's city: ~45 s to generate, ingest, train and score

STRUCTURAL = frozenset(i.name for i in CATALOG if i.structural)
# What a structural attribute's own sentence starts with ("登记机关区划代码为…", "行业门类编码为…", …).
STRUCTURAL_TEXT = tuple(i.template_zh.split("{")[0] for i in CATALOG if i.structural)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    city = build_city(tmp_path_factory.mktemp("reasons-doors-city"))
    yield city
    city.engine.dispose()


@pytest.fixture(scope="module")
def client(city: City) -> Iterator[TestClient]:
    with TestClient(
        create_app(city.settings, engine=city.engine, clock=china_half_past_midnight()),
        follow_redirects=False,
    ) as c:
        yield c


def scores(city: City) -> pl.DataFrame:
    return pl.read_parquet(city.settings.home / "scores" / f"as_of={AS_OF}.parquet")


@pytest.fixture(scope="module")
def structural_on_top(city: City) -> tuple[str, float]:
    """A scored entity whose largest risk-raising contribution is a structural attribute, found with the
    champion on the features stored with the score file; and its structural contributions summed."""
    model, _ = load_champion(city.settings.mlflow_uri)
    assert STRUCTURAL & set(model.feature_names), "the champion should read structural attributes"
    assert {i.name for i in model.feature_infos if i.structural} == STRUCTURAL & set(model.feature_names)
    feats = pl.read_parquet(city.settings.home / "features" / f"as_of={AS_OF}.parquet")
    feats = feats.filter(pl.col("uscc").is_in(city.usccs[:400]))
    contrib = model.estimator.explain(feats.select(model.feature_names))
    for uscc, row in zip(feats["uscc"], contrib.iter_rows(named=True), strict=True):
        value, feature = max((c, f) for f, c in row.items() if f != BASE_VALUE)
        if value > 0 and feature in STRUCTURAL:
            return uscc, sum(c for f, c in row.items() if f in STRUCTURAL)
    raise AssertionError("no entity whose top contribution is structural in the first 400")


def conduct_only(texts: list[str]) -> None:
    """Conduct sentences, then at most one baseline line, last."""
    baseline = [t for t in texts if t.startswith(BASELINE_ZH)]
    assert len(baseline) <= 1, texts
    assert not baseline or texts[-1] == baseline[0], texts
    for text in texts:
        if not text.startswith(BASELINE_ZH):
            assert not text.startswith(STRUCTURAL_TEXT), text


def test_the_score_file_reasons_are_conduct_with_one_baseline_line(
    city: City, structural_on_top: tuple[str, float]
) -> None:
    frame = scores(city)
    for row in frame.iter_rows(named=True):
        features = [r["feature"] for r in row["reasons"]]
        assert not STRUCTURAL & set(features), (row["uscc"], features)
        assert features.count(BASELINE) <= 1
        conduct_only(row["reasons_zh"].split("；") if row["reasons_zh"] else [])
    uscc, total = structural_on_top
    mine = frame.filter(pl.col("uscc") == uscc).row(0, named=True)
    baseline = [r for r in mine["reasons"] if r["feature"] == BASELINE]
    assert len(baseline) == 1 and baseline[0]["contribution"] == pytest.approx(total, abs=1e-9)
    assert mine["reasons_zh"].count(BASELINE_ZH) == 1


def test_the_api_answers_give_conduct_reasons_and_one_baseline_line(
    client: TestClient, city: City, structural_on_top: tuple[str, float]
) -> None:
    uscc, total = structural_on_top
    stored = ok(client.get(f"/entities/{uscc}/score", headers=city.tokens[Role.SYSTEM]))
    batch = ok(client.post("/scores/batch", json={"usccs": [uscc]}, headers=city.tokens[Role.SYSTEM]))
    explained = ok(client.get(f"/entities/{uscc}/explanation", headers=city.tokens[Role.SUPERVISOR]))
    for reasons in (stored["reasons"], batch["items"][0]["score"]["reasons"], explained["reasons"]):
        features = [r["feature"] for r in reasons]
        assert not STRUCTURAL & set(features) and features.count(BASELINE) == 1, features
        line = next(r for r in reasons if r["feature"] == BASELINE)
        assert line["dimension"] == BASELINE and line["contribution"] == pytest.approx(total, abs=1e-9)
        conduct_only([r["zh"] for r in reasons])
    # The full explanation still lists every contribution, the structural ones flagged and under baseline.
    flagged = {f["feature"] for f in explained["features"] if f["structural"]}
    assert flagged == {f["feature"] for f in explained["features"] if f["feature"] in STRUCTURAL}
    assert all(f["dimension"] == BASELINE for f in explained["features"] if f["structural"])
    dims = {d["dimension"]: d for d in explained["dimensions"]}
    assert dims[BASELINE]["contribution"] == pytest.approx(total, abs=1e-9) and dims[BASELINE]["zh"]


def test_the_entity_page_shows_conduct_reasons_and_one_baseline(
    client: TestClient, city: City, structural_on_top: tuple[str, float]
) -> None:
    uscc, total = structural_on_top
    sign_in(client, city, Role.SUPERVISOR)
    text = client.get(f"/ui/entities/{uscc}").text
    start = text.index('id="reasons"')
    reasons = text[start : text.index("</section>", start)]
    shown = re.findall(r'<li data-feature="([^"]+)"', reasons)
    assert not STRUCTURAL & set(shown) and shown.count(BASELINE) == 1 and shown[-1] == BASELINE
    main = [
        html.unescape(t)
        for t in re.findall(r'<span class="reason-main" lang="zh-CN">([^<]+)</span>', reasons)
    ]
    conduct_only(main)
    assert f"({total:+.2f})" in main[-1] and 'id="baseline-note"' in reasons
    # The waterfall draws the structural attributes as one baseline bar, never one by one.
    svg = text[text.index('<svg class="waterfall"') :]
    drawn = re.findall(r'<g class="wf-row wf-(\w+)" data-feature="([^"]+)">', svg[: svg.index("</svg>")])
    assert ("baseline", BASELINE) in drawn and not STRUCTURAL & {f for _, f in drawn}
    dims = text[text.index('id="dimensions"') :]
    assert f'data-dimension="{BASELINE}"' in dims[: dims.index("</section>")]


def test_a_rescore_and_the_credit_report_print_conduct_reasons_only(
    client: TestClient, city: City, structural_on_top: tuple[str, float]
) -> None:
    uscc, _ = structural_on_top
    report = client.post("/reports", json={"uscc": uscc}, headers=city.tokens[Role.SUPERVISOR])
    assert report.status_code == 200, report.text
    printed = [html.unescape(t) for t in re.findall(r"<li>([^<]+)</li>", report.text)]
    assert printed and sum(t.startswith(BASELINE_ZH) for t in printed) == 1
    conduct_only(printed)

    # A re-score after a decision stores the sentence the report then prints: conduct, one baseline line.
    with session_scope(city.engine) as s:
        done = rescore(s, city.settings, uscc=uscc, on=AS_OF + timedelta(days=2), reason="test")
    assert done.status == "rescored" and done.after is not None and done.after.reasons_zh
    assert done.as_of is not None
    conduct_only(done.after.reasons_zh.split("；"))
    again = client.post("/reports", json={"uscc": uscc}, headers=city.tokens[Role.SUPERVISOR])
    assert again.headers["X-Score-As-Of"] == done.as_of.isoformat()
    reprinted = [html.unescape(t) for t in re.findall(r"<li>([^<]+)</li>", again.text)]
    assert reprinted == done.after.reasons_zh.split("；")
    conduct_only(reprinted)


def test_the_waterfall_draws_structural_attributes_as_one_baseline_bar() -> None:
    from serving.services import entities as service
    from serving.web import supervisor as pages

    feats = [("division_code", 0.9, True), ("f1", 0.5, False), ("age_days", -0.2, True), ("f2", -0.1, False)]
    explanation = service.Explanation(
        uscc="C0",
        as_of=AS_OF,
        model_version="7",
        probability=0.4,
        tier="C",
        model_tier="C",
        expected_rate=None,
        raw_score=-1.0 + sum(c for _, c, _ in feats),
        base_value=-1.0,
        features=tuple(
            service.FeatureContribution(
                feature=f,
                zh=f"特征{f}",
                en=f"feature {f}",
                dimension=BASELINE if s else "d",
                value=1,
                contribution=c,
                structural=s,
            )
            for f, c, s in feats
        ),
        dimensions=(),
        reasons=(),
        features_from="lake",
    )
    wf = pages.waterfall(explanation, "zh", n=5)
    rows = wf["rows"]
    assert [r["kind"] for r in rows] == ["base", "baseline", "feature", "feature", "raw"]
    assert wf["features"] == ["f1", "f2"]
    assert rows[1]["delta"] == pytest.approx(0.7) and "特征division_code" in rows[1]["full"]
    ends = rows[-2]["x"] + rows[-2]["w"] if rows[-2]["up"] else rows[-2]["x"]
    assert ends == pytest.approx(wf["raw_x"], abs=0.02)
