"""Token buckets in the operational database, shared by every process that serves the API: (key, rate,
burst) in, "allowed" or the tokens left out — one atomic statement per request.

Each bucket is one row (``rate_buckets``: key, tokens, stamp, allowed). :func:`take` refills the bucket by
the time since its stamp, takes one token if there is one and returns the verdict, all in a single
``INSERT … ON CONFLICT DO UPDATE … RETURNING``: on PostgreSQL the conflicting row is locked for the update,
so concurrent requests of one key from several processes are applied one after the other, never both from
the same old value; on SQLite the statement holds the database's write lock. Time is the database's clock
(``clock_timestamp()`` on PostgreSQL, ``julianday('now')`` on SQLite), so replicas on several machines with
skewed clocks still refill one bucket at one rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from supervision.platform.db import Base

__all__ = ["RateBucket", "Taken", "prune", "take"]

SEPARATOR = "|"  # between a limiter's name and the caller's key: "api|token:12"


class RateBucket(Base):
    """One caller's token bucket (of one limiter: the key starts with the limiter's name)."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    tokens: Mapped[float] = mapped_column(sa.Double)  # after the latest request
    stamp: Mapped[float] = mapped_column(sa.Double)  # seconds since the epoch, the database's clock
    allowed: Mapped[bool]  # the latest request's verdict (RETURNING reads it back)


@dataclass(frozen=True, slots=True)
class Taken:
    """The verdict on one request: allowed, and the tokens left (refused: the tokens there were, < 1)."""

    allowed: bool
    tokens: float


def _refilled(least: str, greatest: str) -> str:
    return f"{least}(:burst, b.tokens + {greatest}(0.0, excluded.stamp - b.stamp) * :rate)"


def _upsert(now: str, least: str, greatest: str, true: str) -> sa.TextClause:
    full = _refilled(least, greatest)
    # In SET, `b.` is the row before this statement; `excluded.stamp` is the database's "now".
    return sa.text(
        f"INSERT INTO rate_buckets AS b (key, tokens, stamp, allowed) "
        f"VALUES (:key, :burst - 1.0, {now}, {true}) "
        f"ON CONFLICT (key) DO UPDATE SET "
        f"tokens = {full} - CASE WHEN {full} >= 1.0 THEN 1.0 ELSE 0.0 END, "
        f"allowed = {full} >= 1.0, "
        f"stamp = {greatest}(b.stamp, excluded.stamp) "
        f"RETURNING allowed, tokens"
    ).bindparams(sa.bindparam("rate", type_=sa.Double), sa.bindparam("burst", type_=sa.Double))


_NOW = {
    "postgresql": "CAST(extract(epoch FROM clock_timestamp()) AS double precision)",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}
_TAKE = {
    "postgresql": _upsert(_NOW["postgresql"], "least", "greatest", "true"),
    "sqlite": _upsert(_NOW["sqlite"], "min", "max", "1"),
}
_PRUNE = {
    name: sa.text(f"DELETE FROM rate_buckets WHERE key LIKE :prefix AND stamp < {now} - :horizon").bindparams(
        sa.bindparam("horizon", type_=sa.Double)
    )
    for name, now in _NOW.items()
}


def _dialect(connection: sa.Connection) -> str:
    name = connection.dialect.name
    if name not in _TAKE:
        raise ValueError(f"rate buckets: database {name!r} is not supported (postgresql, sqlite)")
    return name


def take(connection: sa.Connection, key: str, *, rate: float, burst: int) -> Taken:
    """Take one token from `key`'s bucket (`rate` tokens per second, at most `burst`), in the caller's
    transaction: commit it at once (the row stays locked until then)."""
    if rate <= 0 or burst < 1:
        raise ValueError(f"rate={rate}, burst={burst}: rate must be > 0 and burst >= 1")
    row = connection.execute(
        _TAKE[_dialect(connection)], {"key": key, "rate": rate, "burst": float(burst)}
    ).one()
    return Taken(bool(row.allowed), float(row.tokens))


def prune(connection: sa.Connection, prefix: str, *, horizon: float) -> int:
    """Delete the buckets of keys starting with `prefix` untouched for `horizon` seconds — full again, they
    carry nothing — and return how many."""
    if any(c in prefix for c in "%_\\"):
        raise ValueError(f"prefix {prefix!r}: no LIKE wildcards")
    result = connection.execute(_PRUNE[_dialect(connection)], {"prefix": f"{prefix}%", "horizon": horizon})
    return int(result.rowcount or 0)
