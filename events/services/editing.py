"""Creating and editing events: field cleaners, create, update and reschedule, and the
lifecycle transitions (publish, cancel, delete a draft, complete)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core import audit
from core.choices import MEXICAN_STATES, Sector
from core.exceptions import DomainError, ValidationErrors
from core.extensions import db
from core.images import prune_images
from core.models import Institution, User
from core.timeutil import is_valid_timezone, to_zone, utcnow
from core.validation import FieldErrors, as_utc, clean_url
from core.validation import clean_text as _clean_text
from core.validation import invalid as _invalid
from events import reminders, search
from events.models import (
    AgendaItem,
    DatasetRelation,
    Event,
    EventCohost,
    EventDataset,
    EventFormat,
    EventKind,
    EventStatus,
    QuestionKind,
    Registration,
    RegistrationQuestion,
    SectorSeats,
)
from events.services.common import (
    DEFAULT_REMINDER_OFFSETS,
    MAX_EVENT_LENGTH,
    MAX_REMINDER_MINUTES,
    SeatCounts,
    _active_registrations,
    _lock_event,
    confirmed_registrations,
    seat_counts,
)
from events.services.consent import _ask_consents, _sync_cohosts
from events.services.images import event_image_ids
from events.services.messages import _notify_changed, email_context, event_url, ics_attachment, place_of
from events.services.registration import _promote_from_waitlist
from notifications.services import notify

# A draft is never cancelled (that would make it public): it is deleted (`delete_draft`).
TRANSITIONS = {
    EventStatus.draft: {EventStatus.published},
    EventStatus.published: {EventStatus.completed, EventStatus.cancelled},
    EventStatus.completed: set(),
    EventStatus.cancelled: set(),
}


EVENT_FIELDS = (
    "kind",
    "title",
    "summary",
    "description",
    "topics",
    "format",
    "venue",
    "address",
    "state",
    "latitude",
    "longitude",
    "online_url",
    "starts_at",
    "ends_at",
    "timezone",
    "capacity",
    "waitlist",
    "registration_opens_at",
    "registration_closes_at",
    "reminder_offsets_minutes",
    "sector_seats",
    "academic_partner",
    "agenda",
    "datasets",
    "cohosts",
    "questions",
)
# Changes to these reach people's calendars (SEQUENCE) and, when the time or the place (see
# `messages.place_of`) moves, their inboxes.
CALENDAR_FIELDS = {
    "title",
    "summary",
    "format",
    "venue",
    "address",
    "state",
    "latitude",
    "longitude",
    "online_url",
    "starts_at",
    "ends_at",
    "timezone",
}


def _clean_topics(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise _invalid(_l("Escribe los temas separados por comas."), "topics")
    topics: list[str] = []
    for item in value:
        topic = _clean_text(item, "topics", 60)
        if topic and topic.lower() not in {t.lower() for t in topics}:
            topics.append(topic)
    if len(topics) > 12:
        raise _invalid(_l("Usa hasta 12 temas."), "topics")
    return topics


def _clean_offsets(value: Any) -> list[int]:
    if value is None:
        return list(DEFAULT_REMINDER_OFFSETS)
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value) if part]
    offsets: set[int] = set()
    try:
        for item in value:
            minutes = int(item)
            if not 1 <= minutes <= MAX_REMINDER_MINUTES:
                raise ValueError
            offsets.add(minutes)
    except (TypeError, ValueError):
        raise _invalid(
            _l(
                "Escribe minutos antes del inicio, entre 1 y %(max)s, separados por comas.",
                max=MAX_REMINDER_MINUTES,
            ),
            "reminder_offsets_minutes",
        ) from None
    if len(offsets) > 5:
        raise _invalid(_l("Usa hasta 5 recordatorios."), "reminder_offsets_minutes")
    return sorted(offsets, reverse=True)


def _clean_sector_seats(value: Any) -> dict[str, int]:
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise _invalid(_l("Indica los lugares por sector."), "sector_seats")
    seats: dict[str, int] = {}
    for sector, number in value.items():
        if sector not in Sector.__members__:
            raise _invalid(_l("«%(sector)s» no es un sector de la lista.", sector=sector), "sector_seats")
        if number in (None, ""):
            continue
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise _invalid(_l("Los lugares por sector deben ser números enteros."), "sector_seats") from None
        if number < 0 or number > 100000:
            raise _invalid(_l("Los lugares por sector deben ser números enteros."), "sector_seats")
        if number:
            seats[sector] = number
    return seats


def _clean_datasets(value: Any, field_name: str = "datasets") -> list[tuple[str, str]]:
    if not value:
        return []
    if not isinstance(value, list | tuple):
        raise _invalid(_l("Indica cada conjunto de datos con título y dirección."), field_name)
    if len(value) > 30:
        raise _invalid(_l("Usa hasta 30 conjuntos de datos."), field_name)
    datasets = []
    for item in value:
        if not isinstance(item, Mapping):
            raise _invalid(_l("Indica cada conjunto de datos con título y dirección."), field_name)
        url = clean_url(item.get("url"), field_name, required=True)
        title = _clean_text(item.get("title"), field_name, 300) or url
        datasets.append((title, url))
    return datasets


def _clean_agenda(value: Any, starts_at: datetime, zone: str) -> list[tuple[datetime, str, str | None]]:
    if not value:
        return []
    if not isinstance(value, list | tuple) or len(value) > 60:
        raise _invalid(_l("Escribe hasta 60 puntos de agenda."), "agenda")
    local_day = to_zone(starts_at, zone).date()
    items = []
    for item in value:
        if not isinstance(item, Mapping):
            raise _invalid(_l("Cada punto de agenda necesita hora y título."), "agenda")
        raw_time = item.get("starts_at") or item.get("time")
        title = _clean_text(item.get("title"), "agenda", 300, required=True)
        speaker = _clean_text(item.get("speaker"), "agenda", 200)
        if isinstance(raw_time, str) and re.fullmatch(r"\d{1,2}:\d{2}", raw_time.strip()):
            hours, minutes = (int(part) for part in raw_time.strip().split(":"))
            if hours > 23 or minutes > 59:
                raise _invalid(_l("Escribe la hora como HH:MM."), "agenda")
            moment = as_utc(datetime.combine(local_day, time(hours, minutes)), zone, "agenda")
        else:
            moment = as_utc(raw_time, zone, "agenda")
        if moment is None:
            raise _invalid(_l("Cada punto de agenda necesita hora y título."), "agenda")
        items.append((moment, title, speaker))
    return sorted(items, key=lambda entry: entry[0])


def _clean_questions(value: Any) -> list[dict[str, Any]]:
    if not value:
        return []
    if not isinstance(value, list | tuple) or len(value) > 10:
        raise _invalid(_l("Usa hasta 10 preguntas."), "questions")
    questions = []
    for item in value:
        if not isinstance(item, Mapping):
            raise _invalid(_l("Cada pregunta necesita un texto."), "questions")
        kind = item.get("kind") or QuestionKind.short_text
        if kind not in QuestionKind.__members__:
            raise _invalid(_l("Tipo de pregunta no válido."), "questions")
        prompt = _clean_text(item.get("prompt"), "questions", 300, required=True)
        choices: list[str] = []
        if kind == QuestionKind.single_choice:
            raw = item.get("choices") or []
            if isinstance(raw, str):
                raw = raw.split("|")
            choices = [c for c in (_clean_text(choice, "questions", 120) for choice in raw) if c]
            if not 2 <= len(choices) <= 20 or len(set(choices)) != len(choices):
                raise _invalid(
                    _l("Una pregunta de opción única necesita de 2 a 20 opciones distintas."), "questions"
                )
        questions.append(
            {"kind": kind, "prompt": prompt, "choices": choices, "required": bool(item.get("required"))}
        )
    return questions


def _institutions_by_slug(slugs: Any, field_name: str) -> list[Institution]:
    if not slugs:
        return []
    if isinstance(slugs, str):
        slugs = [part for part in re.split(r"[,\s]+", slugs) if part]
    slugs = list(dict.fromkeys(str(slug).strip().lower() for slug in slugs))
    found = {
        institution.slug: institution
        for institution in db.session.execute(
            select(Institution).where(Institution.slug.in_(slugs))
        ).scalars()
    }
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        raise _invalid(_l("No existe la institución «%(slug)s».", slug=missing[0]), field_name)
    return [found[slug] for slug in slugs]


def _apply_fields(
    event: Event,
    data: Mapping[str, Any],
    *,
    creating: bool,
    actor: User | None = None,
    named: list[EventCohost] | None = None,
) -> set[str]:
    """Validate `data` (API names) and write it on `event`; returns the names that changed.

    Every field is checked even after one is refused, so the caller hears about all of them
    at once (ValidationErrors; a single refusal is raised as it was). Co-hosts named for the
    first time are appended to `named` (their consent is asked once the event has an id).
    """
    changed: set[str] = set()
    errors = FieldErrors()

    def put(name: str, attribute: str, value: Any) -> None:
        if getattr(event, attribute) != value:
            setattr(event, attribute, value)
            changed.add(name)

    # Nothing reaches the database before every field is judged: a half-applied edit (an end
    # before the start) would trip the table's constraints on an autoflush.
    writes: list[Callable[[], None]] = []
    with db.session.no_autoflush:
        if "kind" in data:
            with errors.check("kind"):
                kind = data["kind"]
                if kind not in EventKind.__members__:
                    raise _invalid(_l("Elige un tipo de actividad de la lista."), "kind")
                if not creating and event.status != EventStatus.draft and kind != event.kind:
                    raise DomainError(_l("El tipo de actividad solo se cambia en borrador."), field="kind")
                put("kind", "kind", EventKind(kind))
        if "title" in data:
            with errors.check("title"):
                put("title", "title", _clean_text(data["title"], "title", 200, required=True))
        if "summary" in data:
            with errors.check("summary"):
                put("summary", "summary", _clean_text(data["summary"], "summary", 500) or "")
        if "description" in data:
            with errors.check("description"):
                put(
                    "description", "description", _clean_text(data["description"], "description", 20000) or ""
                )
        if "topics" in data:
            with errors.check("topics"):
                put("topics", "topics", _clean_topics(data["topics"]))
        if "format" in data:
            with errors.check("format"):
                if data["format"] not in EventFormat.__members__:
                    raise _invalid(_l("Elige una modalidad de la lista."), "format")
                put("format", "format", EventFormat(data["format"]))
        for name, limit in (("venue", 200), ("address", 500), ("academic_partner", 200)):
            if name in data:
                with errors.check(name):
                    put(name, name, _clean_text(data[name], name, limit))
        if "state" in data:
            with errors.check("state"):
                state = _clean_text(data["state"], "state", 64)
                if state is not None and state not in MEXICAN_STATES:
                    raise _invalid(_l("Elige una entidad federativa de la lista."), "state")
                put("state", "state", state)
        for name, low, high in (("latitude", -90, 90), ("longitude", -180, 180)):
            if name in data:
                with errors.check(name):
                    raw = data[name]
                    value = None
                    if raw not in (None, ""):
                        try:
                            value = float(raw)
                        except (TypeError, ValueError):
                            raise _invalid(_l("Escribe una coordenada válida."), name) from None
                        if not low <= value <= high or math.isnan(value):
                            raise _invalid(_l("Escribe una coordenada válida."), name)
                    put(name, name, value)
        if "online_url" in data:
            with errors.check("online_url"):
                put("online_url", "online_url", clean_url(data["online_url"], "online_url"))
        if data.get("timezone"):
            with errors.check("timezone"):
                if not is_valid_timezone(data["timezone"]):
                    raise _invalid(_l("Elige una zona horaria válida."), "timezone")
                put("timezone", "timezone", data["timezone"])
        zone = event.timezone
        for name in ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at"):
            if name in data:
                with errors.check(name):
                    value = as_utc(data[name], zone, name)
                    if value is None and name in ("starts_at", "ends_at"):
                        raise _invalid(_l("Este campo es obligatorio."), name)
                    put(name, name, value)
        if "capacity" in data:
            with errors.check("capacity"):
                capacity = data["capacity"]
                if capacity in ("", None):
                    capacity = None
                else:
                    try:
                        capacity = int(capacity)
                    except (TypeError, ValueError):
                        raise _invalid(_l("El cupo debe ser un número entero."), "capacity") from None
                    if not 1 <= capacity <= 1_000_000:
                        raise _invalid(
                            _l("El cupo debe ser al menos 1 (déjalo vacío si no hay límite)."), "capacity"
                        )
                put("capacity", "capacity", capacity)
        if "waitlist" in data:
            put("waitlist", "waitlist_enabled", bool(data["waitlist"]))
        if "reminder_offsets_minutes" in data:
            with errors.check("reminder_offsets_minutes"):
                offsets = _clean_offsets(data["reminder_offsets_minutes"])
                put("reminder_offsets_minutes", "reminder_offsets", offsets)
        if "sector_seats" in data:
            with errors.check("sector_seats"):
                seats = _clean_sector_seats(data["sector_seats"])
                if seats != event.seats_by_sector:
                    existing = {str(row.sector): row for row in event.sector_seats}
                    for sector, row in existing.items():
                        if sector not in seats:
                            event.sector_seats.remove(row)
                    for sector, number in seats.items():
                        if sector in existing:
                            existing[sector].seats = number
                        else:
                            event.sector_seats.append(SectorSeats(sector=sector, seats=number))
                    changed.add("sector_seats")
        if "cohosts" in data:
            with errors.check("cohosts"):
                cohosts = [
                    i
                    for i in _institutions_by_slug(data["cohosts"], "cohosts")
                    if i.id != event.institution_id
                ]
                if len(cohosts) > 20:
                    raise _invalid(_l("Nombra hasta 20 instituciones co-organizadoras."), "cohosts")
                if _sync_cohosts(event, cohosts, actor, named if named is not None else []):
                    changed.add("cohosts")
        if "datasets" in data:
            with errors.check("datasets"):
                datasets = _clean_datasets(data["datasets"])
                current = [(d.title, d.url) for d in event.datasets_for(DatasetRelation.linked)]
                if current != datasets:
                    for row in event.datasets_for(DatasetRelation.linked):
                        event.datasets.remove(row)
                    event.datasets.extend(
                        EventDataset(relation=DatasetRelation.linked, title=title, url=url)
                        for title, url in datasets
                    )
                    changed.add("datasets")
        if "questions" in data:
            with errors.check("questions"):
                questions = _clean_questions(data["questions"])
                current_questions = [
                    {
                        "kind": str(q.kind),
                        "prompt": q.prompt,
                        "choices": list(q.choices or []),
                        "required": q.required,
                    }
                    for q in event.questions
                ]
                if current_questions != questions:
                    if not creating and _has_registrations(event):
                        raise DomainError(
                            _l(
                                "Las preguntas de registro no se pueden cambiar cuando ya hay personas "
                                "registradas."
                            ),
                            field="questions",
                        )
                    writes.append(lambda questions=questions: _replace_questions(event, questions))
                    changed.add("questions")
        if "agenda" in data and "starts_at" not in errors and "timezone" not in errors:
            with errors.check("agenda"):
                agenda = (
                    _clean_agenda(data["agenda"], event.starts_at, event.timezone) if event.starts_at else []
                )
                current_agenda = [(a.starts_at, a.title, a.speaker) for a in event.agenda]
                if current_agenda != agenda:
                    writes.append(lambda agenda=agenda: _replace_agenda(event, agenda))
                    changed.add("agenda")
        _check_consistency(event, errors)
    errors.raise_if_any()
    for write in writes:  # rows replaced once all is valid (old ones flushed away first)
        write()
    return changed


def _replace_questions(event: Event, questions: list[dict[str, Any]]) -> None:
    event.questions.clear()
    db.session.flush()
    event.questions.extend(
        RegistrationQuestion(position=n, **question) for n, question in enumerate(questions)
    )


def _replace_agenda(event: Event, agenda: list[tuple[datetime, str, str | None]]) -> None:
    event.agenda.clear()
    db.session.flush()
    event.agenda.extend(
        AgendaItem(position=n, starts_at=moment, title=title, speaker=speaker)
        for n, (moment, title, speaker) in enumerate(agenda)
    )


def _has_registrations(event: Event) -> bool:
    if event.id is None:
        return False
    return (
        db.session.execute(select(Registration.id).where(Registration.event_id == event.id).limit(1)).first()
        is not None
    )


def _check_consistency(event: Event, errors: FieldErrors | None = None) -> None:
    """The rules between fields; each refusal is kept in `errors` (fields already refused are not
    judged again), or raised at once without it."""
    collected = errors if errors is not None else FieldErrors()

    def refuse(message: Any, field_name: str, *involved: str) -> None:
        if not any(name in collected for name in (field_name, *involved)):
            collected.add(_invalid(message, field_name))

    if event.starts_at is None or event.ends_at is None:
        refuse(_l("Indica el inicio y el fin."), "starts_at", "ends_at")
    elif event.ends_at <= event.starts_at:
        refuse(_l("El fin debe ser posterior al inicio."), "ends_at", "starts_at")
    elif event.ends_at - event.starts_at > MAX_EVENT_LENGTH:
        refuse(_l("Una actividad dura como máximo 31 días."), "ends_at", "starts_at")
    if event.format in (EventFormat.in_person, EventFormat.hybrid) and not (event.venue or event.address):
        refuse(_l("Indica la sede o la dirección de una actividad presencial."), "venue", "address")
    if event.format in (EventFormat.online, EventFormat.hybrid) and not event.online_url:
        refuse(_l("Indica el enlace para participar en línea."), "online_url")
    if event.kind == EventKind.data_for_development and not event.academic_partner:
        refuse(
            _l("Una colaboración de datos para el desarrollo necesita una institución académica aliada."),
            "academic_partner",
        )
    if event.sector_seats and event.kind != EventKind.dialogue_table:
        refuse(_l("Los lugares por sector son solo para mesas de diálogo."), "sector_seats", "kind")
    reserved = sum(s.seats for s in event.sector_seats)
    if event.capacity is not None and reserved > event.capacity:
        refuse(
            _l("Los lugares por sector (%(reserved)s) suman más que el cupo.", reserved=reserved),
            "sector_seats",
            "capacity",
        )
    opens, closes = event.registration_opens_at, event.registration_closes_at
    if opens and closes and closes <= opens:
        refuse(
            _l("El registro debe cerrar después de abrir."), "registration_closes_at", "registration_opens_at"
        )
    if closes and event.ends_at and closes > event.ends_at:
        refuse(
            _l("El registro debe cerrar antes de que termine la actividad."),
            "registration_closes_at",
            "ends_at",
        )
    if opens and event.ends_at and opens >= event.ends_at:
        refuse(
            _l("El registro debe abrir antes de que termine la actividad."),
            "registration_opens_at",
            "ends_at",
        )
    if errors is None:
        collected.raise_if_any()


def _new_event(actor: User | None, institution: Institution, data: Mapping[str, Any]) -> tuple[Event, list]:
    """A draft built from API-named fields, not yet added to the session (every refusal at once)."""
    errors = FieldErrors()
    for required in ("kind", "title", "format", "starts_at", "ends_at"):
        if data.get(required) in (None, ""):
            errors.add(_invalid(_l("Este campo es obligatorio."), required))
    event = Event(
        institution_id=institution.id,
        institution=institution,
        status=EventStatus.draft,
        timezone=institution.timezone or current_app.config["DEFAULT_TIMEZONE"],
        reminder_offsets=list(DEFAULT_REMINDER_OFFSETS),
        waitlist_enabled=True,
        summary="",
        description="",
        topics=[],
        sequence=0,
        created_by_id=actor.id if actor else None,
    )
    # Time zone first: naive times in the payload are read in the event's zone.
    ordered = {"timezone": data.get("timezone"), **{k: v for k, v in data.items() if k in EVENT_FIELDS}}
    named: list[EventCohost] = []
    with errors.check():
        _apply_fields(event, ordered, creating=True, actor=actor, named=named)
    errors.raise_if_any()
    return event, named


def _save_new_event(
    actor: User | None, event: Event, named: list[EventCohost], action: str, details: dict[str, Any]
) -> Event:
    event.search_text = search.search_text_for(event)
    db.session.add(event)
    db.session.flush()
    _ask_consents(actor, event, named)
    details = {"kind": str(event.kind), "title": event.title, **details}
    audit.record(action, event, actor=actor, details=details)
    db.session.commit()
    return event


def create_event(actor: User, institution: Institution, data: Mapping[str, Any]) -> Event:
    """Create a draft event of `institution` from API-named fields (every bad field reported at once)."""
    event, named = _new_event(actor, institution, data)
    return _save_new_event(actor, event, named, "event.create", {})


def check_event_data(
    actor: User, institution: Institution, data: Mapping[str, Any], event: Event | None = None
) -> dict[str, Any]:
    """The field refusals that creating an event (or editing `event`) with `data` would meet,
    as {field: message}; nothing is saved. Lets a page report every mistake in one go."""
    try:
        if event is None:
            _new_event(actor, institution, data)
        else:
            ordered = {k: v for k, v in data.items() if k in EVENT_FIELDS}
            if "timezone" in ordered:
                ordered = {"timezone": ordered.pop("timezone"), **ordered}
            _apply_fields(event, ordered, creating=False, actor=actor, named=[])
    except ValidationErrors as exc:
        return dict(exc.errors)
    except DomainError as exc:
        return {exc.field: exc.message} if exc.field else {}
    finally:
        db.session.rollback()  # whatever the check wrote on `event` is undone
    return {}


def update_event(actor: User, event: Event, data: Mapping[str, Any]) -> Event:
    """Edit an event; capacity changes are checked under the lock; a new time or place of a
    published event is one notice to everyone registered."""
    if event.status in (EventStatus.completed, EventStatus.cancelled):
        raise DomainError(_l("Una actividad concluida o cancelada ya no se edita."))
    event = _lock_event(event.id)
    old_start, old_end = event.starts_at, event.ends_at
    old_place = place_of(event)
    ordered = {k: v for k, v in data.items() if k in EVENT_FIELDS}
    if "timezone" in ordered:
        ordered = {"timezone": ordered.pop("timezone"), **ordered}
    if ("starts_at" in ordered or "ends_at" in ordered) and "agenda" not in ordered:
        new_start = as_utc(
            ordered.get("starts_at", event.starts_at), ordered.get("timezone") or event.timezone, "starts_at"
        )
        if new_start is not None and new_start != old_start:
            _shift_agenda(event, new_start - old_start)
    named: list[EventCohost] = []
    changed = _apply_fields(event, ordered, creating=False, actor=actor, named=named)
    if not changed:
        db.session.rollback()
        return event
    event.search_text = search.search_text_for(event)
    counts = seat_counts(event.id)
    _check_capacity_not_below_confirmed(event, counts)
    moved = event.starts_at != old_start or event.ends_at != old_end
    relocated = place_of(event) != old_place
    if moved and event.status == EventStatus.published and event.starts_at <= utcnow():
        raise _invalid(_l("La nueva fecha debe estar en el futuro."), "starts_at")
    event.updated_at = utcnow()
    if changed & CALENDAR_FIELDS or moved:
        event.sequence += 1
    details: dict[str, Any] = {"fields": sorted(changed)}
    if moved:
        details.update(old_starts_at=old_start.isoformat(), new_starts_at=event.starts_at.isoformat())
    if relocated:
        details.update(old_place=old_place.as_dict(), new_place=place_of(event).as_dict())
    audit.record("event.reschedule" if moved else "event.update", event, actor=actor, details=details)
    db.session.flush()
    _ask_consents(actor, event, named)
    if event.status == EventStatus.published:
        # Where matters as much as when: both are transactional, never the organisers'
        # (switchable) messages. An event already over has no one left to send anywhere.
        if moved or (relocated and event.ends_at > utcnow()):
            _notify_changed(
                event,
                moved_from=(old_start, old_end) if moved else None,
                old_place=old_place if relocated else None,
            )
        if {"capacity", "sector_seats", "waitlist"} & changed:
            _promote_from_waitlist(event)
        if moved or "reminder_offsets_minutes" in changed or changed & CALENDAR_FIELDS:
            reminders.sync_event(event, confirmed_registrations(event.id))
    db.session.commit()
    return event


def _shift_agenda(event: Event, delta: timedelta) -> None:
    for item in event.agenda:
        item.starts_at = item.starts_at + delta


def _check_capacity_not_below_confirmed(event: Event, counts: SeatCounts) -> None:
    if event.capacity is not None and event.capacity < counts.confirmed:
        raise DomainError(
            _l(
                "El cupo no puede ser menor que las %(n)s personas ya confirmadas. "
                "Cancela registros primero o deja un cupo mayor.",
                n=counts.confirmed,
            ),
            field="capacity",
        )
    for sector, seats in event.seats_by_sector.items():
        if counts.by_sector.get(sector, 0) > seats:
            raise DomainError(
                _l(
                    "El sector %(sector)s ya tiene %(n)s personas confirmadas; no puede tener menos lugares.",
                    sector=sector,
                    n=counts.by_sector[sector],
                ),
                field="sector_seats",
            )


def reschedule_event(actor: User, event: Event, starts_at: Any, ends_at: Any) -> Event:
    """Move an event: registrants are told the old and new times, reminders move."""
    if event.status not in (EventStatus.draft, EventStatus.published):
        raise DomainError(_l("Solo se reprograma una actividad en borrador o publicada."))
    return update_event(actor, event, {"starts_at": starts_at, "ends_at": ends_at})


def _transition(event: Event, target: EventStatus) -> None:
    if target not in TRANSITIONS[EventStatus(event.status)]:
        if event.status == EventStatus.draft and target == EventStatus.cancelled:
            raise DomainError(
                _l("Un borrador no se cancela (nunca fue público): si ya no lo necesitas, elimínalo."),
                code="illegal_transition",
            )
        messages = {
            EventStatus.published: _l("Solo se publica una actividad en borrador."),
            EventStatus.completed: _l("Solo se concluye una actividad publicada."),
            EventStatus.cancelled: _l("Esta actividad ya está cancelada o concluida; no se puede cancelar."),
        }
        raise DomainError(
            messages.get(target, _l("Ese cambio de estado no está permitido.")), code="illegal_transition"
        )
    if target == EventStatus.published and event.published_at is None:
        # Written with the status, as the database requires: the first publication, kept for good.
        event.published_at = utcnow()
    event.status = target


def publish_event(actor: User, event: Event) -> Event:
    """Make a draft public and open for registration."""
    event = _lock_event(event.id)
    _transition(event, EventStatus.published)
    if event.ends_at <= utcnow():
        raise DomainError(_l("No se puede publicar una actividad que ya terminó."), field="starts_at")
    _check_consistency(event)
    event.updated_at = event.published_at
    event.sequence += 1
    audit.record("event.publish", event, actor=actor)
    reminders.schedule_outcome_reminders(event)
    db.session.commit()
    return event


def cancel_event(actor: User, event: Event, reason: str) -> Event:
    """Cancel an event with a reason; every registrant is told (with an iCal CANCEL)."""
    reason_text = _clean_text(reason, "reason", 2000, required=True)
    event = _lock_event(event.id)
    _transition(event, EventStatus.cancelled)
    now = utcnow()
    event.cancel_reason = reason_text
    event.cancelled_at = now
    event.updated_at = now
    event.sequence += 1
    audit.record("event.cancel", event, actor=actor, details={"reason": reason_text})
    for registration in _active_registrations(event.id):
        if registration.user is None or registration.walk_in:
            continue
        notify(
            to=registration.user,
            kind="events.event_cancelled",
            subject=_l("Se canceló «%(title)s»", title=event.title),
            template="events/email/event_cancelled",
            dedupe_key=f"event-cancelled:{event.id}:{registration.id}",
            in_app=True,  # also in the notification centre, as a history
            link=event_url(event),
            context=email_context(event, registration),
            attachments=[ics_attachment(event, registration.user, "CANCEL")],
        )
    reminders.cancel_event(event)
    db.session.commit()
    return event


def delete_draft(actor: User, event: Event) -> None:
    """Delete an event that was never published (audited); anything ever public is cancelled instead."""
    event = _lock_event(event.id)
    if event.published_at is not None:
        raise DomainError(
            _l("Solo se elimina una actividad que nunca se publicó; esta puedes cancelarla."),
            code="illegal_transition",
        )
    audit.record(
        "event.delete",
        event,
        actor=actor,
        details={"kind": str(event.kind), "title": event.title, "status": str(event.status)},
    )
    reminders.cancel_event(event)
    pictures = event_image_ids(event)
    db.session.delete(event)
    db.session.flush()
    prune_images(pictures)
    db.session.commit()


def complete_event(actor: User, event: Event) -> Event:
    """Mark a published event as concluded once it has started."""
    event = _lock_event(event.id)
    if event.status == EventStatus.published and utcnow() < event.starts_at:
        raise DomainError(_l("Una actividad se concluye después de empezar."))
    _transition(event, EventStatus.completed)
    event.completed_at = event.updated_at = utcnow()
    audit.record("event.complete", event, actor=actor)
    db.session.commit()
    return event
