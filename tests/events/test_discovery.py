"""Finding events (accent-insensitive search) and the event page's calendar links and previews."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from accounts.services import update_institution
from core.extensions import db
from core.models import Institution, User
from events import services
from tests.factories import make_event, make_institution, make_liaison, make_user


def _titles(client, query: str, **args) -> list[str]:
    response = client.get("/api/v1/events", query_string={"q": query, **args})
    assert response.status_code == 200
    return sorted(event["title"] for event in response.get_json())


def test_search_ignores_accents_and_case_and_reaches_the_institution(app, client):
    with app.app_context():
        conagua = make_institution("conagua", name="Comisión Nacional del Agua", acronym="CONAGUA")
        inegi = make_institution("inegi", name="Instituto Nacional de Estadística y Geografía")
        make_event(
            conagua,
            actor=make_liaison(conagua),
            title="Mesa sobre acuíferos",
            summary="Disponibilidad de agua subterránea.",
            topics=["agua", "medio ambiente"],
        )
        make_event(
            inegi, actor=make_liaison(inegi), title="Datatón del censo", summary="Población y vivienda."
        )
        make_event(inegi, actor=make_liaison(inegi, "otra@example.org"), title="Borrador", publish=False)
    assert _titles(client, "acuiferos") == ["Mesa sobre acuíferos"]
    assert _titles(client, "ACUÍFEROS") == ["Mesa sobre acuíferos"]
    assert _titles(client, "conagua") == ["Mesa sobre acuíferos"]
    assert _titles(client, "estadistica censo") == ["Datatón del censo"]
    assert _titles(client, "medio ambiente") == ["Mesa sobre acuíferos"]
    assert _titles(client, "borrador") == []  # drafts never show
    assert _titles(client, "zzz inexistente") == []
    assert _titles(client, "   ") == ["Datatón del censo", "Mesa sobre acuíferos"]
    # The page: the box keeps what was typed, the list shows what matched.
    page = client.get("/events?q=acuiferos").get_data(as_text=True)
    assert 'value="acuiferos"' in page and "Mesa sobre acuíferos" in page and "Datatón del censo" not in page
    # Hostile input is just words.
    assert client.get("/events", query_string={"q": "%_\\' OR 1=1 --" * 20}).status_code == 200


def test_search_follows_edits(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        liaison = make_liaison(inegi)
        event = make_event(inegi, actor=liaison, title="Mesa de vivienda")
        services.update_event(liaison, event, {"title": "Mesa de movilidad"})
    assert _titles(client, "movilidad") == ["Mesa de movilidad"]
    assert _titles(client, "vivienda") == []


def test_search_follows_the_institution_being_renamed(app, client):
    with app.app_context():
        inegi = make_institution("inegi", name="Instituto de Vivienda")
        liaison = make_liaison(inegi)
        make_event(inegi, actor=liaison, title="Mesa abierta")
        ids = inegi.id, liaison.id
    before = client.get("/events.ics").headers["ETag"]
    with app.app_context():
        inegi, liaison = db.session.get(Institution, ids[0]), db.session.get(User, ids[1])
        update_institution(liaison, inegi, name="Instituto de Movilidad", acronym="IMOV")
    feed = client.get("/events.ics", headers={"If-None-Match": before})
    assert feed.status_code == 200 and "Instituto de Movilidad" in feed.get_data(as_text=True)
    assert _titles(client, "movilidad") == ["Mesa abierta"]
    assert _titles(client, "imov") == ["Mesa abierta"]
    assert _titles(client, "vivienda") == []


def test_event_page_offers_web_calendars_and_describes_itself(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        event = make_event(
            inegi,
            actor=make_liaison(inegi),
            title="Mesa de diálogo: movilidad",
            summary="Datos de movilidad urbana para la CDMX.",
            kind="dialogue_table",
            capacity=10,
            sector_seats={"academia": 3, "journalism": 2},
        )
        services.register(make_user("ana@example.org"), event)
        event_id = event.id
    page = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert '<meta name="description" content="Datos de movilidad urbana para la CDMX.">' in page
    assert '<meta property="og:title" content="Mesa de diálogo: movilidad">' in page
    assert f'<meta property="og:url" content="http://promueve.test/events/{event_id}">' in page
    google = page.split('href="https://calendar.google.com/calendar/render?')[1].split('"')[0]
    params = parse_qs(google.replace("&amp;", "&"))
    assert params["text"] == ["Mesa de diálogo: movilidad"] and params["action"] == ["TEMPLATE"]
    start, end = params["dates"][0].split("/")
    assert start.endswith("Z") and end.endswith("Z") and start < end
    outlook = page.split('href="https://outlook.live.com/calendar/0/deeplink/compose?')[1].split('"')[0]
    assert "subject=Mesa" in outlook and "startdt=" in outlook
    assert urlsplit("https://x/?" + outlook).query
    # Seats per sector on a dialogue table (ana has no sector: she takes an open seat).
    assert "Lugares por sector" in page
    assert "Academia: quedan 3 de 3" in page
    assert "Otros sectores: quedan 4 de 5" in page


def test_month_calendar_shows_public_events_on_their_day(app, client):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    with app.app_context():
        inegi = make_institution("inegi", acronym="INEGI")
        liaison = make_liaison(inegi)
        # 23:30 in Mexico City on 14 Jan 2027 is already the 15th in UTC: shown on the 14th.
        late = datetime(2027, 1, 14, 23, 30, tzinfo=ZoneInfo("America/Mexico_City"))
        make_event(inegi, actor=liaison, title="Mesa nocturna", starts_at=late, topics=["movilidad"])
        make_event(inegi, actor=liaison, title="Borrador de enero", starts_at=late, publish=False)
    page = client.get("/events/calendar?month=2027-01").get_data(as_text=True)
    assert "Enero 2027" in page or "enero 2027" in page.lower()
    cell = page.split('<span class="day-number">14</span>')[1].split("</td>")[0]
    assert "Mesa nocturna" in cell and "INEGI" in cell
    assert "Borrador de enero" not in page
    assert 'href="/events/calendar?month=2026-12"' in page and 'href="/events/calendar?month=2027-02"' in page
    english = client.get("/events/calendar?month=2027-01", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "January 2027" in english
    # Nonsense months fall back to the current one instead of failing.
    for bad in ("2027-13", "abc", "99999-01", "2027-1-1", "-"):
        assert client.get("/events/calendar", query_string={"month": bad}).status_code == 200
    assert client.get("/events/calendar", query_string={"month": "\x00"}).status_code == 400
