"""The events workflow: lifecycle, registration under a capacity lock, check-in,
outcomes, commitments and success stories. Each public function is one unit of work."""

from __future__ import annotations

import base64
import io
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import segno
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from accounts import services as accounts_services
from core import audit
from core.choices import MEXICAN_STATES, InstitutionRole, Sector
from core.exceptions import DomainError
from core.exports import csv_document
from core.extensions import db
from core.models import Institution, Membership, User
from core.permissions import can
from core.timeutil import is_valid_timezone, to_zone, utcnow
from core.urls import external_url
from core.validation import as_utc, clean_url
from core.validation import clean_text as _clean_text
from core.validation import invalid as _invalid
from demand import services as demand_services
from events import ical, reminders, search
from events.models import (
    AgendaItem,
    Commitment,
    CommitmentStatus,
    ConsentStatus,
    DatasetRelation,
    Event,
    EventCohost,
    EventDataset,
    EventFormat,
    EventKind,
    EventOutcome,
    EventStatus,
    QuestionKind,
    Registration,
    RegistrationQuestion,
    RegistrationStatus,
    SectorSeats,
    StoryDataset,
    SuccessStory,
    public_event_condition,
)
from notifications.models import Category
from notifications.services import notify

# Read by `register`/`cancel_registration`; only the concurrency test's control run turns it off.
LOCK_SETTING = "EVENTS_CAPACITY_LOCK"
# Registration codes: no 0/O, 1/I/L, so a code read aloud or typed from paper is unambiguous.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
DEFAULT_REMINDER_OFFSETS = [1440, 60]
MAX_REMINDER_MINUTES = 60 * 24 * 30
CHECK_IN_OPENS_BEFORE = timedelta(hours=24)
MAX_EVENT_LENGTH = timedelta(days=31)
# Dates outside this range are typing mistakes (and year 9999 breaks calendar tooling).
PAGE_SIZE = 20

# A draft is never cancelled (that would make it public): it is deleted (`delete_draft`).
TRANSITIONS = {
    EventStatus.draft: {EventStatus.published},
    EventStatus.published: {EventStatus.completed, EventStatus.cancelled},
    EventStatus.completed: set(),
    EventStatus.cancelled: set(),
}

KIND_LABELS = {
    EventKind.dialogue_table: _l("Mesa de diálogo"),
    EventKind.datathon: _l("Datatón"),
    EventKind.data_for_development: _l("Datos para el desarrollo"),
}
FORMAT_LABELS = {
    EventFormat.in_person: _l("Presencial"),
    EventFormat.online: _l("En línea"),
    EventFormat.hybrid: _l("Híbrido"),
}
STATUS_LABELS = {
    EventStatus.draft: _l("Borrador"),
    EventStatus.published: _l("Publicada"),
    EventStatus.completed: _l("Concluida"),
    EventStatus.cancelled: _l("Cancelada"),
}
REGISTRATION_STATUS_LABELS = {
    RegistrationStatus.confirmed: _l("Confirmado"),
    RegistrationStatus.waitlisted: _l("En lista de espera"),
    RegistrationStatus.cancelled: _l("Cancelado"),
}
COMMITMENT_STATUS_LABELS = {
    CommitmentStatus.pending: _l("Pendiente"),
    CommitmentStatus.in_progress: _l("En curso"),
    CommitmentStatus.done: _l("Cumplido"),
    CommitmentStatus.dropped: _l("Descartado"),
}
CONSENT_LABELS = {
    ConsentStatus.pending: _l("pendiente de confirmar"),
    ConsentStatus.accepted: _l("confirmado"),
    ConsentStatus.declined: _l("declinó"),
}
QUESTION_KIND_LABELS = {
    QuestionKind.short_text: _l("Respuesta corta"),
    QuestionKind.single_choice: _l("Opción única"),
}


# --- reading ----------------------------------------------------------------------


def get_event(event_id: int) -> Event | None:
    """An event by id with what its pages show."""
    return db.session.execute(
        select(Event)
        .where(Event.id == event_id)
        .options(
            joinedload(Event.institution),
            selectinload(Event.cohosts),
            selectinload(Event.sector_seats),
            selectinload(Event.agenda),
            selectinload(Event.datasets),
            selectinload(Event.questions),
        )
    ).scalar_one_or_none()


def public_events():
    """A select of the events the public may see: those ever published (drafts never),
    whatever their state since. Every public list, page, API and feed starts here."""
    return select(Event).where(public_event_condition())


def _lock_event(event_id: int) -> Event:
    """Take the capacity lock: the event row FOR UPDATE (SQLite: the BEGIN IMMEDIATE
    every transaction already holds), re-read so capacity and status are current."""
    query = select(Event).where(Event.id == event_id).execution_options(populate_existing=True)
    if current_app.config.get(LOCK_SETTING, True):
        query = query.with_for_update()
    event = db.session.execute(query).scalar_one_or_none()
    if event is None:
        raise DomainError(_l("Esta actividad ya no existe."), status=404)
    return event


@dataclass
class SeatCounts:
    """Confirmed seats (walk-ins aside), per sector, and the waitlist length."""

    confirmed: int = 0
    by_sector: dict[str, int] = field(default_factory=dict)
    waitlisted: int = 0


def seat_counts(event_id: int) -> SeatCounts:
    """Count seats from the registrations themselves (the truth under the lock)."""
    rows = db.session.execute(
        select(Registration.status, Registration.sector, func.count())
        .where(
            Registration.event_id == event_id,
            Registration.status != RegistrationStatus.cancelled,
            Registration.walk_in.is_(False),
        )
        .group_by(Registration.status, Registration.sector)
    ).all()
    counts = SeatCounts()
    for status, sector, count in rows:
        if status == RegistrationStatus.confirmed:
            counts.confirmed += count
            key = sector or ""
            counts.by_sector[key] = counts.by_sector.get(key, 0) + count
        else:
            counts.waitlisted += count
    return counts


def counts_for(event_ids: Iterable[int]) -> dict[int, SeatCounts]:
    """Seat counts of several events in one query (list pages)."""
    ids = list(event_ids)
    result = {event_id: SeatCounts() for event_id in ids}
    if not ids:
        return result
    rows = db.session.execute(
        select(Registration.event_id, Registration.status, func.count())
        .where(
            Registration.event_id.in_(ids),
            Registration.status != RegistrationStatus.cancelled,
            Registration.walk_in.is_(False),
        )
        .group_by(Registration.event_id, Registration.status)
    ).all()
    for event_id, status, count in rows:
        if status == RegistrationStatus.confirmed:
            result[event_id].confirmed += count
        else:
            result[event_id].waitlisted += count
    return result


def seats_left(event: Event, counts: SeatCounts) -> int | None:
    """Free seats overall (None: unlimited)."""
    if event.capacity is None:
        return None
    return max(0, event.capacity - counts.confirmed)


def has_seat(event: Event, sector: str | None, counts: SeatCounts) -> bool:
    """Whether one more person of `sector` can be confirmed.

    With seats per sector, each listed sector has its own seats; people of other
    sectors share what capacity leaves after the reserved seats.
    """
    if event.capacity is not None and counts.confirmed >= event.capacity:
        return False
    reserved = event.seats_by_sector
    if not reserved:
        return True
    key = sector or ""
    if key in reserved:
        return counts.by_sector.get(key, 0) < reserved[key]
    if event.capacity is None:
        return True
    open_seats = event.capacity - sum(reserved.values())
    taken = sum(count for sector_key, count in counts.by_sector.items() if sector_key not in reserved)
    return taken < open_seats


class RegistrationState:
    """Why registration is or is not possible right now (for pages and the API)."""

    open = "open"
    waitlist = "waitlist"
    full = "full"
    not_open_yet = "not_open_yet"
    closed = "closed"
    unavailable = "unavailable"


def registration_state(event: Event, counts: SeatCounts, now: datetime | None = None) -> str:
    """Open, waitlist only, full, not yet open, closed, or unavailable (draft/cancelled/done)."""
    now = now or utcnow()
    if event.status != EventStatus.published:
        return RegistrationState.unavailable
    if event.registration_opens_at and now < event.registration_opens_at:
        return RegistrationState.not_open_yet
    closes = event.registration_closes_at or event.starts_at
    if now >= closes or now >= event.ends_at:
        return RegistrationState.closed
    if event.capacity is not None and counts.confirmed >= event.capacity:
        return RegistrationState.waitlist if event.waitlist_enabled else RegistrationState.full
    return RegistrationState.open


# --- creating and editing ---------------------------------------------------------

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
# Changes to these reach people's calendars (SEQUENCE) and, when times move, their inboxes.
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

    Co-hosts named for the first time are appended to `named` (their consent is asked
    once the event has an id).
    """
    changed: set[str] = set()

    def put(name: str, attribute: str, value: Any) -> None:
        if getattr(event, attribute) != value:
            setattr(event, attribute, value)
            changed.add(name)

    if "kind" in data:
        kind = data["kind"]
        if kind not in EventKind.__members__:
            raise _invalid(_l("Elige un tipo de actividad de la lista."), "kind")
        if not creating and event.status != EventStatus.draft and kind != event.kind:
            raise DomainError(_l("El tipo de actividad solo se cambia en borrador."), field="kind")
        put("kind", "kind", EventKind(kind))
    if "title" in data:
        put("title", "title", _clean_text(data["title"], "title", 200, required=True))
    if "summary" in data:
        put("summary", "summary", _clean_text(data["summary"], "summary", 500) or "")
    if "description" in data:
        put("description", "description", _clean_text(data["description"], "description", 20000) or "")
    if "topics" in data:
        put("topics", "topics", _clean_topics(data["topics"]))
    if "format" in data:
        if data["format"] not in EventFormat.__members__:
            raise _invalid(_l("Elige una modalidad de la lista."), "format")
        put("format", "format", EventFormat(data["format"]))
    for name, limit in (("venue", 200), ("address", 500), ("academic_partner", 200)):
        if name in data:
            put(name, name, _clean_text(data[name], name, limit))
    if "state" in data:
        state = _clean_text(data["state"], "state", 64)
        if state is not None and state not in MEXICAN_STATES:
            raise _invalid(_l("Elige una entidad federativa de la lista."), "state")
        put("state", "state", state)
    for name, low, high in (("latitude", -90, 90), ("longitude", -180, 180)):
        if name in data:
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
        put("online_url", "online_url", clean_url(data["online_url"], "online_url"))
    if data.get("timezone"):
        if not is_valid_timezone(data["timezone"]):
            raise _invalid(_l("Elige una zona horaria válida."), "timezone")
        put("timezone", "timezone", data["timezone"])
    zone = event.timezone
    for name in ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at"):
        if name in data:
            value = as_utc(data[name], zone, name)
            if value is None and name in ("starts_at", "ends_at"):
                raise _invalid(_l("Este campo es obligatorio."), name)
            put(name, name, value)
    if "capacity" in data:
        capacity = data["capacity"]
        if capacity in ("", None):
            capacity = None
        else:
            try:
                capacity = int(capacity)
            except (TypeError, ValueError):
                raise _invalid(_l("El cupo debe ser un número entero."), "capacity") from None
            if not 1 <= capacity <= 1_000_000:
                raise _invalid(_l("El cupo debe ser al menos 1 (déjalo vacío si no hay límite)."), "capacity")
        put("capacity", "capacity", capacity)
    if "waitlist" in data:
        put("waitlist", "waitlist_enabled", bool(data["waitlist"]))
    if "reminder_offsets_minutes" in data:
        put("reminder_offsets_minutes", "reminder_offsets", _clean_offsets(data["reminder_offsets_minutes"]))
    if "sector_seats" in data:
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
        cohosts = [
            i for i in _institutions_by_slug(data["cohosts"], "cohosts") if i.id != event.institution_id
        ]
        if len(cohosts) > 20:
            raise _invalid(_l("Nombra hasta 20 instituciones co-organizadoras."), "cohosts")
        if _sync_cohosts(event, cohosts, actor, named if named is not None else []):
            changed.add("cohosts")
    if "datasets" in data:
        datasets = _clean_datasets(data["datasets"])
        current = [(d.title, d.url) for d in event.datasets_for(DatasetRelation.linked)]
        if current != datasets:
            for row in event.datasets_for(DatasetRelation.linked):
                event.datasets.remove(row)
            event.datasets.extend(
                EventDataset(relation=DatasetRelation.linked, title=title, url=url) for title, url in datasets
            )
            changed.add("datasets")
    if "questions" in data:
        questions = _clean_questions(data["questions"])
        current = [
            {
                "kind": str(q.kind),
                "prompt": q.prompt,
                "choices": list(q.choices or []),
                "required": q.required,
            }
            for q in event.questions
        ]
        if current != questions:
            if not creating and _has_registrations(event):
                raise DomainError(
                    _l("Las preguntas de registro no se pueden cambiar cuando ya hay personas registradas."),
                    field="questions",
                )
            event.questions.clear()
            db.session.flush()
            event.questions.extend(
                RegistrationQuestion(position=n, **question) for n, question in enumerate(questions)
            )
            changed.add("questions")
    if "agenda" in data:
        agenda = _clean_agenda(data["agenda"], event.starts_at, event.timezone) if event.starts_at else []
        current_agenda = [(a.starts_at, a.title, a.speaker) for a in event.agenda]
        if current_agenda != agenda:
            event.agenda.clear()
            db.session.flush()
            event.agenda.extend(
                AgendaItem(position=n, starts_at=moment, title=title, speaker=speaker)
                for n, (moment, title, speaker) in enumerate(agenda)
            )
            changed.add("agenda")
    _check_consistency(event)
    return changed


def _consent_given_by(actor: User | None, institution: Institution) -> bool:
    """Whoever names their own institution (one of its liaisons or staff) consents for it."""
    return actor is not None and can(actor, "events.consent", institution)


def _sync_cohosts(
    event: Event, cohosts: list[Institution], actor: User | None, named: list[EventCohost]
) -> bool:
    """Keep the rows (and answers) of institutions still named, drop the others, add new ones
    pending unless `actor` may consent for them. Whether anything changed."""
    wanted = {institution.id: institution for institution in cohosts}
    existing = {row.institution_id: row for row in event.cohosts}
    removed = [row for institution_id, row in existing.items() if institution_id not in wanted]
    for row in removed:
        event.cohosts.remove(row)
    now = utcnow()
    added = 0
    for institution_id, institution in wanted.items():
        if institution_id in existing:
            continue
        added += 1
        row = EventCohost(institution_id=institution_id, institution=institution, requested_at=now)
        if _consent_given_by(actor, institution):
            row.status = ConsentStatus.accepted
            row.responded_at = now
            row.responded_by_id = actor.id
        else:
            row.status = ConsentStatus.pending
        event.cohosts.append(row)
        named.append(row)
    return bool(removed or added)


def _ask_consents(actor: User | None, event: Event, named: list[EventCohost]) -> None:
    """Audit newly named co-hosts and ask the pending ones (inside the caller's transaction)."""
    for row in named:
        slug = row.institution.slug
        if row.status == ConsentStatus.accepted:
            audit.record(
                "event.cohost.accept", event, actor=actor, details={"institution": slug, "automatic": True}
            )
            continue
        audit.record("event.cohost.request", event, actor=actor, details={"institution": slug})
        # The time makes the key unique even if SQLite reuses the id of a removed row.
        stamp = int(row.requested_at.timestamp())
        _notify_consent_request(event, row.institution, role="cohost", key=f"cohost-request:{row.id}:{stamp}")


def _has_registrations(event: Event) -> bool:
    if event.id is None:
        return False
    return (
        db.session.execute(select(Registration.id).where(Registration.event_id == event.id).limit(1)).first()
        is not None
    )


def _check_consistency(event: Event) -> None:
    if event.starts_at is None or event.ends_at is None:
        raise _invalid(_l("Indica el inicio y el fin."), "starts_at")
    if event.ends_at <= event.starts_at:
        raise _invalid(_l("El fin debe ser posterior al inicio."), "ends_at")
    if event.ends_at - event.starts_at > MAX_EVENT_LENGTH:
        raise _invalid(_l("Una actividad dura como máximo 31 días."), "ends_at")
    if event.format in (EventFormat.in_person, EventFormat.hybrid) and not (event.venue or event.address):
        raise _invalid(_l("Indica la sede o la dirección de una actividad presencial."), "venue")
    if event.format in (EventFormat.online, EventFormat.hybrid) and not event.online_url:
        raise _invalid(_l("Indica el enlace para participar en línea."), "online_url")
    if event.kind == EventKind.data_for_development and not event.academic_partner:
        raise _invalid(
            _l("Una colaboración de datos para el desarrollo necesita una institución académica aliada."),
            "academic_partner",
        )
    if event.sector_seats and event.kind != EventKind.dialogue_table:
        raise _invalid(_l("Los lugares por sector son solo para mesas de diálogo."), "sector_seats")
    reserved = sum(s.seats for s in event.sector_seats)
    if event.capacity is not None and reserved > event.capacity:
        raise _invalid(
            _l("Los lugares por sector (%(reserved)s) suman más que el cupo.", reserved=reserved),
            "sector_seats",
        )
    opens, closes = event.registration_opens_at, event.registration_closes_at
    if opens and closes and closes <= opens:
        raise _invalid(_l("El registro debe cerrar después de abrir."), "registration_closes_at")
    if closes and closes > event.ends_at:
        raise _invalid(
            _l("El registro debe cerrar antes de que termine la actividad."), "registration_closes_at"
        )
    if opens and opens >= event.ends_at:
        raise _invalid(
            _l("El registro debe abrir antes de que termine la actividad."), "registration_opens_at"
        )


def create_event(actor: User, institution: Institution, data: Mapping[str, Any]) -> Event:
    """Create a draft event of `institution` from API-named fields."""
    for required in ("kind", "title", "format", "starts_at", "ends_at"):
        if data.get(required) in (None, ""):
            raise _invalid(_l("Este campo es obligatorio."), required)
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
    _apply_fields(event, ordered, creating=True, actor=actor, named=named)
    event.search_text = search.search_text_for(event)
    db.session.add(event)
    db.session.flush()
    _ask_consents(actor, event, named)
    audit.record("event.create", event, actor=actor, details={"kind": str(event.kind), "title": event.title})
    db.session.commit()
    return event


def update_event(actor: User, event: Event, data: Mapping[str, Any]) -> Event:
    """Edit an event; capacity changes are checked under the lock, moved times reschedule."""
    if event.status in (EventStatus.completed, EventStatus.cancelled):
        raise DomainError(_l("Una actividad concluida o cancelada ya no se edita."))
    event = _lock_event(event.id)
    old_start, old_end = event.starts_at, event.ends_at
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
    if moved and event.status == EventStatus.published and event.starts_at <= utcnow():
        raise _invalid(_l("La nueva fecha debe estar en el futuro."), "starts_at")
    event.updated_at = utcnow()
    if changed & CALENDAR_FIELDS or moved:
        event.sequence += 1
    details: dict[str, Any] = {"fields": sorted(changed)}
    if moved:
        details.update(old_starts_at=old_start.isoformat(), new_starts_at=event.starts_at.isoformat())
    audit.record("event.reschedule" if moved else "event.update", event, actor=actor, details=details)
    db.session.flush()
    _ask_consents(actor, event, named)
    if event.status == EventStatus.published:
        if moved:
            _notify_rescheduled(event, old_start, old_end)
        if {"capacity", "sector_seats", "waitlist"} & changed:
            _promote_from_waitlist(event)
        if moved or "reminder_offsets_minutes" in changed or changed & CALENDAR_FIELDS:
            reminders.sync_event(event)
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
    db.session.delete(event)
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


# --- registration -------------------------------------------------------------------


def new_code() -> str:
    """A fresh 8-character registration code without look-alike characters."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        taken = db.session.execute(select(Registration.id).where(Registration.code == code)).first()
        if taken is None:
            return code


def normalise_code(code: str) -> str:
    """What people type or scan, as stored: upper case, no spaces or dashes."""
    return re.sub(r"[\s\-]", "", (code or "")).upper()


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


def _active_registrations(event_id: int) -> list[Registration]:
    return list(
        db.session.execute(
            select(Registration)
            .options(joinedload(Registration.user))
            .where(Registration.event_id == event_id, Registration.status != RegistrationStatus.cancelled)
            .order_by(Registration.id)
        ).scalars()
    )


def confirmed_registrations(event_id: int) -> list[Registration]:
    """Confirmed people with accounts (who get reminders)."""
    return [
        r
        for r in _active_registrations(event_id)
        if r.status == RegistrationStatus.confirmed and r.user is not None and not r.walk_in
    ]


# --- emails -----------------------------------------------------------------------


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


# --- check-in and attendance ---------------------------------------------------------


def _check_in_window(event: Event) -> None:
    if event.status not in (EventStatus.published, EventStatus.completed):
        raise DomainError(_l("El registro de asistencia es para actividades publicadas."))
    if utcnow() < event.starts_at - CHECK_IN_OPENS_BEFORE:
        raise DomainError(_l("El registro de asistencia abre 24 horas antes del inicio."))


def check_in_closed_reason(event: Event) -> str | None:
    """Why check-in is not open yet for `event` (shown before anyone types a code), or None."""
    try:
        _check_in_window(event)
    except DomainError as exc:
        return str(exc.message)
    return None


@dataclass
class CheckIn:
    registration: Registration
    already: bool


def check_in(actor: User, event: Event, code: str) -> CheckIn:
    """Mark a confirmed registration as present by its code (typed or scanned)."""
    _check_in_window(event)
    normalised = normalise_code(code)
    if not re.fullmatch(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}", normalised):
        raise _invalid(_l("Un código tiene 8 caracteres, sin 0, O, 1, I ni L."), "code")
    registration = db.session.execute(
        select(Registration)
        .options(selectinload(Registration.user))
        .where(Registration.event_id == event.id, Registration.code == normalised)
        .with_for_update(of=Registration)
    ).scalar_one_or_none()
    if registration is None:
        raise DomainError(
            _l("No hay un registro con el código %(code)s en esta actividad.", code=normalised),
            field="code",
            status=404,
        )
    if registration.status == RegistrationStatus.cancelled:
        raise DomainError(_l("El registro %(code)s fue cancelado.", code=normalised), field="code")
    if registration.status == RegistrationStatus.waitlisted:
        raise DomainError(
            _l("%(code)s está en la lista de espera, no confirmado.", code=normalised), field="code"
        )
    if registration.checked_in_at is not None:
        db.session.rollback()
        return CheckIn(registration, already=True)
    registration.checked_in_at = utcnow()
    registration.checked_in_by_id = actor.id
    db.session.commit()
    return CheckIn(registration, already=False)


def record_walk_in(actor: User, event: Event, name: str, sector: str | None = None) -> Registration:
    """Record someone who came without registering (present, outside the capacity count)."""
    _check_in_window(event)
    walk_in_name = _clean_text(name, "name", 200, required=True)
    if sector and sector not in Sector.__members__:
        raise _invalid(_l("Elige un sector de la lista."), "sector")
    now = utcnow()
    registration = Registration(
        event_id=event.id,
        user_id=None,
        status=RegistrationStatus.confirmed,
        code=new_code(),
        sector=sector or None,
        answers={},
        walk_in=True,
        walk_in_name=walk_in_name,
        created_at=now,
        confirmed_at=now,
        checked_in_at=now,
        checked_in_by_id=actor.id,
    )
    db.session.add(registration)
    db.session.commit()
    return registration


@dataclass
class Attendance:
    confirmed: int
    checked_in: int
    walk_ins: int
    no_shows: int
    waitlisted: int

    @property
    def present(self) -> int:
        return self.checked_in + self.walk_ins


def attendance(event: Event) -> Attendance:
    """Confirmed, checked in, walk-ins, no-shows (confirmed but absent) and waitlisted."""
    rows = db.session.execute(
        select(
            Registration.status,
            Registration.walk_in,
            Registration.checked_in_at.is_not(None),
            func.count(),
        )
        .where(Registration.event_id == event.id, Registration.status != RegistrationStatus.cancelled)
        .group_by(Registration.status, Registration.walk_in, Registration.checked_in_at.is_not(None))
    ).all()
    confirmed = checked_in = walk_ins = waitlisted = 0
    for status, walk_in, present, count in rows:
        if status == RegistrationStatus.waitlisted:
            waitlisted += count
        elif walk_in:
            walk_ins += count
        else:
            confirmed += count
            if present:
                checked_in += count
    started = utcnow() >= event.starts_at
    return Attendance(
        confirmed=confirmed,
        checked_in=checked_in,
        walk_ins=walk_ins,
        no_shows=confirmed - checked_in if started else 0,
        waitlisted=waitlisted,
    )


def registrations_of(event: Event, *, include_cancelled: bool = True) -> list[Registration]:
    """Every registration of an event for its managers, in arrival order."""
    query = (
        select(Registration)
        .options(joinedload(Registration.user))
        .where(Registration.event_id == event.id)
        .order_by(Registration.id)
    )
    if not include_cancelled:
        query = query.where(Registration.status != RegistrationStatus.cancelled)
    return list(db.session.execute(query).scalars())


def waitlist_positions(registrations: Iterable[Registration]) -> dict[int, int]:
    """Positions of the waitlisted among `registrations` (already in arrival order)."""
    positions: dict[int, int] = {}
    for registration in registrations:
        if registration.status == RegistrationStatus.waitlisted:
            positions[registration.id] = len(positions) + 1
    return positions


def attendee_csv(event: Event) -> str:
    """The attendee list with registration answers, for the event's managers."""
    from core.choices import SECTOR_LABELS

    registrations = registrations_of(event)
    positions = waitlist_positions(registrations)
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
                REGISTRATION_STATUS_LABELS[RegistrationStatus(registration.status)],
                positions.get(registration.id, ""),
                to_zone(registration.created_at, event.timezone).strftime("%Y-%m-%d %H:%M"),
                to_zone(registration.checked_in_at, event.timezone).strftime("%Y-%m-%d %H:%M")
                if registration.checked_in_at
                else "",
                str(_l("sí")) if registration.walk_in else "",
                *[(registration.answers or {}).get(str(q.id), "") for q in questions],
            ]
        )
    return csv_document(rows)


# --- outcomes, commitments, stories ---------------------------------------------------------


def record_outcome(
    actor: User,
    event: Event,
    *,
    attendance_count: int | None = None,
    minutes: str | None = None,
    published_datasets: Any = None,
    requested_datasets: Any = None,
) -> EventOutcome:
    """Record (or correct) what happened; concludes a published event."""
    if event.status not in (EventStatus.published, EventStatus.completed):
        raise DomainError(_l("El resultado se registra en actividades publicadas o concluidas."))
    if utcnow() < event.starts_at:
        raise DomainError(_l("El resultado se registra después de que la actividad empiece."))
    if attendance_count in (None, ""):
        attendance_count = attendance(event).present
    try:
        attendance_count = int(attendance_count)
    except (TypeError, ValueError):
        raise _invalid(_l("La asistencia debe ser un número entero."), "attendance") from None
    if not 0 <= attendance_count <= 1_000_000:
        raise _invalid(_l("La asistencia debe ser un número entero."), "attendance")
    minutes_text = _clean_text(minutes, "minutes", 50000) or ""
    # None leaves a list as it was; an empty list clears it.
    replacements = [
        (relation, _clean_datasets(value, field_name))
        for relation, value, field_name in (
            (DatasetRelation.published, published_datasets, "datasets_published"),
            (DatasetRelation.requested, requested_datasets, "datasets_requested"),
        )
        if value is not None
    ]
    now = utcnow()
    outcome = event.outcome
    created = outcome is None
    if outcome is None:
        outcome = EventOutcome(event_id=event.id, attendance=attendance_count, recorded_at=now)
        event.outcome = outcome
    outcome.attendance = attendance_count
    outcome.minutes = minutes_text
    outcome.recorded_by_id = actor.id
    outcome.updated_at = now
    for relation, rows in replacements:
        for row in event.datasets_for(relation):
            event.datasets.remove(row)
        event.datasets.extend(EventDataset(relation=relation, title=title, url=url) for title, url in rows)
    # Datasets requested at the table become demand signals of the institution (one origin per event).
    demand_services.replace_signals(
        event.institution_id,
        demand_services.SignalSource.event,
        f"event:{event.id}",
        [
            demand_services.WantedDataset(title=row.title or row.url, url=row.url)
            for row in event.datasets_for(DatasetRelation.requested)
        ],
    )
    if event.status == EventStatus.published:
        event.status = EventStatus.completed
        event.completed_at = now
        event.updated_at = now
        audit.record("event.complete", event, actor=actor)
    audit.record(
        "event.outcome.record" if created else "event.outcome.update",
        event,
        actor=actor,
        details={"attendance": attendance_count},
    )
    reminders.cancel_outcome_reminders(event)
    db.session.commit()
    return outcome


def _responsible(data: Mapping[str, Any]) -> tuple[int | None, str | None]:
    slug = (
        (data.get("responsible_institution") or "").strip().lower()
        if isinstance(data.get("responsible_institution"), str)
        else None
    )
    institution_id = None
    if slug:
        institution_id = _institutions_by_slug([slug], "responsible_institution")[0].id
    name = _clean_text(data.get("responsible_name"), "responsible_name", 200)
    if institution_id is None and name is None:
        raise _invalid(
            _l("Indica quién es responsable: una institución o un nombre."), "responsible_institution"
        )
    return institution_id, name


def _clean_due(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _invalid(_l("Escribe una fecha válida (AAAA-MM-DD)."), "due_on") from None


def add_commitment(actor: User, event: Event, data: Mapping[str, Any]) -> Commitment:
    """Add a public commitment (acuerdo) to an event that has taken place."""
    if event.status not in (EventStatus.published, EventStatus.completed) or utcnow() < event.starts_at:
        raise DomainError(_l("Los acuerdos se registran después de que la actividad empiece."))
    text_value = _clean_text(data.get("text"), "text", 2000, required=True)
    institution_id, name = _responsible(data)
    status = data.get("status") or CommitmentStatus.pending
    if status not in CommitmentStatus.__members__:
        raise _invalid(_l("Elige un estado de la lista."), "status")
    commitment = Commitment(
        event_id=event.id,
        text=text_value,
        responsible_name=name,
        due_on=_clean_due(data.get("due_on")),
        status=CommitmentStatus(status),
    )
    asked = _name_responsible(actor, commitment, institution_id)
    event.commitments.append(commitment)
    db.session.flush()
    audit.record("commitment.create", event, actor=actor, details={"commitment_id": commitment.id})
    _ask_responsible_consent(actor, event, commitment, asked)
    db.session.commit()
    return commitment


def _name_responsible(actor: User | None, commitment: Commitment, institution_id: int | None) -> bool:
    """Set the responsible institution; a newly named one is pending unless `actor` may consent
    for it. Whether it changed (then its consent is asked or recorded after the flush)."""
    if commitment.responsible_institution_id == institution_id and commitment.responsible_status is not None:
        return False
    commitment.responsible_institution_id = institution_id
    now = utcnow()
    commitment.responsible_requested_at = now if institution_id is not None else None
    commitment.responsible_responded_by_id = None
    institution = db.session.get(Institution, institution_id) if institution_id is not None else None
    commitment.responsible_institution = institution
    if institution is None or _consent_given_by(actor, institution):
        commitment.responsible_status = ConsentStatus.accepted
        commitment.responsible_responded_at = now if institution is not None else None
        commitment.responsible_responded_by_id = actor.id if institution is not None else None
    else:
        commitment.responsible_status = ConsentStatus.pending
        commitment.responsible_responded_at = None
    return institution is not None


def _ask_responsible_consent(actor: User | None, event: Event, commitment: Commitment, asked: bool) -> None:
    if not asked:
        return
    details = {"commitment_id": commitment.id, "institution": commitment.responsible_institution.slug}
    if commitment.responsible_status == ConsentStatus.accepted:
        details["automatic"] = True
        audit.record("commitment.responsible.accept", event, actor=actor, details=details)
        return
    audit.record("commitment.responsible.request", event, actor=actor, details=details)
    stamp = int(commitment.responsible_requested_at.timestamp())
    _notify_consent_request(
        event,
        commitment.responsible_institution,
        role="commitment",
        key=f"commitment-request:{commitment.id}:{commitment.responsible_institution_id}:{stamp}",
        commitment=commitment,
    )


def update_commitment(actor: User, commitment: Commitment, data: Mapping[str, Any]) -> Commitment:
    """Change a commitment's text, responsible party, due date or status."""
    old_status = commitment.status
    if "text" in data:
        commitment.text = _clean_text(data["text"], "text", 2000, required=True)
    asked = False
    if "responsible_institution" in data or "responsible_name" in data:
        merged = {
            "responsible_institution": data.get("responsible_institution"),
            "responsible_name": data.get("responsible_name"),
        }
        institution_id, commitment.responsible_name = _responsible(merged)
        asked = _name_responsible(actor, commitment, institution_id)
    if "due_on" in data:
        commitment.due_on = _clean_due(data["due_on"])
    if "status" in data:
        if data["status"] not in CommitmentStatus.__members__:
            raise _invalid(_l("Elige un estado de la lista."), "status")
        commitment.status = CommitmentStatus(data["status"])
    commitment.updated_at = utcnow()
    details: dict[str, Any] = {"commitment_id": commitment.id}
    if commitment.status != old_status:
        details.update({"from": str(old_status), "to": str(commitment.status)})
    audit.record("commitment.update", commitment.event, actor=actor, details=details)
    _ask_responsible_consent(actor, commitment.event, commitment, asked)
    db.session.commit()
    return commitment


def save_story(
    actor: User,
    event: Event,
    *,
    title: str,
    body: str,
    datasets: Any = None,
    publish: bool = False,
    story: SuccessStory | None = None,
) -> SuccessStory:
    """Write or edit the success story (historia) of a concluded event; optionally publish it."""
    if event.status != EventStatus.completed:
        raise DomainError(_l("Primero registra el resultado de la actividad; luego cuenta su historia."))
    title_text = _clean_text(title, "title", 200, required=True)
    body_text = _clean_text(body, "body", 50000, required=True)
    rows = _clean_datasets(datasets, "datasets")
    now = utcnow()
    created = story is None
    if story is None:
        story = SuccessStory(event_id=event.id, institution_id=event.institution_id, created_by_id=actor.id)
        db.session.add(story)
    story.title = title_text
    story.body = body_text
    story.updated_at = now
    if [(d.title, d.url) for d in story.datasets] != rows:
        story.datasets.clear()
        story.datasets.extend(StoryDataset(title=t, url=u) for t, u in rows)
    if publish and story.published_at is None:
        story.published_at = now
    db.session.flush()
    audit.record(
        "story.create" if created else "story.update",
        story,
        actor=actor,
        details={"story_id": story.id, "published": story.published_at is not None},
    )
    db.session.commit()
    return story


def set_story_published(actor: User, story: SuccessStory, published: bool) -> SuccessStory:
    """Publish or withdraw a success story."""
    if published and story.published_at is None:
        story.published_at = utcnow()
        audit.record("story.publish", story, actor=actor)
    elif not published and story.published_at is not None:
        story.published_at = None
        audit.record("story.unpublish", story, actor=actor)
    db.session.commit()
    return story


def story_of(event: Event) -> SuccessStory | None:
    """The event's story, if written."""
    return db.session.execute(
        select(SuccessStory).where(SuccessStory.event_id == event.id).order_by(SuccessStory.id).limit(1)
    ).scalar_one_or_none()


def get_story(story_id: int) -> SuccessStory | None:
    """A story with its event, institution and datasets."""
    return db.session.execute(
        select(SuccessStory)
        .options(
            joinedload(SuccessStory.event),
            joinedload(SuccessStory.institution),
            selectinload(SuccessStory.datasets),
        )
        .where(SuccessStory.id == story_id)
    ).scalar_one_or_none()


# --- institutions' consent ------------------------------------------------------------------


def institution_people(institution_id: int) -> list[User]:
    """An institution's liaisons and staff (who organise its events and answer for it)."""
    return list(
        db.session.execute(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.institution_id == institution_id,
                Membership.role.in_([InstitutionRole.liaison, InstitutionRole.staff]),
                User.deleted_at.is_(None),
            )
            .order_by(User.id)
        ).scalars()
    )


def _consent_context(
    event: Event, institution: Institution, role: str, commitment: Commitment | None
) -> dict[str, Any]:
    return {
        **email_context(event),
        "named_institution": institution.display_name,
        "role": role,
        "commitment": commitment,
        "requests_url": external_url("events.consent_requests"),
    }


def _notify_consent_request(
    event: Event, institution: Institution, *, role: str, key: str, commitment: Commitment | None = None
) -> None:
    """Ask every liaison and staff member of `institution` (in-app and email, by their preferences)."""
    subject = (
        _l(
            "%(organizer)s propone a %(institution)s como co-organizadora de «%(title)s»",
            organizer=event.institution.display_name,
            institution=institution.display_name,
            title=event.title,
        )
        if role == "cohost"
        else _l(
            "Acuerdo de «%(title)s»: ¿%(institution)s es responsable?",
            institution=institution.display_name,
            title=event.title,
        )
    )
    for person in institution_people(institution.id):
        notify(
            to=person,
            kind=f"events.{role}_request",
            subject=subject,
            template="events/email/consent_request",
            dedupe_key=f"{key}:{person.id}",
            context=_consent_context(event, institution, role, commitment),
            category=Category.institution,
            link="/events/requests",
            summary=_l("Acepta o declina en Promueve; hasta entonces se muestra como pendiente."),
        )


def _notify_consent_answer(
    event: Event,
    institution: Institution,
    *,
    role: str,
    accepted: bool,
    key: str,
    commitment: Commitment | None = None,
) -> None:
    """Tell the organising institution's liaisons and staff what the named institution answered."""
    if accepted:
        subject = _l(
            "%(institution)s aceptó: «%(title)s»", institution=institution.display_name, title=event.title
        )
    else:
        subject = _l(
            "%(institution)s declinó: «%(title)s»", institution=institution.display_name, title=event.title
        )
    link = f"/events/{event.id}/outcome" if role == "commitment" else f"/events/{event.id}"
    for person in institution_people(event.institution_id):
        notify(
            to=person,
            kind=f"events.{role}_{'accepted' if accepted else 'declined'}",
            subject=subject,
            template="events/email/consent_answer",
            dedupe_key=f"{key}:{person.id}",
            context={**_consent_context(event, institution, role, commitment), "accepted": accepted},
            category=Category.institution,
            link=link,
        )


def _answer(current: ConsentStatus, accept: bool) -> ConsentStatus | None:
    """The new status, or None when this answer was already given (nothing to do)."""
    target = ConsentStatus.accepted if accept else ConsentStatus.declined
    if current == target:
        return None
    if current != ConsentStatus.pending:
        raise DomainError(
            _l("Tu institución ya respondió a esta solicitud."), code="illegal_transition", status=409
        )
    return target


def get_cohost(event_id: int, slug: str) -> EventCohost | None:
    """The co-host row of an institution (by slug) on an event."""
    return db.session.execute(
        select(EventCohost)
        .join(Institution, Institution.id == EventCohost.institution_id)
        .options(joinedload(EventCohost.event).joinedload(Event.institution))
        .where(EventCohost.event_id == event_id, Institution.slug == slug)
    ).scalar_one_or_none()


def answer_cohost(actor: User, cohost: EventCohost, *, accept: bool) -> EventCohost:
    """Accept or decline, for the named institution, being co-host of an event (audited)."""
    # Two people of the institution may answer at once: the row lock makes the first answer win.
    cohost = db.session.execute(
        select(EventCohost)
        .where(EventCohost.id == cohost.id)
        .with_for_update(of=EventCohost)
        .execution_options(populate_existing=True)
    ).scalar_one()
    target = _answer(ConsentStatus(cohost.status), accept)
    if target is None:
        return cohost
    event = cohost.event
    now = utcnow()
    cohost.status = target
    cohost.responded_at = now
    cohost.responded_by_id = actor.id
    event.updated_at = now
    audit.record(
        "event.cohost.accept" if accept else "event.cohost.decline",
        event,
        actor=actor,
        details={"institution": cohost.institution.slug},
    )
    _notify_consent_answer(
        event,
        cohost.institution,
        role="cohost",
        accepted=accept,
        key=f"cohost-answer:{cohost.id}:{int(cohost.requested_at.timestamp()) if cohost.requested_at else 0}",
    )
    db.session.commit()
    return cohost


def answer_responsibility(actor: User, commitment: Commitment, *, accept: bool) -> Commitment:
    """Accept or decline, for the named institution, being responsible for a commitment (audited)."""
    commitment = db.session.execute(
        select(Commitment)
        .where(Commitment.id == commitment.id)
        .with_for_update(of=Commitment)
        .execution_options(populate_existing=True)
    ).scalar_one()
    if commitment.responsible_institution is None:
        raise DomainError(_l("Este acuerdo no nombra a ninguna institución."), status=404)
    target = _answer(ConsentStatus(commitment.responsible_status), accept)
    if target is None:
        return commitment
    event = commitment.event
    now = utcnow()
    commitment.responsible_status = target
    commitment.responsible_responded_at = now
    commitment.responsible_responded_by_id = actor.id
    commitment.updated_at = now
    institution = commitment.responsible_institution
    audit.record(
        "commitment.responsible.accept" if accept else "commitment.responsible.decline",
        event,
        actor=actor,
        details={"commitment_id": commitment.id, "institution": institution.slug},
    )
    stamp = int(commitment.responsible_requested_at.timestamp()) if commitment.responsible_requested_at else 0
    _notify_consent_answer(
        event,
        institution,
        role="commitment",
        accepted=accept,
        key=f"commitment-answer:{commitment.id}:{institution.id}:{stamp}",
        commitment=commitment,
    )
    db.session.commit()
    return commitment


@dataclass
class ConsentRequests:
    """What an institution's people are asked to confirm."""

    cohosts: list[EventCohost]
    commitments: list[Commitment]

    @property
    def total(self) -> int:
        return len(self.cohosts) + len(self.commitments)


def consent_requests(user: User) -> ConsentRequests:
    """Pending co-host and commitment requests addressed to the institutions `user` answers for."""
    institution_ids = [i.id for i in managed_institutions(user) if can(user, "events.consent", i)]
    if not institution_ids:
        return ConsentRequests([], [])
    cohosts = db.session.execute(
        select(EventCohost)
        .options(joinedload(EventCohost.event).joinedload(Event.institution))
        .where(EventCohost.institution_id.in_(institution_ids), EventCohost.status == ConsentStatus.pending)
        .order_by(EventCohost.requested_at, EventCohost.id)
    ).scalars()
    commitments = db.session.execute(
        select(Commitment)
        .options(joinedload(Commitment.event).joinedload(Event.institution))
        .where(
            Commitment.responsible_institution_id.in_(institution_ids),
            Commitment.responsible_status == ConsentStatus.pending,
        )
        .order_by(Commitment.responsible_requested_at, Commitment.id)
    ).scalars()
    return ConsentRequests(list(cohosts), list(commitments))


def visible_cohosts(event: Event, *, manager: bool) -> list[EventCohost]:
    """Co-hosts as a page shows them: a declined one only to the organiser's managers."""
    return [c for c in event.cohosts if manager or c.status != ConsentStatus.declined]


def institution_events_condition(institution_ids: Any) -> Any:
    """Events the institutions (ids, or a select of ids) host, or co-host once they accepted:
    a pending or declined co-host does not count as the institution's event anywhere."""
    return or_(
        Event.institution_id.in_(institution_ids),
        Event.id.in_(
            select(EventCohost.event_id).where(
                EventCohost.institution_id.in_(institution_ids), EventCohost.status == ConsentStatus.accepted
            )
        ),
    )


# --- lists ----------------------------------------------------------------------------------


@dataclass
class EventFilters:
    kind: str | None = None
    institution: str | None = None
    state: str | None = None
    format: str | None = None
    when: str | None = None  # upcoming | past
    q: str | None = None  # words, accent-insensitive
    page: int = 1
    per_page: int = PAGE_SIZE


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int
    counts: dict[int, SeatCounts] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def _paginate(query, count_query, page: int, per_page: int) -> tuple[list[Any], int, int]:
    total = db.session.execute(count_query).scalar_one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    items = list(db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).unique().scalars())
    return items, total, page


def list_events(filters: EventFilters, *, manager: User | None = None) -> Page:
    """Public events (or, for `manager`, those of the institutions they manage, drafts too)."""
    conditions = []
    if manager is None:
        conditions.append(public_event_condition())
    elif not manager.is_admin:
        institution_ids = [
            m.institution_id
            for m in manager.memberships
            if m.role in (InstitutionRole.liaison, InstitutionRole.staff)
        ]
        conditions.append(Event.institution_id.in_(institution_ids or [-1]))
    if filters.kind in EventKind.__members__:
        conditions.append(Event.kind == filters.kind)
    if filters.format in EventFormat.__members__:
        conditions.append(Event.format == filters.format)
    if filters.state:
        conditions.append(Event.state == filters.state)
    if filters.q and (matching := search.matches(filters.q)) is not None:
        conditions.append(matching)
    if filters.institution:
        slug_ids = select(Institution.id).where(Institution.slug == filters.institution)
        conditions.append(institution_events_condition(slug_ids))
    now = utcnow()
    order = [Event.starts_at.asc(), Event.id.asc()]
    if filters.when == "upcoming":
        # The redundant bound on starts_at (no event lasts over 31 days) lets the
        # (starts_at, id) index serve the query instead of sorting every event.
        conditions.extend([Event.ends_at >= now, Event.starts_at >= now - MAX_EVENT_LENGTH])
    elif filters.when == "past":
        conditions.append(Event.ends_at < now)
        order = [Event.starts_at.desc(), Event.id.desc()]
    elif manager is not None:
        order = [Event.starts_at.desc(), Event.id.desc()]
    query = select(Event).options(joinedload(Event.institution)).where(*conditions).order_by(*order)
    count_query = select(func.count()).select_from(Event).where(*conditions)
    per_page = min(max(1, filters.per_page), 100)
    items, total, page = _paginate(query, count_query, filters.page, per_page)
    return Page(
        items=items, total=total, page=page, per_page=per_page, counts=counts_for(e.id for e in items)
    )


def my_registrations(user: User) -> list[Registration]:
    """A person's registrations (newest events first), cancelled ones last."""
    return list(
        db.session.execute(
            select(Registration)
            .join(Registration.event)
            .options(joinedload(Registration.event).joinedload(Event.institution))
            .where(Registration.user_id == user.id)
            .order_by(
                (Registration.status == RegistrationStatus.cancelled).asc(),
                Event.starts_at.desc(),
                Registration.id.desc(),
            )
        ).scalars()
    )


def list_stories(page: int = 1, per_page: int = PAGE_SIZE, institution_id: int | None = None) -> Page:
    """Published success stories of public events, newest first."""
    conditions = [
        SuccessStory.published_at.is_not(None),
        SuccessStory.event_id.in_(public_events().with_only_columns(Event.id)),
    ]
    if institution_id is not None:
        conditions.append(SuccessStory.institution_id == institution_id)
    query = (
        select(SuccessStory)
        .options(joinedload(SuccessStory.institution), joinedload(SuccessStory.event))
        .where(*conditions)
        .order_by(SuccessStory.published_at.desc(), SuccessStory.id.desc())
    )
    count_query = select(func.count()).select_from(SuccessStory).where(*conditions)
    items, total, page = _paginate(query, count_query, page, per_page)
    return Page(items=items, total=total, page=page, per_page=per_page)


def public_commitments(event: Event) -> list[Commitment]:
    """The event's commitments with their responsible institutions."""
    return list(
        db.session.execute(
            select(Commitment)
            .options(joinedload(Commitment.responsible_institution))
            .where(Commitment.event_id == event.id)
            .order_by(Commitment.id)
        ).scalars()
    )


def institutions_for_filters() -> list[Institution]:
    """Institutions that host or co-host (accepted) public events (for the list's filter)."""
    public_ids = public_events().with_only_columns(Event.id)
    cohosting = select(EventCohost.institution_id).where(
        EventCohost.status == ConsentStatus.accepted, EventCohost.event_id.in_(public_ids)
    )
    return list(
        db.session.execute(
            select(Institution)
            .where(
                or_(
                    Institution.id.in_(public_events().with_only_columns(Event.institution_id)),
                    Institution.id.in_(cohosting),
                )
            )
            .order_by(Institution.name)
        ).scalars()
    )


def managed_institutions(user: User) -> list[Institution]:
    """Institutions whose events `user` may manage."""
    if user.is_admin:
        return list(db.session.execute(select(Institution).order_by(Institution.name)).scalars())
    return sorted(
        (
            m.institution
            for m in user.memberships
            if m.role in (InstitutionRole.liaison, InstitutionRole.staff)
        ),
        key=lambda institution: institution.name,
    )


def event_managers(event: Event) -> list[User]:
    """The institution's liaisons and staff (who get the "record the outcome" reminder)."""
    return institution_people(event.institution_id)


# --- personal data (ARCO) -----------------------------------------------------------------


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


@dataclass
class MonthDay:
    """One cell of the month calendar: a date and the public events that start on it."""

    day: date
    in_month: bool
    events: list[Event] = field(default_factory=list)


def month_calendar(year: int, month: int, zone: str) -> list[list[MonthDay]]:
    """The weeks (Monday first) of a month with the public events starting each day in `zone`."""
    import calendar as calendar_module

    weeks = calendar_module.Calendar(firstweekday=0).monthdatescalendar(year, month)
    first, last = weeks[0][0], weeks[-1][-1]
    tz = ZoneInfo(zone)
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    events = db.session.execute(
        select(Event)
        .options(joinedload(Event.institution))
        .where(public_event_condition(), Event.starts_at >= start, Event.starts_at < end)
        .order_by(Event.starts_at, Event.id)
    ).scalars()
    by_day: dict[date, list[Event]] = {}
    for event in events:
        by_day.setdefault(to_zone(event.starts_at, zone).date(), []).append(event)
    return [[MonthDay(day, day.month == month, by_day.get(day, [])) for day in week] for week in weeks]
