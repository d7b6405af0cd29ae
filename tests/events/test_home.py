"""The home page shows life: next activities, a full badge, my registrations, the numbers."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from core.timeutil import utcnow
from events import services
from events.home import programme_counts
from events.models import Event
from tests.factories import QueryCounter, login, make_event, make_institution, make_liaison, make_user


def test_home_lists_the_next_six_public_activities_with_full_badge(app, client):
    with app.app_context():
        institution = make_institution("inegi", name="Instituto Nacional de Estadística")
        liaison = make_liaison(institution)
        from datetime import timedelta

        for day in range(1, 9):
            make_event(
                institution,
                actor=liaison,
                title=f"Mesa {day}",
                capacity=1,
                starts_at=utcnow().replace(microsecond=0) + timedelta(days=day),
            )
        make_event(institution, actor=liaison, title="Borrador secreto", publish=False)
        ana = make_user("ana@example.org")
        first = db.session.execute(select(Event).where(Event.title == "Mesa 1")).scalar_one()
        services.register(ana, first)
    page = client.get("/").get_data(as_text=True)
    shown = [f"Mesa {day}" for day in range(1, 9) if f"Mesa {day}<" in page]
    assert shown == [f"Mesa {day}" for day in range(1, 7)]
    assert "Borrador secreto" not in page
    assert page.count(">Lleno<") == 1  # Mesa 1 has its one seat taken
    english = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert ">Full<" in english and "Upcoming activities" in english

    login(client, "ana@example.org")
    page = client.get("/").get_data(as_text=True)
    mine = page.split('id="mine-title"')[1].split("</section>")[0]
    assert "Mesa 1" in mine and "Mesa 2" not in mine


def test_programme_numbers_count_and_stay_cheap(app, client):
    with app.app_context():
        institution = make_institution("inegi")
        liaison = make_liaison(institution)
        for _ in range(3):
            make_event(institution, actor=liaison)
        assert programme_counts()["held"] == 0
    page = client.get("/").get_data(as_text=True)
    assert "El programa en números" in page
    with app.app_context(), QueryCounter(db.engine) as counter:
        client.get("/")
    few = counter.count
    with app.app_context():
        institution = db.session.merge(institution)
        liaison = db.session.merge(liaison)
        for _ in range(10):
            make_event(institution, actor=liaison)
    with app.app_context(), QueryCounter(db.engine) as counter:
        client.get("/")
    assert counter.count == few  # constant whatever the data size (figures cached)


def test_commitments_figure_agrees_with_the_commitments_made(app, monkeypatch):
    import events.home as home

    counts = {"held": 0, "people": 0, "datasets": 0, "met": 1, "made": 5}
    monkeypatch.setattr(home, "programme_counts", lambda: counts)
    with app.test_request_context("/"):
        figure = home._figures(app)[-1]
    assert (figure.value, figure.label) == ("1/5", "acuerdos cumplidos")  # not "1/5 acuerdo cumplido"
