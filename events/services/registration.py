"""Registration under the capacity lock: register, cancel, and promotion from the waitlist
(automatic, or by hand by the organisers)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from core import audit
from core.choices import SECTOR_LABELS
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from core.validation import clean_text as _clean_text
from core.validation import invalid as _invalid
from events import reminders
from events.models import Event, EventStatus, QuestionKind, Registration, RegistrationStatus
from events.services.common import (
    CODE_ALPHABET,
    CODE_LENGTH,
    _lock_event,
    _lock_registration,
    has_seat,
    seat_counts,
    seat_shortfall,
)
from events.services.messages import (
    WAITLISTED_KIND,
    _notify_confirmed,
    email_context,
    event_url,
    ics_attachment,
    refs_of,
)
from notifications.services import notify, notify_later, rows_in_bulk


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


def _new_code() -> str:
    """A random code (31^8, about 8.5·10^11 of them); a collision is refused by the unique index."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _commit_keeping_values() -> None:
    """Commit without expiring what this transaction wrote and read under the lock, so the
    caller answers from it without reading it all again."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def register(
    user: User, event: Event, answers: Mapping[str, Any] | None = None, *, event_locked: bool = False
) -> Registration:
    """Register a person: confirmed while seats remain, else waitlisted or refused as full.

    One lean transaction: lock the event row, re-count the seats, insert the registration,
    its outbox row (the email is rendered by the mail worker when it is sent) and its
    reminders (one bulk statement), commit. The partial unique index stops a second active
    registration of the same person. `event_locked`: `event` comes from
    `lock_for_registration` in this transaction (the API and the form: the event is then
    read only once).
    """
    if not user.is_verified:
        raise DomainError(
            _l("Confirma tu correo electrónico antes de registrarte en actividades."),
            status=403,
            code="email_not_verified",
        )
    if not event_locked:
        if registration_for(user, event) is not None:
            raise DomainError(_l("Ya estás registrado en esta actividad."), code="already_registered")
        event = _lock_event(event.id)
    cleaned = _clean_answers(event, answers)
    if event.status != EventStatus.published:
        raise DomainError(_l("Esta actividad no está abierta a registro."), code="registration_closed")
    now = utcnow()
    if event.registration_opens_at and now < event.registration_opens_at:
        raise DomainError(_l("El registro todavía no abre."), code="registration_not_open")
    if now >= (event.registration_closes_at or event.starts_at) or now >= event.ends_at:
        raise DomainError(_l("El registro para esta actividad ya cerró."), code="registration_closed")
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
        code=_new_code(),
        sector=sector,
        answers=cleaned,
        walk_in=False,
        erased=False,
        created_at=now,
        confirmed_at=now if status == RegistrationStatus.confirmed else None,
    )
    db.session.add(registration)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        if "uq_registration_code" in str(exc.orig) or "registration.code" in str(exc.orig):
            # The random code was taken: nothing was written, the person may simply retry.
            raise DomainError(
                _l("No pudimos completar tu registro; vuelve a intentarlo."), code="try_again"
            ) from None
        raise DomainError(_l("Ya estás registrado en esta actividad."), code="already_registered") from None
    registration.user = user
    registration.event = event
    # The outbox and in-app rows go in with Core statements (no ORM flush of their own).
    with rows_in_bulk():
        if status == RegistrationStatus.confirmed:
            _notify_confirmed(registration, promoted=False)
        else:
            notify_later(
                to=user,
                kind=WAITLISTED_KIND,
                subject=_l("Estás en la lista de espera de «%(title)s»", title=event.title),
                dedupe_key=f"event-registration:{registration.id}:waitlisted",
                refs=refs_of(registration),
                in_app=True,  # also in the notification centre, as a history
                link=event_url(event),
                fresh=True,  # the key holds the id just inserted
            )
    if status == RegistrationStatus.confirmed:
        reminders.sync_registration(registration)
    _commit_keeping_values()
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


def promote_by_hand(
    actor: User,
    event: Event,
    registration_id: Any,
    *,
    raise_capacity: bool = False,
    raise_sector_seats: bool = False,
) -> Registration:
    """Confirm a waitlisted person the organisers choose, under the capacity lock.

    The person needs a seat as in an automatic promotion: in the capacity and, at a table
    with seats per sector, in their sector's reserved seats (or the shared ones). When there
    is none it is refused, unless the organiser explicitly adds what is missing (both
    audited): `raise_sector_seats` one more seat for the person's sector, `raise_capacity`
    the capacity that needs (never a seat reserved for someone else). The person is told
    as in an automatic promotion."""
    event = _lock_event(event.id)
    if event.status != EventStatus.published or utcnow() >= event.ends_at:
        raise DomainError(_l("Solo se confirma a alguien en actividades publicadas que no han terminado."))
    registration = _lock_registration(event, registration_id)
    if registration.status != RegistrationStatus.waitlisted:
        raise DomainError(
            _l("%(name)s no está en la lista de espera.", name=registration.display_name),
            code="not_waitlisted",
        )
    counts = seat_counts(event.id)
    shortfall = seat_shortfall(event, registration.sector, counts)
    if shortfall.sector_seats is not None and not raise_sector_seats:
        raise DomainError(
            _l(
                "Los lugares de %(sector)s están ocupados (%(taken)s de %(seats)s). Para confirmar a "
                "%(name)s hay que subir los lugares de %(sector)s a %(to)s.",
                sector=SECTOR_LABELS.get(shortfall.sector, shortfall.sector),
                taken=counts.by_sector.get(shortfall.sector, 0),
                seats=event.seats_by_sector[shortfall.sector],
                name=registration.display_name,
                to=shortfall.sector_seats,
            ),
            code="sector_full",
            field="raise_sector_seats",
        )
    if shortfall.capacity is not None and not raise_capacity:
        if counts.confirmed >= event.capacity:
            message = _l(
                "La actividad está llena (%(confirmed)s de %(capacity)s). Para confirmar a %(name)s "
                "hay que subir el cupo.",
                confirmed=counts.confirmed,
                capacity=event.capacity,
                name=registration.display_name,
            )
        else:
            message = _l(
                "Los lugares libres están reservados para otros sectores. Para confirmar a %(name)s "
                "hay que subir el cupo a %(to)s.",
                name=registration.display_name,
                to=shortfall.capacity,
            )
        raise DomainError(message, code="event_full", field="raise_capacity")
    if shortfall.sector_seats is not None:
        row = next(seats for seats in event.sector_seats if str(seats.sector) == shortfall.sector)
        old_seats, row.seats = row.seats, shortfall.sector_seats
        event.updated_at = utcnow()
        audit.record(
            "event.sector_seats_raised",
            event,
            actor=actor,
            details={
                "sector": shortfall.sector,
                "from": old_seats,
                "to": row.seats,
                "registration_id": registration.id,
            },
        )
    if shortfall.capacity is not None:
        old_capacity = event.capacity
        event.capacity = shortfall.capacity
        event.updated_at = utcnow()
        audit.record(
            "event.capacity_raised",
            event,
            actor=actor,
            details={"from": old_capacity, "to": event.capacity, "registration_id": registration.id},
        )
    now = utcnow()
    registration.status = RegistrationStatus.confirmed
    registration.confirmed_at = registration.promoted_at = now
    db.session.flush()
    registration.event = event
    audit.record(
        "registration.promote_by_hand", event, actor=actor, details={"registration_id": registration.id}
    )
    if registration.user is not None and registration.user.deleted_at is None:
        _notify_confirmed(registration, promoted=True)
        reminders.sync_registration(registration)
    db.session.commit()
    return registration
