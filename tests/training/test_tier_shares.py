"""Tiers exist in every city: the cut-offs come from the tier policy file (shares by default) and, in shares
mode, are fitted on the city's entities as of the training cut-off, not on the inspected ones (issue 12: a
city of 2,000 entities had no tier A)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from features.build import FeatureConfig
from features.ingest import ingest_paths
from features.lake import sources
from features.synth import generate
from features.synth.city import CityConfig
from models.risk_model import RiskModel
from models.tiers import TIERS
from training.labels import labelled_features
from training.run import (
    TIER_POLICY_FILE,
    TrainConfig,
    catalog_feature_infos,
    fit_risk_model,
    load_tier_policy,
    population_features,
    training_cutoff,
)

TODAY = date(2026, 11, 27)


@dataclass
class City:
    labelled: pl.DataFrame
    population: pl.DataFrame


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    root = tmp_path_factory.mktemp("tier-city")
    generate(CityConfig(entities=2000, seed=2), root / "src", today=TODAY)
    ingest_paths(
        sorted(p for p in (root / "src").iterdir() if p.is_file()),
        lake_dir=root / "lake",
        salt="creditwatch-demo-salt",
        today=TODAY,
    )
    lake = sources(root / "lake")
    labelled = labelled_features(lake)
    yield City(labelled, population_features(lake, labelled))
    shutil.rmtree(root, ignore_errors=True)


def _fit(city: City, config: TrainConfig, *, population: bool = True) -> RiskModel:
    infos, categorical = catalog_feature_infos(FeatureConfig().catalog)
    return fit_risk_model(
        city.labelled,
        infos=infos,
        categorical=categorical,
        config=config,
        population=city.population if population else None,
    ).model


def _shares(tiers: pl.Series) -> dict[str, float]:
    counts = tiers.value_counts()
    total = tiers.len()
    return {t: next((n / total for v, n in counts.iter_rows() if v == t), 0.0) for t in TIERS}


def test_the_policy_file_sets_the_default_mode_and_shares() -> None:
    file = load_tier_policy()
    assert TIER_POLICY_FILE.name == "tiers.toml" and file.mode == "shares" and file.confidence == "U"
    assert sum(file.shares) == pytest.approx(1.0) and min(file.shares) > 0
    config = TrainConfig()
    assert (config.tier_mode, config.tier_shares, config.tier_thresholds) == (
        file.mode,
        file.shares,
        file.thresholds,
    )
    # An explicit value still overrides the file, and a bad one is refused before any data is read.
    assert TrainConfig(tier_mode="thresholds").tier_shares == file.shares
    with pytest.raises(ValueError, match="mode"):
        TrainConfig(tier_mode="quantiles")


def test_a_policy_file_is_read_key_by_key(tmp_path: Path) -> None:
    path = tmp_path / "tiers.toml"
    path.write_text(
        'mode = "thresholds"\nconfidence = "P"\n[shares]\nA = 0.5\nB = 0.3\nC = 0.15\nD = 0.05\n'
        "[thresholds]\na_b = 0.1\nb_c = 0.2\nc_d = 0.4\n",
        encoding="utf-8",
    )
    read = load_tier_policy(path)
    assert (read.mode, read.shares, read.thresholds, read.confidence) == (
        "thresholds",
        (0.5, 0.3, 0.15, 0.05),
        (0.1, 0.2, 0.4),
        "P",
    )
    path.write_text('mode = "shares"\nconfidence = "U"\n[shares]\nA = 1.0\n', encoding="utf-8")
    with pytest.raises(ValueError, match="missing key"):
        load_tier_policy(path)


def test_the_training_cutoff_is_until_or_the_day_after_the_last_inspection(city: City) -> None:
    last = city.labelled["as_of"].max()
    assert isinstance(last, date)
    assert training_cutoff(city.labelled) == last + timedelta(days=1)
    assert training_cutoff(city.labelled, date(2025, 1, 1)) == date(2025, 1, 1)
    assert city.population["as_of"].unique().to_list() == [last + timedelta(days=1)]


def test_every_tier_is_populated_in_the_configured_shares(city: City) -> None:
    config = TrainConfig()
    model = _fit(city, config)
    assert model.metadata["tiers"]["fitted_on"] == "population"
    assert model.metadata["tiers"]["rows"] == city.population.height
    scored = model.score(city.population, reasons=0)
    model_shares = _shares(scored["model_tier"])
    assert config.tier_shares is not None
    for tier, want in zip(TIERS, config.tier_shares, strict=True):
        assert model_shares[tier] == pytest.approx(want, abs=0.02), (tier, model_shares)
    # The rule overrides (severe list → D, a new entity without history → the default tier) move a few.
    final = _shares(scored["tier"])
    for tier, want in zip(TIERS, config.tier_shares, strict=True):
        assert final[tier] > 0 and final[tier] == pytest.approx(want, abs=0.1), (tier, final)


def test_shares_fitted_on_the_inspected_miss_the_city(city: City) -> None:
    """The old way, for contrast: fitted on the labelled inspections, the city's shares drift off."""
    config = TrainConfig()
    model = _fit(city, config, population=False)
    assert model.metadata["tiers"]["fitted_on"] == "labelled"
    shares = _shares(model.score(city.population, reasons=0)["model_tier"])
    assert config.tier_shares is not None
    assert max(abs(shares[t] - w) for t, w in zip(TIERS, config.tier_shares, strict=True)) > 0.02


def test_thresholds_mode_keeps_the_files_cut_offs(city: City) -> None:
    config = TrainConfig(tier_mode="thresholds")
    model = _fit(city, config)
    assert model.policy.mode == "thresholds"
    assert model.policy.thresholds_ == load_tier_policy().thresholds
