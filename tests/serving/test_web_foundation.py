"""The web pages' front door on a migrated SQLite database: login with a token (cookie, HttpOnly and
SameSite), the landing redirect by role, CSRF on forms, HTML errors, the two languages, shipped assets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from serving.api.app import create_app, role_matrix
from serving.settings import Settings
from serving.web import WEB_ROUTERS, auth, i18n
from serving.web.render import HERE, NAV
from supervision.platform import access, audit
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import entity_uscc


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def tokens(engine: sa.Engine) -> dict[Role, str]:
    with session_scope(engine) as session:
        return {
            r: access.create_token(session, name=f"{r.value}-user", role=r, uscc=entity_uscc(r)).token
            for r in Role
        }


@pytest.fixture
def client(engine: sa.Engine, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(home=tmp_path / "home"), engine=engine, clock=china_half_past_midnight())
    with TestClient(app, follow_redirects=False) as c:
        yield c


def login(client: TestClient, token: str, next_path: str = "") -> None:
    r = client.post("/ui/login", data={"token": token, "next": next_path})
    assert r.status_code == 303, r.text


def test_a_visitor_without_a_session_is_sent_to_login(client: TestClient) -> None:
    assert client.get("/").headers["location"] == "/ui"
    r = client.get("/ui?lang=en")
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?next=%2Fui%3Flang%3Den"


def test_login_sets_a_strict_httponly_cookie_and_lands_by_role(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    for role in (Role.SUPERVISOR, Role.INSPECTOR, Role.ANALYST):
        client.cookies.clear()
        r = client.post("/ui/login", data={"token": tokens[role]})
        assert r.status_code == 303
        assert r.headers["location"] == NAV[role][0][1]
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    # A role without pages lands on a page that says so.
    client.cookies.clear()
    login(client, tokens[Role.SYSTEM])
    r = client.get("/ui")
    assert r.status_code == 200 and i18n.t("home.no_pages", "zh") in r.text


def test_next_only_goes_to_this_sites_pages(client: TestClient, tokens: dict[Role, str]) -> None:
    r = client.post("/ui/login", data={"token": tokens[Role.SUPERVISOR], "next": "/ui/tasks"})
    assert r.headers["location"] == "/ui/tasks"
    for evil in ("https://evil.example/", "//evil.example/ui", "/entities"):
        r = client.post("/ui/login", data={"token": tokens[Role.SUPERVISOR], "next": evil})
        assert r.headers["location"] == "/ui/entities", evil


def test_a_bad_token_is_refused_on_the_form_and_audited(
    client: TestClient, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    r = client.post("/ui/login", data={"token": "cw_notarealtoken_0000"})
    assert r.status_code == 401
    assert i18n.t("login.failed", "zh") in r.text
    assert "set-cookie" not in r.headers
    with session_scope(engine) as session:
        last = audit.entries(session)[-1]
        assert (last.action, last.result, last.actor) == ("ui.login", "denied", "anonymous")
    login(client, tokens[Role.ANALYST])
    with session_scope(engine) as session:
        last = audit.entries(session)[-1]
        assert (last.action, last.result, last.actor) == (
            "ui.login",
            "ok",
            f"analyst-user#{list(Role).index(Role.ANALYST) + 1}",
        )


def test_a_revoked_token_ends_the_session(
    client: TestClient, engine: sa.Engine, tokens: dict[Role, str]
) -> None:
    login(client, tokens[Role.SUPERVISOR])
    with session_scope(engine) as session:
        principal = access.authenticate(session, tokens[Role.SUPERVISOR])
        assert principal is not None
        access.revoke_token(session, principal.token_id)
    r = client.get("/ui")
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?next=%2Fui&expired=1"


def test_forms_need_the_sessions_csrf_token(client: TestClient, tokens: dict[Role, str]) -> None:
    login(client, tokens[Role.INSPECTOR])
    r = client.post("/ui/logout", data={"csrf": "0" * 32})
    assert r.status_code == 403
    assert "text/html" in r.headers["content-type"] and 'data-status="403"' in r.text
    r = client.post("/ui/logout", data={"csrf": auth.csrf_token(client.cookies[auth.COOKIE])})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    assert client.get("/ui").headers["location"] == "/ui/login?next=%2Fui"  # the cookie is gone


def test_a_page_a_role_may_not_open_is_a_403_page(client: TestClient, tokens: dict[Role, str]) -> None:
    login(client, tokens[Role.SYSTEM])
    r = client.post("/ui/logout", data={"csrf": auth.csrf_token(client.cookies[auth.COOKIE])})
    assert r.status_code == 303  # every role may sign out
    # ...and the API keeps answering JSON: the HTML errors are for pages only.
    r = client.get("/tokens")
    assert r.status_code == 401 and r.json()["error"]["type"] == "unauthenticated"


def test_chinese_by_default_english_on_request_and_remembered(client: TestClient) -> None:
    r = client.get("/ui/login")
    assert '<html lang="zh-CN">' in r.text and i18n.t("login.title", "zh") in r.text
    r = client.get("/ui/login?lang=en")
    assert '<html lang="en">' in r.text and "Sign in" in r.text
    assert "cw_lang=en" in r.headers["set-cookie"]
    assert '<html lang="en">' in client.get("/ui/login").text  # the cookie keeps the choice
    assert '<html lang="zh-CN">' in client.get("/ui/login?lang=zh").text
    # The switch keeps the page's query (a search stays a search).
    r = client.get("/ui/login?next=%2Fui%2Fentities%3Fq%3Dabc&lang=zh")
    assert 'class="lang" href="/ui/login?next=%2Fui%2Fentities%3Fq%3Dabc&amp;lang=en"' in r.text


def test_every_message_has_both_languages() -> None:
    for key, (zh, en) in i18n.MESSAGES.items():
        assert zh.strip() and en.strip(), key
        assert re.search(r"[\u4e00-\u9fff]", zh) or key == "nav.language", key
    with pytest.raises(KeyError):
        i18n.t("no.such.key", "zh")


def test_every_page_route_declares_its_roles_and_stays_out_of_the_openapi_document(
    client: TestClient,
) -> None:
    rows = role_matrix(WEB_ROUTERS)
    assert rows and all(roles for _, _, roles in rows)
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/ui")]


def test_assets_ship_with_the_package_and_nothing_loads_from_elsewhere(client: TestClient) -> None:
    r = client.get("/ui/static/app.css")
    assert r.status_code == 200 and "text/css" in r.headers["content-type"]
    for path in (HERE / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path


def test_a_real_browser_signs_in_switches_language_and_signs_out(
    engine: sa.Engine, tokens: dict[Role, str], tmp_path: Path
) -> None:
    from tests.serving.browser import browser, login, serve

    app = create_app(Settings(home=tmp_path / "home"), engine=engine, clock=china_half_past_midnight())
    with serve(app) as base, browser() as b:
        page = b.new_page()
        page.goto(f"{base}/ui/login?lang=en")
        assert page.locator("h1").inner_text() == "Sign in"
        login(page, base, tokens[Role.SYSTEM])
        assert page.url == f"{base}/ui"
        assert i18n.t("home.no_pages", "en") in page.content()
        page.click("a.lang")  # to Chinese
        assert i18n.t("home.no_pages", "zh") in page.content()
        page.click("form[action='/ui/logout'] button")
        page.wait_for_url(f"{base}/ui/login")
        page.goto(f"{base}/ui")
        assert page.url.startswith(f"{base}/ui/login?next=")
