"""Operations and the day of an event in headless Chromium (Playwright), at 1280 and 360 px:

- an admin reads the audit log (actions in words, details as fields, pages, objects linked)
  and narrows it with its filters by action, actor and date, then finds a message in the
  outbox by recipient and by subject (issue 11, item 9);
- a citizen, in English, registers, joins a waitlist, is promoted and cancels: each is in the
  notification centre (item 10);
- a liaison confirms a waitlisted person by hand (raising the capacity after a confirmation
  step) and downloads the attendee list as XLSX (item 5);
- a liaison adds a picture to a success story (alt text required, said next to the field) and
  a visitor sees it on the story's page, served from /media (item 6).

axe-core finds no serious or critical violation on any page visited after signing in (the
login form itself is checked in test_browser.py), and no page scrolls sideways. Data is
seeded with the services; the live server (tests/e2e/conftest.py) reads it as it is.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from freezegun import freeze_time

from core import audit
from core.extensions import db
from core.timeutil import to_zone, utcnow
from events import services as event_services
from notifications import services as notification_services
from tests.core.test_images import jpeg_with_gps_and_orientation
from tests.e2e.conftest import BOTH_WIDTHS, check_axe, no_sideways_scroll
from tests.factories import make_event, make_institution, make_liaison, make_user

pytestmark = pytest.mark.e2e


def _checked(page, where: str) -> None:
    """The page as it is now: no serious or critical axe violation, no sideways scrolling."""
    check_axe(page, f"{where} at {page.viewport_size['width']} px")
    no_sideways_scroll(page)


def _submit(page, locator) -> None:
    """Click a control that submits a form, and wait for the page it leads to."""
    with page.expect_navigation():
        locator.click()


def _inegi_with_liaison():
    inegi = make_institution("inegi", name="Instituto Nacional de Estadística y Geografía", acronym="INEGI")
    return inegi, make_liaison(inegi, "enlace@inegi.example.org")


# --- item 9: the audit log and the outbox -----------------------------------------------------


def _seed_operations(app) -> dict:
    with app.app_context():
        admin = make_user("admin@example.org", admin=True, name="Admin")
        old = utcnow().replace(microsecond=0) - timedelta(days=40)
        with freeze_time(old):
            make_institution("conagua", name="Comisión Nacional del Agua", acronym="CONAGUA")
        inegi, liaison = _inegi_with_liaison()
        liaison.name = "Ana Enlace"
        db.session.commit()
        event = make_event(inegi, actor=liaison, title="Mesa de datos del agua", kind="dialogue_table")
        # Enough later entries that the event's lands on the second page (50 a page).
        for n in range(52):
            audit.record(
                "member.role_change",
                inegi,
                details={"membership_id": n + 1, "from": "staff", "to": "liaison"},
            )
        db.session.commit()
        lucia = make_user("lucia.ramirez@example.org", name="Lucía Ramírez")
        pedro = make_user("pedro.soto@example.org", name="Pedro Soto")
        for to, subject, key in (
            (lucia, "Tu constancia de asistencia está lista", "constancia"),
            (pedro, "Recordatorio: mesa de datos del agua", "recordatorio"),
        ):
            notification_services.notify(
                to=to,
                kind="surveys.opened",
                subject=subject,
                template="notifications/email/reminder",
                dedupe_key=key,
                context={"title": subject, "message": "Hola."},
                category="surveys",
                link="/events",
            )
        db.session.commit()
        return {
            "admin": admin.email,
            "event": event.id,
            "old_day": to_zone(old, "America/Mexico_City").date(),
        }


@BOTH_WIDTHS
def test_admin_reads_and_filters_the_audit_log_and_searches_the_outbox(app, page, log_in, page_errors):
    seeded = _seed_operations(app)
    log_in(page, seeded["admin"])

    page.goto("/admin/audit")
    _checked(page, "audit log")
    entries = page.locator("li.audit-entry")
    assert entries.count() == 50
    first = entries.first
    # The action in words (its code only as a small aside), the details as fields.
    assert "cambió el rol de una persona" in first.locator(".audit-line").inner_text()
    assert "member.role_change" not in first.locator(".audit-line").inner_text()
    details = dict(
        zip(
            first.locator("dl.audit-details dt").all_inner_texts(),
            first.locator("dl.audit-details dd").all_inner_texts(),
            strict=True,
        )
    )
    # Coded values in the words the institution pages use for roles.
    assert details == {
        "Antes": "Personal de la institución",
        "Membresía": "52",
        "Después": "Enlace de Datos Abiertos",
    }
    assert "{" not in first.locator("dl.audit-details").inner_text()

    # Older entries are on the next page, and their objects are links.
    _submit(page, page.get_by_role("link", name="Más antiguas"))
    assert "page=2" in page.url
    _checked(page, "audit log, page 2")
    assert page.locator("nav.pagination [aria-current=page]").inner_text() == "Página 2"
    published = page.locator("li.audit-entry", has_text="publicó la actividad")
    assert published.count() == 1
    assert "Ana Enlace" in published.locator(".audit-line strong").inner_text()
    _submit(page, published.locator(f"a[href='/events/{seeded['event']}']"))
    assert page.locator("h1").inner_text() == "Mesa de datos del agua"
    _checked(page, "event page from the audit log")
    page.go_back()
    assert "page=2" in page.url

    # By action: choosing it applies the filter at once (JavaScript is on).
    with page.expect_navigation():
        page.select_option("#action", label="publicó la actividad")
    assert "action=event.publish" in page.url
    _checked(page, "audit log by action")
    assert entries.count() == 1
    assert page.locator("nav.pagination a[rel=next]").count() == 0

    # By actor (name or email), typed and confirmed with Enter.
    with page.expect_navigation():
        page.select_option("#action", value="")
    page.fill("#actor", "ana enlace")
    with page.expect_navigation():
        page.press("#actor", "Enter")
    assert "actor=ana+enlace" in page.url
    _checked(page, "audit log by actor")
    actors = set(page.locator("li.audit-entry .audit-line strong").all_inner_texts())
    assert actors == {"Ana Enlace"}, actors
    assert entries.count() >= 2  # created and published the event

    # By date, with the button (a date applies only when asked): up to 30 days ago leaves
    # only what happened 40 days ago.
    page.fill("#actor", "")
    with page.expect_navigation():
        page.press("#actor", "Enter")
    until = (seeded["old_day"] + timedelta(days=10)).isoformat()
    page.fill("#until", until)
    _submit(page, page.get_by_role("button", name="Filtrar"))
    assert f"until={until}" in page.url and page.locator("#actor").input_value() == ""
    _checked(page, "audit log by date")
    assert entries.count() >= 1
    for text in entries.locator(".audit-line").all_inner_texts():
        assert "CONAGUA" in text, text
    page.fill("#since", (seeded["old_day"] + timedelta(days=1)).isoformat())
    with page.expect_navigation():
        page.press("#since", "Enter")
    assert page.locator("p.empty").inner_text() == "No hay entradas con estos filtros."
    _checked(page, "audit log, nothing found")

    # The outbox: its search box finds a message by recipient, then by subject.
    page.goto("/admin/outbox")
    _checked(page, "outbox")
    rows = page.locator("main table.table-stack tbody tr")
    assert rows.count() >= 2
    page.get_by_label("Buscar", exact=True).fill("lucia.ramirez")
    _submit(page, page.locator("form.outbox-search").get_by_role("button", name="Buscar"))
    _checked(page, "outbox search by recipient")
    assert page.get_by_role("status").inner_text() == "1 correo con este filtro."
    assert rows.count() == 1 and "lucia.ramirez@example.org" in rows.first.inner_text()
    assert page.get_by_label("Buscar", exact=True).input_value() == "lucia.ramirez"
    page.get_by_label("Buscar", exact=True).fill("mesa de datos")
    _submit(page, page.locator("form.outbox-search").get_by_role("button", name="Buscar"))
    _checked(page, "outbox search by subject")
    assert rows.count() == 1 and "pedro.soto@example.org" in rows.first.inner_text()
    _submit(page, rows.first.locator("td a").first)
    assert "Recordatorio: mesa de datos del agua" in page.locator("main").inner_text()
    _checked(page, "outbox message")
    assert page_errors == []


# --- item 10: the notification centre keeps the history of one's registrations ----------------


def _seed_registrations(app) -> dict:
    with app.app_context():
        inegi, liaison = _inegi_with_liaison()
        workshop = make_event(inegi, actor=liaison, title="Taller de datos del agua", capacity=20)
        table = make_event(
            inegi, actor=liaison, title="Mesa de datos abiertos", kind="dialogue_table", capacity=1
        )
        first = make_user("jose.nunez@example.org", name="José Núñez")
        event_services.register(first, table)
        marta = make_user("marta.gomez@example.org", name="Marta Gómez")
        return {"marta": marta.email, "first": first.id, "workshop": workshop.id, "table": table.id}


@BOTH_WIDTHS
def test_registrations_promotion_and_cancellation_appear_in_the_notification_centre(
    app, base_url, page, log_in, page_errors
):
    """In English: the titles are written in the person's language."""
    seeded = _seed_registrations(app)
    workshop, table = "Taller de datos del agua", "Mesa de datos abiertos"
    log_in(page, seeded["marta"])
    _checked(page, "home")
    _submit(page, page.get_by_role("button", name="English"))
    assert page.locator("html").get_attribute("lang") == "en"
    _checked(page, "home in English")

    page.goto(f"/events/{seeded['workshop']}")
    _checked(page, "workshop")
    _submit(page, page.get_by_role("button", name="Register"))
    assert page.locator(".event-aside .badge-success").inner_text() == "Your spot is confirmed"
    _checked(page, "workshop, registered")

    page.goto(f"/events/{seeded['table']}")
    _checked(page, "full table")
    _submit(page, page.get_by_role("button", name="Join the waitlist"))
    assert "waitlist" in page.locator(".event-aside").inner_text()
    _checked(page, "table, on the waitlist")

    # The one confirmed person gives up the seat: Marta is promoted (and told by email and
    # in the centre, with a link to the event on this server).
    with app.app_context():
        from events.models import Registration

        app.config["BASE_URL"] = base_url
        registration = db.session.execute(
            db.select(Registration).where(
                Registration.user_id == seeded["first"], Registration.event_id == seeded["table"]
            )
        ).scalar_one()
        event_services.cancel_registration(registration.user, registration)

    # Marta cancels the workshop, after the step that says what happens.
    page.goto(f"/events/{seeded['workshop']}")
    _checked(page, "workshop before cancelling")
    _submit(page, page.get_by_role("link", name="Cancel my registration"))
    _checked(page, "cancellation step")
    _submit(page, page.get_by_role("button", name="Yes, cancel my registration"))
    _checked(page, "workshop, cancelled")

    bell = page.locator("a.bell")
    assert bell.locator(".bell-count").inner_text().startswith("4"), bell.inner_text()
    _submit(page, bell)
    assert page.url.endswith("/notifications")
    _checked(page, "notification centre")
    titles = page.locator(".notification-title").all_inner_texts()
    assert titles == [
        f"You canceled your registration for “{workshop}”",
        f"A spot opened up: you are confirmed for “{table}”",
        f"You are on the waitlist for “{table}”",
        f"Registration confirmed: “{workshop}”",
    ], titles
    # An entry leads to its event, read from then on.
    _submit(page, page.get_by_role("link", name=f"A spot opened up: you are confirmed for “{table}”"))
    assert page.url.endswith(f"/events/{seeded['table']}")
    assert page.locator(".event-aside .badge-success").inner_text() == "Your spot is confirmed"
    _checked(page, "table, promoted")
    assert page.locator("a.bell .bell-count").inner_text().startswith("3")
    assert page_errors == []


# --- item 5: the waitlist by hand, the XLSX list ------------------------------------------------

SHEET = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _xlsx_rows(data: bytes) -> list[list[str]]:
    """The first sheet's rows as text (openpyxl is not a dependency: the XML, read directly)."""
    book = zipfile.ZipFile(io.BytesIO(data))
    shared = [
        "".join(t.text or "" for t in item.iter(f"{SHEET}t"))
        for item in ElementTree.fromstring(book.read("xl/sharedStrings.xml")).iter(f"{SHEET}si")
    ]
    rows = []
    for row in ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml")).iter(f"{SHEET}row"):
        cells: dict[int, str] = {}
        for cell in row.iter(f"{SHEET}c"):
            letters = re.match(r"[A-Z]+", cell.get("r")).group(0)
            column = 0
            for letter in letters:
                column = column * 26 + ord(letter) - ord("A") + 1
            assert cell.find(f"{SHEET}f") is None, "a formula in the attendee list"
            value = cell.find(f"{SHEET}v")
            text = "" if value is None else value.text
            cells[column - 1] = shared[int(text)] if cell.get("t") == "s" else text
        rows.append([cells.get(i, "") for i in range(max(cells) + 1)] if cells else [])
    return rows


def _seed_full_event(app) -> dict:
    with app.app_context():
        inegi, liaison = _inegi_with_liaison()
        event = make_event(
            inegi, actor=liaison, title="Mesa de datos del agua", kind="dialogue_table", capacity=1
        )
        event_services.register(make_user("jose.nunez@example.org", name="José Núñez"), event)
        event_services.register(make_user("marta.gomez@example.org", name="Marta Gómez"), event)
        return {"liaison": liaison.email, "event": event.id}


@BOTH_WIDTHS
def test_liaison_confirms_a_waitlisted_person_by_hand_and_downloads_the_xlsx(
    app, new_page, log_in, page_errors
):
    seeded = _seed_full_event(app)
    event_id = seeded["event"]
    page = new_page(accept_downloads=True)
    log_in(page, seeded["liaison"])

    page.goto(f"/events/{event_id}/registrations")
    _checked(page, "registrations")
    marta = page.locator("tbody tr", has_text="Marta Gómez")
    assert "En lista de espera (1)" in marta.inner_text()

    # The event is full: confirming her first says the capacity must go up, and by how much.
    _submit(page, marta.get_by_role("button", name="Confirmar — Marta Gómez"))
    assert page.locator("h1").inner_text() == "Confirmar a Marta Gómez"
    banner = page.locator(".banner").inner_text()
    assert "La actividad está llena: 1 confirmado de un cupo de 1." in banner, banner
    _checked(page, "confirmation step")
    back = page.get_by_role("link", name="No, volver a los registros")
    assert back.get_attribute("href") == f"/events/{event_id}/registrations"
    _submit(page, page.get_by_role("button", name="Subir el cupo a 2 y confirmar"))
    assert page.url.endswith(f"/events/{event_id}/registrations")
    flash = page.locator(".flash-success").inner_text()
    assert "Confirmaste a Marta Gómez; le avisamos por correo." in flash, flash
    assert "2 confirmados · 0 en espera" in page.locator(".lead").inner_text()
    assert page.locator("tbody tr", has_text="Marta Gómez").get_by_role("button").count() == 0
    _checked(page, "registrations after the promotion")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Descargar Excel (con respuestas)").click()
    download = download_info.value
    assert download.suggested_filename == f"actividad-{event_id}-registros.xlsx"
    rows = _xlsx_rows(download.path().read_bytes())
    header, people = rows[0], rows[1:]
    assert header[:6] == ["Código", "Nombre", "Correo", "Sector", "Estado", "Lugar en la lista de espera"]
    by_name = {row[1]: dict(zip(header, row, strict=False)) for row in people}
    assert set(by_name) == {"José Núñez", "Marta Gómez"}
    assert by_name["Marta Gómez"]["Correo"] == "marta.gomez@example.org"
    assert by_name["Marta Gómez"]["Estado"] == "Confirmado"
    assert by_name["Marta Gómez"]["Lugar en la lista de espera"] == ""
    assert re.fullmatch(r"[A-Z0-9]{8}", by_name["Marta Gómez"]["Código"])
    assert by_name["Marta Gómez"]["Código"] in page.locator("tbody").inner_text()
    assert page_errors == []


# --- item 6: a picture in a success story -------------------------------------------------------

ALT = "Participantes revisan un mapa de pozos en una mesa de trabajo"


def _seed_concluded_event(app) -> dict:
    with app.app_context():
        inegi, liaison = _inegi_with_liaison()
        start = utcnow().replace(microsecond=0) - timedelta(days=10)
        with freeze_time(start - timedelta(days=10)):
            event = make_event(
                inegi,
                actor=liaison,
                title="Colaboración sobre acuíferos",
                kind="data_for_development",
                academic_partner="Universidad de Sonora",
                starts_at=start,
                ends_at=start + timedelta(hours=4),
            )
        with freeze_time(start + timedelta(days=1)):
            event_services.record_outcome(liaison, event, attendance_count=12, minutes="Se abrió la serie.")
        return {"liaison": liaison.email, "event": event.id}


@BOTH_WIDTHS
def test_success_story_with_a_picture_needs_its_alt_and_shows_it(app, page, new_page, log_in, page_errors):
    seeded = _seed_concluded_event(app)
    photo = {"name": "taller.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps_and_orientation(90, 60)}
    title = "Los acuíferos de Sonora, en datos abiertos"
    log_in(page, seeded["liaison"])

    page.goto(f"/events/{seeded['event']}/story")
    _checked(page, "story form")
    page.fill("#title", title)
    page.fill("#body", "La colaboración abrió la serie de niveles de los pozos.")
    page.check("#publish")
    page.set_input_files("#image", photo)
    _submit(page, page.get_by_role("button", name="Guardar"))
    # No alt: said next to the field (and in the summary), and nothing saved.
    error = page.locator("#image_alt-error")
    assert error.is_visible(), page.content()
    assert "texto alternativo" in error.inner_text()
    assert page.locator("#image_alt").get_attribute("aria-invalid") == "true"
    assert "image_alt-error" in page.locator("#image_alt").get_attribute("aria-describedby").split()
    assert page.locator(".error-summary a[href='#image_alt']").count() == 1
    assert page.locator("#title").input_value() == title  # what was typed is kept
    _checked(page, "story form with the alt missing")

    page.set_input_files("#image", photo)
    page.fill("#image_alt", ALT)
    _submit(page, page.get_by_role("button", name="Guardar"))
    assert page.url.endswith(f"/events/{seeded['event']}/story#body"), page.url
    assert "Añadimos la imagen al final de la historia" in page.locator(".flash-success").inner_text()
    body = page.locator("#body").input_value()
    assert re.search(r"!\[" + re.escape(ALT) + r"\]\(/media/[^)]+\)$", body), body
    _checked(page, "story form with the picture's line")

    # Anyone finds the story and sees the picture, served by the app from /media.
    visitor = new_page()
    visitor.goto("/stories")
    _checked(visitor, "stories")
    _submit(visitor, visitor.get_by_role("link", name=title))
    _checked(visitor, "story page")
    image = visitor.get_by_role("img", name=ALT)
    assert image.count() == 1
    src = image.get_attribute("src")
    assert src.startswith("/media/"), src
    assert visitor.evaluate("(img) => img.complete && img.naturalWidth > 0", image.element_handle())
    response = visitor.request.get(src)
    assert response.ok and response.headers["content-type"] == "image/jpeg"
    assert page_errors == []
