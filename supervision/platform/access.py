"""API tokens and roles: a name and a role in, a token shown once out; a presented token in, a principal out.

Tokens look like ``cw_<prefix>_<secret>``: the prefix (public, unique) finds the row, and only the SHA-256 of
the whole token is stored, so the clear token exists nowhere but with its holder. A plain SHA-256 suffices
(no slow password hash) because the secret is 256 random bits, not something a person chose.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from features import uscc as uscc_codes
from supervision.platform.db import Base
from supervision.platform.errors import DomainError, NotFoundError

TOKEN_PATTERN = re.compile(r"^cw_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
NAME_PATTERN = re.compile(r"^[\w.@ -]{1,100}$")
# A department's name (市场监管局, 生态环境局 …): letters of any script, digits, spaces and a few separators.
DEPARTMENT_PATTERN = re.compile(r"^[\w()（）·. -]{1,128}$")
# GB/T 2260 administrative division of the department: 6 digits (320900 the city, 320902 a district).
DIVISION_PATTERN = re.compile(r"^\d{6}$")
PERSON_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# A page session id: 32 random bytes, URL-safe base64.
SESSION_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")


class Role(StrEnum):
    """Who may do what; the route → role matrix is in docs/api.md."""

    INSPECTOR = "inspector"  # 执法检查人员: sampling lists, recording results
    ANALYST = "analyst"  # 数据分析: data, models
    SUPERVISOR = "supervisor"  # 监管负责人: entity look-ups, audit of draws
    ADMIN = "admin"  # users, tokens, policy, audit log
    SYSTEM = "system"  # another government system (逢办必查 checks)
    # 市场主体: the regulated entity itself, in the credit service zone (信用服务专区). Its token is bound to
    # one USCC and stands in for the electronic business licence; it sees and acts on that USCC only.
    ENTITY = "entity"


# The government's own roles: everything but the regulated entity. A use case declared with ``roles=None``
# admits these (serving.services.context.use_case); the entity is admitted only where a use case names it.
STAFF_ROLES: frozenset[Role] = frozenset(Role) - {Role.ENTITY}


class ApiToken(Base):
    """One issued token: its lookup prefix and hash, never the token itself."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        sa.CheckConstraint(
            "role IN ('inspector', 'analyst', 'supervisor', 'admin', 'system', 'entity')", name="role"
        ),
        sa.CheckConstraint("length(token_hash) = 64", name="token_hash_length"),
        # An entity token is bound to one USCC, and only an entity token is (migration 0016).
        sa.CheckConstraint("(role = 'entity') = (uscc IS NOT NULL)", name="entity_uscc"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[str] = mapped_column(sa.String(16))
    prefix: Mapped[str] = mapped_column(sa.String(12), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(sa.String(200))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # Who the holder is: a person (staff or roster id) in a department of a division (migration 0010).
    # Tokens issued before that migration have none: they may read, but no department-bound action.
    department: Mapped[str | None] = mapped_column(sa.String(128))
    division: Mapped[str | None] = mapped_column(sa.String(6))
    person_id: Mapped[str | None] = mapped_column(sa.String(64))
    # The USCC an entity token is bound to (role ``entity`` only).
    uscc: Mapped[str | None] = mapped_column(sa.String(18), index=True)


class UnknownRole(DomainError, ValueError):
    """A role name outside :class:`Role`."""

    def __init__(self, role: str) -> None:
        super().__init__(f"unknown role {role!r}: expected one of {', '.join(r.value for r in Role)}")
        self.field = "role"


class InvalidTokenName(DomainError, ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"token name {name!r}: 1-100 letters, digits, spaces or . _ @ - "
            "(it names the holder in the audit log)"
        )
        self.field = "name"


class InvalidIdentity(DomainError, ValueError):
    """A department, division or person id that does not fit its pattern."""

    def __init__(self, field: str, value: str, rule: str) -> None:
        super().__init__(f"{field} {value!r}: {rule}", field=field)


class TokenNotFound(NotFoundError):
    def __init__(self, token_id: int) -> None:
        super().__init__(f"no API token with id {token_id}")
        self.token_id = token_id


def division_level(division: str) -> str:
    """The administrative level of a GB/T 2260 division code: ``province`` (320000), ``city`` (320900) or
    ``county`` (320902: districts and counties alike)."""
    if division.endswith("0000"):
        return "province"
    if division.endswith("00"):
        return "city"
    return "county"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who acts: a person (``name``, ``person_id``) in a department of a division, with a role.

    ``token_id`` 0 is the local operator of the CLI without a token (``cli:<login>``): no role, no department,
    admitted only by use cases that run on one's own machine (ingest, build, train, score, database set-up).
    """

    token_id: int
    name: str
    role: Role | None
    department: str | None = None
    division: str | None = None
    person_id: str | None = None
    # The entity's own USCC (role ``entity``): the only one it may see or act on.
    uscc: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller: the holder's name and the token id."""
        return f"{self.name}#{self.token_id}"

    @property
    def role_name(self) -> str | None:
        return None if self.role is None else self.role.value

    @property
    def audience(self) -> str:
        """Whose masking rules apply (supervision.platform.masking): the role's, or the public's without
        one."""
        return "public" if self.role is None else self.role.value

    @property
    def is_entity(self) -> bool:
        """The regulated entity itself (its token bound to :attr:`uscc`)."""
        return self.role is Role.ENTITY

    @property
    def level(self) -> str | None:
        """The administrative level of the actor's department (from its division), if known."""
        return None if self.division is None else division_level(self.division)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What may be listed about a token (never the token or its hash)."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    department: str | None = None
    division: str | None = None
    person_id: str | None = None
    uscc: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > datetime.now(UTC))

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "prefix": self.prefix,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "department": self.department,
            "division": self.division,
            "person_id": self.person_id,
            "uscc": self.uscc,
            "active": self.active,
        }


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A newly created token: ``token`` is the only time the clear value exists outside its holder."""

    info: TokenInfo
    token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UnknownRole(str(role)) from None


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        department=row.department,
        division=row.division,
        person_id=row.person_id,
        uscc=row.uscc,
    )


def create_token(
    session: Session,
    *,
    name: str,
    role: str | Role,
    created_by: str | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
    department: str | None = None,
    division: str | None = None,
    person_id: str | None = None,
    uscc: str | None = None,
) -> IssuedToken:
    """Issue a token for `name` (a person `person_id` in `department` of `division`) with `role`; store its
    hash; return the clear token once. An ``entity`` token is bound to `uscc` (a valid GB 32100 code) and to
    no department: it stands in for the entity's electronic business licence."""
    checked = parse_role(role)
    if checked is Role.ENTITY:
        if uscc is None:
            raise InvalidIdentity("uscc", "", "an entity token is bound to the entity's USCC (--uscc)")
        verdict = uscc_codes.validate(uscc)
        if not verdict.ok:
            raise InvalidIdentity("uscc", uscc, f"not a valid unified social credit code ({verdict.reason})")
        if department is not None or division is not None:
            raise InvalidIdentity(
                "department", department or division or "", "an entity token belongs to no department"
            )
    elif uscc is not None:
        raise InvalidIdentity("uscc", uscc, "only an entity token is bound to a USCC (--role entity)")
    if not NAME_PATTERN.match(name):
        raise InvalidTokenName(name)
    if department is not None and not DEPARTMENT_PATTERN.match(department):
        raise InvalidIdentity("department", department, "1-128 letters, digits, spaces or ()（）·.-")
    if division is not None and not DIVISION_PATTERN.match(division):
        raise InvalidIdentity("division", division, "a 6-digit GB/T 2260 division code, e.g. 320902")
    if person_id is not None and not PERSON_PATTERN.match(person_id):
        raise InvalidIdentity("person_id", person_id, "1-64 letters, digits or _ . -")
    prefix = secrets.token_hex(6)  # 12 lowercase hex characters
    token = f"cw_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(
        name=name,
        role=checked.value,
        prefix=prefix,
        token_hash=hash_token(token),
        created_at=now or datetime.now(UTC),
        created_by=created_by,
        expires_at=expires_at,
        revoked_at=None,
        department=department,
        division=division,
        person_id=person_id,
        uscc=uscc,
    )
    session.add(row)
    session.flush()
    return IssuedToken(info=_info(row), token=token)


def revoke_token(session: Session, token_id: int, *, now: datetime | None = None) -> TokenInfo:
    """Revoke a token (idempotent: the first revocation time is kept); TokenNotFound if there is none."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise TokenNotFound(token_id)
    if row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
        session.flush()
    _revoked_in_process()
    return _info(row)


def list_tokens(session: Session) -> list[TokenInfo]:
    return [_info(row) for row in session.execute(sa.select(ApiToken).order_by(ApiToken.id)).scalars()]


def _lookup(session: Session, token: str, now: datetime) -> tuple[Principal, datetime | None] | None:
    """The principal holding `token` and its expiry, or None if malformed, unknown, revoked or expired."""
    match = TOKEN_PATTERN.match(token)
    if match is None:
        return None
    row = session.execute(sa.select(ApiToken).where(ApiToken.prefix == match.group(1))).scalar_one_or_none()
    # Compare digests in constant time, and hash even when the prefix is unknown, so timing says nothing.
    presented = hash_token(token)
    if row is None or not hmac.compare_digest(presented, row.token_hash):
        return None
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return _principal(row), row.expires_at


def _principal(row: ApiToken) -> Principal:
    return Principal(
        token_id=row.id,
        name=row.name,
        role=Role(row.role),
        department=row.department,
        division=row.division,
        person_id=row.person_id,
        uscc=row.uscc,
    )


def authenticate(session: Session, token: str, *, now: datetime | None = None) -> Principal | None:
    """The principal holding `token`, or None if it is malformed, unknown, revoked or expired."""
    found = _lookup(session, token, now or datetime.now(UTC))
    return found[0] if found is not None else None


class WebSession(Base):
    """One signed-in page visitor: the pages' cookie holds a random session id (only its SHA-256 is stored),
    never the API token, and logout or expiry ends the session here, so a copied cookie dies with it."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        sa.CheckConstraint("length(session_hash) = 64", name="session_hash_length"),
        sa.Index("ix_web_sessions_token_id", "token_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    session_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_id: Mapped[int] = mapped_column(sa.ForeignKey("api_tokens.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


def start_session(
    session: Session, principal: Principal, *, hours: float, now: datetime | None = None
) -> str:
    """A new page session of `principal` for `hours`; returns the session id (shown once, to the cookie)."""
    if hours <= 0:
        raise ValueError(f"a page session lasts a positive number of hours, got {hours!r}")
    started = now or datetime.now(UTC)
    sid = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            session_hash=hash_token(sid),
            token_id=principal.token_id,
            created_at=started,
            expires_at=started + timedelta(hours=hours),
            ended_at=None,
        )
    )
    session.flush()
    return sid


def session_principal(session: Session, sid: str, *, now: datetime | None = None) -> Principal | None:
    """The principal of a live page session: not ended, not expired, and its token still valid."""
    if not SESSION_PATTERN.match(sid):
        return None
    at = now or datetime.now(UTC)
    row = session.execute(
        sa.select(WebSession, ApiToken)
        .join(ApiToken, ApiToken.id == WebSession.token_id)
        .where(WebSession.session_hash == hash_token(sid))
    ).one_or_none()
    if row is None:
        return None
    web, token = row
    if web.ended_at is not None or web.expires_at <= at:
        return None
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= at):
        return None
    return _principal(token)


def end_session(session: Session, sid: str, *, now: datetime | None = None) -> bool:
    """End the page session `sid` (logout); False if there was no live one."""
    if not SESSION_PATTERN.match(sid):
        return False
    row = session.execute(
        sa.select(WebSession).where(WebSession.session_hash == hash_token(sid), WebSession.ended_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        return False
    row.ended_at = now or datetime.now(UTC)
    return True


# Revocations made by this process (API or CLI in it): every AuthCache forgets what it holds at the next look.
_revocations = 0
_revocations_lock = threading.Lock()


def _revoked_in_process() -> None:
    global _revocations
    with _revocations_lock:
        _revocations += 1


class AuthCache:
    """Token → principal for at most `seconds` after the database said yes, so that a burst of requests with
    one token costs one query instead of one each.

    The price: a token revoked or expired elsewhere (another process, the CLI) may still be accepted for up to
    `seconds` after that; a revocation by this process (:func:`revoke_token`) empties the cache at once, and
    an entry never outlives its token's ``expires_at``. Refusals are never cached. ``seconds=0`` turns it off.
    Keys are the tokens' SHA-256, so the clear token is not kept. Thread-safe.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds < 0:
            raise ValueError(f"auth cache seconds={seconds}: must be >= 0 (0 turns the cache off)")
        self.seconds = seconds
        self.clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._generation = _revocations
        self._lock = threading.Lock()

    def peek(self, token: str) -> Principal | None:
        """The cached principal of `token` if it is still fresh; None means "ask the database"."""
        if self.seconds <= 0:
            return None
        key = hash_token(token)
        with self._lock:
            if self._generation != _revocations:
                self._entries.clear()
                self._generation = _revocations
                return None
            hit = self._entries.get(key)
            if hit is None:
                return None
            if hit[1] <= self.clock():
                del self._entries[key]
                return None
            return hit[0]

    def authenticate(
        self, open_session: Callable[[], AbstractContextManager[Session]], token: str
    ) -> Principal | None:
        """Like :func:`authenticate`, answering from the cache when it can (`open_session` on a miss)."""
        cached = self.peek(token)
        if cached is not None:
            return cached
        generation = _revocations
        started = self.clock()
        now = datetime.now(UTC)
        with open_session() as session:
            found = _lookup(session, token, now)
        if found is None:
            return None
        principal, expires_at = found
        if self.seconds > 0:
            until = started + self.seconds
            if expires_at is not None:
                until = min(until, started + (expires_at - now).total_seconds())
            with self._lock:
                # A revocation in this process while we looked may concern this very token: do not keep it.
                if generation == _revocations == self._generation:
                    if len(self._entries) >= self.MAX_ENTRIES:
                        self._entries.clear()
                    self._entries[hash_token(token)] = (principal, until)
        return principal
