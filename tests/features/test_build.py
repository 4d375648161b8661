"""The feature table: schema, population, leakage (every table), determinism, several dates, events."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_frame_not_equal

from features.build import FeatureConfig, build_features, build_for_events
from features.catalog import BY_NAME
from features.indicators import CATALOG, feature_schema
from tests.features.records import E, Lake

AS_OF = date(2024, 1, 1)
LATER = AS_OF + timedelta(days=30)
PK = [f"{n:064x}" for n in range(1, 5)]


def base_lake() -> Lake:
    """A little of everything, all dated before AS_OF."""
    lk = Lake()
    for e in E[:5]:
        lk.entity(e, address="盐城市亭湖区1号" if e in E[:2] else None)
    lk.entity(E[5], closed_on=date(2023, 6, 1), status="deregistered")  # closed before: not in the population
    for p in PK:
        lk.add("persons", person_key=p)
    lk.add("relations", uscc=E[0], relation_type="legal_representative", person_key=PK[0])
    lk.add("relations", uscc=E[2], relation_type="shareholder", person_key=PK[0], share=0.4)
    lk.add("relations", uscc=E[3], relation_type="investment", related_uscc=E[4], share=0.6)
    lk.add("licences", uscc=E[0], licence_id="L1", decided_on=date(2023, 5, 1))
    lk.add("penalties", uscc=E[0], decision_no="P1", decided_on=date(2023, 5, 1), fine_amount=500.0)
    lk.add("penalties", uscc=E[2], decision_no="P2", decided_on=date(2022, 5, 1), severity="serious")
    lk.add(
        "commitments",
        uscc=E[1],
        commitment_id="C1",
        made_on=date(2023, 2, 1),
        fulfilment="breached",
        fulfilment_on=date(2023, 8, 1),
    )
    lk.add(
        "self_reports",
        uscc=E[1],
        report_id="S1",
        reported_on=date(2023, 2, 1),
        verified=True,
        verified_on=date(2023, 3, 1),
    )
    # Two rounds with scores: the earlier one has expired by AS_OF but still counts in the score mean.
    lk.add(
        "evaluations",
        uscc=E[2],
        evaluation_id="V0",
        grade="D",
        score=60.0,
        evaluated_on=date(2022, 1, 1),
        valid_until=date(2023, 1, 1),
    )
    lk.add("evaluations", uscc=E[2], evaluation_id="V1", grade="C", score=70.0, evaluated_on=date(2023, 1, 1))
    lk.add(
        "list_entries", uscc=E[2], entry_id="B1", list_type="severe_dishonesty", listed_on=date(2023, 3, 1)
    )
    lk.add("list_entries", uscc=E[3], entry_id="R1", list_type="red_list", listed_on=date(2023, 3, 1))
    lk.add("interviews", uscc=E[2], interview_id="I1", held_on=date(2023, 4, 1))
    lk.add(
        "repairs",
        uscc=E[0],
        repair_id="RP1",
        record_table="penalties",
        record_id="P1",
        applied_on=date(2023, 9, 1),
        outcome="pending",
    )
    lk.add(
        "objections",
        uscc=E[2],
        objection_id="O1",
        record_table="penalties",
        record_id="P2",
        filed_on=date(2023, 9, 1),
    )
    lk.add("inspections", uscc=E[0], inspection_id="N1", inspected_on=date(2023, 7, 1), outcome="violation")
    return lk


# One record per table dated on or after AS_OF, aimed at entities already in the population.
FUTURE: dict[str, list[tuple[str, dict]]] = {
    "entities": [("entities", {"uscc": E[6], "established_on": AS_OF, "address": "盐城市亭湖区1号"})],
    "relations": [
        (
            "relations",
            {"uscc": E[1], "relation_type": "legal_representative", "person_key": PK[0], "valid_from": AS_OF},
        ),
        (
            "relations",
            {"uscc": E[0], "relation_type": "investment", "related_uscc": E[3], "valid_from": LATER},
        ),
    ],
    "licences": [("licences", {"uscc": E[0], "decided_on": AS_OF, "by_commitment": True})],
    "penalties": [
        ("penalties", {"uscc": E[1], "decided_on": AS_OF, "fine_amount": 9e9, "severity": "serious"})
    ],
    "commitments": [
        ("commitments", {"uscc": E[1], "made_on": AS_OF, "fulfilment": "breached", "fulfilment_on": LATER})
    ],
    "self_reports": [
        ("self_reports", {"uscc": E[1], "reported_on": AS_OF, "verified": True, "verified_on": LATER})
    ],
    "evaluations": [("evaluations", {"uscc": E[2], "grade": "A", "score": 99.0, "evaluated_on": AS_OF})],
    "list_entries": [
        ("list_entries", {"uscc": E[1], "list_type": "severe_dishonesty", "listed_on": AS_OF}),
        ("list_entries", {"uscc": E[3], "list_type": "court_dishonest_debtor", "listed_on": LATER}),
    ],
    "interviews": [("interviews", {"uscc": E[2], "held_on": AS_OF})],
    "repairs": [
        (
            "repairs",
            {
                "uscc": E[2],
                "record_table": "list_entries",
                "record_id": "B1",
                "applied_on": AS_OF,
                "decided_on": AS_OF,
            },
        ),
    ],
    "objections": [
        (
            "objections",
            {
                "uscc": E[0],
                "record_table": "penalties",
                "record_id": "P1",
                "filed_on": AS_OF,
                "decided_on": LATER,
                "outcome": "upheld",
                "resolution": "revoked",
            },
        ),
    ],
    "inspections": [("inspections", {"uscc": E[0], "inspected_on": AS_OF, "outcome": "serious_violation"})],
    "persons": [],  # persons carry no date; a new person only matters through a relation (above)
    "decisions": [],  # the seven other kinds of 双公示 decisions are published, not a feature input
}


def test_future_cases_cover_every_table():
    assert set(FUTURE) == set(BY_NAME)


def test_schema_and_population():
    df = build_features(base_lake().sources(), as_of=AS_OF).collect()
    assert df.schema == feature_schema()
    assert list(df.columns[2:]) == [i.name for i in CATALOG]
    assert df["uscc"].to_list() == sorted(E[:5])  # E5 closed before as_of
    zero = [i.name for i in CATALOG if i.zero_when_absent]
    assert df.select(pl.col(zero).null_count().sum()).row(0) == (0,) * len(zero)


@pytest.mark.parametrize("table", sorted(FUTURE))
def test_records_on_or_after_as_of_change_nothing(table: str):
    before = build_features(base_lake().sources(), as_of=AS_OF).collect()
    lk = base_lake()
    for name, values in FUTURE[table]:
        lk.add(name, **values)
    after = build_features(lk.sources(), as_of=AS_OF).collect()
    assert_frame_equal(before, after)
    if FUTURE[table]:
        # The same records do change the features once they are in the past: the test can fail.
        later = LATER + timedelta(days=1)
        assert_frame_not_equal(
            build_features(base_lake().sources(), as_of=later).collect(),
            build_features(lk.sources(), as_of=later).collect(),
            check_exact=True,
        )


def test_all_future_records_at_once_change_nothing():
    lk = base_lake()
    for rows in FUTURE.values():
        for name, values in rows:
            lk.add(name, **values)
    assert_frame_equal(
        build_features(base_lake().sources(), as_of=AS_OF).collect(),
        build_features(lk.sources(), as_of=AS_OF).collect(),
    )


def test_byte_identical_parquet(tmp_path: Path):
    digests = []
    for k in range(2):
        path = tmp_path / f"f{k}.parquet"
        build_features(base_lake().sources(), as_of=[AS_OF, date(2023, 7, 1)]).collect().write_parquet(path)
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_several_dates_sorted_and_consistent():
    dates = [AS_OF, date(2023, 7, 1)]
    both = build_features(base_lake().sources(), as_of=dates).collect()
    keys = both.select("as_of", "uscc")
    assert_frame_equal(keys, keys.sort("as_of", "uscc"))
    for d in dates:
        single = build_features(base_lake().sources(), as_of=d).collect()
        assert_frame_equal(both.filter(pl.col("as_of") == d), single)
    # E5 closed on 2023-06-01, before 2023-07-01: out of that population too.
    mid = both.filter(pl.col("as_of") == date(2023, 7, 1))
    assert E[5] not in mid["uscc"].to_list()
    assert both.filter(pl.col("as_of") == date(2023, 5, 1)).height == 0


def test_build_for_events_matches_build_features():
    events = pl.LazyFrame(
        {"uscc": [E[0], E[2], E[0], E[0], "UNKNOWN"], "as_of": [AS_OF, AS_OF, date(2023, 7, 1), AS_OF, AS_OF]}
    )
    got = build_for_events(base_lake().sources(), events).collect()
    assert got.height == 4  # the duplicate pair collapses; the unknown entity keeps its row
    full = build_features(base_lake().sources(), as_of=[AS_OF, date(2023, 7, 1)]).collect()
    known = got.filter(pl.col("uscc") != "UNKNOWN")
    assert_frame_equal(known, full.join(known.select("uscc", "as_of"), on=["uscc", "as_of"], how="semi"))
    unknown = got.filter(pl.col("uscc") == "UNKNOWN").row(0, named=True)
    assert unknown["age_days"] is None and unknown["penalties_n_365d"] == 0
    # Inspection N1 (2023-07-01, violation) is not a feature of its own day.
    assert (
        got.filter((pl.col("uscc") == E[0]) & (pl.col("as_of") == date(2023, 7, 1)))[
            "inspections_n_1095d"
        ].item()
        == 0
    )


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="windows"):
        FeatureConfig(windows=(30, 30))
    with pytest.raises(ValueError, match="unknown source tables"):
        build_features({"penaltys": pl.LazyFrame()}, as_of=AS_OF)
    with pytest.raises(ValueError, match="as_of"):
        build_for_events(base_lake().sources(), pl.LazyFrame({"uscc": ["x"], "as_of": ["2024-01-01"]}))


def test_other_windows_change_the_columns():
    cfg = FeatureConfig(windows=(30,))
    df = build_features(base_lake().sources(), as_of=AS_OF, config=cfg).collect()
    assert "penalties_n_30d" in df.columns and "penalties_n_365d" not in df.columns
    assert df.schema == cfg.schema


def test_profile_features_are_the_build_without_the_graph():
    from features.build import profile_features

    prof = profile_features(base_lake().sources(), as_of=AS_OF).collect()
    full = build_features(base_lake().sources(), as_of=AS_OF).collect()
    assert not any(c.startswith(("degree_", "related_")) for c in prof.columns)
    assert_frame_equal(prof, full.select(prof.columns))


def test_source_schema_is_checked_before_reading():
    s = base_lake().sources()
    s["penalties"] = s["penalties"].drop("severity")
    with pytest.raises(ValueError, match=r"'penalties'.*missing columns \['severity'\]"):
        build_features(s, as_of=AS_OF)
    s = base_lake().sources()
    s["penalties"] = s["penalties"].with_columns(pl.col("decided_on").cast(pl.String))
    with pytest.raises(ValueError, match="decided_on is String, expected Date"):
        build_features(s, as_of=AS_OF)


def test_build_for_events_equals_build_features_on_every_pair():
    # All records, including those after AS_OF, at dates around them: the per-event path (one pass with a
    # per-row as_of) must agree with the per-date path everywhere, lifecycle included.
    lk = base_lake()
    for rows in FUTURE.values():
        for name, values in rows:
            lk.add(name, **values)
    lk.add(
        "repairs",
        uscc=E[0],
        record_table="penalties",
        record_id="P1",
        applied_on=date(2023, 9, 2),
        decided_on=date(2023, 9, 20),
    )
    dates = [
        date(2023, 7, 1),
        date(2023, 9, 20),
        date(2023, 9, 21),
        AS_OF,
        AS_OF + timedelta(days=1),
        LATER + timedelta(days=1),
    ]
    full = build_features(lk.sources(), as_of=dates).collect()
    events = full.select("uscc", "as_of").lazy()
    assert_frame_equal(build_for_events(lk.sources(), events).collect(), full)


def test_month_snapshot_takes_the_graph_from_the_first_of_the_month():
    lk = base_lake()
    for rows in FUTURE.values():
        for name, values in rows:
            lk.add(name, **values)
    days = [date(2023, 9, 20), AS_OF + timedelta(days=14), LATER + timedelta(days=3)]
    spine = build_features(lk.sources(), as_of=days).collect().select("uscc", "as_of")
    monthly = build_for_events(lk.sources(), spine.lazy(), FeatureConfig(graph_snapshot="month")).collect()
    exact = build_for_events(lk.sources(), spine.lazy()).collect()
    graph_cols = [i.name for i in CATALOG if i.family == "graph"]
    profile_cols = [c for c in exact.columns if c not in graph_cols]
    assert graph_cols and profile_cols
    # Profiles stay exact to the day.
    assert_frame_equal(monthly.select(profile_cols), exact.select(profile_cols))
    # The graph part equals the exact graph at the first of each event's month (known before the event).
    firsts = spine.with_columns(first=pl.col("as_of").dt.truncate("1mo"))
    at_first = build_for_events(
        lk.sources(), firsts.select("uscc", pl.col("first").alias("as_of")).unique().lazy()
    ).collect()
    expected = firsts.join(
        at_first.select("uscc", pl.col("as_of").alias("first"), *graph_cols), on=["uscc", "first"], how="left"
    ).select("uscc", "as_of", *graph_cols)
    assert_frame_equal(monthly.select("uscc", "as_of", *graph_cols), expected.sort("as_of", "uscc"))
    # ...and it really is a different date for the graph: some graph value differs from the exact one.
    assert_frame_not_equal(monthly.select(graph_cols), exact.select(graph_cols), check_exact=True)
    with pytest.raises(ValueError, match="graph_snapshot"):
        FeatureConfig(graph_snapshot="week")  # type: ignore[arg-type]


def test_evaluation_scores_per_event_by_hand():
    # The per-event path (as_of a column) over V0 (2022-01-01, 60, valid until 2023-01-01) and V1
    # (2023-01-01, 70): on 2022-06-01 only V0 is known; on 2023-06-01 both, V1 latest (+10 on V0).
    events = pl.LazyFrame({"uscc": [E[2], E[2]], "as_of": [date(2022, 6, 1), date(2023, 6, 1)]})
    got = build_for_events(base_lake().sources(), events).collect().sort("as_of")
    cols = ["public_credit_score", "public_credit_score_mean", "public_credit_score_change"]
    expected = pl.DataFrame(
        {
            "public_credit_score": [60.0, 70.0],
            "public_credit_score_mean": [60.0, 65.0],
            "public_credit_score_change": [None, 10.0],
        }
    )
    assert_frame_equal(got.select(cols), expected, check_exact=True)
    assert got["industry_score_lowest"].to_list() == [None, None]
