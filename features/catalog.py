"""The record catalog (公共信用信息目录): every table the lake holds, its fields, types and rules.

This module is the one contract between the sources (files from other departments, the synthetic city),
ingest (which checks rows against it) and the feature pipelines (which read the lake by it). Each field
carries its Chinese name; ``docs/catalog.md`` is generated from here by :func:`catalog_markdown`.

Conventions: dates are the day the fact happened (decision date etc.); money is in yuan (元); shares are
fractions in [0, 1]; every table has a primary key; ``uscc`` always means the entity the record is about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

# The checks ingest applies beyond the dtype cast, by name.
RULES = frozenset({"uscc", "past_date", "non_negative", "fraction", "probability", "person_key", "id_masked"})


@dataclass(frozen=True, slots=True)
class Field:
    """One column: its name, polars dtype, Chinese and English labels and the rules it must satisfy."""

    name: str
    dtype: pl.DataType
    zh: str
    en: str
    required: bool = False
    enum: tuple[str, ...] | None = None
    rules: tuple[str, ...] = ()
    references: str | None = None  # "table.column" that must already hold this value (or in the same batch)
    # Free text typed by people (a penalty's facts): ingest scrubs ID, phone and bank-card numbers out of it
    # (features.scrub); no restricted original is kept (the lake has no restricted store).
    free_text: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.rules) - RULES
        if unknown:
            raise ValueError(
                f"field {self.name!r}: unknown rules {sorted(unknown)}; allowed: {sorted(RULES)}"
            )


@dataclass(frozen=True, slots=True)
class Ordering:
    """A row rule: ``earlier`` must not be after ``later`` when both are present."""

    earlier: str
    later: str


@dataclass(frozen=True, slots=True)
class Table:
    """One catalog table."""

    name: str
    zh: str
    en: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    orderings: tuple[Ordering, ...] = ()
    # The date a record becomes known to the features (point-in-time cut-off column).
    event_date: str | None = None
    # Registration-like tables are re-issued with changes: a later batch's row replaces the earlier one.
    versioned: bool = False
    notes: str = ""
    # Who may read the table's records outside government (信用服务专区, issue 14): ``public`` (published:
    # 双公示, the lists, the commitments column), ``subject`` (shown to the entity the record is about, not
    # published) or ``internal`` (government use only). The entity's zone shows the first two.
    openness: Literal["public", "subject", "internal"] = "internal"
    # Columns of an open table that stay internal: how an inspection was drawn says how risky the entity
    # looked, and risk classification is not published (domain-rules §3.4).
    internal_fields: tuple[str, ...] = ()
    _by_name: Mapping[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})
        for column in (
            *self.key,
            *(o.earlier for o in self.orderings),
            *(o.later for o in self.orderings),
            *self.internal_fields,
        ):
            if column not in self._by_name:
                raise ValueError(f"table {self.name!r}: {column!r} is not one of its fields")

    @property
    def schema(self) -> pl.Schema:
        """The lake schema: column order and dtypes of accepted rows."""
        return pl.Schema({f.name: f.dtype for f in self.fields})

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    def field(self, name: str) -> Field:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"table {self.name!r} has no field {name!r}; fields: {self.columns}") from None


Date = pl.Date()
Str = pl.String()
Float = pl.Float64()
Int = pl.Int64()
Bool = pl.Boolean()

ENTITY_TYPES = (
    "enterprise",
    "individual_business",
    "cooperative",
    "public_institution",
    "social_organisation",
    "other",
)
ENTITY_STATUSES = ("active", "suspended", "revoked", "deregistered")
GRADES = ("A", "B", "C", "D")
SEVERITIES = ("minor", "general", "serious")
PENALTY_KINDS = (
    "warning",  # 警告
    "circulated_criticism",  # 通报批评
    "fine",  # 罚款
    "confiscation",  # 没收违法所得、没收非法财物
    "licence_suspension",  # 暂扣许可证件、降低资质等级
    "licence_revocation",  # 吊销许可证件
    "business_restriction",  # 限制开展生产经营活动、责令停产停业、责令关闭、限制从业
    "detention",  # 行政拘留
    "other",
)
LIST_TYPES = (
    "severe_dishonesty",  # 严重失信主体名单
    "abnormal_operations",  # 经营异常名录
    "court_dishonest_debtor",  # 失信被执行人名单
    "red_list",  # 守信激励对象（红名单）
)
RELATION_TYPES = ("legal_representative", "shareholder", "actual_controller", "investment")
INSPECTION_OUTCOMES = ("no_problem", "violation", "serious_violation", "not_found")
RECORD_TABLES = (
    "licences",
    "penalties",
    "commitments",
    "self_reports",
    "evaluations",
    "list_entries",
    "interviews",
    "inspections",
    "decisions",
)
# The seven other kinds of administrative decision 国办发〔2019〕35号 adds to 双公示 (licences, penalties
# and inspection results have tables of their own): 行政强制, 确认, 征收, 给付, 裁决, 补偿, 奖励.
DECISION_KINDS = (
    "enforcement",  # 行政强制
    "confirmation",  # 行政确认
    "levy",  # 行政征收
    "benefit",  # 行政给付
    "adjudication",  # 行政裁决
    "compensation",  # 行政补偿
    "reward",  # 行政奖励
)
DOMAINS = (
    "food",
    "drug",
    "special_equipment",
    "product_quality",
    "pricing",
    "advertising",
    "registration",
    "other",
)

_USCC = ("uscc",)
_PAST = ("past_date",)


def _uscc(
    zh: str = "统一社会信用代码",
    en: str = "unified social credit code",
    *,
    references: bool = True,
    name: str = "uscc",
    required: bool = True,
) -> Field:
    return Field(
        name, Str, zh, en, required=required, rules=_USCC, references="entities.uscc" if references else None
    )


ENTITIES = Table(
    "entities",
    "市场主体登记信息",
    "market entity registrations",
    key=("uscc",),
    openness="public",
    versioned=True,
    event_date="established_on",
    fields=(
        _uscc(references=False),
        Field("name", Str, "主体名称", "registered name", required=True),
        Field("entity_type", Str, "主体类型", "entity type", required=True, enum=ENTITY_TYPES),
        Field(
            "industry",
            Str,
            "行业代码（GB/T 4754 门类+大类，如 H62）",
            "industry (GB/T 4754 section+division)",
            required=True,
        ),
        Field("division_code", Str, "登记机关行政区划代码", "GB/T 2260 division code", required=True),
        Field(
            "registered_capital",
            Float,
            "注册资本（元）",
            "registered capital (yuan)",
            rules=("non_negative",),
        ),
        Field("established_on", Date, "成立日期", "established on", required=True, rules=_PAST),
        Field("closed_on", Date, "注销/吊销日期", "deregistered or revoked on", rules=_PAST),
        Field("status", Str, "登记状态", "registration status", required=True, enum=ENTITY_STATUSES),
        Field("address", Str, "住所", "registered address"),
        Field("phone", Str, "联系电话", "contact phone"),
    ),
    orderings=(Ordering("established_on", "closed_on"),),
    notes="A later batch's row for the same USCC replaces the earlier one (status changes, closure).",
)

PERSONS = Table(
    "persons",
    "自然人信息",
    "natural persons",
    key=("person_key",),
    openness="internal",
    fields=(
        Field(
            "person_key",
            Str,
            "自然人标识（身份证号的密钥哈希 HMAC-SHA256）",
            "person key (HMAC-SHA256 of the ID number under the operator's key)",
            required=True,
            rules=("person_key",),
        ),
        Field("id_masked", Str, "身份证号（脱敏）", "ID number, masked", required=True, rules=("id_masked",)),
        Field("name", Str, "姓名", "name", required=True),
        Field("birth_year", Int, "出生年份", "year of birth"),
    ),
    notes="Raw ID numbers never enter the lake: the source's `id_number` column is replaced at ingest by "
    "`person_key` (HMAC-SHA256 under the operator's key `person_salt`), `id_masked` (first 6 + ******** + "
    "last 4) and `birth_year`. The birth date is never kept: it is the middle 8 digits of the number, so "
    "with `id_masked` it would give the whole number back; a person is treated as possibly a minor through "
    "the end of the year they turn 18.",
)

RELATIONS = Table(
    "relations",
    "关联关系",
    "relations",
    key=("relation_id",),
    openness="internal",
    event_date="valid_from",
    fields=(
        Field("relation_id", Str, "关系编号", "relation id", required=True),
        _uscc(),
        Field("relation_type", Str, "关系类型", "relation type", required=True, enum=RELATION_TYPES),
        Field(
            "person_key",
            Str,
            "关联自然人标识",
            "related person key",
            rules=("person_key",),
            references="persons.person_key",
        ),
        Field(
            "related_uscc",
            Str,
            "关联主体统一社会信用代码（对外投资的被投资方）",
            "related entity (investee)",
            rules=_USCC,
        ),
        Field("share", Float, "持股比例", "share held (0-1)", rules=("fraction",)),
        Field("valid_from", Date, "起始日期", "valid from", required=True, rules=_PAST),
        Field("valid_to", Date, "终止日期", "valid to"),
    ),
    orderings=(Ordering("valid_from", "valid_to"),),
    notes="Entity–person relations carry `person_key`; investments carry `related_uscc` (the investee). "
    "Shared addresses and phones are derived from `entities.address` / `entities.phone`.",
)

LICENCES = Table(
    "licences",
    "行政许可信息",
    "administrative licences",
    key=("licence_id",),
    openness="public",
    event_date="decided_on",
    fields=(
        Field("licence_id", Str, "许可决定书文号", "licence decision number", required=True),
        _uscc(),
        Field("licence_name", Str, "许可证件名称", "licence name", required=True),
        Field("matter", Str, "许可事项", "licensed matter", required=True, free_text=True),
        Field(
            "licence_kind",
            Str,
            "许可类别",
            "licence kind",
            enum=("general", "special", "recognition", "approval", "registration", "other"),
        ),
        Field("decided_on", Date, "许可决定日期", "decided on", required=True, rules=_PAST),
        Field("valid_from", Date, "有效期自", "valid from"),
        Field("valid_to", Date, "有效期至", "valid to"),
        Field("authority", Str, "许可机关", "licensing authority", required=True),
        Field("authority_uscc", Str, "许可机关统一社会信用代码", "licensing authority USCC", rules=_USCC),
        Field("by_commitment", Bool, "是否告知承诺办理", "granted on a credit commitment"),
    ),
    orderings=(Ordering("valid_from", "valid_to"),),
)

PENALTIES = Table(
    "penalties",
    "行政处罚信息（双公示）",
    "administrative penalties",
    key=("decision_no",),
    openness="public",
    event_date="decided_on",
    fields=(
        Field("decision_no", Str, "行政处罚决定书文号", "decision number", required=True),
        _uscc("行政相对人统一社会信用代码", "party USCC"),
        Field("party_name", Str, "行政相对人名称", "party name", required=True),
        Field("legal_representative", Str, "法定代表人", "legal representative"),
        Field("violation_type", Str, "违法行为类型", "violation type", required=True),
        Field("facts", Str, "违法事实", "facts", free_text=True),
        Field("basis", Str, "处罚依据", "legal basis", required=True),
        Field("penalty_kind", Str, "处罚类别", "penalty kind", required=True, enum=PENALTY_KINDS),
        Field("content", Str, "处罚内容", "penalty content", free_text=True),
        Field("fine_amount", Float, "罚款金额（元）", "fine (yuan)", rules=("non_negative",)),
        Field(
            "confiscated_amount",
            Float,
            "没收违法所得、没收非法财物金额（元）",
            "confiscated (yuan)",
            rules=("non_negative",),
        ),
        Field("domain", Str, "监管领域", "supervision domain", required=True, enum=DOMAINS),
        Field("severity", Str, "失信严重程度", "severity", required=True, enum=SEVERITIES),
        Field("decided_on", Date, "处罚决定日期", "decided on", required=True, rules=_PAST),
        Field("valid_until", Date, "处罚有效期", "penalty valid until"),
        Field("publicity_until", Date, "公示截止期", "publicity until"),
        Field("authority", Str, "处罚机关", "penalising authority", required=True),
        Field(
            "authority_uscc", Str, "处罚机关统一社会信用代码", "authority USCC", required=True, rules=_USCC
        ),
        Field("data_source", Str, "数据来源单位", "data source unit"),
        Field("data_source_uscc", Str, "数据来源单位统一社会信用代码", "data source USCC", rules=_USCC),
    ),
    orderings=(Ordering("decided_on", "valid_until"), Ordering("decided_on", "publicity_until")),
    notes="Fields of the 双公示 penalty standard (domain-rules §8.3); fines in yuan, not 万元.",
)

COMMITMENTS = Table(
    "commitments",
    "信用承诺及履约信息",
    "credit commitments",
    key=("commitment_id",),
    openness="public",
    event_date="made_on",
    fields=(
        Field("commitment_id", Str, "承诺编号", "commitment id", required=True),
        _uscc(),
        Field(
            "commitment_type",
            Str,
            "承诺类型",
            "commitment type",
            required=True,
            enum=("licence_notification", "voluntary", "industry_self_discipline", "credit_repair", "other"),
        ),
        Field("matter", Str, "承诺事项", "matter", required=True, free_text=True),
        Field("licence_id", Str, "关联许可决定书文号", "related licence"),
        Field("made_on", Date, "承诺日期", "made on", required=True, rules=_PAST),
        Field("due_on", Date, "履约期限", "due on"),
        Field(
            "fulfilment",
            Str,
            "履约状态",
            "fulfilment",
            required=True,
            enum=("pending", "fulfilled", "breached"),
        ),
        Field("fulfilment_on", Date, "履约状态认定日期", "fulfilment determined on", rules=_PAST),
    ),
    orderings=(Ordering("made_on", "due_on"), Ordering("made_on", "fulfilment_on")),
)

SELF_REPORTS = Table(
    "self_reports",
    "自愿申报信息",
    "voluntary self-reports",
    key=("report_id",),
    openness="subject",
    event_date="reported_on",
    fields=(
        Field("report_id", Str, "申报编号", "report id", required=True),
        _uscc(),
        Field(
            "topic",
            Str,
            "申报类别",
            "topic",
            required=True,
            enum=(
                "qualification",
                "honour",
                "social_responsibility",
                "tax",
                "social_insurance",
                "contract",
                "other",
            ),
        ),
        Field("content", Str, "申报内容", "content", free_text=True),
        Field("reported_on", Date, "申报日期", "reported on", required=True, rules=_PAST),
        Field("verified", Bool, "是否核实", "verified"),
        Field("verified_on", Date, "核实日期", "verified on", rules=_PAST),
    ),
    orderings=(Ordering("reported_on", "verified_on"),),
)

EVALUATIONS = Table(
    "evaluations",
    "信用评价信息",
    "credit evaluations",
    key=("evaluation_id",),
    openness="internal",
    event_date="evaluated_on",
    fields=(
        Field("evaluation_id", Str, "评价编号", "evaluation id", required=True),
        _uscc(),
        Field(
            "scheme", Str, "评价类别", "scheme", required=True, enum=("public_credit", "industry")
        ),  # 公共信用综合评价 / 行业信用评价
        Field("industry_domain", Str, "行业评价领域", "industry evaluated"),
        Field("grade", Str, "评价等级", "grade", required=True, enum=GRADES),
        Field("score", Float, "评价得分", "score", rules=("non_negative",)),
        Field("evaluated_on", Date, "评价日期", "evaluated on", required=True, rules=_PAST),
        Field("valid_until", Date, "有效期至", "valid until"),
        Field("evaluator", Str, "评价机构", "evaluator", required=True),
    ),
    orderings=(Ordering("evaluated_on", "valid_until"),),
)

LIST_ENTRIES = Table(
    "list_entries",
    "红黑名单信息",
    "red and black list entries",
    key=("entry_id",),
    openness="public",
    event_date="listed_on",
    fields=(
        Field("entry_id", Str, "名单记录编号", "entry id", required=True),
        _uscc(),
        Field("list_type", Str, "名单类型", "list type", required=True, enum=LIST_TYPES),
        Field("basis", Str, "列入依据", "legal basis", required=True),
        Field("basis_document_no", Str, "认定文书号", "determination document number", required=True),
        Field("reason", Str, "列入事由", "reason", free_text=True),
        Field("listed_on", Date, "列入日期", "listed on", required=True, rules=_PAST),
        Field("planned_end", Date, "计划移出日期", "planned end"),
        Field("exited_on", Date, "移出日期", "exited on", rules=_PAST),
        Field(
            "exit_reason",
            Str,
            "移出原因",
            "exit reason",
            enum=("expired", "repaired", "revoked", "court_fulfilled", "other"),
        ),
        Field("authority", Str, "认定单位", "listing authority", required=True),
    ),
    orderings=(Ordering("listed_on", "planned_end"), Ordering("listed_on", "exited_on")),
)

INTERVIEWS = Table(
    "interviews",
    "信用约谈信息",
    "credit interviews (约谈)",
    key=("interview_id",),
    openness="subject",
    event_date="held_on",
    fields=(
        Field("interview_id", Str, "约谈编号", "interview id", required=True),
        _uscc(),
        Field("held_on", Date, "约谈日期", "held on", required=True, rules=_PAST),
        Field("authority", Str, "约谈单位", "authority", required=True),
        Field("reason", Str, "约谈事由", "reason", required=True, free_text=True),
        Field("related_record", Str, "关联记录编号", "related record id"),
    ),
)

REPAIRS = Table(
    "repairs",
    "信用修复信息",
    "credit repairs",
    key=("repair_id",),
    openness="subject",
    event_date="applied_on",
    fields=(
        Field("repair_id", Str, "修复编号", "repair id", required=True),
        _uscc(),
        Field(
            "record_table",
            Str,
            "被修复记录类别",
            "table of the repaired record",
            required=True,
            enum=RECORD_TABLES,
        ),
        Field("record_id", Str, "被修复记录编号", "repaired record id", required=True),
        Field("applied_on", Date, "申请日期", "applied on", required=True, rules=_PAST),
        Field("decided_on", Date, "决定日期", "decided on", rules=_PAST),
        Field("outcome", Str, "修复结果", "outcome", required=True, enum=("pending", "approved", "rejected")),
        Field("authority", Str, "修复决定单位", "deciding authority", required=True),
    ),
    orderings=(Ordering("applied_on", "decided_on"),),
)

OBJECTIONS = Table(
    "objections",
    "异议处理信息",
    "objections",
    key=("objection_id",),
    openness="subject",
    event_date="filed_on",
    fields=(
        Field("objection_id", Str, "异议编号", "objection id", required=True),
        _uscc(),
        Field(
            "record_table",
            Str,
            "异议记录类别",
            "table of the disputed record",
            required=True,
            enum=RECORD_TABLES,
        ),
        Field("record_id", Str, "异议记录编号", "disputed record id", required=True),
        Field("filed_on", Date, "提出日期", "filed on", required=True, rules=_PAST),
        Field("marked_on", Date, "标注异议日期", "marked 异议处理中 on", rules=_PAST),
        Field("decided_on", Date, "处理决定日期", "decided on", rules=_PAST),
        Field("outcome", Str, "处理结果", "outcome", required=True, enum=("pending", "upheld", "rejected")),
        Field("resolution", Str, "处理方式", "resolution", enum=("corrected", "revoked")),
    ),
    orderings=(Ordering("filed_on", "marked_on"), Ordering("filed_on", "decided_on")),
)

INSPECTIONS = Table(
    "inspections",
    "检查结果信息（双随机）",
    "inspections",
    key=("inspection_id",),
    openness="public",
    internal_fields=("selection_probability", "in_control_slice", "inspectors"),
    event_date="inspected_on",
    fields=(
        Field("inspection_id", Str, "检查编号", "inspection id", required=True),
        Field("task_id", Str, "抽查任务编号", "sampling task id", required=True),
        _uscc(),
        Field("department", Str, "检查部门", "department", required=True),
        Field("check_items", Str, "检查事项（分号分隔）", "check items (';'-separated)", free_text=True),
        Field("inspected_on", Date, "检查日期", "inspected on", required=True, rules=_PAST),
        Field(
            "inspectors", Str, "执法检查人员编号（分号分隔）", "inspector ids (';'-separated)", required=True
        ),
        Field("outcome", Str, "检查结果", "outcome", required=True, enum=INSPECTION_OUTCOMES),
        Field("findings", Str, "检查发现", "findings", free_text=True),
        Field(
            "selection_probability",
            Float,
            "入样概率",
            "inclusion probability",
            required=True,
            rules=("probability",),
        ),
        Field(
            "in_control_slice", Bool, "是否随机对照样本", "drawn in the uniform control slice", required=True
        ),
    ),
    notes="Only inspected entities have labels; `selection_probability` is what training weights by.",
)

DECISIONS = Table(
    "decisions",
    "其他行政行为信息（双公示）",
    "other administrative decisions",
    key=("decision_id",),
    openness="public",
    event_date="decided_on",
    fields=(
        Field("decision_id", Str, "行政决定文书号", "decision number", required=True),
        _uscc("行政相对人统一社会信用代码", "party USCC"),
        Field("kind", Str, "行政行为类别", "kind of decision", required=True, enum=DECISION_KINDS),
        Field("title", Str, "决定名称", "title", required=True),
        Field("content", Str, "决定内容", "content", free_text=True),
        Field("basis", Str, "依据", "legal basis"),
        Field("decided_on", Date, "决定日期", "decided on", required=True, rules=_PAST),
        Field("authority", Str, "决定机关", "deciding authority", required=True),
        Field("authority_uscc", Str, "决定机关统一社会信用代码", "authority USCC", rules=_USCC),
        Field("severity", Str, "失信严重程度", "severity", enum=SEVERITIES),
        Field("publicity_until", Date, "公示截止期", "publicity until"),
    ),
    orderings=(Ordering("decided_on", "publicity_until"),),
    notes="The administrative decisions 国办发〔2019〕35号 adds to 双公示 besides licences, penalties and "
    "inspection results (domain-rules §8.1): 行政强制 `enforcement`, 行政确认 `confirmation`, 行政征收 "
    "`levy`, 行政给付 `benefit`, 行政裁决 `adjudication`, 行政补偿 `compensation`, 行政奖励 `reward`. "
    "Published by the deciding authority within 7 working days; no feature reads this table.",
)

TABLES: tuple[Table, ...] = (
    ENTITIES,
    PERSONS,
    RELATIONS,
    LICENCES,
    PENALTIES,
    COMMITMENTS,
    SELF_REPORTS,
    EVALUATIONS,
    LIST_ENTRIES,
    INTERVIEWS,
    REPAIRS,
    OBJECTIONS,
    INSPECTIONS,
    DECISIONS,
)
BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    """The catalog table called ``name``, or a ValueError naming the allowed values."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; expected one of {sorted(BY_NAME)}") from None


def empty_frame(t: Table) -> pl.DataFrame:
    return pl.DataFrame(schema=t.schema)


def catalog_markdown(tables: Sequence[Table] = TABLES) -> str:
    """``docs/catalog.md``: the catalog as Markdown, generated from the code above."""
    lines = [
        "# Record catalog (公共信用信息目录)",
        "",
        "Generated from `features/catalog.py` by `creditwatch data catalog --markdown`; do not edit by hand.",
        "",
        "Ingest checks every row against these fields: the type, `required`, the allowed values, and the "
        "rules (`uscc`: GB 32100 check; `past_date`: not after the ingest date; `non_negative`; `fraction`: "
        "0–1; `probability`: in (0, 1]; `references`: the value must already be in the lake or arrive in "
        "the same run). Row rules (`a ≤ b`) compare two dates of one row. Free-text fields are scrubbed at "
        "ingest: ID numbers (18 and 15 digits), mobile and landline phone numbers and Luhn-valid bank-card "
        "numbers are replaced by their masked forms, and no original is kept (docs/ingest.md).",
        "",
    ]
    for t in tables:
        lines += [f"## `{t.name}` — {t.zh} ({t.en})", ""]
        lines.append(
            f"Primary key: `{', '.join(t.key)}`"
            + (f"; point-in-time date: `{t.event_date}`" if t.event_date else "")
            + ("; versioned (a later batch replaces a row)" if t.versioned else "")
            + "."
        )
        if t.notes:
            lines += ["", t.notes]
        lines += [
            "",
            "| field | 中文 | English | type | required | allowed values / rules |",
            "|---|---|---|---|---|---|",
        ]
        for f in t.fields:
            rules: list[str] = list(f.rules)
            if f.enum:
                rules.insert(0, ", ".join(f"`{v}`" for v in f.enum))
            if f.references:
                rules.append(f"references `{f.references}`")
            if f.free_text:
                rules.append("free text: ID, phone and bank-card numbers masked at ingest")
            lines.append(
                f"| `{f.name}` | {f.zh} | {f.en} | {f.dtype} | {'yes' if f.required else ''} | "
                f"{'; '.join(rules)} |"
            )
        if t.orderings:
            lines += [
                "",
                "Row rules: " + "; ".join(f"`{o.earlier}` ≤ `{o.later}`" for o in t.orderings) + ".",
            ]
        lines.append("")
    return "\n".join(lines)
