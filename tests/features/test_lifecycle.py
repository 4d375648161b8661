"""Lifecycle: revoked records vanish, corrected ones are flagged, pending objections flag, repairs end."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from features.build import FeatureConfig, build_features
from features.lifecycle import RepairPolicy, apply_lifecycle
from tests.features.records import E, Lake

AS_OF = date(2024, 1, 1)


def _penalty_lake() -> Lake:
    lk = Lake().entity(E[0])
    for pid in ("revoked", "corrected", "pending", "late_revoke", "rejected", "plain"):
        lk.add("penalties", uscc=E[0], decision_no=pid, decided_on=date(2023, 6, 1))
    obj = lk.add
    obj(
        "objections",
        uscc=E[0],
        record_table="penalties",
        record_id="revoked",
        filed_on=date(2023, 7, 1),
        decided_on=date(2023, 7, 5),
        outcome="upheld",
        resolution="revoked",
    )
    obj(
        "objections",
        uscc=E[0],
        record_table="penalties",
        record_id="corrected",
        filed_on=date(2023, 7, 1),
        decided_on=date(2023, 7, 5),
        outcome="upheld",
        resolution="corrected",
    )
    obj("objections", uscc=E[0], record_table="penalties", record_id="pending", filed_on=date(2023, 12, 1))
    # Revoked, but by a decision dated on as_of: at as_of the record still stood, under objection.
    obj(
        "objections",
        uscc=E[0],
        record_table="penalties",
        record_id="late_revoke",
        filed_on=date(2023, 12, 1),
        decided_on=AS_OF,
        outcome="upheld",
        resolution="revoked",
    )
    obj(
        "objections",
        uscc=E[0],
        record_table="penalties",
        record_id="rejected",
        filed_on=date(2023, 7, 1),
        decided_on=date(2023, 7, 5),
        outcome="rejected",
    )
    # An objection filed on as_of is the future.
    obj("objections", uscc=E[0], record_table="penalties", record_id="plain", filed_on=AS_OF)
    return lk


def test_objection_states():
    s = _penalty_lake().sources()
    out = (
        apply_lifecycle(
            s["penalties"],
            table_name="penalties",
            objections=s["objections"],
            repairs=s["repairs"],
            as_of=AS_OF,
        )
        .collect()
        .sort("decision_no")
    )
    got = {r["decision_no"]: (r["corrected"], r["under_objection"]) for r in out.to_dicts()}
    assert got == {
        "corrected": (True, False),
        "late_revoke": (False, True),
        "pending": (False, True),
        "plain": (False, False),
        "rejected": (False, False),
    }


def test_objections_change_the_feature_row():
    lk = _penalty_lake()
    row = build_features(lk.sources(), as_of=AS_OF).collect().row(0, named=True)
    # Six penalties, one revoked and one corrected: neither counts in the score's features (a corrected
    # record as published was wrong), though the profile still shows the correction.
    assert row["penalties_n_365d"] == 4
    assert row["records_under_objection_n"] == 2
    assert row["records_corrected_n"] == 1
    later = build_features(lk.sources(), as_of=date(2024, 1, 2)).collect().row(0, named=True)
    assert later["penalties_n_365d"] == 3  # the late revocation now applies
    assert later["records_under_objection_n"] == 2  # "pending" still, "plain" now; "late_revoke" decided


def _repair_lake() -> Lake:
    lk = Lake().entity(E[0])
    lk.add("penalties", uscc=E[0], decision_no="p1", decided_on=date(2023, 3, 1))
    lk.add("penalties", uscc=E[0], decision_no="p2", decided_on=date(2023, 3, 1))
    lk.add(
        "list_entries", uscc=E[0], entry_id="l1", list_type="severe_dishonesty", listed_on=date(2022, 1, 1)
    )
    lk.add(
        "repairs",
        uscc=E[0],
        record_table="penalties",
        record_id="p1",
        applied_on=date(2023, 9, 1),
        decided_on=date(2023, 10, 1),
    )
    lk.add(
        "repairs",
        uscc=E[0],
        record_table="penalties",
        record_id="p2",
        applied_on=date(2023, 9, 1),
        decided_on=date(2023, 10, 1),
        outcome="rejected",
    )
    lk.add(
        "repairs",
        uscc=E[0],
        record_table="list_entries",
        record_id="l1",
        applied_on=date(2023, 9, 1),
        decided_on=date(2023, 11, 1),
    )
    return lk


@pytest.mark.parametrize(
    ("policy", "penalties", "listed"),
    [
        (RepairPolicy(), 1, 0),
        (RepairPolicy(stop_penalty_publicity=False), 2, 0),
        (RepairPolicy(end_list_entries=False), 1, 1),
    ],
)
def test_repair_policy(policy: RepairPolicy, penalties: int, listed: int):
    lk = _repair_lake()
    row = (
        build_features(lk.sources(), as_of=AS_OF, config=FeatureConfig(repair=policy))
        .collect()
        .row(0, named=True)
    )
    assert row["penalties_n_365d"] == penalties
    assert row["severe_dishonesty_active"] == listed
    assert row["repairs_approved_n_1095d"] == 2


def test_repair_decided_after_as_of_does_not_apply():
    row = build_features(_repair_lake().sources(), as_of=date(2023, 10, 1)).collect().row(0, named=True)
    assert row["penalties_n_365d"] == 2  # the repair of p1 is decided on as_of: not yet
    assert row["severe_dishonesty_active"] == 1
    assert row["severe_dishonesty_days_listed"] == (date(2023, 10, 1) - date(2022, 1, 1)).days


def test_unknown_table_is_a_clear_error():
    s = Lake().sources()
    with pytest.raises(ValueError, match="no lifecycle"):
        apply_lifecycle(
            s["entities"],
            table_name="entities",
            objections=s["objections"],
            repairs=s["repairs"],
            as_of=AS_OF,
        )
    assert isinstance(s["entities"], pl.LazyFrame)
