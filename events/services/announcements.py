"""Messages the organisers write to everyone confirmed (or waitlisted) at an event, through
the outbox: one row per person, deduplicated, audited.

They are the category `event_messages`: each person's preference decides (email now, a
digest, the notification centre only, or nothing), and the email's unsubscribe link turns off
only these. What must always arrive -- a new time, a cancellation -- is sent by editing or
cancelling the event, as transactional mail (`events.services.editing`)."""

from __future__ import annotations

import hashlib
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from core.validation import clean_text, invalid
from events.dayof_models import EventMessage, MessageAudience
from events.models import Event, EventStatus, Registration
from events.services.messages import email_context, event_url
from notifications.models import Category
from notifications.services import notify

MAX_SUBJECT = 200
MAX_BODY = 5000
# The notification centre and digest lines keep up to this much of the organiser's words.
MAX_EXCERPT = 1000

AUDIENCE_LABELS = {
    MessageAudience.confirmed: _l("Personas confirmadas"),
    MessageAudience.waitlisted: _l("Personas en lista de espera"),
}


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


def _excerpt(body: str) -> str:
    return body if len(body) <= MAX_EXCERPT else body[: MAX_EXCERPT - 1].rstrip() + "…"


def message_digest(event: Event, audience: str, subject: str, body: str) -> str:
    """What makes two submissions the same message."""
    return hashlib.sha256(f"{event.id}\n{audience}\n{subject}\n{body}".encode()).hexdigest()


def send_message(actor: User, event: Event, audience: Any, subject: Any, body: Any) -> EventMessage:
    """Tell every confirmed (or waitlisted) person, each as their `event_messages` preference
    says, in one transaction, audited.

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
    link = event_url(event)
    excerpt = _excerpt(body)
    for registration in recipients:
        registration.event = event
        notify(
            to=registration.user,
            kind="events.organiser_message",
            # The wrapper is translated for each recipient; the organiser's words are not.
            subject=_l("«%(title)s»: %(subject)s", title=event.title, subject=subject),
            template="events/email/organiser_message",
            dedupe_key=f"event-message:{event.id}:{digest[:40]}:{registration.id}",
            category=Category.event_messages,
            link=link,
            # The centre and a digest line carry the words too: for some it is the only copy.
            summary=excerpt,
            context={
                **email_context(event, registration),
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
