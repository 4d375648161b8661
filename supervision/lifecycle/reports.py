"""Credit report (信用报告) of one entity: HTML (Jinja2) and PDF (reportlab), a report number and a hash.

The content (registration, records by category with the lifecycle applied, lists, commitments, repairs,
objections; score, tier and reasons only for authorised readers) is put in a canonical JSON form whose
SHA-256 is the verification hash; the report number and hash are stored, so another system can check a
report it was handed (``verify``). Personal names are masked with the masker the caller passes.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Mapped, Session, mapped_column

from features.lifecycle import lifecycle_sources
from features.uscc import is_valid as uscc_is_valid
from supervision.lifecycle import commitments, lists, repairs
from supervision.lifecycle.workflow import instant
from supervision.platform.db import Base
from supervision.platform.errors import DomainError

__all__ = [
    "CreditReport",
    "IssuedReport",
    "ReportError",
    "Score",
    "build",
    "render_html",
    "render_pdf",
    "verify",
]


class ReportError(DomainError, ValueError):
    """A report that cannot be made (unknown entity, invalid code)."""


@dataclass(frozen=True, slots=True)
class Score:
    """What scoring says about the entity, shown to authorised readers only: the tier, the score, the
    reasons (the entity's conduct, then one baseline-of-similar-entities line) and ``as_of``, the date of the
    score used (printed as 评分日期 / scored as of, and part of the hash)."""

    tier: str
    score: float | None = None
    reasons: Sequence[str] = ()
    as_of: date | None = None


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class IssuedReport:
    report_no: str
    uscc: str
    as_of: str
    generated_at: str
    content_sha256: str
    registration: list[tuple[str, Any]]
    sections: list[Section]
    score: Score | None


class CreditReport(Base):
    """A report issued: its number, entity, date and verification hash."""

    __tablename__ = "credit_reports"

    report_no: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    as_of: Mapped[date] = mapped_column(sa.Date)
    generated_at: Mapped[datetime]
    issued_by: Mapped[str] = mapped_column(sa.String(200))
    authorised: Mapped[bool] = mapped_column(sa.Boolean)
    content_sha256: Mapped[str] = mapped_column(sa.String(64))


def _s(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


def _rows(frame: pl.DataFrame, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    return [tuple(_s(v) for v in row) for row in frame.select(columns).rows()]


def build(
    session: Session,
    sources: Mapping[str, pl.LazyFrame],
    *,
    uscc: str,
    on: date,
    issued_by: str,
    mask_name: Callable[[str], str],
    score: Score | None = None,
    now: datetime | None = None,
) -> IssuedReport:
    """Gather, hash and register one report; ``score`` (authorised readers only) is part of the hash.

    `now` is the generation time printed on it (the use case's clock; the system clock's when None)."""
    if not uscc_is_valid(uscc):
        raise ReportError(f"uscc {uscc!r}: not a valid unified social credit code (GB 32100)")
    entity = sources["entities"].filter(pl.col("uscc") == uscc).collect()
    if entity.is_empty():
        raise ReportError(f"uscc {uscc}: no such entity in the lake")
    e = entity.row(0, named=True)
    registration = [
        ("统一社会信用代码", uscc),
        ("名称", e["name"]),
        ("主体类型", e["entity_type"]),
        ("行业", e["industry"]),
        ("登记机关区划", e["division_code"]),
        ("成立日期", _s(e["established_on"])),
        ("登记状态", e["status"]),
    ]
    seen = lifecycle_sources(sources, as_of=on + timedelta(days=1))

    def mine(table: str, date_col: str) -> pl.DataFrame:
        return (
            seen[table]
            .filter((pl.col("uscc") == uscc) & (pl.col(date_col) <= on))
            .sort(date_col, descending=True)
            .collect()
        )

    pen = mine("penalties", "decided_on").with_columns(
        pl.col("legal_representative").map_elements(mask_name, return_dtype=pl.String)
    )
    sections = [
        Section(
            "二、行政处罚（已修复或撤销的不再显示）",
            ("决定书文号", "违法行为类型", "处罚类别", "罚款（元）", "决定日期", "处罚机关", "异议处理中"),
            _rows(
                pen,
                [
                    "decision_no",
                    "violation_type",
                    "penalty_kind",
                    "fine_amount",
                    "decided_on",
                    "authority",
                    "under_objection",
                ],
            ),
        ),
        Section(
            "三、行政许可",
            ("许可文号", "许可证件", "许可事项", "决定日期", "有效期至", "许可机关"),
            _rows(
                mine("licences", "decided_on"),
                ["licence_id", "licence_name", "matter", "decided_on", "valid_to", "authority"],
            ),
        ),
        Section(
            "四、名单信息",
            ("记录编号", "名单类型", "认定文书", "列入日期", "计划移出", "移出日期", "认定单位"),
            _rows(
                mine("list_entries", "listed_on"),
                [
                    "entry_id",
                    "list_type",
                    "basis_document_no",
                    "listed_on",
                    "planned_end",
                    "exited_on",
                    "authority",
                ],
            ),
        ),
        Section(
            "五、信用承诺",
            ("承诺编号", "承诺类型", "事项", "承诺日期", "履约状态"),
            _rows(
                mine("commitments", "made_on"),
                ["commitment_id", "commitment_type", "matter", "made_on", "fulfilment"],
            ),
        ),
    ]
    open_commitments = session.scalars(
        sa.select(commitments.Commitment)
        .where(commitments.Commitment.uscc == uscc, commitments.Commitment.made_on <= on)
        .order_by(commitments.Commitment.made_on, commitments.Commitment.commitment_id)
    )
    sections[-1].rows.extend(
        (c.commitment_id, c.commitment_type, c.title, _s(c.made_on), c.status)
        for c in open_commitments
        if c.status == "pending"
    )
    sections.append(
        Section(
            "六、信用修复",
            ("修复编号", "修复记录", "申请日期", "状态", "决定日期"),
            [
                (r.repair_id, f"{r.record_table}:{r.record_id}", _s(r.applied_on), r.status, _s(r.decided_on))
                for r in repairs.list_repairs(session, uscc=uscc)
                if r.applied_on <= on
            ],
        )
    )
    sections.append(
        Section(
            "七、失信惩戒名单程序",
            ("案件编号", "名单类型", "状态", "告知日期", "列入日期", "移出日期"),
            [
                (c.case_id, c.list_type, c.status, _s(c.proposed_on), _s(c.listed_on), _s(c.exited_on))
                for c in session.scalars(
                    sa.select(lists.ListCase)
                    .where(lists.ListCase.uscc == uscc)
                    .order_by(lists.ListCase.case_id)
                )
                if c.proposed_on <= on
            ],
        )
    )
    content = {
        "uscc": uscc,
        "as_of": on.isoformat(),
        "registration": registration,
        "sections": [{"title": s.title, "columns": s.columns, "rows": s.rows} for s in sections],
        "score": None
        if score is None
        else {
            "tier": score.tier,
            "score": score.score,
            "reasons": list(score.reasons),
            "score_as_of": _s(score.as_of),
        },
    }
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    now = instant(now)
    report_no = f"CR-{uscc}-{on:%Y%m%d}-{digest[:10].upper()}"
    if session.get(CreditReport, report_no) is None:
        session.add(
            CreditReport(
                report_no=report_no,
                uscc=uscc,
                as_of=on,
                generated_at=now,
                issued_by=issued_by,
                authorised=score is not None,
                content_sha256=digest,
            )
        )
        session.flush()
    return IssuedReport(
        report_no=report_no,
        uscc=uscc,
        as_of=on.isoformat(),
        generated_at=now.isoformat(timespec="seconds"),
        content_sha256=digest,
        registration=registration,
        sections=sections,
        score=score,
    )


def verify(session: Session, report_no: str, content_sha256: str) -> dict[str, Any]:
    """Whether a report with this number was issued with this hash."""
    row = session.get(CreditReport, report_no)
    if row is None:
        return {"report_no": report_no, "issued": False, "valid": False}
    return {
        "report_no": report_no,
        "issued": True,
        "valid": row.content_sha256 == content_sha256.lower(),
        "uscc": row.uscc,
        "as_of": row.as_of,
        "generated_at": row.generated_at,
    }


def render_html(report: IssuedReport) -> str:
    env = Environment(
        loader=PackageLoader("supervision.lifecycle", "templates"), autoescape=select_autoescape(["html"])
    )
    return env.get_template("credit_report.html").render(report=report)


_FONT = "STSong-Light"


def render_pdf(report: IssuedReport) -> bytes:
    """The report as PDF; Chinese through reportlab's built-in CID font (no font file, nothing downloaded)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))
    body = ParagraphStyle("body", fontName=_FONT, fontSize=8.5, leading=11, wordWrap="CJK")
    h1 = ParagraphStyle("h1", parent=body, fontSize=15, leading=20, spaceAfter=6)
    h2 = ParagraphStyle("h2", parent=body, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4)

    def table(rows: list[list[Any]], header: bool) -> Table:
        cells = [[Paragraph("—" if v is None else str(v), body) for v in row] for row in rows]
        t = Table(cells, repeatRows=1 if header else 0)
        style = [("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke))
        t.setStyle(TableStyle(style))
        return t

    story: list[Any] = [
        Paragraph("市场主体信用报告", h1),
        Paragraph(
            f"报告编号 {report.report_no}　信息截至 {report.as_of}　生成时间 {report.generated_at}<br/>"
            f"校验码（SHA-256）{report.content_sha256}",
            body,
        ),
        Paragraph("一、登记信息", h2),
        table([[k, v] for k, v in report.registration], header=False),
    ]
    for s in report.sections:
        story.append(Paragraph(s.title, h2))
        story.append(
            table([list(s.columns), *map(list, s.rows)], header=True) if s.rows else Paragraph("无", body)
        )
    if report.score is not None:
        story.append(Paragraph("信用风险评估（仅限授权用户）", h2))
        scored = "—" if report.score.as_of is None else report.score.as_of.isoformat()
        story.append(Paragraph(f"分类：{report.score.tier}　评分日期 / scored as of {scored}", body))
        story.extend(Paragraph(f"· {r}", body) for r in report.score.reasons)
    story.append(Spacer(1, 4 * mm))
    buf = io.BytesIO()
    # invariant=1: no creation date or random id in the file, so the same report gives the same bytes.
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=report.report_no,
        invariant=1,
    )
    doc.build(story)
    return buf.getvalue()
