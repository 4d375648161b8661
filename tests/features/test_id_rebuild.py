"""Issue 17: no stored field or combination of fields of the lake rebuilds an ID number.

On a synthetic city ingested with an operator's key, the attacks of the issue are tried on every stored
column of every table: the raw number anywhere; the masked number (first 6 + last 4) with a birth date (the
middle 8 digits) → one candidate; the person key as SHA-256 / HMAC under the demo salt over the candidates.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from features import catalog, identity, lake
from features.ingest import ingest_paths
from features.synth import CityConfig, generate

OPERATOR_KEY = "an-operator-secret-nobody-has-read-0123456789"
DEMO_SALT = "creditwatch-demo-salt"  # serving.settings.DEMO_PERSON_SALT (features may not import serving)
TODAY = date(2026, 6, 30)
ID_RE = re.compile(r"[1-9][0-9]{16}[0-9X]")


def candidates(masked: str, *, year: int | None, born: date | None = None) -> list[str]:
    """Every valid ID number consistent with a masked number and what else is known of the birth."""
    if born is not None:
        days: Iterable[date] = [born]
    else:
        assert year is not None
        start = date(year, 1, 1)
        days = (start + timedelta(days=i) for i in range((date(year + 1, 1, 1) - start).days))
    found = []
    for day in days:
        number = masked[:6] + day.strftime("%Y%m%d") + masked[-4:]
        if identity.check_digit(number[:17]) == number[17]:
            found.append(number)
    return found


def demo_keys(number: str) -> set[str]:
    """What an attacker who has read the code can compute for a number: the old salted SHA-256 and the
    HMAC under the demo key."""
    return {
        hashlib.sha256(f"{DEMO_SALT}:{number}".encode()).hexdigest(),
        hmac.new(DEMO_SALT.encode(), number.encode(), hashlib.sha256).hexdigest(),
    }


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    root = tmp_path_factory.mktemp("rebuild")
    generate(CityConfig(entities=600, seed=17, end_date=TODAY), root / "city", today=TODAY)
    truth: set[str] = set()
    for path in (root / "city").iterdir():
        if path.is_file():
            raw = path.read_bytes()
            for encoding in ("utf-8", "gb18030"):
                try:
                    truth |= {m for m in ID_RE.findall(raw.decode(encoding)) if identity.is_valid(m)}
                    break
                except UnicodeDecodeError:
                    continue
    ingest_paths(
        sorted(p for p in (root / "city").iterdir() if p.is_file()),
        lake_dir=root / "lake",
        salt=OPERATOR_KEY,
        today=TODAY,
    )
    assert len(truth) > 500
    return root / "lake", truth


def test_no_stored_column_holds_a_number_or_a_birth_date(city: tuple[Path, set[str]]) -> None:
    lake_dir, truth = city
    for path in lake_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n.encode() in data for n in truth), path
    persons = catalog.BY_NAME["persons"]
    assert "birth_date" not in persons.columns and "birth_year" in persons.columns
    assert all(f.dtype != pl.Date for f in persons.fields)  # no date of a person at all
    for table in catalog.TABLES:
        frame = lake.scan(lake_dir, table.name).collect()
        for column in frame.columns:
            if frame[column].dtype == pl.String:
                text = "\n".join(v for v in frame[column].to_list() if v)
                assert not any(n in text for n in truth), (table.name, column)


def test_every_person_has_many_candidates_and_the_key_cannot_be_tried(city: tuple[Path, set[str]]) -> None:
    lake_dir, truth = city
    persons = lake.scan(lake_dir, "persons").collect()
    assert persons.height > 500
    by_key = {identity.person_key(n, salt=OPERATOR_KEY): n for n in truth}
    rebuilt = []
    for row in persons.iter_rows(named=True):
        true = by_key[row["person_key"]]
        # The attack on the old lake: masked number + birth date → exactly one number.
        assert candidates(row["id_masked"], year=None, born=identity.birth_date(true)) == [true]
        # What the lake keeps now: the year only.
        found = candidates(row["id_masked"], year=row["birth_year"])
        assert true in found
        if len(found) == 1:
            rebuilt.append(row["id_masked"])
        # The key under the demo salt, old scheme or new, matches no candidate: the operator's key is needed.
        assert not any(row["person_key"] in demo_keys(c) for c in found), row["id_masked"]
        # (and the attack itself is right: under the operator's key exactly one candidate matches)
        assert [c for c in found if identity.person_key(c, salt=OPERATOR_KEY) == row["person_key"]] == [true]
    assert rebuilt == []


def test_the_key_is_an_hmac_of_the_operators_key() -> None:
    number = "11010519491231002X"
    expected = hmac.new(OPERATOR_KEY.encode(), number.encode(), hashlib.sha256).hexdigest()
    assert identity.person_key(number, salt=OPERATOR_KEY) == expected
    assert hashlib.sha256(f"{OPERATOR_KEY}:{number}".encode()).hexdigest() != expected
