"""The personal credit file (`lists person`, GET /lists/persons/{person_key}) is built from every listing:
ingested into the lake (the court's, another department's) and decided here, joined to the legal
representative and actual controller in force on the listing day."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.ingest import ingest_paths
from features.lake import scan
from serving.api.app import create_app
from serving.cli import app
from serving.settings import Settings
from supervision.platform import access
from supervision.platform.access import Role
from supervision.platform.db import make_engine, session_scope, upgrade
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import issue
from tests.serving.api_city import ok as _ok
from tests.supervision.lifecycle_lake import AUTHORITY, SALT, TODAY, E, build_lake

WANG = "11010519491231002X"  # legal representative of E[4] (on the severe list through the lake's L-SEV)
ZHAO = "110105198001010032"  # related to no listed entity when it was listed


def _people(root: Path, lake_dir: Path) -> None:
    src = root / "people"
    src.mkdir()
    pl.DataFrame({"id_number": [WANG, ZHAO], "name": ["王五", "赵六"]}).write_csv(src / "persons.csv")
    pl.DataFrame(
        {
            "relation_id": ["R1", "R2", "R3", "R4", "R5"],
            "uscc": [E[4], E[3], E[2], E[3], E[4]],
            "relation_type": [
                "legal_representative",
                "legal_representative",  # from 2025-06-01: after E[3] was listed on 2025-01-06
                "actual_controller",
                "shareholder",  # a shareholder is not accountable for the listing
                "shareholder",
            ],
            "person_id_number": [WANG, WANG, WANG, ZHAO, ZHAO],
            "valid_from": [
                date(2016, 1, 1),
                date(2025, 6, 1),
                date(2016, 1, 1),
                date(2016, 1, 1),
                date(2016, 1, 1),
            ],
        }
    ).write_csv(src / "relations.csv")
    # E[4] was on the court's list too, and left it; and on the red list (an incentive, not accountability).
    pl.DataFrame(
        {
            "entry_id": ["L-COURT", "L-RED"],
            "uscc": [E[4], E[4]],
            "list_type": ["court_dishonest_debtor", "red_list"],
            "basis": ["最高人民法院关于公布失信被执行人名单信息的若干规定", "守信激励"],
            "basis_document_no": ["(2022)苏09执1号", "盐信红〔2023〕1号"],
            "listed_on": [date(2022, 3, 1), date(2023, 3, 1)],
            "exited_on": [date(2023, 3, 1), None],
            "exit_reason": ["court_fulfilled", None],
            "authority": ["盐城市中级人民法院", AUTHORITY],
        }
    ).write_parquet(src / "list_entries.parquet")
    reports = ingest_paths([src], lake_dir=lake_dir, salt=SALT, today=TODAY)
    assert all(r.rows_quarantined == 0 for r in reports), reports


@pytest.fixture
def city(settings: Settings, home: Path) -> Iterator[tuple[Settings, sa.Engine, dict[str, str]]]:
    lake = build_lake(home)
    assert lake.dir == settings.lake_dir
    _people(home, lake.dir)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    keys = dict(scan(lake.dir, "persons").select("name", "person_key").collect().iter_rows())
    yield settings, engine, keys
    engine.dispose()


def _flags(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["case_id"], r["uscc"], r["list_type"], r["relation_type"], r["source"], r["active"]) for r in rows
    ]


def test_the_file_holds_the_lakes_listings_and_the_cases_decided_here(
    city: tuple[Settings, sa.Engine, dict[str, str]],
) -> None:
    settings, engine, keys = city
    sup = issue(engine, Role.SUPERVISOR, department=AUTHORITY, division="320000")
    analyst = issue(engine, Role.ANALYST, department=AUTHORITY, division="320000")
    with TestClient(create_app(settings, engine=engine, clock=china_half_past_midnight())) as client:
        # Before anything is decided here: the ingested listings of the entity he represents.
        wang = _ok(client.get(f"/lists/persons/{keys['王五']}", headers=analyst))
        assert _flags(wang) == [
            ("L-COURT", E[4], "court_dishonest_debtor", "legal_representative", "lake", False),
            ("L-SEV", E[4], "severe_dishonesty", "legal_representative", "lake", True),
        ]
        assert wang[1]["authority"] == AUTHORITY and wang[1]["listed_on"] == "2024-01-10"
        assert _ok(client.get(f"/lists/persons/{keys['赵六']}", headers=analyst)) == []
        # A listing decided here (and written to the lake) is in the file once, as the case.
        body = {"uscc": E[2], "list_type": "severe_dishonesty", "reasons": "r", "basis": "b"}
        cid = _ok(client.post("/lists", json={**body, "proposed_on": "2026-10-12"}, headers=sup), 201)[
            "case_id"
        ]
        listing = {"basis_document_no": "P-REVOKE", "on": "2026-10-20"}
        _ok(client.post(f"/lists/{cid}/list", json=listing, headers=sup))
        assert scan(settings.lake_dir, "list_entries").filter(pl.col("entry_id") == cid).collect().height == 1
        wang = _ok(client.get(f"/lists/persons/{keys['王五']}", headers=analyst))
        assert _flags(wang)[-1] == (cid, E[2], "severe_dishonesty", "actual_controller", "case", True)
        assert len(wang) == 3


def test_the_cli_prints_the_same_file(city: tuple[Settings, sa.Engine, dict[str, str]]) -> None:
    settings, engine, keys = city
    with session_scope(engine) as s:
        token = access.create_token(
            s, name="analyst-1", role=Role.ANALYST, department=AUTHORITY, division="320000", person_id="a-1"
        ).token
    result = CliRunner().invoke(
        app,
        ["--home", str(settings.home), "--json", "--as", token, "lists", "person", keys["王五"]],
        obj=china_half_past_midnight(),
    )
    assert result.exit_code == 0, result.output
    assert [(r["case_id"], r["active"]) for r in json.loads(result.stdout)] == [
        ("L-COURT", False),
        ("L-SEV", True),
    ]
