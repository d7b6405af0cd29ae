"""Absurd dates and spreadsheet formulas get refused or neutralised, never a 500."""

from __future__ import annotations

import csv
import io

from core.extensions import db
from events import services
from events.models import Event
from tests.events.test_api import error_of, payload, setup_people, token_for
from tests.factories import make_event


def test_dates_out_of_range_are_422_and_feeds_keep_working(app, client):
    setup_people(app)
    headers = token_for(client, "enlace@example.org")
    for starts, ends in (
        ("9999-06-01T10:00:00", "9999-06-01T12:00:00"),
        ("9999-12-31T23:00:00", None),
        ("0001-01-01T10:00:00", "0001-01-01T12:00:00"),
    ):
        body = payload(starts_at=starts, ends_at=ends or "9999-12-31T23:30:00")
        error = error_of(client.post("/api/v1/events", json=body, headers=headers), 422)
        assert "starts_at" in error["fields"]
    created = client.post("/api/v1/events", json=payload(), headers=headers)
    assert created.status_code == 201
    patched = client.patch(
        f"/api/v1/events/{created.json['id']}", json={"starts_at": "9999-12-31T22:00:00"}, headers=headers
    )
    error_of(patched, 422)
    assert client.get("/events.ics").status_code == 200


def test_a_far_future_event_already_stored_cannot_break_the_feeds(app, client):
    from datetime import UTC, datetime

    setup_people(app)
    with app.app_context():
        from sqlalchemy import select

        from core.models import Institution

        inegi = db.session.execute(select(Institution).where(Institution.slug == "inegi")).scalar_one()
        event = make_event(inegi)
        db.session.get(Event, event.id).starts_at = datetime(9999, 6, 1, 10, tzinfo=UTC)
        db.session.get(Event, event.id).ends_at = datetime(9999, 6, 1, 12, tzinfo=UTC)
        db.session.commit()
    assert client.get("/events.ics").status_code == 200


def test_question_prompts_cannot_plant_formulas_in_the_export(app, ctx):
    setup_people(app)
    from sqlalchemy import select

    from core.models import Institution

    inegi = db.session.execute(select(Institution).where(Institution.slug == "inegi")).scalar_one()
    event = make_event(inegi, questions=[{"kind": "short_text", "prompt": '=HYPERLINK("http://evil")'}])
    header = next(csv.reader(io.StringIO(services.attendee_csv(event).lstrip("\ufeff"))))
    assert header[-1].startswith("'=")


def test_check_in_page_says_when_it_opens(app, client):
    from sqlalchemy import select

    from core.models import Institution
    from tests.factories import login

    setup_people(app)
    with app.app_context():
        inegi = db.session.execute(select(Institution).where(Institution.slug == "inegi")).scalar_one()
        event_id = make_event(inegi).id  # a week ahead
    login(client, "enlace@example.org")
    page = client.get(f"/events/{event_id}/checkin").get_data(as_text=True)
    assert "abre 24 horas antes del inicio" in page


def test_the_state_is_not_repeated_when_the_address_names_it():
    event = Event(address="Av. Héroe de Nacozari Sur 2301, Aguascalientes", state="Aguascalientes")
    assert event.state_if_missing is None
    assert Event(address="Av. Juárez 10", state="Jalisco").state_if_missing == "Jalisco"


def test_answers_cannot_plant_formulas_after_a_separator_in_the_export(app, ctx):
    """In a locale whose spreadsheets split on «;», «Ana;=…» would start a cell with «=»."""
    setup_people(app)
    from sqlalchemy import select

    from core.models import Institution, User

    inegi = db.session.execute(select(Institution).where(Institution.slug == "inegi")).scalar_one()
    event = make_event(inegi, questions=[{"kind": "short_text", "prompt": "¿Organización?"}])
    ana = db.session.execute(select(User).where(User.email == "ana@example.org")).scalar_one()
    services.register(ana, event, {str(event.questions[0].id): 'Ana;=HYPERLINK("http://evil")'})
    exported = services.attendee_csv(event).lstrip("\ufeff")
    answer = list(csv.reader(io.StringIO(exported)))[-1][-1]
    assert answer == 'Ana;\'=HYPERLINK("http://evil")'
    for line in exported.splitlines():
        for piece in line.split(";"):
            assert not piece.strip('" ').startswith("="), line
