"""API tokens: shown once, stored only as a hash; authenticate gives the principal or None."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from supervision.platform import access
from supervision.platform.access import Role
from supervision.platform.db import session_scope


def _everything_stored(engine: sa.Engine) -> str:
    """Every value of every row of every table, as one string."""
    inspector = sa.inspect(engine)
    parts: list[str] = []
    with engine.connect() as connection:
        for name in inspector.get_table_names():
            for row in connection.execute(sa.text(f'SELECT * FROM "{name}"')):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_the_clear_token_is_nowhere_in_the_database(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        issued = [
            access.create_token(
                session,
                name=f"user {i}",
                role=role,
                uscc="91320902MA1ENT000Y" if role is Role.ENTITY else None,
            )
            for i, role in enumerate(Role)
        ]
    stored = _everything_stored(db_engine)
    for token in issued:
        # cw_<prefix>_<secret>: the secret itself may contain "_" (URL-safe base64), the prefix never does.
        secret = token.token.split("_", 2)[2]
        assert token.token not in stored
        assert secret not in stored
        assert secret[:16] not in stored
        assert hashlib.sha256(token.token.encode()).hexdigest() in stored  # only the digest is kept
        assert token.info.prefix in stored


def test_authenticate_returns_the_principal(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        issued = access.create_token(session, name="inspector-wang", role="inspector", created_by="root#1")
    with session_scope(db_engine) as session:
        principal = access.authenticate(session, issued.token)
    assert principal == access.Principal(token_id=issued.info.id, name="inspector-wang", role=Role.INSPECTOR)
    assert principal.actor == f"inspector-wang#{issued.info.id}"
    assert issued.token.startswith(f"cw_{issued.info.prefix}_")


def test_wrong_malformed_and_unknown_tokens_are_refused(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        issued = access.create_token(session, name="a", role="admin")
    good = issued.token
    flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
    unknown_prefix = "cw_000000000000_" + good.split("_", 2)[2]
    with session_scope(db_engine) as session:
        for bad in (
            flipped,
            unknown_prefix,
            "",
            "Bearer " + good,
            good + "x",
            good.upper(),
            "cw__",
            "x" * 5000,
        ):
            assert access.authenticate(session, bad) is None, bad


def test_revoked_and_expired_tokens_are_refused(db_engine: sa.Engine) -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    with session_scope(db_engine) as session:
        revoked = access.create_token(session, name="r", role="analyst")
        expiring = access.create_token(session, name="e", role="system", expires_at=now + timedelta(hours=1))
    with session_scope(db_engine) as session:
        first = access.revoke_token(session, revoked.info.id, now=now)
        again = access.revoke_token(session, revoked.info.id, now=now + timedelta(days=1))
    assert first.revoked_at == again.revoked_at == now  # revoking twice keeps the first time
    with session_scope(db_engine) as session:
        assert access.authenticate(session, revoked.token, now=now) is None
        assert access.authenticate(session, expiring.token, now=now) is not None
        assert access.authenticate(session, expiring.token, now=now + timedelta(hours=1)) is None
        with pytest.raises(access.TokenNotFound, match="no API token with id 999"):
            access.revoke_token(session, 999)


def test_list_shows_no_secrets(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        issued = access.create_token(session, name="a", role="supervisor")
        access.create_token(session, name="b", role="inspector")
    with session_scope(db_engine) as session:
        listed = access.list_tokens(session)
    assert [t.name for t in listed] == ["a", "b"]
    assert all(t.active for t in listed)
    shown = str([t.as_dict() for t in listed])
    assert issued.token not in shown and hashlib.sha256(issued.token.encode()).hexdigest() not in shown


def test_bad_role_and_name_are_refused(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        with pytest.raises(access.UnknownRole, match=r"unknown role 'root'.*inspector"):
            access.create_token(session, name="a", role="root")
        with pytest.raises(access.InvalidTokenName):
            access.create_token(session, name="a;drop", role="admin")
        with pytest.raises(access.InvalidTokenName):
            access.create_token(session, name="", role="admin")
    with session_scope(db_engine) as session:
        assert access.list_tokens(session) == []


def test_the_database_refuses_an_unknown_role(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        issued = access.create_token(session, name="a", role="admin")
    with pytest.raises(sa.exc.IntegrityError), db_engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE api_tokens SET role = 'root' WHERE id = {issued.info.id}")


def test_prefixes_are_unique_and_tokens_random(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        issued = [access.create_token(session, name=f"u{i}", role="inspector") for i in range(50)]
    assert len({t.info.prefix for t in issued}) == 50
    assert len({t.token for t in issued}) == 50


# --- the authentication cache ------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Sessions:
    """`open_session` for AuthCache that counts the database look-ups."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.opened = 0

    def __call__(self) -> Any:
        self.opened += 1
        return session_scope(self.engine)


def _revoke_elsewhere(engine: sa.Engine, token_id: int) -> None:
    """A revocation by another process (the CLI, another server): a plain UPDATE this process does not see."""
    with engine.begin() as connection:
        connection.execute(
            sa.update(access.ApiToken)
            .where(access.ApiToken.id == token_id)
            .values(revoked_at=datetime.now(UTC))
        )


def test_auth_cache_answers_a_burst_with_one_query(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        issued = access.create_token(session, name="burst", role="supervisor")
    sessions, clock = _Sessions(db_engine), _Clock()
    cache = access.AuthCache(2.0, clock=clock)
    got = {cache.authenticate(sessions, issued.token) for _ in range(50)}
    assert got == {access.Principal(token_id=issued.info.id, name="burst", role=Role.SUPERVISOR)}
    assert sessions.opened == 1
    clock.now += 2.0  # fresh for 2 s, then asked again
    assert cache.authenticate(sessions, issued.token) is not None
    assert sessions.opened == 2
    # Refusals are never kept: every bad attempt is a look-up (and the API limits them per address).
    for _ in range(3):
        assert cache.authenticate(sessions, issued.token[:-1] + "?") is None
    assert sessions.opened == 5
    assert issued.token not in repr(cache._entries)  # keyed by the digest, not the token


def test_a_revocation_elsewhere_takes_effect_within_the_ttl(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        issued = access.create_token(session, name="leaver", role="analyst")
    clock = _Clock()
    cache = access.AuthCache(2.0, clock=clock)
    assert cache.authenticate(_Sessions(db_engine), issued.token) is not None
    _revoke_elsewhere(db_engine, issued.info.id)
    clock.now += 1.9
    assert cache.authenticate(_Sessions(db_engine), issued.token) is not None  # still inside the TTL
    clock.now += 0.1
    assert cache.authenticate(_Sessions(db_engine), issued.token) is None  # TTL over: refused


def test_without_the_cache_a_revocation_elsewhere_is_refused_at_once(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        issued = access.create_token(session, name="leaver", role="analyst")
    sessions = _Sessions(db_engine)
    cache = access.AuthCache(0)
    assert cache.authenticate(sessions, issued.token) is not None
    assert cache.authenticate(sessions, issued.token) is not None
    assert sessions.opened == 2  # off: every request asks
    _revoke_elsewhere(db_engine, issued.info.id)
    assert cache.authenticate(sessions, issued.token) is None
    with pytest.raises(ValueError, match="must be >= 0"):
        access.AuthCache(-1)


def test_a_revocation_in_this_process_empties_the_cache_at_once(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        issued = access.create_token(session, name="leaver", role="analyst")
    cache = access.AuthCache(3600.0)
    assert cache.authenticate(_Sessions(db_engine), issued.token) is not None
    with session_scope(db_engine) as session:
        access.revoke_token(session, issued.info.id)
    assert cache.peek(issued.token) is None
    assert cache.authenticate(_Sessions(db_engine), issued.token) is None


def test_a_cached_token_does_not_outlive_its_expiry(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        issued = access.create_token(
            session, name="brief", role="system", expires_at=datetime.now(UTC) + timedelta(seconds=0.5)
        )
    cache = access.AuthCache(3600.0)
    assert cache.authenticate(_Sessions(db_engine), issued.token) is not None
    assert cache.peek(issued.token) is not None
    time.sleep(0.6)
    assert cache.peek(issued.token) is None
    assert cache.authenticate(_Sessions(db_engine), issued.token) is None
