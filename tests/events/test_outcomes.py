"""Outcomes, commitments (acuerdos) and success stories: rules and the audit trail."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from core.exceptions import DomainError
from core.extensions import db
from core.models import AuditEntry
from events import services
from tests.factories import make_event, make_institution, make_liaison, make_user


def test_outcome_waits_for_the_start_and_defaults_to_the_people_present(app, ctx):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event = make_event(institution)
    with pytest.raises(DomainError):
        services.record_outcome(liaison, event, minutes="Demasiado pronto")
    registrations = [services.register(make_user(), event) for _ in range(3)]
    with freeze_time(event.starts_at + timedelta(minutes=5)):
        services.check_in(liaison, event, registrations[0].code)
        services.record_walk_in(liaison, event, "Invitada")
    with freeze_time(event.ends_at + timedelta(hours=2)):
        outcome = services.record_outcome(
            liaison,
            event,
            minutes="Minuta",
            published_datasets=[{"title": "A", "url": "https://datos.gob.mx/a"}],
            requested_datasets=[{"title": "", "url": "https://datos.gob.mx/b"}],
        )
        assert outcome.attendance == 2 and event.status == "completed"
        figures = services.attendance(event)
        assert (figures.checked_in, figures.walk_ins, figures.no_shows) == (1, 1, 2)
        corrected = services.record_outcome(liaison, event, attendance_count=5, minutes="Corregida")
        assert corrected.id == outcome.id and corrected.attendance == 5
    assert [d.url for d in event.datasets_for("requested")] == ["https://datos.gob.mx/b"]
    assert event.datasets_for("requested")[0].title == "https://datos.gob.mx/b"
    actions = list(db.session.execute(select(AuditEntry.action)).scalars())
    assert {"event.complete", "event.outcome.record", "event.outcome.update"} <= set(actions)


def test_commitments_need_a_responsible_party_and_record_status_changes(app, ctx):
    inegi, salud = make_institution("inegi"), make_institution("salud")
    liaison = make_liaison(inegi)
    event = make_event(inegi)
    with freeze_time(event.ends_at + timedelta(hours=1)):
        with pytest.raises(DomainError) as nobody:
            services.add_commitment(liaison, event, {"text": "Algo"})
        assert nobody.value.field == "responsible_institution"
        commitment = services.add_commitment(
            liaison,
            event,
            {"text": "Abrir datos de salud", "responsible_institution": "salud", "due_on": "2027-05-01"},
        )
        assert commitment.responsible == salud.display_name and commitment.due_on == date(2027, 5, 1)
        other = services.add_commitment(liaison, event, {"text": "Taller", "responsible_name": "UNAM"})
        assert other.responsible == "UNAM"
        services.update_commitment(liaison, commitment, {"status": "done"})
        with pytest.raises(DomainError):
            services.update_commitment(liaison, commitment, {"status": "forgotten"})
    entry = (
        db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "commitment.update").order_by(AuditEntry.id.desc())
        )
        .scalars()
        .first()
    )
    assert entry.details["from"] == "pending" and entry.details["to"] == "done"


def test_a_story_needs_a_concluded_event_and_is_public_only_when_published(app, client):
    with app.app_context():
        institution = make_institution("inegi")
        liaison = make_liaison(institution)
        event = make_event(institution)
        with pytest.raises(DomainError):
            services.save_story(liaison, event, title="Pronto", body="…")
        db.session.rollback()
        with freeze_time(event.ends_at + timedelta(hours=1)):
            services.record_outcome(liaison, event, minutes="Listo")
        story = services.save_story(liaison, event, title="Agua para todos", body="Historia")
        story_id = story.id
    assert client.get(f"/stories/{story_id}").status_code == 404
    assert client.get(f"/api/v1/stories/{story_id}").status_code == 404
    assert "Agua para todos" not in client.get("/stories").get_data(as_text=True)
    with app.app_context():
        story = services.get_story(story_id)
        services.set_story_published(liaison_of(story), story, True)
    assert client.get(f"/stories/{story_id}").status_code == 200
    assert client.get("/api/v1/stories").json[0]["title"] == "Agua para todos"


def liaison_of(story):
    from events.services import event_managers

    return event_managers(story.event)[0]
