"""Demand workflows. Other domains feed demand only through the public functions here.

`replace_signals` is the door for events (datasets requested at a table) and surveys
(`dataset_demand` answers): each origin says, as a whole, which datasets it wants, and the
signals are added, kept, moved or withdrawn to match, their items' running totals with them
(`demand.totals`). It never commits: it joins the caller's unit of work. A unit of work that
feeds many origins (a survey's sync) passes them together to `replace_many_signals`, which
locks all their items at once, lowest id first: item locks are always taken in that one
order, so two writers never wait on each other in a circle.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select

from core.extensions import db
from core.models import Institution
from core.timeutil import to_zone, utcnow
from demand import totals
from demand.deadlines import add_working_days
from demand.models import Dataset, DemandItem, DemandKind, DemandSignal, DemandStatus, SignalSource


@dataclass(frozen=True)
class WantedDataset:
    """A dataset someone wants: a catalogue dataset by id, or one named by title (and URL)."""

    dataset_id: int | None = None
    title: str | None = None
    description: str | None = None
    url: str | None = None


def normalized_title(title: str) -> str:
    """Casefolded, accent-free, single-spaced: how two names of one dataset are compared."""
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.split())


def first_answer_due(institution: Institution):
    """The date the first official answer to a request received now is due."""
    today = to_zone(utcnow(), institution.timezone).date()
    return add_working_days(today, institution.answer_days)


def _live_item(item: DemandItem) -> DemandItem:
    """Follow merges to the item that now carries the demand."""
    seen = set()
    while item.status == DemandStatus.merged and item.merged_into_id and item.id not in seen:
        seen.add(item.id)
        item = db.session.get(DemandItem, item.merged_into_id)
    return item


def _catalogue_dataset(institution_id: int, wanted: WantedDataset) -> Dataset | None:
    if wanted.dataset_id is not None:
        dataset = db.session.get(Dataset, wanted.dataset_id)
        return dataset if dataset is not None and dataset.institution_id == institution_id else None
    query = select(Dataset).where(Dataset.institution_id == institution_id)
    if wanted.url:
        found = db.session.execute(query.where(Dataset.url == wanted.url).limit(1)).scalar_one_or_none()
        if found is not None:
            return found
    if wanted.title:
        key = normalized_title(wanted.title)
        for dataset in db.session.execute(query.where(Dataset.withdrawn_at.is_(None))).scalars():
            if normalized_title(dataset.title) == key:
                return dataset
    return None


def _find_item(institution_id: int, dataset: Dataset | None, title: str | None) -> DemandItem | None:
    query = (
        select(DemandItem)
        .where(DemandItem.institution_id == institution_id, DemandItem.kind == DemandKind.publish)
        .order_by(DemandItem.id)
    )
    if dataset is not None:
        for item in db.session.execute(query.where(DemandItem.dataset_id == dataset.id)).scalars():
            return _live_item(item)
        return None
    key = normalized_title(title or "")
    for item in db.session.execute(query.where(DemandItem.dataset_id.is_(None))).scalars():
        if normalized_title(item.title) == key:
            return _live_item(item)
    return None


def find_or_create_item(institution_id: int, wanted: WantedDataset) -> DemandItem:
    """The demand item for a wanted dataset, created (kind publish, received) if there is none."""
    return locate_or_create_item(institution_id, wanted)[0]


def locate_or_create_item(institution_id: int, wanted: WantedDataset) -> tuple[DemandItem, bool]:
    """Like `find_or_create_item`, also saying whether the item was created now.

    A new item gets its first public history entry and its deadline reminders.
    """
    from demand.models import DemandHistory
    from demand.reminders import sync_deadline

    dataset = _catalogue_dataset(institution_id, wanted)
    if dataset is None and not (wanted.title or "").strip():
        raise ValueError("a wanted dataset needs a catalogue dataset or a title")
    item = _find_item(institution_id, dataset, wanted.title)
    if item is not None:
        return item, False
    # Creating items is serialised per institution so two origins naming the same new
    # dataset at once end with one item, not two.
    institution = db.session.execute(
        select(Institution).where(Institution.id == institution_id).with_for_update()
    ).scalar_one()
    item = _find_item(institution_id, dataset, wanted.title)
    if item is not None:
        return item, False
    item = DemandItem(
        institution_id=institution_id,
        dataset_id=dataset.id if dataset else None,
        kind=DemandKind.publish,
        title=(dataset.title if dataset else wanted.title.strip())[:300],
        description=(dataset.description if dataset else wanted.description) or None,
        status=DemandStatus.received,
        due_on=first_answer_due(institution),
        created_at=utcnow(),
    )
    db.session.add(item)
    db.session.flush()
    db.session.add(
        DemandHistory(
            item_id=item.id, action="created", to_status=str(DemandStatus.received), due_on=item.due_on
        )
    )
    sync_deadline(item)
    return item, True


@dataclass(frozen=True)
class OriginSignals:
    """What one origin (`source`, `ref`) now says: the datasets it wants and how its signals read."""

    source: SignalSource
    ref: str
    wanted: tuple[WantedDataset, ...] = ()
    weight: int = 1
    user_id: int | None = None
    sector: str | None = None
    state: str | None = None
    intended_use: str | None = None


# Refs per query when reading what many origins said (bound parameters stay well under limits).
_REFS_PER_QUERY = 500


def _items_said_by(origins: list[OriginSignals]) -> set[int]:
    """The items the origins' signals are on now."""
    refs_by_source: dict[SignalSource, list[str]] = {}
    for origin in origins:
        refs_by_source.setdefault(origin.source, []).append(origin.ref)
    found: set[int] = set()
    for source, refs in refs_by_source.items():
        for start in range(0, len(refs), _REFS_PER_QUERY):
            chunk = refs[start : start + _REFS_PER_QUERY]
            found.update(
                db.session.execute(
                    select(DemandSignal.item_id).where(
                        DemandSignal.source == source, DemandSignal.ref.in_(chunk)
                    )
                ).scalars()
            )
    return found


def _lock_for_origins(item_ids: list[list[int]], origins: list[OriginSignals]) -> list[list[int]]:
    """Lock, in one statement and lowest id first, every item whose totals the origins' new
    signals may move, before any signal changes: the items each will want and those each said
    before. One global order for the whole unit of work: a caller that locked item by item,
    origin after origin, could hold a high id while waiting for a low one another holds.

    A merge that committed meanwhile moved the demand on: the locks are given back (a
    savepoint) and taken again on the items it went to, still in order, so a merged item never
    receives signals."""
    for _attempt in range(10):
        said_before = _items_said_by(origins)
        wanted = {item_id for ids in item_ids for item_id in ids}
        savepoint = db.session.begin_nested()
        merged = totals.lock_items(wanted | said_before)
        moved = _items_said_by(origins) - said_before
        if not merged and moved <= wanted:
            savepoint.commit()
            return item_ids
        savepoint.rollback()
        if merged:
            into = dict(
                db.session.execute(
                    select(DemandItem.id, DemandItem.merged_into_id).where(DemandItem.id.in_(merged))
                ).all()
            )
            item_ids = [
                list(dict.fromkeys(into.get(item_id) or item_id for item_id in ids)) for ids in item_ids
            ]
    totals.lock_items({item_id for ids in item_ids for item_id in ids} | _items_said_by(origins))
    return item_ids


def _write_origin(
    institution_id: int, origin: OriginSignals, item_ids: list[int], changes: totals.Changes
) -> None:
    """Make one origin's signals match `item_ids` (their items already locked)."""
    said = (DemandSignal.source == origin.source, DemandSignal.ref == origin.ref)
    stale = delete(DemandSignal).where(*said)
    if item_ids:
        stale = stale.where(DemandSignal.item_id.not_in(item_ids))
    for item_id, old_source, old_weight in db.session.execute(
        stale.returning(DemandSignal.item_id, DemandSignal.source, DemandSignal.weight)
    ).all():
        changes.removed(item_id, old_source, old_weight)
    # The rows as they stand now, locked, so a changed weight moves the totals by what it was.
    existing = {
        signal.item_id: signal
        for signal in db.session.execute(
            select(DemandSignal).where(*said).with_for_update().execution_options(populate_existing=True)
        ).scalars()
    }
    for item_id in item_ids:
        signal = existing.get(item_id)
        if signal is None:
            signal = DemandSignal(
                item_id=item_id, institution_id=institution_id, source=origin.source, ref=origin.ref
            )
            db.session.add(signal)
            changes.added(item_id, origin.source, origin.weight)
        elif signal.weight != origin.weight:
            changes.reweighed(item_id, origin.source, signal.weight, origin.weight)
        signal.weight = origin.weight
        signal.user_id = origin.user_id
        signal.sector = origin.sector
        signal.state = origin.state
        signal.intended_use = origin.intended_use
    db.session.flush()


def replace_many_signals(institution_id: int, origins: Iterable[OriginSignals]) -> list[list[int]]:
    """Make the signals of each origin say exactly what it wants, in one unit of work; the item
    ids per origin. A caller feeding many origins at once (a survey's answer sets) comes here,
    not to `replace_signals` once per origin, so its items are locked in one global order.

    Does not commit.
    """
    origins = list(origins)
    # Finding or creating the items comes first: creating one takes the institution's row
    # lock, which must never be waited for while item locks are held.
    item_ids: list[list[int]] = []
    for origin in origins:
        ids: list[int] = []
        for entry in origin.wanted:
            item = find_or_create_item(institution_id, entry)
            if item.id not in ids:
                ids.append(item.id)
        item_ids.append(ids)
    item_ids = _lock_for_origins(item_ids, origins)
    changes = totals.Changes()
    for origin, ids in zip(origins, item_ids, strict=True):
        _write_origin(institution_id, origin, ids, changes)
    changes.apply()
    return item_ids


def replace_signals(
    institution_id: int,
    source: SignalSource,
    ref: str,
    wanted: Iterable[WantedDataset],
    *,
    weight: int = 1,
    user_id: int | None = None,
    sector: str | None = None,
    state: str | None = None,
    intended_use: str | None = None,
) -> list[int]:
    """Make the signals of one origin (`source`, `ref`) say exactly `wanted`; the item ids.

    An empty `wanted` withdraws everything the origin said. Does not commit. Many origins in
    one unit of work go through `replace_many_signals` instead.
    """
    origin = OriginSignals(
        source=source,
        ref=ref,
        wanted=tuple(wanted),
        weight=weight,
        user_id=user_id,
        sector=sector,
        state=state,
        intended_use=intended_use,
    )
    return replace_many_signals(institution_id, [origin])[0]


# --- where a catalogue dataset was used (events and stories tell, through a provider) ----------------

DatasetUsageProvider = Callable[[str | None, str], list[dict]]
_USAGE_PROVIDERS: dict[str, DatasetUsageProvider] = {}


def register_dataset_usage(name: str, provider: DatasetUsageProvider) -> None:
    """Let an upper floor say where a dataset (by URL and title) was used.

    A provider returns `[{"kind": "event"|"story", "title", "url"}]`; the app wires the
    events domain in at start-up, so demand never imports it.
    """
    _USAGE_PROVIDERS[name] = provider


def dataset_usage(dataset: Dataset) -> list[dict]:
    """The events and stories that used a dataset, matched by its URL or its title."""
    found: list[dict] = []
    for provider in _USAGE_PROVIDERS.values():
        found.extend(provider(dataset.url, dataset.title))
    return found
