"""``creditwatch features``: build from an ingested lake, cross-check, catalog — through the real CLI."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from features.indicators import CATALOG, feature_schema, indicators_markdown
from features.ingest import ingest_paths
from serving.cli import app
from serving.settings import Settings
from tests.conftest import china_half_past_midnight
from tests.features.records import E, Lake

PK = [f"{n:064x}" for n in range(1, 3)]


def _lake(settings: Settings, tmp_path: Path) -> None:
    lk = Lake()
    for e in E[:3]:
        lk.entity(e, name=f"公司{E.index(e)}")
    lk.add("persons", person_key=PK[0], name="李四", id_masked="320902********0011")
    lk.add("relations", uscc=E[1], relation_type="legal_representative", person_key=PK[0])
    lk.add("relations", uscc=E[2], relation_type="shareholder", person_key=PK[0], share=0.5)
    lk.add("penalties", uscc=E[0], decided_on=date(2023, 5, 1), fine_amount=200.0)
    lk.add("list_entries", uscc=E[0], entry_id="R0", list_type="red_list", listed_on=date(2023, 1, 1))
    lk.add(
        "list_entries", uscc=E[0], entry_id="B0", list_type="severe_dishonesty", listed_on=date(2023, 2, 1)
    )
    lk.add("list_entries", uscc=E[1], entry_id="R1", list_type="red_list", listed_on=date(2023, 1, 1))
    lk.add(
        "list_entries", uscc=E[2], entry_id="B2", list_type="abnormal_operations", listed_on=date(2023, 1, 1)
    )
    src = tmp_path / "src"
    src.mkdir()
    for name, frame in lk.frames().items():
        if frame.height:
            frame.write_parquet(src / f"{name}.parquet")
    reports = ingest_paths(
        [src], lake_dir=settings.lake_dir, salt=settings.person_salt, today=date(2025, 1, 1)
    )
    assert all(r.rows_quarantined == 0 for r in reports), reports


def run(home: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["--home", str(home), *args], env={"COLUMNS": "300"}, obj=china_half_past_midnight()
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_build_writes_one_file_per_date_byte_identical(home: Path, settings: Settings, tmp_path: Path):
    _lake(settings, tmp_path)
    out = json.loads(
        run(home, "--json", "features", "build", "--as-of", "2024-01-01", "--as-of", "2023-06-01")
    )
    paths = [Path(r["path"]) for r in out["built"]]
    assert paths == [
        home / "features" / "as_of=2023-06-01.parquet",
        home / "features" / "as_of=2024-01-01.parquet",
    ]
    df = pl.read_parquet(paths[1])
    assert df.schema == feature_schema() and df["uscc"].to_list() == sorted(E[:3])
    assert df.filter(pl.col("uscc") == E[0])["fines_sum_365d"].item() == 200.0
    first = hashlib.sha256(paths[1].read_bytes()).hexdigest()
    custom = tmp_path / "again.parquet"
    run(home, "features", "build", "--as-of", "2024-01-01", "--out", str(custom))
    assert hashlib.sha256(custom.read_bytes()).hexdigest() == first


def test_build_rejects_a_bad_date(home: Path):
    result = CliRunner().invoke(
        app,
        ["--home", str(home), "features", "build", "--as-of", "2024-13-01"],
        obj=china_half_past_midnight(),
    )
    assert result.exit_code != 0 and "not a date" in result.output


def test_crosscheck(home: Path, settings: Settings, tmp_path: Path):
    _lake(settings, tmp_path)
    out = json.loads(run(home, "--json", "features", "crosscheck", "--as-of", "2024-01-01"))
    assert [e["uscc"] for e in out["entities"]] == [E[0]]
    assert out["entities"][0]["black_entries"] == ["B0"]
    assert len(out["persons"]) == 1 and out["persons"][0]["red_usccs"] == [E[1]]
    assert "person_key" not in out["persons"][0]  # keys stay inside; the masked number identifies
    table = run(home, "features", "crosscheck", "--as-of", "2024-01-01")
    assert "公司0" in table and "320902********0011" in table


def test_catalog(home: Path):
    assert run(home, "features", "catalog", "--markdown").strip() == indicators_markdown().strip()
    rows = json.loads(run(home, "--json", "features", "catalog"))
    assert [r["name"] for r in rows] == [i.name for i in CATALOG]
