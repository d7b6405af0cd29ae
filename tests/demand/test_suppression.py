"""Small-cell suppression: cells under 5 hidden, plus complementary cells, never recoverable."""

from __future__ import annotations

import itertools
import random

import pytest

from demand.suppression import recoverable, suppress


def test_nothing_small_nothing_hidden():
    table = suppress({"a": 12, "b": 5, "c": 0})
    assert table.cells == {"a": 12, "b": 5, "c": 0} and table.total == 17 and table.hidden == []


def test_a_small_cell_hides_the_next_smallest_as_its_complement():
    table = suppress({"academia": 3, "journalism": 7, "government": 20})
    assert table.cells == {"academia": None, "journalism": None, "government": 20}
    assert table.total == 30 and not recoverable(table)
    assert table.shown("academia") == "<5"


def test_two_small_cells_whose_sum_is_small_hide_a_third():
    # 1 + 2 = 3 < 5: the pair would be pinned within a tiny range; hide one more.
    table = suppress({"a": 1, "b": 2, "c": 9, "d": 30})
    assert table.hidden == ["a", "b", "c"] and table.total == 42 and not recoverable(table)


def test_zero_cells_are_shown_and_never_used_as_complements():
    table = suppress({"a": 2, "b": 0, "c": 40})
    assert table.cells["b"] == 0 and table.cells["a"] is None and table.cells["c"] is None


def test_a_lone_small_cell_with_nothing_to_hide_beside_it_hides_the_total():
    table = suppress({"a": 4, "b": 0})
    assert table.total is None and table.cells == {"a": None, "b": 0}


def test_a_small_total_hides_everything():
    table = suppress({"a": 1, "b": 2, "c": 0})
    assert table.total is None and table.cells == {"a": None, "b": None, "c": 0}


def test_bad_input():
    with pytest.raises(ValueError):
        suppress({"a": -1})
    with pytest.raises(ValueError):
        suppress({"a": 1}, threshold=0)


@pytest.mark.parametrize("seed", range(5))
def test_no_published_table_lets_a_hidden_cell_be_worked_out(seed):
    rng = random.Random(seed)
    for _ in range(400):
        counts = {f"k{i}": rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 15, 40]) for i in range(rng.randint(1, 6))}
        table = suppress(counts)
        assert not recoverable(table), (counts, table)
        shown = {k: v for k, v in table.cells.items() if v is not None}
        assert all(v == 0 or v >= 5 for v in shown.values()), (counts, table)
        assert all(counts[k] == v for k, v in shown.items())
        if table.total is not None:
            assert table.total == sum(counts.values())


def test_every_combination_of_three_small_cells():
    for values in itertools.product(range(0, 7), repeat=3):
        counts = dict(zip("abc", values, strict=True))
        table = suppress(counts)
        assert not recoverable(table), (counts, table)
