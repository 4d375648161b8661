"""Resident identity numbers (GB 11643-1999): check digit, pseudonymous key, masking, birth date.

Raw ID numbers never enter the lake: ingest replaces them by :func:`person_key` (an HMAC-SHA256 with the
operator's secret key, ``person_salt``) and keeps only :func:`mask` (first 6 + ``********`` + last 4,
domain-rules §9) and the birth *year*, which the minors rule needs (a minor's records are never published).
The full birth date is never stored: the middle 8 digits of a number are its birth date, so the masked form
and the birth date together would give the whole number back (the check digit is computable); with the
year only, about 33 numbers fit each masked form (365 days, one in 11 with the right check digit), and the
key cannot be tried against them without the secret key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

import polars as pl

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
PATTERN = r"^[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]$"
_RE = re.compile(PATTERN)


def check_digit(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    return CHECK[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def is_valid(number: str) -> bool:
    """18 characters, a real birth date, and the right check character."""
    if not _RE.match(number):
        return False
    try:
        birth_date(number)
    except ValueError:
        return False
    return check_digit(number[:17]) == number[17]


def birth_date(number: str) -> date:
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def birth_year(number: str) -> int:
    return int(number[6:10])


def person_key(number: str, *, salt: str) -> str:
    """The pseudonymous key of a person: HMAC-SHA256 of the number under the secret key `salt`, hex.

    A keyed hash, not a salted one: without the key the ~33 numbers that fit a masked form and a birth
    year cannot be tried against a key (the old ``sha256(salt:number)`` could, with the demo salt).
    """
    return hmac.new(salt.encode(), number.encode(), hashlib.sha256).hexdigest()


def mask(number: str) -> str:
    """First 6 + ``********`` + last 4: the display form (a convention, not a regulation)."""
    return number[:6] + "********" + number[-4:]


MASKED_PATTERN = r"^[0-9]{6}\*{8}[0-9]{3}[0-9X]$"
KEY_PATTERN = r"^[0-9a-f]{64}$"


def valid_expr(number: pl.Expr) -> pl.Expr:
    """Vectorised :func:`is_valid` (null stays null)."""
    digits = [number.str.slice(i, 1).cast(pl.Int64, strict=False) * w for i, w in enumerate(WEIGHTS)]
    expected = (pl.sum_horizontal(digits) % 11).replace_strict(dict(enumerate(CHECK)), return_dtype=pl.String)
    real_date = number.str.slice(6, 8).str.to_date("%Y%m%d", strict=False).is_not_null()
    return number.str.contains(PATTERN) & real_date & (number.str.slice(17, 1) == expected)


def person_key_expr(number: pl.Expr, *, salt: str) -> pl.Expr:
    """Vectorised :func:`person_key`."""
    return number.map_elements(lambda s: person_key(s, salt=salt), return_dtype=pl.String)


def mask_expr(number: pl.Expr) -> pl.Expr:
    return pl.concat_str(number.str.slice(0, 6), pl.lit("********"), number.str.slice(14, 4))


def birth_date_expr(number: pl.Expr) -> pl.Expr:
    return number.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)


def birth_year_expr(number: pl.Expr) -> pl.Expr:
    """The birth year of a number (what the lake keeps; never the date: see the module's docstring)."""
    return number.str.slice(6, 4).cast(pl.Int32, strict=False)
