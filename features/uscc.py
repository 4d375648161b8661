"""Unified Social Credit Code (统一社会信用代码, GB 32100-2015): a code string in, a verdict out.

Three levels, as the reference notes recommend:
  L1 ``format``   — 18 characters from the 31-symbol charset (I, O, S, V, Z excluded), digits in 3–8;
  L2 ``checksum`` — the mod-31 check character (position 18);
  L3 ``org_code`` — the GB 11714 organisation-code check digit at position 17, a warning only, because
                    genuine codes exist that fail it.
An allow-list accepts known genuine codes that fail L2 (e.g. some Xiamen pilot codes).

The scalar :func:`validate` and the polars expression :func:`verdict_expr` implement the same rules and
are tested to agree on every input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUE = {c: i for i, c in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"

# GB 32100 registration authority → allowed entity-type codes (CODS table; see domain-rules §1.1).
ENTITY_TYPES: dict[str, dict[str, str]] = {
    "1": {"1": "机关", "2": "事业单位", "3": "中央编办直管群众团体", "9": "其他"},
    "2": {"1": "外国常住新闻机构", "9": "其他"},
    "3": {
        "1": "律师执业机构",
        "2": "公证处",
        "3": "基层法律服务所",
        "4": "司法鉴定机构",
        "5": "仲裁委员会",
        "9": "其他",
    },
    "4": {"1": "外国在华文化中心", "9": "其他"},
    "5": {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"},
    "6": {"1": "外国旅游部门常驻代表机构", "2": "港澳台旅游部门常驻代表机构", "9": "其他"},
    "7": {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"},
    "8": {"1": "基层工会", "9": "其他"},
    "9": {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"},
    "A": {"1": "军队事业单位", "9": "其他"},
    "N": {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"},
    "Y": {"1": "其他"},
}


class Status(StrEnum):
    """The verdict on one code, worst first after ``valid``."""

    VALID = "valid"
    ALLOWED = "allowed"  # fails mod-31 but is on the allow-list of genuine exceptions
    ORG_CODE_WARNING = "org_code_warning"  # valid, but the embedded GB 11714 digit is wrong (L3)
    FORMAT = "format"
    CHECKSUM = "checksum"

    @property
    def ok(self) -> bool:
        """Whether a record with this code may be accepted."""
        return self in (Status.VALID, Status.ALLOWED, Status.ORG_CODE_WARNING)


REASONS = {
    Status.VALID: "valid (格式、校验码均正确)",
    Status.ALLOWED: "accepted from the allow-list of genuine codes that fail the mod-31 check",
    Status.ORG_CODE_WARNING: "valid check character, but the embedded GB 11714 organisation-code digit "
    "(position 17) is wrong (warning only)",
    Status.FORMAT: "not 18 characters of 0-9 and A-Z without I, O, S, V, Z, with digits in positions 3-8 "
    "(GB 32100-2015 §4)",
    Status.CHECKSUM: "check character (position 18) does not match the mod-31 check of GB 32100-2015",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One code's result: ``status`` and a sentence saying why."""

    code: str
    status: Status
    expected_check: str | None = None

    @property
    def ok(self) -> bool:
        return self.status.ok

    @property
    def reason(self) -> str:
        if self.status is Status.CHECKSUM and self.expected_check is not None:
            return f"{REASONS[self.status]}: expected '{self.expected_check}', found '{self.code[17]}'"
        return REASONS[self.status]


def check_character(first17: str) -> str:
    """The mod-31 check character for the first 17 characters of a code."""
    total = sum(VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def org_code_check_digit(first8: str) -> str:
    """GB 11714 check digit for an organisation code's first 8 characters (full A–Z alphabet)."""
    total = sum(_org_value(c) * w for c, w in zip(first8, ORG_WEIGHTS, strict=True))
    digit = 11 - total % 11
    return "X" if digit == 10 else "0" if digit == 11 else str(digit)


def _org_value(c: str) -> int:
    return int(c) if c.isdigit() else ord(c) - ord("A") + 10


def complete(first17: str) -> str:
    """Append the check character: a valid code from its first 17 characters."""
    return first17 + check_character(first17)


def _is_format_ok(code: str) -> bool:
    return len(code) == 18 and all(c in VALUE for c in code) and code[2:8].isdigit() and code[2:8].isascii()


def validate(code: str, *, allow: Iterable[str] = ()) -> Verdict:
    """Check one code at all three levels. No normalisation: lowercase is a format error."""
    if not _is_format_ok(code):
        return Verdict(code, Status.FORMAT)
    expected = check_character(code[:17])
    if expected != code[17]:
        if code in set(allow):
            return Verdict(code, Status.ALLOWED)
        return Verdict(code, Status.CHECKSUM, expected_check=expected)
    if org_code_check_digit(code[8:16]) != code[16]:
        return Verdict(code, Status.ORG_CODE_WARNING)
    return Verdict(code, Status.VALID)


def is_valid(code: str, *, allow: Iterable[str] = ()) -> bool:
    """True when a record carrying this code may be accepted (L1 and L2 pass, or allow-listed)."""
    return validate(code, allow=allow).ok


def _weighted_sum(expr: pl.Expr, weights: Iterable[int], start: int, value_map: dict[str, int]) -> pl.Expr:
    terms = [
        expr.str.slice(start + i, 1).replace_strict(value_map, default=0, return_dtype=pl.Int64) * w
        for i, w in enumerate(weights)
    ]
    return pl.sum_horizontal(terms)


_ORG_VALUE = {c: _org_value(c) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def check_character_expr(code: pl.Expr) -> pl.Expr:
    """Vectorised :func:`check_character`: the mod-31 check character of each code's first 17 characters."""
    total = _weighted_sum(code, WEIGHTS, 0, VALUE)
    return ((31 - total % 31) % 31).replace_strict(dict(enumerate(ALPHABET)), return_dtype=pl.String)


def verdict_expr(code: pl.Expr, *, allow: Iterable[str] = ()) -> pl.Expr:
    """A polars expression giving each code's :class:`Status` value as a string (null stays null).

    Vectorised twin of :func:`validate`; they are tested to agree on every input.
    """
    expected = check_character_expr(code)
    org_total = _weighted_sum(code, ORG_WEIGHTS, 8, _ORG_VALUE)
    org_digit = (11 - org_total % 11).cast(pl.String).replace({"10": "X", "11": "0"})
    allow_list = list(allow)
    return (
        pl.when(code.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(~code.str.contains(PATTERN))
        .then(pl.lit(Status.FORMAT.value))
        .when(code.str.slice(17, 1) != expected)
        .then(
            pl.when(code.is_in(allow_list))
            .then(pl.lit(Status.ALLOWED.value))
            .otherwise(pl.lit(Status.CHECKSUM.value))
        )
        .when(code.str.slice(16, 1) != org_digit)
        .then(pl.lit(Status.ORG_CODE_WARNING.value))
        .otherwise(pl.lit(Status.VALID.value))
    )


def entity_type(code: str) -> str | None:
    """The Chinese name of a code's authority/entity-type pair (positions 1–2), if the pair is known."""
    return ENTITY_TYPES.get(code[:1], {}).get(code[1:2])


def division_code(code: str) -> str:
    """The GB/T 2260 division code of the registering authority (positions 3–8)."""
    return code[2:8]
