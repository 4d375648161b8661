"""The pages' sessions and headers (issue 17): the cookie holds a server-side session id, never the API
token; logout and expiry end the session on the server; a form posted from another site is refused, the login
included; every answer carries the security headers, the pages their content security policy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from serving.api.app import create_app
from serving.api.limits import PAGE_CSP
from serving.settings import Settings
from serving.web import auth
from supervision.platform import access
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def token(engine: sa.Engine) -> str:
    with session_scope(engine) as session:
        return access.create_token(session, name="sup-user", role=Role.SUPERVISOR).token


def _client(engine: sa.Engine, tmp_path: Path, **settings: object) -> TestClient:
    app = create_app(
        Settings(home=tmp_path / "home", **settings), engine=engine, clock=china_half_past_midnight()
    )  # type: ignore[arg-type]
    return TestClient(app, follow_redirects=False)


def _signed_in(client: TestClient) -> bool:
    """Whether `client`'s cookie opens the pages (the landing redirect goes to a page, not to the login)."""
    r = client.get("/ui")
    assert r.status_code == 303, r.text
    return not r.headers["location"].startswith("/ui/login")


def test_the_cookie_holds_a_session_id_not_the_token(engine: sa.Engine, tmp_path: Path, token: str) -> None:
    with _client(engine, tmp_path) as client:
        r = client.post("/ui/login", data={"token": token})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        sid = client.cookies[auth.COOKIE]
        assert token not in cookie and sid != token and access.SESSION_PATTERN.match(sid)
        assert (
            "httponly" in cookie.lower()
            and "samesite=strict" in cookie.lower()
            and "path=/ui" in cookie.lower()
        )
        assert "secure" not in cookie.lower()  # plain HTTP without secure_cookies
        assert _signed_in(client)
    with session_scope(engine) as s:
        stored = s.scalars(sa.select(access.WebSession)).one()
        assert stored.session_hash == access.hash_token(sid) and stored.ended_at is None


def test_logout_ends_the_session_on_the_server(engine: sa.Engine, tmp_path: Path, token: str) -> None:
    with _client(engine, tmp_path) as client:
        client.post("/ui/login", data={"token": token})
        sid = client.cookies[auth.COOKIE]
        r = client.post("/ui/logout", data={"csrf": auth.csrf_token(sid)})
        assert r.status_code == 303
    # A copy of the cookie taken before the logout is dead: the session ended in the database.
    with _client(engine, tmp_path) as thief:
        thief.cookies.set(auth.COOKIE, sid, path="/ui")
        assert not _signed_in(thief)
    with session_scope(engine) as s:
        assert s.scalars(sa.select(access.WebSession)).one().ended_at is not None


def test_a_session_expires(engine: sa.Engine, token: str) -> None:
    with session_scope(engine) as s:
        principal = access.authenticate(s, token)
        assert principal is not None
        started = datetime.now(UTC) - timedelta(hours=9)
        sid = access.start_session(s, principal, hours=8, now=started)
        assert access.session_principal(s, sid, now=started + timedelta(hours=7)) is not None
        assert access.session_principal(s, sid) is None  # 9 hours later
        assert access.session_principal(s, "not-a-session-id") is None
        with pytest.raises(ValueError, match="positive number of hours"):
            access.start_session(s, principal, hours=0)


def test_the_session_is_secure_over_https_or_when_configured(
    engine: sa.Engine, tmp_path: Path, token: str
) -> None:
    with _client(engine, tmp_path, secure_cookies=True) as client:
        assert "secure" in client.post("/ui/login", data={"token": token}).headers["set-cookie"].lower()
    app = create_app(Settings(home=tmp_path / "home"), engine=engine, clock=china_half_past_midnight())
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert "secure" in client.post("/ui/login", data={"token": token}).headers["set-cookie"].lower()


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver"},
    ],
    ids=["other-origin", "opaque-origin", "cross-site", "same-site-subdomain"],
)
def test_a_login_posted_from_another_site_is_refused(
    engine: sa.Engine, tmp_path: Path, token: str, headers: dict[str, str]
) -> None:
    with _client(engine, tmp_path) as client:
        r = client.post("/ui/login", data={"token": token}, headers=headers)
        assert r.status_code == 403 and "set-cookie" not in r.headers
        assert 'data-status="403"' in r.text
    with session_scope(engine) as s:
        assert s.scalars(sa.select(access.WebSession)).all() == []


def test_a_login_from_this_site_is_accepted(engine: sa.Engine, tmp_path: Path, token: str) -> None:
    with _client(engine, tmp_path) as client:
        for headers in ({"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin"}, {}):
            client.cookies.clear()
            assert client.post("/ui/login", data={"token": token}, headers=headers).status_code == 303


def test_a_page_form_from_another_site_is_refused_even_with_the_token(
    engine: sa.Engine, tmp_path: Path, token: str
) -> None:
    with _client(engine, tmp_path) as client:
        client.post("/ui/login", data={"token": token})
        csrf = auth.csrf_token(client.cookies[auth.COOKIE])
        r = client.post("/ui/logout", data={"csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        assert _signed_in(client)  # still signed in


def test_security_headers(engine: sa.Engine, tmp_path: Path) -> None:
    with _client(engine, tmp_path) as client:
        page = client.get("/ui/login")
        assert page.headers["content-security-policy"] == PAGE_CSP
        assert "script-src 'self'" in PAGE_CSP and "frame-ancestors 'none'" in PAGE_CSP
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        api = client.get("/health")
        assert api.headers["x-content-type-options"] == "nosniff"
        assert api.headers["referrer-policy"] == "no-referrer"
        assert api.headers["cache-control"] == "no-store"
        assert "content-security-policy" not in api.headers
        css = client.get("/ui/static/app.css")
        assert css.status_code == 200 and css.headers["cache-control"] == "no-cache"
        refused = client.get("/entities")  # an error answer carries them too
        assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"
