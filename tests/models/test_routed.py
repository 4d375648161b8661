"""RoutedRiskModel (sector models, issue 15): each row is scored and explained by the model of its sector, the
rest by the general model, in the input's order and with the general score table's schema; it saves, logs
to MLflow and loads back (through the registry's pyfunc) as a RoutedRiskModel that scores identically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.calibration import ProbabilityCalibrator
from models.estimator import RiskClassifier
from models.explain import BASE_VALUE, directions
from models.risk_model import RiskModel, input_example, load_model, log_model
from models.routed import RoutedRiskModel, SectorRoute
from models.tiers import TierPolicy
from tests.models.factories import CATEGORICAL, FEATURES, INFOS, labelled_frame

SECTOR_TYPE = 2  # entity_type_code of the rows the sector model scores


def _fit(frame: pl.DataFrame, *, seed: int) -> RiskModel:
    fit, hold = frame[: frame.height * 2 // 3], frame[frame.height * 2 // 3 :]
    est = RiskClassifier(
        n_estimators=15,
        num_leaves=5,
        monotone_constraints=directions(INFOS),
        categorical_features=CATEGORICAL,
        random_state=seed,
    ).fit(fit.select(FEATURES), fit["violation_found"])
    cal = ProbabilityCalibrator().fit(est.decision_function(hold.select(FEATURES)), hold["violation_found"])
    policy = TierPolicy(
        overrides=(),
    ).fit(cal.predict(est.decision_function(hold.select(FEATURES))))
    return RiskModel(est, cal, policy, INFOS, {"trained_on": "factory", "seed": seed})


@pytest.fixture(scope="module")
def models() -> tuple[RiskModel, RiskModel, RoutedRiskModel]:
    frame = labelled_frame(1800, seed=21)
    general = _fit(frame, seed=0)
    # The sector's own model: fitted on its rows with the outcome flipped, so it disagrees with the general.
    rows = frame.filter(pl.col("entity_type_code") == SECTOR_TYPE)
    sector = _fit(rows.with_columns((1 - pl.col("violation_found")).alias("violation_found")), seed=1)
    route = SectorRoute("type_two", "二类", "type two", "entity_type_code", (SECTOR_TYPE,), sector)
    return general, sector, RoutedRiskModel(general, [route])


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    frame = labelled_frame(300, seed=22)
    # A null routing value belongs to no sector.
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(None)
        .otherwise(pl.col("entity_type_code"))
        .alias("entity_type_code")
    )


def test_each_row_is_scored_by_its_sectors_model(
    models: tuple[RiskModel, RiskModel, RoutedRiskModel], rows: pl.DataFrame
) -> None:
    general, sector, routed = models
    inside = (rows["entity_type_code"] == SECTOR_TYPE).fill_null(False).to_numpy()
    assert 0 < inside.sum() < rows.height
    assert routed.scored_by(rows) == ["type_two" if f else "general" for f in inside]
    assert routed.scored_by(rows)[5] == "general"
    scored = routed.score(rows, reasons=3)
    assert scored.schema == general.score(rows, reasons=3).schema
    assert scored["uscc"].to_list() == rows["uscc"].to_list()  # the input's order
    mask = pl.Series(inside)
    assert scored.filter(mask).equals(sector.score(rows.filter(mask), reasons=3))
    assert scored.filter(~mask).equals(general.score(rows.filter(~mask), reasons=3))
    assert not np.allclose(sector.probability(rows.filter(mask)), general.probability(rows.filter(mask)))
    np.testing.assert_array_equal(routed.probability(rows), scored["probability"].to_numpy())
    assert routed.score(rows.head(0), reasons=3).equals(general.score(rows.head(0), reasons=3))


def test_shap_comes_from_the_model_that_scored_the_row(
    models: tuple[RiskModel, RiskModel, RoutedRiskModel], rows: pl.DataFrame
) -> None:
    _, sector, routed = models
    explained = routed.explain(rows)
    # Additivity: every row's contributions add up to the raw score of the model that scored it.
    total = explained.contributions.to_numpy().sum(axis=1)
    np.testing.assert_allclose(total, explained.scores["raw_score"].to_numpy(), atol=1e-9)
    first = int(np.flatnonzero((rows["entity_type_code"] == SECTOR_TYPE).fill_null(False).to_numpy())[0])
    one = routed.explain_one(rows[first])
    theirs = sector.explain_one(rows[first])
    assert one == theirs
    assert explained.contributions[first, BASE_VALUE] == pytest.approx(theirs.base_value)


def test_a_route_must_read_a_feature_of_the_general_model(
    models: tuple[RiskModel, RiskModel, RoutedRiskModel],
) -> None:
    general, sector, _ = models
    with pytest.raises(ValueError, match="column 'industry' is not a feature"):
        RoutedRiskModel(general, [SectorRoute("x", "x", "x", "industry", ("C13",), sector)])
    with pytest.raises(ValueError, match="duplicate names"):
        route = SectorRoute("x", "x", "x", "entity_type_code", (1,), sector)
        RoutedRiskModel(general, [route, route])
    with pytest.raises(ValueError, match="name 'general'"):
        SectorRoute("general", "x", "x", "entity_type_code", (1,), sector)


def test_save_and_load_round_trip(
    models: tuple[RiskModel, RiskModel, RoutedRiskModel], rows: pl.DataFrame, tmp_path: Path
) -> None:
    _, _, routed = models
    loaded = RiskModel.load(routed.save(tmp_path / "m"))
    assert isinstance(loaded, RoutedRiskModel)
    assert [r.name for r in loaded.routes] == ["type_two"] and loaded.routes[0].values == (SECTOR_TYPE,)
    assert loaded.score(rows, reasons=3).equals(routed.score(rows, reasons=3))
    # A plain model's folder still loads as a plain RiskModel.
    plain = RiskModel.load(routed.general.save(tmp_path / "plain"))
    assert type(plain) is RiskModel


def test_mlflow_logging_and_loading_scores_identically(
    models: tuple[RiskModel, RiskModel, RoutedRiskModel], rows: pl.DataFrame, tmp_path: Path
) -> None:
    import mlflow

    from models.risk_model import _import_pyfunc

    _, _, routed = models
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("t", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = log_model(routed, example=rows, registered_model_name="cw-routed")
    loaded = load_model("models:/cw-routed/1")
    assert isinstance(loaded, RoutedRiskModel)
    assert loaded.score(rows, reasons=3).equals(routed.score(rows, reasons=3))
    # MLflow's own pyfunc predict (what a generic MLflow client gets) routes too.
    pyfunc = _import_pyfunc().load_model(info.model_uri)
    predicted = pl.from_pandas(pyfunc.predict(input_example(routed, rows, rows=rows.height)))
    np.testing.assert_allclose(
        predicted["probability"].to_numpy(), routed.probability(rows), rtol=0, atol=1e-12
    )


def test_the_change_between_runs_is_explained_by_the_model_that_scores_the_row(
    models: tuple[RiskModel, RiskModel, RoutedRiskModel], rows: pl.DataFrame
) -> None:
    """Monitoring's "what changed since last month" (models.monitoring.probability_change) reads the SHAP of
    the sector's model for a sector's rows, and its probabilities are the routed model's."""
    from models.monitoring import probability_change

    general, sector, routed = models
    prev = rows.filter(pl.col("entity_type_code") == SECTOR_TYPE).head(20)
    cur = prev.with_columns(pl.col(FEATURES[0]) + 1)  # every entity changed
    usccs = prev["uscc"].to_list()
    change = probability_change(routed, prev, cur, usccs).entities.sort("uscc")
    own = probability_change(sector, prev, cur, usccs).entities.sort("uscc")
    other = probability_change(general, prev, cur, usccs).entities.sort("uscc")
    np.testing.assert_allclose(change["raw_change"].to_numpy(), own["raw_change"].to_numpy(), atol=1e-12)
    np.testing.assert_allclose(
        change["probability"].to_numpy(), routed.probability(cur.sort("uscc")), atol=1e-12
    )
    assert not np.allclose(change["probability"].to_numpy(), other["probability"].to_numpy())
