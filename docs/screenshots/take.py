"""Take the README screenshots from a running Promueve instance with the demo data.

Usage (from the repository root, with the instance started by `make run`, which loads
the demo data from `flask seed-demo`):

    .venv/bin/python docs/screenshots/take.py [BASE_URL] [NAME.png ...]

BASE_URL defaults to http://127.0.0.1:5000; with names, only those files are taken. The
PNGs (1280x800 viewport, full page cut at 1600 px; the `-phone` ones 360x740, cut at
2000 px) are written next to this script. Chromium is CHROMIUM_PATH, else
/usr/bin/chromium, else the browser Playwright manages.
"""

from __future__ import annotations

import io
import os
import re
import sys
import zlib
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import Page, sync_playwright

OUT = Path(__file__).resolve().parent
WIDTH, HEIGHT, MAX_HEIGHT = 1280, 800, 1600
PHONE_WIDTH, PHONE_HEIGHT, PHONE_MAX_HEIGHT = 360, 740, 2000
ONLY: set[str] = set()
LIAISON = ("enlace.inegi@promueve.example", "Enlace-INEGI-2026")
CITIZEN = ("ciudadana@promueve.example", "Ciudadana-Promueve-2026")
ADMIN = ("admin@promueve.example", "Admin-Promueve-2026")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _launch(playwright):
    path = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
    options = {"headless": True, "args": CHROMIUM_ARGS}
    if os.path.exists(path):
        options["executable_path"] = path
    return playwright.chromium.launch(**options)


def _open(page: Page, path: str) -> None:
    response = page.goto(path)
    if response is None or not response.ok:
        raise SystemExit(f"{path}: HTTP {response.status if response else '?'}")
    page.wait_for_load_state("networkidle")


def _shot(page: Page, name: str) -> None:
    if ONLY and name not in ONLY:
        return
    width = page.viewport_size["width"]
    least, most = (PHONE_HEIGHT, PHONE_MAX_HEIGHT) if width == PHONE_WIDTH else (HEIGHT, MAX_HEIGHT)
    height = page.evaluate("() => document.documentElement.scrollHeight")
    clip = {"x": 0, "y": 0, "width": width, "height": min(max(height, least), most)}
    page.screenshot(path=str(OUT / name), full_page=True, clip=clip)
    print(f"{name}: {page.url}")


def _follow_first(page: Page, path: str, selector: str) -> None:
    """Open `path`, then the first link matching `selector` on it."""
    _open(page, path)
    _open(page, page.locator(selector).first.get_attribute("href"))


def _log_in(page: Page, email: str, password: str) -> None:
    _open(page, "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    if page.locator(".user-menu a[href$='/profile']").count() != 1:
        raise SystemExit(f"could not log in as {email} (is the demo data loaded?)")


def _cover_png() -> bytes:
    """A drawn cover picture (a bar chart over a gradient): the demo data has no images."""
    image = Image.new("RGB", (1200, 630))
    draw = ImageDraw.Draw(image)
    for y in range(630):
        draw.line([(0, y), (1200, y)], fill=(11, 79 + y // 10, 108 + y // 8))
    for i, height in enumerate((180, 260, 220, 340, 300, 420, 390, 470)):
        x = 140 + i * 120
        draw.rectangle([x, 560 - height, x + 80, 560], fill=(255, 205, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _certificate_code(pdf: bytes) -> str:
    """The verification code printed in a constancia (fpdf2 deflates its page streams)."""
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            text = zlib.decompress(stream)
        except zlib.error:
            text = stream
        found = re.search(rb"/constancias/([A-Za-z0-9-]+)", text)
        if found:
            return found.group(1).decode()
    raise SystemExit("no verification code found in the constancia")


def _liaison_pages(page: Page) -> None:
    """The pages of today's work for liaisons: the event form's error summary, duplicating,
    check-in by name, messages to registrants and a cover image (uploaded here)."""
    _open(page, "/events/new")
    page.locator("form.form button[type=submit]").last.click()
    page.wait_for_load_state("networkidle")
    _shot(page, "event-form-errors.png")
    _open(page, "/events/manage")
    edit_path = page.locator("main a[href*='/events/'][href$='/edit']").first.get_attribute("href")
    event_path = edit_path.rsplit("/", 1)[0]
    _open(page, event_path + "/duplicate")
    _shot(page, "event-duplicate.png")
    _open(page, event_path + "/checkin?q=a")
    _shot(page, "event-checkin.png")
    _open(page, event_path + "/messages")
    _shot(page, "event-messages.png")
    _open(page, edit_path)
    page.set_input_files(
        "#cover", files=[{"name": "portada.png", "mimeType": "image/png", "buffer": _cover_png()}]
    )
    page.fill("#cover_alt", "Gráfica de barras amarillas que crecen sobre un fondo azul")
    page.locator("form.form button[type=submit]").last.click()
    page.wait_for_load_state("networkidle")
    _open(page, event_path)
    _shot(page, "event-cover.png")


def main(base_url: str) -> None:
    with sync_playwright() as playwright:
        browser = _launch(playwright)

        def new_page(width: int = WIDTH, height: int = HEIGHT) -> Page:
            context = browser.new_context(
                base_url=base_url, viewport={"width": width, "height": height}, locale="es-MX"
            )
            return context.new_page()

        page = new_page()
        for path, name in (
            ("/", "home.png"),
            ("/signup", "signup.png"),
            ("/institutions/inegi", "institution.png"),
            ("/events", "events.png"),
            ("/stories", "stories.png"),
        ):
            _open(page, path)
            _shot(page, name)
        _open(page, "/events?kind=datathon")
        page.locator("main .event-card h3 a").first.click()
        page.wait_for_load_state("networkidle")
        _shot(page, "event.png")
        for path, name in (
            ("/events/calendar", "events-calendar.png"),
            ("/demand", "demand.png"),
            ("/accountability", "accountability.png"),
            ("/surveys", "surveys.png"),
            ("/challenges", "challenges.png"),
            ("/apps", "apps.png"),
        ):
            _open(page, path)
            _shot(page, name)
        for path, selector, name in (
            ("/demand?status=published", "main th a[href^='/demand/']", "demand-item.png"),
            ("/datasets", "main a[href^='/datasets/']", "dataset.png"),
            ("/surveys", "main a[href$='/results']", "survey-results.png"),
            # The demo's awarded challenge ("Reto: mapa vivo del censo").
            ("/challenges", "main a:has-text('mapa vivo')", "challenge.png"),
        ):
            _follow_first(page, path, selector)
            _shot(page, name)

        page = new_page()
        _log_in(page, *LIAISON)
        _open(page, "/institutions/inegi/members")
        _shot(page, "members.png")
        _open(page, "/profile")
        _shot(page, "profile.png")
        _open(page, "/events/manage")
        _shot(page, "events-manage.png")
        _liaison_pages(page)

        # A citizen who attended downloads her constancia; its code opens the public page.
        page = new_page()
        _log_in(page, *CITIZEN)
        _open(page, "/events/mine")
        link = page.locator("main a[href$='/constancia.pdf']").first.get_attribute("href")
        code = _certificate_code(page.request.get(link).body())
        _open(page, f"/constancias/{code}")
        _shot(page, "certificate.png")
        _open(page, "/notifications")
        _shot(page, "notifications.png")

        # The administrator's operations pages: the audit log filtered by action, the outbox
        # searched by recipient.
        page = new_page()
        _log_in(page, *ADMIN)
        _open(page, "/admin/audit?action=demand.request")
        _shot(page, "audit.png")
        _open(page, "/admin/outbox?q=ciudadana")
        _shot(page, "outbox.png")

        # Anonymous, so the liaison's saved language is not changed.
        page = new_page()
        _open(page, "/")
        page.get_by_role("button", name="English").click()
        page.wait_for_selector("html[lang=en]")
        page.wait_for_load_state("networkidle")
        _shot(page, "home-en.png")

        # Phones: the event page (registration card under the title) and the liaison's list
        # of events, one card per row.
        page = new_page(PHONE_WIDTH, PHONE_HEIGHT)
        _open(page, "/events?kind=datathon")
        page.locator("main .event-card h3 a").first.click()
        page.wait_for_load_state("networkidle")
        _shot(page, "event-phone.png")
        _log_in(page, *LIAISON)
        _open(page, "/events/manage")
        _shot(page, "events-manage-phone.png")

        browser.close()


if __name__ == "__main__":
    ONLY.update(sys.argv[2:])
    main((sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000").rstrip("/"))
