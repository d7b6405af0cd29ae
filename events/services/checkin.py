"""Check-in by code or by name (from a search) and its undo, walk-ins, attendance figures and the
attendee list (CSV and XLSX)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select
from sqlalchemy.orm import joinedload, selectinload

from core import audit
from core.choices import SECTOR_LABELS, Sector
from core.exceptions import DomainError
from core.exports import csv_document, xlsx_document
from core.extensions import db
from core.models import User
from core.timeutil import to_zone, utcnow
from core.validation import clean_text as _clean_text
from core.validation import invalid as _invalid
from core.validation import one_line
from events.dayof_models import AttendanceCertificate
from events.models import Event, EventStatus, Registration, RegistrationStatus
from events.search import fold
from events.services.common import (
    CHECK_IN_OPENS_BEFORE,
    CODE_ALPHABET,
    CODE_LENGTH,
    REGISTRATION_STATUS_LABELS,
    _lock_registration,
    new_code,
    normalise_code,
)

MAX_SEARCH_RESULTS = 50


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


def attendee_rows(event: Event) -> list[list[Any]]:
    """The attendee list with registration answers (header first), for CSV and XLSX."""
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
                str(REGISTRATION_STATUS_LABELS[RegistrationStatus(registration.status)]),
                positions.get(registration.id, ""),
                to_zone(registration.created_at, event.timezone).strftime("%Y-%m-%d %H:%M"),
                to_zone(registration.checked_in_at, event.timezone).strftime("%Y-%m-%d %H:%M")
                if registration.checked_in_at
                else "",
                str(_l("sí")) if registration.walk_in else "",
                *[(registration.answers or {}).get(str(q.id), "") for q in questions],
            ]
        )
    return rows


def attendee_csv(event: Event) -> str:
    """The attendee list with registration answers, for the event's managers."""
    return csv_document(attendee_rows(event))


def attendee_xlsx(event: Event) -> bytes:
    """The attendee list as an Excel workbook (cells are text, never formulas)."""
    return xlsx_document(attendee_rows(event), sheet_name=str(_l("Registros")))


# --- the day of the event: by name, and undo ------------------------------------------


def find_attendees(event: Event, query: str | None) -> list[Registration]:
    """Active registrations whose name, email or code contains every word of `query`
    (accent- and case-insensitive), confirmed first, then by name."""
    words = fold(one_line(query or "")[:200]).split()
    if not words:
        return []
    rows = db.session.execute(
        select(Registration)
        .options(joinedload(Registration.user))
        .where(Registration.event_id == event.id, Registration.status != RegistrationStatus.cancelled)
    ).scalars()
    found = []
    for registration in rows:
        email = registration.user.email if registration.user is not None else ""
        haystack = fold(f"{registration.display_name} {email} {registration.code}")
        if all(word in haystack for word in words):
            found.append(registration)
    found.sort(key=lambda r: (r.status != RegistrationStatus.confirmed, fold(r.display_name), r.id))
    return found[:MAX_SEARCH_RESULTS]


def recent_check_ins(event: Event, limit: int = 10) -> list[Registration]:
    """The last people checked in (newest first): where an undo is most often needed."""
    return list(
        db.session.execute(
            select(Registration)
            .options(joinedload(Registration.user))
            .where(
                Registration.event_id == event.id,
                Registration.status == RegistrationStatus.confirmed,
                Registration.checked_in_at.is_not(None),
            )
            .order_by(Registration.checked_in_at.desc(), Registration.id.desc())
            .limit(limit)
        ).scalars()
    )


def check_in_registration(actor: User, event: Event, registration_id: Any) -> CheckIn:
    """Mark a confirmed registration as present from the list (the row's button)."""
    _check_in_window(event)
    registration = _lock_registration(event, registration_id)
    name = registration.display_name
    if registration.status == RegistrationStatus.cancelled:
        raise DomainError(_l("El registro de %(name)s fue cancelado.", name=name), code="cancelled")
    if registration.status == RegistrationStatus.waitlisted:
        raise DomainError(
            _l("%(name)s está en la lista de espera, no confirmado.", name=name), code="waitlisted"
        )
    if registration.checked_in_at is not None:
        db.session.rollback()
        return CheckIn(registration, already=True)
    registration.checked_in_at = utcnow()
    registration.checked_in_by_id = actor.id
    db.session.commit()
    return CheckIn(registration, already=False)


def undo_check_in(actor: User, event: Event, registration_id: Any) -> Registration:
    """Reverse a check-in (a mistaken tap or scan), audited. Under the row lock, so of two
    undos at once one succeeds and the other is told there was nothing to undo. A walk-in
    exists only as present, so undoing it cancels it; a certificate already issued is
    withdrawn (its verification code stops working)."""
    _check_in_window(event)
    registration = _lock_registration(event, registration_id)
    if registration.checked_in_at is None:
        raise DomainError(
            _l(
                "%(name)s no tiene asistencia registrada.",
                name=registration.display_name or registration.code,
            ),
            code="not_checked_in",
        )
    checked_in_at = registration.checked_in_at
    registration.checked_in_at = None
    registration.checked_in_by_id = None
    if registration.walk_in:
        registration.status = RegistrationStatus.cancelled
        registration.cancelled_at = utcnow()
    withdrawn = db.session.execute(
        delete(AttendanceCertificate).where(AttendanceCertificate.registration_id == registration.id)
    ).rowcount
    audit.record(
        "registration.check_in_undone",
        event,
        actor=actor,
        details={
            "registration_id": registration.id,
            "code": registration.code,
            "checked_in_at": checked_in_at.isoformat(),
            "walk_in": registration.walk_in,
            "certificate_withdrawn": bool(withdrawn),
        },
    )
    db.session.commit()
    return registration
