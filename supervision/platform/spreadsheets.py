"""Tables for spreadsheet software: a polars frame in, CSV or XLSX bytes out, with no cell that can run.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is taken for a formula by
spreadsheet software (CSV injection: ``=HYPERLINK(…)``, ``+cmd|' /C calc'!A0``, ``@SUM(…)``). As OWASP
advises, such text cells get a leading apostrophe, which the software shows as plain text; numbers and dates
stay typed. In XLSX every text cell is also written with the string type, so even a missed prefix could not
become a formula. Every export of the system (sampling lists, disclosure, commitments, catalogs) goes
through here.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import polars as pl

__all__ = ["FORMULA_STARTS", "csv_bytes", "neutralise", "neutralise_frame", "xlsx_bytes"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START = r"^[=+\-@\t\r]"


def neutralise(text: str) -> str:
    """`text` as a spreadsheet shows it literally: a leading apostrophe if it would start a formula."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def neutralise_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column (also inside lists, joined with "; ") with :func:`neutralise` applied."""
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.List) and dtype.inner == pl.String:
            column = column.list.join("; ")
        elif dtype != pl.String:
            continue
        columns.append(
            pl.when(column.str.contains(_FORMULA_START))
            .then(pl.lit("'") + column)
            .otherwise(column)
            .alias(name)
        )
    return frame.with_columns(columns) if columns else frame


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """CSV in UTF-8 with a BOM (so spreadsheet software shows Chinese), dates as YYYY-MM-DD."""
    text = neutralise_frame(frame).write_csv(line_terminator="\n", date_format="%Y-%m-%d")
    return ("\ufeff" + text).encode("utf-8")


def xlsx_bytes(frame: pl.DataFrame, *, sheet: str, headings: Mapping[str, str] | None = None) -> bytes:
    """One sheet named `sheet` with a frozen heading row (`headings` renames columns for people)."""
    import openpyxl  # imported here: only this path needs it
    from openpyxl.cell.cell import TYPE_STRING

    book = openpyxl.Workbook()
    page = book.active
    assert page is not None
    page.title = sheet
    page.append([(headings or {}).get(c, c) for c in frame.columns])
    for row in neutralise_frame(frame).iter_rows():
        page.append(list(row))
    for cells in page.iter_rows(min_row=1):
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = TYPE_STRING  # text, never a formula, whatever it starts with
    page.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
