"""Registration under the capacity lock: register, cancel, and promotion from the waitlist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from core.validation import clean_text as _clean_text
from core.validation import invalid as _invalid
from events import reminders
from events.models import Event, EventStatus, QuestionKind, Registration, RegistrationStatus
from events.services.common import _lock_event, has_seat, new_code, seat_counts
from events.services.messages import (
    _confirmation_attachments,
    _notify_confirmed,
    email_context,
    event_url,
    ics_attachment,
)
from notifications.services import notify


def registration_for(user: Any, event: Event) -> Registration | None:
    """The person's active (confirmed or waitlisted) registration, if any."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return db.session.execute(
        select(Registration).where(
            Registration.event_id == event.id,
            Registration.user_id == user.id,
            Registration.status != RegistrationStatus.cancelled,
        )
    ).scalar_one_or_none()


def waitlist_position(registration: Registration) -> int | None:
    """1 for the first in line (arrival order), None when not waitlisted."""
    if registration.status != RegistrationStatus.waitlisted:
        return None
    return db.session.execute(
        select(func.count())
        .select_from(Registration)
        .where(
            Registration.event_id == registration.event_id,
            Registration.status == RegistrationStatus.waitlisted,
            Registration.id <= registration.id,
        )
    ).scalar_one()


def _clean_answers(event: Event, answers: Mapping[str, Any] | None) -> dict[str, str]:
    answers = answers or {}
    if not isinstance(answers, Mapping):
        raise _invalid(_l("Las respuestas no son válidas."), "answers")
    cleaned: dict[str, str] = {}
    for question in event.questions:
        raw = answers.get(str(question.id), answers.get(question.id))
        value = _clean_text(raw if raw is None or isinstance(raw, str) else str(raw), f"q{question.id}", 1000)
        if (
            question.kind == QuestionKind.single_choice
            and value is not None
            and value not in question.choices
        ):
            raise _invalid(_l("Elige una de las opciones."), f"q{question.id}")
        if value is None:
            if question.required:
                raise _invalid(_l("Responde esta pregunta: %(q)s", q=question.prompt), f"q{question.id}")
            continue
        cleaned[str(question.id)] = value
    return cleaned


def register(user: User, event: Event, answers: Mapping[str, Any] | None = None) -> Registration:
    """Register a person: confirmed while seats remain, else waitlisted or refused as full.

    One transaction: lock the event row, re-count the seats, insert. The partial
    unique index stops a second active registration of the same person. What does not
    depend on the count (answers, code, QR, .ics) is prepared before the lock, so the
    lock is held only for the count, the insert and the outbox/ledger rows.
    """
    if not user.is_verified:
        raise DomainError(
            _l("Confirma tu correo electrónico antes de registrarte en actividades."),
            status=403,
            code="email_not_verified",
        )
    if registration_for(user, event) is not None:
        raise DomainError(_l("Ya estás registrado en esta actividad."), code="already_registered")
    cleaned = _clean_answers(event, answers)
    code = new_code()
    prepared = _confirmation_attachments(event, user, code)
    sequence = event.sequence
    event = _lock_event(event.id)
    if event.status != EventStatus.published:
        raise DomainError(_l("Esta actividad no está abierta a registro."), code="registration_closed")
    now = utcnow()
    if event.registration_opens_at and now < event.registration_opens_at:
        raise DomainError(_l("El registro todavía no abre."), code="registration_not_open")
    if now >= (event.registration_closes_at or event.starts_at) or now >= event.ends_at:
        raise DomainError(_l("El registro para esta actividad ya cerró."), code="registration_closed")
    if registration_for(user, event) is not None:
        raise DomainError(_l("Ya estás registrado en esta actividad."), code="already_registered")
    counts = seat_counts(event.id)
    sector = str(user.sector) if user.sector else None
    if has_seat(event, sector, counts):
        status = RegistrationStatus.confirmed
    elif event.waitlist_enabled:
        status = RegistrationStatus.waitlisted
    else:
        raise DomainError(_l("Ya no hay lugares para esta actividad."), code="event_full")
    registration = Registration(
        event_id=event.id,
        user_id=user.id,
        status=status,
        code=code,
        sector=sector,
        answers=cleaned,
        created_at=now,
        confirmed_at=now if status == RegistrationStatus.confirmed else None,
    )
    db.session.add(registration)
    try:
        db.session.flush()
    except IntegrityError:
        # Without the lock (the control run) two requests of one person can race here.
        db.session.rollback()
        raise DomainError(_l("Ya estás registrado en esta actividad."), code="already_registered") from None
    registration.user = user
    registration.event = event
    if status == RegistrationStatus.confirmed:
        if event.sequence != sequence:  # the event changed while we waited for the lock
            prepared = _confirmation_attachments(event, user, code)
        _notify_confirmed(registration, promoted=False, attachments=prepared)
        reminders.sync_registration(registration)
    else:
        notify(
            to=user,
            kind="events.registration_waitlisted",
            subject=_l("Estás en la lista de espera de «%(title)s»", title=event.title),
            template="events/email/waitlisted",
            dedupe_key=f"event-registration:{registration.id}:waitlisted",
            in_app=True,  # also in the notification centre, as a history
            link=event_url(event),
            context={**email_context(event, registration), "position": waitlist_position(registration)},
        )
    db.session.commit()
    return registration


def cancel_registration(user: User, registration: Registration) -> Registration:
    """Cancel one's own registration until the start; the first eligible waitlisted
    person is promoted under the same lock."""
    event = _lock_event(registration.event_id)
    registration = db.session.execute(
        select(Registration)
        .where(Registration.id == registration.id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    if registration.status == RegistrationStatus.cancelled:
        raise DomainError(_l("Este registro ya estaba cancelado."), code="not_registered", status=404)
    if registration.user_id != user.id:
        raise DomainError(_l("Este registro no es tuyo."), status=403)
    if utcnow() >= event.starts_at:
        raise DomainError(_l("La actividad ya empezó; el registro no se puede cancelar."))
    _cancel(event, registration)
    db.session.commit()
    return registration


def _cancel(event: Event, registration: Registration) -> None:
    was_confirmed = registration.status == RegistrationStatus.confirmed
    registration.status = RegistrationStatus.cancelled
    registration.cancelled_at = utcnow()
    db.session.flush()
    reminders.cancel_registration(registration)
    if registration.user is not None and registration.user.deleted_at is None:
        notify(
            to=registration.user,
            kind="events.registration_cancelled",
            subject=_l("Cancelaste tu registro en «%(title)s»", title=event.title),
            template="events/email/registration_cancelled",
            dedupe_key=f"event-registration:{registration.id}:cancelled",
            in_app=True,  # also in the notification centre, as a history
            link=event_url(event),
            context=email_context(event, registration),
            attachments=[ics_attachment(event, registration.user, "CANCEL")] if was_confirmed else None,
        )
    if was_confirmed and event.status == EventStatus.published:
        _promote_from_waitlist(event)


def _promote_from_waitlist(event: Event) -> list[Registration]:
    """Confirm waitlisted people in arrival order while seats (and their sector's) remain."""
    if event.status != EventStatus.published or utcnow() >= event.ends_at:
        return []
    counts = seat_counts(event.id)
    if event.capacity is not None and counts.confirmed >= event.capacity:
        return []
    waiting = db.session.execute(
        select(Registration)
        .options(joinedload(Registration.user))
        .where(Registration.event_id == event.id, Registration.status == RegistrationStatus.waitlisted)
        .order_by(Registration.id)
    ).scalars()
    promoted = []
    now = utcnow()
    for registration in waiting:
        if event.capacity is not None and counts.confirmed >= event.capacity:
            break
        if not has_seat(event, registration.sector, counts):
            continue
        registration.status = RegistrationStatus.confirmed
        registration.confirmed_at = registration.promoted_at = now
        counts.confirmed += 1
        key = registration.sector or ""
        counts.by_sector[key] = counts.by_sector.get(key, 0) + 1
        promoted.append(registration)
    db.session.flush()
    for registration in promoted:
        registration.event = event
        audit.record(
            "registration.promote",
            event,
            actor=None,
            details={"registration_id": registration.id},
        )
        if registration.user is not None:
            _notify_confirmed(registration, promoted=True)
            reminders.sync_registration(registration)
    return promoted
