"""What registrants receive: email context, QR codes, `.ics` attachments, the confirmation and
change (time and/or place) notices, and the reminders' content at fire time."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import segno
from flask import current_app
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from core.urls import external_url
from events import ical, reminders
from events.models import Event, EventFormat, EventStatus, Registration, RegistrationStatus
from events.services.common import FORMAT_LABELS, KIND_LABELS, _active_registrations, get_event
from notifications.models import ScheduledNotification
from notifications.services import (
    RenderedMessage,
    RenderedReminder,
    notify,
    notify_later,
    register_message_renderer,
    register_renderer,
)


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


def qr_cid(code: str) -> str:
    """The Content-ID of a confirmation's inline QR code."""
    return f"qr-{code.lower()}@promueve"


def confirmation_attachments(event: Event, user: User, code: str) -> list[dict[str, str]]:
    """The QR code (inline) and the .ics invitation of a confirmation email."""
    return [
        _attachment(
            attachment_name(user, "registration", code, "png"),
            "image/png",
            qr_png(code),
            content_id=qr_cid(code),
        ),
        ics_attachment(event, user, "REQUEST"),
    ]


def _notify_confirmed(registration: Registration, *, promoted: bool) -> None:
    """The confirmation (or promotion) email: its outbox row now, rendered when sent
    (`events.messages`), with the QR code and the `.ics` of the event as it is then."""
    event = registration.event
    notify_later(
        to=registration.user,
        kind=PROMOTED_KIND if promoted else CONFIRMED_KIND,
        subject=(
            _l("Se liberó un lugar: estás confirmado en «%(title)s»", title=event.title)
            if promoted
            else _l("Registro confirmado: «%(title)s»", title=event.title)
        ),
        dedupe_key=f"event-registration:{registration.id}:{'promoted' if promoted else 'confirmed'}",
        refs=refs_of(registration),
        in_app=True,  # also in the notification centre, as a history
        link=event_url(event),
        fresh=not promoted,  # a new registration's key holds the id just inserted
    )


RESCHEDULED_KIND = "events.event_rescheduled"
RELOCATED_KIND = "events.event_relocated"


@dataclass(frozen=True)
class Place:
    """Where an event happens, as registrants see it (the link only counts when it is used)."""

    format: str
    venue: str | None
    address: str | None
    state: str | None
    online_url: str | None

    def without_link(self) -> Place:
        return replace(self, online_url=None)

    def as_dict(self) -> dict[str, str | None]:
        return {
            "format": self.format,
            "venue": self.venue,
            "address": self.address,
            "state": self.state,
            "online_url": self.online_url,
        }


def place_of(event: Event) -> Place:
    """The place of `event` now (coordinates only place the map pin: not part of it)."""
    online = event.format in (EventFormat.online, EventFormat.hybrid)
    return Place(
        format=str(event.format),
        venue=event.venue or None,
        address=event.address or None,
        state=event.state or None,
        online_url=(event.online_url or None) if online else None,
    )


def _place_changes(old: Place, new: Place) -> list[tuple[Any, Any, Any]]:
    """(label, before, after) for each part of the place that differs; an empty part is "—"."""

    def shown(value: str | None) -> str:
        return value or "—"

    changes: list[tuple[Any, Any, Any]] = []
    if old.format != new.format:
        changes.append(
            (
                _l("Modalidad"),
                FORMAT_LABELS.get(EventFormat(old.format), old.format),  # lazy: the recipient's words
                FORMAT_LABELS.get(EventFormat(new.format), new.format),
            )
        )
    for label, name in ((_l("Sede"), "venue"), (_l("Dirección"), "address"), (_l("Entidad"), "state")):
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changes.append((label, shown(before), shown(after)))
    if old.online_url != new.online_url:
        changes.append((_l("Enlace para participar en línea"), shown(old.online_url), shown(new.online_url)))
    return changes


def _change_subject(title: str, *, moved: bool, place: bool, link_only: bool) -> LazyString:
    if moved and place:
        if link_only:
            return _l("Cambió la fecha y el enlace de «%(title)s»", title=title)
        return _l("Cambió la fecha y el lugar de «%(title)s»", title=title)
    if moved:
        return _l("Cambió la fecha de «%(title)s»", title=title)
    if link_only:
        return _l("Cambió el enlace de «%(title)s»", title=title)
    return _l("Cambió el lugar de «%(title)s»", title=title)


def _notify_changed(
    event: Event, *, moved_from: tuple[datetime, datetime] | None, old_place: Place | None
) -> None:
    """Tell each registrant, in one transactional notice, that the time and/or the place of
    `event` changed (old → new), with the `.ics` that moves it in their calendar.

    Written in the caller's transaction, once per registration and `SEQUENCE` (a retry of
    the same edit finds its rows). Waitlisted people hold no calendar entry and never see
    the online link: they get no `.ics`, and no notice when only the link changed.
    """
    new_place = place_of(event)
    for registration in _active_registrations(event.id):
        if registration.user is None or registration.walk_in:
            continue
        confirmed = registration.status == RegistrationStatus.confirmed
        changes: list[tuple[Any, Any, Any]] = []
        if old_place is not None:
            if confirmed:
                changes = _place_changes(old_place, new_place)
            else:
                changes = _place_changes(old_place.without_link(), new_place.without_link())
        if moved_from is None and not changes:
            continue
        link_only = bool(changes) and old_place.without_link() == new_place.without_link()
        context: dict[str, Any] = {
            **email_context(event, registration),
            "moved": moved_from is not None,
            "place_changes": changes,
            "link_only": link_only,
        }
        if moved_from is not None:
            context.update(old_starts_at=moved_from[0], old_ends_at=moved_from[1])
        notify(
            to=registration.user,
            kind=RESCHEDULED_KIND if moved_from is not None else RELOCATED_KIND,
            subject=_change_subject(
                event.title, moved=moved_from is not None, place=bool(changes), link_only=link_only
            ),
            template="events/email/event_rescheduled",
            # One per edit (each bumps SEQUENCE) and person, whichever parts it covers.
            dedupe_key=f"event-rescheduled:{event.id}:{event.sequence}:{registration.id}",
            in_app=True,  # also in the notification centre, as a history
            link=event_url(event),
            context=context,
            attachments=[ics_attachment(event, registration.user, "REQUEST")] if confirmed else None,
        )


def map_url(event: Event) -> str | None:
    """An OpenStreetMap link for the event's coordinates, if it has them."""
    if event.latitude is None or event.longitude is None:
        return None
    lat, lon = f"{event.latitude:.6f}", f"{event.longitude:.6f}"
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


# The reminders' content, rendered by the ledger when a row is due (`events.reminders` schedules them).


# --- registration emails, rendered by the mail worker at send time ----------------------------

CONFIRMED_KIND = "events.registration_confirmed"
PROMOTED_KIND = "events.registration_promoted"
WAITLISTED_KIND = "events.registration_waitlisted"


def refs_of(registration: Registration) -> dict[str, int]:
    """What the renderers need of a registration (its event is read through it)."""
    return {"registration": registration.id, "event": registration.event_id}


def _registration_for_message(refs: Mapping[str, Any]) -> Registration | None:
    registration_id = refs.get("registration")
    if not isinstance(registration_id, int):
        return None
    return db.session.execute(
        select(Registration)
        .options(joinedload(Registration.event).joinedload(Event.institution))
        .where(Registration.id == registration_id)
    ).scalar_one_or_none()


def render_confirmed(
    refs: Mapping[str, Any], user: User | None, *, promoted: bool = False
) -> RenderedMessage:
    """The confirmation (or promotion) with its QR code and `.ics`, as the event is now."""
    registration = _registration_for_message(refs)
    if registration is None or user is None:
        return RenderedMessage.skip("registration or account gone")
    if registration.status == RegistrationStatus.cancelled:
        return RenderedMessage.skip("registration cancelled before the confirmation went out")
    event = registration.event
    registration.user = user
    title = event.title
    return RenderedMessage(
        subject=(
            _l("Se liberó un lugar: estás confirmado en «%(title)s»", title=title)
            if promoted
            else _l("Registro confirmado: «%(title)s»", title=title)
        ),
        template="events/email/confirmed",
        context={
            **email_context(event, registration),
            "promoted": promoted,
            "qr_cid": qr_cid(registration.code),
        },
        attachments=confirmation_attachments(event, user, registration.code),
    )


def render_promoted(refs: Mapping[str, Any], user: User | None) -> RenderedMessage:
    """A waitlisted person's confirmation, once a seat freed up."""
    return render_confirmed(refs, user, promoted=True)


def render_waitlisted(refs: Mapping[str, Any], user: User | None) -> RenderedMessage:
    """The waitlist notice, with the person's place in line when it is sent."""
    from events.services.registration import waitlist_position

    registration = _registration_for_message(refs)
    if registration is None or user is None:
        return RenderedMessage.skip("registration or account gone")
    if registration.status != RegistrationStatus.waitlisted:
        return RenderedMessage.skip("no longer waitlisted")  # promoted (that email says so) or cancelled
    event = registration.event
    registration.user = user
    return RenderedMessage(
        subject=_l("Estás en la lista de espera de «%(title)s»", title=event.title),
        template="events/email/waitlisted",
        context={**email_context(event, registration), "position": waitlist_position(registration)},
    )


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
register_message_renderer(CONFIRMED_KIND, render_confirmed)
register_message_renderer(PROMOTED_KIND, render_promoted)
register_message_renderer(WAITLISTED_KIND, render_waitlisted)
