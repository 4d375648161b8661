"""bench._city.city_in_parts: a city too large for one generator run, made of disjoint parts (issue 16's 10M
benchmark). Every part must be the city it would be alone, its identifiers made its own, so a run over the
whole measures what a city of that size costs without any part's records meeting another's."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from bench._city import city_in_parts, part_uscc, rekey
from features import lake as lake_io
from features.build import build_features
from features.uscc import Status, complete, verdict_expr

TODAY = date(2026, 6, 30)
AS_OF = date(2026, 6, 1)
SALT = "bench-city-test-salt"


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The city of 2 parts (seeds 5 and 6), and each part generated alone as a city of its own."""
    root = tmp_path_factory.mktemp("parts")
    out = {"whole": root / "whole" / "lake"}
    city_in_parts(root / "whole", out["whole"], entities=700, parts=2, seed=5, salt=SALT, today=TODAY, jobs=2)
    for i in (0, 1):
        city_in_parts(
            root / f"alone-{i}",
            root / f"alone-{i}" / "lake",
            entities=350,
            parts=1,
            seed=5 + i,
            salt=SALT,
            today=TODAY,
        )
        out[f"alone-{i}"] = root / f"alone-{i}" / "lake"
    return out


def _features(lake: Path) -> pl.DataFrame:
    return build_features(lake_io.sources(lake), as_of=AS_OF).collect().sort("uscc")


def test_part_codes_stay_valid_and_leave_the_city() -> None:
    valid = complete("91320902MA1XYW123")
    moved = pl.DataFrame({"uscc": [valid, "123", None]}).select(part_uscc(pl.col("uscc"), 3)).to_series()
    assert moved[0] == complete("91350902MA1XYW123")  # the division 320902 moved to 350902, still valid
    assert moved[1] == "123" and moved[2] is None  # what cannot be moved is left as it is


def test_rekey_makes_every_identifier_the_parts_own_and_keeps_part_zero() -> None:
    relations = pl.DataFrame(
        {"relation_id": ["GX1"], "uscc": [None], "person_key": ["pk"], "related_uscc": [""], "role": ["x"]},
        schema_overrides={"uscc": pl.String},
    )
    assert rekey(relations, "relations", 0).equals(relations)
    out = rekey(relations, "relations", 2).row(0, named=True)
    assert out["relation_id"] == "GX1-T2" and out["person_key"] == "pk-T2"
    assert out["related_uscc"] == "" and out["role"] == "x"


def test_the_parts_are_disjoint_and_every_code_is_valid(lakes: dict[str, Path]) -> None:
    sources = lake_io.sources(lakes["whole"])
    entities = sources["entities"].collect()
    assert entities.height == sum(
        lake_io.sources(lakes[k])["entities"].collect().height for k in ("alone-0", "alone-1")
    )
    assert entities["uscc"].n_unique() == entities.height
    verdicts = entities.select(verdict_expr(pl.col("uscc")).alias("v"))["v"]
    assert verdicts.is_in([Status.VALID.value, Status.ORG_CODE_WARNING.value]).all()
    for table in ("persons", "relations", "penalties", "inspections"):
        frame = sources[table].collect()
        (key,) = {
            "persons": ("person_key",),
            "relations": ("relation_id",),
            "penalties": ("decision_no",),
            "inspections": ("inspection_id",),
        }[table]
        assert frame[key].n_unique() == frame.height, table


def test_every_entity_has_the_features_of_its_part_generated_alone(lakes: dict[str, Path]) -> None:
    whole = _features(lakes["whole"])
    for i in (0, 1):
        alone = _features(lakes[f"alone-{i}"])
        if i:
            alone = alone.with_columns(part_uscc(pl.col("uscc"), i).alias("uscc")).sort("uscc")
        mine = whole.join(alone.select("uscc"), on="uscc", how="semi").sort("uscc")
        assert mine.height == alone.height > 0
        assert mine.equals(alone), f"part {i}"


def test_more_parts_than_the_identifiers_keep_apart_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="parts must be 1"):
        city_in_parts(tmp_path, tmp_path / "lake", entities=1000, parts=101, seed=0, salt=SALT, today=TODAY)
    assert not (tmp_path / "lake").exists()  # refused before anything is generated
