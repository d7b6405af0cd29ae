"""Helpers for files people download (CSV opened in spreadsheets)."""

from __future__ import annotations

from typing import Any


def csv_safe(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula: text starting like one gets a quote.

    Numbers pass through unchanged (a negative count is a number, not a formula).
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text_value = "" if value is None else str(value)
    if text_value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text_value
    return text_value
