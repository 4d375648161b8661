"""Issue 17: free text is scrubbed of ID, phone and bank-card numbers on the way in and masked on every way
out. A corpus of hostile strings goes into penalties' facts and content, a licence's matter and a
commitment's text; no public output (GET /disclosure/public, the CSV export, GET /public/commitments)
carries any of the numbers, however they were written."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features import identity
from features.ingest import ingest_paths
from features.lake import scan, sources
from features.scrub import luhn, scrub
from serving.api.app import create_app
from serving.cli import app
from serving.settings import Settings
from supervision.lifecycle import disclosure
from supervision.lifecycle.commitments import Commitment
from supervision.platform import masking
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.supervision.lifecycle_lake import AUTHORITY_USCC, OFFICER, SALT, TODAY, E, build_lake

WIDE = str.maketrans({str(i): chr(0xFF10 + i) for i in range(10)})


def _id(first17: str) -> str:
    return first17 + identity.check_digit(first17)


ID_X = next(_id(f"32090219900307{k:03d}") for k in range(1000) if _id(f"32090219900307{k:03d}").endswith("X"))
ID_PLAIN = _id("32090219851124123")
ID_WIDE = _id("11010519491231003")
OLD_ID = "320902851124123"  # 15 digits: area, YYMMDD, sequence
CARD = next(f"622202123456789{k}" for k in range(10) if luhn(f"622202123456789{k}"))
CARD19 = next(f"621700123456789012{k}" for k in range(10) if luhn(f"621700123456789012{k}"))

# (the hostile text, the numbers that must not come out, digits only)
CORPUS: list[tuple[str, list[str]]] = [
    (f"当事人身份证号{ID_X}，经查属实", [ID_X]),
    (f"身份证：{ID_X[:6]} {ID_X[6:14]} {ID_X[14:]}", [ID_X]),
    (f"证件{ID_PLAIN[:6]}-{ID_PLAIN[6:10]}-{ID_PLAIN[10:14]}-{ID_PLAIN[14:]}号", [ID_PLAIN]),
    (f"身份证{ID_WIDE.translate(WIDE)}联系", [ID_WIDE]),
    (f"旧身份证{OLD_ID}", [OLD_ID]),
    ("联系电话13812345678请回电", ["13812345678"]),
    ("手机+86 139 1234 5678", ["13912345678"]),
    ("手机+86-137-0000-1111", ["13700001111"]),
    ("手机 0086 15012345678", ["15012345678"]),
    (f"电话{'18612345678'.translate(WIDE)}", ["18612345678"]),
    ("办公电话0515-88886666，传真(0515)88886667", ["88886666", "88886667"]),
    ("座机010 12345678", ["12345678"]),
    (f"收款卡号{CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}", [CARD]),
    (f"银行卡{CARD19}转账", [CARD19]),
    (f"罚款{CARD}元整", [CARD]),
]
TEXT = "；".join(text for text, _ in CORPUS)
SECRETS = [n for _, numbers in CORPUS for n in numbers]
DECIDED = date(2026, 9, 1)


def _digits(text: str) -> str:
    """Only the digits (and X) of a text, full-width made ASCII: a number split by anything is found."""
    wide = {chr(0xFF10 + i): str(i) for i in range(10)}
    return "".join(wide.get(c, c) for c in text if c.isdigit() or c in "Xx" or c in wide)


def assert_clean(text: str, where: str) -> None:
    flat = re.sub(r"[\s\-－()（）+]", "", text.translate({0xFF10 + i: str(i) for i in range(10)}))
    for number in SECRETS:
        assert number not in flat, (where, number)
        assert number not in _digits(text) or len(number) < 11, (where, number)
    assert not re.search(r"1[3-9]\d{9}", flat), where
    assert not re.search(r"\d{15,}", flat), where


def test_the_scrubber_on_the_corpus() -> None:
    for text, numbers in CORPUS:
        out = scrub(text)
        flat = re.sub(r"[\s\-()（）+]", "", out)
        assert all(n not in flat for n in numbers), (text, out)
        assert masking.mask_free_text(text) == out
    assert (
        scrub("决定书 盐市监罚〔2026〕15号，罚款100000元，2026-09-01")
        == "决定书 盐市监罚〔2026〕15号，罚款100000元，2026-09-01"
    )
    assert scrub("电话13812345678") == "电话138****5678"
    assert (
        scrub(f"卡{CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}") == f"卡{CARD[:4]} **** **** {CARD[-4:]}"
    )
    assert scrub(ID_X) == ID_X[:6] + "*" * 8 + ID_X[-4:]


def test_staff_see_free_text_masked_too() -> None:
    for role in ("inspector", "supervisor", "analyst", "admin", "system", "public"):
        record = masking.mask_record({"facts": TEXT, "decision_no": "P-1"}, audience=role, table="penalties")
        assert_clean(record["facts"], role)
        frame = masking.mask_frame(pl.LazyFrame({"facts": [TEXT]}), audience=role, table="penalties")
        assert_clean(frame.collect()["facts"][0], role)


@pytest.fixture
def city(settings: Settings, home: Path) -> Iterator[tuple[Settings, sa.Engine]]:
    lake = build_lake(home)
    assert lake.dir == settings.lake_dir
    src = home / "hostile"
    src.mkdir()
    pl.DataFrame(
        [
            {
                "decision_no": "P-HOSTILE",
                "uscc": E[0],
                "party_name": "测试公司0",
                "violation_type": "虚假宣传",
                "basis": "广告法第五十五条",
                "penalty_kind": "fine",
                "fine_amount": 500000.0,
                "domain": "advertising",
                "severity": "general",
                "decided_on": DECIDED,
                "authority": "盐城市亭湖区市场监管局",
                "authority_uscc": AUTHORITY_USCC,
                "facts": TEXT,
                "content": TEXT,
            }
        ]
    ).write_parquet(src / "penalties-hostile.parquet")
    pl.DataFrame(
        {
            "licence_id": ["LIC-HOSTILE"],
            "uscc": [E[1]],
            "licence_name": ["食品经营许可证"],
            "matter": [TEXT],
            "decided_on": [DECIDED],
            "authority": ["盐城市市场监管局"],
        }
    ).write_parquet(src / "licences-hostile.parquet")
    reports = ingest_paths([src], lake_dir=lake.dir, salt=SALT, today=TODAY)
    assert all(r.rows_quarantined == 0 for r in reports), reports
    engine = make_engine(settings.db_url)
    upgrade(engine)
    with session_scope(engine) as s:
        disclosure.register_from_lake(s, sources(lake.dir))
        disclosure.publish(s, "penalties", "P-HOSTILE", actor=OFFICER, on=DECIDED)
        disclosure.publish(s, "licences", "LIC-HOSTILE", actor=OFFICER, on=DECIDED)
        s.add(
            Commitment(
                commitment_id="C-HOSTILE",
                uscc=E[2],
                matter="food_licence",
                commitment_type="licence",
                title="承诺书",
                text=TEXT,
                signatory="王五",
                department=OFFICER.department,
                made_on=DECIDED,
                status="pending",
                updated_at=datetime(2026, 9, 1, 8, 0, tzinfo=UTC),
            )
        )
    yield settings, engine
    engine.dispose()


def test_the_lake_keeps_no_number_from_free_text(city: tuple[Settings, sa.Engine]) -> None:
    settings, _ = city
    facts = scan(settings.lake_dir, "penalties").filter(pl.col("decision_no") == "P-HOSTILE").collect()
    assert facts.height == 1
    assert_clean(facts["facts"][0], "lake facts")
    assert_clean(facts["content"][0], "lake content")
    assert "138****5678" in facts["facts"][0]  # masked, not dropped: the text still reads
    matter = scan(settings.lake_dir, "licences").filter(pl.col("licence_id") == "LIC-HOSTILE").collect()
    assert_clean(matter["matter"][0], "lake matter")
    for path in settings.lake_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n.encode() in data for n in SECRETS if len(n) >= 11), path


def test_no_public_output_carries_a_number(city: tuple[Settings, sa.Engine], tmp_path: Path) -> None:
    settings, engine = city
    # The public sees today's publication only: the app's today is the day the test looks at.
    clock = china_half_past_midnight(date(2026, 11, 27))
    with TestClient(create_app(settings, engine=engine, clock=clock)) as client:
        public = client.get("/disclosure/public", params={"on": "2026-11-27"})
        assert public.status_code == 200, public.text
        ids = {r["record_id"] for r in public.json()}
        assert {"P-HOSTILE", "LIC-HOSTILE"} <= ids
        assert_clean(public.text, "GET /disclosure/public")
    out = tmp_path / "public.csv"
    result = CliRunner().invoke(
        app,
        ["--home", str(settings.home), "disclosure", "export", "--out", str(out), "--on", "2026-11-27"],
        obj=china_half_past_midnight(),
    )
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8-sig")
    assert "P-HOSTILE" in text
    assert_clean(text, "disclosure export CSV")


def test_the_public_commitments_carry_no_number(city: tuple[Settings, sa.Engine]) -> None:
    settings, engine = city
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as client:
        commitments = client.get("/public/commitments", params={"per_page": 100})
    assert commitments.status_code == 200, commitments.text
    assert "C-HOSTILE" in commitments.text
    assert_clean(commitments.text, "GET /public/commitments")
