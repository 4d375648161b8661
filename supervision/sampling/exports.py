"""The list for inspectors: the task's entities with tier, top reasons, team, items and results, as CSV or
XLSX."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from supervision.platform.spreadsheets import csv_bytes, xlsx_bytes
from supervision.sampling.tables import InspectionResult, Visit
from supervision.sampling.tasks import selection_frame
from supervision.sampling.visits import teams

__all__ = [
    "EXPORT_COLUMNS",
    "EXPORT_HEADINGS",
    "ExportFormat",
    "export_bytes",
    "export_frame",
    "reasons_text",
]

ExportFormat = Literal["csv", "xlsx"]

EXPORT_COLUMNS = (
    "task_id",
    "visit_id",
    "uscc",
    "tier",
    "reasons",
    "inclusion_probability",
    "in_control_slice",
    "items",
    "inspectors",
    "visit_status",
    "outcome",
    "inspected_on",
    "publication_due_on",
    "published_on",
)


def export_frame(session: Session, task_id: str, *, reasons: pl.DataFrame | None = None) -> pl.DataFrame:
    """What inspectors take out: the list with tier, top reasons (from ``reasons``: uscc, reasons), team,
    items."""
    sel = selection_frame(session, task_id)
    visit_ids = [v for v in sel["visit_id"].to_list() if v is not None]
    by_visit = teams(session, visit_ids)
    visits: dict[str, Visit] = {}
    results: dict[str, InspectionResult] = {}
    for start in range(0, len(visit_ids), 1000):  # bounded IN lists (SQLite's variable limit)
        chunk = visit_ids[start : start + 1000]
        visits.update(
            (v.visit_id, v) for v in session.scalars(sa.select(Visit).where(Visit.visit_id.in_(chunk)))
        )
        results.update(
            (r.visit_id, r)
            for r in session.scalars(sa.select(InspectionResult).where(InspectionResult.visit_id.in_(chunk)))
        )
    rows = []
    for r in sel.iter_rows(named=True):
        vid = r["visit_id"]
        visit = visits.get(vid) if vid else None
        res = results.get(vid) if vid else None
        rows.append(
            {
                "task_id": task_id,
                "visit_id": vid,
                "uscc": r["uscc"],
                "tier": r["tier"],
                "inclusion_probability": r["inclusion_probability"],
                "in_control_slice": r["in_control_slice"],
                "items": "; ".join(visit.items if visit else r["items"]),
                "inspectors": "; ".join(by_visit.get(vid, [])) if vid else "",
                "visit_status": visit.status if visit else "not planned",
                "outcome": res.outcome if res else None,
                "inspected_on": res.inspected_on if res else None,
                "publication_due_on": res.publication_due_on if res else None,
                "published_on": res.published_on if res else None,
            }
        )
    out = pl.DataFrame(
        rows,
        schema={
            "task_id": pl.String(),
            "visit_id": pl.String(),
            "uscc": pl.String(),
            "tier": pl.String(),
            "inclusion_probability": pl.Float64(),
            "in_control_slice": pl.Boolean(),
            "items": pl.String(),
            "inspectors": pl.String(),
            "visit_status": pl.String(),
            "outcome": pl.String(),
            "inspected_on": pl.Date(),
            "publication_due_on": pl.Date(),
            "published_on": pl.Date(),
        },
    )
    if reasons is not None and "reasons" in reasons.columns:
        text = reasons.select("uscc", reasons=reasons_text(reasons.schema["reasons"]))
        out = out.join(text.unique("uscc", keep="first"), on="uscc", how="left")
    else:
        out = out.with_columns(reasons=pl.lit(None, pl.String()))
    return out.select(EXPORT_COLUMNS)


def reasons_text(dtype: pl.DataType) -> pl.Expr:
    """The reasons as one line of text: plain strings, lists of strings, or the scorer's list of
    {feature, dimension, value, contribution, zh, en} structs (the Chinese sentence is what inspectors
    read)."""
    column = pl.col("reasons")
    if not isinstance(dtype, pl.List):
        return column.cast(pl.String)
    if isinstance(dtype.inner, pl.Struct):
        column = column.list.eval(pl.element().struct.field("zh"))
    return column.list.join("；")


# Column headings of the export for people (Chinese first, as inspectors read it).
EXPORT_HEADINGS: Mapping[str, str] = {
    "task_id": "任务编号 task",
    "visit_id": "检查编号 visit",
    "uscc": "统一社会信用代码 USCC",
    "tier": "信用风险分类 tier",
    "reasons": "主要原因 reasons",
    "inclusion_probability": "入样概率 inclusion probability",
    "in_control_slice": "随机对照 control slice",
    "items": "检查事项 items",
    "inspectors": "执法检查人员 inspectors",
    "visit_status": "状态 status",
    "outcome": "检查结果 outcome",
    "inspected_on": "检查日期 inspected on",
    "publication_due_on": "公示期限 publication due",
    "published_on": "公示日期 published on",
}


def export_bytes(frame: pl.DataFrame, fmt: ExportFormat) -> bytes:
    """CSV (UTF-8 with BOM, so spreadsheet software shows Chinese) or XLSX (headings in Chinese first); no
    cell can run as a formula (supervision.platform.spreadsheets: an item name is typed by a department)."""
    if fmt == "csv":
        return csv_bytes(frame)
    return xlsx_bytes(frame, sheet="抽查名单", headings=EXPORT_HEADINGS)
