"""Messages of the sector risk page (serving/web/sectors.py): districts × industry sections, the heat map,
the trend over the runs — key → (zh, en). The section names (GB/T 4754 门类 A–T) are
models.sectors.SECTIONS."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "nav.sectors": ("行业区域风险", "Sector risk"),
    "sectors.title": ("行业区域风险：区划 × 行业门类", "Sector risk: districts × industry sections"),
    "sectors.none": (
        "还没有有效的评分批次：请先运行 `creditwatch score`。",
        "No valid score run yet: run `creditwatch score` first.",
    ),
    "sectors.run": (
        "评分批次 {day}（模型版本 {version}）：{entities} 个主体；已判检查 {inspections} 次",
        "score run {day} (model {version}): {entities} entities; {inspections} inspections judged",
    ),
    "sectors.min_n": (
        "实际违法率仅在检查数不少于 {n} 次时显示。",
        "The realised violation rate is shown from {n} inspections.",
    ),
    "sectors.metric": ("着色", "colour by"),
    "sectors.metric.mean_probability": ("平均违法概率", "mean probability"),
    "sectors.metric.share_cd": ("C/D 档占比", "share in C/D"),
    "sectors.heat.title": ("风险热力图", "Heat map"),
    "sectors.heat.hint": (
        "行：区划代码；列：行业门类（GB/T 4754）；格内数字为百分比；灰色：无主体。",
        "Rows: district code; columns: industry section (GB/T 4754); numbers are percent; grey: no entity.",
    ),
    "sectors.heat.rows": ("区划", "district"),
    "sectors.heat.cols": ("行业门类", "section"),
    "sectors.trend.title": ("各行业门类走势", "Trend per section over the runs"),
    "sectors.trend.x": ("评分批次", "score run"),
    "sectors.trend.all": ("全市", "city"),
    "sectors.table.title": ("明细", "Table"),
    "sectors.col.district": ("区划", "district"),
    "sectors.col.section": ("行业门类", "section"),
    "sectors.col.entities": ("主体数", "entities"),
    "sectors.col.mean": ("平均违法概率", "mean probability"),
    "sectors.col.share_cd": ("C/D 占比", "share C/D"),
    "sectors.col.inspections": ("检查数", "inspections"),
    "sectors.col.violations": ("违法数", "violations"),
    "sectors.col.rate": ("实际违法率", "realised rate"),
    "sectors.insufficient": ("样本不足", "insufficient"),
    "sectors.download": ("下载报告", "Download the report"),
    "sectors.show": ("显示", "Show"),
}
