"""CSV exports stay plain text in every locale: no cell a spreadsheet could run."""

from __future__ import annotations

import csv
import io

import pytest

from core.exports import FORMULA_TRIGGERS, csv_cell, csv_document

HOSTILE = [
    '=HYPERLINK("http://evil")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "Ana,=1+1",
    "Ana;=1+1",
    "Ana\t=1+1",
    "Ana; +52 55",
    "Ana,\"=cmd|' /C calc'!A0\"",
    "Ana;@SUM(1)",
    "Ana,-5",
    "uno\n=2",
    "uno\r\n@dos",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_no_cell_can_start_a_formula_whatever_the_separator(value):
    line = csv_document([["Código", value, "fin"]]).rstrip("\r\n")
    for separator in (",", ";", "\t", "\n", "\r"):
        for piece in line.split(separator):
            text = piece.strip(' "')
            assert not text or text[0] not in FORMULA_TRIGGERS, (value, separator, piece)


@pytest.mark.parametrize(
    "value",
    ["Ana María", "García-López", "2026-12-01 10:00", "Dirección: Av. Juárez 10, Centro", "1.5", 42, None],
)
def test_ordinary_text_comes_back_unchanged(value):
    assert csv_cell(value) == ("" if value is None else str(value))
    rows = list(csv.reader(io.StringIO(csv_document([["a", value]]))))
    assert rows == [["a", "" if value is None else str(value)]]


def test_neutralised_cells_keep_their_text_after_the_quote_marks():
    assert csv_cell("=1+1") == "'=1+1"
    assert csv_cell("Ana;=1+1") == "Ana;'=1+1"
    assert csv_cell("Ana, -5") == "Ana,' -5"
    rows = list(csv.reader(io.StringIO(csv_document([["Ana;=1+1", "x,y"]]))))
    assert rows == [["Ana;'=1+1", "x,y"]]


def test_every_cell_is_quoted_so_other_separators_stay_inside_it():
    assert csv_document([["a;b", "c"]]) == '"a;b","c"\r\n'
