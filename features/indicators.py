"""The feature catalog: every output feature's name, labels, indicator dimension, risk direction, template.

The order of :data:`CATALOG` is the column order of the feature table (after ``uscc`` and ``as_of``);
:func:`feature_schema` is the declared ``pl.Schema`` the build checks against, and ``docs/features.md`` is
generated from here by :func:`indicators_markdown` (``creditwatch features catalog --markdown``).
"""

from __future__ import annotations

import functools
import string
from collections.abc import Sequence
from dataclasses import dataclass, replace

import polars as pl

from features.catalog import ENTITY_STATUSES, ENTITY_TYPES, INSPECTION_OUTCOMES

DIMENSIONS: dict[str, tuple[str, str]] = {
    "law_abiding": ("遵纪守法", "law-abiding"),
    "commitments": ("履约践诺", "keeping commitments"),
    "qualifications": ("资质荣誉", "qualifications and honours"),
    "social_responsibility": ("社会责任", "social responsibility"),
    "supervision_risk": ("监管风险", "supervision risk"),
    "related_party": ("关联风险", "related-party risk"),
}

WINDOWS: tuple[int, ...] = (90, 365, 1095)

# Integer codes of the categorical features (code = position + 1; 0 / null as documented per feature).
INDUSTRY_SECTIONS: tuple[str, ...] = tuple("ABCDEFGHIJKLMNOPQRST")  # GB/T 4754-2017 门类
GRADE_ORDINAL: dict[str, int] = {"A": 1, "B": 2, "C": 3, "D": 4}
BLACK_LISTS: tuple[str, ...] = ("severe_dishonesty", "court_dishonest_debtor", "abnormal_operations")
LIST_LABELS: dict[str, tuple[str, str]] = {
    "severe_dishonesty": ("严重失信主体名单", "severe dishonesty list"),
    "abnormal_operations": ("经营异常名录", "abnormal operations list"),
    "court_dishonest_debtor": ("失信被执行人名单", "court dishonest debtor list"),
    "red_list": ("守信激励对象（红名单）", "red list"),
}
SEVERITY_LABELS: dict[str, tuple[str, str]] = {
    "minor": ("轻微", "minor"),
    "general": ("一般", "general"),
    "serious": ("严重", "serious"),
}


I64: pl.DataType = pl.Int64()
I8: pl.DataType = pl.Int8()
F64: pl.DataType = pl.Float64()

# Days since the last penalty are capped here (10 years): "none in 10 years, or never" is the cap, the
# least risky end of a -1 feature, so a revoked or repaired last penalty moves the value up, never to null.
PENALTY_DAYS_CAP = 3650
# Monotone-constrained features whose "no record" value is not 0: the value an entity without records gets,
# at the least risky end (a tree sends a missing value to a learned side, whatever its monotone constraint).
ABSENT_VALUES: dict[str, float] = {
    "penalties_days_since_last": PENALTY_DAYS_CAP,
    "commitments_breached_share_1095d": 0.0,
}


@dataclass(frozen=True, slots=True)
class Indicator:
    """One output feature. ``direction``: +1 more risk as it grows, -1 less risk, 0 no constraint."""

    name: str
    zh: str
    en: str
    dimension: str
    direction: int
    template_zh: str
    template_en: str
    dtype: pl.DataType = F64
    family: str = ""
    codes: tuple[str, ...] = ()  # categorical features: code i+1 means codes[i]
    zero_when_absent: bool = False  # an entity with no records gets 0 (counts, sums, flags), else null
    # False: part of the profile a supervisor sees, never an input of the risk score — exercising a right
    # (an objection, a repair application) must not raise anyone's score.
    scored: bool = True
    # True: an attribute the entity shares with similar entities (type, industry, division, capital, age),
    # not its conduct — never a reason of its own; its contribution is part of the one "baseline of similar
    # entities" line of the reasons (models.explain). The registration status is conduct: suspension and
    # revocation (吊销) follow from what the entity did or a decision about it.
    structural: bool = False

    def __post_init__(self) -> None:
        if self.dimension not in DIMENSIONS:
            raise ValueError(
                f"indicator {self.name!r}: dimension {self.dimension!r}; expected one of {sorted(DIMENSIONS)}"
            )
        if self.direction not in (-1, 0, 1):
            raise ValueError(f"indicator {self.name!r}: direction {self.direction!r}; expected -1, 0 or 1")
        for template in (self.template_zh, self.template_en):
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            if fields != {"value"}:
                raise ValueError(
                    f"indicator {self.name!r}: template {template!r} must use exactly the field {{value}}"
                )


def _days(w: int) -> tuple[str, str]:
    """A window as people say it: 近90天 / last 90 days; 365 → 12 months; 1095 → 3 years."""
    return {
        90: ("近90天", "in the last 90 days"),
        365: ("近12个月", "in the last 12 months"),
        1095: ("近3年", "in the last 3 years"),
    }.get(w, (f"近{w}天", f"in the last {w} days"))


def _registration() -> list[Indicator]:
    f = "registration"
    return [
        Indicator(
            "age_days",
            "成立天数",
            "days since establishment",
            "qualifications",
            -1,
            "成立{value}天",
            "established {value} days ago",
            I64,
            f,
            structural=True,
        ),
        Indicator(
            "entity_type_code",
            "主体类型（编码）",
            "entity type (code)",
            "qualifications",
            0,
            "主体类型编码为{value}",
            "entity type code {value}",
            I8,
            f,
            ENTITY_TYPES,
            structural=True,
        ),
        Indicator(
            "industry_section_code",
            "行业门类（编码）",
            "industry section (code)",
            "qualifications",
            0,
            "行业门类编码为{value}",
            "industry section code {value}",
            I8,
            f,
            INDUSTRY_SECTIONS,
            structural=True,
        ),
        Indicator(
            "division_code",
            "登记机关行政区划代码",
            "registration division code",
            "qualifications",
            0,
            "登记机关区划代码为{value}",
            "registered in division {value}",
            I64,
            f,
            structural=True,
        ),
        Indicator(
            "log_capital",
            "注册资本（对数）",
            "registered capital (log1p yuan)",
            "qualifications",
            -1,
            "注册资本对数为{value:.1f}",
            "registered capital log {value:.1f}",
            F64,
            f,
            structural=True,
        ),
        Indicator(
            "status_code",
            "登记状态（编码）",
            "registration status (code)",
            "supervision_risk",
            1,
            "登记状态编码为{value}",
            "registration status code {value}",
            I8,
            f,
            ENTITY_STATUSES,
        ),
    ]


def _penalties(windows: Sequence[int]) -> list[Indicator]:
    out: list[Indicator] = []
    f = "penalties"
    for w in windows:
        zw, ew = _days(w)
        out.append(
            Indicator(
                f"penalties_n_{w}d",
                f"{zw}行政处罚次数",
                f"administrative penalties, {w} days",
                "law_abiding",
                1,
                f"{zw}受到{{value}}次行政处罚",
                f"{{value}} administrative penalties {ew}",
                I64,
                f,
            )
        )
        for sev, (zs, es) in SEVERITY_LABELS.items():
            out.append(
                Indicator(
                    f"penalties_{sev}_n_{w}d",
                    f"{zw}{zs}失信行政处罚次数",
                    f"{es} penalties, {w} days",
                    "law_abiding",
                    1,
                    f"{zw}受到{{value}}次{zs}行政处罚",
                    f"{{value}} {es} penalties {ew}",
                    I64,
                    f,
                )
            )
        out.append(
            Indicator(
                f"fines_sum_{w}d",
                f"{zw}罚没金额合计（元）",
                f"fines and confiscations, {w} days (yuan)",
                "law_abiding",
                1,
                f"{zw}罚没金额合计{{value:,.0f}}元",
                f"{{value:,.0f}} yuan in fines {ew}",
                F64,
                f,
            )
        )
    out.append(
        Indicator(
            "penalties_days_since_last",
            f"距最近一次行政处罚天数（无处罚或超过{PENALTY_DAYS_CAP}天记为{PENALTY_DAYS_CAP}）",
            f"days since the last penalty ({PENALTY_DAYS_CAP} when none in that many days)",
            "law_abiding",
            -1,
            f"距最近一次行政处罚{{value}}天（上限{PENALTY_DAYS_CAP}天）",
            f"last penalty {{value}} days ago (capped at {PENALTY_DAYS_CAP})",
            I64,
            f,
        )
    )
    return out


def _licences(windows: Sequence[int]) -> list[Indicator]:
    f = "licences"
    out = [
        Indicator(
            f"licences_n_{w}d",
            f"{_days(w)[0]}取得行政许可数",
            f"licences granted, {w} days",
            "qualifications",
            -1,
            f"{_days(w)[0]}取得{{value}}项行政许可",
            f"{{value}} licences granted {_days(w)[1]}",
            I64,
            f,
        )
        for w in windows
    ]
    out += [
        Indicator(
            "licences_valid_n",
            "有效行政许可数",
            "licences valid at the date",
            "qualifications",
            -1,
            "持有{value}项有效行政许可",
            "holds {value} valid licences",
            I64,
            f,
        ),
        Indicator(
            "licences_by_commitment_n_1095d",
            "近3年告知承诺制许可数",
            "licences on a credit commitment, 3 years",
            "commitments",
            1,
            "近3年以告知承诺方式取得{value}项许可",
            "{value} licences granted on a credit commitment in the last 3 years",
            I64,
            f,
        ),
    ]
    return out


def _commitments(windows: Sequence[int]) -> list[Indicator]:
    f = "commitments"
    out: list[Indicator] = []
    for w in windows:
        zw, ew = _days(w)
        out.append(
            Indicator(
                f"commitments_n_{w}d",
                f"{zw}作出信用承诺数",
                f"credit commitments made, {w} days",
                "commitments",
                -1,
                f"{zw}作出{{value}}项信用承诺",
                f"{{value}} credit commitments made {ew}",
                I64,
                f,
            )
        )
        out.append(
            Indicator(
                f"commitments_breached_n_{w}d",
                f"{zw}违背信用承诺数",
                f"credit commitments found breached, {w} days",
                "commitments",
                1,
                f"{zw}有{{value}}项信用承诺被认定违诺",
                f"{{value}} credit commitments found breached {ew}",
                I64,
                f,
            )
        )
    out.append(
        Indicator(
            "commitments_breached_share_1095d",
            "近3年违诺比例（无承诺为0）",
            "share of commitments breached, 3 years (0 when none made)",
            "commitments",
            1,
            "近3年违诺比例为{value:.0%}",
            "{value:.0%} of commitments in the last 3 years breached",
            F64,
            f,
        )
    )
    return out


def _self_reports(windows: Sequence[int]) -> list[Indicator]:
    f = "self_reports"
    out = [
        Indicator(
            f"self_reports_n_{w}d",
            f"{_days(w)[0]}自愿申报数",
            f"voluntary self-reports, {w} days",
            "social_responsibility",
            -1,
            f"{_days(w)[0]}自愿申报{{value}}项信息",
            f"{{value}} voluntary self-reports {_days(w)[1]}",
            I64,
            f,
        )
        for w in windows
    ]
    out.append(
        Indicator(
            "self_reports_verified_share_1095d",
            "近3年自愿申报核实比例",
            "share of self-reports verified, 3 years",
            "social_responsibility",
            -1,
            "近3年自愿申报信息核实比例为{value:.0%}",
            "{value:.0%} of self-reports in the last 3 years verified",
            F64,
            f,
        )
    )
    return out


def _evaluations() -> list[Indicator]:
    f = "evaluations"
    return [
        Indicator(
            "public_credit_grade",
            "公共信用综合评价等级（A=1…D=4）",
            "public credit evaluation grade (A=1…D=4)",
            "supervision_risk",
            1,
            "公共信用综合评价等级为{value}（1=A…4=D）",
            "public credit evaluation grade {value} (1=A…4=D)",
            I8,
            f,
        ),
        Indicator(
            "industry_grade_worst",
            "行业信用评价最差等级（A=1…D=4）",
            "worst industry credit grade (A=1…D=4)",
            "supervision_risk",
            1,
            "行业信用评价最差等级为{value}（1=A…4=D）",
            "worst industry credit grade {value} (1=A…4=D)",
            I8,
            f,
        ),
        # The scores behind the grades: a grade keeps 4 levels of a 0–100 score, and each yearly round is
        # a noisy reading, so the mean of all rounds carries the stable part and the change the trend.
        Indicator(
            "public_credit_score",
            "公共信用综合评价得分",
            "public credit evaluation score (latest valid)",
            "supervision_risk",
            -1,
            "公共信用综合评价得分{value:.1f}",
            "public credit evaluation score {value:.1f}",
            F64,
            f,
        ),
        Indicator(
            "public_credit_score_mean",
            "历次公共信用综合评价平均得分",
            "mean public credit evaluation score over all past rounds",
            "supervision_risk",
            -1,
            "历次公共信用综合评价平均得分{value:.1f}",
            "mean public credit evaluation score {value:.1f} over all past rounds",
            F64,
            f,
        ),
        Indicator(
            "public_credit_score_change",
            "公共信用综合评价得分较上次变化",
            "public credit score change since the previous round",
            "supervision_risk",
            0,
            "公共信用综合评价得分较上次变化{value:+.1f}",
            "public credit score changed by {value:+.1f} since the previous round",
            F64,
            f,
        ),
        Indicator(
            "industry_score_lowest",
            "行业信用评价最低得分",
            "lowest industry credit score (latest valid)",
            "supervision_risk",
            -1,
            "行业信用评价最低得分{value:.1f}",
            "lowest industry credit score {value:.1f}",
            F64,
            f,
        ),
    ]


def _lists() -> list[Indicator]:
    f = "lists"
    out: list[Indicator] = []
    for key, (zh, en) in LIST_LABELS.items():
        red = key == "red_list"
        dim = (
            "qualifications"
            if red
            else ("law_abiding" if key != "abnormal_operations" else "supervision_risk")
        )
        d = -1 if red else 1
        out.append(
            Indicator(
                f"{key}_active",
                f"当前列入{zh}",
                f"currently on the {en}",
                dim,
                d,
                f"当前列入{zh}（{{value}}）",
                f"currently on the {en} ({{value}})",
                I8,
                f,
            )
        )
        out.append(
            Indicator(
                f"{key}_days_listed",
                f"列入{zh}天数",
                f"days on the {en}",
                dim,
                d,
                f"已列入{zh}{{value}}天",
                f"on the {en} for {{value}} days",
                I64,
                f,
            )
        )
    out.append(
        Indicator(
            "blacklist_entries_n_1095d",
            "近3年列入黑名单次数",
            "black-list entries, 3 years",
            "law_abiding",
            1,
            "近3年{value}次列入黑名单",
            "{value} black-list entries in the last 3 years",
            I64,
            f,
        )
    )
    return out


def _interviews(windows: Sequence[int]) -> list[Indicator]:
    return [
        Indicator(
            f"interviews_n_{w}d",
            f"{_days(w)[0]}信用约谈次数",
            f"credit interviews, {w} days",
            "supervision_risk",
            1,
            f"{_days(w)[0]}被信用约谈{{value}}次",
            f"{{value}} credit interviews {_days(w)[1]}",
            I64,
            "interviews",
        )
        for w in windows
    ]


def _repairs_objections() -> list[Indicator]:
    return [
        Indicator(
            "repairs_applied_n_1095d",
            "近3年信用修复申请数",
            "credit repair applications, 3 years",
            "commitments",
            1,
            "近3年申请信用修复{value}次",
            "{value} credit repair applications in the last 3 years",
            I64,
            "repairs",
            scored=False,
        ),
        Indicator(
            "repairs_approved_n_1095d",
            "近3年信用修复成功数",
            "credit repairs approved, 3 years",
            "commitments",
            0,
            "近3年信用修复成功{value}次",
            "{value} credit repairs approved in the last 3 years",
            I64,
            "repairs",
            scored=False,
        ),
        Indicator(
            "objections_n_1095d",
            "近3年提出异议数",
            "objections filed, 3 years",
            "supervision_risk",
            0,
            "近3年提出异议{value}次",
            "{value} objections filed in the last 3 years",
            I64,
            "objections",
            scored=False,
        ),
        Indicator(
            "objections_upheld_n_1095d",
            "近3年异议成立数",
            "objections upheld, 3 years",
            "supervision_risk",
            0,
            "近3年异议成立{value}次",
            "{value} objections upheld in the last 3 years",
            I64,
            "objections",
            scored=False,
        ),
        Indicator(
            "records_under_objection_n",
            "异议处理中的记录数",
            "records under objection (异议处理中)",
            "supervision_risk",
            0,
            "{value}条记录异议处理中",
            "{value} records under objection",
            I64,
            "objections",
            scored=False,
        ),
        Indicator(
            "records_corrected_n",
            "经异议更正的记录数",
            "records corrected after an objection",
            "supervision_risk",
            0,
            "{value}条记录经异议更正",
            "{value} records corrected after an objection",
            I64,
            "objections",
            scored=False,
        ),
    ]


def _inspections() -> list[Indicator]:
    f = "inspections"
    return [
        Indicator(
            "inspections_n_1095d",
            "近3年被检查次数",
            "inspections, 3 years",
            "supervision_risk",
            0,
            "近3年被检查{value}次",
            "inspected {value} times in the last 3 years",
            I64,
            f,
        ),
        Indicator(
            "inspections_violation_rate_1095d",
            "近3年检查发现问题比例",
            "share of inspections with a violation, 3 years",
            "supervision_risk",
            1,
            "近3年检查发现问题比例为{value:.0%}",
            "{value:.0%} of inspections in the last 3 years found a violation",
            F64,
            f,
        ),
        Indicator(
            "inspections_serious_n_1095d",
            "近3年检查发现严重问题次数",
            "inspections with a serious violation, 3 years",
            "supervision_risk",
            1,
            "近3年检查发现严重问题{value}次",
            "{value} inspections with a serious violation in the last 3 years",
            I64,
            f,
        ),
        Indicator(
            "inspections_days_since_last",
            "距最近一次检查天数",
            "days since the last inspection",
            "supervision_risk",
            0,
            "距最近一次检查{value}天",
            "last inspected {value} days ago",
            I64,
            f,
        ),
        Indicator(
            "inspections_last_outcome_code",
            "最近一次检查结果（编码，按风险递增）",
            "last inspection outcome (code, ordered by risk; not_found, which leads to listing, highest)",
            "supervision_risk",
            1,
            "最近一次检查结果编码为{value}",
            "last inspection outcome code {value}",
            I8,
            f,
            INSPECTION_OUTCOMES,
        ),
    ]


_EDGE_LABELS: dict[str, tuple[str, str]] = {
    "legal_representative": ("法定代表人关系数", "legal representatives"),
    "shareholder": ("自然人股东数", "person shareholders"),
    "actual_controller": ("实际控制人数", "actual controllers"),
    "investment": ("对外投资及被投资关系数", "investment links (investees and investors)"),
    "shared_address": ("同住所其他主体数", "other entities at the same address"),
    "shared_phone": ("同联系电话其他主体数", "other entities with the same phone"),
}


def _graph() -> list[Indicator]:
    f = "graph"
    rp = "related_party"
    out = [
        Indicator(f"degree_{t}", zh, en, rp, 0, f"{zh}：{{value}}", f"{en}: {{value}}", I64, f)
        for t, (zh, en) in _EDGE_LABELS.items()
    ]
    out += [
        Indicator(
            "group_size",
            "关联群组主体数",
            "entities in the connected related-party group",
            rp,
            1,
            "所在关联群组共{value}个主体",
            "in a related-party group of {value} entities",
            I64,
            f,
        ),
        Indicator(
            "related_n_1hop",
            "直接关联主体数",
            "directly related entities",
            rp,
            0,
            "直接关联主体{value}个",
            "{value} directly related entities",
            I64,
            f,
        ),
        Indicator(
            "related_n_2hop",
            "两跳内关联主体数",
            "entities related within 2 hops",
            rp,
            0,
            "两跳内关联主体{value}个",
            "{value} entities related within 2 hops",
            I64,
            f,
        ),
    ]
    for hop, (zh_hop, en_hop) in (("1hop", ("直接", "directly")), ("2hop", ("两跳内", "within 2 hops"))):
        out += [
            Indicator(
                f"related_blacklisted_n_{hop}",
                f"{zh_hop}关联主体中严重失信数",
                f"related entities on the severe dishonesty list, {hop}",
                rp,
                1,
                f"{zh_hop}关联主体中{{value}}个列入严重失信名单",
                f"{{value}} entities related {en_hop} are on the severe dishonesty list",
                I64,
                f,
            ),
            Indicator(
                f"related_blacklisted_share_{hop}",
                f"{zh_hop}关联主体严重失信比例",
                f"share of related entities on the severe dishonesty list, {hop}",
                rp,
                1,
                f"{zh_hop}关联主体中{{value:.0%}}列入严重失信名单",
                f"{{value:.0%}} of entities related {en_hop} are on the severe dishonesty list",
                F64,
                f,
            ),
            Indicator(
                f"related_penalised_n_{hop}",
                f"{zh_hop}关联主体近12个月受处罚数",
                f"related entities penalised in the last 365 days, {hop}",
                rp,
                1,
                f"{zh_hop}关联主体中{{value}}个近12个月受过行政处罚",
                f"{{value}} entities related {en_hop} were penalised in the last 12 months",
                I64,
                f,
            ),
            Indicator(
                f"related_penalised_share_{hop}",
                f"{zh_hop}关联主体近12个月受处罚比例",
                f"share of related entities penalised in the last 365 days, {hop}",
                rp,
                1,
                f"{zh_hop}关联主体中{{value:.0%}}近12个月受过行政处罚",
                f"{{value:.0%}} of entities related {en_hop} were penalised in the last 12 months",
                F64,
                f,
            ),
        ]
    out += [
        Indicator(
            "related_worst_grade",
            "直接关联主体最差公共信用等级（A=1…D=4）",
            "worst public credit grade among directly related entities (A=1…D=4)",
            rp,
            1,
            "直接关联主体最差公共信用等级为{value}（1=A…4=D）",
            "worst grade among directly related entities is {value} (1=A…4=D)",
            I8,
            f,
        ),
        Indicator(
            "related_risk_propagated",
            "关联风险传导分（个性化PageRank）",
            "propagated related-party risk (personalised PageRank from black-listed entities)",
            rp,
            1,
            "关联风险传导分为{value:.2f}",
            "propagated related-party risk {value:.2f}",
            F64,
            f,
        ),
        Indicator(
            "person_accountable_for_listed",
            "本主体人员担任严重失信主体法定代表人或实际控制人",
            "a person of this entity is legal representative or controller of a severely dishonest entity",
            rp,
            1,
            "本主体相关人员担任严重失信主体的法定代表人或实际控制人（{value}）",
            "a person of this entity leads an entity on the severe dishonesty list ({value})",
            I8,
            f,
        ),
    ]
    return out


def _zero(i: Indicator) -> bool:
    counts = i.dtype == I64 and ("_n_" in i.name or i.name.endswith("_n"))
    return (
        counts or i.name.startswith(("fines_sum_", "degree_")) or i.name.endswith(("_active", "_days_listed"))
    )


def make_catalog(windows: Sequence[int] = WINDOWS) -> tuple[Indicator, ...]:
    """The catalog for a set of windows (the default :data:`CATALOG` uses 90 / 365 / 1095 days)."""
    return _catalog(tuple(windows))


@functools.lru_cache(maxsize=16)
def _catalog(windows: tuple[int, ...]) -> tuple[Indicator, ...]:
    items = (
        *_registration(),
        *_penalties(windows),
        *_licences(windows),
        *_commitments(windows),
        *_self_reports(windows),
        *_evaluations(),
        *_lists(),
        *_interviews(windows),
        *_repairs_objections(),
        *_inspections(),
        *_graph(),
    )
    return tuple(replace(i, zero_when_absent=_zero(i)) for i in items)


CATALOG: tuple[Indicator, ...] = make_catalog()
BY_NAME: dict[str, Indicator] = {i.name: i for i in CATALOG}
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(i.family for i in CATALOG))


def feature_schema(catalog: Sequence[Indicator] = CATALOG) -> pl.Schema:
    """The declared schema of the feature table: ``uscc``, ``as_of``, then every feature in catalog order."""
    return pl.Schema({"uscc": pl.String(), "as_of": pl.Date(), **{i.name: i.dtype for i in catalog}})


def family_schema(family: str, catalog: Sequence[Indicator] = CATALOG) -> pl.Schema:
    """The schema one profile function returns: ``uscc`` and that family's features."""
    cols = {i.name: i.dtype for i in catalog if i.family == family}
    if not cols:
        raise ValueError(f"unknown feature family {family!r}; expected one of {list(FAMILIES)}")
    return pl.Schema({"uscc": pl.String(), **cols})


def indicators_markdown(catalog: Sequence[Indicator] = CATALOG) -> str:
    """The generated part of ``docs/features.md``: one table per indicator dimension."""
    lines = [
        "## Feature catalog (generated)",
        "",
        "Generated from `features/indicators.py` by `creditwatch features catalog --markdown`; do not edit "
        "this section by hand. Direction: `+1` more risk as the value grows, `-1` less risk, `0` no "
        "constraint; `not scored`: in the profile, never a model input (exercising a right — an objection, "
        "a repair application — must not raise a score). Windows count events dated in "
        "`[as_of - N days, as_of)`. Categorical codes: code `k` means the k-th value listed (1-based); null "
        "means unknown or none.",
        "",
        f"{len(catalog)} features.",
        "",
    ]
    for dim, (zh, en) in DIMENSIONS.items():
        rows = [i for i in catalog if i.dimension == dim]
        if not rows:
            continue
        lines += [
            f"### {zh} — {en} (`{dim}`)",
            "",
            "| feature | 中文 | English | type | dir | family | template (zh / en) |",
            "|---|---|---|---|---|---|---|",
        ]
        for i in rows:
            en_label = i.en + (
                " — codes: " + ", ".join(f"{k + 1}=`{c}`" for k, c in enumerate(i.codes)) if i.codes else ""
            )
            direction = f"{i.direction:+d}" if i.scored else "not scored"
            lines.append(
                f"| `{i.name}` | {i.zh} | {en_label} | {i.dtype} | {direction} | {i.family} | "
                f"{i.template_zh} / {i.template_en} |"
            )
        lines.append("")
    return "\n".join(lines)
