"""Small-cell suppression of published counts (pure functions, reused by surveys).

A breakdown is a set of cells that add up to a total. A cell with fewer than `threshold`
people (but more than none) is hidden: shown as "<5". If the hidden cells of a table
could be recovered from the total and the cells shown (a single hidden cell, or hidden
cells whose sum would be small enough to pin a person down), more cells are hidden, the
smallest first, until at least two are hidden and their combined count reaches the
threshold. If the total itself is under the threshold, everything is hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_THRESHOLD = 5


@dataclass(frozen=True)
class SuppressedTable:
    """Cells with None where hidden, the total (None when hidden) and the hidden keys."""

    cells: dict[str, int | None]
    total: int | None
    hidden: list[str] = field(default_factory=list)

    def shown(self, key: str, threshold: int = DEFAULT_THRESHOLD) -> str:
        """How a cell reads: its number, or "<5"."""
        value = self.cells[key]
        return f"<{threshold}" if value is None else str(value)

    def as_dict(self) -> dict:
        return {"cells": dict(self.cells), "total": self.total, "hidden": list(self.hidden)}


def suppress(counts: Mapping[str, int], threshold: int = DEFAULT_THRESHOLD) -> SuppressedTable:
    """Hide small cells of one breakdown and enough others that none can be worked out.

    Zero cells are shown (they reveal nobody) and never count as a complement, since
    hiding a zero next to a single small cell would still give that cell away.
    """
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    cells = {key: int(value) for key, value in counts.items()}
    if any(value < 0 for value in cells.values()):
        raise ValueError("counts cannot be negative")
    total = sum(cells.values())
    if 0 < total < threshold:
        hidden = [key for key, value in cells.items() if value > 0]
        return SuppressedTable({k: (None if k in hidden else v) for k, v in cells.items()}, None, hidden)
    hidden = [key for key, value in cells.items() if 0 < value < threshold]
    if hidden:
        # Complementary cells: smallest non-zero shown cells first (deterministic on ties).
        candidates = sorted(
            (key for key, value in cells.items() if value > 0 and key not in hidden),
            key=lambda k: (cells[k], k),
        )
        while candidates and (len(hidden) < 2 or sum(cells[k] for k in hidden) < threshold):
            hidden.append(candidates.pop(0))
    if hidden and len(hidden) < 2:
        # Nothing left to hide beside a lone small cell: the total would give it away.
        return SuppressedTable({k: (None if k in hidden else v) for k, v in cells.items()}, None, hidden)
    return SuppressedTable({k: (None if k in hidden else v) for k, v in cells.items()}, total, hidden)


def recoverable(table: SuppressedTable, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Whether a hidden cell could be worked out exactly from what the table shows.

    Used by the tests (and by anyone adding a breakdown) as the property to hold.
    """
    if not table.hidden:
        return False
    if table.total is None:
        return False
    hidden_sum = table.total - sum(v for v in table.cells.values() if v is not None)
    if len(table.hidden) == 1:
        return True
    # Every hidden cell is at least 1; with the sum known, a cell is pinned when the
    # others are forced to their minimum.
    return hidden_sum == len(table.hidden) or hidden_sum < threshold
