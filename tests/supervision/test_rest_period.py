"""The rest period of a draw (issue 12): reckoned from every inspection the system knows — the lake's
``inspections`` and the results recorded in the database — per tier as the sampling policy file says, and
recorded in the roster snapshot so that a verification re-derives the same eligible roster."""

from __future__ import annotations

import json
import tomllib
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from features import lake as lake_io
from features.identity import check_digit
from features.ingest import ingest_paths
from features.uscc import complete
from serving.cli import app
from serving.settings import load_settings
from supervision.platform.clock import china_today
from supervision.sampling.draw import (
    Budget,
    TaskParams,
    canonical_roster,
    draw,
    eligible_roster,
    tier_counts,
)
from supervision.sampling.errors import SamplingInputError
from supervision.sampling.ratios import TIERS, TierRatioPolicy, default_policy, parse_policy
from tests.conftest import china_half_past_midnight

runner = CliRunner()
DEPARTMENT = "市场监管局"
SALT = "rest-period-salt"


def _uscc(i: int) -> str:
    return complete(f"91320902MA{i:07d}")


# ------------------------------------------------------------------------------------------- the policy
def _shipped() -> dict[str, Any]:
    text = resources.files("supervision.sampling").joinpath("policy.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def test_every_value_of_the_policy_is_read_from_the_policy_file() -> None:
    data = _shipped()
    policy = default_policy()
    assert policy == TierRatioPolicy()
    for t in TIERS:
        assert policy.rest_days[t] == data["tiers"][t]["rest_days"]
        assert policy.ratios[t] == data["tiers"][t]["ratio"]
        assert list(policy.ranges[t]) == data["tiers"][t]["range"]
    assert (policy.floor, policy.control_share) == (data["draw"]["floor"], data["draw"]["control_share"])
    # Defaults as domain-rules §3 (Daqing 林甸 2024 [P]): fewer visits for better credit, D as needed.
    assert policy.rest_days == {"A": 365, "B": 365, "C": 180, "D": 0}


def test_a_replacement_policy_changes_the_rest_periods_and_unread_keys_are_refused() -> None:
    text = resources.files("supervision.sampling").joinpath("policy.toml").read_text(encoding="utf-8")
    changed = parse_policy(text.replace("rest_days = 180", "rest_days = 90"), origin="custom.toml")
    assert changed.rest_days["C"] == 90
    # A key the code would not read is refused, naming the file and the section.
    with pytest.raises(SamplingInputError, match=r"custom.toml \[tiers.C\]: keys"):
        parse_policy(
            text.replace("rest_days = 180", "rest_days = 180\nvisits_per_year = 2"), origin="custom.toml"
        )
    with pytest.raises(SamplingInputError, match="rest_days -1 must be a whole number of days"):
        parse_policy(text.replace("rest_days = 180", "rest_days = -1"), origin="custom.toml")


# ------------------------------------------------------------------------------------------- the rule
AS_OF = date(2026, 11, 1)


def _params(**policy: Any) -> TaskParams:
    return TaskParams(
        department=DEPARTMENT,
        items=("食品经营",),
        budget=Budget(ratio=1.0),
        as_of=AS_OF,
        policy=TierRatioPolicy(control_share=0.0, **policy),
        period="P",
    )


def test_each_tier_rests_as_long_as_the_policy_says() -> None:
    # One entity per tier and age of its last inspection (days before the task's date; None: never).
    ages = [None, 90, 200, 400]
    cases = {_uscc(10 * ti + ai): (t, a) for ti, t in enumerate(TIERS) for ai, a in enumerate(ages)}
    roster = pl.DataFrame(
        {
            "uscc": list(cases),
            "tier": [t for t, _ in cases.values()],
            "last_inspected_on": [None if a is None else AS_OF - timedelta(a) for _, a in cases.values()],
        },
        schema={"uscc": pl.String, "tier": pl.String, "last_inspected_on": pl.Date},
    )
    eligible = eligible_roster(canonical_roster(roster), params=_params())
    kept = sorted((cases[u][0], -1 if cases[u][1] is None else cases[u][1]) for u in eligible["uscc"])
    # A, B: 365 days → inspected 90 and 200 days ago rest; C: 180 days → only 90 days ago rests; D never.
    rests = {("A", 90), ("A", 200), ("B", 90), ("B", 200), ("C", 90)}
    assert kept == sorted((t, -1 if a is None else a) for t, a in cases.values() if (t, a) not in rests)
    # The counts shown beside the configured ratios: (in scope, eligible) per tier.
    canonical = canonical_roster(roster)
    assert tier_counts(canonical, params=_params()) == {"A": (4, 2), "B": (4, 2), "C": (4, 3), "D": (4, 4)}
    never = _params(rest_days=dict.fromkeys(TIERS, 0))
    assert tier_counts(canonical, params=never) == dict.fromkeys(TIERS, (4, 4))
    assert eligible_roster(canonical, params=never).height == 16
    # The day of the boundary: exactly rest_days before the task's date no longer rests.
    edge = pl.DataFrame(
        {"uscc": [_uscc(99)], "tier": ["C"], "last_inspected_on": [AS_OF - timedelta(180)]}
    ).with_columns(pl.col("last_inspected_on").cast(pl.Date))
    assert eligible_roster(canonical_roster(edge), params=_params()).height == 1


def test_parameters_stored_before_per_tier_rest_periods_read_the_same_and_keep_their_hash() -> None:
    old = _params().to_json()
    old["policy"].pop("rest_days")
    old["policy"] |= {"frequency_days": 365, "frequency_exempt_tiers": ["D"]}
    old_bytes = json.dumps(old, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    read = TaskParams.from_json(json.loads(old_bytes))
    assert read.policy.rest_days == {"A": 365, "B": 365, "C": 365, "D": 0}
    assert read.canonical_bytes() == old_bytes  # the published params hash of an old task still verifies


# ------------------------------------------------------------------------------------------- end to end
def _run(home: Path, *args: str) -> Any:
    return runner.invoke(
        app, ["--home", str(home), *args], env={"COLUMNS": "200"}, obj=china_half_past_midnight()
    )


def _json(home: Path, *args: str) -> Any:
    result = _run(home, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _token(home: Path, role: str, person: str) -> str:
    args = ["tokens", "create", "--role", role, "--name", f"{role}-{person}", "--department", DEPARTMENT]
    return str(_json(home, *args, "--person", person)["token"])


N = 24
TIER_OF = ["A"] * 8 + ["B"] * 8 + ["C"] * 4 + ["D"] * 4
LAKE_A, LAKE_B, LAKE_D, LAKE_C_OLD, LAKE_LATER = _uscc(0), _uscc(8), _uscc(20), _uscc(16), _uscc(1)


def _world(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A home whose lake holds entities and their past inspections; a scores file; an inspector roster."""
    today = china_today()
    home = tmp_path / "home"
    src = tmp_path / "src"
    src.mkdir()
    usccs = [_uscc(i) for i in range(N)]
    pl.DataFrame(
        {
            "uscc": usccs,
            "name": [f"测试公司{i}" for i in range(N)],
            "entity_type": ["enterprise"] * N,
            "industry": ["H62"] * N,
            "division_code": ["320902"] * N,
            "established_on": [date(2015, 1, 1)] * N,
            "status": ["active"] * N,
        }
    ).write_parquet(src / "entities.parquet")
    visits = [  # (uscc, days before today)
        (LAKE_A, 91),  # tier A, three months ago: rests (365 days)
        (LAKE_B, 91),  # tier B, three months ago: rests (365 days)
        (LAKE_D, 30),  # tier D: never rests (按需检查)
        (LAKE_C_OLD, 200),  # tier C, 200 days ago: past its 180 days
    ]
    pl.DataFrame(
        {
            "inspection_id": [f"OLD-{i}" for i in range(len(visits))],
            "task_id": ["OLD"] * len(visits),
            "uscc": [u for u, _ in visits],
            "department": [DEPARTMENT] * len(visits),
            "check_items": ["食品经营"] * len(visits),
            "inspected_on": [today - timedelta(days) for _, days in visits],
            "inspectors": ["I0;I1"] * len(visits),
            "outcome": ["no_problem"] * len(visits),
            "findings": [""] * len(visits),
            "selection_probability": [0.1] * len(visits),
            "in_control_slice": [False] * len(visits),
        }
    ).write_parquet(src / "inspections.parquet")
    settings = load_settings(home=home)
    reports = ingest_paths([src], lake_dir=settings.lake_dir, salt=settings.person_salt, today=today)
    assert all(r.rows_quarantined == 0 for r in reports), reports
    scores = tmp_path / "scores.parquet"
    pl.DataFrame(
        {
            "uscc": usccs,
            "tier": TIER_OF,
            "probability": [{"A": 0.02, "B": 0.1, "C": 0.3, "D": 0.7}[t] for t in TIER_OF],
            "division_code": ["320902"] * N,
            "industry": ["food"] * N,
            "entity_type": ["enterprise"] * N,
        }
    ).write_parquet(scores)
    lines = ["inspector_id,name,department,division_code,qualifications,active,id_number"]
    for i in range(4):
        first17 = f"32090219800101{i:03d}"
        lines.append(f"I{i},检查员{i},{DEPARTMENT},320902,食品经营,是,{first17 + check_digit(first17)}")
    inspectors = tmp_path / "inspectors.csv"
    inspectors.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return home, scores, inspectors


def _census(home: Path, sup: list[str], scores: Path, task_id: str, *extra: str) -> dict[str, Any]:
    args = ["sample", "create", "--scores", str(scores), "--item", "食品经营", "--period", task_id]
    created = _json(home, *sup, *args, "--ratio", "1", "--control-share", "0", "--task-id", task_id, *extra)
    drawn = _json(home, *sup, "sample", "draw", task_id)
    assert drawn["selected"] == created["eligible"]
    return drawn


def _listed(home: Path, sup: list[str], task_id: str) -> set[str]:
    return {r["uscc"] for r in _json(home, *sup, "sample", "list", "--task", task_id)}


def test_the_lake_and_the_recorded_results_rest_an_entity_per_tier(tmp_path: Path) -> None:
    home, scores, inspectors = _world(tmp_path)
    sup = ["--as", _token(home, "supervisor", "S1")]
    _json(home, *sup, "sample", "inspectors", "import", str(inspectors))

    drawn = _census(home, sup, scores, "T1")
    listed = _listed(home, sup, "T1")
    # The lake's inspections three months ago keep the tier-A and tier-B entities out; D and an old C stay.
    assert LAKE_A not in listed and LAKE_B not in listed
    assert LAKE_D in listed and LAKE_C_OLD in listed
    assert drawn["eligible"] == N - 2
    by_tier = {t["tier"]: t for t in drawn["tiers"]}
    assert by_tier["A"]["rested"] == 1 and by_tier["B"]["rested"] == 1 and by_tier["D"]["rested"] == 0
    assert [by_tier[t]["rest_days"] for t in TIERS] == [365, 365, 180, 0]

    # The snapshot keeps the date used, so a verification re-derives the same eligible roster.
    assert _json(home, "sample", "verify", "T1")["ok"] is True
    snapshot = pl.read_parquet(home / "sampling" / "T1.roster.parquet")
    assert snapshot.filter(pl.col("uscc") == LAKE_A)["last_inspected_on"].to_list() == [
        china_today() - timedelta(91)
    ]

    # A result recorded in the database rests its entity for the next task too (tier B: 365 days).
    recorded = _uscc(9)
    assert TIER_OF[9] == "B" and recorded in listed
    _json(home, *sup, "sample", "assign", "T1")
    member = next(
        r["inspectors"].split("; ")[0]
        for r in _json(home, *sup, "sample", "list", "--task", "T1")
        if r["uscc"] == recorded
    )
    when = (china_today() - timedelta(days=10)).isoformat()
    args = ["sample", "results", "record", "T1", recorded, "--outcome", "no_problem", "--inspected-on", when]
    _json(home, *sup, *args, "--by", member)
    _census(home, sup, scores, "T2")
    again = _listed(home, sup, "T2")
    assert recorded not in again and LAKE_A not in again and LAKE_B not in again
    assert LAKE_D in again

    # A task dated before those inspections does not count them (only inspections on or before its date).
    before = (china_today() - timedelta(days=120)).isoformat()
    _census(home, sup, scores, "T3", "--as-of", before)
    assert {LAKE_A, LAKE_B, recorded} <= _listed(home, sup, "T3")

    # The rest periods are the task's to override, per tier: B=0 lets the tier-B entity back in.
    _census(home, sup, scores, "T4", "--rest-days", "B=0")
    assert LAKE_B in _listed(home, sup, "T4") and LAKE_A not in _listed(home, sup, "T4")
    assert lake_io.scan(load_settings(home=home).lake_dir, "inspections").collect().height == 4


def test_same_inputs_and_seed_give_byte_identical_lists() -> None:
    roster = pl.DataFrame(
        {
            "uscc": [_uscc(i) for i in range(40)],
            "tier": [TIERS[i % 4] for i in range(40)],
            "last_inspected_on": [AS_OF - timedelta(days=30 * (i % 7)) if i % 3 else None for i in range(40)],
        }
    )
    params = TaskParams(department=DEPARTMENT, items=("i",), budget=Budget(count=8), as_of=AS_OF, period="P")
    seed = bytes(range(32))
    first = draw(roster, params=params, seed=seed)
    second = draw(roster.reverse(), params=params, seed=seed)
    assert first.to_dicts() == second.to_dicts()
    rested = roster.filter(pl.col("tier").is_in(["A", "B"]) & pl.col("last_inspected_on").is_not_null())
    assert not set(first["uscc"]) & set(rested["uscc"])
