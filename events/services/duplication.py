"""Duplicating an event: a new draft of the same institution at new dates, everything else
copied (the agenda and the registration window move with the start)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from core.models import User
from core.validation import FieldErrors, as_utc
from core.validation import invalid as _invalid
from events.models import ConsentStatus, DatasetRelation, Event
from events.services.editing import _new_event, _save_new_event


def duplicate_event(actor: User, source: Event, starts_at: Any, ends_at: Any) -> Event:
    """A new draft of the same institution copying `source` at new times (audited): the agenda
    and the registration window move with the start; registrations and outcomes stay behind."""
    errors = FieldErrors()
    zone = source.timezone
    with errors.check("starts_at"):
        start = as_utc(starts_at, zone, "starts_at")
        if start is None:
            raise _invalid(_l("Este campo es obligatorio."), "starts_at")
    with errors.check("ends_at"):
        end = as_utc(ends_at, zone, "ends_at")
        if end is None:
            raise _invalid(_l("Este campo es obligatorio."), "ends_at")
    errors.raise_if_any()
    delta = start - source.starts_at

    def moved(value: datetime | None) -> datetime | None:
        return value + delta if value is not None else None

    data = {
        "kind": str(source.kind),
        "title": source.title,
        "summary": source.summary,
        "description": source.description,
        "topics": list(source.topics or []),
        "format": str(source.format),
        "venue": source.venue,
        "address": source.address,
        "state": source.state,
        "latitude": source.latitude,
        "longitude": source.longitude,
        "online_url": source.online_url,
        "timezone": zone,
        "starts_at": start,
        "ends_at": end,
        "registration_opens_at": moved(source.registration_opens_at),
        "registration_closes_at": moved(source.registration_closes_at),
        "capacity": source.capacity,
        "waitlist": source.waitlist_enabled,
        "reminder_offsets_minutes": list(source.reminder_offsets or []),
        "sector_seats": dict(source.seats_by_sector),
        "academic_partner": source.academic_partner,
        "cohosts": [c.institution.slug for c in source.cohosts if c.status != ConsentStatus.declined],
        "datasets": [{"title": d.title, "url": d.url} for d in source.datasets_for(DatasetRelation.linked)],
        "questions": [
            {
                "kind": str(q.kind),
                "prompt": q.prompt,
                "choices": list(q.choices or []),
                "required": q.required,
            }
            for q in source.questions
        ],
        "agenda": [
            {"starts_at": item.starts_at + delta, "title": item.title, "speaker": item.speaker}
            for item in source.agenda
        ],
    }
    event, named = _new_event(actor, source.institution, data)
    # The cover is shared, not copied: images are deleted only when nothing refers to them.
    event.cover_image_id, event.cover_alt = source.cover_image_id, source.cover_alt
    return _save_new_event(actor, event, named, "event.duplicate", {"source_event_id": source.id})
