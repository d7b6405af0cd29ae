"""Event lifecycle: draft → published → completed | cancelled, rescheduling, the policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from icalendar import Calendar
from sqlalchemy import select

from core.exceptions import DomainError
from core.extensions import db
from core.models import AuditEntry
from core.permissions import can
from core.timeutil import to_zone, utcnow
from events import reminders, services
from events.models import Event, EventStatus
from tests.factories import (
    attachments_of,
    deliver_outbox,
    mails_to,
    make_event,
    make_institution,
    make_liaison,
    make_user,
)


def audit_actions() -> list[str]:
    return list(db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())


def test_a_draft_is_created_with_everything_and_published(app, ctx):
    inegi = make_institution("inegi")
    unam = make_institution("unam", name="Universidad Nacional")
    liaison = make_liaison(inegi)
    starts = utcnow().replace(microsecond=0) + timedelta(days=10)
    event = services.create_event(
        liaison,
        inegi,
        {
            "kind": "data_for_development",
            "title": "Datos de movilidad con la UNAM",
            "summary": "Colaboración",
            "description": "**Taller** con <script>alert(1)</script>",
            "topics": "movilidad, transporte, movilidad",
            "format": "hybrid",
            "venue": "Facultad de Ingeniería",
            "address": "Ciudad Universitaria",
            "state": "Ciudad de México",
            "latitude": 19.33,
            "longitude": -99.18,
            "online_url": "https://meet.example.org/x",
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=4),
            "timezone": "America/Mexico_City",
            "capacity": 40,
            "waitlist": True,
            "academic_partner": "UNAM",
            "cohosts": ["unam"],
            "reminder_offsets_minutes": [60, 1440, 60],
            "agenda": [
                {"time": "11:00", "title": "Mesas de trabajo"},
                {"time": "10:00", "title": "Bienvenida", "speaker": "Mariana López"},
            ],
            "datasets": [
                {"title": "Encuesta Origen-Destino", "url": "https://datos.gob.mx/busca/dataset/eod"}
            ],
        },
    )
    assert event.status == EventStatus.draft and event.sequence == 0
    assert event.topics == ["movilidad", "transporte"]
    assert event.reminder_offsets == [1440, 60]
    assert [item.title for item in event.agenda] == ["Bienvenida", "Mesas de trabajo"]
    local_day = to_zone(starts, "America/Mexico_City").date()
    assert (
        to_zone(event.agenda[0].starts_at, "America/Mexico_City").isoformat().startswith(f"{local_day}T10:00")
    )
    assert [c.institution.slug for c in event.cohosts] == ["unam"]
    assert services.map_url(event).startswith("https://www.openstreetmap.org/?mlat=19.330000")
    services.publish_event(liaison, event)
    assert event.status == EventStatus.published and event.published_at and event.sequence == 1
    assert audit_actions()[-2:] == ["event.create", "event.publish"]
    assert unam.id != inegi.id


@pytest.mark.parametrize(
    "change, field",
    [
        ({"kind": "data_for_development"}, "academic_partner"),
        ({"format": "online", "venue": None, "address": None}, "online_url"),
        ({"format": "in_person", "venue": None, "address": None}, "venue"),
        ({"capacity": 0}, "capacity"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"state": "Texas"}, "state"),
        ({"online_url": "javascript:alert(1)"}, "online_url"),
        ({"reminder_offsets_minutes": [0]}, "reminder_offsets_minutes"),
    ],
)
def test_invalid_events_are_refused_with_the_field(app, ctx, change, field):
    with pytest.raises(DomainError) as refused:
        make_event(make_institution("inegi"), publish=False, **change)
    assert refused.value.field == field and refused.value.status == 422


def test_end_must_follow_start(app, ctx):
    starts = utcnow() + timedelta(days=3)
    with pytest.raises(DomainError) as refused:
        make_event(make_institution("inegi"), starts_at=starts, ends_at=starts - timedelta(hours=1))
    assert refused.value.field == "ends_at"


def test_illegal_moves_are_refused_with_a_clear_message(app, ctx):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event = make_event(institution)
    with pytest.raises(DomainError) as twice:
        services.publish_event(liaison, event)
    assert twice.value.code == "illegal_transition" and "borrador" in str(twice.value.message)
    with pytest.raises(DomainError) as early:
        services.complete_event(liaison, event)
    assert "empezar" in str(early.value.message)
    with pytest.raises(DomainError) as no_reason:
        services.cancel_event(liaison, event, "  ")
    assert no_reason.value.field == "reason"
    services.cancel_event(liaison, event, "Falta de sede")
    for move in (
        lambda: services.publish_event(liaison, event),
        lambda: services.cancel_event(liaison, event, "otra vez"),
        lambda: services.complete_event(liaison, event),
        lambda: services.update_event(liaison, event, {"title": "Nuevo"}),
    ):
        with pytest.raises(DomainError):
            move()
        db.session.rollback()
    past = make_event(institution, publish=False, starts_at=utcnow() - timedelta(days=2))
    with pytest.raises(DomainError) as over:
        services.publish_event(liaison, past)
    assert "terminó" in str(over.value.message)


def test_cancelling_notifies_every_registrant_with_an_ical_cancel(app, ctx, mail_dir):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event = make_event(institution, capacity=1)
    confirmed, waiting = make_user(), make_user()
    services.register(confirmed, event)
    services.register(waiting, event)
    sequence = event.sequence
    services.cancel_event(liaison, event, "La sede no está disponible.")
    assert event.status == EventStatus.cancelled and event.sequence == sequence + 1
    assert event.cancel_reason == "La sede no está disponible."
    deliver_outbox()
    for person in (confirmed, waiting):
        (mail,) = [m for m in mails_to(mail_dir, person.email) if "Se canceló" in m["Subject"]]
        assert "La sede no está disponible." in mail.get_body(preferencelist=("plain",)).get_content()
        ics = attachments_of(mail)[f"actividad-{event.id}.ics"]
        assert ics.get_param("method") == "CANCEL"
        calendar = Calendar.from_ical(ics.get_content())
        (vevent,) = calendar.walk("VEVENT")
        assert calendar["METHOD"] == "CANCEL" and vevent["STATUS"] == "CANCELLED"
        assert int(vevent["SEQUENCE"]) == event.sequence
    assert "event.cancel" in audit_actions()
    assert all(row["status"] != "pending" for row in reminders.reminder_rows(event))


def test_rescheduling_tells_registrants_old_and_new_times_and_moves_reminders(app, ctx, mail_dir):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    starts = utcnow().replace(microsecond=0) + timedelta(days=5)
    event = make_event(institution, starts_at=starts, agenda=[{"time": "10:00", "title": "Inicio"}])
    person = make_user()
    services.register(person, event)
    agenda_before = event.agenda[0].starts_at
    sequence = event.sequence
    new_start = starts + timedelta(days=2)
    services.reschedule_event(liaison, event, new_start, new_start + timedelta(hours=3))
    db.session.expire_all()
    event = db.session.get(Event, event.id)
    assert event.starts_at == new_start and event.sequence == sequence + 1
    assert event.agenda[0].starts_at == agenda_before + timedelta(days=2)
    rows = [r for r in reminders.reminder_rows(event) if r["kind"] == reminders.REMINDER_KIND]
    assert {r["offset_key"]: r["fire_at"] for r in rows} == {
        "1440m": new_start - timedelta(minutes=1440),
        "60m": new_start - timedelta(minutes=60),
    }
    deliver_outbox()
    (mail,) = [m for m in mails_to(mail_dir, person.email) if "Cambió la fecha" in m["Subject"]]
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Antes:" in body and "Ahora:" in body
    ics = Calendar.from_ical(attachments_of(mail)[f"actividad-{event.id}.ics"].get_content())
    assert int(ics.walk("VEVENT")[0]["SEQUENCE"]) == event.sequence
    assert "event.reschedule" in audit_actions()
    with pytest.raises(DomainError):
        services.reschedule_event(liaison, event, utcnow() - timedelta(days=1), utcnow())


def test_complete_after_the_start(app, ctx):
    institution = make_institution("inegi")
    liaison = make_liaison(institution)
    event = make_event(institution)
    with freeze_time(event.starts_at + timedelta(hours=1)):
        services.complete_event(liaison, event)
    assert event.status == EventStatus.completed and event.completed_at


def test_only_the_institutions_people_manage_its_events(app, ctx):
    inegi, salud = make_institution("inegi"), make_institution("salud")
    event = make_event(inegi)
    assert can(make_liaison(inegi), "events.manage", event)
    assert can(make_liaison(inegi, role="staff"), "events.manage", event)
    assert can(make_user(admin=True), "events.manage", event)
    assert not can(make_liaison(salud), "events.manage", event)
    assert not can(make_user(), "events.manage", event)
    assert not can(None, "events.manage", event)


def test_pages_and_api_refuse_other_institutions(app, client):
    from tests.factories import login

    with app.app_context():
        inegi, salud = make_institution("inegi"), make_institution("salud")
        event = make_event(inegi)
        make_liaison(salud, "enlace.salud@example.org")
        event_id = event.id
    login(client, "enlace.salud@example.org")
    for path in ("edit", "registrations", "checkin", "outcome", "cancel", "reschedule", "registrations.csv"):
        assert client.get(f"/events/{event_id}/{path}").status_code == 403, path
    assert client.post(f"/events/{event_id}/publish").status_code == 403
    token = client.post(
        "/api/v1/tokens", json={"email": "enlace.salud@example.org", "password": "Lluvia-de-datos-2026"}
    ).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    response = client.patch(f"/api/v1/events/{event_id}", json={"title": "X"}, headers=headers)
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    assert client.get(f"/api/v1/events/{event_id}/registrations", headers=headers).status_code == 403


def test_drafts_are_private(app, client):
    from tests.factories import login

    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        draft_id = make_event(inegi, publish=False, title="Borrador secreto").id
    assert client.get(f"/events/{draft_id}").status_code == 404
    assert client.get(f"/api/v1/events/{draft_id}").status_code == 404
    assert "Borrador secreto" not in client.get("/events").get_data(as_text=True)
    login(client, "enlace@example.org")
    assert "Borrador secreto" in client.get(f"/events/{draft_id}").get_data(as_text=True)
