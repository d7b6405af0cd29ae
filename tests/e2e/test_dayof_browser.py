"""The day of an event in headless Chromium, at desktop and phone (360 px) widths: a liaison
checks a person in by name and undoes it, checks another in by reading a photo of their QR
code on the camera page (headless Chromium has no camera, so the page says so and offers the
photo and the typed code), previews a message to everyone; the attendee downloads their
certificate from "Mis actividades" and anyone verifies it on its public page. The flow runs
under the site's CSP; axe-core (0 serious or critical) runs on each page in a second context
with the same session that bypasses the CSP only to inject axe.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.extensions import db
from core.timeutil import utcnow
from events import services
from events.dayof_models import AttendanceCertificate
from tests.e2e.conftest import (
    BLOCKING_IMPACTS,
    BOTH_WIDTHS,
    axe_violations,
    format_violations,
    open_page,
    sign_in,
)
from tests.factories import make_event, make_institution, make_liaison, make_user

pytestmark = pytest.mark.e2e


def _seed(app) -> dict:
    """A datathon that started 30 minutes ago with two confirmed people."""
    with app.app_context():
        inegi = make_institution("inegi", name="Instituto Nacional de Estadística y Geografía")
        liaison = make_liaison(inegi, "enlace@inegi.example.org")
        lucia = make_user("lucia.ramirez@example.org", name="Lucía Ramírez")
        pedro = make_user("pedro.paramo@example.org", name="Pedro Páramo")
        start = utcnow().replace(microsecond=0) + timedelta(days=1)
        event = make_event(
            inegi,
            actor=liaison,
            title="Datatón de movilidad urbana",
            starts_at=start,
            ends_at=start + timedelta(hours=4),
        )
        lucia_registration = services.register(lucia, event)
        pedro_registration = services.register(pedro, event)
        # Move it so it started half an hour ago (registration was open until the start).
        started = utcnow().replace(microsecond=0) - timedelta(minutes=30)
        event = services.get_event(event.id)
        event.starts_at, event.ends_at = started, started + timedelta(hours=4)
        db.session.commit()
        return {
            "event": event.id,
            "liaison": liaison.email,
            "lucia": lucia.email,
            "lucia_registration": lucia_registration.id,
            "pedro_code": pedro_registration.code,
        }


@BOTH_WIDTHS
def test_check_in_by_name_and_camera_then_the_certificate(app, browser, base_url, tmp_path, width, viewport):
    seeded = _seed(app)
    event_id = seeded["event"]
    qr = tmp_path / "codigo.png"
    qr.write_bytes(services.qr_png(seeded["pedro_code"]))
    failures: list[str] = []
    with ExitStack() as stack:
        context, page = open_page(browser, base_url, viewport=viewport, accept_downloads=True)
        stack.callback(context.close)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
        )

        def audit(path: str, session=None) -> None:
            """axe on `path` with a session (the liaison's by default); nothing wider than the screen."""
            checker_context, checker = open_page(
                browser,
                base_url,
                viewport=viewport,
                bypass_csp=True,
                storage_state=(session or context).storage_state(),
            )
            try:
                response = checker.goto(path)
                assert response is not None and response.ok, (path, response and response.status)
                blocking = [v for v in axe_violations(checker) if v["impact"] in BLOCKING_IMPACTS]
                if blocking:
                    failures.append(format_violations(path, blocking))
                overflow = checker.evaluate(
                    "() => { const m = document.querySelector('main');"
                    " return m.scrollWidth - m.clientWidth; }"
                )
                assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}"
            finally:
                checker_context.close()

        sign_in(page, seeded["liaison"])

        # By name: search, check in with the row's button, undo it.
        page.goto(f"/events/{event_id}/checkin")
        page.fill("#q", "lucia ramirez")
        page.get_by_role("button", name="Buscar").click()
        page.wait_for_load_state()
        page.get_by_role("button", name="Registrar asistencia — Lucía Ramírez").click()
        page.wait_for_load_state()
        assert "Asistencia registrada: Lucía Ramírez" in page.locator(".flash-success").inner_text()
        assert "presente desde" in page.locator("#resultados").inner_text()
        audit(page.url.replace(base_url, ""))
        page.get_by_role("button", name="Deshacer — Lucía Ramírez").first.click()
        page.wait_for_load_state()
        assert "Se deshizo la asistencia de Lucía Ramírez" in page.locator(".flash-success").inner_text()
        assert page.get_by_role("button", name="Registrar asistencia — Lucía Ramírez").count() == 1

        # By camera: no camera here, so the page says so; a photo of the QR code checks in.
        page.get_by_role("link", name="Escanear códigos QR con la cámara").click()
        page.wait_for_load_state()
        status = page.locator("#qr-status")
        page.wait_for_function(
            "() => document.getElementById('qr-status').textContent.includes('No hay una cámara')"
        )
        assert page.locator("#code").is_visible()  # the typed code stays the fallback
        audit(f"/events/{event_id}/checkin/scan")
        with page.expect_navigation():
            page.set_input_files("#qr-file", str(qr))
        page.wait_for_load_state()
        assert "Asistencia registrada: Pedro Páramo" in page.locator(".flash-success").inner_text(), status
        assert "Pedro Páramo" in page.locator("#recent-title + ul").inner_text()

        # Lucía again, from the name search, for her certificate.
        page.goto(f"/events/{event_id}/checkin?q=lucia")
        page.get_by_role("button", name="Registrar asistencia — Lucía Ramírez").click()
        page.wait_for_load_state()

        # A message to everyone confirmed: the preview says how many get it.
        page.goto(f"/events/{event_id}/messages")
        page.fill("#subject", "Cambio de sala")
        page.fill("#body", "Nos vemos en la sala 2.\n\nGracias.")
        page.get_by_role("button", name="Ver la vista previa").click()
        page.wait_for_load_state()
        assert "Se enviará a 2 personas" in page.locator("#preview-title + p").inner_text()
        audit(f"/events/{event_id}/messages")
        audit(f"/events/{event_id}/registrations")

        # Lucía downloads her certificate from "Mis actividades".
        citizen_context, citizen = open_page(browser, base_url, viewport=viewport, accept_downloads=True)
        stack.callback(citizen_context.close)
        citizen.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(citizen, seeded["lucia"])
        citizen.goto("/events/mine")
        with citizen.expect_download() as download_info:
            citizen.get_by_role(
                "link", name="Descargar constancia (PDF) — Datatón de movilidad urbana"
            ).click()
        download = download_info.value
        assert download.suggested_filename == f"constancia-{event_id}.pdf"
        assert download.path().read_bytes().startswith(b"%PDF")
        audit("/events/mine", citizen_context)

        # Anyone verifies it by its code; a wrong code is the 404 page.
        with app.app_context():
            code = db.session.execute(
                select(AttendanceCertificate.code).where(
                    AttendanceCertificate.registration_id == seeded["lucia_registration"]
                )
            ).scalar_one()
        visitor_context, visitor = open_page(browser, base_url, viewport=viewport)
        stack.callback(visitor_context.close)
        visitor.goto(f"/constancias/{code}")
        main = visitor.locator("main").inner_text()
        assert visitor.locator("h1").inner_text() == "Constancia de asistencia válida"
        for shown in (
            "Lucía Ramírez",
            "Datatón de movilidad urbana",
            "Instituto Nacional de Estadística y Geografía",
        ):
            assert shown in main, main
        audit(f"/constancias/{code}", visitor_context)
        missing = visitor.goto("/constancias/AAAABBBBCCCCDDDD")
        assert missing is not None and missing.status == 404
        assert not errors, errors
    assert not failures, "\n\n".join(failures)
