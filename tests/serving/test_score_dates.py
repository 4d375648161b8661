"""Every answer that carries a tier says the date of the score it used (``score_as_of``, 评分日期): the stored
score, the explanation and the batch answers of the API, the credit report (header, HTML and its hash), and
the supervisor's entity page — the current score's date by the one rule (serving.services.current_score),
so an entity re-scored after a decision says the re-score's date, not the score file's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from features.lake import sources
from serving.api.app import create_app
from serving.rescore import rescore
from supervision.lifecycle import reports
from supervision.platform.access import Role
from supervision.platform.db import session_scope
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, City, build_city, ok, related_pair, sign_in

pytestmark = pytest.mark.slow  # the module's city: ~45 s to generate, ingest, train and score

DECIDED = AS_OF + timedelta(days=3)  # a decision after the score file, before today (the frozen clock)
RESCORED = DECIDED + timedelta(days=1)  # a re-score is of the day after the decision


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    city = build_city(tmp_path_factory.mktemp("score-dates-city"))
    yield city
    city.engine.dispose()


@pytest.fixture(scope="module")
def client(city: City) -> Iterator[TestClient]:
    clock = china_half_past_midnight()
    assert clock.today() > RESCORED, "the city's dates must be in the past"
    with TestClient(create_app(city.settings, engine=city.engine, clock=clock), follow_redirects=False) as c:
        yield c


@pytest.fixture(scope="module")
def rescored(city: City) -> str:
    """An entity re-scored after a decision of DECIDED (newer than the score file of AS_OF)."""
    uscc = city.usccs[21]
    with session_scope(city.engine) as s:
        done = rescore(s, city.settings, uscc=uscc, on=DECIDED, reason="test: a decision after the file")
    assert done.status == "rescored" and done.as_of == RESCORED, done
    return uscc


def test_the_stored_score_says_the_date_of_the_score(client: TestClient, city: City, rescored: str) -> None:
    plain = city.usccs[7]
    got = ok(client.get(f"/entities/{plain}/score", headers=city.tokens[Role.SYSTEM]))
    assert got["score_as_of"] == AS_OF.isoformat() == got["as_of"]
    assert got["source"] == f"score_file:{AS_OF.isoformat()}"
    # A re-score after a decision is the current score: its own date, not the file's.
    again = ok(client.get(f"/entities/{rescored}/score", headers=city.tokens[Role.SYSTEM]))
    assert again["score_as_of"] == RESCORED.isoformat() and again["source"].startswith("score_history:")


def test_the_batch_says_each_score_date(client: TestClient, city: City, rescored: str) -> None:
    plain = city.usccs[7]
    body = {"usccs": [plain, rescored]}
    got = ok(client.post("/scores/batch", json=body, headers=city.tokens[Role.SYSTEM]))
    assert got["as_of"] == AS_OF.isoformat()  # the file answered from
    first, second = got["items"]
    assert first["score_as_of"] == first["score"]["score_as_of"] == AS_OF.isoformat()
    assert second["score_as_of"] == second["score"]["score_as_of"] == RESCORED.isoformat()


def test_the_explanation_says_the_date_of_the_score_it_explains(client: TestClient, city: City) -> None:
    uscc = city.usccs[11]
    got = ok(client.get(f"/entities/{uscc}/explanation", headers=city.tokens[Role.SUPERVISOR]))
    assert got["score_as_of"] == AS_OF.isoformat() and got["features_from"] == f"score_file:{AS_OF}"
    earlier = date(2026, 9, 30)
    other = ok(
        client.get(
            f"/entities/{uscc}/explanation",
            params={"as_of": earlier.isoformat()},
            headers=city.tokens[Role.SUPERVISOR],
        )
    )
    assert other["score_as_of"] == earlier.isoformat()


def test_the_credit_report_prints_the_date_of_the_score(
    client: TestClient, city: City, rescored: str
) -> None:
    sup = city.tokens[Role.SUPERVISOR]
    for uscc, day in ((city.usccs[7], AS_OF), (rescored, RESCORED)):
        issued = client.post("/reports", json={"uscc": uscc}, headers=sup)
        assert issued.status_code == 200, issued.text
        assert issued.headers["X-Score-As-Of"] == day.isoformat()
        assert "评分日期 / scored as of" in issued.text
        assert f'<span id="score-as-of">{day.isoformat()}</span>' in issued.text
    # No score in the report (an inspector's): no score date either.
    plain = client.post("/reports", json={"uscc": city.usccs[7]}, headers=city.tokens[Role.INSPECTOR])
    assert plain.status_code == 200 and "X-Score-As-Of" not in plain.headers
    assert 'id="score-as-of"' not in plain.text


def test_the_score_date_is_part_of_the_report_hash(city: City) -> None:
    src = sources(city.settings.lake_dir)
    hashes = set()
    with session_scope(city.engine) as s:
        for day in (AS_OF, RESCORED):
            issued = reports.build(
                s,
                src,
                uscc=city.usccs[7],
                on=AS_OF,
                issued_by="test",
                mask_name=lambda n: n,
                score=reports.Score(tier="B", score=0.1, reasons=("x",), as_of=day),
            )
            hashes.add(issued.content_sha256)
            assert reports.render_pdf(issued).startswith(b"%PDF-")
    assert len(hashes) == 2


def test_the_entity_page_says_the_date_of_every_tier_it_shows(
    client: TestClient, city: City, rescored: str
) -> None:
    sign_in(client, city, Role.SUPERVISOR)
    text = client.get(f"/ui/entities/{rescored}").text
    assert "评分日期" in text
    assert f'class="score-as-of" id="as-of">{RESCORED.isoformat()}<' in text
    # The reasons shown are the explanation's: the date of the score it explains.
    assert re.search(r'id="reasons-as-of">\d{4}-\d{2}-\d{2}<', text)

    a, b = related_pair(city)
    text = client.get(f"/ui/entities/{a}?lang=en").text
    assert "Scored as of" in text
    table = text[text.index('id="related"') : text.index("</section>", text.index('id="related"'))]
    row = table[table.index(f'<tr data-uscc="{b}">') :]
    row = row[: row.index("</tr>")]
    expected = ok(client.get(f"/entities/{b}/score", headers=city.tokens[Role.SUPERVISOR]))["score_as_of"]
    assert f'<td class="score-as-of">{expected}</td>' in row
    own = ok(client.get(f"/entities/{a}/score", headers=city.tokens[Role.SUPERVISOR]))["score_as_of"]
    assert f'class="score-as-of" id="as-of">{own}<' in text
