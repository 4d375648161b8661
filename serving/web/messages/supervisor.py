"""Messages of the supervisor's pages (entity search and the entity page): key → (zh, en)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    # search
    "entity.search.title": ("主体查询", "Entity search"),
    "entity.search.label": ("统一社会信用代码（前缀）或名称", "USCC (prefix) or part of the name"),
    "entity.search.submit": ("查询", "Search"),
    "entity.search.hint": (
        "输入统一社会信用代码的前几位或名称中的文字（至少 2 个字符）。",
        "Type the first characters of a USCC or part of a name (at least 2 characters).",
    ),
    "entity.search.none": ("没有找到匹配的市场主体。", "No entity matches."),
    "entity.search.total": ("共找到 {total} 个主体", "{total} entities found"),
    "entity.search.shown": ("（显示前 {shown} 个）", "(the first {shown} shown)"),
    "entity.search.too_short": ("查询内容至少需要 2 个字符", "the query needs at least 2 characters"),
    "entity.col.uscc": ("统一社会信用代码", "USCC"),
    "entity.col.name": ("名称", "Name"),
    "entity.col.type": ("主体类型", "Type"),
    "entity.col.industry": ("行业", "Industry"),
    "entity.col.division": ("行政区划", "Division"),
    "entity.col.status": ("登记状态", "Status"),
    "entity.col.open": ("详情", "Details"),
    "entity.open": ("查看", "Open"),
    # entity page: header
    "entity.title": ("主体详情", "Entity"),
    "entity.tier": ("风险等级", "Risk tier"),
    "entity.model_tier": ("模型等级", "Model tier"),
    "entity.probability": ("违规概率（校准）", "Probability of a violation (calibrated)"),
    "entity.model_version": ("模型版本", "Model version"),
    "entity.as_of": ("评分基准日", "Scored as of"),
    "entity.score_as_of": ("评分日期", "Scored as of"),
    "entity.source": ("评分来源", "Score source"),
    "entity.rescored_because": ("重新评分原因", "Re-scored because"),
    "entity.override": ("规则调整", "Rule override"),
    "entity.address": ("住所", "Address"),
    "entity.phone": ("联系电话", "Phone"),
    "entity.capital": ("注册资本（万元）", "Registered capital (10k CNY)"),
    "entity.established": ("成立日期", "Established"),
    "entity.closed": ("注销/吊销日期", "Closed"),
    "entity.not_scored": (
        "该主体暂无存储的评分（请先运行 creditwatch score --as-of 日期）。",
        "This entity has no stored score yet (run creditwatch score --as-of DATE).",
    ),
    "entity.no_champion": (
        "当前没有在用的模型，无法生成解释图：",
        "No model is serving, so there is no explanation chart:",
    ),
    # explanation
    "entity.waterfall.title": ("评分解释（SHAP 瀑布图）", "Score explanation (SHAP waterfall)"),
    "entity.waterfall.caption": (
        "以在用模型 {version} 按 {as_of} 的数据计算：从基准值出发，各特征把分数推高（红）或拉低（绿），"
        "得到原始分（对数几率），再校准为概率 {probability}。",
        "Computed with the serving model {version} on the data of {as_of}: from the base value, each "
        "feature pushes the score up (red) or down (green) to the raw score (log-odds), calibrated to the "
        "probability {probability}.",
    ),
    "entity.waterfall.base": ("基准值", "Base value"),
    "entity.waterfall.raw": ("原始分", "Raw score"),
    "entity.waterfall.others": ("其余 {n} 个特征", "{n} other features"),
    "entity.waterfall.baseline": (
        "同类主体基线（{n} 项结构属性）",
        "Baseline of similar entities ({n} structural attributes)",
    ),
    "entity.waterfall.value": ("取值", "value"),
    "entity.waterfall.contribution": ("贡献（对数几率）", "Contribution (log-odds)"),
    "entity.waterfall.feature": ("特征", "Feature"),
    "entity.reasons.title": ("主要原因", "Top reasons"),
    "entity.reasons.none": ("没有推高风险的主要原因。", "No reason raises the risk."),
    "entity.reasons.baseline": (
        "主要原因只列主体自身的行为；行业、区划、主体类型、注册资本、成立年限等结构属性合并为一行“同类主体基线”。",
        "The top reasons are the entity's own conduct; structural attributes (industry, division, entity "
        "type, capital, age) are summed into one line, the baseline of similar entities.",
    ),
    "entity.reasons.from_score": (
        "以下原因来自存储的评分（评分时的模型）。",
        "These reasons come from the stored score (the model at scoring time).",
    ),
    "entity.dimensions.title": ("指标维度贡献", "Contribution by indicator dimension"),
    "entity.dimensions.none": ("暂无维度贡献。", "No dimension contributions."),
    # timeline
    "entity.timeline.title": ("信用记录时间线", "Record timeline"),
    "entity.timeline.none": ("暂无信用记录。", "No records."),
    "entity.timeline.more": ("另有 {n} 条较早的记录未显示。", "{n} older records are not shown."),
    "entity.timeline.undated": ("无日期", "no date"),
    # related parties
    "entity.related.title": ("关联方（一度、二度）", "Related parties (one and two hops)"),
    "entity.related.none": ("没有找到关联方。", "No related parties found."),
    "entity.related.capped": (
        "图中只画出前 {shown} 个关联方（共 {total} 个）；下表列出全部。",
        "The picture draws the first {shown} of {total} related parties; the table lists all of them.",
    ),
    "entity.related.hops": ("度数", "Hops"),
    "entity.related.via": ("经由", "Via"),
    "entity.related.why": ("关联原因", "Why related"),
    "entity.related.legend": ("图例", "Legend"),
    "entity.related.unscored": ("无评分", "not scored"),
    "entity.kind.person": ("共同人员", "shared person"),
    "entity.kind.investment": ("投资关系", "investment"),
    "entity.kind.shared_address": ("同一地址", "shared address"),
    "entity.kind.shared_phone": ("同一电话", "shared phone"),
    # register codes
    "entity.type.enterprise": ("企业", "enterprise"),
    "entity.type.individual_business": ("个体工商户", "individual business"),
    "entity.type.cooperative": ("农民专业合作社", "cooperative"),
    "entity.type.public_institution": ("事业单位", "public institution"),
    "entity.type.social_organisation": ("社会组织", "social organisation"),
    "entity.type.other": ("其他", "other"),
    "entity.status.active": ("存续", "active"),
    "entity.status.suspended": ("停业", "suspended"),
    "entity.status.revoked": ("吊销", "revoked"),
    "entity.status.deregistered": ("注销", "deregistered"),
    # history
    "entity.history.title": ("评分历史", "Score history"),
    "entity.history.none": ("暂无评分历史。", "No score history."),
    "entity.history.rescore": ("重新评分", "re-score"),
    "entity.history.file": ("批量评分", "scoring run"),
}
