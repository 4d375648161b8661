"""The feature catalog: complete, well-formed, and the generated docs agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from features.indicators import (
    CATALOG,
    DIMENSIONS,
    FAMILIES,
    Indicator,
    family_schema,
    feature_schema,
    indicators_markdown,
)

ROOT = Path(__file__).resolve().parents[2]


def test_names_unique_snake_case_and_labelled():
    names = [i.name for i in CATALOG]
    assert len(names) == len(set(names))
    for i in CATALOG:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", i.name), i.name
        assert i.zh and i.en and i.dimension in DIMENSIONS and i.direction in (-1, 0, 1)
        value = 0.5 if i.dtype == pl.Float64() else 3
        assert i.template_zh.format(value=value) and i.template_en.format(value=value)


def test_every_dimension_is_used_and_has_labels():
    assert {i.dimension for i in CATALOG} == set(DIMENSIONS)
    assert DIMENSIONS["related_party"] == ("关联风险", "related-party risk")


def test_schema_is_catalog_order():
    schema = feature_schema()
    assert list(schema)[:2] == ["uscc", "as_of"]
    assert list(schema)[2:] == [i.name for i in CATALOG]
    assert sum(len(family_schema(f)) - 1 for f in FAMILIES) == len(CATALOG)


def test_required_features_of_the_issue_exist():
    names = {i.name for i in CATALOG}
    for n in (
        "penalties_n_365d",
        "fines_sum_365d",
        "related_blacklisted_share_2hop",
        "person_accountable_for_listed",
        "severe_dishonesty_active",
        "red_list_days_listed",
        "inspections_last_outcome_code",
        "group_size",
        "related_risk_propagated",
        "related_worst_grade",
        "self_reports_verified_share_1095d",
    ):
        assert n in names


def test_bad_indicators_are_rejected():
    with pytest.raises(ValueError, match="dimension"):
        Indicator("x", "x", "x", "money", 1, "{value}", "{value}")
    with pytest.raises(ValueError, match="direction"):
        Indicator("x", "x", "x", "law_abiding", 2, "{value}", "{value}")
    with pytest.raises(ValueError, match="exactly the field"):
        Indicator("x", "x", "x", "law_abiding", 1, "{n}", "{value}")
    with pytest.raises(ValueError, match="unknown feature family"):
        family_schema("nope")


def test_markdown_lists_every_feature_and_docs_are_current():
    md = indicators_markdown()
    for i in CATALOG:
        assert f"| `{i.name}` |" in md
    doc = (ROOT / "docs" / "features.md").read_text(encoding="utf-8")
    assert md in doc, "docs/features.md is stale: regenerate with `creditwatch features catalog --markdown`"
