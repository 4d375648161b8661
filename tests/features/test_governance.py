"""重错码治理 report: invalid codes by status, one code under several names, one name under several codes."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from features import governance
from tests.features.conftest import (
    CHECKSUM_BAD,
    CODE_A,
    CODE_B,
    CODE_C,
    CODE_D,
    FORMAT_BAD,
    Ingest,
    entity,
    penalty,
    write_csv,
)


def test_empty_lake_has_no_rate_and_meets_the_target(tmp_path: Path) -> None:
    result = governance.from_lake(tmp_path / "lake")
    assert result.entities == 0
    assert [f.kind for f in result.findings] == list(governance.KINDS)
    assert all(f.count == 0 and f.rate_per_10k is None and f.meets_target for f in result.findings)


def test_report_counts_rates_and_rows(run: Ingest, lake_dir: Path, tmp_path: Path) -> None:
    run(
        write_csv(
            tmp_path / "entities-1.csv",
            [
                entity(CODE_A, "盐城甲科技有限公司"),
                entity(CODE_B, "盐城甲科技有限公司"),  # one name, two codes
                entity(CODE_C, "东台丙（集团）合作社"),
                entity(CODE_D, "射阳丁商行"),
                entity(CHECKSUM_BAD, "坏码一"),
                entity(FORMAT_BAD, "坏码二"),
            ],
        )
    )
    # A re-issue renames C only by bracket width and blanks: the same name, not a finding.
    run(write_csv(tmp_path / "entities-2.csv", [entity(CODE_C, "东台丙(集团) 合作社")]))
    run(
        write_csv(
            tmp_path / "penalties.csv",
            [
                penalty("P1", code=CODE_D, party_name="射阳丁贸易商行"),  # one code, two names
                penalty("P2", code=CODE_A),
                penalty("P3", code=CHECKSUM_BAD),
            ],
        )
    )
    result = governance.from_lake(lake_dir)
    assert result.entities == 4

    found = {f.kind: f for f in result.findings}
    fmt, checksum = found["invalid_format"], found["invalid_checksum"]
    assert (fmt.count, checksum.count) == (1, 1)
    assert fmt.rows["value"].to_list() == [FORMAT_BAD]
    assert sorted(checksum.rows["table"].to_list()) == ["entities", "penalties"]  # two rows, one code
    assert checksum.rate_per_10k == 2500.0 and not checksum.meets_target

    names = found["one_code_many_names"]
    assert names.count == 1
    expected = pl.DataFrame(
        {
            "uscc": [CODE_D, CODE_D],
            "name": ["射阳丁商行", "射阳丁贸易商行"],
            "seen_in": ["entities.name", "penalties.party_name"],
        }
    )
    assert_frame_equal(names.rows.select("uscc", "name", "seen_in"), expected)

    codes = found["one_name_many_codes"]
    assert codes.count == 1 and codes.rows["uscc"].to_list() == [CODE_A, CODE_B]

    payload = result.to_json(limit=1)
    assert payload["target_per_10k"] == 1.0
    assert [len(f["rows"]) for f in payload["findings"]] == [1, 1, 1, 1]


def test_rate_below_target_is_met() -> None:
    entities = pl.LazyFrame(
        {
            "uscc": [f"C{i}" for i in range(20_000)],
            "name": [f"N{i}" for i in range(20_000)],
            "status": ["active"] * 20_000,
        }
    )
    quarantine = pl.LazyFrame(
        {
            "table": ["entities"],
            "batch_id": ["b"],
            "source": ["s"],
            "line": [2],
            "field": ["uscc"],
            "rule": ["uscc"],
            "value": [CHECKSUM_BAD],
            "message": ["m"],
        }
    )
    penalties = pl.LazyFrame(schema={"uscc": pl.String, "party_name": pl.String})
    result = governance.report(
        entities=entities,
        entity_versions=entities,
        penalties=penalties,
        quarantine=quarantine,
    )
    (checksum,) = [f for f in result.findings if f.kind == "invalid_checksum"]
    assert checksum.rate_per_10k == 0.5 and checksum.meets_target
