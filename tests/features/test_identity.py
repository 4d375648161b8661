"""GB 11643 identity numbers: check digit, masking and the pseudonymous key."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from features import identity

# 11010519491231002X is the standard's own worked example (GB 11643-1999 annex).
VALID = ["11010519491231002X", "320902198507140014"]


def test_standard_example_check_digit() -> None:
    assert identity.check_digit("11010519491231002") == "X"


@pytest.mark.parametrize("number", VALID)
def test_valid_numbers(number: str) -> None:
    assert identity.is_valid(number)


@pytest.mark.parametrize(
    "number", ["110105194912310021", "11010519491331002X", "11010519490230002X", "1101051949123100", ""]
)
def test_invalid_numbers(number: str) -> None:
    assert not identity.is_valid(number)


def test_mask_keeps_only_six_and_four() -> None:
    assert identity.mask("11010519491231002X") == "110105********002X"
    assert "19491231" not in identity.mask("11010519491231002X")


def test_key_depends_on_salt_and_hides_the_number() -> None:
    a = identity.person_key("11010519491231002X", salt="one-salt")
    assert a != identity.person_key("11010519491231002X", salt="two-salt")
    assert "11010519491231002X" not in a and len(a) == 64


def test_vector_forms_agree_with_scalars() -> None:
    numbers = [*VALID, "110105194912310021", "11010519490230002X", None]
    frame = pl.DataFrame({"n": numbers}, schema={"n": pl.String}).select(
        valid=identity.valid_expr(pl.col("n")),
        key=identity.person_key_expr(pl.col("n"), salt="s" * 8),
        masked=identity.mask_expr(pl.col("n")),
        born=identity.birth_date_expr(pl.col("n")),
    )
    assert frame["valid"].to_list()[:4] == [identity.is_valid(n) for n in numbers[:4]]
    assert frame["key"][0] == identity.person_key(VALID[0], salt="s" * 8)
    assert frame["masked"][0] == identity.mask(VALID[0])
    assert frame["born"][0] == date(1949, 12, 31)
    assert frame["key"][4] is None
