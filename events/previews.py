"""Sample data for the admin previews of the events email templates.

The objects are transient (never added to a session): a preview must not touch the data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l

from core.models import Institution
from core.urls import external_url
from events.models import (
    Commitment,
    Event,
    EventFormat,
    EventKind,
    EventStatus,
    Registration,
    RegistrationStatus,
)
from events.services import email_context
from notifications.models import Category
from notifications.services import register_preview


def sample_event() -> Event:
    """A published datathon of INEGI, next month, in Mexico City time."""
    starts = datetime(2026, 12, 9, 15, 0, tzinfo=UTC)
    institution = Institution(
        id=1, slug="inegi", name="Instituto Nacional de Estadística y Geografía", acronym="INEGI"
    )
    return Event(
        id=1,
        institution=institution,
        institution_id=1,
        kind=EventKind.datathon,
        status=EventStatus.published,
        title="Datatón del Censo de Población y Vivienda 2020",
        summary="Un día para construir visualizaciones con los microdatos del Censo 2020.",
        description="",
        topics=["población", "vivienda"],
        format=EventFormat.hybrid,
        venue="Auditorio del INEGI",
        address="Av. Héroe de Nacozari Sur 2301, Aguascalientes",
        state="Aguascalientes",
        online_url="https://meet.example.org/censo-2020",
        starts_at=starts,
        ends_at=starts + timedelta(hours=9),
        timezone="America/Mexico_City",
        capacity=40,
        waitlist_enabled=True,
        reminder_offsets=[1440, 60],
        sequence=1,
        cancel_reason="La sede no estará disponible; la reprogramaremos pronto.",
    )


def sample_registration(event: Event) -> Registration:
    return Registration(
        id=1, event=event, event_id=event.id, status=RegistrationStatus.confirmed, code="K7M2Q9XD", answers={}
    )


def _context(**extra: Any):
    def build() -> dict[str, Any]:
        event = sample_event()
        return {**email_context(event, sample_registration(event)), **extra}

    return build


TITLE = "Datatón del Censo de Población y Vivienda 2020"


def _outcome_context() -> dict[str, Any]:
    return {**_context()(), "outcome_url": external_url("events.outcome", event_id=1)}


def _consent_context(role: str, **extra: Any):
    def build() -> dict[str, Any]:
        event = sample_event()
        commitment = Commitment(
            id=1,
            event_id=event.id,
            text="Publicar los microdatos de la muestra ampliada con diccionario de datos.",
            due_on=date(2027, 3, 31),
        )
        return {
            **email_context(event),
            "named_institution": "Secretaría de Salud (SSA)",
            "role": role,
            "commitment": commitment if role == "commitment" else None,
            "requests_url": external_url("events.consent_requests"),
            **extra,
        }

    return build


def register_event_previews() -> None:
    """Register every events email template with the admin preview page."""
    samples = [
        (
            "events/email/confirmed",
            _l("Registro confirmado: «%(title)s»", title=TITLE),
            _context(promoted=False, qr_cid=""),
            None,
        ),
        (
            "events/email/waitlisted",
            _l("Estás en la lista de espera de «%(title)s»", title=TITLE),
            _context(position=3),
            None,
        ),
        (
            "events/email/registration_cancelled",
            _l("Cancelaste tu registro en «%(title)s»", title=TITLE),
            _context(),
            None,
        ),
        ("events/email/event_cancelled", _l("Se canceló «%(title)s»", title=TITLE), _context(), None),
        (
            "events/email/event_rescheduled",
            # The notice covers a new time, a new place, or both (shown here) in one email.
            _l("Cambió la fecha y el lugar de «%(title)s»", title=TITLE),
            _context(
                moved=True,
                old_starts_at=datetime(2026, 12, 2, 15, 0, tzinfo=UTC),
                old_ends_at=datetime(2026, 12, 3, 0, 0, tzinfo=UTC),
                place_changes=[(_l("Sede"), "Sala de juntas del INEGI", "Auditorio del INEGI")],
                link_only=False,
            ),
            None,
        ),
        (
            "events/email/reminder",
            _l("Recordatorio: «%(title)s», %(when)s", title=TITLE, when="9 dic 2026"),
            _context(minutes=1440),
            Category.events,
        ),
        (
            "events/email/outcome_reminder",
            _l("Registra el resultado de «%(title)s»", title=TITLE),
            _outcome_context,
            Category.institution,
        ),
        (
            "events/email/consent_request",
            _l(
                "%(organizer)s propone a %(institution)s como co-organizadora de «%(title)s»",
                organizer="INEGI",
                institution="SSA",
                title=TITLE,
            ),
            _consent_context("cohost"),
            Category.institution,
        ),
        (
            "events/email/consent_answer",
            _l("La institución %(institution)s declinó: «%(title)s»", institution="SSA", title=TITLE),
            _consent_context("commitment", accepted=False),
            Category.institution,
        ),
    ]
    for template, subject, sample, category in samples:
        register_preview(template, subject=subject, sample=sample, category=category)
