"""Credit report: content by category, score only when authorised, number + hash verifiable, HTML and PDF, < 2
s."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from features.lake import sources
from supervision.lifecycle import reports
from supervision.lifecycle.records import Lake
from supervision.platform.db import session_scope
from tests.supervision.lifecycle_lake import E, build_lake


def _mask(v: str) -> str:
    return v[0] + "*" * (len(v) - 1)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return build_lake(tmp_path)


def test_report_content_hash_and_verification(db_engine: sa.Engine, lake: Lake) -> None:
    on = date(2026, 11, 27)
    with session_scope(db_engine) as s:
        public = reports.build(s, sources(lake.dir), uscc=E[4], on=on, issued_by="t", mask_name=_mask)
        again = reports.build(s, sources(lake.dir), uscc=E[4], on=on, issued_by="t", mask_name=_mask)
        authorised = reports.build(
            s,
            sources(lake.dir),
            uscc=E[4],
            on=on,
            issued_by="t",
            mask_name=_mask,
            score=reports.Score(tier="D", score=0.91, reasons=["严重失信名单在列"]),
        )
        assert public.content_sha256 == again.content_sha256 and public.report_no == again.report_no
        assert authorised.content_sha256 != public.content_sha256
        assert reports.verify(s, public.report_no, public.content_sha256)["valid"] is True
        assert reports.verify(s, public.report_no, "0" * 64)["valid"] is False
        assert reports.verify(s, "CR-NOPE", public.content_sha256)["issued"] is False
    titles = {sec.title: sec for sec in public.sections}
    lists_section = next(sec for t, sec in titles.items() if t.startswith("四"))
    assert [row[0] for row in lists_section.rows] == ["L-SEV"]
    penalties = next(sec for t, sec in titles.items() if t.startswith("二"))
    assert [row[0] for row in penalties.rows] == ["P-SEV"]
    html = reports.render_html(public)
    assert public.report_no in html and "L-SEV" in html and "信用风险评估" not in html
    assert "信用风险评估" in reports.render_html(authorised) and "严重失信名单在列" in reports.render_html(
        authorised
    )
    assert "张三" not in html  # legal representative names never appear unmasked


def test_pdf_is_a_pdf_with_the_cjk_font(db_engine: sa.Engine, lake: Lake) -> None:
    # Speed is a benchmark's business (docs/benchmarks.md), not a test's.
    with session_scope(db_engine) as s:
        report = reports.build(
            s, sources(lake.dir), uscc=E[3], on=date(2026, 11, 27), issued_by="t", mask_name=_mask
        )
        pdf = reports.render_pdf(report)
        html = reports.render_html(report)
    assert pdf.startswith(b"%PDF-") and b"STSong-Light" in pdf and len(pdf) > 1000
    assert html.startswith("<!DOCTYPE html>") and report.report_no in html


def test_unknown_entity_is_refused(db_engine: sa.Engine, lake: Lake) -> None:
    from features.uscc import complete

    with session_scope(db_engine) as s, pytest.raises(reports.ReportError, match="no such entity"):
        reports.build(
            s,
            sources(lake.dir),
            uscc=complete("91320902MA9999999"),
            on=date(2026, 1, 1),
            issued_by="t",
            mask_name=_mask,
        )
