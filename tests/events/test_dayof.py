"""The day of an event: check-in by name and its undo, messages to everyone, the waitlist by
hand, the XLSX export and attendance certificates (service rules, pages and API)."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from accounts.services import issue_api_token
from core.exceptions import DomainError
from core.extensions import db
from core.models import AuditEntry, User
from core.timeutil import utcnow
from events import services
from events.dayof_models import AttendanceCertificate, EventMessage
from events.models import Registration, RegistrationStatus
from events.services import certificates
from notifications import services as notification_services
from notifications.models import DigestItem, InAppNotification, Notification
from tests.factories import login, make_event, make_institution, make_liaison, make_user

API = "/api/v1"
ROOT = Path(__file__).resolve().parents[2]


def _bearer(user) -> dict[str, str]:
    _, raw = issue_api_token(user, "test")
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def _audits(action: str) -> list[AuditEntry]:
    return list(db.session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def _soon_event(institution, **fields):
    """An event starting in two hours (check-in is open)."""
    start = utcnow().replace(microsecond=0) + timedelta(hours=2)
    return make_event(institution, starts_at=start, ends_at=start + timedelta(hours=3), **fields)


# --- check-in by name and undo -------------------------------------------------------------


def test_name_search_ignores_accents_and_case_and_checks_in_then_undoes(app, ctx):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    event = _soon_event(inegi)
    lucia = services.register(make_user("lucia@example.org", name="Lucía Ramírez"), event)
    services.register(make_user("pedro@example.org", name="Pedro Páramo"), event)
    found = services.find_attendees(event, "lucia RAMIREZ")
    assert [r.id for r in found] == [lucia.id]
    assert [r.id for r in services.find_attendees(event, lucia.code.lower())] == [lucia.id]
    assert services.find_attendees(event, "   ") == []

    result = services.check_in_registration(liaison, event, lucia.id)
    assert not result.already and result.registration.checked_in_at is not None
    assert services.check_in_registration(liaison, event, lucia.id).already
    assert [r.id for r in services.recent_check_ins(event)] == [lucia.id]

    undone = services.undo_check_in(liaison, event, lucia.id)
    assert undone.checked_in_at is None and undone.status == RegistrationStatus.confirmed
    (entry,) = _audits("registration.check_in_undone")
    assert entry.actor_id == liaison.id and entry.details["registration_id"] == lucia.id
    with pytest.raises(DomainError) as nothing:
        services.undo_check_in(liaison, event, lucia.id)
    assert nothing.value.code == "not_checked_in" and nothing.value.status == 409
    db.session.rollback()
    assert len(_audits("registration.check_in_undone")) == 1


def test_undoing_a_walk_in_cancels_it_and_other_events_rows_are_not_found(app, ctx):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    event, other = _soon_event(inegi), _soon_event(inegi)
    walk_in = services.record_walk_in(liaison, event, "Marta Sin Registro")
    undone = services.undo_check_in(liaison, event, walk_in.id)
    assert undone.status == RegistrationStatus.cancelled
    assert services.attendance(event).walk_ins == 0
    with pytest.raises(DomainError) as missing:
        services.check_in_registration(liaison, other, walk_in.id)
    assert missing.value.status == 404


def test_check_in_page_search_buttons_and_undo(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        event = _soon_event(inegi)
        registration = services.register(make_user(name="Lucía Ramírez"), event)
        event_id, registration_id = event.id, registration.id
    login(client, "enlace@example.org")
    page = client.get(f"/events/{event_id}/checkin?q=lucia")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Lucía Ramírez" in html
    assert f"/events/{event_id}/checkins/{registration_id}" in html
    done = client.post(f"/events/{event_id}/checkins/{registration_id}", data={"q": "lucia"})
    assert done.status_code == 302 and "q=lucia" in done.headers["Location"]
    html = client.get(f"/events/{event_id}/checkin?q=lucia").get_data(as_text=True)
    assert "Asistencia registrada: Lucía Ramírez" in html and "Deshacer" in html
    client.post(f"/events/{event_id}/checkins/{registration_id}/undo", data={"q": "lucia"})
    html = client.get(f"/events/{event_id}/checkin?q=lucia").get_data(as_text=True)
    assert "Se deshizo la asistencia de Lucía Ramírez" in html
    with app.app_context():
        assert db.session.get(Registration, registration_id).checked_in_at is None
    # The scan page works without a camera: its typed code checks in, and it may use the camera.
    scan = client.get(f"/events/{event_id}/checkin/scan")
    assert scan.status_code == 200 and "camera=(self)" in scan.headers["Permissions-Policy"]
    assert "vendor/jsqr/jsQR.js" in scan.get_data(as_text=True)
    assert "camera=()" in client.get(f"/events/{event_id}/checkin").headers["Permissions-Policy"]
    with app.app_context():
        code = db.session.get(Registration, registration_id).code
    assert client.post(f"/events/{event_id}/checkin/scan", data={"code": code.lower()}).status_code == 302
    with app.app_context():
        assert db.session.get(Registration, registration_id).checked_in_at is not None


def test_api_undo_by_delete_then_409(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        headers = _bearer(make_liaison(inegi))
        outsider = _bearer(make_user())
        event = _soon_event(inegi)
        registration = services.register(make_user(name="Ana"), event)
        event_id, registration_id = event.id, registration.id
    path = f"{API}/events/{event_id}/checkins/{registration_id}"
    assert client.delete(path, headers=outsider).status_code == 403
    assert client.post(path, headers=headers).json["already_checked_in"] is False
    assert client.post(path, headers=headers).json["already_checked_in"] is True
    found = client.get(f"{API}/events/{event_id}/attendees?q=ana", headers=headers).json
    assert [r["id"] for r in found] == [registration_id] and found[0]["checked_in_at"]
    undone = client.delete(path, headers=headers)
    assert undone.status_code == 200 and undone.json["checked_in_at"] is None
    again = client.delete(path, headers=headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "not_checked_in"
    assert client.delete(f"{API}/events/{event_id}/checkins/999999", headers=headers).status_code == 404


# --- messages --------------------------------------------------------------------------------


def test_message_reaches_each_confirmed_person_once_in_their_language(app, ctx, mail_dir):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    event = make_event(inegi, title="Mesa de agua", capacity=2)
    ana, ben = make_user(name="Ana"), make_user(name="Ben")
    ben.locale = "en"
    db.session.commit()
    services.register(ana, event)
    services.register(ben, event)
    services.register(make_user(name="Carla"), event)  # waitlisted
    assert services.audience_counts(event) == {"confirmed": 2, "waitlisted": 1}
    message = services.send_message(
        liaison, event, "confirmed", "Cambio de sala", "Nos vemos en la sala 2.\n\nGracias."
    )
    assert message.recipients == 2
    rows = list(
        db.session.execute(
            select(Notification).where(Notification.kind == "events.organiser_message")
        ).scalars()
    )
    assert sorted(r.to_email for r in rows) == sorted([ana.email, ben.email])
    by_email = {r.to_email: r for r in rows}
    assert by_email[ana.email].subject == "«Mesa de agua»: Cambio de sala"
    assert "La institución organizadora, Institución inegi (INEGI), escribió a las personas registradas" in (
        by_email[ana.email].body_text
    )
    assert "wrote to the people registered" in by_email[ben.email].body_text
    assert "Nos vemos en la sala 2." in by_email[ben.email].body_text  # the organiser's words as written
    with pytest.raises(DomainError) as twice:
        services.send_message(
            liaison, event, "confirmed", "Cambio de sala", "Nos vemos en la sala 2.\n\nGracias."
        )
    assert twice.value.code == "already_sent"
    db.session.rollback()
    assert db.session.execute(select(func.count()).select_from(Notification)).scalar() >= 2
    assert len(_audits("event.message_sent")) == 1
    with pytest.raises(DomainError) as bad:
        services.send_message(liaison, event, "everyone", "Hola", "Texto")
    assert bad.value.field == "audience"
    with pytest.raises(DomainError) as bad_subject:
        services.send_message(liaison, event, "waitlisted", "Dos\nlíneas", "Texto")
    assert bad_subject.value.field == "subject"


def test_organiser_messages_follow_each_persons_choice_but_time_changes_and_cancellations_always_arrive(
    app, ctx
):
    """A free-text message from the organiser is its own category (turning off event reminders
    does not silence it, and its unsubscribe link turns off only it); a new date and a
    cancellation are transactional and reach everyone by email whatever they chose."""
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    event = make_event(inegi, title="Mesa de agua")
    people = {name: make_user(name=name) for name in ("Ana", "Ben", "Carla", "Dani", "Eva")}
    choices = {
        "Ben": {"event_messages": "in_app"},  # email off, still in the bell
        "Carla": {"event_messages": "off"},
        "Dani": {"events": "off"},  # reminders off; the organiser's messages still by email
        "Eva": {"event_messages": "daily"},
    }
    for name, choice in choices.items():
        notification_services.set_preferences(people[name], choice)
    for person in people.values():
        services.register(person, event)
    body = "Entren por la puerta de la calle Sur.\n\nGracias."
    message = services.send_message(liaison, event, "confirmed", "Acceso al edificio", body)
    assert message.recipients == 5  # everyone registered is addressed; each choice decides how

    def emailed(kind: str) -> dict[str, Notification]:
        rows = db.session.execute(select(Notification).where(Notification.kind == kind)).scalars()
        return {row.to_name: row for row in rows}

    messages = emailed("events.organiser_message")
    assert sorted(messages) == ["Ana", "Dani"]
    assert {row.category for row in messages.values()} == {"event_messages"}
    _user, unsubscribes = notification_services.read_unsubscribe_token(
        messages["Ana"].unsubscribe_url.rsplit("/", 1)[1]
    )
    assert unsubscribes == ["event_messages"]
    in_app = {
        entry.user_id: entry
        for entry in db.session.execute(
            select(InAppNotification).where(InAppNotification.kind == "events.organiser_message")
        ).scalars()
    }
    # In the bell for all but the person who turned them off, as other categories behave;
    # the entry carries the organiser's words (for Ben it is the only copy).
    assert set(in_app) == {people[name].id for name in ("Ana", "Ben", "Dani", "Eva")}
    assert "puerta de la calle Sur" in in_app[people["Ben"].id].body
    digest_lines = db.session.execute(select(DigestItem.user_id, DigestItem.category)).all()
    assert digest_lines == [(people["Eva"].id, "event_messages")]

    # A new time and a cancellation are not the organiser's chatter: they reach everyone.
    later = event.starts_at + timedelta(days=1)
    services.update_event(liaison, event, {"starts_at": later, "ends_at": later + timedelta(hours=3)})
    services.cancel_event(liaison, event, "Sin sede disponible")
    for kind in ("events.event_rescheduled", "events.event_cancelled"):
        rows = emailed(kind)
        assert sorted(rows) == sorted(people), kind
        assert {row.category for row in rows.values()} == {None}, kind


def test_message_page_previews_then_sends_and_a_double_submit_sends_once(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        event = make_event(inegi)
        for name in ("Ana", "Beto", "Ceci"):
            services.register(make_user(name=name), event)
        event_id = event.id
    login(client, "enlace@example.org")
    form = {"audience": "confirmed", "subject": "Llegada", "body": "Lleguen 15 minutos antes."}
    preview = client.post(f"/events/{event_id}/messages", data={**form, "preview": "1"})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Se enviará a 3 personas" in html and "Enviar a 3 personas" in html
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(EventMessage)).scalar() == 0
    sent = client.post(f"/events/{event_id}/messages", data={**form, "send": "1"})
    assert sent.status_code == 302
    again = client.post(f"/events/{event_id}/messages", data={**form, "send": "1"})
    assert again.status_code == 409 and "ya se envió" in again.get_data(as_text=True)
    empty = client.post(f"/events/{event_id}/messages", data={"audience": "confirmed", "send": "1"})
    assert empty.status_code == 422
    with app.app_context():
        kinds = db.session.execute(
            select(func.count())
            .select_from(Notification)
            .where(Notification.kind == "events.organiser_message")
        ).scalar()
        assert kinds == 3


def test_message_api_preview_dedupe_and_rate_limit(app, client):
    app.config["LIMIT_EVENT_MESSAGES"] = "2 per hour"
    with app.app_context():
        inegi = make_institution("inegi")
        headers = _bearer(make_liaison(inegi))
        event = make_event(inegi, capacity=1)
        services.register(make_user(), event)
        services.register(make_user(), event)
        event_id = event.id
    path = f"{API}/events/{event_id}/messages"
    body = {"audience": "waitlisted", "subject": "Lista de espera", "body": "Seguimos atentos."}
    for _ in range(5):  # previews are free
        preview = client.post(path, json={**body, "preview": True}, headers=headers)
        assert preview.status_code == 200 and preview.json == {**preview.json, "recipients": 1, "sent": False}
    first = client.post(path, json=body, headers=headers)
    assert first.status_code == 201 and first.json["recipients"] == 1
    assert client.post(path, json=body, headers=headers).json["error"]["code"] == "already_sent"
    limited = client.post(path, json={**body, "subject": "Otro"}, headers=headers)
    assert limited.status_code == 429 and limited.json["error"]["code"] == "rate_limited"
    bad = client.post(path, json={**body, "audience": "todos", "preview": True}, headers=headers)
    assert bad.status_code == 422 and "audience" in bad.json["error"]["fields"]
    listing = client.get(path, headers=headers).json
    assert listing["audiences"] == {"confirmed": 1, "waitlisted": 1} and len(listing["messages"]) == 1


# --- the waitlist by hand ---------------------------------------------------------------------


def test_promote_by_hand_respects_capacity_unless_raised_and_notifies(app, ctx):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    event = make_event(inegi, capacity=1)
    services.register(make_user(), event)
    waiting = services.register(make_user(name="Dora"), event)
    with pytest.raises(DomainError) as full:
        services.promote_by_hand(liaison, event, waiting.id)
    assert full.value.code == "event_full" and "subir el cupo" in str(full.value.message)
    db.session.rollback()
    promoted = services.promote_by_hand(liaison, event, waiting.id, raise_capacity=True)
    assert promoted.status == RegistrationStatus.confirmed and promoted.promoted_at is not None
    assert services.get_event(event.id).capacity == 2
    (raised,) = _audits("event.capacity_raised")
    assert raised.details["from"] == 1 and raised.details["to"] == 2
    assert len(_audits("registration.promote_by_hand")) == 1
    note = db.session.execute(
        select(Notification).where(Notification.dedupe_key == f"event-registration:{waiting.id}:promoted")
    ).scalar_one()
    assert "Se liberó un lugar" in note.subject
    with pytest.raises(DomainError) as not_waiting:
        services.promote_by_hand(liaison, event, waiting.id)
    assert not_waiting.value.code == "not_waitlisted"


def test_promote_page_asks_before_raising_the_capacity(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        event = make_event(inegi, capacity=1)
        services.register(make_user(), event)
        waiting = services.register(make_user(name="Dora"), event)
        event_id, waiting_id = event.id, waiting.id
    login(client, "enlace@example.org")
    assert "Confirmar" in client.get(f"/events/{event_id}/registrations").get_data(as_text=True)
    asked = client.post(f"/events/{event_id}/registrations/{waiting_id}/promote")
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Subir el cupo a 2 y confirmar" in html
    with app.app_context():
        assert db.session.get(Registration, waiting_id).status == RegistrationStatus.waitlisted
    done = client.post(f"/events/{event_id}/registrations/{waiting_id}/promote", data={"raise_capacity": "1"})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(Registration, waiting_id).status == RegistrationStatus.confirmed


def _table(institution, capacity, **seats):
    """A dialogue table with seats reserved per sector."""
    return make_event(institution, kind="dialogue_table", capacity=capacity, sector_seats=seats)


def _person(sector, name=""):
    user = make_user(name=name)
    user.sector = sector
    db.session.commit()
    return user


def test_promote_by_hand_asks_before_giving_a_full_sector_one_more_seat(app, ctx):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    event = _table(inegi, 4, academia=1)
    services.register(_person("academia"), event)
    waiting = services.register(_person("academia", "Dora"), event)
    assert waiting.status == RegistrationStatus.waitlisted  # academia's one seat is taken
    with pytest.raises(DomainError) as full:
        services.promote_by_hand(liaison, event, waiting.id)
    assert full.value.code == "sector_full" and full.value.field == "raise_sector_seats"
    assert "Academia" in str(full.value.message) and "1 de 1" in str(full.value.message)
    db.session.rollback()
    # Raising the capacity does not answer it: the free seats are not academia's.
    with pytest.raises(DomainError) as still:
        services.promote_by_hand(liaison, event, waiting.id, raise_capacity=True)
    assert still.value.code == "sector_full"
    db.session.rollback()
    assert db.session.get(Registration, waiting.id).status == RegistrationStatus.waitlisted

    promoted = services.promote_by_hand(liaison, event, waiting.id, raise_sector_seats=True)
    assert promoted.status == RegistrationStatus.confirmed
    db.session.expire_all()
    event = services.get_event(event.id)
    # One of the two open seats became academia's; nobody else's seat was touched.
    assert event.seats_by_sector == {"academia": 2} and event.capacity == 4
    (raised,) = _audits("event.sector_seats_raised")
    assert raised.actor_id == liaison.id
    assert raised.details == {"sector": "academia", "from": 1, "to": 2, "registration_id": waiting.id}
    assert _audits("event.capacity_raised") == []
    # The counts still fit the seats, so the event can be edited as before.
    services.update_event(liaison, event, {"capacity": 5})
    assert services.get_event(event.id).capacity == 5


def test_promote_by_hand_when_every_seat_is_reserved_grows_the_sector_and_the_capacity(app, ctx):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    event = _table(inegi, 2, academia=1, civil_society=1)
    services.register(_person("academia"), event)
    waiting = services.register(_person("academia"), event)
    with pytest.raises(DomainError) as sector:
        services.promote_by_hand(liaison, event, waiting.id, raise_capacity=True)
    assert sector.value.code == "sector_full"
    db.session.rollback()
    # Civil society keeps its reserved seat, so the capacity must grow too: asked as usual.
    with pytest.raises(DomainError) as capacity:
        services.promote_by_hand(liaison, event, waiting.id, raise_sector_seats=True)
    assert capacity.value.code == "event_full" and "subir el cupo a 3" in str(capacity.value.message)
    db.session.rollback()
    services.promote_by_hand(liaison, event, waiting.id, raise_capacity=True, raise_sector_seats=True)
    db.session.expire_all()
    event = services.get_event(event.id)
    assert event.seats_by_sector == {"academia": 2, "civil_society": 1} and event.capacity == 3
    activist = services.register(_person("civil_society"), event)
    assert activist.status == RegistrationStatus.confirmed


def test_promote_by_hand_outside_the_reserved_sectors_needs_room_in_the_shared_seats(app, ctx):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    event = _table(inegi, 3, academia=2)
    services.register(_person("citizen"), event)
    waiting = services.register(_person("citizen"), event)
    assert waiting.status == RegistrationStatus.waitlisted  # the one shared seat is taken
    with pytest.raises(DomainError) as refused:
        services.promote_by_hand(liaison, event, waiting.id)
    # The two free seats are academia's: the capacity must grow (the shared seats with it).
    assert refused.value.code == "event_full" and "reservados" in str(refused.value.message)
    db.session.rollback()
    services.promote_by_hand(liaison, event, waiting.id, raise_capacity=True)
    db.session.expire_all()
    event = services.get_event(event.id)
    assert event.capacity == 4 and event.seats_by_sector == {"academia": 2}
    assert services.register(_person("academia"), event).status == RegistrationStatus.confirmed
    assert services.register(_person("academia"), event).status == RegistrationStatus.confirmed


def test_promote_page_and_api_ask_before_growing_a_sector(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        headers = _bearer(make_liaison(inegi))
        event = _table(inegi, 4, academia=1)
        services.register(_person("academia"), event)
        first = services.register(_person("academia", "Dora"), event)
        second = services.register(_person("academia", "Eva"), event)
        event_id, first_id, second_id = event.id, first.id, second.id
    login(client, "enlace@example.org")
    page = f"/events/{event_id}/registrations/{first_id}/promote"
    shown = client.get(page).get_data(as_text=True)
    assert "Subir los lugares de Academia a 2 y confirmar" in shown
    asked = client.post(page)
    assert asked.status_code == 200
    assert "Subir los lugares de Academia a 2 y confirmar" in asked.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Registration, first_id).status == RegistrationStatus.waitlisted
    done = client.post(page, data={"raise_sector_seats": "1"})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(Registration, first_id).status == RegistrationStatus.confirmed

    path = f"{API}/events/{event_id}/registrations/{second_id}/promote"
    refused = client.post(path, json={}, headers=headers)
    assert refused.status_code == 409
    error = refused.json["error"]
    assert error["code"] == "sector_full" and "raise_sector_seats" in error["fields"]
    confirmed = client.post(path, json={"raise_sector_seats": True}, headers=headers)
    assert confirmed.status_code == 200 and confirmed.json["status"] == "confirmed"
    with app.app_context():
        assert services.get_event(event_id).seats_by_sector == {"academia": 3}
    spec = client.get(f"{API}/openapi.json").json
    promote = spec["paths"]["/api/v1/events/{event_id}/registrations/{registration_id}/promote"]["post"]
    assert "sector_full" in promote["responses"]["409"]["description"]


# --- XLSX -----------------------------------------------------------------------------------------


def test_attendee_xlsx_opens_as_a_workbook_with_text_cells_not_formulas(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        liaison = make_liaison(inegi, "enlace@example.org")
        event = _soon_event(inegi)
        services.register(make_user(name="José Núñez"), event)
        services.record_walk_in(liaison, event, '=HYPERLINK("http://x.example","clic")')
        event_id = event.id
    login(client, "enlace@example.org")
    response = client.get(f"/events/{event_id}/registrations.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "registros.xlsx" in response.headers["Content-Disposition"]
    book = zipfile.ZipFile(io.BytesIO(response.data))
    assert "xl/worksheets/sheet1.xml" in book.namelist()
    sheet = book.read("xl/worksheets/sheet1.xml").decode()
    strings = book.read("xl/sharedStrings.xml").decode()
    assert "<f>" not in sheet  # no formula anywhere
    assert "José Núñez" in strings and "Código" in strings
    assert "&apos;=HYPERLINK" in strings or "'=HYPERLINK" in strings
    assert re.search(r"<sheet [^>]*name=\"Registros\"", book.read("xl/workbook.xml").decode())
    assert "Descargar Excel" in client.get(f"/events/{event_id}/registrations").get_data(as_text=True)


# --- certificates ----------------------------------------------------------------------------------


def _inflate(body: bytes) -> bytes:
    """The data of the stream in a PDF object's body, inflated when it is compressed."""
    match = re.search(rb"stream\r?\n(.*?)endstream", body, re.S)
    if match is None:
        return b""
    # The line break before endstream is not part of the data, but a compressed stream may
    # itself end in \r or \n, so let zlib find its own end (whatever follows lands in
    # unused_data) instead of trimming bytes.
    if b"/FlateDecode" not in body[: match.start()]:
        return match.group(1)
    return zlib.decompressobj().decompress(match.group(1))


def _unescape(literal: bytes) -> bytes:
    """The bytes of a PDF literal string (between its parentheses)."""
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def one(match: re.Match) -> bytes:
        escaped = match.group(1)
        if escaped[:1].isdigit():
            return bytes([int(escaped, 8) & 0xFF])
        if escaped in (b"\r\n", b"\n", b"\r"):
            return b""  # a line continuation
        return escapes.get(escaped, escaped)

    return re.sub(rb"\\([0-7]{1,3}|\r\n|.)", one, literal, flags=re.S)


def _to_unicode(cmap: bytes) -> dict[int, str]:
    """A font's ToUnicode CMap: character code to text (bfchar and bfrange entries)."""
    table: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
        for code, text in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            table[int(code, 16)] = bytes.fromhex(text.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
        for first, last, text in re.findall(
            rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block
        ):
            start = int(text, 16)
            for offset, code in enumerate(range(int(first, 16), int(last, 16) + 1)):
                table[code] = chr(start + offset)
    return table


def _pdf_text(data: bytes) -> str:
    """The text a PDF reader extracts from the pages, one shown string a line: each string
    decoded with its font's ToUnicode CMap (two-byte codes, embedded TrueType fonts), or as
    Latin-1 for a standard font without one."""
    objects = {int(n): body for n, body in re.findall(rb"(\d+) 0 obj(.*?)endobj", data, re.S)}
    fonts: dict[bytes, dict[int, str] | None] = {}
    for body in objects.values():
        for resources in re.findall(rb"/Font\s*<<(.*?)>>", body, re.S):
            for name, ref in re.findall(rb"/(\w+)\s+(\d+) 0 R", resources):
                unicode_ref = re.search(rb"/ToUnicode\s+(\d+) 0 R", objects[int(ref)])
                fonts[name] = (
                    _to_unicode(_inflate(objects[int(unicode_ref.group(1))])) if unicode_ref else None
                )
    pages = [
        _inflate(objects[int(ref)])
        for body in objects.values()
        if re.search(rb"/Type\s*/Page\b", body)
        for ref in re.findall(rb"/Contents\s+(\d+) 0 R", body)
    ]
    lines = []
    show = re.compile(rb"/(\w+)\s+[\d.]+\s+Tf|\(((?:\\.|[^\\)])*)\)\s*Tj|<([0-9A-Fa-f\s]*)>\s*Tj", re.S)
    for content in pages:
        table = None
        for match in show.finditer(content):
            if match.group(1) is not None:
                table = fonts.get(match.group(1))
                continue
            raw = (
                _unescape(match.group(2))
                if match.group(2) is not None
                else bytes.fromhex(match.group(3).decode())
            )
            if table is None:
                lines.append(raw.decode("latin-1"))
            else:
                codes = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
                lines.append("".join(table.get(code, "\ufffd") for code in codes))
    return "\n".join(lines)


def test_certificate_rules_pdf_and_verification(app, client):
    with app.app_context():
        inegi = make_institution("inegi", name="Instituto Nacional de Estadística y Geografía")
        liaison = make_liaison(inegi)
        event = _soon_event(inegi, title="Datatón de movilidad")
        lucia = make_user("lucia@example.org", name="Lucía Ramírez Núñez")
        registration = services.register(lucia, event)
        absent = services.register(make_user("ausente@example.org"), event)
        make_user("otra@example.org")
        event_id, registration_id, absent_id = event.id, registration.id, absent.id
        starts_at, liaison_id = event.starts_at, liaison.id
        services.check_in(liaison, event, registration.code)
    login(client, "lucia@example.org")
    path = f"/events/registrations/{registration_id}/constancia.pdf"
    # Checked in early (check-in opens 24 h before), but the event has not started.
    before = client.get(path)
    assert before.status_code == 302
    assert "cuando empieza la actividad" in client.get("/events/mine").get_data(as_text=True)
    with freeze_time(starts_at + timedelta(minutes=30)):
        mine = client.get("/events/mine").get_data(as_text=True)
        assert path in mine
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.data.startswith(b"%PDF")
        text = _pdf_text(response.data)
        assert "Lucía Ramírez Núñez" in text
        assert "Constancia de asistencia" in text
        again = client.get(path)
        assert again.status_code == 200
        assert client.get(f"/events/registrations/{absent_id}/constancia.pdf").status_code == 404  # not mine
    with app.app_context():
        (certificate,) = db.session.execute(select(AttendanceCertificate)).scalars()
        code = certificate.code
        assert len(code) == services.CERTIFICATE_CODE_LENGTH and code not in str(registration_id)
        assert len(_audits("registration.certificate_issued")) == 1
    assert services.display_certificate_code(code) in "".join(text.split())  # however it wraps
    public = client.application.test_client()
    page = public.get(f"/constancias/{services.display_certificate_code(code).lower()}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for shown in (
        "Lucía Ramírez Núñez",
        "Datatón de movilidad",
        "Instituto Nacional de Estadística y Geografía",
    ):
        assert shown in html
    assert public.get("/constancias/AAAABBBBCCCCDDDD").status_code == 404
    assert public.get("/constancias/x").status_code == 404
    verified = public.get(f"{API}/certificates/{code}").json
    assert verified["name"] == "Lucía Ramírez Núñez" and verified["valid"] is True
    # Someone who did not attend gets none; nor does anyone once the check-in is undone.
    login(client, "ausente@example.org")
    with freeze_time(starts_at + timedelta(minutes=30)):
        assert client.get(f"/events/registrations/{absent_id}/constancia.pdf").status_code == 302
        with app.app_context():
            services.undo_check_in(
                db.session.get(User, liaison_id), services.get_event(event_id), registration_id
            )
    assert public.get(f"/constancias/{code}").status_code == 404


def test_certificate_api_returns_the_pdf_only_to_the_attendee(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        liaison = make_liaison(inegi)
        event = _soon_event(inegi)
        person = make_user(name="Ana Ñandú")
        registration = services.register(person, event)
        services.check_in(liaison, event, registration.code)
        mine, other = _bearer(person), _bearer(make_user())
        path, starts_at = f"{API}/registrations/{registration.id}/certificate", event.starts_at
    assert client.get(path).status_code == 401
    early = client.get(path, headers=mine)
    assert early.status_code == 403 and early.json["error"]["code"] == "no_certificate"
    with freeze_time(starts_at + timedelta(hours=1)):
        assert client.get(path, headers=other).status_code == 404
        pdf = client.get(path, headers=mine)
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
        assert "Ana Ñandú" in _pdf_text(pdf.data)
    assert client.get(f"{API}/certificates/NOPE").status_code == 404


NAMES_BEYOND_LATIN1 = ["Łukasz Żółć", "Nguyễn Thị Ánh", "Ōtani Shōhei", "Dvořák Čapek", "Дмитрий Шостакович"]


def test_certificate_pdf_prints_names_beyond_latin1_as_written(app, client):
    """Polish, Vietnamese, macrons, Czech, Cyrillic: the PDF shows the name exactly (its text,
    as a reader extracts it, round-trips), and so do the verification page and the API."""
    with app.app_context():
        inegi = make_institution("inegi", name="Instituto Nacional de Estadística y Geografía")
        liaison = make_liaison(inegi)
        event = _soon_event(inegi, title="Datatón «Łódź – Hà Nội»")
        people = [make_user(name=name) for name in NAMES_BEYOND_LATIN1]
        for person in people:
            services.check_in(liaison, event, services.register(person, event).code)
        with freeze_time(event.starts_at + timedelta(minutes=5)):
            issued = [
                services.certificate_for(person, services.registration_for(person, event).id)
                for person in people
            ]
        pdfs = [certificates.certificate_pdf(certificate) for certificate in issued]
        codes = [certificate.code for certificate in issued]
    for name, pdf, code in zip(NAMES_BEYOND_LATIN1, pdfs, codes, strict=True):
        text = _pdf_text(pdf)
        assert name in text.splitlines(), text
        assert "Datatón «Łódź – Hà Nội»" in text
        assert "\ufffd" not in text and "?" not in text  # nothing replaced
        assert name in client.get(f"/constancias/{code}").get_data(as_text=True)
        assert client.get(f"{API}/certificates/{code}").json["name"] == name


def test_certificate_pdf_embeds_the_vendored_font_and_says_what_it_cannot_draw(app, ctx):
    """The font travels with the app (no system font); a character it has no glyph for
    (CJK, here) is printed as "?" rather than silently dropped or drawn as an empty box."""
    assert certificates.CERTIFICATE_FONT_DIR.is_relative_to(ROOT)
    assert (certificates.CERTIFICATE_FONT_DIR / "LICENSE").is_file()
    assert certificates.printable_on_certificate("Łukasz 大谷 Ōtani") == "Łukasz ?? Ōtani"
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    event = _soon_event(inegi)
    person = make_user(name="大谷 Shōhei")
    services.check_in(liaison, event, services.register(person, event).code)
    with freeze_time(event.starts_at + timedelta(minutes=5)):
        certificate = services.certificate_for(person, services.registration_for(person, event).id)
    pdf = certificates.certificate_pdf(certificate)
    assert b"/FontFile2" in pdf and b"DejaVuSans" in pdf  # embedded (as a subset), not referenced
    assert "?? Shōhei" in _pdf_text(pdf).splitlines()
    assert certificate.holder_name == "大谷 Shōhei"  # the record (and verification) keep it exact


def test_certificates_are_in_the_data_export_and_go_with_the_account(app, ctx):
    from accounts import services as accounts_services
    from tests.factories import PASSWORD

    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    event = _soon_event(inegi)
    person = make_user(name="Ana Ñandú")
    registration = services.register(person, event)
    services.check_in(liaison, event, registration.code)
    with freeze_time(event.starts_at + timedelta(minutes=5)):
        certificate = services.certificate_for(person, registration.id)
    code = certificate.code
    exported = accounts_services.export_personal_data(person)["attendance_certificates"]
    assert exported == [{**exported[0], "code": code, "name": "Ana Ñandú", "event_id": event.id}]
    accounts_services.delete_account(person, PASSWORD)
    db.session.commit()
    assert services.verify_certificate(code) is None
    assert db.session.execute(select(func.count()).select_from(AttendanceCertificate)).scalar() == 0
