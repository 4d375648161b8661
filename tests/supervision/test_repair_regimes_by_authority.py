"""Repairs follow the issuing authority (issue 12): the authority of the record chooses the repair regime of
the policy's [repair_authorities] (market supervision → SAMR and national channels, anyone else → the
national rule); an application before the earliest eligible date or without a route its regime requires
(credit training, credit report, public-interest service) is refused (不予受理), never recorded."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa

from features.lake import sources
from supervision.lifecycle import repairs
from supervision.lifecycle.records import Lake
from supervision.lifecycle.regimes import Policy, PolicyError, default_policy, parse_policy
from supervision.platform.db import session_scope
from tests.supervision.lifecycle_lake import (
    AUTHORITY,
    ENV_AUTHORITY,
    OFFICER,
    PARTY,
    E,
    add_environment_penalties,
    build_lake,
)

SHIPPED = (resources.files("supervision.lifecycle") / "policy" / "lifecycle.toml").read_text(encoding="utf-8")


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    built = build_lake(tmp_path)
    add_environment_penalties(built)
    return built


def _minimum(
    lake: Lake, record_id: str, uscc: str, on: date, policy: Policy | None = None
) -> repairs.Condition:
    got = repairs.check_conditions(
        sources(lake.dir),
        uscc=uscc,
        record_table="penalties",
        record_id=record_id,
        on=on,
        commitment="c",
        obligations_evidence="e",
        policy=policy,
    )
    return next(c for c in got if c.name == "minimum_period")


def _apply(
    session: sa.orm.Session,
    lake: Lake,
    record_id: str,
    uscc: str,
    on: date,
    *,
    department: str = ENV_AUTHORITY,
    met: dict[str, str] | None = None,
    policy: Policy | None = None,
) -> repairs.Repair:
    return repairs.apply(
        session,
        sources(lake.dir),
        actor=PARTY,
        uscc=uscc,
        record_table="penalties",
        record_id=record_id,
        department=department,
        applied_on=on,
        commitment="承诺",
        obligations_evidence="缴款凭证",
        conditions_met=met,
        policy=policy,
    )


def test_the_authority_chooses_the_regime_with_the_national_rule_as_fallback() -> None:
    rules = repairs.repair_rules(default_policy())
    assert rules.regime_of(AUTHORITY).name == "samr"  # 盐城市市场监管局
    assert rules.regime_of("亭湖区市场监督管理局（食品安全）").name == "samr"
    assert rules.regime_of(ENV_AUTHORITY).name == "national"  # 盐城市生态环境局
    assert rules.regime_of("国家税务总局盐城市税务局").name == "national"
    assert rules.regime_of("江苏省盐城市中级人民法院").name == "national"  # no court rule: the fallback
    assert rules.regime_of(None).name == "national"


def test_environment_bureau_penalty_gets_the_national_earliest_date(lake: Lake) -> None:
    # P-ENV, general, decided 2026-06-01 by the environment bureau: Order 36 asks 3 months (2026-09-01); the
    # SAMR system's 6 months (2026-12-01) are not its rule.
    assert not _minimum(lake, "P-ENV", E[6], date(2026, 8, 31)).ok
    minimum = _minimum(lake, "P-ENV", E[6], date(2026, 9, 1))
    assert minimum.ok and minimum.detail.endswith("earliest 2026-09-01")
    assert "repair regime national (authority 盐城市生态环境局)" in minimum.detail
    assert "samr" not in minimum.detail
    assert minimum.rule is not None and minimum.rule["kind"] == "repair.min_publicity.general"


def test_market_supervision_penalty_gets_the_samr_date(lake: Lake) -> None:
    # P-GEN, general, decided 2025-03-03 by the market regulator: SAMR 6 months (2025-09-03) beats the
    # national 3 months (2025-06-03).
    minimum = _minimum(lake, "P-GEN", E[0], date(2025, 9, 3))
    assert minimum.ok and "repair regime samr" in minimum.detail
    assert minimum.detail.endswith("earliest 2025-09-03")
    assert minimum.rule is not None and minimum.rule["kind"] == "repair.min_publicity.samr.general"
    assert not _minimum(lake, "P-GEN", E[0], date(2025, 9, 2)).ok


def test_an_application_before_the_earliest_date_is_refused_with_the_date(
    db_engine: sa.Engine, lake: Lake
) -> None:
    with session_scope(db_engine) as s:
        with pytest.raises(repairs.RepairError, match="earliest eligible date 2026-09-01") as refused:
            _apply(s, lake, "P-ENV", E[6], date(2026, 8, 31))
        assert refused.value.field == "applied_on" and "不予受理" in refused.value.message
        assert s.scalar(sa.select(sa.func.count()).select_from(repairs.Repair)) == 0
        # Nothing was recorded, so nothing can go overdue.
        assert repairs.overdue(s, on=date(2026, 11, 27)) == []
        row = _apply(s, lake, "P-ENV", E[6], date(2026, 9, 1))
        assert (row.status, row.regime, row.conditions_met) == ("applied", "national", {})
    refused_too = pytest.raises(repairs.RepairError, match="earliest eligible date 2025-09-03")
    with session_scope(db_engine) as s, refused_too:
        _apply(s, lake, "P-GEN", E[0], date(2025, 8, 1), department=AUTHORITY)


def test_a_route_the_regime_requires_is_named_when_missing(db_engine: sa.Engine, lake: Lake) -> None:
    # P-ENV-SER: serious, 2021-06-01, environment bureau. Until NDRC Order 58 (2023-05-01) the national rule
    # (527号) asked a credit training and a credit report of serious misconduct.
    on = date(2022, 6, 1)
    with session_scope(db_engine) as s:
        with pytest.raises(repairs.RepairError, match=r"missing credit_training .*credit_report") as refused:
            _apply(s, lake, "P-ENV-SER", E[6], on)
        assert refused.value.field == "conditions_met" and "不予受理" in refused.value.message
        with pytest.raises(repairs.RepairError, match=r"missing credit_report \(信用报告") as refused:
            _apply(s, lake, "P-ENV-SER", E[6], on, met={"credit_training": "培训结业证书 2022-017"})
        assert "credit_training" not in refused.value.message.split("evidence of", 1)[1]
        with pytest.raises(repairs.RepairError, match="conditions_met 'volunteering': not a repair route"):
            _apply(s, lake, "P-ENV-SER", E[6], on, met={"volunteering": "x"})
        met = {"credit_training": "培训结业证书 2022-017", "credit_report": "信用报告 XY-2022-88"}
        row = _apply(s, lake, "P-ENV-SER", E[6], on, met=met)
        checked = {c["name"]: c for c in row.conditions}
        assert (
            checked["credit_training"]["ok"]
            and "培训结业证书 2022-017" in checked["credit_training"]["detail"]
        )
        assert checked["credit_report"]["rule"]["source"].startswith("发改办财金〔2019〕527号")
        assert row.conditions_met == met
        # Approval re-checks the routes from the evidence the application gave.
        repairs.accept(s, row.repair_id, actor=OFFICER, on=date(2022, 6, 2))
        repairs.approve(s, row.repair_id, sources(lake.dir), actor=OFFICER, on=date(2022, 6, 6))
        assert row.status == "approved"


def test_routes_follow_the_rule_in_force_on_the_application_day(db_engine: sa.Engine, lake: Lake) -> None:
    # From NDRC Order 58 on the national rule asks no route: the same record, applied for in 2023.
    with session_scope(db_engine) as s:
        row = _apply(s, lake, "P-ENV-SER", E[6], date(2023, 5, 4))
        assert row.status == "applied"
        assert {c["name"] for c in row.conditions} >= {"minimum_period", "credit_commitment"}
        assert not {"credit_training", "credit_report"} & {c["name"] for c in row.conditions}


def test_the_policy_file_says_which_regime_requires_which_route(db_engine: sa.Engine, lake: Lake) -> None:
    entry = "[[repair_conditions.samr]]\neffective_from = 2021-09-01\n"
    assert SHIPPED.count(entry) == 1
    policy = parse_policy(
        SHIPPED.replace(entry, entry + 'general = ["public_service"]\n'), origin="public-service.toml"
    )
    with session_scope(db_engine) as s:
        with pytest.raises(repairs.RepairError, match=r"missing public_service \(公益服务"):
            _apply(s, lake, "P-GEN", E[0], date(2026, 11, 2), department=AUTHORITY, policy=policy)
        met = {"public_service": "志愿服务记录 40 小时"}
        row = _apply(s, lake, "P-GEN", E[0], date(2026, 11, 2), department=AUTHORITY, met=met, policy=policy)
        assert row.regime == "samr" and row.conditions_met == met
        # The environment bureau's penalty (national regime) is not asked for it.
        assert _apply(s, lake, "P-ENV", E[6], date(2026, 11, 2), policy=policy).status == "applied"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('fallback = "national"', 'fallback = "province"', r"fallback must name one of its regimes"),
        (
            'serious = ["credit_training", "credit_report"]',
            'serious = ["credit_training", "apology"]',
            r"apology not in \[repair_conditions\.catalog\]",
        ),
        (
            'authorities = []\nmin_publicity = ["repair.min_publicity"]',
            'authorities = ["市场监管局"]\nmin_publicity = ["repair.min_publicity"]',
            r"'市场监管局' is in both samr and national",
        ),
        (
            'min_publicity = ["repair.min_publicity.samr", "repair.min_publicity"]',
            'min_publicity = ["repair.minimum.samr"]',
            r"\[repair_authorities\.samr\] min_publicity: no \[\[rule\]\] of kind repair\.minimum\.samr",
        ),
        (
            "[repair_conditions.catalog]\n",
            "[repair_conditions.catalogue]\n",
            r"\[repair_conditions\.catalog\]",
        ),
    ],
)
def test_a_bad_regime_table_is_refused_naming_the_key(old: str, new: str, message: str) -> None:
    assert SHIPPED.count(old) == 1, old
    policy = parse_policy(SHIPPED.replace(old, new), origin="bad.toml")
    with pytest.raises(PolicyError, match=message):
        repairs.repair_rules(policy)


def test_a_policy_without_the_regime_table_is_refused_by_name() -> None:
    policy = parse_policy(SHIPPED.replace("[repair_authorities", "[repair_regimes"), origin="old.toml")
    with pytest.raises(PolicyError, match=r"old\.toml: no \[repair_authorities\] table"):
        repairs.repair_rules(policy)
