"""The day of an event, for its organisers: find people by name and check them in (or undo
it), message everyone confirmed or waitlisted, confirm a waitlisted person by hand, and
export the attendee list as XLSX. Each public function is one unit of work."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from core import audit
from core.choices import SECTOR_LABELS
from core.exceptions import DomainError
from core.exports import xlsx_document
from core.extensions import db
from core.models import User
from core.timeutil import to_zone, utcnow
from core.validation import clean_text, invalid, one_line
from events import reminders, services
from events.dayof_models import AttendanceCertificate, EventMessage, MessageAudience
from events.models import Event, EventStatus, Registration, RegistrationStatus
from events.search import fold
from notifications.services import notify

MAX_SEARCH_RESULTS = 50
MAX_SUBJECT = 200
MAX_BODY = 5000

# The registration workflow's own rules, reused so they stay one: the check-in window, the
# capacity lock and the confirmation (or promotion) email.
_check_in_window = services._check_in_window
_lock_event = services._lock_event
_notify_confirmed = services._notify_confirmed

AUDIENCE_LABELS = {
    MessageAudience.confirmed: _l("Personas confirmadas"),
    MessageAudience.waitlisted: _l("Personas en lista de espera"),
}


def _locking() -> bool:
    return current_app.config.get(services.LOCK_SETTING, True)


def _locked_registration(event: Event, registration_id: Any) -> Registration:
    """The event's registration row FOR UPDATE (re-read), or a 404 refusal."""
    query = (
        select(Registration)
        .options(selectinload(Registration.user))
        .where(Registration.id == registration_id, Registration.event_id == event.id)
        .execution_options(populate_existing=True)
    )
    if _locking():
        query = query.with_for_update(of=Registration)
    registration = db.session.execute(query).scalar_one_or_none()
    if registration is None:
        raise DomainError(_l("Ese registro no es de esta actividad."), status=404, code="not_found")
    return registration


# --- finding people and checking them in ---------------------------------------------


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


def check_in_registration(actor: User, event: Event, registration_id: Any) -> services.CheckIn:
    """Mark a confirmed registration as present from the list (the row's button)."""
    _check_in_window(event)
    registration = _locked_registration(event, registration_id)
    name = registration.display_name
    if registration.status == RegistrationStatus.cancelled:
        raise DomainError(_l("El registro de %(name)s fue cancelado.", name=name), code="cancelled")
    if registration.status == RegistrationStatus.waitlisted:
        raise DomainError(
            _l("%(name)s está en la lista de espera, no confirmado.", name=name), code="waitlisted"
        )
    if registration.checked_in_at is not None:
        db.session.rollback()
        return services.CheckIn(registration, already=True)
    registration.checked_in_at = utcnow()
    registration.checked_in_by_id = actor.id
    db.session.commit()
    return services.CheckIn(registration, already=False)


def undo_check_in(actor: User, event: Event, registration_id: Any) -> Registration:
    """Reverse a check-in (a mistaken tap or scan), audited. Under the row lock, so of two
    undos at once one succeeds and the other is told there was nothing to undo. A walk-in
    exists only as present, so undoing it cancels it; a certificate already issued is
    withdrawn (its verification code stops working)."""
    _check_in_window(event)
    registration = _locked_registration(event, registration_id)
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


# --- messages to the people of an event ----------------------------------------------


def _recipients(event: Event, audience: str) -> list[Registration]:
    return [
        registration
        for registration in db.session.execute(
            select(Registration)
            .options(joinedload(Registration.user))
            .where(
                Registration.event_id == event.id,
                Registration.status == audience,
                Registration.walk_in.is_(False),
                Registration.user_id.is_not(None),
            )
            .order_by(Registration.id)
        ).scalars()
        if registration.user.deleted_at is None
    ]


def audience_counts(event: Event) -> dict[str, int]:
    """How many people a message to each audience reaches (the preview count)."""
    return {audience: len(_recipients(event, audience)) for audience in MessageAudience.all}


def _clean_message(audience: Any, subject: Any, body: Any) -> tuple[str, str, str]:
    if audience not in MessageAudience.all:
        raise invalid(_l("Elige a quién va el mensaje."), "audience")
    cleaned_subject = clean_text(subject, "subject", MAX_SUBJECT, required=True)
    if "\n" in cleaned_subject or "\r" in cleaned_subject or "\t" in cleaned_subject:
        raise invalid(_l("El asunto va en una sola línea."), "subject")
    cleaned_body = clean_text(body, "body", MAX_BODY, required=True)
    return audience, cleaned_subject, cleaned_body.replace("\r\n", "\n")


def message_digest(event: Event, audience: str, subject: str, body: str) -> str:
    """What makes two submissions the same message."""
    return hashlib.sha256(f"{event.id}\n{audience}\n{subject}\n{body}".encode()).hexdigest()


def send_message(actor: User, event: Event, audience: Any, subject: Any, body: Any) -> EventMessage:
    """Write one outbox row per confirmed (or waitlisted) person, in one transaction, audited.

    The same message twice (a double submit, a retried call) is refused by the unique
    digest; each row's dedupe key also carries it, so nobody gets it twice."""
    audience, subject, body = _clean_message(audience, subject, body)
    if event.status not in (EventStatus.published, EventStatus.completed):
        raise DomainError(
            _l("Solo se escribe a las personas de actividades publicadas."), code="not_published"
        )
    digest = message_digest(event, audience, subject, body)
    recipients = _recipients(event, audience)
    if not recipients:
        raise invalid(_l("No hay personas a quienes enviar este mensaje."), "audience")
    message = EventMessage(
        event_id=event.id,
        audience=audience,
        subject=subject,
        body=body,
        digest=digest,
        recipients=len(recipients),
        sent_by_id=actor.id,
        sent_at=utcnow(),
    )
    db.session.add(message)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise DomainError(
            _l("Este mensaje ya se envió; nadie lo recibirá dos veces."), code="already_sent"
        ) from None
    message.event = event
    link = services.event_url(event)
    for registration in recipients:
        registration.event = event
        notify(
            to=registration.user,
            kind="events.organiser_message",
            # The wrapper is translated for each recipient; the organiser's words are not.
            subject=_l("«%(title)s»: %(subject)s", title=event.title, subject=subject),
            template="events/email/organiser_message",
            dedupe_key=f"event-message:{event.id}:{digest[:40]}:{registration.id}",
            in_app=True,
            link=link,
            context={
                **services.email_context(event, registration),
                "message_subject": subject,
                "message_body": body,
                "sender_institution": event.institution.display_name,
            },
        )
    audit.record(
        "event.message_sent",
        event,
        actor=actor,
        details={
            "message_id": message.id,
            "audience": audience,
            "subject": subject,
            "recipients": len(recipients),
        },
    )
    db.session.commit()
    return message


def sent_messages(event: Event) -> list[EventMessage]:
    """The messages sent to the event's people, newest first."""
    return list(
        db.session.execute(
            select(EventMessage)
            .options(joinedload(EventMessage.sent_by))
            .where(EventMessage.event_id == event.id)
            .order_by(EventMessage.id.desc())
        ).scalars()
    )


# --- confirming a waitlisted person by hand --------------------------------------------


def promote_by_hand(
    actor: User, event: Event, registration_id: Any, *, raise_capacity: bool = False
) -> Registration:
    """Confirm a waitlisted person the organisers choose, under the capacity lock.

    When the event is full it is refused, unless the organiser explicitly raises the
    capacity by one seat (audited). The person is told as in an automatic promotion.
    Seats reserved per sector are the organiser's call here: only the total is enforced."""
    event = _lock_event(event.id)
    if event.status != EventStatus.published or utcnow() >= event.ends_at:
        raise DomainError(_l("Solo se confirma a alguien en actividades publicadas que no han terminado."))
    registration = _locked_registration(event, registration_id)
    if registration.status != RegistrationStatus.waitlisted:
        raise DomainError(
            _l("%(name)s no está en la lista de espera.", name=registration.display_name),
            code="not_waitlisted",
        )
    counts = services.seat_counts(event.id)
    if event.capacity is not None and counts.confirmed >= event.capacity:
        if not raise_capacity:
            raise DomainError(
                _l(
                    "La actividad está llena (%(confirmed)s de %(capacity)s). Para confirmar a %(name)s "
                    "hay que subir el cupo.",
                    confirmed=counts.confirmed,
                    capacity=event.capacity,
                    name=registration.display_name,
                ),
                code="event_full",
            )
        old_capacity = event.capacity
        event.capacity = counts.confirmed + 1
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


# --- the attendee list -------------------------------------------------------------------


def attendee_rows(event: Event) -> list[list[Any]]:
    """The attendee list with registration answers (header first), for CSV and XLSX."""
    registrations = services.registrations_of(event)
    positions = services.waitlist_positions(registrations)
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
                str(services.REGISTRATION_STATUS_LABELS[RegistrationStatus(registration.status)]),
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


def attendee_xlsx(event: Event) -> bytes:
    """The attendee list as an Excel workbook (cells are text, never formulas)."""
    return xlsx_document(attendee_rows(event), sheet_name=str(_l("Registros")))
