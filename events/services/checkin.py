"""Check-in by code, walk-ins, attendance figures and the attendee CSV."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from core.choices import Sector
from core.exceptions import DomainError
from core.exports import csv_document
from core.extensions import db
from core.models import User
from core.timeutil import to_zone, utcnow
from core.validation import clean_text as _clean_text
from core.validation import invalid as _invalid
from events.models import Event, EventStatus, Registration, RegistrationStatus
from events.services.common import (
    CHECK_IN_OPENS_BEFORE,
    CODE_ALPHABET,
    CODE_LENGTH,
    REGISTRATION_STATUS_LABELS,
    new_code,
    normalise_code,
)


def _check_in_window(event: Event) -> None:
    if event.status not in (EventStatus.published, EventStatus.completed):
        raise DomainError(_l("El registro de asistencia es para actividades publicadas."))
    if utcnow() < event.starts_at - CHECK_IN_OPENS_BEFORE:
        raise DomainError(_l("El registro de asistencia abre 24 horas antes del inicio."))


def check_in_closed_reason(event: Event) -> str | None:
    """Why check-in is not open yet for `event` (shown before anyone types a code), or None."""
    try:
        _check_in_window(event)
    except DomainError as exc:
        return str(exc.message)
    return None


@dataclass
class CheckIn:
    registration: Registration
    already: bool


def check_in(actor: User, event: Event, code: str) -> CheckIn:
    """Mark a confirmed registration as present by its code (typed or scanned)."""
    _check_in_window(event)
    normalised = normalise_code(code)
    if not re.fullmatch(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}", normalised):
        raise _invalid(_l("Un código tiene 8 caracteres, sin 0, O, 1, I ni L."), "code")
    registration = db.session.execute(
        select(Registration)
        .options(selectinload(Registration.user))
        .where(Registration.event_id == event.id, Registration.code == normalised)
        .with_for_update(of=Registration)
    ).scalar_one_or_none()
    if registration is None:
        raise DomainError(
            _l("No hay un registro con el código %(code)s en esta actividad.", code=normalised),
            field="code",
            status=404,
        )
    if registration.status == RegistrationStatus.cancelled:
        raise DomainError(_l("El registro %(code)s fue cancelado.", code=normalised), field="code")
    if registration.status == RegistrationStatus.waitlisted:
        raise DomainError(
            _l("%(code)s está en la lista de espera, no confirmado.", code=normalised), field="code"
        )
    if registration.checked_in_at is not None:
        db.session.rollback()
        return CheckIn(registration, already=True)
    registration.checked_in_at = utcnow()
    registration.checked_in_by_id = actor.id
    db.session.commit()
    return CheckIn(registration, already=False)


def record_walk_in(actor: User, event: Event, name: str, sector: str | None = None) -> Registration:
    """Record someone who came without registering (present, outside the capacity count)."""
    _check_in_window(event)
    walk_in_name = _clean_text(name, "name", 200, required=True)
    if sector and sector not in Sector.__members__:
        raise _invalid(_l("Elige un sector de la lista."), "sector")
    now = utcnow()
    registration = Registration(
        event_id=event.id,
        user_id=None,
        status=RegistrationStatus.confirmed,
        code=new_code(),
        sector=sector or None,
        answers={},
        walk_in=True,
        walk_in_name=walk_in_name,
        created_at=now,
        confirmed_at=now,
        checked_in_at=now,
        checked_in_by_id=actor.id,
    )
    db.session.add(registration)
    db.session.commit()
    return registration


@dataclass
class Attendance:
    confirmed: int
    checked_in: int
    walk_ins: int
    no_shows: int
    waitlisted: int

    @property
    def present(self) -> int:
        return self.checked_in + self.walk_ins


def attendance(event: Event) -> Attendance:
    """Confirmed, checked in, walk-ins, no-shows (confirmed but absent) and waitlisted."""
    rows = db.session.execute(
        select(
            Registration.status,
            Registration.walk_in,
            Registration.checked_in_at.is_not(None),
            func.count(),
        )
        .where(Registration.event_id == event.id, Registration.status != RegistrationStatus.cancelled)
        .group_by(Registration.status, Registration.walk_in, Registration.checked_in_at.is_not(None))
    ).all()
    confirmed = checked_in = walk_ins = waitlisted = 0
    for status, walk_in, present, count in rows:
        if status == RegistrationStatus.waitlisted:
            waitlisted += count
        elif walk_in:
            walk_ins += count
        else:
            confirmed += count
            if present:
                checked_in += count
    started = utcnow() >= event.starts_at
    return Attendance(
        confirmed=confirmed,
        checked_in=checked_in,
        walk_ins=walk_ins,
        no_shows=confirmed - checked_in if started else 0,
        waitlisted=waitlisted,
    )


def registrations_of(event: Event, *, include_cancelled: bool = True) -> list[Registration]:
    """Every registration of an event for its managers, in arrival order."""
    query = (
        select(Registration)
        .options(joinedload(Registration.user))
        .where(Registration.event_id == event.id)
        .order_by(Registration.id)
    )
    if not include_cancelled:
        query = query.where(Registration.status != RegistrationStatus.cancelled)
    return list(db.session.execute(query).scalars())


def waitlist_positions(registrations: Iterable[Registration]) -> dict[int, int]:
    """Positions of the waitlisted among `registrations` (already in arrival order)."""
    positions: dict[int, int] = {}
    for registration in registrations:
        if registration.status == RegistrationStatus.waitlisted:
            positions[registration.id] = len(positions) + 1
    return positions


def attendee_csv(event: Event) -> str:
    """The attendee list with registration answers, for the event's managers."""
    from core.choices import SECTOR_LABELS

    registrations = registrations_of(event)
    positions = waitlist_positions(registrations)
    questions = list(event.questions)
    rows: list[list[Any]] = [
        [
            str(_l("Código")),
            str(_l("Nombre")),
            str(_l("Correo")),
            str(_l("Sector")),
            str(_l("Estado")),
            str(_l("Lugar en la lista de espera")),
            str(_l("Registrado")),
            str(_l("Asistencia registrada")),
            str(_l("Sin registro previo")),
            *[question.prompt for question in questions],
        ]
    ]
    for registration in registrations:
        email = ""
        if registration.user is not None and registration.user.deleted_at is None:
            email = registration.user.email
        rows.append(
            [
                registration.code,
                registration.display_name,
                email,
                SECTOR_LABELS.get(registration.sector, registration.sector or ""),
                REGISTRATION_STATUS_LABELS[RegistrationStatus(registration.status)],
                positions.get(registration.id, ""),
                to_zone(registration.created_at, event.timezone).strftime("%Y-%m-%d %H:%M"),
                to_zone(registration.checked_in_at, event.timezone).strftime("%Y-%m-%d %H:%M")
                if registration.checked_in_at
                else "",
                str(_l("sí")) if registration.walk_in else "",
                *[(registration.answers or {}).get(str(q.id), "") for q in questions],
            ]
        )
    return csv_document(rows)
