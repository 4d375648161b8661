"""Sector risk aggregation (models/sectors.py) on small hand-computed cases: means, shares in C/D, realised
violation rates, the minimum number of inspections, the margins and the trend over runs."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from models import sectors as sec

ENTITIES = pl.DataFrame(
    {
        "uscc": ["e1", "e2", "e3", "e4", "e5"],
        "division_code": ["320902", "320902", "320902", "320903", None],
        "industry": ["C1311", "c2011", "F5121", "C1711", "Z999"],  # lower case c: still section C; Z: none
    }
)
SCORES = pl.DataFrame(
    {
        "uscc": ["e1", "e2", "e3", "e4", "e5"],
        "tier": ["A", "C", "D", "B", "D"],
        "probability": [0.10, 0.30, 0.50, 0.20, 0.90],
    }
)


def _judged(rows: list[tuple[str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"uscc": [u for u, _ in rows], "violation": [v for _, v in rows]},
        schema={"uscc": pl.String, "violation": pl.Int8},
    )


def _cell(table: pl.DataFrame, **keys: str | None) -> dict[str, object]:
    frame = table
    for k, v in keys.items():
        frame = frame.filter(pl.col(k).is_null() if v is None else pl.col(k) == v)
    assert frame.height == 1, frame
    return frame.row(0, named=True)


def test_section_is_the_first_letter_a_to_t() -> None:
    got = pl.DataFrame({"industry": ["C1311", " f51", "Z9", "", None, "t"]}).select(
        sec.section_of(pl.col("industry"))
    )
    assert got.to_series().to_list() == ["C", "F", None, None, None, "T"]
    assert len(sec.SECTIONS) == 20 and sec.SECTIONS["C"] == ("制造业", "Manufacturing")


def test_means_shares_and_realised_rates_per_cell() -> None:
    judged = _judged([("e1", 1), ("e1", 0), ("e2", 1), ("e3", 0), ("e4", 1)])
    table = sec.sector_table(SCORES, ENTITIES, judged, min_n=2)
    c = _cell(table, division_code="320902", section="C")  # e1 (A, 0.1) and e2 (C, 0.3)
    assert c["entities"] == 2
    assert c["mean_probability"] == pytest.approx(0.2)
    assert c["share_cd"] == pytest.approx(0.5)
    assert (c["inspections"], c["violations"]) == (3, 2)
    assert c["violation_rate"] == pytest.approx(2 / 3) and c["sufficient"] is True
    f = _cell(table, division_code="320902", section="F")  # e3 alone: one inspection < min_n 2
    assert (f["entities"], f["share_cd"], f["inspections"]) == (1, 1.0, 1)
    assert f["violation_rate"] is None and f["sufficient"] is False
    other = _cell(table, division_code="320903", section="C")
    assert other["mean_probability"] == pytest.approx(0.2) and other["share_cd"] == 0.0
    unknown = _cell(table, division_code=None, section=None)  # e5: no district, industry Z
    assert unknown["entities"] == 1 and unknown["share_cd"] == 1.0 and unknown["inspections"] == 0
    assert table.height == 4
    assert table["entities"].sum() == SCORES.height
    # Sorted by the keys, the unknown cell last.
    assert table["division_code"].to_list() == ["320902", "320902", "320903", None]


def test_min_n_is_a_boundary() -> None:
    judged = _judged([("e4", 1), ("e4", 0), ("e4", 0)])
    at = _cell(sec.sector_table(SCORES, ENTITIES, judged, min_n=3), division_code="320903")
    assert at["sufficient"] is True and at["violation_rate"] == pytest.approx(1 / 3)
    above = _cell(sec.sector_table(SCORES, ENTITIES, judged, min_n=4), division_code="320903")
    assert above["sufficient"] is False and above["violation_rate"] is None
    with pytest.raises(ValueError, match="min_n"):
        sec.sector_table(SCORES, ENTITIES, judged, min_n=0)


def test_margins() -> None:
    judged = _judged([("e1", 1), ("e4", 0)])
    by_section = sec.sector_table(SCORES, ENTITIES, judged, by=("section",), min_n=1)
    c = _cell(by_section, section="C")  # e1, e2, e4 in two districts
    assert c["entities"] == 3 and c["mean_probability"] == pytest.approx(0.2)
    assert c["share_cd"] == pytest.approx(1 / 3)
    assert (c["inspections"], c["violations"], c["violation_rate"]) == (2, 1, 0.5)
    by_district = sec.sector_table(SCORES, ENTITIES, judged, by=("division_code",), min_n=1)
    d = _cell(by_district, division_code="320902")
    assert d["entities"] == 3 and d["mean_probability"] == pytest.approx(0.3)
    assert d["share_cd"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="by"):
        sec.sector_table(SCORES, ENTITIES, judged, by=("industry",))
    with pytest.raises(ValueError, match="by"):
        sec.sector_table(SCORES, ENTITIES, judged, by=())


def test_inspections_of_an_unscored_cell_still_count() -> None:
    ents = pl.concat(
        [ENTITIES, pl.DataFrame({"uscc": ["e9"], "division_code": ["320904"], "industry": ["H61"]})]
    )
    table = sec.sector_table(SCORES, ents, _judged([("e9", 1)]), min_n=1)
    h = _cell(table, division_code="320904", section="H")
    assert h["entities"] == 0 and h["mean_probability"] is None and h["violation_rate"] == 1.0


def test_no_inspections_at_all() -> None:
    table = sec.sector_table(SCORES, ENTITIES, _judged([]), min_n=30)
    assert table["inspections"].sum() == 0 and table["violation_rate"].null_count() == table.height


def test_trend_over_runs() -> None:
    later = SCORES.with_columns(
        pl.Series("tier", ["C", "C", "D", "B", "D"]), pl.Series("probability", [0.40, 0.30, 0.50, 0.20, 0.90])
    )
    runs = [(date(2026, 6, 30), SCORES), (date(2026, 11, 27), later.filter(pl.col("uscc") != "e4"))]
    trend = sec.sector_trend(runs, ENTITIES)
    assert trend.columns == ["run", "section", "entities", "mean_probability", "share_cd"]
    first = _cell(trend.filter(pl.col("run") == date(2026, 6, 30)), section="C")
    second = _cell(trend.filter(pl.col("run") == date(2026, 11, 27)), section="C")
    assert (first["entities"], first["mean_probability"], first["share_cd"]) == (
        3,
        pytest.approx(0.2),
        pytest.approx(1 / 3),
    )
    assert (second["entities"], second["mean_probability"], second["share_cd"]) == (
        2,
        pytest.approx(0.35),
        1.0,
    )
    assert trend["run"].to_list() == sorted(trend["run"].to_list())
    cells = sec.sector_trend(runs, ENTITIES, by=("division_code", "section"))
    assert cells.height == 4 + 3  # run 1: 4 cells; run 2: e4's cell gone
    empty = sec.sector_trend([], ENTITIES)
    assert empty.height == 0 and "mean_probability" in empty.columns
