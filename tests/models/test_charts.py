"""Charts: PNG and SVG written, SVG byte-identical on a rerun, English labels without a Chinese font."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from models import charts


def test_waterfall_png_and_svg_deterministic(tmp_path: Path) -> None:
    contrib = {"penalties_n_365d": 0.8, "age_days": -0.3, "noise": 0.01}
    a = charts.waterfall(contrib, -2.0, tmp_path / "a", values={"penalties_n_365d": 2.0}, title="U1")
    b = charts.waterfall(contrib, -2.0, tmp_path / "b", values={"penalties_n_365d": 2.0}, title="U1")
    assert [p.suffix for p in a] == [".png", ".svg"]
    assert a[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert a[1].read_bytes() == b[1].read_bytes()
    assert "penalties_n_365d = 2" in a[1].read_text(encoding="utf-8")


def test_summary_reliability_and_tier_charts(tmp_path: Path) -> None:
    contrib = pl.DataFrame({"x": [0.1, -0.2], "y": [0.0, 0.3], "base_value": [-1.0, -1.0]})
    assert charts.summary(contrib, tmp_path / "s")[0].exists()
    rel = pl.DataFrame({"predicted": [0.1, 0.5], "observed": [0.12, 0.4], "weight": [10.0, 5.0]})
    assert charts.reliability_chart(rel, tmp_path / "r")[1].exists()
    tiers = pl.DataFrame(
        {
            "tier": ["A", "B", "C", "D"],
            "share": [0.4, 0.3, 0.2, 0.1],
            "predicted": [0.02, 0.1, 0.3, None],
            "observed": [0.03, 0.1, 0.25, None],
        }
    )
    assert charts.tier_chart(tiers, tmp_path / "t")[0].exists()


def test_language_follows_the_installed_fonts() -> None:
    assert charts.label_language("zh") == ("zh" if charts.chinese_font() else "en")
    assert charts.label_language("en") == "en"
