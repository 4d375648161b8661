"""Lifecycle policy: rules picked by the regime in force on the decision date; bad files named precisely."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from supervision.lifecycle.regimes import PolicyError, add_months, default_policy, load_policy, rules_for


@pytest.mark.parametrize(
    ("on", "regime", "months"),
    [
        (date(2021, 8, 31), "pre_2021", 3),
        (date(2023, 4, 30), "pre_2021", 3),
        (date(2023, 5, 1), "ndrc_order58", 3),
        (date(2026, 3, 31), "ndrc_order58", 3),
        (date(2026, 4, 1), "ndrc_order36", 3),
    ],
)
def test_national_general_repair_minimum_follows_the_regime_in_force(
    on: date, regime: str, months: int
) -> None:
    rule = rules_for("repair.min_publicity.general", on=on)
    assert rule.regime == regime
    assert (rule.value, rule.unit) == (months, "months")


@pytest.mark.parametrize(
    ("on", "regime", "months"),
    [
        (date(2021, 9, 1), "pre_2021", 6),
        (date(2023, 5, 1), "ndrc_order58", 12),
        (date(2026, 4, 1), "ndrc_order36", 12),
    ],
)
def test_national_serious_minimum_changes_with_order58(on: date, regime: str, months: int) -> None:
    rule = rules_for("repair.min_publicity.serious", on=on)
    assert rule.regime == regime
    assert rule.end(date(2020, 1, 15)) == add_months(date(2020, 1, 15), months)


def test_samr_channel_starts_on_2021_09_01() -> None:
    assert rules_for("repair.min_publicity.samr.general", on=date(2021, 9, 1)).value == 6
    assert default_policy().in_force("repair.min_publicity.samr.general", on=date(2021, 8, 31)) is None


def test_food_minimum_is_one_year_from_samr_2021() -> None:
    rule = rules_for("repair.min_publicity.samr.general.food", on=date(2022, 3, 1))
    assert (rule.value, rule.unit, rule.confidence) == (1, "years", "V")
    assert rule.end(date(2022, 3, 1)) == date(2023, 3, 1)
    with pytest.raises(PolicyError, match="in force on 2020-01-01"):
        rules_for("repair.min_publicity.samr.general.food", on=date(2020, 1, 1))


def test_every_shipped_rule_has_a_source_and_a_confidence_tag() -> None:
    policy = default_policy()
    assert policy.rules
    for r in policy.rules:
        assert r.source.strip() and r.confidence in {"V", "P", "U"}
    publicity = rules_for("publicity.penalty.other", on=date(2024, 1, 1))
    assert (publicity.value, publicity.unit) == (3, "years")
    assert rules_for("publicity.penalty.low", on=date(2024, 1, 1)).value == 3


def test_working_day_deadline_skips_the_national_day_holiday() -> None:
    # 2026-09-30 (Wed) + 5 WD: 1–7 October are holidays; 8 Oct (Thu) is day 1, 9 Oct day 2, the make-up
    # Saturday 10 Oct day 3, Mon 12 Oct day 4, Tue 13 Oct day 5.
    decide = rules_for("objection.decide", on=date(2026, 9, 30))
    assert decide.end(date(2026, 9, 30)) == date(2026, 10, 13)


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 11, 15), 3) == date(2025, 2, 15)


def test_unknown_kind_names_the_kinds() -> None:
    with pytest.raises(PolicyError, match="no rule of kind 'nope'"):
        rules_for("nope", on=date(2024, 1, 1))


def test_override_file_wins_and_bad_entries_are_named(tmp_path: Path) -> None:
    good = tmp_path / "p.toml"
    good.write_text(
        '[[rule]]\nkind = "objection.decide"\nregime = "jiangsu"\neffective_from = 2022-01-01\n'
        'value = 7\nunit = "working_days"\nsource = "test"\nconfidence = "U"\n',
        encoding="utf-8",
    )
    assert load_policy(good).rules_for("objection.decide", on=date(2024, 1, 1)).value == 7
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[rule]]\nkind = "x"\nregime = "r"\neffective_from = 2022-01-01\nvalue = -1\nunit = "days"\n'
        'source = "s"\nconfidence = "V"\n',
        encoding="utf-8",
    )
    with pytest.raises(PolicyError, match=r"rule\[0\] \(x\): value -1"):
        load_policy(bad)
    dup = tmp_path / "dup.toml"
    dup.write_text(good.read_text(encoding="utf-8") * 2, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"two rules for 'objection\.decide'"):
        load_policy(dup)


def test_second_approver_levels_come_from_the_policy(tmp_path: Path) -> None:
    # SAMR Order 44: listings by city and county departments are approved; the shipped file says so.
    assert set(default_policy().second_approver_levels) == {"city", "county"}
    rule = (
        '[[rule]]\nkind = "x"\nregime = "r"\neffective_from = 2022-01-01\nvalue = 1\nunit = "days"\n'
        'source = "s"\nconfidence = "V"\n'
    )
    absent = tmp_path / "absent.toml"
    absent.write_text(rule, encoding="utf-8")
    assert set(load_policy(absent).second_approver_levels) == {"city", "county"}  # a file without it keeps it
    off = tmp_path / "off.toml"
    off.write_text(rule + "[lists]\nsecond_approver_levels = []\n", encoding="utf-8")
    assert load_policy(off).second_approver_levels == ()
    bad = tmp_path / "bad.toml"
    bad.write_text(rule + '[lists]\nsecond_approver_levels = ["township"]\n', encoding="utf-8")
    with pytest.raises(PolicyError, match=r"second_approver_levels \['township'\]"):
        load_policy(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text(rule + '[lists]\nsecond_approvers = ["city"]\n', encoding="utf-8")
    with pytest.raises(PolicyError, match="unknown key"):
        load_policy(typo)
