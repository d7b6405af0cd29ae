"""Small-cell suppression: small counts hidden, and nothing hidden can be worked out."""

from __future__ import annotations

import itertools
import random

import numpy as np

from surveys.suppression import SUPPRESSED, suppress_counts, suppress_table


def recoverable(table, result, *, row_totals=True, column_totals=True) -> list:
    """Hidden cells an attacker can compute exactly from visible cells and totals."""
    rows = list(table)
    columns = sorted({c for r in rows for c in table[r]})
    hidden = [(r, c) for r in rows for c in columns if isinstance(result.cells[r][c], str)]
    if not hidden:
        return []
    equations = []
    if row_totals:
        equations += [[(r, c) for c in columns] for r in rows]
    if column_totals:
        equations += [[(r, c) for r in rows] for c in columns]
    index = {cell: i for i, cell in enumerate(hidden)}
    matrix = []
    for cells in equations:
        vector = np.zeros(len(hidden))
        for cell in cells:
            if cell in index:
                vector[index[cell]] = 1
        if vector.any():
            matrix.append(vector)
    if not matrix:
        return []
    matrix = np.array(matrix)
    rank = np.linalg.matrix_rank(matrix)
    found = []
    for cell, i in index.items():
        unit = np.zeros(len(hidden))
        unit[i] = 1
        if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            found.append(cell)
    return found


def test_small_cells_read_under_threshold_and_others_stay():
    table = {"academia": {"a": 12, "b": 3, "c": 20}, "government": {"a": 30, "b": 9, "c": 14}}
    result = suppress_table(table)
    assert result.cells["academia"]["b"] == "<5"
    assert result.cells["government"]["a"] == 30 or result.cells["government"]["a"] == SUPPRESSED
    assert ("academia", "b") in result.primary
    # One hidden cell alone in its row would be the row total minus the others.
    hidden_in_row = [c for c, v in result.cells["academia"].items() if isinstance(v, str)]
    assert len(hidden_in_row) >= 2
    assert recoverable(table, result) == []


def test_complementary_cells_are_not_labelled_as_small():
    table = {"x": {"a": 2, "b": 40}, "y": {"a": 10, "b": 11}}
    result = suppress_table(table)
    assert result.cells["x"]["a"] == "<5"
    assert result.complementary
    for row, column in result.complementary:
        assert result.cells[row][column] == SUPPRESSED
        assert table[row][column] >= 5 or table[row][column] == 0
    assert recoverable(table, result) == []


def test_zero_is_not_suppressed_and_no_small_cell_means_nothing_hidden():
    table = {"x": {"a": 0, "b": 40}, "y": {"a": 10, "b": 11}}
    result = suppress_table(table)
    assert result.cells == {"x": {"a": 0, "b": 40}, "y": {"a": 10, "b": 11}}


def test_threshold_is_configurable():
    result = suppress_table({"x": {"a": 7, "b": 40}, "y": {"a": 10, "b": 11}}, threshold=10)
    assert result.cells["x"]["a"] == "<10"


def test_bridges_between_blocks_are_protected():
    """Degree-two rules are not enough (a hidden cell can be a bridge); the rank check is."""
    table = {
        "r1": {"a": 1, "b": 2, "c": 50, "d": 50},
        "r2": {"a": 3, "b": 4, "c": 50, "d": 50},
        "r3": {"a": 50, "b": 50, "c": 1, "d": 2},
        "r4": {"a": 50, "b": 50, "c": 3, "d": 4},
    }
    result = suppress_table(table)
    assert recoverable(table, result) == []


def test_random_tables_never_leak():
    rng = random.Random(7)
    for _ in range(150):
        rows, columns = rng.randint(1, 6), rng.randint(1, 6)
        table = {
            f"r{r}": {f"c{c}": rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 15, 40]) for c in range(columns)}
            for r in range(rows)
        }
        result = suppress_table(table)
        for r, c in itertools.product(table, table[next(iter(table))]):
            value = table[r][c]
            if 0 < value < 5:
                assert result.cells[r][c] == "<5"
            elif not isinstance(result.cells[r][c], str):
                assert result.cells[r][c] == value
        leaks = recoverable(table, result)
        # Only whole lines of small cells with nothing left to hide could leak; none here
        # because every primary cell has companions or the totals are themselves small.
        for r, c in leaks:
            row_hidden = all(isinstance(v, str) for v in result.cells[r].values())
            column_hidden = all(isinstance(result.cells[x][c], str) for x in table)
            assert row_hidden and column_hidden, (table, result.cells, leaks)


def test_hidden_row_totals_are_not_equations():
    table = {"small": {"a": 1, "b": 2}, "big": {"a": 20, "b": 30}}
    result = suppress_table(table, hidden_rows=["small"])
    assert result.cells["small"] == {"a": "<5", "b": "<5"}
    assert recoverable(table, result, row_totals=False) == []


def test_single_list_with_total():
    counts = suppress_counts({"academia": 3, "government": 12, "citizen": 40})
    assert counts["academia"] == "<5"
    assert counts["government"] == SUPPRESSED  # else 55 - 12 - 40 reveals academia
    assert counts["citizen"] == 40
