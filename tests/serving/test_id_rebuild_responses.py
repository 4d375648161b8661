"""Issue 17: no role's responses rebuild an ID number.

A synthetic city ingested with an operator's key; every role reads the entity pages (registration,
records, the persons behind relations), the related entities, the personal credit files and the check
(逢办必查). From what each role got, the attacks of the issue are tried on every person: the raw number; the
masked number with a birth date (→ one candidate); the person key brute-forced over the candidates with
the demo salt, as the old salted SHA-256 and as an HMAC; and the system role must get no person key at all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features import identity
from features.ingest import ingest_paths
from features.lake import scan
from features.synth import CityConfig, generate
from serving.api.app import create_app
from serving.settings import DEMO_PERSON_SALT, Settings, load_settings
from supervision.platform.access import Role
from supervision.platform.db import make_engine, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import issue

OPERATOR_KEY = "the-operators-own-secret-key-2026-0123456789"
TODAY = date(2026, 6, 30)
ID_RE = re.compile(r"[1-9][0-9]{16}[0-9X]")
KEY_RE = re.compile(r"\b[0-9a-f]{64}\b")
MASKED_RE = re.compile(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]")
ENTITIES = 25  # entity pages read per role


def _demo_keys(number: str) -> set[str]:
    return {
        hashlib.sha256(f"{DEMO_PERSON_SALT}:{number}".encode()).hexdigest(),
        hmac.new(DEMO_PERSON_SALT.encode(), number.encode(), hashlib.sha256).hexdigest(),
    }


def _candidates(masked: str, years: range) -> list[str]:
    found = []
    for year in years:
        day = date(year, 1, 1)
        while day.year == year:
            number = masked[:6] + day.strftime("%Y%m%d") + masked[-4:]
            if identity.check_digit(number[:17]) == number[17]:
                found.append(number)
            day += timedelta(days=1)
    return found


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, path)
    else:
        yield path, value


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, sa.Engine, set[str]]]:
    root = tmp_path_factory.mktemp("responses")
    home = root / "home"
    home.mkdir()
    settings = load_settings(home=home, person_salt=OPERATOR_KEY, rate_limit_per_minute=0)
    generate(CityConfig(entities=300, seed=23, end_date=TODAY), root / "city", today=TODAY)
    files = sorted(p for p in (root / "city").iterdir() if p.is_file())
    truth: set[str] = set()
    for path in files:
        for encoding in ("utf-8", "gb18030"):
            try:
                truth |= {
                    m for m in ID_RE.findall(path.read_bytes().decode(encoding)) if identity.is_valid(m)
                }
                break
            except UnicodeDecodeError:
                continue
    ingest_paths(files, lake_dir=settings.lake_dir, salt=settings.person_salt, today=TODAY)
    # A score for every entity, so the credit reports of supervisors and analysts carry score and reasons.
    usccs = sorted(set(scan(settings.lake_dir, "entities").select("uscc").collect()["uscc"].to_list()))
    (home / "scores").mkdir()
    pl.DataFrame(
        {
            "uscc": usccs,
            "tier": ["B"] * len(usccs),
            "probability": [0.31] * len(usccs),
            "reasons_zh": ["处罚次数多；经营异常名录在列"] * len(usccs),
        }
    ).write_parquet(home / "scores" / f"as_of={TODAY}.parquet")
    engine = make_engine(f"sqlite:///{root / 'api.db'}")
    upgrade(engine)
    yield settings, engine, truth
    engine.dispose()


REPORTERS = (Role.SUPERVISOR, Role.ANALYST, Role.INSPECTOR)  # the credit report's readers attacked
SCORED = "信用风险评估"  # the report's score section (supervisors and analysts only)


def _responses(settings: Settings, engine: sa.Engine) -> dict[Role, list[Any]]:
    """What each role gets from the routes that carry persons, and the credit report's HTML (with score and
    reasons for supervisors and analysts)."""
    relations = (
        scan(settings.lake_dir, "relations")
        .filter(pl.col("person_key").is_not_null())
        .select("uscc", "person_key")
        .collect()
    )
    usccs = sorted(set(relations["uscc"].to_list()))[:ENTITIES]
    keys = sorted(set(relations.filter(pl.col("uscc").is_in(usccs))["person_key"].to_list()))
    got: dict[Role, list[Any]] = {}
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as client:
        for role in Role:
            headers = issue(engine, role, name=f"{role.value}-rebuild")
            bodies: list[Any] = []
            for uscc in usccs:
                for path in (f"/entities/{uscc}", f"/entities/{uscc}/related"):
                    r = client.get(path, headers=headers)
                    assert r.status_code in (200, 403), (role, path, r.text)
                    if r.status_code == 200:
                        bodies.append(r.json())
                r = client.post("/check", json={"uscc": uscc, "matter": "market_access"}, headers=headers)
                assert r.status_code in (200, 403), (role, r.text)
                if r.status_code == 200:
                    bodies.append(r.json())
                if role in REPORTERS:
                    r = client.post("/reports", json={"uscc": uscc, "on": TODAY.isoformat()}, headers=headers)
                    assert r.status_code == 200, (role, uscc, r.text)
                    assert (SCORED in r.text) is (role is not Role.INSPECTOR), (role, uscc)
                    bodies.append(r.text)
            for key in keys[:10]:
                r = client.get(f"/lists/persons/{key}", headers=headers)
                assert r.status_code in (200, 403), (role, r.text)
                if r.status_code == 200:
                    bodies.append(r.json())
            got[role] = bodies
    return got


def test_no_role_can_rebuild_an_id_number(city: tuple[Settings, sa.Engine, set[str]]) -> None:
    settings, engine, truth = city
    got = _responses(settings, engine)
    assert got[Role.SYSTEM] and got[Role.ANALYST] and got[Role.SUPERVISOR] and got[Role.INSPECTOR]
    persons = scan(settings.lake_dir, "persons").collect()
    by_key = {identity.person_key(n, salt=OPERATOR_KEY): n for n in truth}
    attacked = 0
    for role, bodies in got.items():
        text = json.dumps(bodies, ensure_ascii=False)
        assert not any(n in text for n in truth), role  # no raw number
        for path, value in _walk(bodies):
            if "birth" in path:  # a birth year at most, never a date
                assert isinstance(value, int), (role, path, value)
        if role is Role.SYSTEM:
            assert not KEY_RE.search(text), "the system role gets no person key"
            continue
        keys = set(KEY_RE.findall(text))
        masked = set(MASKED_RE.findall(text))
        for row in persons.filter(pl.col("person_key").is_in(list(keys))).iter_rows(named=True):
            if row["id_masked"] not in masked:
                continue
            # The role holds the key and the masked number: try every number that fits, with the year.
            year = row["birth_year"]
            found = _candidates(row["id_masked"], range(year, year + 1))
            assert len(found) > 1, (role, row["id_masked"])
            assert by_key[row["person_key"]] in found
            assert not any(row["person_key"] in _demo_keys(c) for c in found), (role, row["id_masked"])
            attacked += 1
    assert attacked > 0  # the attack was really tried on someone holding key and masked number


def test_the_check_answers_relations_without_keys() -> None:
    """The accountable persons of a check reach the system role as their relation only (the synthetic city
    has no listed entity with persons, so the answer is built from what the lifecycle returns)."""
    from serving.services.checks import CheckView

    answer = {
        "check_id": 1,
        "uscc": "91320902MA0000001X",
        "matter": "market_access",
        "on": date(2026, 6, 30),
        "tier": None,
        "score_as_of": None,
        "restricted": True,
        "lists": [],
        "restrictions": [],
        "persons": [{"person_key": "a" * 64, "relation_type": "legal_representative"}],
        "incentives": [],
        "incentives_withheld": None,
        "missing_documents": None,
    }
    shown = CheckView.model_validate(answer).model_dump(mode="json")
    assert shown["persons"] == [{"relation_type": "legal_representative"}]
    assert "a" * 64 not in json.dumps(shown)
