"""Requests, "me too" support, following, similar items and merges of demand items.

Each public function that changes something is one unit of work and commits. Supporters
are unique verified people: the partial unique index `uq_demand_signal_supporter` refuses a
second request or support signal of one person on one item, so parallel clicks of one
person count once; the item's running totals (`demand.totals`) move only with a signal that
was inserted (or deleted), under the item's row lock, taken before the signals change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from rapidfuzz import fuzz, process
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution, User
from demand import reminders, totals
from demand.models import (
    Dataset,
    DemandFollow,
    DemandHistory,
    DemandItem,
    DemandKind,
    DemandSignal,
    DemandStatus,
    IntendedUse,
    SignalSource,
)
from demand.services import WantedDataset, first_answer_due, locate_or_create_item, normalized_title

SUPPORTER_SOURCES = (SignalSource.request, SignalSource.support)
OPEN_STATUSES = (DemandStatus.received, DemandStatus.under_review, DemandStatus.scheduled)
SIMILAR_THRESHOLD = 70
SIMILAR_LIMIT = 5
TITLE_MAX = 300
DESCRIPTION_MAX = 5000
PAGE_SIZE = 20


def _invalid(message: Any, field: str) -> DomainError:
    return DomainError(message, field=field, status=422)


def user_ref(user: User | int) -> str:
    """The origin of one person's signal."""
    return f"user:{user if isinstance(user, int) else user.id}"


def get_item(item_id: int) -> DemandItem | None:
    """An item by id, with its institution, dataset and answer."""
    return db.session.execute(
        select(DemandItem)
        .where(DemandItem.id == item_id)
        .options(joinedload(DemandItem.institution), joinedload(DemandItem.dataset))
    ).scalar_one_or_none()


def _require_verified(user: User) -> None:
    if not user.is_verified:
        raise DomainError(
            _l("Confirma tu correo para pedir datos o apoyar solicitudes."), status=403, code="not_verified"
        )


def _clean_text(value: Any, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _invalid(_l("Escribe un texto."), field)
    value = value.strip()
    if required and not value:
        raise _invalid(_l("Este campo es obligatorio."), field)
    if len(value) > limit:
        raise _invalid(_l("Escribe como máximo %(n)s caracteres.", n=limit), field)
    return value or None


# --- similar items -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Similar:
    """An open item or a catalogue dataset whose title resembles a new request's."""

    kind: str  # "item" or "dataset"
    id: int
    title: str
    score: int
    supporters: int | None = None
    status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {"type": self.kind, "id": self.id, "title": self.title, "score": self.score}
        if self.kind == "item":
            data.update(supporters=self.supporters, status=self.status)
        return data


def similar_to(institution_id: int, title: str, *, exclude_item: int | None = None) -> list[Similar]:
    """Open items and catalogue titles of the institution that resemble `title` (rapidfuzz)."""
    key = normalized_title(title or "")
    if not key:
        return []
    items = db.session.execute(
        select(DemandItem.id, DemandItem.title, DemandItem.supporters_count, DemandItem.status).where(
            DemandItem.institution_id == institution_id, DemandItem.status.in_(OPEN_STATUSES)
        )
    ).all()
    datasets = db.session.execute(
        select(Dataset.id, Dataset.title).where(
            Dataset.institution_id == institution_id, Dataset.withdrawn_at.is_(None)
        )
    ).all()
    found: list[Similar] = []
    item_choices = {row.id: normalized_title(row.title) for row in items if row.id != exclude_item}
    by_id = {row.id: row for row in items}
    for _choice, score, item_id in process.extract(
        key, item_choices, scorer=fuzz.token_set_ratio, limit=SIMILAR_LIMIT, score_cutoff=SIMILAR_THRESHOLD
    ):
        row = by_id[item_id]
        found.append(Similar("item", row.id, row.title, int(score), row.supporters_count, str(row.status)))
    dataset_choices = {row.id: normalized_title(row.title) for row in datasets}
    titles = {row.id: row.title for row in datasets}
    for _choice, score, dataset_id in process.extract(
        key, dataset_choices, scorer=fuzz.token_set_ratio, limit=SIMILAR_LIMIT, score_cutoff=SIMILAR_THRESHOLD
    ):
        found.append(Similar("dataset", dataset_id, titles[dataset_id], int(score)))
    found.sort(key=lambda s: (-s.score, s.kind, s.id))
    return found[: SIMILAR_LIMIT * 2]


# --- requests, support, follow ------------------------------------------------------------------


def add_history(item: DemandItem, action: str, actor: User | None = None, **fields: Any) -> DemandHistory:
    """A public history entry of an item (inside the caller's transaction)."""
    entry = DemandHistory(item_id=item.id, action=action, actor_id=actor.id if actor else None, **fields)
    db.session.add(entry)
    return entry


def _insert_supporter(item: DemandItem, user: User, source: SignalSource, intended_use: str | None) -> bool:
    """Add a person's signal; False when they already support the item (constraint or not).

    The item's row is locked first, so the check, the insert and the totals move as one; the
    unique index still refuses a second signal of one person whatever happens.
    """
    if totals.lock_items([item.id]):
        raise DomainError(_l("Esta solicitud se unió a otra: apoya aquella."), code="merged")
    existing = db.session.execute(
        select(DemandSignal.id).where(
            DemandSignal.item_id == item.id,
            DemandSignal.user_id == user.id,
            DemandSignal.source.in_(SUPPORTER_SOURCES),
        )
    ).first()
    if existing is not None:
        return False
    signal = DemandSignal(
        item_id=item.id,
        institution_id=item.institution_id,
        source=source,
        ref=user_ref(user),
        weight=1,
        user_id=user.id,
        sector=str(user.sector) if user.sector else None,
        state=user.state,
        intended_use=intended_use,
    )
    try:
        with db.session.begin_nested():
            db.session.add(signal)
    except IntegrityError:
        # The same person at the same moment: the database kept one.
        return False
    changes = totals.Changes()
    changes.added(item.id, source, 1)
    changes.apply()
    return True


def file_request(
    user: User,
    institution: Institution,
    *,
    kind: Any,
    title: Any,
    description: Any = None,
    intended_use: Any,
    dataset_id: Any = None,
) -> tuple[DemandItem, bool]:
    """A verified person asks an institution for a dataset or about one; (item, created).

    A publish request for a dataset (or title) that already has an item joins it as the
    person's request signal; a question is always a new item (each is its own thread).
    """
    _require_verified(user)
    if kind not in {k.value for k in DemandKind}:
        raise _invalid(_l("Elige si pides publicar datos o haces una pregunta."), "kind")
    if intended_use not in {u.value for u in IntendedUse}:
        raise _invalid(_l("Elige para qué usarás los datos."), "intended_use")
    title = _clean_text(title, "title", TITLE_MAX, required=True)
    description = _clean_text(description, "description", DESCRIPTION_MAX)
    dataset = None
    if dataset_id not in (None, ""):
        try:
            dataset = db.session.get(Dataset, int(dataset_id))
        except (TypeError, ValueError):
            dataset = None
        if dataset is None or dataset.institution_id != institution.id:
            raise _invalid(_l("Ese conjunto de datos no está en el catálogo de la institución."), "dataset")
    if kind == DemandKind.question and dataset is None:
        raise _invalid(_l("Una pregunta es sobre un conjunto de datos del catálogo: elígelo."), "dataset")
    if kind == DemandKind.publish:
        item, created = locate_or_create_item(
            institution.id, WantedDataset(dataset_id=dataset.id if dataset else None, title=title)
        )
        if created:
            item.created_by_id = user.id
            if dataset is None:
                item.title = title
                item.description = description
            else:
                # The item is named after the catalogue dataset; what the person asked for
                # (more detail, another format, more often) is its description.
                item.description = "\n\n".join(part for part in (title, description) if part)
    else:
        item = DemandItem(
            institution_id=institution.id,
            dataset_id=dataset.id,
            kind=DemandKind.question,
            title=title,
            description=description,
            status=DemandStatus.received,
            due_on=first_answer_due(institution),
            created_by_id=user.id,
        )
        db.session.add(item)
        db.session.flush()
        add_history(item, "created", user, to_status=str(DemandStatus.received), due_on=item.due_on)
        reminders.sync_deadline(item)
        created = True
    if item.status == DemandStatus.merged:
        raise DomainError(_l("Esta solicitud se unió a otra."), code="merged")
    _insert_supporter(item, user, SignalSource.request, intended_use)
    _follow(item, user)
    if created:
        audit.record("demand.request", item, actor=user, details={"kind": str(item.kind)})
    db.session.commit()
    db.session.refresh(item)
    return item, created


def support(user: User, item: DemandItem) -> tuple[bool, int]:
    """Say "me too" (once per person); (newly added, supporters now)."""
    _require_verified(user)
    if item.status == DemandStatus.merged:
        raise DomainError(_l("Esta solicitud se unió a otra: apoya aquella."), code="merged")
    added = _insert_supporter(item, user, SignalSource.support, None)
    if added:
        _follow(item, user)
    db.session.commit()
    return added, supporters_of(item.id)


def withdraw_support(user: User, item: DemandItem) -> tuple[bool, int]:
    """Take back one's support (or one's request signal); (removed, supporters now)."""
    totals.lock_items([item.id])
    changes = totals.Changes()
    removed = db.session.execute(
        delete(DemandSignal)
        .where(
            DemandSignal.item_id == item.id,
            DemandSignal.user_id == user.id,
            DemandSignal.source.in_(SUPPORTER_SOURCES),
        )
        .returning(DemandSignal.item_id, DemandSignal.source, DemandSignal.weight)
    ).all()
    for item_id, source, weight in removed:
        changes.removed(item_id, source, weight)
    changes.apply()
    db.session.commit()
    return bool(removed), supporters_of(item.id)


def supporters_of(item_id: int) -> int:
    """The item's unique supporters (fresh from the database)."""
    return db.session.execute(
        select(DemandItem.supporters_count).where(DemandItem.id == item_id)
    ).scalar_one()


def supports(user: Any, item: DemandItem) -> bool:
    """Whether a person supports (or asked for) an item."""
    if not getattr(user, "is_authenticated", False):
        return False
    return (
        db.session.execute(
            select(DemandSignal.id).where(
                DemandSignal.item_id == item.id,
                DemandSignal.user_id == user.id,
                DemandSignal.source.in_(SUPPORTER_SOURCES),
            )
        ).first()
        is not None
    )


def _follow(item: DemandItem, user: User) -> bool:
    if is_following(user, item):
        return False
    try:
        with db.session.begin_nested():
            db.session.add(DemandFollow(item_id=item.id, user_id=user.id))
    except IntegrityError:
        return False
    return True


def follow(user: User, item: DemandItem) -> bool:
    """Follow an item's answer; False when already following."""
    added = _follow(item, user)
    db.session.commit()
    return added


def unfollow(user: User, item: DemandItem) -> bool:
    """Stop following an item."""
    removed = db.session.execute(
        delete(DemandFollow).where(DemandFollow.item_id == item.id, DemandFollow.user_id == user.id)
    ).rowcount
    db.session.commit()
    return bool(removed)


def is_following(user: Any, item: DemandItem) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return (
        db.session.execute(
            select(DemandFollow.id).where(DemandFollow.item_id == item.id, DemandFollow.user_id == user.id)
        ).first()
        is not None
    )


def audience(item_id: int) -> list[User]:
    """Everyone told of an item's answer: its supporters and followers, each once."""
    supporter_ids = select(DemandSignal.user_id).where(
        DemandSignal.item_id == item_id, DemandSignal.user_id.is_not(None)
    )
    follower_ids = select(DemandFollow.user_id).where(DemandFollow.item_id == item_id)
    return list(
        db.session.execute(
            select(User)
            .where(User.id.in_(supporter_ids.union(follower_ids)), User.deleted_at.is_(None))
            .order_by(User.id)
        ).scalars()
    )


# --- merge ----------------------------------------------------------------------------------------


def merge(actor: User, item: DemandItem, into: DemandItem) -> DemandItem:
    """Merge a duplicate into another item of the same institution.

    Signals and followers move (a person or origin present on both counts once); both
    histories stay, each naming the other; supporters and followers are told.
    """
    from demand import answers

    if item.id == into.id:
        raise _invalid(_l("Elige otra solicitud para unirla."), "into")
    if item.institution_id != into.institution_id:
        raise _invalid(_l("Solo se unen solicitudes de la misma institución."), "into")
    # Lock both rows, lowest id first, so two merges never wait on each other in a circle.
    locked = {
        row.id: row
        for row in db.session.execute(
            select(DemandItem)
            .where(DemandItem.id.in_([item.id, into.id]))
            .order_by(DemandItem.id)
            .with_for_update(of=DemandItem)
        ).scalars()
    }
    item, into = locked[item.id], locked[into.id]
    if DemandStatus.merged in (item.status, into.status):
        raise DomainError(_l("Una de las solicitudes ya se unió a otra."), code="illegal_transition")
    told = {user.id: user for user in audience(item.id)}
    target_signals = db.session.execute(select(DemandSignal).where(DemandSignal.item_id == into.id)).scalars()
    taken_refs = set()
    taken_people = set()
    for signal in target_signals:
        taken_refs.add((str(signal.source), signal.ref))
        if signal.source in SUPPORTER_SOURCES and signal.user_id:
            taken_people.add(signal.user_id)
    for signal in db.session.execute(select(DemandSignal).where(DemandSignal.item_id == item.id)).scalars():
        duplicate = (str(signal.source), signal.ref) in taken_refs or (
            signal.source in SUPPORTER_SOURCES and signal.user_id in taken_people
        )
        if duplicate:
            db.session.delete(signal)
        else:
            signal.item_id = into.id
            signal.institution_id = into.institution_id
            taken_refs.add((str(signal.source), signal.ref))
            if signal.source in SUPPORTER_SOURCES and signal.user_id:
                taken_people.add(signal.user_id)
    followers = set(
        db.session.execute(select(DemandFollow.user_id).where(DemandFollow.item_id == into.id)).scalars()
    )
    for follow_row in db.session.execute(
        select(DemandFollow).where(DemandFollow.item_id == item.id)
    ).scalars():
        if follow_row.user_id in followers:
            db.session.delete(follow_row)
        else:
            follow_row.item_id = into.id
            followers.add(follow_row.user_id)
    db.session.flush()
    from_status = str(item.status)
    item.status = DemandStatus.merged
    item.merged_into_id = into.id
    db.session.flush()
    # Both rows are locked: their totals are recounted from the signals as they now stand.
    totals.recount([item.id, into.id])
    add_history(
        item, "merged_into", actor, from_status=from_status, to_status="merged", other_item_id=into.id
    )
    entry = add_history(into, "merged_from", actor, other_item_id=item.id)
    reminders.cancel_deadline(item)
    audit.record("demand.merge", item, actor=actor, details={"into": into.id})
    db.session.flush()
    answers.tell_audience(into, entry, extra=told.values())
    db.session.commit()
    return into


# --- lists and payloads -----------------------------------------------------------------------------


# A list counted for the API stops counting this many pages past the one asked for (as the
# events list does): beyond, its total is a lower bound instead of a count of every match.
COUNTED_PAGES_AHEAD = 10


@dataclass
class ItemPage:
    items: list[DemandItem]
    page: int
    per_page: int
    has_more: bool
    # Only when counted (`count=True`): the matches, exact up to COUNTED_PAGES_AHEAD pages
    # past this one; when `total_exact` is False, `total` is a lower bound (at least that many).
    total: int | None = None
    total_exact: bool = True


def list_items(
    *,
    institution_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    sort: str = "supporters",
    page: int = 1,
    per_page: int = PAGE_SIZE,
    dataset_id: int | None = None,
    count: bool = False,
) -> ItemPage:
    """Items with filters, most supported (or most recent) first; merged ones only on request.

    No full count (a count over a million rows costs more than the page): `has_more` says
    whether another page follows; with `count`, the total is counted at most
    COUNTED_PAGES_AHEAD pages past `page` (one LIMITed statement), as the API's header says.
    """
    conditions = []
    if institution_id is not None:
        conditions.append(DemandItem.institution_id == institution_id)
    if dataset_id is not None:
        conditions.append(DemandItem.dataset_id == dataset_id)
    if status:
        conditions.append(DemandItem.status == status)
    else:
        conditions.append(DemandItem.status != DemandStatus.merged)
    if kind:
        conditions.append(DemandItem.kind == kind)
    query = select(DemandItem).options(joinedload(DemandItem.institution)).where(*conditions)
    if sort == "recent":
        query = query.order_by(DemandItem.id.desc())
    else:
        query = query.order_by(DemandItem.supporters_count.desc(), DemandItem.id.desc())
    rows = list(
        db.session.execute(query.offset((page - 1) * per_page).limit(per_page + 1)).scalars().unique()
    )
    result = ItemPage(rows[:per_page], page, per_page, len(rows) > per_page)
    if count:
        cap = (page + COUNTED_PAGES_AHEAD - 1) * per_page
        counted = db.session.execute(
            select(func.count()).select_from(
                select(DemandItem.id).where(*conditions).limit(cap + 1).subquery()
            )
        ).scalar_one()
        result.total, result.total_exact = counted, counted <= cap  # else cap + 1: at least that many
    return result


def signal_counts(item_ids: list[int]) -> dict[int, dict[str, int]]:
    """Signals per source (weights summed) of each item, every source present (its totals)."""
    counts = {item_id: dict.fromkeys(totals.SOURCES, 0) for item_id in item_ids}
    if not item_ids:
        return counts
    columns = [getattr(DemandItem, f"signals_{source}") for source in totals.SOURCES]
    for row in db.session.execute(select(DemandItem.id, *columns).where(DemandItem.id.in_(item_ids))):
        counts[row[0]] = dict(zip(totals.SOURCES, (int(value) for value in row[1:]), strict=True))
    return counts


def history_of(item: DemandItem) -> list[DemandHistory]:
    """An item's public history, oldest first."""
    return list(
        db.session.execute(
            select(DemandHistory)
            .where(DemandHistory.item_id == item.id)
            .options(joinedload(DemandHistory.actor))
            .order_by(DemandHistory.created_at, DemandHistory.id)
        ).scalars()
    )


def items_requested_by(user: User) -> list[DemandItem]:
    """Items a person asked for, supports or follows (their "my requests" page)."""
    supported = select(DemandSignal.item_id).where(DemandSignal.user_id == user.id)
    followed = select(DemandFollow.item_id).where(DemandFollow.user_id == user.id)
    return list(
        db.session.execute(
            select(DemandItem)
            .where(DemandItem.id.in_(supported.union(followed)))
            .options(joinedload(DemandItem.institution))
            .order_by(DemandItem.id.desc())
        )
        .scalars()
        .unique()
    )
