"""Related-party graph on hand-drawn graphs: cycles, self-loops, a person with hundreds of entities, ends."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from features.build import FeatureConfig, build_features
from features.graph import GraphConfig, normalise_address, normalise_phone
from features.uscc import complete
from tests.features.records import E, Lake

AS_OF = date(2024, 1, 1)
P = [f"{n:064x}" for n in range(1, 20)]  # person keys


def feats(lk: Lake, config: FeatureConfig = FeatureConfig(), as_of: date = AS_OF) -> dict[str, dict]:
    df = build_features(lk.sources(), as_of=as_of, config=config).collect()
    return {r["uscc"]: r for r in df.to_dicts()}


def rel(lk: Lake, uscc: str, kind: str, *, person: str | None = None, to: str | None = None, **kw) -> None:
    lk.add("relations", uscc=uscc, relation_type=kind, person_key=person, related_uscc=to, **kw)


def test_investment_cycle_and_self_loop():
    lk = Lake()
    for e in E[:4]:
        lk.entity(e)
    rel(lk, E[0], "investment", to=E[1])
    rel(lk, E[1], "investment", to=E[2])
    rel(lk, E[2], "investment", to=E[0])
    rel(lk, E[3], "investment", to=E[3])  # self-loop: not a relative of itself
    f = feats(lk)
    for e in E[:3]:
        assert (
            f[e]["degree_investment"],
            f[e]["related_n_1hop"],
            f[e]["related_n_2hop"],
            f[e]["group_size"],
        ) == (2, 2, 2, 3)
    assert (f[E[3]]["degree_investment"], f[E[3]]["related_n_1hop"], f[E[3]]["group_size"]) == (0, 0, 1)
    assert f[E[3]]["related_blacklisted_share_1hop"] is None  # no relatives: share undefined


def test_path_two_hops_and_blacklist_shares():
    # E0 —p0(LR of both)— E1 —p1(shareholder of both)— E2, E2 on the severe list, E1 penalised in 365 days.
    lk = Lake()
    for e in E[:3]:
        lk.entity(e)
    rel(lk, E[0], "legal_representative", person=P[0])
    rel(lk, E[1], "legal_representative", person=P[0])
    rel(lk, E[1], "shareholder", person=P[1], share=0.5)
    rel(lk, E[2], "shareholder", person=P[1], share=0.5)
    lk.add("list_entries", uscc=E[2], list_type="severe_dishonesty", listed_on=date(2023, 1, 1))
    lk.add("penalties", uscc=E[1], decided_on=date(2023, 6, 1))
    f = feats(lk)
    a = f[E[0]]
    assert (a["related_n_1hop"], a["related_n_2hop"]) == (1, 2)
    assert (a["related_blacklisted_n_1hop"], a["related_blacklisted_n_2hop"]) == (0, 1)
    assert a["related_blacklisted_share_2hop"] == pytest.approx(0.5)
    assert (a["related_penalised_n_1hop"], a["related_penalised_share_1hop"]) == (1, 1.0)
    assert a["degree_legal_representative"] == 1 and a["degree_shareholder"] == 0
    b = f[E[1]]
    assert (b["related_n_1hop"], b["related_blacklisted_share_1hop"], b["degree_shareholder"]) == (2, 0.5, 1)
    c = f[E[2]]
    assert (c["related_blacklisted_n_2hop"], c["related_penalised_n_1hop"], c["related_n_2hop"]) == (0, 1, 2)
    assert all(r["group_size"] == 3 for r in f.values())


def test_person_with_hundreds_of_entities():
    many = [complete(f"91320903MA{n:07d}") for n in range(300)]
    lk = Lake()
    for e in many:
        lk.entity(e)
        rel(lk, e, "legal_representative", person=P[2])
    lk.add("list_entries", uscc=many[0], list_type="severe_dishonesty", listed_on=date(2023, 1, 1))
    f = feats(lk)
    assert len(f) == 300
    r = f[many[1]]
    assert (r["related_n_1hop"], r["related_n_2hop"], r["group_size"], r["degree_legal_representative"]) == (
        299,
        299,
        300,
        1,
    )
    assert r["related_blacklisted_share_1hop"] == pytest.approx(1 / 299)
    # The shared person leads a listed entity: every other entity is personally accountable, the listed one
    # not.
    assert r["person_accountable_for_listed"] == 1
    assert f[many[0]]["person_accountable_for_listed"] == 0


def test_relation_validity_at_as_of():
    lk = Lake()
    for e in E[:4]:
        lk.entity(e)
    rel(lk, E[0], "actual_controller", person=P[3], valid_to=date(2023, 12, 31))  # ended before as_of
    rel(lk, E[1], "actual_controller", person=P[3], valid_to=date(2023, 12, 31))
    rel(lk, E[2], "actual_controller", person=P[4], valid_to=AS_OF)  # ends on as_of: still valid that morning
    rel(lk, E[3], "actual_controller", person=P[4], valid_from=AS_OF)  # starts on as_of: the future
    f = feats(lk)
    assert [f[e]["related_n_1hop"] for e in E[:4]] == [0, 0, 0, 0]
    assert [f[e]["degree_actual_controller"] for e in E[:4]] == [0, 0, 1, 0]
    f2 = feats(lk, as_of=date(2023, 12, 31))
    assert (f2[E[0]]["related_n_1hop"], f2[E[0]]["degree_actual_controller"]) == (1, 1)


def test_accountability_needs_a_leading_role_in_another_listed_entity():
    lk = Lake()
    for e in E[:5]:
        lk.entity(e)
    # P5 is legal representative of listed E0 and shareholder of E1 → E1 accountable.
    rel(lk, E[0], "legal_representative", person=P[5])
    rel(lk, E[1], "shareholder", person=P[5], share=0.1)
    # P6 is only a shareholder of listed E2 and legal representative of E3 → E3 not accountable.
    rel(lk, E[2], "shareholder", person=P[6], share=0.3)
    rel(lk, E[3], "legal_representative", person=P[6])
    for e in (E[0], E[2]):
        lk.add("list_entries", uscc=e, list_type="severe_dishonesty", listed_on=date(2023, 1, 1))
    f = feats(lk)
    assert [f[e]["person_accountable_for_listed"] for e in E[:5]] == [0, 1, 0, 0, 0]


def test_worst_related_grade_and_shared_address_phone():
    lk = Lake()
    lk.entity(E[0], address="盐城市 亭湖区１号", phone="+86 138-0000-0000")
    lk.entity(E[1], address="盐城市亭湖区1号")
    lk.entity(E[2], phone="13800000000")
    lk.entity(E[3], address="别处")
    lk.add("evaluations", uscc=E[1], grade="B", evaluated_on=date(2023, 1, 1))
    lk.add("evaluations", uscc=E[2], grade="D", evaluated_on=date(2023, 1, 1))
    f = feats(lk)
    a = f[E[0]]
    assert (a["degree_shared_address"], a["degree_shared_phone"], a["related_n_1hop"]) == (1, 1, 2)
    assert a["related_worst_grade"] == 4
    assert f[E[1]]["related_worst_grade"] is None  # its only relative E0 has no grade
    assert f[E[3]]["degree_shared_address"] == 0


def test_oversized_shared_address_counts_but_links_nothing():
    lk = Lake()
    for e in E[:4]:
        lk.entity(e, address="某商务秘书公司集中登记地")
    f = feats(lk, FeatureConfig(graph=GraphConfig(max_shared_group=3)))
    assert all((r["degree_shared_address"], r["related_n_1hop"]) == (3, 0) for r in f.values())


def test_propagated_risk_by_hand():
    # E0 —(LR person, weight 1)— E1 (listed). Walk from E0: at odd steps on E1, at even steps back on E0.
    lk = Lake()
    for e in E[:2]:
        lk.entity(e)
        rel(lk, e, "legal_representative", person=P[7])
    lk.add("list_entries", uscc=E[1], list_type="court_dishonest_debtor", listed_on=date(2023, 1, 1))
    f = feats(lk)  # damping 0.5, 8 steps: (1-d) Σ d^(k-1) over odd k for E0, even k for E1
    assert f[E[0]]["related_risk_propagated"] == pytest.approx(0.5 * (1 + 0.5**2 + 0.5**4 + 0.5**6))
    assert f[E[1]]["related_risk_propagated"] == pytest.approx(0.5 * (0.5 + 0.5**3 + 0.5**5 + 0.5**7))


def test_propagated_risk_weights_shareholders_by_share():
    # E0 links to E1 via a legal representative (weight 1·1) and to listed E2 via a shareholder holding 50% of
    # both (weight 0.5·0.5 = 0.25): one step from E0 lands on E2 with probability 0.25 / 1.25 = 0.2.
    lk = Lake()
    for e in E[:3]:
        lk.entity(e)
    rel(lk, E[0], "legal_representative", person=P[8])
    rel(lk, E[1], "legal_representative", person=P[8])
    rel(lk, E[0], "shareholder", person=P[9], share=0.5)
    rel(lk, E[2], "shareholder", person=P[9], share=0.5)
    lk.add("list_entries", uscc=E[2], list_type="severe_dishonesty", listed_on=date(2023, 1, 1))
    f = feats(lk, FeatureConfig(graph=GraphConfig(steps=1, damping=0.5)))
    assert f[E[0]]["related_risk_propagated"] == pytest.approx(0.5 * 0.2)
    assert f[E[1]]["related_risk_propagated"] == 0.0


def test_normalisers():
    df = pl.DataFrame(
        {"a": ["  盐城市（亭湖区）１号 ", "", None], "p": ["0086 13912345678", "12", "0515-8888 7777"]}
    )
    out = df.select(a=normalise_address(pl.col("a")), p=normalise_phone(pl.col("p")))
    assert out["a"].to_list() == ["盐城市亭湖区1号", None, None]
    assert out["p"].to_list() == ["13912345678", None, "051588887777"]


def test_graph_config_is_checked():
    with pytest.raises(ValueError, match="damping"):
        GraphConfig(damping=1.0)
