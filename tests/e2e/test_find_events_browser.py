"""Finding events in headless Chromium, at 1280 and 360 px (issue 11, item 2): full-text search
without accents, filters that apply as soon as they change (a "Filtrar" button without
JavaScript), the month calendar, topics as links, the "Lleno" badge; on an event page the
Google Calendar and Outlook links next to the .ics, OpenGraph and the meta description, seats
per sector of a dialogue table, and the registration card right under the title on a phone.
axe-core runs on every page visited."""

from __future__ import annotations

from datetime import UTC, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from core.timeutil import to_zone, utcnow
from events import services
from tests.e2e.conftest import BOTH_WIDTHS, nav_link, no_sideways_scroll
from tests.factories import make_event, make_institution, make_liaison, make_user

pytestmark = [pytest.mark.e2e, BOTH_WIDTHS]

AQUIFERS = "Mesa de diálogo sobre acuíferos del norte"
DATATHON = "Datatón de movilidad urbana"
FULL = "Taller de datos de salud"


def _seed(app) -> dict:
    with app.app_context():
        agua = make_institution("conagua", name="Comisión Nacional del Agua", acronym="CONAGUA")
        inegi = make_institution(
            "inegi", name="Instituto Nacional de Estadística y Geografía", acronym="INEGI"
        )
        agua_liaison = make_liaison(agua, "enlace@conagua.example.org")
        inegi_liaison = make_liaison(inegi, "enlace@inegi.example.org")
        start = utcnow().replace(second=0, microsecond=0) + timedelta(days=9)
        table = make_event(
            agua,
            actor=agua_liaison,
            kind="dialogue_table",
            title=AQUIFERS,
            summary="Qué datos de agua subterránea hacen falta.",
            starts_at=start,
            ends_at=start + timedelta(hours=3),
            capacity=12,
            sector_seats={"academia": 4, "civil_society": 4},
            topics=["agua", "acuíferos"],
            agenda=[
                {"time": "10:00", "title": "Bienvenida", "speaker": "CONAGUA"},
                {"time": "10:30", "title": "Mesas por sector"},
            ],
        )
        datathon = make_event(
            inegi,
            actor=inegi_liaison,
            title=DATATHON,
            summary="Herramientas con los datos de movilidad.",
            starts_at=start + timedelta(days=1),
            capacity=30,
            topics=["movilidad"],
        )
        full = make_event(
            inegi,
            actor=inegi_liaison,
            kind="datathon",
            title=FULL,
            starts_at=start + timedelta(days=2),
            capacity=1,
        )
        services.register(make_user(), full)
        academic = make_user("investigadora@universidad.example.org")
        academic.sector = "academia"
        services.register(academic, table)
        zone = app.config["DEFAULT_TIMEZONE"]
        local = to_zone(table.starts_at, zone)
        return {
            "table": table.id,
            "datathon": datathon.id,
            "starts_at": table.starts_at.astimezone(UTC),
            "ends_at": table.ends_at.astimezone(UTC),
            "month": local.strftime("%Y-%m"),
            "day": local.day,
            "this_month": to_zone(utcnow(), zone).strftime("%Y-%m"),
        }


def _titles(page) -> list[str]:
    return page.locator("section[aria-labelledby=results-title] li.event-card h3").all_inner_texts()


def test_search_filters_calendar_and_topics(app, new_page, axe_check, page_errors):
    seeded = _seed(app)
    page = new_page()
    width = page.viewport_size["width"]
    page.goto("/")
    nav_link(page, "Actividades").click()
    page.wait_for_url("**/events")
    assert sorted(_titles(page)) == sorted([AQUIFERS, DATATHON, FULL])
    # With JavaScript the filters apply by themselves: no "Filtrar" button.
    assert not page.get_by_role("button", name="Filtrar").is_visible()
    full_card = page.locator("li.event-card", has_text=FULL)
    assert full_card.locator(".badge-danger").inner_text() == "Lleno"
    assert page.locator("li.event-card", has_text=DATATHON).locator(".badge-danger").count() == 0
    no_sideways_scroll(page)
    axe_check(page, f"/events at {width}px")

    # Full-text search without the accent.
    page.fill("#f-q", "acuiferos")
    page.press("#f-q", "Enter")
    page.wait_for_url("**q=acuiferos**")
    assert _titles(page) == [AQUIFERS]
    assert page.locator("#results-title").inner_text() == "1 actividad"
    axe_check(page, f"/events?q=acuiferos at {width}px")

    # A filter applies on change, without pressing anything; a second one adds to it.
    page.fill("#f-q", "")
    page.press("#f-q", "Enter")
    page.wait_for_url(lambda url: "acuiferos" not in url)
    with page.expect_navigation():
        page.select_option("#f-kind", "datathon")
    assert "kind=datathon" in page.url
    assert sorted(_titles(page)) == sorted([DATATHON, FULL])
    with page.expect_navigation():
        page.select_option("#f-institution", "inegi")
    assert "kind=datathon" in page.url and "institution=inegi" in page.url
    assert sorted(_titles(page)) == sorted([DATATHON, FULL])
    with page.expect_navigation():
        page.select_option("#f-institution", "conagua")
    assert _titles(page) == []
    assert page.locator(".empty").inner_text() == "No hay actividades con estos filtros."
    axe_check(page, f"/events?kind=datathon&institution=conagua at {width}px")

    # The month calendar: the table is on its day.
    page.goto("/events")
    page.get_by_role("link", name="Ver calendario del mes").click()
    page.wait_for_url("**/events/calendar")
    assert page.locator("h1").inner_text() == "Calendario de actividades"
    if seeded["month"] != seeded["this_month"]:
        page.get_by_role("link", name="Mes siguiente").click()
        page.wait_for_url(f"**month={seeded['month']}")
    cell = page.locator(
        "table.month-calendar td:not(.other-month)", has=page.get_by_role("link", name=AQUIFERS)
    )
    assert cell.count() == 1, page.locator("table.month-calendar").inner_text()
    assert cell.locator(".day-number").inner_text().split()[-1] == str(seeded["day"])
    assert "Mesa de diálogo · CONAGUA" in cell.inner_text()
    no_sideways_scroll(page)  # the grid scrolls inside its own box on a phone, not the page
    axe_check(page, f"/events/calendar at {width}px")

    # Topics are links to the activities about them.
    cell.get_by_role("link", name=AQUIFERS).click()
    page.wait_for_url(f"**/events/{seeded['table']}")
    page.get_by_role("link", name="agua", exact=True).click()
    page.wait_for_url(lambda url: "q=agua" in url)
    assert _titles(page) == [AQUIFERS]
    axe_check(page, f"/events?q=agua at {width}px")
    assert not page_errors, page_errors

    # Without JavaScript the form keeps its "Filtrar" button, and it works.
    plain = new_page(java_script_enabled=False)
    plain.goto("/events")
    plain.select_option("#f-kind", "dialogue_table")
    assert plain.url.endswith("/events")  # nothing happens on its own
    plain.get_by_role("button", name="Filtrar").click()
    plain.wait_for_url("**kind=dialogue_table**")
    assert _titles(plain) == [AQUIFERS]


def _box(page, selector: str) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not displayed"
    return box


def test_event_page_calendar_links_sector_seats_and_registration_card(app, new_page, axe_check, page_errors):
    seeded = _seed(app)
    page = new_page()
    width = page.viewport_size["width"]
    page.goto(f"/events/{seeded['table']}")
    title = page.locator("h1").inner_text()
    assert title == AQUIFERS
    assert page.locator("meta[property='og:title']").get_attribute("content") == AQUIFERS
    assert page.locator("meta[name=description]").get_attribute("content") == (
        "Qué datos de agua subterránea hacen falta."
    )

    # "Google Calendar" and "Outlook" next to the .ics, carrying the title and the UTC times.
    links = page.locator(".calendar-links a")
    assert links.all_inner_texts() == [
        "Agregar a mi calendario (.ics)",
        "Agregar a Google Calendar",
        "Agregar a Outlook",
    ]
    assert links.nth(0).get_attribute("href").endswith(".ics")
    start, end = seeded["starts_at"], seeded["ends_at"]
    google = urlsplit(page.get_by_role("link", name="Agregar a Google Calendar").get_attribute("href"))
    assert (google.scheme, google.netloc, google.path) == ("https", "calendar.google.com", "/calendar/render")
    query = parse_qs(google.query)
    assert query["action"] == ["TEMPLATE"]
    assert query["text"] == [AQUIFERS]
    assert query["dates"] == [f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}"]
    assert query["details"][0].endswith(f"/events/{seeded['table']}")
    outlook = urlsplit(page.get_by_role("link", name="Agregar a Outlook").get_attribute("href"))
    assert outlook.netloc == "outlook.live.com"
    query = parse_qs(outlook.query)
    assert query["subject"] == [AQUIFERS]
    assert query["startdt"] == [f"{start:%Y-%m-%dT%H:%M:%SZ}"]
    assert query["enddt"] == [f"{end:%Y-%m-%dT%H:%M:%SZ}"]

    # Seats per sector on the dialogue table (one academic registered).
    aside = page.locator(".event-aside")
    assert "Quedan 11 lugares de 12" in aside.inner_text()
    assert aside.locator(".sector-seats li").all_inner_texts() == [
        "Academia: quedan 3 de 4",
        "Sociedad civil: quedan 4 de 4",
        "Otros sectores: quedan 4 de 4",
    ]

    # Where the registration card sits: right under the title on a phone, beside the details
    # (a column of its own, at the top) on a desktop.
    heading, card = _box(page, "h1"), _box(page, ".event-aside")
    when, agenda, main = _box(page, "#when-title"), _box(page, "#agenda-title"), _box(page, ".event-main")
    assert card["y"] < agenda["y"], (card, agenda)
    if width <= 360:
        assert heading["y"] + heading["height"] <= card["y"] < when["y"], (heading, card, when)
        assert abs(card["x"] - main["x"]) < 1 and card["width"] >= main["width"] - 1
    else:
        assert card["x"] >= main["x"] + main["width"], (card, main)  # a column on the right
        assert card["y"] < when["y"] + when["height"], (card, when)  # at the top of its column
    no_sideways_scroll(page)
    axe_check(page, f"/events/<table> at {width}px")

    # In English.
    page.get_by_role("button", name="English").click()
    page.wait_for_selector("html[lang=en]")
    assert page.get_by_role("link", name="Add to Google Calendar").is_visible()
    assert page.get_by_role("link", name="Add to Outlook").is_visible()
    assert page.locator(".event-aside .sector-seats li").all_inner_texts() == [
        "Academia: 3 of 4 left",
        "Civil society: 4 of 4 left",
        "Other sectors: 4 of 4 left",
    ]
    axe_check(page, f"/events/<table> (en) at {width}px")
    assert not page_errors, page_errors
