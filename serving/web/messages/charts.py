"""Messages of the model page's inline charts (serving/web/charts.py): axes, legends — key → (zh, en). The
charts' titles are the page's ``model.chart.*`` captions."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "chart.reliability.x": ("预测违法概率", "predicted probability"),
    "chart.reliability.y": ("实际违法率", "observed violation rate"),
    "chart.legend.perfect": ("完全校准", "perfect calibration"),
    "chart.legend.model": ("模型", "model"),
    "chart.tiers.x": ("风险等级", "tier"),
    "chart.tiers.share": ("主体占比", "share of entities"),
    "chart.tiers.rate": ("违法率", "violation rate"),
    "chart.legend.share": ("主体占比", "share of entities"),
    "chart.legend.predicted": ("预测违法率", "predicted rate"),
    "chart.legend.observed": ("实际违法率", "observed rate"),
    "chart.shap.x": ("平均 |SHAP 值|（对数几率）", "mean |SHAP value| (log-odds)"),
    "chart.waterfall.x": (
        "对数几率（基准值 {base:.2f} → 得分 {raw:.2f}）",
        "log-odds (base {base:.2f} → score {raw:.2f})",
    ),
    "chart.waterfall.others": ("其余 {n} 个特征", "{n} other features"),
    "chart.download_svg": ("下载 SVG", "SVG"),
}
