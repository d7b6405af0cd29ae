"""Institutions consent: being named co-host of an event, or responsible for a commitment, takes
effect only once one of the institution's liaisons or staff accepts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from freezegun import freeze_time
from icalendar import Calendar
from sqlalchemy import select

from accounts import services as accounts_services
from accounts.services import issue_api_token
from core.exceptions import DomainError
from core.extensions import db
from core.models import AuditEntry, Institution
from events import services
from events.models import Commitment, ConsentStatus, EventCohost
from notifications.models import InAppNotification, Notification
from tests.conftest import IS_POSTGRES
from tests.factories import (
    PASSWORD,
    deliver_outbox,
    login,
    mails_to,
    make_event,
    make_institution,
    make_liaison,
    make_user,
)

PENDING_COHOST = "Co-organizador (pendiente de confirmar)"


def token_for(client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/tokens", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def audit_of(action: str) -> list[AuditEntry]:
    return list(db.session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def uids(body: bytes) -> set[str]:
    return {str(vevent["UID"]) for vevent in Calendar.from_ical(body).events}


def setup_institutions(app) -> dict[str, int]:
    """INEGI organises; UNAM is named co-host (a liaison and a staff member answer for it)."""
    with app.app_context():
        inegi = make_institution("inegi", name="Instituto Nacional de Estadística", acronym="INEGI")
        unam = make_institution("unam", name="Universidad Nacional", acronym="UNAM")
        make_institution("salud", name="Secretaría de Salud", acronym="SSA")
        organiser = make_liaison(inegi, "enlace@inegi.example")
        make_liaison(unam, "enlace@unam.example")
        make_liaison(unam, "staff@unam.example", role="staff")
        make_liaison(make_institution("otra"), "otra@example.org")
        make_user("ana@example.org")
        event = make_event(inegi, actor=organiser, title="Datatón universitario", cohosts=["unam"])
        return {"event": event.id}


# --- co-hosts ------------------------------------------------------------------------------------


def test_a_named_cohost_is_pending_is_asked_and_does_not_count_until_it_accepts(app, client, mail_dir):
    event_id = setup_institutions(app)["event"]
    with app.app_context():
        cohost = db.session.execute(select(EventCohost)).scalar_one()
        assert cohost.status == ConsentStatus.pending and cohost.responded_at is None
        # Both of UNAM's liaisons and staff are asked, in the app and by email; INEGI's are not.
        asked = db.session.execute(
            select(InAppNotification.kind, InAppNotification.link).where(
                InAppNotification.kind == "events.cohost_request"
            )
        ).all()
        assert asked == [("events.cohost_request", "/events/requests")] * 2
        deliver_outbox()
        for email in ("enlace@unam.example", "staff@unam.example"):
            (message,) = mails_to(mail_dir, email)
            assert "Datatón universitario" in message["Subject"] and "co-organizadora" in message["Subject"]
            body = message.get_body(preferencelist=("plain",)).get_content()
            assert "http://promueve.test/events/requests" in body
        assert mails_to(mail_dir, "enlace@inegi.example") == []

    page = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert "Universidad Nacional" in page and PENDING_COHOST in page
    api = client.get(f"/api/v1/events/{event_id}").json
    assert api["cohosts"] == [
        {"slug": "unam", "name": "Universidad Nacional", "acronym": "UNAM", "status": "pending"}
    ]
    # Not UNAM's event yet: not in its calendar, not in the lists filtered by it.
    uid = f"event-{event_id}@promueve.test"
    assert uid not in uids(client.get("/institutions/unam/events.ics").data)
    assert uid not in uids(client.get("/events.ics?institution=unam").data)
    assert client.get("/api/v1/events?institution=unam").json == []
    assert "Datatón universitario" not in client.get("/events?institution=unam").get_data(as_text=True)

    staff = token_for(client, "staff@unam.example")
    pending = client.get("/api/v1/consent-requests", headers=staff).json
    assert [(c["event_id"], c["event_title"], c["status"]) for c in pending["cohosts"]] == [
        (event_id, "Datatón universitario", "pending")
    ]
    assert pending["commitments"] == []
    assert client.get("/api/v1/consent-requests", headers=token_for(client, "otra@example.org")).json == {
        "cohosts": [],
        "commitments": [],
    }
    assert client.get("/api/v1/consent-requests").status_code == 401
    accepted = client.post(f"/api/v1/events/{event_id}/cohosts/unam/accept", headers=staff)
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["status"] == "accepted" and accepted.json["institution"]["slug"] == "unam"
    again = client.post(f"/api/v1/events/{event_id}/cohosts/unam/accept", headers=staff)
    assert again.status_code == 200 and again.json["status"] == "accepted"

    page = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert "Universidad Nacional" in page and PENDING_COHOST not in page
    assert client.get(f"/api/v1/events/{event_id}").json["cohosts"][0]["status"] == "accepted"
    assert uid in uids(client.get("/institutions/unam/events.ics").data)
    assert uid in uids(client.get("/events.ics?institution=unam").data)
    assert [e["id"] for e in client.get("/api/v1/events?institution=unam").json] == [event_id]
    assert "Datatón universitario" in client.get("/events?institution=unam").get_data(as_text=True)
    with app.app_context():
        (entry,) = audit_of("event.cohost.accept")
        assert entry.details == {"institution": "unam"} and entry.object_id == str(event_id)
        assert entry.actor_id is not None
        # The organiser hears the answer.
        kinds = db.session.execute(
            select(Notification.kind, Notification.to_email).where(
                Notification.kind == "events.cohost_accepted"
            )
        ).all()
        assert kinds == [("events.cohost_accepted", "enlace@inegi.example")]
        declined = client.post(f"/api/v1/events/{event_id}/cohosts/unam/decline", headers=staff)
        assert declined.status_code == 409 and declined.json["error"]["code"] == "illegal_transition"


def test_a_declined_cohost_disappears_from_public_pages_and_the_organiser_sees_it(app, client):
    event_id = setup_institutions(app)["event"]
    login(client, "enlace@unam.example")
    requests_page = client.get("/events/requests").get_data(as_text=True)
    assert "Datatón universitario" in requests_page
    assert f"/events/{event_id}/cohosts/unam/decline" in requests_page
    response = client.post(f"/events/{event_id}/cohosts/unam/decline", follow_redirects=True)
    assert "Declinaste" in response.get_data(as_text=True)
    assert "No hay solicitudes pendientes." in client.get("/events/requests").get_data(as_text=True)
    client.post("/logout")

    page = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert "Universidad Nacional" not in page
    assert client.get(f"/api/v1/events/{event_id}").json["cohosts"] == []
    assert f"event-{event_id}@promueve.test" not in uids(client.get("/institutions/unam/events.ics").data)

    login(client, "enlace@inegi.example")
    organiser_page = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert "Universidad Nacional" in organiser_page and "Declinó co-organizar" in organiser_page
    organiser = token_for(client, "enlace@inegi.example")
    cohosts = client.get(f"/api/v1/events/{event_id}", headers=organiser).json["cohosts"]
    assert [(c["slug"], c["status"]) for c in cohosts] == [("unam", "declined")]
    # Saving the event again with the same co-hosts keeps the answer (no new request).
    edited = client.patch(
        f"/api/v1/events/{event_id}", json={"cohosts": ["unam"], "title": "Datatón UNAM"}, headers=organiser
    )
    assert edited.status_code == 200 and edited.json["cohosts"][0]["status"] == "declined"
    with app.app_context():
        assert len(audit_of("event.cohost.decline")) == 1
        assert len(audit_of("event.cohost.request")) == 1
        assert (
            db.session.execute(
                select(InAppNotification.title).where(InAppNotification.kind == "events.cohost_declined")
            )
            .scalar_one()
            .startswith("La institución Universidad Nacional (UNAM) declinó")
        )


def test_only_the_named_institution_answers(app, client):
    event_id = setup_institutions(app)["event"]
    path = f"/api/v1/events/{event_id}/cohosts/unam/accept"
    assert client.post(path).status_code == 401
    assert client.post(path, headers=token_for(client, "otra@example.org")).status_code == 403
    assert client.post(path, headers=token_for(client, "enlace@inegi.example")).status_code == 403
    assert client.post(path, headers=token_for(client, "ana@example.org")).status_code == 403
    unam = token_for(client, "enlace@unam.example")
    assert client.post(f"/api/v1/events/{event_id}/cohosts/salud/accept", headers=unam).status_code == 404
    assert client.post("/api/v1/events/999999/cohosts/unam/accept", headers=unam).status_code == 404
    login(client, "otra@example.org")
    assert client.post(f"/events/{event_id}/cohosts/unam/accept").status_code == 403
    with app.app_context():
        assert db.session.execute(select(EventCohost.status)).scalar_one() == ConsentStatus.pending


def test_a_draft_cohost_request_does_not_reveal_the_draft_to_others(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_institution("unam")
        organiser = make_liaison(inegi, "enlace@inegi.example")
        make_liaison(make_institution("otra"), "otra@example.org")
        draft_id = make_event(inegi, actor=organiser, publish=False, cohosts=["unam"]).id
    other = token_for(client, "otra@example.org")
    assert client.post(f"/api/v1/events/{draft_id}/cohosts/unam/accept", headers=other).status_code == 404


def test_naming_ones_own_other_institution_is_consent(app, ctx):
    """Someone who is liaison of both institutions consents by naming the other one."""
    inegi = make_institution("inegi")
    unam = make_institution("unam")
    both = make_liaison(inegi)
    accounts_services.add_member(None, unam, both, "staff")
    event = make_event(inegi, actor=both, cohosts=["unam"])
    assert event.cohosts[0].status == ConsentStatus.accepted
    (entry,) = audit_of("event.cohost.accept")
    assert entry.details == {"institution": "unam", "automatic": True}
    assert db.session.execute(select(InAppNotification)).scalars().all() == []


# --- commitments -----------------------------------------------------------------------------------


def completed_event_with_commitment(app) -> dict[str, int]:
    ids = setup_institutions(app)
    with app.app_context():
        inegi = db.session.execute(select(Institution).where(Institution.slug == "inegi")).scalar_one()
        organiser = accounts_services.find_user("enlace@inegi.example")
        event = make_event(inegi, actor=organiser, title="Mesa de salud")
        with freeze_time(event.starts_at + timedelta(hours=1)):
            services.record_outcome(organiser, event, attendance_count=12, minutes="Acuerdos.")
            commitment = services.add_commitment(
                organiser,
                event,
                {"text": "Publicar egresos hospitalarios por municipio", "responsible_institution": "unam"},
            )
            own = services.add_commitment(
                organiser, event, {"text": "Publicar la minuta", "responsible_institution": "inegi"}
            )
        return {**ids, "completed": event.id, "commitment": commitment.id, "own": own.id}


def test_a_commitment_naming_another_institution_is_pending_until_accepted(app, client, mail_dir):
    ids = completed_event_with_commitment(app)
    event_id, commitment_id = ids["completed"], ids["commitment"]
    with app.app_context():
        commitment = db.session.get(Commitment, commitment_id)
        assert commitment.responsible_status == ConsentStatus.pending
        assert db.session.get(Commitment, ids["own"]).responsible_status == ConsentStatus.accepted
        deliver_outbox()
        (message,) = [m for m in mails_to(mail_dir, "staff@unam.example") if "Mesa de salud" in m["Subject"]]
        assert "Publicar egresos hospitalarios" in message.get_body(preferencelist=("plain",)).get_content()

    public = {c["id"]: c for c in client.get(f"/api/v1/events/{event_id}/commitments").json}
    assert public[commitment_id]["responsible_status"] == "pending"
    assert public[ids["own"]]["responsible_status"] == "accepted"
    page = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert 'Universidad Nacional (UNAM) <span class="muted">(pendiente de confirmar)</span>' in page

    unam = token_for(client, "enlace@unam.example")
    pending = client.get("/api/v1/consent-requests", headers=unam).json["commitments"]
    assert [(c["id"], c["event_id"], c["responsible_status"]) for c in pending] == [
        (commitment_id, event_id, "pending")
    ]
    accepted = client.post(f"/api/v1/commitments/{commitment_id}/accept", headers=unam)
    assert accepted.status_code == 200 and accepted.json["responsible_status"] == "accepted"
    page = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert "Universidad Nacional" in page and "(pendiente de confirmar)" not in page
    assert client.post(f"/api/v1/commitments/{commitment_id}/decline", headers=unam).json["error"][
        "code"
    ] == ("illegal_transition")
    with app.app_context():
        (entry,) = [e for e in audit_of("commitment.responsible.accept") if "automatic" not in e.details]
        assert entry.details == {"commitment_id": commitment_id, "institution": "unam"}
    document = client.get("/api/v1/openapi.json").json["paths"]
    for path in (
        "/api/v1/consent-requests",
        "/api/v1/events/{event_id}/cohosts/{slug}/accept",
        "/api/v1/events/{event_id}/cohosts/{slug}/decline",
        "/api/v1/commitments/{commitment_id}/accept",
        "/api/v1/commitments/{commitment_id}/decline",
    ):
        assert {"post", "get"} & set(document[path]), path


def test_a_declined_commitment_no_longer_names_the_institution(app, client):
    ids = completed_event_with_commitment(app)
    event_id, commitment_id = ids["completed"], ids["commitment"]
    assert client.post(f"/api/v1/commitments/{commitment_id}/accept").status_code == 401
    other = token_for(client, "otra@example.org")
    assert client.post(f"/api/v1/commitments/{commitment_id}/accept", headers=other).status_code == 403
    organiser_token = token_for(client, "enlace@inegi.example")
    assert (
        client.post(f"/api/v1/commitments/{commitment_id}/accept", headers=organiser_token).status_code == 403
    )
    assert client.post(f"/api/v1/commitments/{ids['own']}/accept", headers=other).status_code == 403

    login(client, "staff@unam.example")
    requests_page = client.get("/events/requests").get_data(as_text=True)
    assert "Publicar egresos hospitalarios por municipio" in requests_page
    client.post(f"/events/{event_id}/commitments/{commitment_id}/responsibility/decline")
    client.post("/logout")

    public = {c["id"]: c for c in client.get(f"/api/v1/events/{event_id}/commitments").json}
    assert public[commitment_id]["responsible_institution"] is None
    assert public[commitment_id]["responsible_status"] is None
    assert public[commitment_id]["responsible"] == ""
    page = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert "Publicar egresos hospitalarios" in page and "Universidad Nacional" not in page
    assert "Por confirmar" in page

    login(client, "enlace@inegi.example")
    outcome = client.get(f"/events/{event_id}/outcome").get_data(as_text=True)
    assert "Universidad Nacional" in outcome and "Declinó" in outcome
    mine = {
        c["id"]: c for c in client.get(f"/api/v1/events/{event_id}/commitments", headers=organiser_token).json
    }
    assert mine[commitment_id]["responsible_status"] == "declined"
    # Naming someone else asks again; a person's name needs no consent.
    changed = client.patch(
        f"/api/v1/commitments/{commitment_id}",
        json={"responsible_institution": "salud", "responsible_name": None},
        headers=organiser_token,
    )
    assert changed.status_code == 200 and changed.json["responsible_status"] == "pending"
    with app.app_context():
        assert len(audit_of("commitment.responsible.decline")) == 1
        assert len(audit_of("commitment.responsible.request")) == 2
        declined = db.session.execute(
            select(InAppNotification).where(InAppNotification.kind == "events.commitment_declined")
        ).scalar_one()
        assert declined.link == f"/events/{event_id}/outcome"


def test_answers_are_refused_once_given(app, ctx):
    inegi = make_institution("inegi")
    unam = make_institution("unam")
    organiser = make_liaison(inegi)
    unam_liaison = make_liaison(unam)
    event = make_event(inegi, actor=organiser, cohosts=["unam"])
    cohost = event.cohosts[0]
    services.answer_cohost(unam_liaison, cohost, accept=False)
    with pytest.raises(DomainError) as refused:
        services.answer_cohost(unam_liaison, cohost, accept=True)
    assert refused.value.code == "illegal_transition"


# --- demo ------------------------------------------------------------------------------------------


def test_demo_cohosts_are_accepted(app, demo, ctx):
    # `demo`: what seed_demo() wrote on empty tables (tests/conftest.py).
    rows = db.session.execute(select(EventCohost)).scalars().all()
    assert rows and all(row.status == ConsentStatus.accepted for row in rows)


# --- concurrent answers ------------------------------------------------------------------------------


@pytest.mark.skipif(not IS_POSTGRES, reason="row locks are proven on PostgreSQL")
def test_simultaneous_answers_the_first_wins_and_is_audited_once(app):
    """Ten people of the co-host answer at once, half accept and half decline: one answer holds,
    the same answer is a harmless repeat (200), the other one is refused (409)."""
    with app.app_context():
        inegi = make_institution("inegi")
        unam = make_institution("unam")
        organiser = make_liaison(inegi)
        tokens = []
        for n in range(10):
            person = make_liaison(unam, f"persona{n}@unam.example", role="staff")
            tokens.append(issue_api_token(person, "burst")[1])
        event_id = make_event(inegi, actor=organiser, cohosts=["unam"]).id
        db.session.remove()
    barrier = threading.Barrier(len(tokens))

    def answer(index_token):
        index, token = index_token
        client = app.test_client()
        verb = "accept" if index % 2 else "decline"
        barrier.wait()
        response = client.post(
            f"/api/v1/events/{event_id}/cohosts/unam/{verb}", headers={"Authorization": f"Bearer {token}"}
        )
        return verb, response.status_code

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        results = list(pool.map(answer, enumerate(tokens)))
    with app.app_context():
        final = db.session.execute(select(EventCohost.status)).scalar_one()
        winner = "accept" if final == ConsentStatus.accepted else "decline"
        assert sorted(code for verb, code in results if verb == winner) == [200] * 5
        assert sorted(code for verb, code in results if verb != winner) == [409] * 5
        answers = audit_of("event.cohost.accept") + audit_of("event.cohost.decline")
        assert len(answers) == 1
        db.session.remove()
