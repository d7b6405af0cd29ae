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
