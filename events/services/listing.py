"""Lists: the events list with its filters and pages, a person's registrations, stories, the
institutions of the filter, and the month calendar."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from core.choices import InstitutionRole
from core.extensions import db
from core.models import Institution, User
from core.timeutil import to_zone, utcnow
from events import search
from events.models import (
    ConsentStatus,
    Event,
    EventCohost,
    EventFormat,
    EventKind,
    Registration,
    RegistrationStatus,
    SuccessStory,
    public_event_condition,
)
from events.services.common import MAX_EVENT_LENGTH, PAGE_SIZE, SeatCounts, counts_for, public_events


def institution_events_condition(institution_ids: Any) -> Any:
    """Events the institutions (ids, or a select of ids) host, or co-host once they accepted:
    a pending or declined co-host does not count as the institution's event anywhere."""
    return or_(
        Event.institution_id.in_(institution_ids),
        Event.id.in_(
            select(EventCohost.event_id).where(
                EventCohost.institution_id.in_(institution_ids), EventCohost.status == ConsentStatus.accepted
            )
        ),
    )


@dataclass
class EventFilters:
    kind: str | None = None
    institution: str | None = None
    state: str | None = None
    format: str | None = None
    when: str | None = None  # upcoming | past
    q: str | None = None  # words, accent-insensitive
    page: int = 1
    per_page: int = PAGE_SIZE


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int
    counts: dict[int, SeatCounts] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def _paginate(query, count_query, page: int, per_page: int) -> tuple[list[Any], int, int]:
    total = db.session.execute(count_query).scalar_one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    items = list(db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).unique().scalars())
    return items, total, page


def list_events(filters: EventFilters, *, manager: User | None = None) -> Page:
    """Public events (or, for `manager`, those of the institutions they manage, drafts too)."""
    conditions = []
    if manager is None:
        conditions.append(public_event_condition())
    elif not manager.is_admin:
        institution_ids = [
            m.institution_id
            for m in manager.memberships
            if m.role in (InstitutionRole.liaison, InstitutionRole.staff)
        ]
        conditions.append(Event.institution_id.in_(institution_ids or [-1]))
    if filters.kind in EventKind.__members__:
        conditions.append(Event.kind == filters.kind)
    if filters.format in EventFormat.__members__:
        conditions.append(Event.format == filters.format)
    if filters.state:
        conditions.append(Event.state == filters.state)
    if filters.q and (matching := search.matches(filters.q)) is not None:
        conditions.append(matching)
    if filters.institution:
        slug_ids = select(Institution.id).where(Institution.slug == filters.institution)
        conditions.append(institution_events_condition(slug_ids))
    now = utcnow()
    order = [Event.starts_at.asc(), Event.id.asc()]
    if filters.when == "upcoming":
        # The redundant bound on starts_at (no event lasts over 31 days) lets the
        # (starts_at, id) index serve the query instead of sorting every event.
        conditions.extend([Event.ends_at >= now, Event.starts_at >= now - MAX_EVENT_LENGTH])
    elif filters.when == "past":
        conditions.append(Event.ends_at < now)
        order = [Event.starts_at.desc(), Event.id.desc()]
    elif manager is not None:
        order = [Event.starts_at.desc(), Event.id.desc()]
    query = select(Event).options(joinedload(Event.institution)).where(*conditions).order_by(*order)
    count_query = select(func.count()).select_from(Event).where(*conditions)
    per_page = min(max(1, filters.per_page), 100)
    items, total, page = _paginate(query, count_query, filters.page, per_page)
    return Page(
        items=items, total=total, page=page, per_page=per_page, counts=counts_for(e.id for e in items)
    )


def my_registrations(user: User) -> list[Registration]:
    """A person's registrations (newest events first), cancelled ones last."""
    return list(
        db.session.execute(
            select(Registration)
            .join(Registration.event)
            .options(joinedload(Registration.event).joinedload(Event.institution))
            .where(Registration.user_id == user.id)
            .order_by(
                (Registration.status == RegistrationStatus.cancelled).asc(),
                Event.starts_at.desc(),
                Registration.id.desc(),
            )
        ).scalars()
    )


def list_stories(page: int = 1, per_page: int = PAGE_SIZE, institution_id: int | None = None) -> Page:
    """Published success stories of public events, newest first."""
    conditions = [
        SuccessStory.published_at.is_not(None),
        SuccessStory.event_id.in_(public_events().with_only_columns(Event.id)),
    ]
    if institution_id is not None:
        conditions.append(SuccessStory.institution_id == institution_id)
    query = (
        select(SuccessStory)
        .options(joinedload(SuccessStory.institution), joinedload(SuccessStory.event))
        .where(*conditions)
        .order_by(SuccessStory.published_at.desc(), SuccessStory.id.desc())
    )
    count_query = select(func.count()).select_from(SuccessStory).where(*conditions)
    items, total, page = _paginate(query, count_query, page, per_page)
    return Page(items=items, total=total, page=page, per_page=per_page)


def institutions_for_filters() -> list[Institution]:
    """Institutions that host or co-host (accepted) public events (for the list's filter)."""
    public_ids = public_events().with_only_columns(Event.id)
    cohosting = select(EventCohost.institution_id).where(
        EventCohost.status == ConsentStatus.accepted, EventCohost.event_id.in_(public_ids)
    )
    return list(
        db.session.execute(
            select(Institution)
            .where(
                or_(
                    Institution.id.in_(public_events().with_only_columns(Event.institution_id)),
                    Institution.id.in_(cohosting),
                )
            )
            .order_by(Institution.name)
        ).scalars()
    )


@dataclass
class MonthDay:
    """One cell of the month calendar: a date and the public events that start on it."""

    day: date
    in_month: bool
    events: list[Event] = field(default_factory=list)


def month_calendar(year: int, month: int, zone: str) -> list[list[MonthDay]]:
    """The weeks (Monday first) of a month with the public events starting each day in `zone`."""
    import calendar as calendar_module

    weeks = calendar_module.Calendar(firstweekday=0).monthdatescalendar(year, month)
    first, last = weeks[0][0], weeks[-1][-1]
    tz = ZoneInfo(zone)
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    events = db.session.execute(
        select(Event)
        .options(joinedload(Event.institution))
        .where(public_event_condition(), Event.starts_at >= start, Event.starts_at < end)
        .order_by(Event.starts_at, Event.id)
    ).scalars()
    by_day: dict[date, list[Event]] = {}
    for event in events:
        by_day.setdefault(to_zone(event.starts_at, zone).date(), []).append(event)
    return [[MonthDay(day, day.month == month, by_day.get(day, [])) for day in week] for week in weeks]
