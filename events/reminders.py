"""Event reminders on the notifications ledger (rows with fire_at, not Celery ETAs).

Registrants get one reminder per offset before the start (default 24 h and 1 h);
liaisons get a "record the outcome" reminder the day after the end, then daily for a
week and weekly for three more, until they record it. Every function here writes
inside the caller's transaction. What a row says is rendered at fire time by
`events.services.messages`, which decides whether it is still worth sending (so a stale
row never announces the wrong thing). This module never imports `events.services`: the
services call it, and hand it what it needs (the confirmed registrations of a moved event).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core.timeutil import utcnow
from events.models import Event, EventStatus, Registration, RegistrationStatus
from notifications.models import Category, ScheduledNotification
from notifications.services import cancel_scheduled, schedule

REMINDER_KIND = "events.reminder"
OUTCOME_KIND = "events.outcome_reminder"
OUTCOME_REMINDER_DAYS = (1, 2, 3, 4, 5, 6, 7, 14, 21, 28)


def subject_of(event: Event | int) -> str:
    """The ledger subject of an event's rows."""
    return f"event:{event if isinstance(event, int) else event.id}"


def event_id_of(row: ScheduledNotification) -> int | None:
    """The event a ledger row is about (None if the subject is not an event's)."""
    prefix, _, value = row.subject.partition(":")
    return int(value) if prefix == "event" and value.isdigit() else None


def offset_key(minutes: int) -> str:
    return f"{minutes}m"


def reminder_checksum(event: Event, minutes: int) -> str:
    """What a reminder announces: when and where. A change sends it again, updated."""
    parts = [
        str(minutes),
        event.starts_at.isoformat(),
        event.ends_at.isoformat(),
        event.timezone,
        str(event.format),
        event.venue or "",
        event.address or "",
        event.online_url or "",
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def outcome_checksum(event: Event) -> str:
    """What an outcome nudge announces: the end it follows. A moved end sends new ones."""
    return hashlib.sha256(f"outcome\x1f{event.ends_at.isoformat()}".encode()).hexdigest()


# --- scheduling ----------------------------------------------------------------------------


def sync_registration(registration: Registration, *, catch_up: bool = False) -> int:
    """Schedule a confirmed registration's reminders at each offset before the start.

    Offsets already past are skipped for a new registration (its confirmation just
    said everything); with `catch_up` (the event moved or changed place) a changed
    reminder whose time has passed goes out at once, until the start.
    """
    event = registration.event
    user = registration.user
    if (
        user is None
        or registration.status != RegistrationStatus.confirmed
        or event.status != EventStatus.published
    ):
        return 0
    now = utcnow()
    count = 0
    for minutes in event.reminder_offsets or []:
        fire_at = event.starts_at - timedelta(minutes=minutes)
        if event.starts_at <= now or (fire_at <= now and not catch_up):
            continue
        schedule(
            kind=REMINDER_KIND,
            subject=subject_of(event),
            recipient=user,
            fire_at=fire_at,
            offset_key=offset_key(minutes),
            checksum=reminder_checksum(event, minutes),
            category=Category.events,
            expires_at=event.starts_at,
        )
        count += 1
    return count


def sync_event(event: Event, registrations: Iterable[Registration]) -> None:
    """After a change of time, place or offsets: move the reminders of `registrations` (every
    confirmed person's, as the caller read them) and the liaisons' outcome nudges."""
    for registration in registrations:
        registration.event = event
        sync_registration(registration, catch_up=True)
    schedule_outcome_reminders(event)


def cancel_registration(registration: Registration) -> None:
    """Drop a person's pending reminders for the event."""
    if registration.user_id is not None:
        cancel_scheduled(
            subject=subject_of(registration.event_id), kind=REMINDER_KIND, recipient_id=registration.user_id
        )


def cancel_event(event: Event) -> None:
    """Drop every pending row of a cancelled event (reminders and outcome nudges)."""
    cancel_scheduled(subject=subject_of(event))


def schedule_outcome_reminders(event: Event) -> None:
    """Nudge the institution's liaisons to record the outcome, from the day after the end."""
    from core.choices import InstitutionRole
    from core.extensions import db
    from core.models import Membership, User

    if event.status != EventStatus.published:
        return
    liaisons = db.session.execute(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.institution_id == event.institution_id,
            Membership.role == InstitutionRole.liaison,
            User.deleted_at.is_(None),
        )
    ).scalars()
    checksum = outcome_checksum(event)
    now = utcnow()
    for liaison in liaisons:
        for day in OUTCOME_REMINDER_DAYS:
            if event.ends_at + timedelta(days=day) <= now:
                continue  # a nudge for a day already gone would only pile up with the next
            schedule(
                kind=OUTCOME_KIND,
                subject=subject_of(event),
                recipient=liaison,
                fire_at=event.ends_at + timedelta(days=day),
                offset_key=f"day{day}",
                checksum=checksum,
                category=Category.institution,
            )


def cancel_outcome_reminders(event: Event) -> None:
    """The outcome is recorded: stop nudging."""
    cancel_scheduled(subject=subject_of(event), kind=OUTCOME_KIND)


def reminder_rows(event: Event) -> list[dict[str, Any]]:
    """The ledger rows of an event, for its managers and the tests."""
    from notifications.services import scheduled_for

    return [
        {
            "kind": row.kind,
            "recipient_id": row.recipient_id,
            "offset_key": row.offset_key,
            "fire_at": row.fire_at,
            "status": str(row.status),
        }
        for row in scheduled_for(subject_of(event))
    ]
