"""What registrants receive: email context, QR codes, `.ics` attachments, the confirmation and
reschedule notices, and the reminders' content at fire time."""

from __future__ import annotations

import base64
import io
from datetime import datetime
from typing import Any

import segno
from flask import current_app
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from core.urls import external_url
from events import ical, reminders
from events.models import Event, EventStatus, Registration, RegistrationStatus
from events.services.common import FORMAT_LABELS, KIND_LABELS, _active_registrations, get_event
from notifications.models import ScheduledNotification
from notifications.services import RenderedReminder, notify, register_renderer


def event_url(event: Event) -> str:
    """The public page of an event, absolute (for emails and calendars)."""
    return external_url("events.detail", event_id=event.id)


def email_context(event: Event, registration: Registration | None = None) -> dict[str, Any]:
    return {
        "event": event,
        "registration": registration,
        "event_url": event_url(event),
        "kind_label": KIND_LABELS.get(event.kind, event.kind),
        "format_label": FORMAT_LABELS.get(event.format, event.format),
        "institution": event.institution.display_name,
        "institution_name": event.institution.name,
        "map_url": map_url(event),
        "my_events_url": external_url("events.my_events"),
    }


def qr_png(code: str) -> bytes:
    """The QR code of a registration code, as PNG (for emails)."""
    buffer = io.BytesIO()
    segno.make(code, error="m", micro=False).save(buffer, kind="png", scale=8, border=2)
    return buffer.getvalue()


def qr_svg_data_uri(code: str) -> str:
    """The QR code of a registration code, as an SVG data URI (for pages; CSP allows data:)."""
    return segno.make(code, error="m", micro=False).svg_data_uri(scale=6, border=2, title=code)


def _attachment(filename: str, content_type: str, data: bytes, **extra: str) -> dict[str, str]:
    return {
        "filename": filename,
        "content_type": content_type,
        "data": base64.b64encode(data).decode("ascii"),
        **extra,
    }


def ics_bytes(
    event: Event, method: str, user: User | None = None, *, include_online_url: bool = False
) -> bytes:
    """The event as an iTIP message (REQUEST or CANCEL) for one person."""
    from email.utils import parseaddr

    organizer = parseaddr(current_app.config["MAIL_FROM"])[1] or "no-reply@promueve.localhost"
    attendee = ical.Attendee(email=user.email, name=user.name) if user is not None else None
    with _recipient_locale(user):
        category = str(KIND_LABELS.get(event.kind, event.kind))
    return ical.event_calendar(
        event,
        method=method,
        host=ical.host_of(current_app.config["BASE_URL"]),
        url=event_url(event),
        organizer_email=organizer,
        include_online_url=include_online_url,
        attendee=attendee,
        category=category,
    )


def _recipient_locale(user: User | None):
    """Render in the recipient's language (the platform default for no one in particular)."""
    from flask_babel import force_locale

    return force_locale((user.locale if user is not None else None) or current_app.config["DEFAULT_LOCALE"])


def attachment_name(user: User | None, kind: str, ident: Any, extension: str) -> str:
    """An attachment's file name in the recipient's language ("activity-12.ics")."""
    from flask_babel import gettext

    with _recipient_locale(user):
        # Translators: file name words, lowercase ASCII without spaces.
        words = {"activity": gettext("actividad"), "registration": gettext("registro")}
    return f"{words[kind]}-{ident}.{extension}"


def ics_attachment(event: Event, user: User, method: str) -> dict[str, str]:
    data = ics_bytes(event, method, user, include_online_url=method == "REQUEST")
    return _attachment(
        attachment_name(user, "activity", event.id, "ics"), "text/calendar", data, method=method
    )


def _qr_cid(code: str) -> str:
    return f"qr-{code.lower()}@promueve"


def _confirmation_attachments(event: Event, user: User, code: str) -> list[dict[str, str]]:
    """The QR code (inline) and the .ics invitation of a confirmation email."""
    return [
        _attachment(
            attachment_name(user, "registration", code, "png"),
            "image/png",
            qr_png(code),
            content_id=_qr_cid(code),
        ),
        ics_attachment(event, user, "REQUEST"),
    ]


def _notify_confirmed(
    registration: Registration, *, promoted: bool, attachments: list[dict[str, str]] | None = None
) -> None:
    event = registration.event
    user = registration.user
    qr_cid = _qr_cid(registration.code)
    notify(
        to=user,
        kind="events.registration_promoted" if promoted else "events.registration_confirmed",
        subject=(
            _l("Se liberó un lugar: estás confirmado en «%(title)s»", title=event.title)
            if promoted
            else _l("Registro confirmado: «%(title)s»", title=event.title)
        ),
        template="events/email/confirmed",
        dedupe_key=f"event-registration:{registration.id}:{'promoted' if promoted else 'confirmed'}",
        in_app=True,  # also in the notification centre, as a history
        link=event_url(event),
        context={**email_context(event, registration), "promoted": promoted, "qr_cid": qr_cid},
        attachments=attachments or _confirmation_attachments(event, user, registration.code),
    )


def _notify_rescheduled(event: Event, old_start: datetime, old_end: datetime) -> None:
    for registration in _active_registrations(event.id):
        if registration.user is None or registration.walk_in:
            continue
        confirmed = registration.status == RegistrationStatus.confirmed
        notify(
            to=registration.user,
            kind="events.event_rescheduled",
            subject=_l("Cambió la fecha de «%(title)s»", title=event.title),
            template="events/email/event_rescheduled",
            dedupe_key=f"event-rescheduled:{event.id}:{event.sequence}:{registration.id}",
            in_app=True,  # also in the notification centre, as a history
            link=event_url(event),
            context={
                **email_context(event, registration),
                "old_starts_at": old_start,
                "old_ends_at": old_end,
            },
            attachments=[ics_attachment(event, registration.user, "REQUEST")] if confirmed else None,
        )


def map_url(event: Event) -> str | None:
    """An OpenStreetMap link for the event's coordinates, if it has them."""
    if event.latitude is None or event.longitude is None:
        return None
    lat, lon = f"{event.latitude:.6f}", f"{event.longitude:.6f}"
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


# The reminders' content, rendered by the ledger when a row is due (`events.reminders` schedules them).


def _lazy(func) -> LazyString:
    return LazyString(func)


def render_reminder(row: ScheduledNotification) -> RenderedReminder | None:
    """A registrant's reminder, if still true: confirmed, event on, not started, same details."""
    from events.rendering import event_span, event_time

    event_id = reminders.event_id_of(row)
    event = get_event(event_id) if event_id else None
    if event is None:
        return RenderedReminder.skip("event deleted")
    if event.status != EventStatus.published:
        return RenderedReminder.skip(f"event {event.status}")
    if utcnow() >= event.starts_at:
        return RenderedReminder.skip("event already started")
    minutes = int(row.offset_key.rstrip("m")) if row.offset_key.rstrip("m").isdigit() else None
    if minutes not in (event.reminder_offsets or []):
        return RenderedReminder.skip("offset no longer configured")
    if row.checksum != reminders.reminder_checksum(event, minutes):
        return RenderedReminder.skip("outdated version")
    registration = db.session.execute(
        select(Registration).where(
            Registration.event_id == event.id,
            Registration.user_id == row.recipient_id,
            Registration.status == RegistrationStatus.confirmed,
        )
    ).scalar_one_or_none()
    if registration is None:
        return RenderedReminder.skip("no confirmed registration")
    user = row.recipient
    registration.user = user
    registration.event = event
    title = event.title
    return RenderedReminder(
        subject=_lazy(
            lambda: _(
                "Recordatorio: «%(title)s», %(when)s",
                title=title,
                when=event_time(event.starts_at, event.timezone),
            )
        ),
        template="events/email/reminder",
        context={**email_context(event, registration), "minutes": minutes},
        link=f"/events/{event.id}",
        summary=_lazy(lambda: event_span(event.starts_at, event.ends_at, event.timezone)),
        attachments=[ics_attachment(event, user, "REQUEST")],
    )


def render_outcome_reminder(row: ScheduledNotification) -> RenderedReminder | None:
    """A liaison's nudge to record the outcome, while the event has none."""

    event_id = reminders.event_id_of(row)
    event = get_event(event_id) if event_id else None
    if event is None or event.status != EventStatus.published or event.outcome is not None:
        return RenderedReminder.skip("outcome recorded or event not published")
    if row.checksum != reminders.outcome_checksum(event):
        return RenderedReminder.skip("outdated version")
    title = event.title
    return RenderedReminder(
        subject=_lazy(lambda: _("Registra el resultado de «%(title)s»", title=title)),
        template="events/email/outcome_reminder",
        context={
            **email_context(event),
            "outcome_url": external_url("events.outcome", event_id=event.id),
        },
        link=f"/events/{event.id}/outcome",
        summary=_lazy(lambda: _("Asistencia, minuta, acuerdos y datos de «%(title)s».", title=title)),
    )


register_renderer(reminders.REMINDER_KIND, render_reminder)
register_renderer(reminders.OUTCOME_KIND, render_outcome_reminder)
