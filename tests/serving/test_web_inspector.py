"""The inspector's pages on the synthetic city with a created, drawn and assigned task: "my tasks" by the
token's link to the roster, the sampling list, recording a result through the form (CSRF, Post/Redirect/Get,
domain refusals as pages, nothing half-written, audited), the CSV/XLSX export, both languages, and a real
browser."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import openpyxl
import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features import lake as lake_io
from serving.api.app import create_app
from serving.web import auth, i18n
from supervision.platform import audit
from supervision.platform.access import Role
from supervision.platform.db import session_scope
from supervision.sampling import exports, roster, tables, tasks
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, OTHER_DEPARTMENT, City, build_city, issue

pytestmark = pytest.mark.slow  # the module's city: ~45 s to generate, ingest, train and score

ITEM = "食品安全检查"
PERIOD = "2026Q4"
INSPECTORS = [f"I{i:02d}" for i in range(6)]
TASK = {  # of the department of every identity of the city (api_city.DEPARTMENT)
    "items": [ITEM],
    "period": PERIOD,
    "count": 20,
    "as_of": AS_OF.isoformat(),
}


@dataclass
class World:
    city: City
    app: Any
    raw: dict[str, str]  # who → raw token: roles by value, inspectors by their id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    city = build_city(tmp_path_factory.mktemp("web-inspector"))
    inspectors = pl.DataFrame(
        {
            "inspector_id": INSPECTORS,
            "name": [f"检查员{i}" for i in range(len(INSPECTORS))],
            "department": ["市场监管局"] * len(INSPECTORS),
            "division_code": ["320900"] * len(INSPECTORS),
            "qualifications": [ITEM] * len(INSPECTORS),
            "active": ["true"] * len(INSPECTORS),
        }
    )
    raw = {r.value: h["Authorization"].removeprefix("Bearer ") for r, h in city.tokens.items()}
    with session_scope(city.engine) as session:
        roster.import_inspectors(session, inspectors, salt=city.settings.person_salt)
    for iid in INSPECTORS:  # an inspector's token carries their inspector id as its person id
        raw[iid] = issue(city.engine, Role.INSPECTOR, name=iid, person_id=iid)["Authorization"].removeprefix(
            "Bearer "
        )
    other = issue(city.engine, Role.SUPERVISOR, department=OTHER_DEPARTMENT, person_id="S-OTHER")
    raw["other-department"] = other["Authorization"].removeprefix("Bearer ")
    app = create_app(city.settings, engine=city.engine, clock=china_half_past_midnight())
    sup = city.tokens[Role.SUPERVISOR]
    with TestClient(app) as c:
        for body in ({**TASK, "task_id": "T1"}, {**TASK, "task_id": "T2", "period": "2026Q3", "count": 8}):
            assert c.post("/sampling/tasks", json=body, headers=sup).status_code == 201
            assert c.post(f"/sampling/tasks/{body['task_id']}/draw", headers=sup).status_code == 200
        assert c.post("/sampling/tasks", json={**TASK, "task_id": "T3"}, headers=sup).status_code == 201
        assigned = c.post(f"/sampling/periods/{PERIOD}/assign", json={}, headers=sup)
        assert assigned.status_code == 200 and assigned.json()["assigned"] == 20, assigned.text
    yield World(city, app, raw)
    city.engine.dispose()


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(world.app, follow_redirects=False) as c:
        yield c


def as_(client: TestClient, world: World, who: str) -> TestClient:
    """Sign `who` in through the login form (a fresh cookie jar)."""
    client.cookies.clear()
    r = client.post("/ui/login", data={"token": world.raw[who]})
    assert r.status_code == 303, r.text
    _sessions[who] = client.cookies[auth.COOKIE]
    return client


# The page session each person last signed in with (the form token derives from it).
_sessions: dict[str, str] = {}


def csrf(world: World, who: str) -> str:
    return auth.csrf_token(_sessions[who])


def api_list(client: TestClient, world: World, task_id: str = "T1") -> list[dict[str, Any]]:
    r = client.get(f"/sampling/tasks/{task_id}", headers=world.city.tokens[Role.SUPERVISOR])
    assert r.status_code == 200, r.text
    return list(r.json()["entities"])


def pending_of(client: TestClient, world: World, inspector_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in api_list(client, world)
        if inspector_id in e["inspectors"].split("; ") and e["outcome"] is None
    ]


def busiest(client: TestClient, world: World) -> str:
    """The inspector with the most pending visits on T1 (each test takes a fresh one of theirs)."""
    return max(INSPECTORS, key=lambda i: (len(pending_of(client, world, i)), i))


def rows(text: str) -> dict[str, str]:
    """uscc → data-state of each list row on a page."""
    return dict(re.findall(r'<tr id="row-([0-9A-Z]{18})" data-uscc="\1" data-state="(\w+)"', text))


def result_of(world: World, uscc: str) -> tables.InspectionResult | None:
    with session_scope(world.city.engine) as session:
        sel = session.get(tables.TaskSelection, ("T1", uscc))
        assert sel is not None and sel.visit_id is not None
        found = session.get(tables.InspectionResult, sel.visit_id)
        if found is not None:
            session.expunge(found)
        return found


def results_count(world: World) -> int:
    with session_scope(world.city.engine) as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(tables.InspectionResult)) or 0)


def error_page(r: Any, status: int) -> str:
    assert r.status_code == status, r.text
    assert "text/html" in r.headers["content-type"]
    return html.unescape(r.text)


# ------------------------------------------------------------------------------------------- roles
PAGES = ["/ui/tasks", "/ui/tasks/T1", "/ui/tasks/T1/export.csv", "/ui/tasks/T1/export.xlsx"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_admit_the_apis_sampling_roles(client: TestClient, world: World, path: str) -> None:
    for role in (Role.ANALYST, Role.ADMIN, Role.SYSTEM):
        r = as_(client, world, role.value).get(path)
        assert r.status_code == 403 and 'data-status="403"' in r.text, (role, path)
    for who in (Role.SUPERVISOR.value, Role.INSPECTOR.value, INSPECTORS[0]):
        assert as_(client, world, who).get(path).status_code == 200, (who, path)
    client.cookies.clear()
    r = client.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next=")
    form = "/ui/tasks/T1/results/" + api_list(client, world)[0]["uscc"]
    assert as_(client, world, Role.ANALYST.value).get(form).status_code == 403
    before = results_count(world)
    r = client.post(form, data={"csrf": csrf(world, Role.ANALYST.value), "outcome": "violation"})
    assert r.status_code == 403 and results_count(world) == before


# ------------------------------------------------------------------------------------------- my tasks
def test_my_tasks_follow_the_token_to_the_roster(client: TestClient, world: World) -> None:
    entities = api_list(client, world)
    for iid in INSPECTORS:
        mine = [e for e in entities if iid in e["inspectors"].split("; ")]
        text = as_(client, world, iid).get("/ui/tasks").text
        assert f'<strong id="me">{iid}</strong>' in text
        listed = re.findall(r'<tr data-task="([^"]+)">', text)
        assert listed == (["T1"] if mine else [])
        if mine:
            done = sum(e["outcome"] is not None for e in mine)
            assert re.search(rf'class="num progress-mine">{done} / {len(mine)}<', text), iid
        everything = client.get("/ui/tasks?scope=all").text
        assert re.findall(r'<tr data-task="([^"]+)">', everything) == ["T1", "T2", "T3"]
    # The generic inspector token ("inspector-user") is on no roster: told so, no tasks of its own.
    text = as_(client, world, Role.INSPECTOR.value).get("/ui/tasks").text
    assert 'id="unlinked"' in text and 'id="empty"' in text
    # A supervisor sees every task with the progress of the whole list.
    text = as_(client, world, Role.SUPERVISOR.value).get("/ui/tasks").text
    assert re.findall(r'<tr data-task="([^"]+)">', text) == ["T1", "T2", "T3"]
    done = sum(e["outcome"] is not None for e in entities)
    assert re.search(rf'data-task="T1">.*?class="num progress">{done} / 20<', text, re.S)
    assert 'href="/ui/tasks/T1/export.xlsx"' in text and 'href="/ui/tasks/T3/export.csv"' not in text
    assert re.findall(r'<tr data-task="([^"]+)">', client.get("/ui/tasks?period=2026Q3").text) == ["T2"]


def test_task_progress_counts_the_list_and_the_team(client: TestClient, world: World) -> None:
    entities = api_list(client, world)
    with session_scope(world.city.engine) as session:
        whole = tasks.task_progress(session)
        per = {i: tasks.task_progress(session, inspector_id=i) for i in INSPECTORS}
    assert whole["T1"] == (sum(e["outcome"] is not None for e in entities), 20)
    assert whole["T2"] == (0, 8) and "T3" not in whole
    for iid in INSPECTORS:
        mine = [e for e in entities if iid in e["inspectors"].split("; ")]
        expected = (sum(e["outcome"] is not None for e in mine), len(mine))
        assert per[iid].get("T1", (0, 0)) == expected
    # Two inspectors per visit: the team totals count each visit twice.
    assert sum(p.get("T1", (0, 0))[1] for p in per.values()) == 40


# ------------------------------------------------------------------------------------------- the list
def test_the_list_shows_each_drawn_entity_with_its_reasons_and_team(client: TestClient, world: World) -> None:
    entities = api_list(client, world)
    names = dict(
        lake_io.scan(world.city.settings.lake_dir, "entities").select("uscc", "name").collect().iter_rows()
    )
    scores = pl.read_parquet(world.city.settings.home / "scores" / f"as_of={AS_OF}.parquet")
    first = entities[0]
    reason = scores.filter(pl.col("uscc") == first["uscc"])["reasons"][0][0]

    text = html.unescape(as_(client, world, Role.SUPERVISOR.value).get("/ui/tasks/T1").text)
    assert set(rows(text)) == {e["uscc"] for e in entities}
    for e in entities:
        assert f'<span class="tier tier-{e["tier"]}">{e["tier"]}</span>' in text
        assert names[e["uscc"]] in text
    assert reason["zh"] in text and reason["en"] not in text
    # A supervisor may record for any staffed, pending visit.
    pending = [e for e in entities if e["outcome"] is None]
    assert text.count('class="button record"') == len(pending)
    english = html.unescape(client.get("/ui/tasks/T1?lang=en").text)
    assert reason["en"] in english and "Sampling list" in english

    iid = busiest(client, world)
    text = html.unescape(as_(client, world, iid).get("/ui/tasks/T1").text)
    assert set(rows(text)) == {e["uscc"] for e in entities}  # the whole list, as the API shows it
    mine = {e["uscc"] for e in entities if iid in e["inspectors"].split("; ")}
    links = set(re.findall(r'href="/ui/tasks/T1/results/([0-9A-Z]{18})"', text))
    assert links == {u for u in mine if next(e for e in entities if e["uscc"] == u)["outcome"] is None}
    assert i18n.t("task.why.not_mine", "zh") in text
    only = as_(client, world, iid).get("/ui/tasks/T1?show=mine").text
    assert set(rows(only)) == mine

    # A drawn task whose period is not assigned yet: nobody can record, and the list says why.
    text = as_(client, world, Role.SUPERVISOR.value).get("/ui/tasks/T2").text
    assert set(rows(text).values()) == {"waiting"} and 'class="button record"' not in text
    assert 'id="empty"' in client.get("/ui/tasks/T3").text  # created, not drawn


def districts_of(world: World, task_id: str = "T1") -> dict[str, str]:
    """uscc → division code of the task's roster snapshot (what the district filter matches on), else the
    USCC's positions 3–8."""
    with session_scope(world.city.engine) as session:
        snap = tasks.snapshot(tasks.get_task(session, task_id))
        listed = tasks.selection_frame(session, task_id)["uscc"].to_list()
    known = dict(snap.select("uscc", "division_code").iter_rows()) if "division_code" in snap.columns else {}
    return {u: known.get(u) or u[2:8] for u in listed}


def shown_text(text: str) -> str:
    found = re.search(r'<p class="muted" id="shown">(.*?)</p>', text, re.S)
    assert found, text[-2000:]
    return html.unescape(found.group(1)).strip()


@pytest.fixture
def own(world: World) -> Iterator[TestClient]:
    """A client of an app of its own: these tests ask many pages at once, more than the module's shared app's
    rate limiter lets one token ask of it (the other tests' budget stays theirs)."""
    app = create_app(world.city.settings, engine=world.city.engine, clock=china_half_past_midnight())
    with TestClient(app, follow_redirects=False) as c:
        yield c


def test_the_list_pages_and_keeps_its_filters_in_the_links(own: TestClient, world: World) -> None:
    client = own
    entities = api_list(client, world)
    everyone = [e["uscc"] for e in entities]
    as_(client, world, Role.SUPERVISOR.value)
    seen: list[str] = []
    for n in range(1, 5):
        text = client.get(f"/ui/tasks/T1?per_page=6&page={n}&lang=en").text
        on_page = list(rows(text))
        assert len(on_page) == (6 if n < 4 else 2)
        first = (n - 1) * 6 + 1
        assert shown_text(text) == f"showing {first}–{first + len(on_page) - 1} of 20"
        seen += on_page
        if n < 4:  # the next page's link keeps the page size
            assert f'rel="next" href="/ui/tasks/T1?per_page=6&amp;page={n + 1}"' in text
    assert seen == everyone  # every entity once, in the list's order
    zh = client.get("/ui/tasks/T1?per_page=6&page=2&lang=zh").text
    assert shown_text(zh) == "显示第 7–12 户，共 20 户"
    # The default page holds 50: the whole small list, and no pager.
    text = client.get("/ui/tasks/T1").text
    assert list(rows(text)) == everyone and 'id="pager"' not in text

    # Filters: the service's, the same as the API's; kept in every page link.
    where = districts_of(world)
    district = max(set(where[u] for u in everyone), key=lambda d: (sum(where[u] == d for u in everyone), d))
    expected = [u for u in everyone if where[u] == district]
    text = client.get(f"/ui/tasks/T1?district={district}&per_page=2&lang=en").text
    assert list(rows(text)) == expected[:2]
    assert shown_text(text) == f"showing 1–{min(2, len(expected))} of {len(expected)} (the list has 20)"
    assert f'<option value="{district}" selected>' in text
    if len(expected) > 2:
        assert f'href="/ui/tasks/T1?district={district}&amp;per_page=2&amp;page=2"' in text
    api = client.get(
        f"/sampling/tasks/T1?district={district}&per_page=2&page=1",
        headers=world.city.tokens[Role.SUPERVISOR],
    ).json()
    assert [e["uscc"] for e in api["entities"]] == expected[:2]
    assert (api["total"], api["matched"], api["page"], api["per_page"]) == (20, len(expected), 1, 2)
    # A prefix of the code is a district too (the whole city).
    assert list(rows(client.get(f"/ui/tasks/T1?district={district[:4]}").text)) == [
        u for u in everyone if where[u].startswith(district[:4])
    ]

    tier = entities[0]["tier"]
    text = client.get(f"/ui/tasks/T1?tier={tier}").text
    assert list(rows(text)) == [e["uscc"] for e in entities if e["tier"] == tier]
    assert set(re.findall(r'<span class="tier tier-([A-D])">', text.split('id="list"')[1])) == {tier}
    pending = [e["uscc"] for e in entities if e["outcome"] is None and e["visit_status"] == "assigned"]
    assert list(rows(client.get("/ui/tasks/T1?status=pending").text)) == pending
    done = [e["uscc"] for e in entities if e["outcome"] is not None]
    text = client.get("/ui/tasks/T1?status=done").text
    assert list(rows(text)) == done and set(rows(text).values()) <= {"done"}
    api = client.get("/sampling/tasks/T1?status=pending", headers=world.city.tokens[Role.SUPERVISOR]).json()
    assert [e["uscc"] for e in api["entities"]] == pending and api["per_page"] is None

    # "mine": the inspector's own visits (also through the older ?show=mine), with the other filters.
    iid = busiest(client, world)
    mine = [e["uscc"] for e in entities if iid in e["inspectors"].split("; ")]
    as_(client, world, iid)
    assert list(rows(client.get("/ui/tasks/T1?mine=1").text)) == mine
    assert list(rows(client.get("/ui/tasks/T1?show=mine").text)) == mine
    text = client.get(f"/ui/tasks/T1?mine=1&tier={tier}&per_page=1").text
    assert list(rows(text)) == [e["uscc"] for e in entities if e["uscc"] in mine and e["tier"] == tier][:1]
    headers = issue(world.city.engine, Role.INSPECTOR, name=f"{iid}-api", person_id=iid)
    api = client.get("/sampling/tasks/T1?mine=true", headers=headers).json()
    assert [e["uscc"] for e in api["entities"]] == mine


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("tier=E", "tier"),
        ("tier=%3Cscript%3E", "tier"),
        ("status=lost", "status"),
        ("district=32A9", "district"),
        ("district=3209021", "district"),
        ("per_page=201", "per_page"),
        ("per_page=0", "per_page"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("page=99", "page"),
        ("mine=perhaps", "mine"),
        ("mine=1", "mine"),  # a supervisor has no visits of their own
        ("tier=" + "A" * 40, "tier"),
    ],
)
def test_bad_filters_are_a_422_naming_the_field(
    own: TestClient, world: World, query: str, field: str
) -> None:
    client = own
    as_(client, world, Role.SUPERVISOR.value)
    r = client.get(f"/ui/tasks/T1?{query}")
    assert "'<script>'" not in r.text  # a hostile value is shown escaped
    assert field in error_page(r, 422)
    api = client.get(f"/sampling/tasks/T1?{query}", headers=world.city.tokens[Role.SUPERVISOR])
    assert api.status_code == 422, (query, api.text)
    assert field in api.text


def test_unknown_and_malformed_tasks_and_entities_are_clear_pages(client: TestClient, world: World) -> None:
    as_(client, world, Role.SUPERVISOR.value)
    assert "NOPE" in error_page(client.get("/ui/tasks/NOPE"), 404)
    error_page(client.get("/ui/tasks/bad%20id"), 422)
    off_list = next(u for u in world.city.usccs if u not in {e["uscc"] for e in api_list(client, world)})
    assert off_list in error_page(client.get(f"/ui/tasks/T1/results/{off_list}"), 404)
    assert "uscc" in error_page(client.get("/ui/tasks/T1/results/not-a-uscc"), 422)
    error_page(client.get("/ui/tasks/T1/export.pdf"), 422)
    error_page(client.get("/ui/tasks?scope=everything"), 422)


# ------------------------------------------------------------------------------------------- recording
def test_recording_through_the_form(client: TestClient, world: World) -> None:
    iid = busiest(client, world)
    target, other = pending_of(client, world, iid)[:2]
    form = f"/ui/tasks/T1/results/{target['uscc']}"
    as_(client, world, iid)
    page = client.get(form).text
    assert 'id="result-form"' in page and f'<p id="recorded_by">{iid}</p>' in page
    good = {"outcome": "violation", "inspected_on": AS_OF.isoformat(), "findings": "过期食品"}

    # Without the session's CSRF token: 403, nothing written.
    before = results_count(world)
    assert client.post(form, data=good).status_code == 403
    assert client.post(form, data={**good, "csrf": "0" * 32}).status_code == 403
    assert results_count(world) == before

    token = csrf(world, iid)
    bad_values = [
        ({"outcome": "fine"}, "outcome"),
        ({"outcome": ""}, "outcome"),
        ({"inspected_on": "27/11/2026"}, "inspected_on"),
        (
            {"inspected_on": (china_half_past_midnight().today() + timedelta(days=30)).isoformat()},
            "inspected_on",
        ),
        ({"findings": "x" * 4001}, "findings"),
    ]
    for change, field in bad_values:
        r = client.post(form, data={**good, **change, "csrf": token})
        text = error_page(r, 422)
        assert f'data-field="{field}"' in text and i18n.t(f"task.field.{field}", "zh") in text, change
        assert 'id="result-form"' in text  # the form again, with the values kept
    assert results_count(world) == before

    # An inspector records as themselves: a recorded_by in the form is ignored.
    r = client.post(form, data={**good, "recorded_by": "I99", "csrf": token})
    assert r.status_code == 303
    assert r.headers["location"] == f"/ui/tasks/T1?recorded={target['uscc']}#notice"
    saved = result_of(world, target["uscc"])
    assert saved is not None and (saved.outcome, saved.recorded_by, saved.findings) == (
        "violation",
        iid,
        "过期食品",
    )
    assert saved.inspected_on == AS_OF and results_count(world) == before + 1
    landed = html.unescape(client.get(r.headers["location"]).text)
    assert 'id="notice"' in landed and saved.publication_due_on.isoformat() in landed
    assert rows(landed)[target["uscc"]] == "done"
    with session_scope(world.city.engine) as session:
        # The last change on the task (the pages' reads of it are audited too).
        entry = [
            e for e in audit.entries(session, target="task:T1", limit=1000) if e.action != "sampling.task"
        ][-1]
        assert (entry.action, entry.result, entry.actor.split("#")[0]) == ("sampling.result", "ok", iid)
        assert entry.details["uscc"] == target["uscc"] and entry.details["visit_id"] == saved.visit_id

    # Twice: the API's conflict, as a page; the first result stands.
    text = error_page(client.post(form, data={**good, "outcome": "no_problem", "csrf": token}), 409)
    assert "already has a result" in text
    assert result_of(world, target["uscc"]).outcome == "violation"  # type: ignore[union-attr]
    assert i18n.t("task.why.done", "zh") in html.unescape(client.get(form).text)

    # Someone else's visit: no form, and a forged POST is refused by the service (谁检查、谁录入).
    outsider = next(i for i in INSPECTORS if i not in other["inspectors"].split("; "))
    as_(client, world, outsider)
    assert 'id="why-not"' in client.get(f"/ui/tasks/T1/results/{other['uscc']}").text
    r = client.post(f"/ui/tasks/T1/results/{other['uscc']}", data={**good, "csrf": csrf(world, outsider)})
    text = error_page(r, 403)
    assert f"is not {outsider}'s" in text and "谁检查、谁录入" in text
    assert result_of(world, other["uscc"]) is None

    # An inspector token on no roster cannot record at all.
    as_(client, world, Role.INSPECTOR.value)
    r = client.post(f"/ui/tasks/T1/results/{other['uscc']}", data={**good, "csrf": csrf(world, "inspector")})
    assert "inspector_id" in error_page(r, 403) and result_of(world, other["uscc"]) is None


def test_a_supervisor_records_for_a_member_of_the_team(client: TestClient, world: World) -> None:
    target = next(e for e in api_list(client, world) if e["outcome"] is None)
    team = target["inspectors"].split("; ")
    form = f"/ui/tasks/T1/results/{target['uscc']}"
    as_(client, world, Role.SUPERVISOR.value)
    page = client.get(form).text
    assert all(f'<option value="{i}"' in page for i in team)
    token = csrf(world, Role.SUPERVISOR.value)
    outsider = next(i for i in INSPECTORS if i not in team)
    data = {"outcome": "no_problem", "inspected_on": AS_OF.isoformat(), "csrf": token}
    text = error_page(client.post(form, data={**data, "recorded_by": outsider}), 422)
    assert 'data-field="recorded_by"' in text and result_of(world, target["uscc"]) is None
    r = client.post(form, data={**data, "recorded_by": team[1]})
    assert r.status_code == 303
    saved = result_of(world, target["uscc"])
    assert saved is not None and (saved.recorded_by, saved.outcome, saved.findings) == (
        team[1],
        "no_problem",
        "",
    )
    english = html.unescape(client.get(r.headers["location"].split("#")[0] + "&lang=en").text)
    assert f"The result for {target['uscc']} is recorded (no problem found)" in english


def test_a_visit_of_today_in_china_is_recorded_at_half_past_midnight(
    client: TestClient, world: World
) -> None:
    # The app's clock is 00:30 in Beijing, when the UTC date is still yesterday: the form offers today's
    # Chinese date and the service accepts it; the next day is refused as in the future.
    iid = busiest(client, world)
    target = pending_of(client, world, iid)[0]
    form = f"/ui/tasks/T1/results/{target['uscc']}"
    today = china_half_past_midnight().today()
    as_(client, world, iid)
    assert f'value="{today.isoformat()}"' in client.get(form).text
    data = {"outcome": "no_problem", "csrf": csrf(world, iid)}
    r = client.post(form, data={**data, "inspected_on": (today + timedelta(days=1)).isoformat()})
    assert 'data-field="inspected_on"' in error_page(r, 422) and result_of(world, target["uscc"]) is None
    assert client.post(form, data={**data, "inspected_on": today.isoformat()}).status_code == 303
    saved = result_of(world, target["uscc"])
    assert saved is not None and (saved.inspected_on, saved.recorded_by) == (today, iid)


def test_another_departments_tasks_are_not_shown(client: TestClient, world: World) -> None:
    as_(client, world, "other-department")
    assert re.findall(r'<tr data-task="([^"]+)">', client.get("/ui/tasks").text) == []
    uscc = api_list(client, world)[0]["uscc"]
    for path in ("/ui/tasks/T1", "/ui/tasks/T1/export.csv", f"/ui/tasks/T1/results/{uscc}"):
        assert "a department acts on its own tasks" in error_page(client.get(path), 403), path


# ------------------------------------------------------------------------------------------- export
def test_exports_are_the_apis(client: TestClient, world: World) -> None:
    entities = api_list(client, world)
    headers = world.city.tokens[Role.SUPERVISOR]
    as_(client, world, INSPECTORS[0])
    r = client.get("/ui/tasks/T1/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="T1.csv"' in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())
    assert r.content == client.get("/sampling/tasks/T1/export", headers=headers).content
    parsed = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    frame = pl.read_csv(io.BytesIO(r.content), infer_schema=False)
    assert frame.columns[0] == "task_id"  # polars drops the BOM
    assert [row["uscc"] for row in parsed] == [e["uscc"] for e in entities] == frame["uscc"].to_list()
    assert [row["outcome"] or None for row in parsed] == [e["outcome"] for e in entities]
    assert [row["inspectors"] for row in parsed] == [e["inspectors"] for e in entities]
    assert all(row["reasons"] == (e["reasons"] or "") for row, e in zip(parsed, entities, strict=True))

    x = client.get("/ui/tasks/T1/export.xlsx")
    assert x.status_code == 200 and 'filename="T1.xlsx"' in x.headers["content-disposition"]
    assert x.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None and sheet.title == "抽查名单" and sheet.max_row == len(entities) + 1
    heads = [c.value for c in sheet[1]]
    assert heads[2] == "统一社会信用代码 USCC"
    uscc_col, outcome_col = heads.index("统一社会信用代码 USCC"), heads.index("检查结果 outcome")
    got = [(row[uscc_col], row[outcome_col]) for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert got == [(e["uscc"], e["outcome"]) for e in entities]


# ------------------------------------------------------------------------------------------- languages
def test_every_page_renders_in_both_languages(client: TestClient, world: World) -> None:
    iid = busiest(client, world)
    uscc = pending_of(client, world, iid)[0]["uscc"]
    for who in (iid, Role.SUPERVISOR.value, Role.INSPECTOR.value):
        as_(client, world, who)
        for path in (
            "/ui/tasks",
            "/ui/tasks?scope=all",
            "/ui/tasks/T1",
            "/ui/tasks/T2",
            "/ui/tasks/T3",
            f"/ui/tasks/T1/results/{uscc}",
        ):
            zh = client.get(path + ("&" if "?" in path else "?") + "lang=zh")
            en = client.get(path + ("&" if "?" in path else "?") + "lang=en")
            assert zh.status_code == en.status_code == 200, (who, path, zh.text[-500:])
            assert '<html lang="zh-CN">' in zh.text and '<html lang="en">' in en.text
            assert i18n.t("nav.tasks", "zh") in zh.text and i18n.t("nav.tasks", "en") in en.text
    as_(client, world, iid)
    english = client.get("/ui/tasks?lang=en").text
    assert "My inspection tasks" in english and "Recorded / total" in english
    form = html.unescape(client.get(f"/ui/tasks/T1/results/{uscc}?lang=en").text)
    assert "Record the inspection result" in form and "serious violation" in form


# ------------------------------------------------------------------------------------------- browser
def test_an_inspector_records_a_result_in_a_real_browser(world: World) -> None:
    from tests.serving.browser import browser, login, serve

    with session_scope(world.city.engine) as session:
        listed = exports.export_frame(session, "T1").filter(pl.col("outcome").is_null())
    iid = max(INSPECTORS, key=lambda i: (listed["inspectors"].str.contains(i, literal=True).sum(), i))
    with (
        serve(
            create_app(world.city.settings, engine=world.city.engine, clock=china_half_past_midnight())
        ) as base,
        browser() as b,
    ):
        page = b.new_page()
        login(page, base, world.raw[iid])
        assert page.url == f"{base}/ui/tasks"
        assert page.locator("#me").inner_text() == iid
        page.click("#tasks a[href='/ui/tasks/T1']")
        page.wait_for_url(f"{base}/ui/tasks/T1")
        first = page.locator("#list tr.mine[data-state='pending']").first
        uscc = first.get_attribute("data-uscc")
        assert uscc is not None
        first.locator("a.record").click()
        page.wait_for_url(f"{base}/ui/tasks/T1/results/{uscc}")
        page.select_option("#outcome", "serious_violation")
        page.fill("#inspected_on", AS_OF.isoformat())
        page.fill("#findings", "无证经营")
        page.click("#result-form button[type=submit]")
        page.wait_for_url(f"{base}/ui/tasks/T1?recorded={uscc}#notice")
        assert uscc in page.locator("#notice").inner_text()
        assert page.locator(f"#row-{uscc}").get_attribute("data-state") == "done"
        assert (
            i18n.t("task.outcome.serious_violation", "zh")
            in page.locator(f"#row-{uscc} td.result").inner_text()
        )
    saved = result_of(world, uscc)
    assert saved is not None and (saved.outcome, saved.recorded_by, saved.findings) == (
        "serious_violation",
        iid,
        "无证经营",
    )
    with session_scope(world.city.engine) as session:
        # The last change on the task (the pages' reads of it are audited too).
        entry = [
            e for e in audit.entries(session, target="task:T1", limit=1000) if e.action != "sampling.task"
        ][-1]
        assert (entry.action, entry.result, entry.details["uscc"]) == ("sampling.result", "ok", uscc)


def test_an_inspector_filters_by_district_and_pages_in_a_real_browser(world: World) -> None:
    from tests.serving.browser import browser, login, screenshot, serve

    with session_scope(world.city.engine) as session:
        listed = exports.export_frame(session, "T1")["uscc"].to_list()
    where = districts_of(world)
    district = max(
        set(where.values()) & {where[u] for u in listed}, key=lambda d: sum(where[u] == d for u in listed)
    )
    expected = [u for u in listed if where[u] == district]
    assert len(expected) >= 3, "the city's largest district has at least three entities on the list"
    iid = INSPECTORS[0]
    with (
        serve(
            create_app(world.city.settings, engine=world.city.engine, clock=china_half_past_midnight())
        ) as base,
        browser() as b,
    ):
        page = b.new_page()
        login(page, base, world.raw[iid])
        page.goto(f"{base}/ui/tasks/T1?per_page=2&lang=en")
        assert page.locator("#list tbody tr").count() == 2
        assert page.locator("#shown").inner_text() == "showing 1–2 of 20"
        page.select_option("#f-district", district)
        page.click("#filters button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert f"district={district}" in page.url and "per_page=2" in page.url
        first = [page.locator("#list tbody tr").nth(i).get_attribute("data-uscc") for i in range(2)]
        assert first == expected[:2]
        page.click("#pager a[rel=next]")
        page.wait_for_load_state("networkidle")
        assert f"district={district}" in page.url and "page=2" in page.url
        assert page.locator("#f-district").input_value() == district
        second = page.locator("#list tbody tr").first.get_attribute("data-uscc")
        assert second == expected[2]
        assert page.locator("#shown").inner_text().startswith("showing 3–")
        assert f"of {len(expected)} (the list has 20)" in page.locator("#shown").inner_text()
        screenshot(page, "inspector-task-filtered")
