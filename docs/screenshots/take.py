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

import os
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

OUT = Path(__file__).resolve().parent
WIDTH, HEIGHT, MAX_HEIGHT = 1280, 800, 1600
PHONE_WIDTH, PHONE_HEIGHT, PHONE_MAX_HEIGHT = 360, 740, 2000
ONLY: set[str] = set()
LIAISON = ("enlace.inegi@promueve.example", "Enlace-INEGI-2026")
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


def _log_in(page: Page, email: str, password: str) -> None:
    _open(page, "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    if page.locator(".user-menu a[href$='/profile']").count() != 1:
        raise SystemExit(f"could not log in as {email} (is the demo data loaded?)")


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

        page = new_page()
        _log_in(page, *LIAISON)
        _open(page, "/institutions/inegi/members")
        _shot(page, "members.png")
        _open(page, "/profile")
        _shot(page, "profile.png")
        _open(page, "/events/manage")
        _shot(page, "events-manage.png")

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
