"""API tokens: shown once, stored only as a hash; authenticate gives the principal or None."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from supervision import access
from supervision.access import Role
from supervision.db import session_scope


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
        issued = [access.create_token(session, name=f"user {i}", role=role) for i, role in enumerate(Role)]
    stored = _everything_stored(db_engine)
    for token in issued:
        secret = token.token.rsplit("_", 1)[1]
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
    unknown_prefix = "cw_000000000000_" + good.rsplit("_", 1)[1]
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
