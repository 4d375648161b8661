"""Profile families on hand-made records: every number below is worked out by hand in the comments."""

from __future__ import annotations

import math
from datetime import date

import polars as pl
import pytest

from features import profiles as P
from features.indicators import family_schema
from features.lifecycle import apply_lifecycle
from tests.features.records import E, Lake

AS_OF = date(2024, 1, 1)  # 2023-12-31 is 1 day before; 2023-10-03 is 90 days before; 2023-01-01 is 365


def one(frame: pl.LazyFrame, uscc: str = E[0]) -> dict:
    rows = frame.filter(pl.col("uscc") == uscc).collect().to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def test_registration_codes_age_status():
    lk = Lake()
    lk.entity(
        E[0],
        entity_type="cooperative",
        industry="c13",
        registered_capital=math.e - 1,
        established_on=date(2023, 12, 1),
    )
    # Closed after as_of: the closure is the future, so the entity was still active at as_of.
    lk.entity(E[1], status="deregistered", closed_on=date(2024, 3, 1), division_code="bad")
    lk.entity(E[2], status="revoked", closed_on=date(2023, 6, 1))
    lk.entity(E[3], established_on=AS_OF)  # established on as_of: not yet known
    out = P.registration_profile(lk.sources()["entities"], as_of=AS_OF)
    assert out.collect_schema() == family_schema("registration")
    r0 = one(out)
    assert r0["age_days"] == 31
    assert r0["entity_type_code"] == 3  # enterprise, individual_business, cooperative
    assert r0["industry_section_code"] == 3  # A, B, C
    assert r0["log_capital"] == pytest.approx(1.0)
    assert r0["division_code"] == 320902
    assert one(out, E[1])["status_code"] == 1 and one(out, E[1])["division_code"] is None
    assert one(out, E[2])["status_code"] == 3  # active, suspended, revoked
    assert out.filter(pl.col("uscc") == E[3]).collect().height == 0


def test_penalties_by_window_severity_and_fines():
    lk = Lake()
    add = lk.add
    add(
        "penalties",
        uscc=E[0],
        decided_on=date(2023, 12, 31),
        severity="serious",
        fine_amount=100.0,
        confiscated_amount=50.0,
    )
    add(
        "penalties", uscc=E[0], decided_on=date(2023, 10, 3), severity="minor", fine_amount=10.0
    )  # exactly 90 days
    add("penalties", uscc=E[0], decided_on=date(2023, 10, 2), severity="general")  # 91 days
    add("penalties", uscc=E[0], decided_on=date(2023, 1, 1), severity="general", fine_amount=1.0)  # 365 days
    add(
        "penalties", uscc=E[0], decided_on=date(2020, 12, 31), severity="serious", fine_amount=1000.0
    )  # 1096 days
    add("penalties", uscc=E[0], decided_on=AS_OF, severity="serious", fine_amount=1e6)  # the future
    out = P.penalty_profile(lk.sources()["penalties"], as_of=AS_OF)
    assert out.collect_schema() == family_schema("penalties")
    r = one(out)
    assert (r["penalties_n_90d"], r["penalties_n_365d"], r["penalties_n_1095d"]) == (2, 4, 4)
    assert (r["penalties_serious_n_90d"], r["penalties_minor_n_90d"], r["penalties_general_n_90d"]) == (
        1,
        1,
        0,
    )
    assert r["penalties_general_n_365d"] == 2
    assert r["penalties_serious_n_1095d"] == 1
    assert r["fines_sum_90d"] == 160.0 and r["fines_sum_365d"] == 161.0
    assert r["penalties_days_since_last"] == 1


def test_licences_valid_and_by_commitment():
    lk = Lake()
    lk.add("licences", uscc=E[0], decided_on=date(2023, 11, 1), valid_to=date(2026, 1, 1), by_commitment=True)
    lk.add("licences", uscc=E[0], decided_on=date(2020, 1, 1), valid_to=date(2023, 12, 31))  # ended before
    lk.add("licences", uscc=E[0], decided_on=date(2022, 1, 1), valid_to=AS_OF)  # last valid day is as_of
    lk.add("licences", uscc=E[0], decided_on=date(2023, 12, 1), valid_from=date(2024, 2, 1))  # not started
    r = one(P.licence_profile(lk.sources()["licences"], as_of=AS_OF))
    assert (r["licences_n_90d"], r["licences_n_365d"], r["licences_n_1095d"]) == (2, 2, 3)
    assert r["licences_valid_n"] == 2
    assert r["licences_by_commitment_n_1095d"] == 1


def test_commitments_breach_known_only_after_its_date():
    lk = Lake()
    lk.add(
        "commitments",
        uscc=E[0],
        made_on=date(2023, 6, 1),
        fulfilment="breached",
        fulfilment_on=date(2023, 12, 1),
    )
    lk.add(
        "commitments",
        uscc=E[0],
        made_on=date(2023, 6, 1),
        fulfilment="breached",
        fulfilment_on=date(2024, 2, 1),
    )
    lk.add(
        "commitments",
        uscc=E[0],
        made_on=date(2022, 6, 1),
        fulfilment="fulfilled",
        fulfilment_on=date(2022, 9, 1),
    )
    lk.add("commitments", uscc=E[0], made_on=date(2023, 11, 1))
    r = one(P.commitment_profile(lk.sources()["commitments"], as_of=AS_OF))
    assert (r["commitments_n_90d"], r["commitments_n_365d"], r["commitments_n_1095d"]) == (1, 3, 4)
    # The second breach is dated after as_of: at as_of that commitment was still pending.
    assert (r["commitments_breached_n_90d"], r["commitments_breached_n_365d"]) == (1, 1)
    assert r["commitments_breached_share_1095d"] == pytest.approx(1 / 4)


def test_self_reports_verified_share():
    lk = Lake()
    lk.add(
        "self_reports",
        uscc=E[0],
        reported_on=date(2023, 12, 1),
        verified=True,
        verified_on=date(2023, 12, 20),
    )
    lk.add(
        "self_reports", uscc=E[0], reported_on=date(2023, 12, 1), verified=True, verified_on=date(2024, 1, 5)
    )
    lk.add("self_reports", uscc=E[0], reported_on=date(2022, 5, 1), verified=False)
    r = one(P.self_report_profile(lk.sources()["self_reports"], as_of=AS_OF))
    assert (r["self_reports_n_90d"], r["self_reports_n_365d"], r["self_reports_n_1095d"]) == (2, 2, 3)
    assert r["self_reports_verified_share_1095d"] == pytest.approx(1 / 3)


def test_evaluations_latest_valid_grade_and_worst_industry():
    lk = Lake()
    lk.add("evaluations", uscc=E[0], grade="D", evaluated_on=date(2022, 1, 1))
    lk.add("evaluations", uscc=E[0], grade="B", evaluated_on=date(2023, 1, 1))  # latest before as_of
    lk.add("evaluations", uscc=E[0], grade="A", evaluated_on=AS_OF)  # the future
    lk.add(
        "evaluations",
        uscc=E[0],
        scheme="industry",
        industry_domain="food",
        grade="C",
        evaluated_on=date(2023, 3, 1),
    )
    lk.add(
        "evaluations",
        uscc=E[0],
        scheme="industry",
        industry_domain="food",
        grade="A",
        evaluated_on=date(2023, 5, 1),
    )
    lk.add(
        "evaluations",
        uscc=E[0],
        scheme="industry",
        industry_domain="drug",
        grade="B",
        evaluated_on=date(2023, 5, 1),
    )
    lk.add("evaluations", uscc=E[1], grade="D", evaluated_on=date(2020, 1, 1), valid_until=date(2023, 12, 31))
    out = P.evaluation_profile(lk.sources()["evaluations"], as_of=AS_OF)
    r = one(out)
    assert r["public_credit_grade"] == 2
    assert r["industry_grade_worst"] == 2  # latest food A=1, latest drug B=2 → worst 2
    expired = out.filter(pl.col("uscc") == E[1]).collect()
    assert expired["public_credit_grade"].to_list() == [None]  # expired evaluation: no grade


def test_evaluation_scores_latest_mean_change_and_lowest_industry():
    lk = Lake()
    lk.add("evaluations", uscc=E[0], evaluation_id="V1", grade="D", score=60.0, evaluated_on=date(2021, 1, 1))
    lk.add("evaluations", uscc=E[0], evaluation_id="V2", grade="C", score=70.0, evaluated_on=date(2022, 1, 1))
    lk.add("evaluations", uscc=E[0], evaluation_id="V3", grade="B", score=83.0, evaluated_on=date(2023, 1, 1))
    lk.add("evaluations", uscc=E[0], evaluation_id="V4", grade="A", score=99.0, evaluated_on=AS_OF)  # future
    for domain, score in (("food", 75.5), ("drug", 91.0)):
        lk.add(
            "evaluations",
            uscc=E[0],
            scheme="industry",
            industry_domain=domain,
            grade="B",
            score=score,
            evaluated_on=date(2023, 5, 1),
        )
    # Only an expired round: no latest score and no change, but the history still counts in the mean.
    lk.add(
        "evaluations",
        uscc=E[1],
        grade="D",
        score=50.0,
        evaluated_on=date(2020, 1, 1),
        valid_until=date(2023, 12, 31),
    )
    out = P.evaluation_profile(lk.sources()["evaluations"], as_of=AS_OF).collect()
    r = out.filter(pl.col("uscc") == E[0]).row(0, named=True)
    assert r["public_credit_score"] == 83.0
    assert r["public_credit_score_mean"] == pytest.approx((60 + 70 + 83) / 3)
    assert r["public_credit_score_change"] == pytest.approx(13.0)
    assert r["industry_score_lowest"] == 75.5
    e = out.filter(pl.col("uscc") == E[1]).row(0, named=True)
    assert (e["public_credit_score"], e["public_credit_score_change"]) == (None, None)
    assert e["public_credit_score_mean"] == 50.0


def _lists(lk: Lake, as_of: date = AS_OF) -> pl.LazyFrame:
    s = lk.sources()
    entries = apply_lifecycle(
        s["list_entries"],
        table_name="list_entries",
        objections=s["objections"],
        repairs=s["repairs"],
        as_of=as_of,
    )
    return P.list_profile(entries, as_of=as_of)


def test_list_status_days_and_exits():
    lk = Lake()
    lk.add("list_entries", uscc=E[0], list_type="severe_dishonesty", listed_on=date(2023, 12, 1))
    lk.add(
        "list_entries",
        uscc=E[0],
        list_type="red_list",
        listed_on=date(2022, 1, 1),
        exited_on=date(2023, 6, 1),
    )
    lk.add(
        "list_entries",
        uscc=E[0],
        list_type="abnormal_operations",
        listed_on=date(2023, 1, 1),
        exited_on=AS_OF,
    )
    lk.add(
        "list_entries",
        uscc=E[0],
        list_type="court_dishonest_debtor",
        listed_on=date(2020, 1, 1),
        planned_end=date(2023, 1, 1),
    )
    r = one(_lists(lk))
    assert (r["severe_dishonesty_active"], r["severe_dishonesty_days_listed"]) == (1, 31)
    assert (r["red_list_active"], r["red_list_days_listed"]) == (0, 0)
    # Exit dated on as_of has not happened yet that morning.
    assert (r["abnormal_operations_active"], r["abnormal_operations_days_listed"]) == (1, 365)
    assert r["court_dishonest_debtor_active"] == 0
    assert r["blacklist_entries_n_1095d"] == 2  # 2023-12-01 and 2023-01-01; 2020 is older than 1095 days


def test_interviews_repairs_objections():
    lk = Lake()
    lk.add("interviews", uscc=E[0], held_on=date(2023, 12, 1))
    lk.add("interviews", uscc=E[0], held_on=date(2022, 12, 1))
    lk.add(
        "repairs",
        uscc=E[0],
        record_table="penalties",
        record_id="x",
        applied_on=date(2023, 5, 1),
        decided_on=date(2023, 6, 1),
    )
    lk.add(
        "repairs",
        uscc=E[0],
        record_table="penalties",
        record_id="y",
        applied_on=date(2023, 12, 1),
        decided_on=date(2024, 1, 2),
    )
    lk.add("objections", uscc=E[0], record_table="penalties", record_id="a", filed_on=date(2023, 12, 1))
    lk.add(
        "objections",
        uscc=E[0],
        record_table="penalties",
        record_id="b",
        filed_on=date(2023, 5, 1),
        decided_on=date(2023, 5, 5),
        outcome="upheld",
        resolution="corrected",
    )
    lk.add(
        "objections",
        uscc=E[0],
        record_table="penalties",
        record_id="c",
        filed_on=date(2023, 11, 1),
        decided_on=AS_OF,
        outcome="upheld",
        resolution="revoked",
    )
    s = lk.sources()
    ri = one(P.interview_profile(s["interviews"], as_of=AS_OF))
    assert (ri["interviews_n_90d"], ri["interviews_n_365d"], ri["interviews_n_1095d"]) == (1, 1, 2)
    rr = one(P.repair_profile(s["repairs"], as_of=AS_OF))
    assert (rr["repairs_applied_n_1095d"], rr["repairs_approved_n_1095d"]) == (2, 1)
    ro = one(P.objection_profile(s["objections"], as_of=AS_OF))
    assert ro["objections_n_1095d"] == 3
    assert ro["objections_upheld_n_1095d"] == 1  # c is decided on as_of: not known yet
    assert ro["records_under_objection_n"] == 2  # a (no decision) and c (decision in the future)
    assert ro["records_corrected_n"] == 1


def test_inspection_history_strictly_before_as_of():
    lk = Lake()
    lk.add("inspections", uscc=E[0], inspected_on=date(2023, 3, 1), outcome="violation", inspection_id="i1")
    lk.add("inspections", uscc=E[0], inspected_on=date(2023, 9, 1), outcome="no_problem", inspection_id="i2")
    lk.add(
        "inspections",
        uscc=E[0],
        inspected_on=date(2023, 9, 1),
        outcome="serious_violation",
        inspection_id="i3",
    )
    lk.add("inspections", uscc=E[0], inspected_on=date(2023, 12, 1), outcome="not_found", inspection_id="i4")
    # The inspection of the day itself is the label, never a feature.
    lk.add("inspections", uscc=E[0], inspected_on=AS_OF, outcome="serious_violation", inspection_id="i5")
    r = one(P.inspection_profile(lk.sources()["inspections"], as_of=AS_OF))
    assert r["inspections_n_1095d"] == 4
    assert r["inspections_violation_rate_1095d"] == pytest.approx(2 / 4)
    assert r["inspections_serious_n_1095d"] == 1
    assert r["inspections_days_since_last"] == 31
    assert r["inspections_last_outcome_code"] == 4  # not_found is the 4th outcome


def test_conform_names_the_problem():
    with pytest.raises(ValueError, match="missing columns"):
        P.conform(pl.LazyFrame({"uscc": ["x"]}), family_schema("interviews"), name="t")
    bad = pl.LazyFrame({"uscc": ["x"], **{c: ["a"] for c in list(family_schema("interviews"))[1:]}})
    with pytest.raises(ValueError, match="wrong dtypes"):
        P.conform(bad, family_schema("interviews"), name="t")
