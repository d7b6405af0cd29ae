"""Running totals of each demand item's signals: per source, in all, and its supporters.

The signals are the record; the totals on `demand_item` are what lists sort on and what the
hourly report ranks by, so it never groups a million signals by item. Every change of a
signal moves its item's totals in the same transaction: the writer first locks the items it
will touch (`lock_items`, lowest id first, so two writers never wait on each other in a
circle), changes the signals, and then applies what it actually changed (`Changes.apply`:
``SET n = n + delta`` per item, from the rows its own INSERT, DELETE … RETURNING or locked
UPDATE touched). A merge recounts both items under their locks (`recount`).
`mismatches` compares the totals with a recount (the tests' proof).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm.util import identity_key

from core.extensions import db
from demand.models import DemandItem, DemandStatus, SignalSource

SOURCES = tuple(source.value for source in SignalSource)
SUPPORTER_SOURCES = (SignalSource.request.value, SignalSource.support.value)
TOTAL_ATTRIBUTES = ("supporters_count", "signals_total", *(f"signals_{source}" for source in SOURCES))

# The totals counted from the signals `s`, in the order of COLUMNS.
COLUMNS = ("signals_total", *(f"signals_{source}" for source in SOURCES), "supporters_count")
_COUNTED = ", ".join(
    (
        "COALESCE(SUM(s.weight), 0)",
        *(f"COALESCE(SUM(CASE WHEN s.source = '{source}' THEN s.weight END), 0)" for source in SOURCES),
        "COUNT(CASE WHEN s.source IN ('request', 'support') THEN 1 END)",
    )
)


def _atomic() -> bool:
    # Off only in the control runs of the concurrency tests: no lock, read-then-write, which
    # loses updates, so the tests show they can see a race.
    return current_app.config.get("DEMAND_ATOMIC_COUNTER", True)


def lock_items(item_ids: Iterable[int]) -> set[int]:
    """Take the row locks of the items whose signals are about to change, lowest id first; the
    ids of those merged into another (seen once the lock is held)."""
    ids = sorted(set(item_ids))
    if not ids:
        return set()
    query = select(DemandItem.id, DemandItem.status).where(DemandItem.id.in_(ids)).order_by(DemandItem.id)
    if _atomic():
        query = query.with_for_update(key_share=True)
    return {item_id for item_id, status in db.session.execute(query) if status == DemandStatus.merged}


def _expire(item_ids: Iterable[int]) -> None:
    """Items loaded in this session read their totals again on next access."""
    for item_id in item_ids:
        item = db.session.identity_map.get(identity_key(DemandItem, item_id))
        if item is not None:
            db.session.expire(item, TOTAL_ATTRIBUTES)


class Changes:
    """The signals one unit of work added and removed, applied to their items' totals at once."""

    def __init__(self) -> None:
        self._weights: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SOURCES, 0))
        self._supporters: dict[int, int] = defaultdict(int)

    def added(self, item_id: int, source: str, weight: int) -> None:
        self._weights[item_id][str(source)] += weight
        if str(source) in SUPPORTER_SOURCES:
            self._supporters[item_id] += 1

    def removed(self, item_id: int, source: str, weight: int) -> None:
        self._weights[item_id][str(source)] -= weight
        if str(source) in SUPPORTER_SOURCES:
            self._supporters[item_id] -= 1

    def reweighed(self, item_id: int, source: str, old: int, new: int) -> None:
        self._weights[item_id][str(source)] += new - old

    def apply(self) -> None:
        """``SET n = n + delta`` on each item touched (lowest id first), inside the transaction."""
        for item_id in sorted(self._weights):
            by_source = self._weights[item_id]
            supporters = self._supporters.get(item_id, 0)
            if not supporters and not any(by_source.values()):
                continue
            deltas = {f"signals_{source}": delta for source, delta in by_source.items() if delta}
            deltas["signals_total"] = sum(by_source.values())
            if supporters:
                deltas["supporters_count"] = supporters
            if _atomic():
                values = {name: getattr(DemandItem, name) + delta for name, delta in deltas.items()}
            else:
                now = db.session.execute(
                    select(*(getattr(DemandItem, name) for name in deltas)).where(DemandItem.id == item_id)
                ).one()
                values = {name: now[index] + delta for index, (name, delta) in enumerate(deltas.items())}
            db.session.execute(
                update(DemandItem)
                .where(DemandItem.id == item_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        _expire(self._weights)
        self._weights.clear()
        self._supporters.clear()


def recount(item_ids: Iterable[int]) -> None:
    """Set items' totals from their signals (the caller holds the items' row locks)."""
    ids = sorted(set(item_ids))
    if not ids:
        return
    recounted = f"SELECT {_COUNTED} FROM demand_signal s WHERE s.item_id = demand_item.id"
    db.session.execute(
        text(f"UPDATE demand_item SET ({', '.join(COLUMNS)}) = ({recounted}) WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        ),
        {"ids": ids},
    )
    _expire(ids)


def mismatches(item_ids: Iterable[int] | None = None) -> list[tuple]:
    """Items whose running totals differ from a recount of their signals: (id, kept, counted)."""
    kept = ", ".join(f"d.{name}" for name in COLUMNS)
    sql = f"SELECT d.id, {kept}, {_COUNTED} FROM demand_item d LEFT JOIN demand_signal s ON s.item_id = d.id"
    params = {}
    statement = text(f"{sql} GROUP BY d.id ORDER BY d.id")
    if item_ids is not None:
        params["ids"] = sorted(set(item_ids))
        statement = text(f"{sql} WHERE d.id IN :ids GROUP BY d.id ORDER BY d.id").bindparams(
            bindparam("ids", expanding=True)
        )
    found = []
    width = len(COLUMNS)
    for row in db.session.execute(statement, params):
        kept, counted = tuple(row[1 : 1 + width]), tuple(row[1 + width :])
        if kept != counted:
            found.append((row[0], kept, counted))
    return found


def totals_of(item: DemandItem) -> dict[str, int]:
    """An item's signals by source (weights summed), every source present."""
    return {source: int(getattr(item, f"signals_{source}")) for source in SOURCES}
