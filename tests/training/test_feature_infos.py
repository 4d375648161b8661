"""Which catalog indicators become model inputs, and with which constraints."""

from __future__ import annotations

from features.indicators import CATALOG
from training.run import catalog_feature_infos


def test_rights_are_never_model_inputs() -> None:
    infos, categorical = catalog_feature_infos(CATALOG)
    names = {i.name for i in infos}
    unscored = {i.name for i in CATALOG if not i.scored}
    # Objections and repair applications are in the profile, not in the score.
    assert {"objections_n_1095d", "objections_upheld_n_1095d", "repairs_applied_n_1095d"} <= unscored
    assert not names & unscored
    assert not set(categorical) & unscored
    assert names == {i.name for i in CATALOG} - unscored


def test_directions_carry_over_for_scored_indicators() -> None:
    infos, _ = catalog_feature_infos(CATALOG)
    by_name = {i.name: i for i in CATALOG}
    assert all(info.direction == by_name[info.name].direction for info in infos)
    assert by_name["penalties_n_365d"].direction == 1
