"""Small-cell suppression for published breakdowns (pure functions, no database).

A table of counts (rows = groups such as sectors, columns = options) is published with
its row totals and column totals. Cells under the threshold are hidden (primary
suppression, shown as "<5"); then more cells are hidden (complementary suppression, shown
as "suppressed") until no hidden cell can be worked out from the visible cells and the
published totals. "Worked out" is checked exactly: a hidden cell is recoverable when its
unit vector lies in the row space of the totals' equations restricted to hidden cells.
Zero cells are not primary (nobody to protect) but may serve as complements last.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

SUPPRESSED = "suppressed"


def under(threshold: int) -> str:
    """How a primary-suppressed count reads: "<5" for the default threshold."""
    return f"<{threshold}"


@dataclass
class SuppressedTable:
    """The published form of a table: each cell an int, "<5" or "suppressed"."""

    cells: dict[Hashable, dict[Hashable, int | str]]
    primary: set[tuple[Hashable, Hashable]] = field(default_factory=set)
    complementary: set[tuple[Hashable, Hashable]] = field(default_factory=set)


def _determined(hidden: list[tuple[int, int]], constraints: list[list[tuple[int, int]]]) -> list[int]:
    """Indexes (into `hidden`) of hidden cells the published equations pin down."""
    if not hidden:
        return []
    index = {cell: i for i, cell in enumerate(hidden)}
    rows = []
    for cells in constraints:
        vector = np.zeros(len(hidden))
        for cell in cells:
            if cell in index:
                vector[index[cell]] = 1.0
        if vector.any():
            rows.append(vector)
    if not rows:
        return []
    matrix = np.array(rows)
    rank = np.linalg.matrix_rank(matrix)
    found = []
    for i in range(len(hidden)):
        unit = np.zeros(len(hidden))
        unit[i] = 1.0
        if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            found.append(i)
    return found


def suppress_table(
    table: Mapping[Hashable, Mapping[Hashable, int]],
    threshold: int = 5,
    *,
    row_totals: bool = True,
    column_totals: bool = True,
    hidden_rows: Sequence[Hashable] = (),
) -> SuppressedTable:
    """Suppress `table[row][column]` counts: under `threshold` → "<threshold", plus
    complementary cells until none can be recovered from the published totals.
    `hidden_rows` are rows whose total is itself suppressed (no equation for them)."""
    row_keys = list(table)
    column_keys: list[Hashable] = []
    for row in row_keys:
        for column in table[row]:
            if column not in column_keys:
                column_keys.append(column)
    value: dict[tuple[int, int], int] = {}
    for r, row in enumerate(row_keys):
        for c, column in enumerate(column_keys):
            value[(r, c)] = int(table[row].get(column, 0))
    primary = {cell for cell, count in value.items() if 0 < count < threshold}
    hidden = set(primary)
    constraints: list[list[tuple[int, int]]] = []
    hidden_row_indexes = {row_keys.index(r) for r in hidden_rows if r in row_keys}
    if row_totals:
        for r in range(len(row_keys)):
            if r not in hidden_row_indexes:
                constraints.append([(r, c) for c in range(len(column_keys))])
    if column_totals:
        for c in range(len(column_keys)):
            constraints.append([(r, c) for r in range(len(row_keys))])
    while True:
        ordered = sorted(hidden)
        pinned = _determined(ordered, constraints)
        if not pinned:
            break
        options = [
            _best_complement(ordered[i], hidden, value, len(row_keys), len(column_keys)) for i in pinned
        ]
        options = [option for option in options if option is not None]
        if not options:
            break  # every line through a pinned cell is hidden already (its total is small too)
        hidden.add(min(options, key=lambda cell: (value[cell] == 0, value[cell], cell)))
    result: dict[Hashable, dict[Hashable, int | str]] = {}
    for r, row in enumerate(row_keys):
        result[row] = {}
        for c, column in enumerate(column_keys):
            cell = (r, c)
            if cell in primary:
                result[row][column] = under(threshold)
            elif cell in hidden:
                result[row][column] = SUPPRESSED
            else:
                result[row][column] = value[cell]
    return SuppressedTable(
        cells=result,
        primary={(row_keys[r], column_keys[c]) for r, c in primary},
        complementary={(row_keys[r], column_keys[c]) for r, c in hidden - primary},
    )


def _best_complement(
    cell: tuple[int, int], hidden: set[tuple[int, int]], value: dict, rows: int, columns: int
) -> tuple[int, int] | None:
    """The visible cell in the same row or column that hides the least information:
    the smallest positive count (zeros last), preferring a row or column with fewest hidden."""
    r, c = cell
    candidates = [(r, j) for j in range(columns) if (r, j) not in hidden]
    candidates += [(i, c) for i in range(rows) if (i, c) not in hidden]
    if not candidates:
        return None

    def cost(candidate: tuple[int, int]) -> tuple[int, int, tuple[int, int]]:
        count = value[candidate]
        return (1 if count == 0 else 0, count, candidate)

    return min(candidates, key=cost)


def suppress_counts(
    counts: Mapping[Hashable, int], threshold: int = 5, *, total_published: bool = True
) -> dict:
    """A single list of counts with its total published (e.g. respondents per sector)."""
    table = suppress_table({"all": dict(counts)}, threshold, row_totals=total_published, column_totals=False)
    return table.cells["all"]
