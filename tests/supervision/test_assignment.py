"""Inspector assignment: recusal never violated, team size, qualification, workload cap, unstaffable
visits."""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_frame_not_equal

from supervision.sampling.assignment import assign_inspectors, entity_person_links

ITEMS = ["food", "drugs", "fire", "ads"]


def _seed(i: int) -> bytes:
    return hashlib.sha256(f"assign-{i}".encode()).digest()


def _world(seed: int, n_visits: int = 120, n_insp: int = 25) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    usccs = [f"U{i:04d}" for i in range(n_visits)]
    visits = pl.DataFrame(
        {
            "visit_id": [f"V{i:04d}" for i in range(n_visits)],
            "uscc": usccs,
            "items": [sorted(rng.choice(ITEMS, rng.integers(1, 3), replace=False).tolist()) for _ in usccs],
        }
    )
    inspectors = pl.DataFrame(
        {
            "inspector_id": [f"I{i:03d}" for i in range(n_insp)],
            "person_key": [f"P{i:03d}" for i in range(n_insp)],
            "active": (rng.random(n_insp) < 0.9).tolist(),
            "qualifications": [
                rng.choice(ITEMS, rng.integers(1, 5), replace=False).tolist() for _ in range(n_insp)
            ],
        }
    )
    persons = [f"P{i:03d}" for i in range(n_insp)] + [f"Q{i:03d}" for i in range(50)]
    links = pl.DataFrame(
        {"uscc": rng.choice(usccs, 200).tolist(), "person_key": rng.choice(persons, 200).tolist()}
    )
    declared = pl.DataFrame(
        {
            "inspector_id": rng.choice(inspectors["inspector_id"].to_list(), 60).tolist(),
            "uscc": [rng.choice(usccs) if k % 2 else None for k in range(60)],
            "person_key": [None if k % 2 else rng.choice(persons) for k in range(60)],
        }
    )
    previous = pl.DataFrame(
        {
            "uscc": rng.choice(usccs, 80).tolist(),
            "inspector_id": rng.choice(inspectors["inspector_id"].to_list(), 80).tolist(),
        }
    )
    return {
        "visits": visits,
        "inspectors": inspectors,
        "links": links,
        "declared": declared,
        "previous": previous,
    }


def _forbidden(w: dict[str, pl.DataFrame]) -> set[tuple[str, str]]:
    """Conflict pairs (visit, inspector) computed independently, row by row, from the raw inputs."""
    people_of: dict[str, set[str]] = {}
    for u, p in w["links"].iter_rows():
        people_of.setdefault(u, set()).add(p)
    own = dict(zip(w["inspectors"]["inspector_id"], w["inspectors"]["person_key"], strict=True))
    out = set()
    for vid, uscc, _ in w["visits"].iter_rows():
        people = people_of.get(uscc, set())
        for insp, d_uscc, d_person in w["declared"].iter_rows():
            if d_uscc == uscc or (d_person is not None and d_person in people):
                out.add((vid, insp))
        for insp, key in own.items():
            if key in people:
                out.add((vid, insp))
        for p_uscc, insp in w["previous"].iter_rows():
            if p_uscc == uscc:
                out.add((vid, insp))
    return out


@pytest.mark.parametrize("world_seed", range(6))
def test_recusal_qualification_team_size_and_cap_hold(world_seed: int) -> None:
    w = _world(world_seed)
    result = assign_inspectors(
        w["visits"],
        w["inspectors"],
        seed=_seed(world_seed),
        declared=w["declared"],
        links=w["links"],
        previous=w["previous"],
        team_size=2,
        max_visits=12,
    )
    forbidden = _forbidden(w)
    pairs = set(result.assignments.iter_rows())
    assert pairs, "something must be assigned"
    assert not (pairs & forbidden)
    # Every conflict is recorded as an exclusion with a reason.
    assert {(v, i) for v, i, _ in result.exclusions.iter_rows()} == forbidden
    assert set(result.exclusions["reason"]) <= {
        "declared_entity",
        "declared_person",
        "related_party",
        "previous_inspector",
    }

    insp = {r["inspector_id"]: r for r in w["inspectors"].iter_rows(named=True)}
    items = {r["visit_id"]: set(r["items"]) for r in w["visits"].iter_rows(named=True)}
    for v, i in pairs:
        assert insp[i]["active"]
        assert items[v] <= set(insp[i]["qualifications"])
    sizes = result.assignments.group_by("visit_id").len()
    assert (sizes["len"] == 2).all()
    assert result.assignments.group_by("inspector_id").len()["len"].max() <= 12  # type: ignore[operator]
    # Every visit is either staffed or reported, never both.
    staffed = set(sizes["visit_id"])
    reported = set(result.unstaffed["visit_id"])
    assert staffed | reported == set(w["visits"]["visit_id"]) and not (staffed & reported)


def test_deterministic_for_a_seed_and_random_across_seeds() -> None:
    w = _world(1)
    kw = {"declared": w["declared"], "links": w["links"], "previous": w["previous"]}
    a = assign_inspectors(w["visits"], w["inspectors"], seed=_seed(1), **kw)
    b = assign_inspectors(w["visits"].reverse(), w["inspectors"].reverse(), seed=_seed(1), **kw)
    c = assign_inspectors(w["visits"], w["inspectors"], seed=_seed(2), **kw)
    assert_frame_equal(a.assignments, b.assignments, check_exact=True)
    assert_frame_not_equal(a.assignments, c.assignments)


def test_unstaffable_visit_is_reported_with_why() -> None:
    visits = pl.DataFrame({"visit_id": ["V1", "V2"], "uscc": ["U1", "U2"], "items": [["food"], ["fire"]]})
    inspectors = pl.DataFrame(
        {
            "inspector_id": ["I1", "I2", "I3"],
            "person_key": ["P1", "P2", "P3"],
            "active": [True, True, False],
            "qualifications": [["food", "fire"], ["food"], ["fire"]],
        }
    )
    links = pl.DataFrame({"uscc": ["U1"], "person_key": ["P2"]})
    result = assign_inspectors(visits, inspectors, seed=_seed(0), links=links)
    assert result.assignments.height == 0
    rows = {r["visit_id"]: r["reason"] for r in result.unstaffed.iter_rows(named=True)}
    assert "2 active and qualified" in rows["V1"] and "1 of them excluded for conflicts" in rows["V1"]
    assert "1 eligible inspector(s), need 2: 1 active and qualified" in rows["V2"]
    assert result.exclusions.rows() == [("V1", "I2", "related_party")]


def test_workload_cap_leaves_visits_unstaffed_rather_than_overloading() -> None:
    visits = pl.DataFrame(
        {
            "visit_id": [f"V{i}" for i in range(5)],
            "uscc": [f"U{i}" for i in range(5)],
            "items": [["food"]] * 5,
        }
    )
    inspectors = pl.DataFrame(
        {
            "inspector_id": ["I1", "I2", "I3", "I4"],
            "person_key": [None] * 4,
            "active": [True] * 4,
            "qualifications": [["food"]] * 4,
        }
    )
    result = assign_inspectors(visits, inspectors, seed=_seed(3), max_visits=2)
    assert result.assignments.height == 8
    assert result.unstaffed.height == 1
    assert "4 at the workload cap of 2" in result.unstaffed["reason"][0]


def test_bad_parameters() -> None:
    w = _world(0)
    with pytest.raises(ValueError, match="team_size 0"):
        assign_inspectors(w["visits"], w["inspectors"], seed=_seed(0), team_size=0)
    with pytest.raises(ValueError, match="inspectors: missing columns"):
        assign_inspectors(w["visits"], w["inspectors"].drop("active"), seed=_seed(0))
    with pytest.raises(ValueError, match="inspector_id 'I000' appears 2 times"):
        assign_inspectors(w["visits"], pl.concat([w["inspectors"], w["inspectors"].head(1)]), seed=_seed(0))


def test_links_from_relations_keep_current_people_of_conflict_types() -> None:
    relations = pl.LazyFrame(
        {
            "relation_id": ["r1", "r2", "r3", "r4", "r5"],
            "uscc": ["U1", "U1", "U2", "U2", "U3"],
            "relation_type": [
                "legal_representative",
                "investment",
                "shareholder",
                "actual_controller",
                "shareholder",
            ],
            "person_key": ["P1", None, "P2", "P3", "P4"],
            "related_uscc": [None, "U9", None, None, None],
            "share": [None, 0.5, 0.2, None, 0.1],
            "valid_from": [date(2020, 1, 1)] * 4 + [date(2027, 1, 1)],
            "valid_to": [None, None, date(2025, 1, 1), None, None],
        }
    )
    links = entity_person_links(relations, as_of=date(2026, 11, 1)).collect()
    # r2 is an investment (no person), r3 ended before as_of, r5 starts after it.
    assert links.rows() == [("U1", "P1"), ("U2", "P3")]
