"""Drafts stay private: a draft is deleted, never cancelled, and an event that was never
published never reaches the public (pages, API, lists, feeds, stories), whatever its state."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.exceptions import DomainError
from core.extensions import db
from core.models import AuditEntry
from core.timeutil import utcnow
from events import feed_services, services
from events.models import Event, EventStatus, Registration, RegistrationStatus, SuccessStory
from tests.factories import (
    PASSWORD,
    login,
    make_event,
    make_institution,
    make_liaison,
    make_user,
)

SECRET_TITLE = "Mesa secreta sobre nóminas"
SECRET_REASON = "Motivo interno: el titular no aprobó la mesa"


def token_for(client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/tokens", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def error_code(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.json["error"]["code"]


# --- a draft is deleted, not cancelled -----------------------------------------------------------


def test_a_draft_cannot_be_cancelled_it_is_deleted_and_audited(app, ctx):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    draft = make_event(inegi, publish=False, title=SECRET_TITLE)
    with pytest.raises(DomainError) as refused:
        services.cancel_event(liaison, draft, SECRET_REASON)
    assert refused.value.code == "illegal_transition"
    db.session.rollback()
    draft = db.session.get(Event, draft.id)
    assert draft.status == EventStatus.draft and draft.cancel_reason is None

    services.delete_draft(liaison, draft)
    assert db.session.get(Event, draft.id) is None
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "event.delete")).scalar_one()
    assert entry.actor_id == liaison.id and entry.object_id == str(draft.id)
    assert entry.details["title"] == SECRET_TITLE and entry.institution_id == inegi.id


def test_an_event_once_published_is_never_deleted(app, ctx):
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    published = make_event(inegi)
    cancelled = make_event(inegi, title="Cancelada")
    services.cancel_event(liaison, cancelled, "Sin sede")
    for event in (published, cancelled):
        with pytest.raises(DomainError) as refused:
            services.delete_draft(liaison, event)
        assert refused.value.code == "illegal_transition"
        db.session.rollback()
        assert db.session.get(Event, event.id) is not None


def test_publication_time_is_kept_by_the_database(app, ctx):
    """published_at is the first publication: a draft never has one, a public event always does."""
    inegi = make_institution("inegi")
    draft = make_event(inegi, publish=False)
    with pytest.raises(IntegrityError):
        db.session.execute(update(Event).where(Event.id == draft.id).values(status="published"))
    db.session.rollback()
    published = make_event(inegi)
    assert published.published_at is not None
    with pytest.raises(IntegrityError):
        db.session.execute(update(Event).where(Event.id == published.id).values(status="draft"))
    db.session.rollback()


def test_api_deletes_drafts_and_refuses_to_cancel_them(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        make_liaison(make_institution("salud"), "otra@example.org")
        draft_id = make_event(inegi, publish=False, title=SECRET_TITLE).id
        published_id = make_event(inegi).id
    liaison = token_for(client, "enlace@example.org")
    other = token_for(client, "otra@example.org")

    cancel = client.post(f"/api/v1/events/{draft_id}/cancel", json={"reason": SECRET_REASON}, headers=liaison)
    assert error_code(cancel, 409) == "illegal_transition"
    assert client.get(f"/api/v1/events/{draft_id}").status_code == 404  # still private

    assert client.delete(f"/api/v1/events/{draft_id}").status_code == 401
    assert client.delete(f"/api/v1/events/{draft_id}", headers=other).status_code == 404
    assert error_code(client.delete(f"/api/v1/events/{published_id}", headers=other), 403)
    assert error_code(client.delete(f"/api/v1/events/{published_id}", headers=liaison), 409) == (
        "illegal_transition"
    )
    deleted = client.delete(f"/api/v1/events/{draft_id}", headers=liaison)
    assert deleted.status_code == 204 and deleted.data == b""
    assert client.get(f"/api/v1/events/{draft_id}", headers=liaison).status_code == 404
    assert client.delete(f"/api/v1/events/{draft_id}", headers=liaison).status_code == 404
    with app.app_context():
        assert db.session.execute(
            select(AuditEntry.action).where(AuditEntry.action == "event.delete")
        ).scalar_one()
    document = client.get("/api/v1/openapi.json").json
    assert "delete" in document["paths"]["/api/v1/events/{event_id}"]


def test_pages_send_a_draft_to_deletion_with_a_confirmation_step(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        draft_id = make_event(inegi, publish=False, title=SECRET_TITLE).id
    login(client, "enlace@example.org")
    detail = client.get(f"/events/{draft_id}").get_data(as_text=True)
    assert f"/events/{draft_id}/delete" in detail and f"/events/{draft_id}/cancel" not in detail

    cancel = client.get(f"/events/{draft_id}/cancel")
    assert cancel.status_code == 302 and cancel.headers["Location"].endswith(f"/events/{draft_id}/delete")
    refused = client.post(f"/events/{draft_id}/cancel", data={"reason": SECRET_REASON}, follow_redirects=True)
    assert "Un borrador no se cancela" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Event, draft_id).status == EventStatus.draft

    confirm = client.get(f"/events/{draft_id}/delete")
    assert confirm.status_code == 200
    assert "¿Eliminar «Mesa secreta sobre nóminas»?" in confirm.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Event, draft_id) is not None  # the GET only asks
    done = client.post(f"/events/{draft_id}/delete", follow_redirects=True)
    assert "Eliminamos el borrador" in done.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Event, draft_id) is None


def test_a_published_event_is_cancelled_not_deleted_in_the_pages(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        event_id = make_event(inegi).id
    login(client, "enlace@example.org")
    response = client.post(f"/events/{event_id}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/events/{event_id}/cancel")
    with app.app_context():
        assert db.session.get(Event, event_id) is not None


# --- never published, whatever the state: never public ---------------------------------------------


def _never_published_events(inegi) -> dict[str, int]:
    """A draft, and a draft cancelled before the fix (as old data has them), with a registration."""
    draft = make_event(inegi, publish=False, title=f"{SECRET_TITLE} (borrador)", description=SECRET_REASON)
    cancelled = make_event(
        inegi, publish=False, title=f"{SECRET_TITLE} (cancelada)", description=SECRET_REASON
    )
    db.session.execute(
        update(Event)
        .where(Event.id == cancelled.id)
        .values(status="cancelled", cancel_reason=SECRET_REASON, cancelled_at=utcnow())
    )
    db.session.commit()
    return {"draft": draft.id, "cancelled": cancelled.id}


@pytest.mark.parametrize("state", ["draft", "cancelled"])
def test_a_never_published_event_is_404_and_absent_everywhere(app, client, state):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        make_liaison(make_institution("salud"), "otra@example.org")
        ana = make_user("ana@example.org")
        public = make_event(inegi, title="Datatón público")
        public_id = public.id
        event_id = _never_published_events(inegi)[state]
        # Old data may hold a registration on it: the private feed must not show it either.
        services.register(ana, public)
        db.session.add(
            Registration(
                event_id=event_id,
                user_id=ana.id,
                status=RegistrationStatus.confirmed,
                code="ZZZZ2345",
                answers={},
                created_at=utcnow(),
            )
        )
        db.session.commit()
        raw = feed_services.shown_token(feed_services.issue_feed_token(ana))

    def assert_private(client, headers=None, *, signed_in: bool = True) -> None:
        headers = headers or {}
        for path in (
            f"/events/{event_id}",
            f"/events/{event_id}.ics",
            *([f"/events/{event_id}/register"] if signed_in else []),
            f"/api/v1/events/{event_id}",
            f"/api/v1/events/{event_id}/commitments",
            f"/api/v1/events/{event_id}/outcome",
        ):
            assert client.get(path, headers=headers).status_code == 404, path
        for path in (
            "/events",
            "/events?when=past",
            "/events?when=",
            "/events?institution=inegi&when=",
            "/api/v1/events",
            "/api/v1/events?institution=inegi",
            "/events.ics",
            "/events.ics?institution=inegi",
            "/institutions/inegi/events.ics",
            f"/calendar/{raw}.ics",
            "/stories",
            "/api/v1/stories",
            "/",
        ):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, path
            body = response.get_data(as_text=True)
            assert SECRET_TITLE not in body and SECRET_REASON not in body, path
            assert f'/events/{event_id}"' not in body and f"/events/{event_id}\r" not in body, path
        listed = client.get("/api/v1/events", headers=headers).json
        assert public_id in [e["id"] for e in listed] and event_id not in [e["id"] for e in listed]

    assert_private(client, signed_in=False)  # nobody signed in
    login(client, "ana@example.org")
    assert_private(client)  # a registered person
    client.post("/logout")
    login(client, "otra@example.org")
    assert_private(client, token_for(client, "otra@example.org"))  # another institution's liaison
    client.post("/logout")

    # Its own institution still sees and manages it.
    login(client, "enlace@example.org")
    assert client.get(f"/events/{event_id}").status_code == 200
    assert SECRET_TITLE in client.get("/events/manage").get_data(as_text=True)
    headers = token_for(client, "enlace@example.org")
    assert client.get(f"/api/v1/events/{event_id}", headers=headers).status_code == 200
    assert client.get(f"/events/{event_id}.ics").status_code == 200


def test_a_story_of_an_event_never_published_is_not_public(app, ctx, client):
    """Stories list and pages go through the same predicate as events."""
    inegi = make_institution("inegi")
    liaison = make_liaison(inegi)
    event = make_event(inegi, publish=False, title=SECRET_TITLE)
    # Old data: a completed event with no publication time cannot exist (the database refuses
    # it), so the story of a never-published event can only hang off a draft or a cancelled one.
    story = SuccessStory(
        event_id=event.id,
        institution_id=inegi.id,
        title="Historia secreta",
        body=SECRET_REASON,
        published_at=utcnow(),
        created_by_id=liaison.id,
    )
    db.session.add(story)
    db.session.commit()
    assert "Historia secreta" not in client.get("/stories").get_data(as_text=True)
    assert client.get(f"/stories/{story.id}").status_code == 404
    assert client.get(f"/api/v1/stories/{story.id}").status_code == 404
    assert client.get("/api/v1/stories").json == []
    assert services.list_stories().total == 0
    assert event.id not in [e.id for e in db.session.execute(services.public_events()).scalars()]
