"""Shocks in the synthetic city: no shocks leave the city as it was; shocks are drawn in their window from a
stream of their own, written to truth/shocks.parquet, and the records that follow them (the incident, the
raised risk's extra records) are in the source files, dated after the shock."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from features import ingest, lake
from features.synth import FORMATS, CityConfig, GenerationReport, generate
from tests.features.test_synth import _digests, typed

TODAY = date(2026, 12, 1)
BASE = CityConfig(entities=1200, years=3, seed=5)
SHOCKED = CityConfig(entities=1200, years=3, seed=5, shock_share=0.05, shock_months=12)


@pytest.fixture(scope="module")
def cities(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, GenerationReport]:
    root = tmp_path_factory.mktemp("shocks")
    generate(BASE, root / "base", today=TODAY)
    report = generate(SHOCKED, root / "shocked", today=TODAY)
    return root / "base", root / "shocked", report


def test_no_shocks_writes_no_shock_truth_and_reports_as_before(
    cities: tuple[Path, Path, GenerationReport],
) -> None:
    base, _, _ = cities
    assert not (base / "truth" / "shocks.parquet").exists()
    config = json.loads((base / "truth" / "report.json").read_text(encoding="utf-8"))["config"]
    assert not [k for k in config if k.startswith("shock")]


def test_shocks_leave_every_other_stream_alone(cities: tuple[Path, Path, GenerationReport]) -> None:
    """Only the tables the shocks add rows to (and the dirt drawn over them) differ from the city without."""
    base, shocked, _ = cities
    a, b = _digests(base), _digests(shocked)
    changed = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    # (The dirt manifest changes only when the added rows drew dirt.)
    assert changed - {"truth/dirt.parquet"} == {
        "penalties.csv",
        "list_entries.csv",
        "truth/report.json",
        "truth/shocks.parquet",
    }
    # Those two are the unshocked file plus rows at the end, and the dirt manifest the unshocked one plus
    # the added rows' dirt.
    for name in ("penalties.csv", "list_entries.csv"):
        assert b[name].startswith(a[name]) and len(b[name]) > len(a[name])
    dirt_a = pl.read_parquet(base / "truth" / "dirt.parquet")
    dirt_b = pl.read_parquet(shocked / "truth" / "dirt.parquet")
    assert dirt_b.head(dirt_a.height).equals(dirt_a)


def test_shocks_truth_in_the_window_and_records_follow(cities: tuple[Path, Path, GenerationReport]) -> None:
    _, shocked, _ = cities
    truth = pl.read_parquet(shocked / "truth" / "shocks.parquet")
    assert truth.columns == ["uscc", "shock_on", "delta", "kind", "incident_on"]
    assert truth["uscc"].n_unique() == truth.height
    # 5 % of the entities open on their shock day: 1,200 entities, most open.
    assert 25 <= truth.height <= 90
    start = SHOCKED.shock_start
    assert start == date(2025, 7, 1)
    assert truth["shock_on"].min() >= start and truth["shock_on"].max() <= SHOCKED.end_date  # type: ignore[operator]
    assert (truth["delta"] == 3.0).all()
    assert set(truth["kind"]) <= {"misconduct", "distress", "abandonment"}
    seen = truth.filter(pl.col("incident_on").is_not_null())
    lag = (seen["incident_on"] - seen["shock_on"]).dt.total_days()
    assert lag.min() >= 3 and lag.max() <= 25  # type: ignore[operator]
    assert 0.75 <= seen.height / truth.height <= 1.0  # visibility 0.9, minus incidents past the end
    # Every incident is in the source files: a serious penalty, a court listing or an abnormal listing on
    # the incident day (unless the dirt spoiled that row).
    pen = typed(shocked, "penalties").filter(pl.col("severity") == "serious")
    lists = typed(shocked, "list_entries")
    found = 0
    for row in seen.iter_rows(named=True):
        if row["kind"] == "misconduct":
            hit = pen.filter((pl.col("uscc") == row["uscc"]) & (pl.col("decided_on") == row["incident_on"]))
        else:
            kind = "court_dishonest_debtor" if row["kind"] == "distress" else "abnormal_operations"
            hit = lists.filter(
                (pl.col("uscc") == row["uscc"])
                & (pl.col("list_type") == kind)
                & (pl.col("listed_on").cast(pl.String) == str(row["incident_on"]))
            )
        found += hit.height > 0
    assert found >= seen.height - 2
    # The shock's records are extra rows, all dated on or after a shock of their entity.
    extra_pen = typed(shocked, "penalties").filter(pl.col("decision_no").str.contains("突"))
    extra_lists = typed(shocked, "list_entries").filter(pl.col("entry_id").str.starts_with("MDS"))
    assert extra_pen.height + extra_lists.height >= seen.height - 2
    when = dict(zip(truth["uscc"], truth["shock_on"], strict=True))
    for uscc_, day in zip(extra_pen["uscc"], extra_pen["decided_on"], strict=True):
        assert day >= when[uscc_]
    for uscc_, day in zip(extra_lists["uscc"], extra_lists["listed_on"], strict=True):
        assert date.fromisoformat(str(day)) >= when[uscc_]


def test_shocked_entities_get_more_serious_records_after_than_before(
    cities: tuple[Path, Path, GenerationReport],
) -> None:
    _, shocked, _ = cities
    truth = pl.read_parquet(shocked / "truth" / "shocks.parquet")
    pen = typed(shocked, "penalties").filter(pl.col("severity") == "serious").select("uscc", "decided_on")
    rows = pen.join(truth.select("uscc", "shock_on"), on="uscc")
    after = rows.filter(
        (pl.col("decided_on") >= pl.col("shock_on"))
        & (pl.col("decided_on") < pl.col("shock_on") + timedelta(days=90))
    ).height
    before = rows.filter(
        (pl.col("decided_on") < pl.col("shock_on"))
        & (pl.col("decided_on") >= pl.col("shock_on") - timedelta(days=90))
    ).height
    assert after > 3 * max(before, 1)


def test_shock_config_errors_name_the_parameter(tmp_path: Path) -> None:
    for bad, name in (
        (CityConfig(shock_share=0.6), "shock_share"),
        (CityConfig(shock_share=-0.1), "shock_share"),
        (CityConfig(years=2, shock_months=25), "shock_months"),
        (CityConfig(shock_months=0), "shock_months"),
        (CityConfig(shock_delta=0.0), "shock_delta"),
        (CityConfig(shock_delta=50.0), "shock_delta"),
        (CityConfig(shock_visibility=1.5), "shock_visibility"),
    ):
        with pytest.raises(ValueError, match=name):
            generate(bad, tmp_path / "x", today=TODAY)
    assert not (tmp_path / "x").exists()


def test_shock_start_is_the_first_of_the_month(tmp_path: Path) -> None:
    assert CityConfig(shock_months=24).shock_start == date(2024, 7, 1)
    assert CityConfig(shock_months=1).shock_start == date(2026, 6, 1)
    assert CityConfig(end_date=date(2026, 1, 15), shock_months=2).shock_start == date(2025, 12, 1)


def test_the_added_rows_draw_dirt_of_their_own_and_the_manifest_points_at_them(tmp_path: Path) -> None:
    dirty = CityConfig(entities=400, years=2, seed=9, dirt_rate=0.1)
    generate(dirty, tmp_path / "base", today=TODAY)
    generate(
        CityConfig(entities=400, years=2, seed=9, dirt_rate=0.1, shock_share=0.3, shock_months=12),
        tmp_path / "shocked",
        today=TODAY,
    )
    base_dirt = pl.read_parquet(tmp_path / "base" / "truth" / "dirt.parquet")
    dirt = pl.read_parquet(tmp_path / "shocked" / "truth" / "dirt.parquet")
    # Per table, the manifest is the unshocked one, then (penalties, list_entries) the added rows' dirt.
    parts = []
    for (name,), mine in dirt.group_by("table", maintain_order=True):
        theirs = base_dirt.filter(pl.col("table") == name)
        assert mine.head(theirs.height).equals(theirs)
        parts.append(mine.slice(theirs.height))
    added = pl.concat(parts)
    assert set(added["table"]) == {"penalties", "list_entries"}
    for table, mark in (("penalties", "突"), ("list_entries", "MDS")):
        fmt = FORMATS[table]
        text = (tmp_path / "shocked" / fmt.file).read_bytes().decode(fmt.encoding)
        rows = pl.read_csv(io.StringIO(text), infer_schema=False)
        base_rows = pl.read_csv(
            io.StringIO((tmp_path / "base" / fmt.file).read_bytes().decode(fmt.encoding)), infer_schema=False
        ).height
        spoiled = added.filter(pl.col("table") == table)["row"].to_list()
        assert spoiled and min(spoiled) >= base_rows
        key = "decision_no" if table == "penalties" else "entry_id"
        keys = rows[key].gather(spoiled).drop_nulls()
        assert keys.len() and keys.str.contains(mark).all()


def test_ingest_quarantines_exactly_the_dirt_of_a_shocked_city(tmp_path: Path) -> None:
    """The added rows and their dirt go through the real ingest like every other row."""
    out = tmp_path / "city"
    report = generate(
        CityConfig(entities=400, years=2, seed=9, dirt_rate=0.1, shock_share=0.3, shock_months=12),
        out,
        today=TODAY,
    )
    ingest.ingest_paths([out], lake_dir=tmp_path / "lake", salt="shock-test-salt", today=TODAY)
    manifest = pl.read_parquet(out / "truth" / "dirt.parquet")
    expected = {
        (table, row + (2 if FORMATS[table].kind == "csv" else 1), rule)
        for table, row, rule in manifest.select("table", "row", "rule").iter_rows()
    }
    found = set(lake.scan_quarantine(tmp_path / "lake").select("table", "line", "rule").collect().iter_rows())
    assert found == expected
    # The shocks' penalties are in the lake.
    accepted = lake.scan(tmp_path / "lake", "penalties").collect()
    assert accepted.filter(pl.col("decision_no").str.contains("突")).height > 20
    assert report.dirt_rows == manifest.height
