"""USCC validator: the reference test vectors, the scalar/vector agreement, and every single change."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features import uscc
from features.uscc import Status

VALID_REAL = [
    "91110000600037341L",
    "121200004013590816",
    "91620105L015101280",
    "9144030071526726XG",
    "91320100748204660Q",
    "91320281142232229Q",
    "11320100MB1886843H",
    "913209006921075291",
    "91310115MA1K3BTP2B",
]
VALID_SYNTHETIC = ["91320902MA1MXY2K8U", "92320903MA1N0G7C63", "93320981MA1P3W4R1C", "12320900466012345D"]
INVALID = {
    "91320902MA1MXY2K8T": Status.CHECKSUM,
    "913209006921075290": Status.CHECKSUM,
    "91320290MA1MXY2K8U": Status.CHECKSUM,
    "91320902MA1IXY2K8U": Status.FORMAT,
    "91320902MA1OXY2K8U": Status.FORMAT,
    "91320902MA1SXY2K8U": Status.FORMAT,
    "91320902MA1VXY2K8U": Status.FORMAT,
    "91320902MA1ZXY2K8U": Status.FORMAT,
    "913209A2MA1MXY2K8U": Status.FORMAT,
    "91320902MA1MXY2K8": Status.FORMAT,
    "91320902MA1MXY2K8UU": Status.FORMAT,
    "91320902ma1mxy2k8u": Status.FORMAT,
    "": Status.FORMAT,
    "９1320902MA1MXY2K8U": Status.FORMAT,
    "91３20902MA1MXY2K8U": Status.FORMAT,
}
XIAMEN = ["91350211M0000XUF46", "91350203M0001QAY9B"]


@pytest.mark.parametrize("code", VALID_REAL + VALID_SYNTHETIC)
def test_reference_codes_are_valid_at_all_levels(code: str) -> None:
    assert uscc.validate(code).status is Status.VALID


@pytest.mark.parametrize(("code", "status"), INVALID.items())
def test_reference_invalid_codes(code: str, status: Status) -> None:
    verdict = uscc.validate(code)
    assert verdict.status is status
    assert not verdict.ok


def test_org_code_digit_is_a_warning_only() -> None:
    verdict = uscc.validate("91320902MA1MXY2K7Q")
    assert verdict.status is Status.ORG_CODE_WARNING
    assert verdict.ok


def test_checksum_reason_names_the_expected_character() -> None:
    assert "expected 'U', found 'T'" in uscc.validate("91320902MA1MXY2K8T").reason


@pytest.mark.parametrize("code", XIAMEN)
def test_allow_list_accepts_genuine_exceptions(code: str) -> None:
    assert uscc.validate(code).status is Status.CHECKSUM
    assert uscc.validate(code, allow=XIAMEN).status is Status.ALLOWED


def test_authorities_a_n_y_are_allowed() -> None:
    # python-stdnum rejects these; GB 32100 allows them (domain-rules §1.1).
    for prefix in ("A1", "N2", "Y1"):
        code = uscc.complete(prefix + "320900" + "MA1MXY2K8")
        assert uscc.validate(code).ok, code


def test_weights_are_powers_of_three() -> None:
    assert uscc.WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _vector(codes: list[str | None], allow: tuple[str, ...] = ()) -> list[str | None]:
    frame = pl.DataFrame({"code": codes}, schema={"code": pl.String})
    return frame.select(uscc.verdict_expr(pl.col("code"), allow=allow)).to_series().to_list()


def test_vector_agrees_on_reference_vectors_and_null() -> None:
    codes: list[str | None] = [*VALID_REAL, *VALID_SYNTHETIC, *INVALID, *XIAMEN, "91320902MA1MXY2K7Q", None]
    expected = [None if c is None else uscc.validate(c, allow=XIAMEN[:1]).status.value for c in codes]
    assert _vector(codes, allow=XIAMEN[:1]) == expected


uscc_chars = st.sampled_from(uscc.ALPHABET)
any_chars = st.characters(codec="utf-8", exclude_categories=("Cs",))


@st.composite
def valid_codes(draw: st.DrawFn) -> str:
    body = draw(st.text(uscc_chars, min_size=2, max_size=2))
    body += draw(st.text(st.sampled_from("0123456789"), min_size=6, max_size=6))
    body += draw(st.text(uscc_chars, min_size=9, max_size=9))
    return uscc.complete(body)


@settings(max_examples=300, deadline=None)
@given(code=valid_codes(), position=st.integers(0, 17), replacement=uscc_chars)
def test_every_single_character_change_is_detected(code: str, position: int, replacement: str) -> None:
    changed = code[:position] + replacement + code[position + 1 :]
    if changed == code:
        return
    assert uscc.validate(code).ok
    assert not uscc.validate(changed).ok


def test_every_single_substitution_of_one_code_exhaustively() -> None:
    code = "91320902MA1MXY2K8U"
    for position in range(18):
        for c in uscc.ALPHABET:
            changed = code[:position] + c + code[position + 1 :]
            if changed != code:
                assert uscc.validate(changed).status in (Status.CHECKSUM, Status.FORMAT), changed


@settings(max_examples=300, deadline=None)
@given(
    codes=st.lists(
        st.one_of(
            valid_codes(), st.text(any_chars, max_size=20), st.text(uscc_chars, min_size=18, max_size=18)
        ),
        max_size=30,
    )
)
def test_scalar_and_vector_agree_on_any_input(codes: list[str]) -> None:
    assert _vector(list(codes)) == [uscc.validate(c).status.value for c in codes]
