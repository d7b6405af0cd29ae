"""The events API: the contract's names, status codes and error shape."""

from __future__ import annotations

import json
from datetime import timedelta

from freezegun import freeze_time
from openapi_spec_validator import validate

from core.extensions import db
from core.timeutil import utcnow
from events.models import Event, Registration
from tests.factories import PASSWORD, make_event, make_institution, make_liaison, make_user


def token_for(client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/tokens", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def unverified_token(app, client) -> dict[str, str]:
    """A token of the unverified account (unverified accounts get none today: one from before)."""
    from accounts.services import find_user

    with app.app_context():
        find_user("sinverificar@example.org").email_verified_at = utcnow()
        db.session.commit()
    headers = token_for(client, "sinverificar@example.org")
    with app.app_context():
        find_user("sinverificar@example.org").email_verified_at = None
        db.session.commit()
    return headers


def error_of(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.json["error"]
    if code:
        assert error["code"] == code
    return error


def payload(**overrides):
    starts = (utcnow() + timedelta(days=14)).replace(microsecond=0)
    body = {
        "institution": "inegi",
        "kind": "datathon",
        "title": "Datatón de censos",
        "summary": "Trabajemos con el censo 2020.",
        "description": "## Reglas\n\nEquipos de 3.",
        "format": "hybrid",
        "venue": "INEGI Aguascalientes",
        "address": "Av. Héroe de Nacozari Sur 2301",
        "state": "Aguascalientes",
        "online_url": "https://meet.example.org/censo",
        "starts_at": starts.astimezone().isoformat(),
        "ends_at": (starts + timedelta(hours=8)).isoformat(),
        "timezone": "America/Mexico_City",
        "capacity": 2,
        "waitlist": True,
        "registration_opens_at": None,
        "registration_closes_at": None,
        "reminder_offsets_minutes": [1440, 60],
        "sector_seats": {},
        "academic_partner": None,
        "agenda": [{"time": "09:00", "title": "Registro", "speaker": None}],
        "datasets": [{"title": "Censo 2020", "url": "https://www.inegi.org.mx/programas/ccpv/2020/"}],
    }
    body.update(overrides)
    return body


def setup_people(app):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        make_liaison(make_institution("salud"), "otra@example.org")
        make_user("ana@example.org")
        make_user("beto@example.org")
        make_user("caro@example.org")
        make_user("sinverificar@example.org", verified=False)


def test_create_publish_register_and_cancel_through_the_api(app, client):
    setup_people(app)
    liaison = token_for(client, "enlace@example.org")
    created = client.post("/api/v1/events", json=payload(), headers=liaison)
    assert created.status_code == 201, created.json
    event = created.json
    assert event["id"] and event["status"] == "draft" and event["capacity"] == 2
    assert event["confirmed_count"] == 0 and event["waitlist_count"] == 0
    assert event["starts_at"].endswith(("-06:00", "-05:00"))  # ISO 8601 with the zone's offset
    assert event["online_url"] == "https://meet.example.org/censo"  # managers see it
    assert event["agenda"][0]["title"] == "Registro"
    event_id = event["id"]
    assert client.get(f"/api/v1/events/{event_id}").status_code == 404  # drafts are private

    published = client.post(f"/api/v1/events/{event_id}/publish", headers=liaison)
    assert published.status_code == 200 and published.json["status"] == "published"
    error_of(client.post(f"/api/v1/events/{event_id}/publish", headers=liaison), 409, "illegal_transition")

    public = client.get(f"/api/v1/events/{event_id}").json
    assert public["online_url"] is None and public["registration_state"] == "open"

    ana, beto, caro = (token_for(client, f"{n}@example.org") for n in ("ana", "beto", "caro"))
    first = client.post(f"/api/v1/events/{event_id}/registration", headers=ana)
    assert first.status_code == 201
    assert first.json["status"] == "confirmed" and len(first.json["code"]) == 8
    assert first.json["waitlist_position"] is None
    error_of(client.post(f"/api/v1/events/{event_id}/registration", headers=ana), 409, "already_registered")
    assert client.post(f"/api/v1/events/{event_id}/registration", headers=beto).json["status"] == "confirmed"
    third = client.post(f"/api/v1/events/{event_id}/registration", json={}, headers=caro)
    assert third.status_code == 201
    assert third.json == {"status": "waitlisted", "code": third.json["code"], "waitlist_position": 1}

    detail = client.get(f"/api/v1/events/{event_id}", headers=ana).json
    assert detail["confirmed_count"] == 2 and detail["waitlist_count"] == 1
    assert detail["online_url"] == "https://meet.example.org/censo"  # confirmed registrants see it
    assert client.get(f"/api/v1/events/{event_id}", headers=caro).json["online_url"] is None

    assert client.delete(f"/api/v1/events/{event_id}/registration", headers=ana).status_code == 204
    error_of(client.delete(f"/api/v1/events/{event_id}/registration", headers=ana), 404, "not_registered")
    mine = client.get(f"/api/v1/events/{event_id}/registration", headers=caro)
    assert mine.json["status"] == "confirmed" and mine.json["waitlist_position"] is None

    listed = client.get(f"/api/v1/events/{event_id}/registrations", headers=liaison)
    assert listed.status_code == 200
    assert [r["status"] for r in listed.json] == ["cancelled", "confirmed", "confirmed"]
    assert listed.json[1]["email"] == "beto@example.org"
    error_of(client.get(f"/api/v1/events/{event_id}/registrations", headers=beto), 403, "forbidden")

    cancelled = client.post(f"/api/v1/events/{event_id}/cancel", json={"reason": "Lluvias"}, headers=liaison)
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert cancelled.json["cancel_reason"] == "Lluvias"
    error_of(client.post(f"/api/v1/events/{event_id}/cancel", json={}, headers=liaison), 422)


def test_patch_changes_fields_and_refuses_lower_capacity(app, client):
    setup_people(app)
    liaison = token_for(client, "enlace@example.org")
    event_id = client.post("/api/v1/events", json=payload(capacity=1), headers=liaison).json["id"]
    client.post(f"/api/v1/events/{event_id}/publish", headers=liaison)
    client.post(f"/api/v1/events/{event_id}/registration", headers=token_for(client, "ana@example.org"))
    client.post(f"/api/v1/events/{event_id}/registration", headers=token_for(client, "beto@example.org"))
    patched = client.patch(
        f"/api/v1/events/{event_id}", json={"title": "Datatón del censo", "capacity": 2}, headers=liaison
    )
    assert patched.status_code == 200
    assert patched.json["title"] == "Datatón del censo" and patched.json["confirmed_count"] == 2
    assert patched.json["waitlist_count"] == 0
    error = error_of(
        client.patch(f"/api/v1/events/{event_id}", json={"capacity": 1}, headers=liaison), 409, "conflict"
    )
    assert "capacity" in error["fields"]
    error = error_of(
        client.patch(f"/api/v1/events/{event_id}", json={"kind": "other"}, headers=liaison),
        422,
        "validation_error",
    )
    assert "kind" in error["fields"]
    error_of(
        client.patch(
            f"/api/v1/events/{event_id}", json={"title": "x"}, headers=token_for(client, "otra@example.org")
        ),
        403,
    )


def test_create_needs_a_managed_institution_and_valid_fields(app, client):
    setup_people(app)
    other = token_for(client, "otra@example.org")
    error_of(client.post("/api/v1/events", json=payload(), headers=other), 403)
    error_of(client.post("/api/v1/events", json=payload()), 401, "unauthorized")
    liaison = token_for(client, "enlace@example.org")
    error = error_of(client.post("/api/v1/events", json=payload(institution="nadie"), headers=liaison), 422)
    assert "institution" in error["fields"]
    error = error_of(
        client.post("/api/v1/events", json=payload(kind="data_for_development"), headers=liaison), 422
    )
    assert "academic_partner" in error["fields"]
    error = error_of(
        client.post("/api/v1/events", json=payload(sector_seats={"martians": 3}), headers=liaison), 422
    )
    assert "sector_seats" in error["fields"]
    error_of(client.post("/api/v1/events", data="{", content_type="application/json", headers=liaison), 400)


def test_registration_answers_and_unverified_accounts(app, client):
    setup_people(app)
    liaison = token_for(client, "enlace@example.org")
    body = payload(capacity=None)
    event_id = client.post("/api/v1/events", json=body, headers=liaison).json["id"]
    with app.app_context():
        from events import services

        event = db.session.get(Event, event_id)
        services.update_event(
            None, event, {"questions": [{"kind": "short_text", "prompt": "¿Para qué?", "required": True}]}
        )
        question_id = db.session.get(Event, event_id).questions[0].id
    client.post(f"/api/v1/events/{event_id}/publish", headers=liaison)
    error_of(
        client.post(f"/api/v1/events/{event_id}/registration", headers=unverified_token(app, client)),
        403,
        "email_not_verified",
    )
    ana = token_for(client, "ana@example.org")
    error = error_of(client.post(f"/api/v1/events/{event_id}/registration", headers=ana), 422)
    assert f"q{question_id}" in error["fields"]
    done = client.post(
        f"/api/v1/events/{event_id}/registration", json={"answers": {str(question_id): "Tesis"}}, headers=ana
    )
    assert done.status_code == 201
    registrations = client.get(f"/api/v1/events/{event_id}/registrations", headers=liaison).json
    assert registrations[0]["answers"] == {str(question_id): "Tesis"}


def test_full_without_waitlist_answers_409(app, client):
    setup_people(app)
    liaison = token_for(client, "enlace@example.org")
    event_id = client.post("/api/v1/events", json=payload(capacity=1, waitlist=False), headers=liaison).json[
        "id"
    ]
    client.post(f"/api/v1/events/{event_id}/publish", headers=liaison)
    client.post(f"/api/v1/events/{event_id}/registration", headers=token_for(client, "ana@example.org"))
    full = client.get(f"/api/v1/events/{event_id}").json
    assert full["registration_state"] == "full" and full["seats_left"] == 0
    error_of(
        client.post(f"/api/v1/events/{event_id}/registration", headers=token_for(client, "beto@example.org")),
        409,
        "event_full",
    )


def test_checkins_walk_ins_and_outcome(app, client):
    setup_people(app)
    liaison = token_for(client, "enlace@example.org")
    with app.app_context():
        event = make_event(_inegi(), capacity=5)
        event_id, starts = event.id, event.starts_at
    code = client.post(
        f"/api/v1/events/{event_id}/registration", headers=token_for(client, "ana@example.org")
    ).json["code"]
    client.post(f"/api/v1/events/{event_id}/registration", headers=token_for(client, "beto@example.org"))
    error_of(client.post(f"/api/v1/events/{event_id}/checkins", json={"code": code}, headers=liaison), 409)
    with freeze_time(starts + timedelta(minutes=10)):
        liaison = token_for(client, "enlace@example.org")
        spaced = code[:4] + "-" + code[4:].lower()
        checked = client.post(f"/api/v1/events/{event_id}/checkins", json={"code": spaced}, headers=liaison)
        assert checked.status_code == 200, checked.json
        assert checked.json["already_checked_in"] is False and checked.json["registration"]["code"] == code
        again = client.post(f"/api/v1/events/{event_id}/checkins", json={"code": code}, headers=liaison)
        assert again.json["already_checked_in"] is True
        error_of(
            client.post(f"/api/v1/events/{event_id}/checkins", json={"code": "ABCDEFGH"}, headers=liaison),
            404,
        )
        error_of(
            client.post(f"/api/v1/events/{event_id}/checkins", json={"code": "0OIL"}, headers=liaison), 422
        )
        walk_in = client.post(
            f"/api/v1/events/{event_id}/walk-ins",
            json={"name": "Pedro", "sector": "journalism"},
            headers=liaison,
        )
        assert walk_in.status_code == 201 and walk_in.json["walk_in"] is True
        attendance = client.get(f"/api/v1/events/{event_id}/attendance", headers=liaison).json
        assert attendance == {
            "confirmed": 2,
            "checked_in": 1,
            "walk_ins": 1,
            "no_shows": 1,
            "waitlisted": 0,
            "present": 2,
        }
    with freeze_time(starts + timedelta(days=1)):
        liaison = token_for(client, "enlace@example.org")
        outcome = client.put(
            f"/api/v1/events/{event_id}/outcome",
            json={
                "minutes": "Se acordó publicar microdatos.",
                "datasets_published": [{"title": "Microdatos", "url": "https://datos.gob.mx/x"}],
                "datasets_requested": [{"title": "Series", "url": "https://datos.gob.mx/y"}],
            },
            headers=liaison,
        )
        assert outcome.status_code == 200 and outcome.json["attendance"] == 2
        commitment = client.post(
            f"/api/v1/events/{event_id}/commitments",
            json={"text": "Publicar microdatos", "responsible_institution": "inegi", "due_on": "2027-01-31"},
            headers=liaison,
        )
        assert commitment.status_code == 201 and commitment.json["status"] == "pending"
        updated = client.patch(
            f"/api/v1/commitments/{commitment.json['id']}", json={"status": "done"}, headers=liaison
        )
        assert updated.json["status"] == "done"
        story = client.put(
            f"/api/v1/events/{event_id}/story",
            json={"title": "Microdatos abiertos", "body": "Gracias al datatón…", "published": True},
            headers=liaison,
        )
        assert story.status_code == 200 and story.json["published_at"]
    assert client.get(f"/api/v1/events/{event_id}").json["status"] == "completed"
    public = client.get(f"/api/v1/events/{event_id}/outcome").json
    assert public["commitments"][0]["responsible"].startswith("Institución inegi")
    stories = client.get("/api/v1/stories")
    assert [s["title"] for s in stories.json] == ["Microdatos abiertos"]
    assert json.loads(stories.headers["X-Pagination"])["total"] == 1


def _inegi():
    from sqlalchemy import select

    from core.models import Institution

    return db.session.execute(select(Institution).where(Institution.slug == "inegi")).scalar_one()


def test_list_filters_and_pagination(app, client):
    with app.app_context():
        inegi, salud = make_institution("inegi"), make_institution("salud")
        for n in range(23):
            make_event(inegi, title=f"Datatón {n:02d}", starts_at=utcnow() + timedelta(days=n + 1))
        make_event(
            salud,
            kind="dialogue_table",
            title="Mesa de salud",
            format="online",
            venue=None,
            address=None,
            state=None,
            online_url="https://meet.example.org/s",
        )
        make_event(salud, publish=False, title="Borrador")
        with freeze_time(utcnow() - timedelta(days=30)):
            make_event(salud, title="Mesa pasada", kind="dialogue_table")
    first = client.get("/api/v1/events")
    assert first.status_code == 200 and len(first.json) == 20
    assert json.loads(first.headers["X-Pagination"])["total"] == 25  # past and upcoming, no drafts
    assert first.json[0]["title"] == "Mesa pasada"  # by start time
    second = client.get("/api/v1/events?page=2")
    assert len(second.json) == 5
    titles = {e["title"] for e in client.get("/api/v1/events?institution=salud").json}
    assert titles == {"Mesa de salud", "Mesa pasada"}
    assert {e["title"] for e in client.get("/api/v1/events?kind=dialogue_table&when=upcoming").json} == {
        "Mesa de salud"
    }
    assert {e["title"] for e in client.get("/api/v1/events?when=past").json} == {"Mesa pasada"}
    assert {e["title"] for e in client.get("/api/v1/events?format=online").json} == {"Mesa de salud"}
    assert len(client.get("/api/v1/events?state=Ciudad de México").json) == 20
    error_of(client.get("/api/v1/events?kind=party"), 422)
    assert client.get("/api/v1/events/999999").status_code == 404


def test_openapi_lists_the_events_contract(app, client):
    document = client.get("/api/v1/openapi.json").json
    validate(document)
    paths = document["paths"]
    for path, methods in {
        "/api/v1/events": {"get", "post"},
        "/api/v1/events/{event_id}": {"get", "patch"},
        "/api/v1/events/{event_id}/publish": {"post"},
        "/api/v1/events/{event_id}/cancel": {"post"},
        "/api/v1/events/{event_id}/registration": {"post", "delete"},
        "/api/v1/events/{event_id}/registrations": {"get"},
        "/api/v1/events/{event_id}/checkins": {"post"},
        "/api/v1/events/{event_id}/outcome": {"get", "put"},
    }.items():
        assert methods <= set(paths[path]), path


def test_registration_rows_match_api_answers(app, client):
    setup_people(app)
    with app.app_context():
        event_id = make_event(_inegi()).id
    answer = client.post(
        f"/api/v1/events/{event_id}/registration", headers=token_for(client, "ana@example.org")
    ).json
    with app.app_context():
        row = db.session.query(Registration).one()
        assert row.code == answer["code"] and row.status == answer["status"]
