"""CSV exports that spreadsheets cannot turn into formulas, whatever the locale."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = "=+-@\t\r"
"""A spreadsheet cell starting with one of these is read as a formula (OWASP, CSV injection)."""
FIELD_SEPARATORS = ",;\t\r\n"
"""Where a cell may start: the comma, the semicolon of locales with a decimal comma, the tab,
and a line break, for readers that split before looking at quotes."""

_CELL_START = re.compile(
    "(^|[" + re.escape(FIELD_SEPARATORS) + "])(?=[ \"']*[" + re.escape(FORMULA_TRIGGERS) + "])"
)


def csv_cell(value: Any) -> str:
    """`value` as text no spreadsheet runs: a `'` before every place a cell could start
    with a formula trigger (the start, and any separator followed by a trigger)."""
    text_value = "" if value is None else str(value)
    return _CELL_START.sub(r"\1'", text_value)


def csv_document(rows: Iterable[Iterable[Any]]) -> str:
    """Rows as CSV text: every cell neutralised by `csv_cell` and quoted, so a reader that
    honours quotes keeps each one whole whichever separator its locale uses."""
    output = io.StringIO()
    writer = csv.writer(output, quoting=csv.QUOTE_ALL)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return output.getvalue()


def csv_safe(value: Any) -> Any:
    """One cell for a `csv.writer`: numbers as they are (a negative count is a number, not a
    formula), anything else neutralised by `csv_cell`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return csv_cell(value)


def xlsx_document(rows: Iterable[Iterable[Any]], *, sheet_name: str = "Sheet1") -> bytes:
    """Rows as an .xlsx workbook: numbers as numbers, everything else as text neutralised by
    `csv_cell` and written as a string cell (never a formula, a link or a number), the first
    row bold and frozen."""
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        output,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    # Excel refuses sheet names over 31 characters or with []:*?/\ in them.
    sheet = workbook.add_worksheet(re.sub(r"[\[\]:*?/\\]", " ", sheet_name)[:31] or "Sheet1")
    bold = workbook.add_format({"bold": True})
    widths: dict[int, int] = {}
    for row_number, row in enumerate(rows):
        for column, value in enumerate(row):
            cell = csv_safe(value)
            if isinstance(cell, int | float):
                sheet.write_number(row_number, column, cell)
            else:
                sheet.write_string(row_number, column, cell, bold if row_number == 0 else None)
            widths[column] = max(widths.get(column, 8), min(len(str(cell)) + 2, 60))
    for column, width in widths.items():
        sheet.set_column(column, column, width)
    sheet.freeze_panes(1, 0)
    workbook.close()
    return output.getvalue()
