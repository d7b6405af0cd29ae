"""What every part of the events workflow shares: settings, labels, reading an event, the
capacity lock, seat counts and the registration state, registration codes, and the people
who organise an institution's events."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload, selectinload

from core.choices import InstitutionRole
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution, Membership, User
from core.timeutil import utcnow
from events.models import (
    CommitmentStatus,
    ConsentStatus,
    Event,
    EventFormat,
    EventKind,
    EventStatus,
    QuestionKind,
    Registration,
    RegistrationStatus,
    public_event_condition,
)

# Read by `register`/`cancel_registration`; only the concurrency test's control run turns it off.
LOCK_SETTING = "EVENTS_CAPACITY_LOCK"
# Registration codes: no 0/O, 1/I/L, so a code read aloud or typed from paper is unambiguous.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
DEFAULT_REMINDER_OFFSETS = [1440, 60]
MAX_REMINDER_MINUTES = 60 * 24 * 30
CHECK_IN_OPENS_BEFORE = timedelta(hours=24)
MAX_EVENT_LENGTH = timedelta(days=31)
# Dates outside this range are typing mistakes (and year 9999 breaks calendar tooling).
PAGE_SIZE = 20


KIND_LABELS = {
    EventKind.dialogue_table: _l("Mesa de diálogo"),
    EventKind.datathon: _l("Datatón"),
    EventKind.data_for_development: _l("Datos para el desarrollo"),
}
FORMAT_LABELS = {
    EventFormat.in_person: _l("Presencial"),
    EventFormat.online: _l("En línea"),
    EventFormat.hybrid: _l("Híbrido"),
}
STATUS_LABELS = {
    EventStatus.draft: _l("Borrador"),
    EventStatus.published: _l("Publicada"),
    EventStatus.completed: _l("Concluida"),
    EventStatus.cancelled: _l("Cancelada"),
}
REGISTRATION_STATUS_LABELS = {
    RegistrationStatus.confirmed: _l("Confirmado"),
    RegistrationStatus.waitlisted: _l("En lista de espera"),
    RegistrationStatus.cancelled: _l("Cancelado"),
}
COMMITMENT_STATUS_LABELS = {
    CommitmentStatus.pending: _l("Pendiente"),
    CommitmentStatus.in_progress: _l("En curso"),
    CommitmentStatus.done: _l("Cumplido"),
    CommitmentStatus.dropped: _l("Descartado"),
}
CONSENT_LABELS = {
    ConsentStatus.pending: _l("pendiente de confirmar"),
    ConsentStatus.accepted: _l("confirmado"),
    ConsentStatus.declined: _l("declinó"),
}
QUESTION_KIND_LABELS = {
    QuestionKind.short_text: _l("Respuesta corta"),
    QuestionKind.single_choice: _l("Opción única"),
}


def get_event(event_id: int) -> Event | None:
    """An event by id with what its pages show."""
    return db.session.execute(
        select(Event)
        .where(Event.id == event_id)
        .options(
            joinedload(Event.institution),
            selectinload(Event.cohosts),
            selectinload(Event.sector_seats),
            selectinload(Event.agenda),
            selectinload(Event.datasets),
            selectinload(Event.questions),
        )
    ).scalar_one_or_none()


def public_events():
    """A select of the events the public may see: those ever published (drafts never),
    whatever their state since. Every public list, page, API and feed starts here."""
    return select(Event).where(public_event_condition())


def lock_for_registration(event_id: int) -> Event | None:
    """The event row locked for a registration (FOR UPDATE; SQLite: the BEGIN IMMEDIATE
    every transaction already holds), read fresh with its questions and sector seats in
    the same statement; None when there is no such event."""
    query = _lock_query(bool(current_app.config.get(LOCK_SETTING, True)))
    return db.session.execute(query, {"event_id": event_id}).unique().scalar_one_or_none()


@lru_cache(maxsize=2)
def _lock_query(lock: bool):
    """The statement of `lock_for_registration`, built once (with or without the lock)."""
    query = (
        select(Event)
        .where(Event.id == bindparam("event_id"))
        .options(joinedload(Event.questions), joinedload(Event.sector_seats))
        .execution_options(populate_existing=True)
    )
    return query.with_for_update(of=Event) if lock else query


def _lock_event(event_id: int) -> Event:
    """Take the capacity lock: the event row, re-read so capacity and status are current."""
    event = lock_for_registration(event_id)
    if event is None:
        raise DomainError(_l("Esta actividad ya no existe."), status=404)
    return event


def _lock_registration(event: Event, registration_id: Any) -> Registration:
    """The event's registration row FOR UPDATE (re-read), or a 404 refusal (the day-of
    actions by row: check-in, undo, promotion by hand)."""
    query = (
        select(Registration)
        .options(selectinload(Registration.user))
        .where(Registration.id == registration_id, Registration.event_id == event.id)
        .execution_options(populate_existing=True)
    )
    if current_app.config.get(LOCK_SETTING, True):
        query = query.with_for_update(of=Registration)
    registration = db.session.execute(query).scalar_one_or_none()
    if registration is None:
        raise DomainError(_l("Ese registro no es de esta actividad."), status=404, code="not_found")
    return registration


@dataclass
class SeatCounts:
    """Confirmed seats (walk-ins aside), per sector, and the waitlist length."""

    confirmed: int = 0
    by_sector: dict[str, int] = field(default_factory=dict)
    waitlisted: int = 0


def seat_counts(event_id: int) -> SeatCounts:
    """Count seats from the registrations themselves (the truth under the lock)."""
    rows = db.session.execute(_seat_counts_query(), {"event_id": event_id}).all()
    counts = SeatCounts()
    for status, sector, count in rows:
        if status == RegistrationStatus.confirmed:
            counts.confirmed += count
            key = sector or ""
            counts.by_sector[key] = counts.by_sector.get(key, 0) + count
        else:
            counts.waitlisted += count
    return counts


@lru_cache(maxsize=1)
def _seat_counts_query():
    """The statement of `seat_counts`, built once (it runs in every registration)."""
    return (
        select(Registration.status, Registration.sector, func.count())
        .where(
            Registration.event_id == bindparam("event_id"),
            Registration.status != RegistrationStatus.cancelled,
            Registration.walk_in.is_(False),
        )
        .group_by(Registration.status, Registration.sector)
    )


def counts_for(event_ids: Iterable[int]) -> dict[int, SeatCounts]:
    """Seat counts of several events in one query (list pages)."""
    ids = list(event_ids)
    result = {event_id: SeatCounts() for event_id in ids}
    if not ids:
        return result
    rows = db.session.execute(
        select(Registration.event_id, Registration.status, func.count())
        .where(
            Registration.event_id.in_(ids),
            Registration.status != RegistrationStatus.cancelled,
            Registration.walk_in.is_(False),
        )
        .group_by(Registration.event_id, Registration.status)
    ).all()
    for event_id, status, count in rows:
        if status == RegistrationStatus.confirmed:
            result[event_id].confirmed += count
        else:
            result[event_id].waitlisted += count
    return result


def seats_left(event: Event, counts: SeatCounts) -> int | None:
    """Free seats overall (None: unlimited)."""
    if event.capacity is None:
        return None
    return max(0, event.capacity - counts.confirmed)


def has_seat(event: Event, sector: str | None, counts: SeatCounts) -> bool:
    """Whether one more person of `sector` can be confirmed.

    With seats per sector, each listed sector has its own seats; people of other
    sectors share what capacity leaves after the reserved seats.
    """
    if event.capacity is not None and counts.confirmed >= event.capacity:
        return False
    reserved = event.seats_by_sector
    if not reserved:
        return True
    key = sector or ""
    if key in reserved:
        return counts.by_sector.get(key, 0) < reserved[key]
    if event.capacity is None:
        return True
    open_seats = event.capacity - sum(reserved.values())
    taken = sum(count for sector_key, count in counts.by_sector.items() if sector_key not in reserved)
    return taken < open_seats


@dataclass(frozen=True)
class SeatShortfall:
    """What must grow for one more person to be confirmed: the capacity (to `capacity`),
    the seats of their reserved sector (`sector`, to `sector_seats`), both, or nothing."""

    capacity: int | None = None
    sector: str | None = None
    sector_seats: int | None = None

    @property
    def fits(self) -> bool:
        return self.capacity is None and self.sector_seats is None


def seat_shortfall(event: Event, sector: str | None, counts: SeatCounts) -> SeatShortfall:
    """The least the organisers must add for one more person of `sector` to be confirmed
    without taking a seat reserved for anyone else (nothing when `has_seat` already holds).

    A reserved sector that is full grows by one seat; the capacity grows as far as the
    confirmed people plus this one, the reserved seats and the people in the shared seats
    need. So after the growth `has_seat` holds and every sector still fits in its seats.
    """
    if has_seat(event, sector, counts):
        return SeatShortfall()
    reserved = event.seats_by_sector
    key = sector or ""
    sector_seats = None
    if key in reserved and counts.by_sector.get(key, 0) >= reserved[key]:
        sector_seats = counts.by_sector.get(key, 0) + 1
    capacity = None
    if event.capacity is not None:
        total_reserved = sum(reserved.values()) + (sector_seats - reserved[key] if sector_seats else 0)
        shared_taken = sum(n for sector_key, n in counts.by_sector.items() if sector_key not in reserved)
        in_shared_seats = 0 if key in reserved else 1
        needed = max(counts.confirmed + 1, total_reserved + shared_taken + in_shared_seats)
        if needed > event.capacity:
            capacity = needed
    return SeatShortfall(capacity=capacity, sector=key if sector_seats else None, sector_seats=sector_seats)


class RegistrationState:
    """Why registration is or is not possible right now (for pages and the API)."""

    open = "open"
    waitlist = "waitlist"
    full = "full"
    not_open_yet = "not_open_yet"
    closed = "closed"
    unavailable = "unavailable"


def registration_state(event: Event, counts: SeatCounts, now: datetime | None = None) -> str:
    """Open, waitlist only, full, not yet open, closed, or unavailable (draft/cancelled/done)."""
    now = now or utcnow()
    if event.status != EventStatus.published:
        return RegistrationState.unavailable
    if event.registration_opens_at and now < event.registration_opens_at:
        return RegistrationState.not_open_yet
    closes = event.registration_closes_at or event.starts_at
    if now >= closes or now >= event.ends_at:
        return RegistrationState.closed
    if event.capacity is not None and counts.confirmed >= event.capacity:
        return RegistrationState.waitlist if event.waitlist_enabled else RegistrationState.full
    return RegistrationState.open


def new_code() -> str:
    """A fresh 8-character registration code without look-alike characters."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        taken = db.session.execute(select(Registration.id).where(Registration.code == code)).first()
        if taken is None:
            return code


def normalise_code(code: str) -> str:
    """What people type or scan, as stored: upper case, no spaces or dashes."""
    return re.sub(r"[\s\-]", "", (code or "")).upper()


def _active_registrations(event_id: int) -> list[Registration]:
    return list(
        db.session.execute(
            select(Registration)
            .options(joinedload(Registration.user))
            .where(Registration.event_id == event_id, Registration.status != RegistrationStatus.cancelled)
            .order_by(Registration.id)
        ).scalars()
    )


def confirmed_registrations(event_id: int) -> list[Registration]:
    """Confirmed people with accounts (who get reminders)."""
    return [
        r
        for r in _active_registrations(event_id)
        if r.status == RegistrationStatus.confirmed and r.user is not None and not r.walk_in
    ]


def institution_people(institution_id: int) -> list[User]:
    """An institution's liaisons and staff (who organise its events and answer for it)."""
    return list(
        db.session.execute(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.institution_id == institution_id,
                Membership.role.in_([InstitutionRole.liaison, InstitutionRole.staff]),
                User.deleted_at.is_(None),
            )
            .order_by(User.id)
        ).scalars()
    )


def managed_institutions(user: User) -> list[Institution]:
    """Institutions whose events `user` may manage."""
    if user.is_admin:
        return list(db.session.execute(select(Institution).order_by(Institution.name)).scalars())
    return sorted(
        (
            m.institution
            for m in user.memberships
            if m.role in (InstitutionRole.liaison, InstitutionRole.staff)
        ),
        key=lambda institution: institution.name,
    )


def event_managers(event: Event) -> list[User]:
    """The institution's liaisons and staff (who get the "record the outcome" reminder)."""
    return institution_people(event.institution_id)
