"""Events in headless Chromium (Playwright): a liaison creates and publishes an event through the
management pages; a citizen finds a datathon, registers, sees the confirmation and downloads the
.ics; axe-core finds no serious or critical violation on the list, detail and management pages.

The citizen's flow and the public pages' axe sweep run at 1280 and 360 px. Data is seeded
with the services inside the `app` fixture; the live server reads it (see
tests/e2e/conftest.py for the browser, the axe-core injection and Chromium discovery).
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from datetime import timedelta

import pytest
from freezegun import freeze_time
from icalendar import Calendar

from core.timeutil import to_zone, utcnow
from events import services
from tests.e2e.conftest import (
    BOTH_WIDTHS,
    Axe,
    nav_link,
    no_sideways_scroll,
    open_page,
    sign_in,
)
from tests.factories import make_event, make_institution, make_liaison, make_user

pytestmark = pytest.mark.e2e

CODE = re.compile(r"^[A-Z0-9]{8}$")


def _seed(app) -> dict:
    """An institution with its liaison, a citizen, a datathon, a dialogue table and a concluded
    collaboration with its outcome, commitments and published story."""
    with app.app_context():
        inegi = make_institution("inegi", name="Instituto Nacional de Estadística y Geografía")
        salud = make_institution("salud", name="Secretaría de Salud", acronym="SSA")
        liaison = make_liaison(inegi, "enlace@inegi.example.org")
        # SSA names INEGI co-host: INEGI's liaison has a request to answer at /events/requests.
        make_event(
            salud,
            actor=make_liaison(salud, "enlace@salud.example.org"),
            kind="dialogue_table",
            title="Mesa de salud con el INEGI",
            cohosts=["inegi"],
        )
        citizen = make_user("lucia.ramirez@example.org", name="Lucía Ramírez")
        datathon = make_event(
            inegi,
            title="Datatón de movilidad urbana",
            summary="Un día para construir herramientas con los datos de movilidad.",
            description="Trabajaremos con **datos abiertos** de movilidad.\n\n- Equipos de 3 a 5\n- Premios",
            capacity=30,
            topics=["movilidad", "transporte"],
            agenda=[
                {"time": "10:00", "title": "Bienvenida", "speaker": "Equipo INEGI"},
                {"time": "11:00", "title": "Trabajo en equipos"},
            ],
            datasets=[{"title": "Encuesta Origen-Destino", "url": "https://datos.gob.mx/busca/dataset/eod"}],
        )
        table = make_event(
            inegi,
            kind="dialogue_table",
            title="Mesa de diálogo sobre el censo agropecuario",
            capacity=12,
            sector_seats={"academia": 4, "civil_society": 4},
        )
        start = utcnow().replace(microsecond=0) - timedelta(days=20)
        with freeze_time(start - timedelta(days=10)):
            done = make_event(
                inegi,
                kind="data_for_development",
                title="Colaboración con la universidad sobre pobreza",
                academic_partner="Universidad Autónoma de Yucatán",
                starts_at=start,
                ends_at=start + timedelta(hours=4),
            )
        with freeze_time(start + timedelta(days=1)):
            services.record_outcome(liaison, done, attendance_count=18, minutes="Se acordó publicar datos.")
            services.add_commitment(
                liaison,
                done,
                {"text": "Publicar la serie de pobreza municipal", "responsible_institution": "inegi"},
            )
            services.add_commitment(
                liaison, done, {"text": "Revisar la metodología", "responsible_name": "Universidad"}
            )
            services.save_story(
                liaison,
                done,
                title="Datos de pobreza para todos",
                body="La colaboración abrió la serie municipal.",
                publish=True,
            )
        services.register(make_user(), table)
        return {
            "liaison": liaison.email,
            "citizen": citizen.email,
            "datathon": datathon.id,
            "datathon_title": datathon.title,
            "table": table.id,
            "done": done.id,
            "timezone": datathon.timezone,
        }


# --- 1. the liaison ---------------------------------------------------------------------------


def test_liaison_creates_and_publishes_an_event(app, browser, base_url):
    seeded = _seed(app)
    local_start = to_zone(utcnow(), seeded["timezone"]).replace(second=0, microsecond=0) + timedelta(days=21)
    title = "Datatón de calidad del aire"
    with ExitStack() as stack:
        context, page = open_page(browser, base_url)
        stack.callback(context.close)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(page, seeded["liaison"])

        nav_link(page, "Gestionar actividades").click()  # in the "Gestión" menu
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Gestionar actividades"
        page.get_by_role("link", name="Nueva actividad").click()
        page.wait_for_load_state()
        page.select_option("#kind", "datathon")
        page.fill("#title", title)
        page.fill("#summary", "Analicemos las mediciones de calidad del aire de la ciudad.")
        page.fill("#starts_at", local_start.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#ends_at", (local_start + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M"))
        page.select_option("#format", "in_person")
        page.fill("#venue", "Museo de Historia Natural")
        page.fill("#address", "Av. de los Compositores s/n, Bosque de Chapultepec")
        page.select_option("#state", "Ciudad de México")
        page.fill("#capacity", "40")
        page.fill("#agenda-0-time", "09:00")
        page.fill("#agenda-0-title", "Registro")
        page.fill("#agenda-1-time", "10:00")
        page.fill("#agenda-1-title", "Presentación de los datos")
        page.fill("#agenda-1-speaker", "Red de monitoreo")
        page.get_by_role("button", name="Guardar").click()
        page.wait_for_load_state()

        # A draft: its page says so and offers "Publicar".
        assert page.locator("h1").inner_text() == title, page.content()
        assert "borrador" in page.locator(".flash-success").inner_text()
        event_id = int(re.search(r"/events/(\d+)$", page.url).group(1))
        page.get_by_role("button", name="Publicar").click()
        page.wait_for_load_state()
        assert "Publicaste" in page.locator(".flash-success").inner_text(), page.content()
        assert page.get_by_role("button", name="Publicar").count() == 0
        assert "Quedan 40 lugares de 40" in page.locator(".event-aside").inner_text()

        # It is public now: an anonymous visitor finds it in the list, with its agenda.
        visitor, visitor_page = open_page(browser, base_url)
        stack.callback(visitor.close)
        visitor_page.goto("/events?kind=datathon")
        visitor_page.get_by_role("link", name=title).click()
        visitor_page.wait_for_load_state()
        assert visitor_page.url.endswith(f"/events/{event_id}")
        assert "Presentación de los datos" in visitor_page.locator("table").inner_text()
        assert visitor_page.get_by_role("link", name="Inicia sesión para registrarte").is_visible()

        # The management list shows it with its status.
        page.goto("/events/manage")
        row = page.locator("tr", has_text=title)
        assert "Publicada" in row.inner_text(), row.inner_text()
        assert not errors, errors


# --- 2. the citizen ----------------------------------------------------------------------------


@BOTH_WIDTHS
def test_citizen_finds_a_datathon_registers_and_downloads_the_ics(app, new_page, page_errors):
    seeded = _seed(app)
    # Under the site's CSP (no axe here: the sweep below and the layout test check these pages).
    page = new_page(accept_downloads=True, bypass_csp=False)
    csp_reports: list[str] = []
    page.on(
        "console", lambda msg: csp_reports.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    sign_in(page, seeded["citizen"])
    # Find it: the list (through "Menú" on a phone); choosing "Datatón" applies by itself.
    nav_link(page, "Actividades").click()
    page.wait_for_url("**/events")
    assert page.get_by_role("link", name="Mesa de diálogo sobre el censo agropecuario").count() == 1
    with page.expect_navigation():
        page.select_option("#f-kind", "datathon")
    assert "kind=datathon" in page.url
    assert page.get_by_role("link", name="Mesa de diálogo sobre el censo agropecuario").count() == 0
    page.get_by_role("link", name=seeded["datathon_title"]).click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == seeded["datathon_title"]
    assert "Quedan 30 lugares de 30" in page.locator(".event-aside").inner_text()

    # Register: the confirmation shows the code (and its QR code).
    page.get_by_role("button", name="Registrarme").click()
    page.wait_for_load_state()
    flash = page.locator(".flash-success").inner_text()
    code = page.locator(".registration-code").inner_text().strip()
    assert CODE.match(code), code
    assert code in flash and "confirmado" in flash, flash
    assert page.locator(".event-aside .badge-success").inner_text() == "Tu lugar está confirmado"
    assert page.get_by_role("img", name=re.compile(code)).is_visible()
    assert "Quedan 29 lugares de 30" in page.locator(".event-aside").inner_text()

    # Download the .ics and read it with icalendar.
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile(r"\.ics")).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".ics"), download.suggested_filename
    calendar = Calendar.from_ical(download.path().read_bytes())
    vevents = calendar.walk("VEVENT")
    assert len(vevents) == 1
    vevent = vevents[0]
    assert str(vevent["SUMMARY"]) == seeded["datathon_title"]
    assert str(vevent["UID"]).startswith(f"event-{seeded['datathon']}@")
    assert str(vevent["URL"]).endswith(f"/events/{seeded['datathon']}")
    assert calendar.walk("VTIMEZONE"), "the .ics has no VTIMEZONE"

    # "My events" lists it with the same code.
    nav_link(page, "Mis actividades").click()
    page.wait_for_url("**/events/mine")
    assert code in page.locator("main").inner_text()
    no_sideways_scroll(page)
    assert not page_errors, page_errors
    assert not csp_reports, csp_reports


# --- 3. accessibility ----------------------------------------------------------------------------


@BOTH_WIDTHS
def test_event_pages_have_no_serious_accessibility_violations(app, new_page, width):
    seeded = _seed(app)
    axe = Axe()

    def check(page, path: str) -> None:
        response = page.goto(path)
        assert response is not None and response.ok, (path, response and response.status)
        axe.check(page, f"{path} at {width}")

    anonymous = new_page()  # the CSP is bypassed to inject axe-core
    datathon, table, done = seeded["datathon"], seeded["table"], seeded["done"]
    for path in (
        "/events",
        "/events?kind=datathon&when=",
        "/events?when=past",
        f"/events/{datathon}",
        f"/events/{table}",
        f"/events/{done}",
        "/stories",
    ):
        check(anonymous, path)

    citizen = new_page()
    sign_in(citizen, seeded["citizen"])
    citizen.goto(f"/events/{datathon}")
    citizen.get_by_role("button", name="Registrarme").click()
    citizen.wait_for_load_state()
    axe.check(citizen, f"/events/{datathon} (registered, with QR code) at {width}")
    check(citizen, "/events/mine")

    # The management pages at 360 px are in test_layout_browser.py (axe and no sideways scroll)
    # and test_forms_browser.py (the forms and their errors).
    if width == "desktop":
        liaison = new_page()
        sign_in(liaison, seeded["liaison"])
        for path in (
            "/events/manage",
            "/events/new",
            f"/events/{datathon}",
            f"/events/{datathon}/edit",
            f"/events/{datathon}/reschedule",
            f"/events/{datathon}/cancel",
            f"/events/{datathon}/registrations",
            f"/events/{datathon}/checkin",
            f"/events/{done}/outcome",
            f"/events/{done}/story",
            "/events/requests",
        ):
            check(liaison, path)
        # The creation form after an empty submission: errors shown and tied to their fields.
        liaison.goto("/events/new")
        liaison.get_by_role("button", name="Guardar").click()
        liaison.wait_for_selector(".field-error")
        axe.check(liaison, "/events/new (after submitting the empty form)")
    axe.assert_clean()
