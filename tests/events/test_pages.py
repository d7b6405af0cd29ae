"""Server-rendered pages: list, detail, register/cancel, my events, management, check-in,
attendee CSV, outcome, commitments and stories."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import select

from core.extensions import db
from core.timeutil import to_zone, utcnow
from events import services
from events.models import Commitment, Event, Registration, SuccessStory
from tests.factories import (
    QueryCounter,
    login,
    make_event,
    make_institution,
    make_liaison,
    make_user,
)


def page(client, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def test_public_list_filters_and_detail(app, client):
    with app.app_context():
        inegi, salud = make_institution("inegi"), make_institution("salud")
        datathon = make_event(inegi, title="Datatón del censo", capacity=10)
        make_event(salud, kind="dialogue_table", title="Mesa de salud", state="Jalisco")
        with freeze_time(utcnow() - timedelta(days=40)):
            make_event(salud, title="Mesa de 2025")
        services.register(make_user(), datathon)
        event_id = datathon.id
    listing = page(client, "/events")
    assert "Datatón del censo" in listing and "Mesa de salud" in listing and "Mesa de 2025" not in listing
    assert "Quedan 9 lugares de 10" in listing
    assert "Mesa de 2025" in page(client, "/events?when=past")
    only_tables = page(client, "/events?kind=dialogue_table")
    assert "Mesa de salud" in only_tables and "Datatón del censo" not in only_tables
    assert "Datatón del censo" not in page(client, "/events?state=Jalisco")
    assert "Mesa de salud" not in page(client, "/events?institution=inegi")
    detail = page(client, f"/events/{event_id}")
    assert "Datatón del censo" in detail and "Inicia sesión para registrarte" in detail
    assert "Biblioteca Vasconcelos" in detail
    english = client.get(f"/events/{event_id}", headers={"Accept-Language": "en"})
    assert english.status_code == 200
    assert page(client, "/events/424242", 404)


def test_register_cancel_and_my_events_through_the_pages(app, client):
    with app.app_context():
        event = make_event(
            make_institution("inegi"), capacity=1, online_url="https://meet.example.org/z", format="hybrid"
        )
        make_user("ana@example.org")
        make_user("beto@example.org")
        event_id = event.id
    login(client, "ana@example.org")
    assert "meet.example.org" not in page(client, f"/events/{event_id}")
    response = client.post(f"/events/{event_id}/register")
    assert response.status_code == 302
    detail = page(client, f"/events/{event_id}")
    assert "Tu lugar está confirmado" in detail and 'src="data:image/svg+xml' in detail
    assert "https://meet.example.org/z" in detail  # confirmed people see the online link
    with app.app_context():
        code = db.session.execute(select(Registration.code)).scalar_one()
    assert code in page(client, "/events/mine")
    client.post("/logout")
    login(client, "beto@example.org")
    client.post(f"/events/{event_id}/register")
    assert "En lista de espera" in page(client, f"/events/{event_id}")
    assert "lugar 1" in page(client, "/events/mine")
    client.post("/logout")
    login(client, "ana@example.org")
    assert client.post(f"/events/{event_id}/registration/cancel").status_code == 302
    assert "Registrarme" in page(client, f"/events/{event_id}") or "lista de espera" in page(
        client, f"/events/{event_id}"
    )
    client.post("/logout")
    login(client, "beto@example.org")
    assert "Tu lugar está confirmado" in page(client, f"/events/{event_id}")


def test_questions_page_validates_answers(app, client):
    with app.app_context():
        event = make_event(
            make_institution("inegi"),
            questions=[
                {
                    "kind": "single_choice",
                    "prompt": "¿Nivel?",
                    "choices": ["Básico", "Avanzado"],
                    "required": True,
                }
            ],
        )
        make_user("ana@example.org")
        event_id, question_id = event.id, event.questions[0].id
    login(client, "ana@example.org")
    form = page(client, f"/events/{event_id}/register")
    assert "¿Nivel?" in form and "<fieldset" in form
    refused = client.post(f"/events/{event_id}/register", data={})
    assert refused.status_code == 422
    assert client.post(f"/events/{event_id}/register", data={f"q{question_id}": "Básico"}).status_code == 302
    with app.app_context():
        assert db.session.execute(select(Registration.answers)).scalar_one() == {str(question_id): "Básico"}


def form_data(**overrides):
    starts = to_zone(utcnow() + timedelta(days=20), "America/Mexico_City").replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    data = {
        "institution": "inegi",
        "kind": "dialogue_table",
        "title": "Mesa de diálogo sobre movilidad",
        "summary": "Conversemos sobre datos de movilidad.",
        "description": "Habrá **café**.",
        "topics": "movilidad, transporte",
        "format": "in_person",
        "venue": "Sala 1",
        "address": "Av. Siempre Viva 742",
        "state": "Ciudad de México",
        "timezone": "America/Mexico_City",
        "starts_at": starts.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (starts + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "capacity": "12",
        "waitlist": "y",
        "reminder_offsets": "1440, 60",
        "agenda": "10:00 | Bienvenida | Mariana\n10:30 | Mesas",
        "datasets": "Encuesta Origen-Destino | https://datos.gob.mx/busca/dataset/eod",
        "questions": "*¿A qué te dedicas?\n¿Nivel? | Básico | Avanzado",
        "seats_academia": "3",
        "seats_civil_society": "3",
    }
    data.update(overrides)
    return data


def test_liaison_creates_edits_publishes_reschedules_and_cancels(app, client, mail_dir):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
    login(client, "enlace@example.org")
    assert "Nueva actividad" in page(client, "/events/manage")
    assert page(client, "/events/new")
    bad = client.post("/events/new", data=form_data(ends_at="2020-01-01T10:00"))
    assert bad.status_code == 422 and "El fin debe ser posterior al inicio." in bad.get_data(as_text=True)
    created = client.post("/events/new", data=form_data())
    assert created.status_code == 302
    with app.app_context():
        event = db.session.execute(select(Event)).scalar_one()
        assert event.status == "draft" and event.seats_by_sector == {"academia": 3, "civil_society": 3}
        assert [q.required for q in event.questions] == [True, False]
        assert to_zone(event.starts_at, "America/Mexico_City").hour == 10
        event_id = event.id
    edit = page(client, f"/events/{event_id}/edit")
    assert "Mesa de diálogo sobre movilidad" in edit and "10:00 | Bienvenida | Mariana" in edit
    assert (
        client.post(f"/events/{event_id}/edit", data=form_data(title="Mesa de movilidad")).status_code == 302
    )
    assert client.post(f"/events/{event_id}/publish").status_code == 302
    assert "Mesa de movilidad" in page(client, "/events")
    reschedule = page(client, f"/events/{event_id}/reschedule")
    assert "Reprogramar" in reschedule
    new_start = to_zone(utcnow() + timedelta(days=30), "America/Mexico_City").replace(hour=9, minute=0)
    moved = client.post(
        f"/events/{event_id}/reschedule",
        data={
            "starts_at": new_start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (new_start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert moved.status_code == 302
    assert client.post(f"/events/{event_id}/cancel", data={"reason": ""}).status_code == 422
    assert client.post(f"/events/{event_id}/cancel", data={"reason": "Sin sede"}).status_code == 302
    assert "Esta actividad se canceló." in page(client, f"/events/{event_id}")


def test_checkin_page_registrations_and_csv_with_answers(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        event = make_event(inegi, questions=[{"kind": "short_text", "prompt": "Organización"}])
        question_id = event.questions[0].id
        ana = make_user("ana@example.org", name="Ana Díaz")
        registration = services.register(ana, event, {str(question_id): '=HYPERLINK("x")'})
        event_id, code, starts = event.id, registration.code, event.starts_at
    login(client, "enlace@example.org")
    with freeze_time(starts + timedelta(minutes=5)):
        assert "Registrar asistencia" in page(client, f"/events/{event_id}/checkin")
        wrong = client.post(f"/events/{event_id}/checkin", data={"code": "ZZZZZZZZ"})
        assert wrong.status_code == 422 and "No hay un registro" in wrong.get_data(as_text=True)
        assert client.post(f"/events/{event_id}/checkin", data={"code": code.lower()}).status_code == 302
        assert client.post(f"/events/{event_id}/walk-ins", data={"walkin-name": "Pedro"}).status_code == 302
        summary = page(client, f"/events/{event_id}/checkin")
        assert "1 presente de 1 confirmado" in summary and "1 sin registro previo" in summary
        assert "0 no asistieron" in summary
    client.post("/logout")  # the session was signed in the frozen future
    login(client, "enlace@example.org")
    listing = page(client, f"/events/{event_id}/registrations")
    assert "Ana Díaz" in listing and "Pedro" in listing
    exported = client.get(f"/events/{event_id}/registrations.csv")
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][-1] == "Organización" and rows[0][0] == "Código"
    ana_row = next(r for r in rows if r[1] == "Ana Díaz")
    assert ana_row[2] == "ana@example.org" and ana_row[-1] == '\'=HYPERLINK("x")'
    assert ana_row[7]  # checked in


def test_outcome_commitments_and_story_pages(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        event = make_event(inegi, title="Datatón de agua")
        registration = services.register(make_user(), event)
        event_id, starts = event.id, event.starts_at
        with freeze_time(starts + timedelta(minutes=1)):
            services.check_in(make_user(admin=True), event, registration.code)
    login(client, "enlace@example.org")
    with freeze_time(starts + timedelta(days=1)):
        form = page(client, f"/events/{event_id}/outcome")
        assert 'value="1"' in form  # attendance defaults to the people checked in
        saved = client.post(
            f"/events/{event_id}/outcome",
            data={
                "attendance": "",
                "minutes": "Acordamos **publicar**.",
                "datasets_published": "Presas | https://datos.gob.mx/presas",
                "datasets_requested": "",
            },
        )
        assert saved.status_code == 302
        added = client.post(
            f"/events/{event_id}/commitments",
            data={
                "commitment-text": "Publicar presas",
                "commitment-responsible_institution": "inegi",
                "commitment-due_on": "2027-03-01",
                "commitment-status": "pending",
            },
        )
        assert added.status_code == 302
        with app.app_context():
            commitment_id = db.session.execute(select(Commitment.id)).scalar_one()
        client.post(f"/events/{event_id}/commitments/{commitment_id}", data={"status": "in_progress"})
        story = client.post(
            f"/events/{event_id}/story",
            data={
                "title": "Agua abierta",
                "body": "El datatón logró *mucho*.",
                "datasets": "Presas | https://datos.gob.mx/presas",
                "publish": "y",
            },
        )
        assert story.status_code == 302
    detail = page(client, f"/events/{event_id}")
    assert "Asistió 1 persona." in detail and "<strong>publicar</strong>" in detail
    assert "Publicar presas" in detail and "En curso" in detail
    client.post("/logout")
    stories = page(client, "/stories")
    assert "Agua abierta" in stories
    with app.app_context():
        story_id = db.session.execute(select(SuccessStory.id)).scalar_one()
    story_page = page(client, f"/stories/{story_id}")
    assert (
        "<em>mucho</em>" in story_page and "Datatón de agua" in story_page and "Publicar presas" in story_page
    )


def test_markdown_is_sanitised(app, client):
    with app.app_context():
        event_id = make_event(
            make_institution("inegi"),
            description="<script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror=alert(3)>",
        ).id
    body = page(client, f"/events/{event_id}")
    assert "<script>alert(1)" not in body and 'href="javascript' not in body and "<img src=x" not in body
    assert "&lt;script&gt;" in body  # shown as text, never run


def queries(app, client, path: str) -> int:
    with app.app_context():
        engine = db.engine
    with QueryCounter(engine) as counter:
        assert client.get(path).status_code == 200, path
    return counter.count


def test_list_pages_issue_the_same_queries_whatever_the_data(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        person = make_user("ana@example.org")
        first = make_event(inegi)
        services.register(person, first)
        event_id = first.id
    login(client, "enlace@example.org")
    paths = ["/events", "/events/manage", f"/events/{event_id}/registrations", "/stories", "/events/mine"]
    small = {path: queries(app, client, path) for path in paths}
    with app.app_context():
        inegi = db.session.merge(inegi)
        liaison = make_liaison(make_institution("salud"))
        for n in range(6):
            event = make_event(inegi, title=f"Extra {n}", capacity=3)
            for _ in range(4):
                services.register(make_user(), event)
        event = db.session.get(Event, event_id)
        for _ in range(5):
            services.register(make_user(), event)
        assert liaison
    large = {path: queries(app, client, path) for path in paths}
    assert large == small
