"""Personal numbers out of free text: ID numbers, phone numbers and bank-card numbers, masked.

One function, :func:`scrub`, used on the way in (ingest, on the catalog's ``free_text`` fields) and on every
way out (supervision.platform.masking.mask_free_text: pages, API, reports, public exports). What it finds:

- resident ID numbers: 18 characters shaped like GB 11643 (area, a real-looking birth date) whatever the
  check digit, or any 17 digits and an ``X`` → ``320102********123X``; old 15-digit numbers →
  ``320102******123``;
- mainland mobile numbers ``1[3-9]`` + 9 digits, with or without ``+86`` / ``86`` / ``0086`` →
  ``138****5678``; landlines with an area code (``0`` + 2–3 digits, then 7–8 digits) → ``0571****21``;
- bank cards: 16–19 digits passing the Luhn check → ``6222 **** **** 1234``;
- any other run of 15 or more digits (an unrecognised long number is more likely personal than not) →
  first 4 + ``****`` + last 4.

Numbers are recognised however they are written: full-width digits (``１３８``), split by spaces or dashes
(``138-1234-5678``, ``3201 0219 9003 0712 3X``), next to Chinese characters (``电话13812345678联系``).
A landline written without its area code (7–8 digits) is left alone: it cannot be told from an amount.
"""

from __future__ import annotations

import re

import polars as pl

# Full-width digits and X (and the full-width plus) as their ASCII twins: one character for one, so spans
# found in the normalised text are spans of the original.
_WIDE = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)}, "Ｘ": "X", "ｘ": "x", "＋": "+"})
# Up to three separator characters between two digits: spaces (also no-break and ideographic), dashes,
# brackets (``(0571)87654321``).
_SEP = "[ \t\u00a0\u3000\\-\u2010-\u2015\u2212\uff0d()\uff08\uff09]{0,3}"
_RUN = re.compile(rf"[0-9](?:{_SEP}[0-9])*(?:{_SEP}[Xx](?![A-Za-z]))?")
_GROUP = re.compile(r"[0-9]+[Xx]?|[Xx]")

_ID18 = re.compile(
    r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]"
)
_ID15 = re.compile(r"[1-9][0-9]{5}[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}")
_MOBILE = re.compile(r"(?:0086|86)?(1[3-9][0-9]{9})")
_LANDLINE = re.compile(r"(?:(?:0086|86)0?|0)([12][0-9]|[3-9][0-9]{2})([1-9][0-9]{6,7})")
_LONGEST = 19 + 4  # the longest number recognised (a 19-digit card; 0086 + a 12-digit landline is shorter)
LONG_RUN = 15


def luhn(digits: str) -> bool:
    """The Luhn check of a bank-card number (digits only)."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _masked(number: str) -> str | None:
    """The masked form of one number (digits and a final X only), or None when it is not personal."""
    upper = number.upper()
    if len(upper) == 18 and (_ID18.fullmatch(upper) or upper.endswith("X")):
        return upper[:6] + "*" * 8 + upper[-4:]
    if "X" in upper:
        return None
    if _MOBILE.fullmatch(number):
        mobile = _MOBILE.fullmatch(number).group(1)  # type: ignore[union-attr]
        return mobile[:3] + "****" + mobile[-4:]
    found = _LANDLINE.fullmatch(number)
    if found:
        area, local = found.groups()
        return "0" + area + "*" * (len(local) - 2) + local[-2:]
    if len(number) == 15 and _ID15.fullmatch(number):
        return number[:6] + "*" * 6 + number[-3:]
    if 16 <= len(number) <= 19 and luhn(number):
        return number[:4] + " **** **** " + number[-4:]
    return None


def _scrub_run(run: str) -> list[tuple[int, int, str]]:
    """Replacements (start, end, masked) inside one run of digits and separators: the longest sequence of
    its groups that is a personal number wins, from the left."""
    groups = [(m.start(), m.end(), m.group(0)) for m in _GROUP.finditer(run)]
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(groups):
        found = None
        digits = ""
        ends: list[tuple[int, str]] = []
        for j in range(i, len(groups)):
            digits += groups[j][2]
            if len(digits) > _LONGEST or ("X" in digits.upper()[:-1]):
                break
            ends.append((j, digits))
        for j, number in reversed(ends):
            masked = _masked(number)
            if masked is not None:
                found = (j, masked)
                break
        if found is None:
            if len(groups[i][2]) >= LONG_RUN:  # a long unbroken run nobody recognised
                out.append((groups[i][0], groups[i][1], groups[i][2][:4] + "****" + groups[i][2][-4:]))
            i += 1
            continue
        j, masked = found
        out.append((groups[i][0], groups[j][1], masked))
        i = j + 1
    return out


def scrub(text: str) -> str:
    """`text` with every ID, phone and bank-card number in it replaced by its masked form."""
    normal = text.translate(_WIDE)
    pieces: list[str] = []
    last = 0
    for run in _RUN.finditer(normal):
        for start, end, masked in _scrub_run(run.group(0)):
            begin = run.start() + start
            if normal[max(0, begin - 1)] == "+" and begin > 0 and masked[:1] != "+":
                begin -= 1  # a "+86" prefix goes with the number
            pieces.append(text[last:begin])
            pieces.append(masked)
            last = run.start() + end
    pieces.append(text[last:])
    return "".join(pieces)


def scrub_or_none(text: str | None) -> str | None:
    return None if text is None else scrub(text)


def scrub_expr(column: pl.Expr) -> pl.Expr:
    """Vectorised :func:`scrub` (null stays null)."""
    return column.map_elements(scrub, return_dtype=pl.String, skip_nulls=True)
