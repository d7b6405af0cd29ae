"""After the event: the outcome (attendance, minutes, datasets), public commitments and the
success story."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution, User
from core.timeutil import utcnow
from core.validation import clean_text as _clean_text
from core.validation import invalid as _invalid
from demand import services as demand_services
from events import reminders
from events.models import (
    Commitment,
    CommitmentStatus,
    ConsentStatus,
    DatasetRelation,
    Event,
    EventDataset,
    EventOutcome,
    EventStatus,
    StoryDataset,
    SuccessStory,
)
from events.services.checkin import attendance
from events.services.consent import _consent_given_by, _notify_consent_request
from events.services.editing import _clean_datasets, _institutions_by_slug


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
