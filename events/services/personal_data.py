"""Personal data (ARCO): a person's registrations in their export, and what account deletion
does to them (seats given up, answers erased)."""

from __future__ import annotations

from typing import Any

from accounts import services as accounts_services
from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from events import reminders
from events.models import RegistrationStatus
from events.services.common import _lock_event
from events.services.listing import my_registrations
from events.services.registration import _promote_from_waitlist


def export_registrations(user: User) -> list[dict[str, Any]]:
    """A person's registrations, for their data export."""
    return [
        {
            "event_id": registration.event_id,
            "event": registration.event.title,
            "status": str(registration.status),
            "code": registration.code,
            "sector": registration.sector,
            "answers": registration.answers or {},
            "registered_at": registration.created_at.isoformat(),
            "checked_in_at": registration.checked_in_at.isoformat() if registration.checked_in_at else None,
        }
        for registration in my_registrations(user)
    ]


def erase_registrations(user: User) -> None:
    """On account deletion: give up future seats (promoting others) and drop answers."""
    now = utcnow()
    for registration in my_registrations(user):
        registration.answers = {}
        registration.erased = True
        event = registration.event
        if registration.status != RegistrationStatus.cancelled and event.starts_at > now:
            locked = _lock_event(event.id)
            was_confirmed = registration.status == RegistrationStatus.confirmed
            registration.status = RegistrationStatus.cancelled
            registration.cancelled_at = now
            db.session.flush()
            reminders.cancel_registration(registration)
            if was_confirmed:
                _promote_from_waitlist(locked)


accounts_services.PERSONAL_DATA_SECTIONS["event_registrations"] = export_registrations
if erase_registrations not in accounts_services.ERASERS:
    accounts_services.ERASERS.append(erase_registrations)
