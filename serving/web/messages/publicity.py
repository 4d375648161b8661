"""Messages of the public 双公示 search page (/ui/public/decisions): key → (zh, en)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "publicity.decisions.title": ("双公示信息查询", "Administrative decisions (双公示)"),
    "publicity.decisions.intro": (
        "行政许可、行政处罚等十类行政行为信息，自作出决定之日起 7 个工作日内公示，公示期满后不再显示；"
        "个人信息已按规定处理，未成年人相关信息不予公示。",
        "Licences, penalties and eight other kinds of administrative decision, published within 7 working "
        "days of the decision and shown until their publicity period ends; personal data are masked and "
        "records about minors are never shown.",
    ),
    "publicity.decisions.q": ("关键词", "Keyword"),
    "publicity.decisions.q_hint": (
        "行政相对人名称、决定名称、文书号或统一社会信用代码的一部分（最多 100 个字符）。",
        "Part of the party's name, the title, the document number or the USCC (at most 100 characters).",
    ),
    "publicity.decisions.kind": ("类别", "Kind"),
    "publicity.decisions.kind_all": ("全部类别", "All kinds"),
    "publicity.decisions.department": ("决定机关", "Authority"),
    "publicity.decisions.decided_from": ("决定日期自", "Decided from"),
    "publicity.decisions.decided_to": ("决定日期至", "Decided to"),
    "publicity.decisions.submit": ("查询", "Search"),
    "publicity.decisions.total": ("共 {total} 条", "{total} decisions"),
    "publicity.decisions.page": ("第 {page} / {pages} 页", "Page {page} of {pages}"),
    "publicity.decisions.prev": ("上一页", "Previous"),
    "publicity.decisions.next": ("下一页", "Next"),
    "publicity.decisions.none": ("没有符合条件的公示信息。", "No published decision matches."),
    "publicity.decisions.as_of": ("公示状态日期：{on}", "As shown on {on}"),
    "publicity.decisions.bad_date": ("日期格式应为 YYYY-MM-DD", "a date is written YYYY-MM-DD"),
    "publicity.decisions.bad_number": ("应为正整数", "a whole number is expected"),
    "publicity.col.kind": ("类别", "Kind"),
    "publicity.col.record_id": ("文书号", "Document no."),
    "publicity.col.party": ("行政相对人", "Party"),
    "publicity.col.uscc": ("统一社会信用代码", "USCC"),
    "publicity.col.title": ("决定名称 / 违法行为类型", "Title / violation"),
    "publicity.col.content": ("内容", "Content"),
    "publicity.col.decided_on": ("决定日期", "Decided on"),
    "publicity.col.authority": ("决定机关", "Authority"),
    "publicity.col.publicity_until": ("公示截止", "Shown until"),
    "publicity.kind.licence": ("行政许可", "Licensing"),
    "publicity.kind.penalty": ("行政处罚", "Penalty"),
    "publicity.kind.enforcement": ("行政强制", "Administrative enforcement"),
    "publicity.kind.confirmation": ("行政确认", "Administrative confirmation"),
    "publicity.kind.levy": ("行政征收", "Levy"),
    "publicity.kind.benefit": ("行政给付", "Benefit"),
    "publicity.kind.adjudication": ("行政裁决", "Adjudication"),
    "publicity.kind.compensation": ("行政补偿", "Compensation"),
    "publicity.kind.reward": ("行政奖励", "Reward"),
    "publicity.kind.inspection": ("行政监督检查", "Supervisory inspection"),
}
