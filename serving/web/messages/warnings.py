"""Messages of the early-warning panel on the supervisor's landing page: key → (zh, en)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "warn.title": ("信用风险预警", "Early warnings"),
    "warn.hint": (
        "本部门主体在最近两次评分之间触发的预警（规则见 warnings.toml）。"
        "确认表示已知悉；关闭须写明处置情况。",
        "Warnings of your department's entities between the last two score runs (rules in warnings.toml). "
        "Acknowledge to say it has been seen; closing needs a note of what was done.",
    ),
    "warn.department": ("接收部门", "Department"),
    "warn.open_count": ("未关闭预警", "Open warnings"),
    "warn.empty": ("本部门没有未处理的预警。", "Your department has no open warnings."),
    "warn.col.entity": ("主体", "Entity"),
    "warn.col.rule": ("预警规则", "Rule"),
    "warn.col.evidence": ("依据", "Evidence"),
    "warn.col.run": ("评分批次", "Runs"),
    "warn.col.status": ("状态", "Status"),
    "warn.col.act": ("处置", "Handle"),
    "warn.status.open": ("待确认", "open"),
    "warn.status.acknowledged": ("已确认", "acknowledged"),
    "warn.status.closed": ("已关闭", "closed"),
    "warn.ack": ("确认", "Acknowledge"),
    "warn.close": ("关闭", "Close"),
    "warn.note": ("处置说明", "Note"),
    "warn.done": ("预警 {id} 已处理。", "Warning {id} handled."),
    "warn.error": ("未能处理", "Not done"),
    "warn.ev.before": ("此前", "before"),
    "warn.ev.after": ("现在", "now"),
    "warn.ev.probability": ("违规概率", "probability"),
    "warn.ev.tier": ("风险等级", "tier"),
    "warn.ev.records": ("记录", "records"),
    "warn.ev.severe": ("关联的严重失信主体", "linked severely dishonest party"),
    "warn.ev.via": ("关联方式", "via"),
    "warn.via.legal_representative": ("共同法定代表人", "shared legal representative"),
    "warn.via.shareholder": ("共同股东", "shared shareholder"),
    "warn.via.actual_controller": ("共同实际控制人", "shared actual controller"),
    "warn.via.investment": ("投资关系", "investment"),
    "warn.rule.probability_rise": ("违规概率显著上升", "probability of a violation rose"),
    "warn.rule.tier_up": ("风险等级升至较高/高", "tier moved up into C/D"),
    "warn.rule.serious_penalty": ("新增严重行政处罚", "new serious penalty"),
    "warn.rule.abnormal_listing": ("新列入经营异常名录", "new abnormal-operations listing"),
    "warn.rule.court_judgment": ("新列入失信被执行人名单", "new court dishonest-debtor entry"),
    "warn.rule.severe_link": ("新增与严重失信主体的关联", "new link to a severely dishonest party"),
    "warn.rule.commitment_breach": ("信用承诺违约", "credit commitment breached"),
}
