"""Event covers in headless Chromium: a liaison uploads a cover (the form first asks for its
text alternative), then everyone sees it with that alt on the event page and the list; axe finds
no serious or critical violation on the form and the pages, at desktop width and at 360 px."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from tests.core.test_images import jpeg_with_gps_and_orientation
from tests.e2e.conftest import (
    BOTH_WIDTHS,
    check_axe,
    open_page,
    sign_in,
)
from tests.factories import make_event, make_institution, make_liaison

pytestmark = pytest.mark.e2e

ALT = "Personas frente a un mapa de rutas de transporte"


def _seed(app) -> dict:
    with app.app_context():
        inegi = make_institution("inegi", name="Instituto Nacional de Estadística y Geografía")
        liaison = make_liaison(inegi, "enlace@inegi.example.org")
        event = make_event(inegi, actor=liaison, title="Datatón de movilidad urbana", capacity=30)
        return {"liaison": liaison.email, "event": event.id}


def _no_horizontal_scroll(page) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


@BOTH_WIDTHS
def test_liaison_uploads_a_cover_and_everyone_sees_it_with_its_alt(app, browser, base_url, viewport):
    seeded = _seed(app)
    photo = {
        "name": "portada.jpg",
        "mimeType": "image/jpeg",
        "buffer": jpeg_with_gps_and_orientation(1200, 800),
    }
    with ExitStack() as stack:
        # axe is injected as an inline script: the liaison's browser lets it past the CSP; the
        # visitor's below keeps the CSP and must see no violation.
        context, page = open_page(browser, base_url, viewport=viewport, bypass_csp=True)
        stack.callback(context.close)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(page, seeded["liaison"])

        page.goto(f"/events/{seeded['event']}/edit")
        check_axe(page, "edit form")
        page.set_input_files("#cover", photo)
        page.get_by_role("button", name="Guardar").click()
        page.wait_for_load_state()
        # No alt: the form says so next to the field, and asks to choose the picture again.
        assert page.locator("#cover_alt-error").is_visible(), page.content()
        assert "texto alternativo" in page.locator("#cover_alt-error").inner_text()
        assert page.locator("#cover_alt").get_attribute("aria-invalid") == "true"
        check_axe(page, "edit form with errors")

        page.set_input_files("#cover", photo)
        page.fill("#cover_alt", ALT)
        page.get_by_role("button", name="Guardar").click()
        page.wait_for_load_state()
        assert page.url.endswith(f"/events/{seeded['event']}"), page.content()

        assert page.locator(".event-cover img").count() == 1, page.locator("main").inner_html()
        cover = page.locator(".event-cover img")
        assert cover.get_attribute("alt") == ALT
        assert page.evaluate("() => document.querySelector('.event-cover img').naturalWidth") > 0
        # The photo was 1200 × 800 with "rotate 90°" in its EXIF: upright now, and without it.
        assert cover.get_attribute("width") == "800" and cover.get_attribute("height") == "1200"
        check_axe(page, "event page with cover")
        _no_horizontal_scroll(page)

        page.goto("/events")
        check_axe(page, "events list with a cover")

        visitor, visitor_page = open_page(browser, base_url, viewport=viewport)
        stack.callback(visitor.close)
        csp_reports: list[str] = []
        visitor_page.on(
            "console",
            lambda message: (
                csp_reports.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        visitor_page.goto("/events")
        card_image = visitor_page.locator(".event-card img.card-cover")
        assert card_image.get_attribute("alt") == ALT
        # The card's image loads lazily, after the page's load event: bring it in view and wait.
        card_image.scroll_into_view_if_needed()
        visitor_page.wait_for_function("() => document.querySelector('img.card-cover').naturalWidth > 0")
        _no_horizontal_scroll(visitor_page)
        with visitor_page.expect_navigation():
            visitor_page.get_by_role("link", name="Datatón de movilidad urbana").click()
        assert visitor_page.locator(".event-cover img").get_attribute("alt") == ALT
        assert visitor_page.evaluate("() => document.querySelector('.event-cover img').naturalWidth") > 0
        assert csp_reports == []
        src = visitor_page.locator(".event-cover img").get_attribute("src")
        response = visitor_page.request.get(src)
        assert response.headers["content-type"] == "image/jpeg"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert errors == []
