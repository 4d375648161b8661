"""Sector models (issue 15): a sector model that beats the general model on its sector's test rows through
the champion gate scores that sector's rows and only those; one that does not is not kept; the model card
names the model of each sector; the policy file fails on a bad key, naming it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from models.explain import FeatureInfo
from models.routed import RoutedRiskModel
from tests.models.factories import CATEGORICAL, INFOS, labelled_frame
from training.run import TrainConfig, TrainingResult, fit_risk_model, model_card
from training.sectors import (
    SECTION_COLUMN,
    SECTION_LETTERS,
    SECTOR_POLICY_FILE,
    load_sector_policy,
    parse_sector_policy,
    with_sector_models,
)

# Stumps: an additive general model, which cannot give one sector a rule of its own (see sector_frame).
CONFIG = TrainConfig(
    valid_months=4,
    test_months=4,
    num_threads=1,
    estimator={
        "n_estimators": 60,
        "learning_rate": 0.1,
        "num_leaves": 2,
        "min_child_samples": 30,
        "early_stopping_rounds": 15,
    },
)
SECTION_INFO = FeatureInfo(
    SECTION_COLUMN,
    "行业门类（编码）",
    "industry section (code)",
    "qualifications",
    0,
    "行业门类编码为{value}",
    "industry section code {value}",
    structural=True,
)
SECTOR_INFOS = [*INFOS, SECTION_INFO]
SECTOR_CATEGORICAL = [*CATEGORICAL, SECTION_COLUMN]
FOOD, MANUFACTURING, HEALTH, RETAIL = (SECTION_LETTERS.index(s) + 1 for s in "HCQF")


def _policy_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "confidence": "U",
        "metric": "test_roc_auc",
        "margin": 0.01,
        "min_train_rows": 300,
        "min_test_rows": 100,
        "min_test_positives": 10,
        "sectors": [
            {"name": "food", "zh": "食品", "en": "food", "sections": ["H"]},
            {"name": "drug", "zh": "药品", "en": "drugs", "sections": ["Q"]},
            {"name": "product_quality", "zh": "工业产品", "en": "industrial products", "sections": ["C"]},
        ],
    }
    return data | changes


def sector_frame(n: int = 6000, *, seed: int = 6) -> pl.DataFrame:
    """The factories' labelled frame with an industry section. In section H (food) the violations follow a
    rule of their own (the ``noise`` column, strongly; elsewhere it is noise); an additive general model
    spreads that rule over every row, so in C (manufacturing, the general rule) it ranks poorly and C's own
    model wins, while H's own model does not beat the general one by the margin. Q (health) has too few
    rows to try. (Seeded: these outcomes hold for this seed and size.)"""
    frame = labelled_frame(n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    section = rng.choice([FOOD, MANUFACTURING, HEALTH, RETAIL], size=n, p=[0.3, 0.2, 0.01, 0.49]).astype(
        np.int8
    )
    frame = frame.with_columns(pl.Series(SECTION_COLUMN, section))
    food = section == FOOD
    p_food = 1 / (1 + np.exp(-(-1.2 + 2.5 * frame["noise"].to_numpy())))
    y = np.where(food, (rng.uniform(size=n) < p_food).astype(np.int8), frame["violation_found"].to_numpy())
    return frame.with_columns(pl.Series("violation_found", y.astype(np.int8)))


@pytest.fixture(scope="module")
def trained() -> tuple[pl.DataFrame, TrainingResult, TrainingResult]:
    frame = sector_frame()
    general = fit_risk_model(frame, infos=SECTOR_INFOS, categorical=SECTOR_CATEGORICAL, config=CONFIG)
    routed = with_sector_models(
        general,
        frame,
        infos=SECTOR_INFOS,
        categorical=SECTOR_CATEGORICAL,
        policy=parse_sector_policy(_policy_data()),
    )
    return frame, general, routed


def test_a_winning_sector_model_scores_its_rows_and_only_those(
    trained: tuple[pl.DataFrame, TrainingResult, TrainingResult],
) -> None:
    _, general, result = trained
    model = result.model
    assert isinstance(model, RoutedRiskModel)
    assert [r.name for r in model.routes] == ["product_quality"]
    won = {c.name: c for c in result.sectors}["product_quality"]
    assert won.tried and won.won and won.gate_passed and won.reason.startswith("kept")
    assert won.sector["test_roc_auc"] >= won.general["test_roc_auc"] + 0.01

    test = general.test
    inside = (test[SECTION_COLUMN] == MANUFACTURING).to_numpy()
    assert inside.any() and not inside.all()
    assert model.scored_by(test) == ["product_quality" if f else "general" for f in inside]
    scored = model.score(test, reasons=2)
    sector_model = model.routes[0].model
    rows, others = test.filter(pl.Series(inside)), test.filter(pl.Series(~inside))
    assert scored.filter(pl.Series(inside)).equals(sector_model.score(rows, reasons=2))
    assert scored.filter(pl.Series(~inside)).equals(general.model.score(others, reasons=2))
    # The sector model really differs from the general model on its rows.
    assert not np.allclose(sector_model.probability(rows), general.model.probability(rows))
    # The run's test rows and metrics are the routed model's.
    np.testing.assert_array_equal(result.test["probability"].to_numpy(), model.probability(test))
    assert result.evaluation.metrics["test_roc_auc"] > general.evaluation.metrics["test_roc_auc"]
    assert model.metadata["sector_models"]["sectors"][2]["won"] is True


def test_a_sector_model_that_does_not_win_is_not_kept(
    trained: tuple[pl.DataFrame, TrainingResult, TrainingResult],
) -> None:
    _, general, result = trained
    by_name = {c.name: c for c in result.sectors}
    food = by_name["food"]
    assert food.tried and not food.won and food.reason.startswith("not kept")
    assert "food" not in [r.name for r in result.model.routes]  # type: ignore[attr-defined]
    rows = general.test.filter(pl.col(SECTION_COLUMN) == FOOD)
    assert rows.height
    np.testing.assert_array_equal(result.model.probability(rows), general.model.probability(rows))
    drug = by_name["drug"]
    assert not drug.tried and not drug.won and drug.reason.startswith("not tried: training rows")


def test_a_huge_margin_keeps_the_general_model(
    trained: tuple[pl.DataFrame, TrainingResult, TrainingResult],
) -> None:
    frame, general, _ = trained
    result = with_sector_models(
        general,
        frame,
        infos=SECTOR_INFOS,
        categorical=SECTOR_CATEGORICAL,
        policy=parse_sector_policy(_policy_data(margin=0.9, sectors=_policy_data()["sectors"][2:])),
    )
    assert not isinstance(result.model, RoutedRiskModel)
    np.testing.assert_array_equal(
        result.model.probability(general.test), general.model.probability(general.test)
    )
    assert "sector_models" not in general.model.metadata  # the general model is not changed
    assert result.model.metadata["sector_models"]["sectors"][0]["won"] is False
    (pq,) = result.sectors
    assert pq.gate_passed and not pq.won and "< margin 0.9" in pq.reason


def test_the_card_names_the_model_of_each_sector(
    trained: tuple[pl.DataFrame, TrainingResult, TrainingResult],
) -> None:
    _, general, result = trained
    card = model_card(result)
    assert "## Sector models" in card
    rows = {line.split(" | ")[0].lstrip("| "): line for line in card.splitlines() if line.startswith("| ")}
    assert "| 工业产品 | C | sector model `product_quality` |" in rows["industrial products"]
    assert "| general model |" in rows["food"] and "not kept" in rows["food"]
    assert "| general model |" in rows["drugs"] and "not tried" in rows["drugs"]
    won = {c.name: c for c in result.sectors}["product_quality"]
    assert f"{won.sector['test_roc_auc']:.4f}" in rows["industrial products"]
    assert "## Sector models" not in model_card(general)


def test_the_policy_file_loads_and_its_letters_are_the_catalogs() -> None:
    from features.indicators import INDUSTRY_SECTIONS

    assert SECTION_LETTERS == INDUSTRY_SECTIONS
    policy = load_sector_policy()
    assert [s.name for s in policy.sectors] == ["food", "drug", "special_equipment", "product_quality"]
    assert {s.name: s.sections for s in policy.sectors}["food"] == ("H",)
    assert with_open_toml(SECTOR_POLICY_FILE)["metric"] == policy.metric


def with_open_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"margn": 0.01}, "unknown key 'margn'"),
        ({"metric": "test_accuracy"}, "key 'metric'"),
        ({"margin": -0.1}, "key 'margin'"),
        ({"min_test_rows": 0}, "key 'min_test_rows'"),
        (
            {"sectors": [{"name": "food", "zh": "食品", "en": "food", "sections": ["H"], "domain": "x"}]},
            "'domain'",
        ),
        ({"sectors": [{"name": "food", "zh": "食品", "en": "food", "sections": ["Z"]}]}, "'Z'"),
        ({"sectors": [{"name": "food", "zh": "食品", "en": "food"}]}, "missing key 'sections'"),
        (
            {
                "sectors": [
                    {"name": "food", "zh": "食品", "en": "food", "sections": ["H"]},
                    {"name": "drug", "zh": "药品", "en": "drugs", "sections": ["H"]},
                ]
            },
            "already in sector 'food'",
        ),
    ],
)
def test_a_bad_policy_names_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_sector_policy(_policy_data(**changes), source="sectors.toml")


def test_a_missing_key_in_the_file_is_named(tmp_path: Path) -> None:
    text = SECTOR_POLICY_FILE.read_text(encoding="utf-8").replace("margin = 0.01\n", "")
    path = tmp_path / "sectors.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path}: missing key 'margin'"):
        load_sector_policy(path)


@pytest.mark.slow  # one MLflow run with its charts
def test_the_routed_model_is_logged_registered_and_loaded_with_its_card(
    trained: tuple[pl.DataFrame, TrainingResult, TrainingResult], tmp_path: Path
) -> None:
    from training.registry import Registry
    from training.run import log_run

    _, _, result = trained
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    record = log_run(result, tracking_uri=uri, artifact_location=tmp_path / "mlartifacts")
    loaded = Registry(uri).load(record.version)
    assert isinstance(loaded, RoutedRiskModel) and [r.name for r in loaded.routes] == ["product_quality"]
    assert loaded.score(result.test, reasons=3).equals(result.model.score(result.test, reasons=3))
    (card,) = (tmp_path / "mlartifacts").rglob("model_card.md")
    assert "sector model `product_quality`" in card.read_text(encoding="utf-8")
    assert record.metrics["test_roc_auc"] == pytest.approx(result.evaluation.metrics["test_roc_auc"])
