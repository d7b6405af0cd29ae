"""Forms that say everything at once (pages and API name every bad field in one answer), lists
as rows, confirmation steps before destructive actions, and duplicating an event."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from accounts import services as accounts_services
from core.exceptions import DomainError, ValidationErrors
from core.extensions import db
from core.models import ApiToken, AuditEntry, Institution, Membership
from core.timeutil import to_zone, utcnow
from events import services
from events.models import Event, EventStatus, Registration, RegistrationStatus
from tests.events.test_api import error_of, payload, token_for
from tests.events.test_pages import form_data
from tests.factories import login, make_event, make_institution, make_liaison, make_user

ZONE = "America/Mexico_City"


def _liaison(app, email: str = "enlace@example.org"):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, email)
        return inegi.id


def _error_links(html: str) -> dict[str, str]:
    summary = html[html.index('class="error-summary"') :]
    summary = summary[: summary.index("</div>")]
    return dict(re.findall(r'<a href="#([\w-]+)">([^<]*)</a>', summary))


# --- every error at once ---------------------------------------------------------------------------


def test_seven_mistakes_are_seven_errors_in_one_page(app, client):
    _liaison(app)
    login(client, "enlace@example.org")
    data = form_data(
        title="",
        ends_at="2020-01-01T10:00",  # before the start (and long past)
        online_url="datos.gob.mx",
        capacity="0",
        reminder_offsets="mañana",
        **{"agenda-0-time": "25:00", "questions-1-choices": "Básico"},
    )
    answer = client.post("/events/new", data=data)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    links = _error_links(html)
    assert set(links) == {
        "title",
        "ends_at",
        "online_url",
        "capacity",
        "reminder_offsets",
        "agenda-0-time",
        "questions-1-choices",
    }, links
    assert "Hay un problema" in html and "Corrige los 7 campos marcados:" in html
    assert "<title>Error: Nueva actividad" in html  # the page title says so first (GOV.UK)
    assert html.count('class="field-error"') == 7
    assert "posterior al inicio" in links["ends_at"] and "minutos" in links["reminder_offsets"]
    assert links["agenda-0-time"].startswith("Agenda 1, Hora:")
    # Typed values stay.
    assert 'value="Bienvenida"' in html and 'value="mañana"' in html
    with app.app_context():
        assert db.session.execute(select(Event)).first() is None


def test_the_edit_page_also_reports_every_rule_at_once(app, client):
    _liaison(app)
    login(client, "enlace@example.org")
    assert client.post("/events/new", data=form_data()).status_code == 302
    with app.app_context():
        event_id = db.session.execute(select(Event.id)).scalar_one()
    answer = client.post(
        f"/events/{event_id}/edit",
        data=form_data(
            ends_at="2020-01-01T10:00", venue="", address="", reminder_offsets="0", title="Mesa cambiada"
        ),
    )
    assert answer.status_code == 422
    assert set(_error_links(answer.get_data(as_text=True))) == {"ends_at", "venue", "reminder_offsets"}
    with app.app_context():  # nothing of the refused edit was kept
        event = db.session.get(Event, event_id)
        assert event.title == "Mesa de diálogo sobre movilidad" and event.venue == "Sala 1"


def test_the_service_names_every_bad_field_and_one_alone_as_before(app):
    with app.app_context():
        inegi = make_institution("inegi")
        start = utcnow() + timedelta(days=10)
        base = {"kind": "datathon", "title": "Datatón", "format": "hybrid", "starts_at": start}
        with pytest.raises(ValidationErrors) as caught:
            services.create_event(
                None,
                inegi,
                {
                    **base,
                    "title": "",
                    "ends_at": start - timedelta(hours=1),
                    "capacity": 0,
                    "reminder_offsets_minutes": [0],
                    "agenda": [{"time": "10:00", "title": ""}],
                },
            )
        assert set(caught.value.errors) == {
            "title",
            "ends_at",
            "capacity",
            "reminder_offsets_minutes",
            "agenda",
            "venue",
            "online_url",
        }
        assert caught.value.status == 422
        complete = {
            **base,
            "ends_at": start + timedelta(hours=2),
            "venue": "Sala",
            "online_url": "https://x.org",
        }
        with pytest.raises(DomainError) as single:
            services.create_event(None, inegi, {**complete, "capacity": 0})
        assert not isinstance(single.value, ValidationErrors) and single.value.field == "capacity"
        # The check saves nothing and says the same.
        assert set(services.check_event_data(None, inegi, {**base, "ends_at": start})) == {
            "ends_at",
            "venue",
            "online_url",
        }
        assert services.check_event_data(None, inegi, complete) == {}
        assert db.session.execute(select(Event)).first() is None


def test_the_api_answers_422_naming_every_bad_field(app, client):
    institution_id = _liaison(app)
    headers = token_for(client, "enlace@example.org")
    start = utcnow() + timedelta(days=10)
    body = payload(
        ends_at=(start - timedelta(hours=1)).isoformat(),
        starts_at=start.isoformat(),
        venue=None,
        address=None,
        online_url=None,
        registration_opens_at=(start - timedelta(days=1)).isoformat(),
        registration_closes_at=(start - timedelta(days=2)).isoformat(),
    )
    answer = client.post("/api/v1/events", json=body, headers=headers)
    error = error_of(answer, 422)
    assert set(error["fields"]) == {"ends_at", "venue", "online_url", "registration_closes_at"}, error
    assert all(isinstance(messages, list) and messages for messages in error["fields"].values())
    assert error["code"] == "validation_error" and error["message"]
    # Malformed fields (refused by the schema) and broken rules (by the services) in one answer.
    mixed = client.post("/api/v1/events", json={**body, "capacity": 0, "title": ""}, headers=headers)
    assert set(error_of(mixed, 422)["fields"]) == {
        "capacity",
        "title",
        "ends_at",
        "venue",
        "online_url",
        "registration_closes_at",
    }
    with app.app_context():
        event_id = make_event(db.session.get(Institution, institution_id)).id
    patched = client.patch(
        f"/api/v1/events/{event_id}", json={"capacity": -1, "venue": None, "address": None}, headers=headers
    )
    assert set(error_of(patched, 422)["fields"]) == {"capacity", "venue"}
    # One bad field: the same answer as always.
    one = client.post("/api/v1/events", json=payload(venue=None, address=None), headers=headers)
    assert set(error_of(one, 422)["fields"]) == {"venue"}


# --- rows ----------------------------------------------------------------------------------------


def test_rows_are_checked_one_by_one_and_blank_rows_are_skipped(app, client):
    _liaison(app)
    login(client, "enlace@example.org")
    data = form_data(
        **{
            "agenda-1-title": "",  # a time without a topic
            "datasets-1-url": "ftp://x",  # not a web address
            "datasets-2-title": "",  # blank: skipped
            "questions-2-prompt": "",
            "questions-2-choices": "A\nB",  # options without a question
        }
    )
    answer = client.post("/events/new", data=data)
    assert answer.status_code == 422
    assert set(_error_links(answer.get_data(as_text=True))) == {
        "agenda-1-title",
        "datasets-1-url",
        "questions-2-prompt",
    }


def test_a_row_with_fields_left_out_is_an_error_not_a_crash(app, client):
    _liaison(app)
    login(client, "enlace@example.org")
    data = form_data(ends_at="2020-01-01T10:00")  # a rule broken too: the services are asked
    for key in ("agenda-0-title", "agenda-0-speaker", "datasets-0-url", "questions-1-prompt"):
        del data[key]
    answer = client.post("/events/new", data=data)
    assert answer.status_code == 422
    links = _error_links(answer.get_data(as_text=True))
    assert {"agenda-0-title", "datasets-0-url", "questions-1-prompt", "ends_at"} <= set(links), links


def test_the_event_form_offers_three_blank_rows_more(app, client):
    _liaison(app)
    login(client, "enlace@example.org")
    html = client.get("/events/new").get_data(as_text=True)
    for name in ("agenda", "datasets", "questions"):
        assert f'id="{name}-2-' in html and f'id="{name}-3-' not in html, name
    assert 'src="/static/js/rows.js"' in html and "<script>" not in html


# --- commitments and outcome -------------------------------------------------------------------------


def test_the_commitment_form_keeps_what_was_typed_and_names_the_field(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        event = make_event(inegi)
        event_id, started = event.id, event.starts_at + timedelta(hours=1)
    login(client, "enlace@example.org")
    with freeze_time(started):
        answer = client.post(
            f"/events/{event_id}/commitments",
            data={
                "commitment-text": "Publicar la serie de empleo por municipio",
                "commitment-responsible_institution": "",
                "commitment-responsible_name": "",
                "commitment-due_on": "2026-13-40",
                "commitment-status": "pending",
            },
        )
        assert answer.status_code == 422
        html = answer.get_data(as_text=True)
        assert "Publicar la serie de empleo por municipio</textarea>" in html
        assert set(_error_links(html)) == {"commitment-due_on"}
        answer = client.post(
            f"/events/{event_id}/commitments",
            data={"commitment-text": "Publicar la serie", "commitment-status": "pending"},
        )
        assert answer.status_code == 422
        html = answer.get_data(as_text=True)
        assert set(_error_links(html)) == {"commitment-responsible_institution"}
        assert "Indica quién es responsable" in html and "Publicar la serie</textarea>" in html


def test_the_outcome_page_opens_once_the_event_has_started(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        event = make_event(inegi)
        event_id, started = event.id, event.starts_at + timedelta(minutes=1)
    login(client, "enlace@example.org")
    before = client.get(f"/events/{event_id}/outcome")
    assert before.status_code == 302 and before.location.endswith(f"/events/{event_id}")
    assert "Resultado y acuerdos" not in client.get(f"/events/{event_id}").get_data(as_text=True)
    with freeze_time(started):
        assert client.get(f"/events/{event_id}/outcome").status_code == 200
        assert "Resultado y acuerdos" in client.get(f"/events/{event_id}").get_data(as_text=True)


# --- confirmation steps ------------------------------------------------------------------------------


def test_cancelling_a_registration_says_the_place_goes_to_the_waitlist(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        event = make_event(inegi, capacity=1)
        services.register(make_user("lucia@example.org"), event)
        event_id = event.id
    login(client, "lucia@example.org")
    page = client.get(f"/events/{event_id}/registration/cancel").get_data(as_text=True)
    assert "Tu lugar quedará libre para alguien más." in page
    with app.app_context():
        services.register(make_user("pablo@example.org"), db.session.get(Event, event_id))
    page = client.get(f"/events/{event_id}/registration/cancel").get_data(as_text=True)
    assert "Tu lugar pasará a la primera persona en lista de espera" in page
    assert f'action="/events/{event_id}/registration/cancel"' in page
    with app.app_context():  # the GET changed nothing
        assert db.session.execute(select(Registration.status).order_by(Registration.id)).scalars().all() == [
            RegistrationStatus.confirmed,
            RegistrationStatus.waitlisted,
        ]
    assert client.post(f"/events/{event_id}/registration/cancel").status_code == 302
    with app.app_context():
        assert db.session.execute(select(Registration.status).order_by(Registration.id)).scalars().all() == [
            RegistrationStatus.cancelled,
            RegistrationStatus.confirmed,
        ]


def test_removing_a_member_and_revoking_a_token_ask_first(app, client):
    with app.app_context():
        inegi = make_institution("inegi", name="Instituto de Estadística")
        liaison = make_liaison(inegi, "enlace@example.org")
        staff = make_liaison(inegi, "equipo@example.org", role="staff")
        membership_id = db.session.execute(
            select(Membership.id).where(Membership.user_id == staff.id)
        ).scalar_one()
        token, _ = accounts_services.issue_api_token(liaison, "Tablero")
        token_id = token.id
    login(client, "enlace@example.org")
    members = client.get("/institutions/inegi/members").get_data(as_text=True)
    assert f'href="/institutions/inegi/members/{membership_id}/remove"' in members
    page = client.get(f"/institutions/inegi/members/{membership_id}/remove").get_data(as_text=True)
    assert "dejará de ser parte de Instituto de Estadística" in page and "Sí, quitar del equipo" in page
    assert client.post(f"/institutions/inegi/members/{membership_id}/remove").status_code == 302
    page = client.get(f"/profile/tokens/{token_id}/revoke").get_data(as_text=True)
    assert "dejarán de tener acceso de inmediato" in page and "Sí, revocar el token" in page
    with app.app_context():
        assert db.session.get(ApiToken, token_id).revoked_at is None
        assert db.session.get(Membership, membership_id) is None
    assert client.post(f"/profile/tokens/{token_id}/revoke").status_code == 302
    with app.app_context():
        assert db.session.get(ApiToken, token_id).revoked_at is not None
    # Someone else's token: as if it did not exist.
    with app.app_context():
        other, _ = accounts_services.issue_api_token(make_user("otra@example.org"), "Suyo")
        other_id = other.id
    assert client.get(f"/profile/tokens/{other_id}/revoke").status_code == 404


def test_cancelling_an_event_says_how_many_people_are_told(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        event = make_event(inegi, capacity=1)
        services.register(make_user(), event)
        services.register(make_user(), event)
        event_id = event.id
    login(client, "enlace@example.org")
    page = client.get(f"/events/{event_id}/cancel").get_data(as_text=True)
    assert "Avisaremos por correo a 1 persona confirmada" in page
    assert "También a 1 persona en lista de espera." in page


# --- duplicating an event -----------------------------------------------------------------------------


def _source(app):
    with app.app_context():
        inegi = make_institution("inegi")
        other = make_institution("salud")
        make_liaison(inegi, "enlace@example.org")
        make_liaison(other, "enlace@salud.example.org")
        start = to_zone(utcnow() + timedelta(days=7), ZONE).replace(
            hour=10, minute=0, second=0, microsecond=0
        )
        event = make_event(
            inegi,
            kind="dialogue_table",
            title="Mesa de agua",
            capacity=12,
            starts_at=start,
            ends_at=start + timedelta(hours=3),
            registration_closes_at=start - timedelta(hours=2),
            sector_seats={"academia": 4},
            agenda=[{"time": "10:00", "title": "Bienvenida"}, {"time": "11:00", "title": "Mesas"}],
            questions=[
                {"kind": "single_choice", "prompt": "¿Nivel?", "choices": ["A", "B"], "required": True}
            ],
            datasets=[{"title": "Presas", "url": "https://datos.gob.mx/presas"}],
        )
        services.register(make_user(), event, {str(event.questions[0].id): "A"})
        return event.id, start


def test_a_liaison_duplicates_an_event_on_the_page(app, client):
    source_id, start = _source(app)
    login(client, "enlace@example.org")
    page = client.get(f"/events/{source_id}/duplicate").get_data(as_text=True)
    assert "Duplicar «Mesa de agua»" in page and "Crear la copia" in page
    assert f'href="/events/{source_id}/duplicate"' in client.get(f"/events/{source_id}").get_data(
        as_text=True
    )
    bad = client.post(f"/events/{source_id}/duplicate", data={"starts_at": "", "ends_at": "mañana"})
    assert bad.status_code == 422 and set(_error_links(bad.get_data(as_text=True))) == {
        "starts_at",
        "ends_at",
    }
    new_start = start + timedelta(days=35, hours=-1)
    answer = client.post(
        f"/events/{source_id}/duplicate",
        data={
            "starts_at": new_start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (new_start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert answer.status_code == 302 and answer.location.endswith("/edit")
    copy_id = int(re.search(r"/events/(\d+)/edit", answer.location).group(1))
    with app.app_context():
        source, copy = db.session.get(Event, source_id), db.session.get(Event, copy_id)
        assert copy.status == EventStatus.draft and copy.published_at is None
        assert (copy.title, copy.kind, copy.capacity, copy.seats_by_sector) == (
            source.title,
            source.kind,
            source.capacity,
            source.seats_by_sector,
        )
        assert [to_zone(a.starts_at, ZONE).strftime("%d %H:%M") for a in copy.agenda] == [
            new_start.strftime("%d 09:00"),
            new_start.strftime("%d 10:00"),
        ]
        assert copy.registration_closes_at == copy.starts_at - timedelta(hours=2)
        assert [(q.prompt, q.choices, q.required) for q in copy.questions] == [("¿Nivel?", ["A", "B"], True)]
        assert [(d.title, d.url) for d in copy.datasets] == [("Presas", "https://datos.gob.mx/presas")]
        assert (
            db.session.execute(select(Registration).where(Registration.event_id == copy_id)).first() is None
        )
        assert source.status == EventStatus.published and len(source.agenda) == 2
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "event.duplicate")
        ).scalar_one()
        assert entry.object_id == str(copy_id) and entry.details["source_event_id"] == source_id
    edit = client.get(answer.location).get_data(as_text=True)
    assert 'value="Mesa de agua"' in edit and 'value="09:00"' in edit


def test_the_api_duplicates_an_event(app, client):
    source_id, start = _source(app)
    path = f"/api/v1/events/{source_id}/duplicate"
    new_start = start + timedelta(days=30)
    body = {"starts_at": new_start.isoformat(), "ends_at": (new_start + timedelta(hours=3)).isoformat()}
    error_of(client.post(path, json=body), 401)
    error_of(client.post(path, json=body, headers=token_for(client, "enlace@salud.example.org")), 403)
    headers = token_for(client, "enlace@example.org")
    error_of(client.post(path, headers=headers), 400)
    missing = error_of(client.post(path, json={"starts_at": "mañana"}, headers=headers), 422)
    assert set(missing["fields"]) == {"starts_at", "ends_at"}
    backwards = {"starts_at": body["ends_at"], "ends_at": body["starts_at"]}
    assert set(error_of(client.post(path, json=backwards, headers=headers), 422)["fields"]) >= {"ends_at"}
    error_of(client.post("/api/v1/events/999999/duplicate", json=body, headers=headers), 404)
    created = client.post(path, json=body, headers=headers)
    assert created.status_code == 201, created.json
    copy = created.json
    assert copy["id"] != source_id and copy["status"] == "draft" and copy["title"] == "Mesa de agua"
    assert copy["starts_at"].startswith(new_start.strftime("%Y-%m-%dT%H:%M"))
    assert [item["title"] for item in copy["agenda"]] == ["Bienvenida", "Mesas"]
    assert copy["confirmed_count"] == 0 and copy["sector_seats"] == {"academia": 4}
