"""End-to-end tests in headless Chromium (Playwright): the sign-up journey and accessibility.

They use the real processes: the live server of tests/e2e/conftest.py and, for the journey, a
Celery worker that delivers the verification email from the outbox. Chromium is Debian's (or
CHROMIUM_PATH); without it the tests are skipped, or fail when REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest

from tests.e2e.conftest import BOTH_WIDTHS, Axe, dump_logs_on_failure, open_page
from tests.factories import first_link, read_mails
from tests.processes import celery_worker, wait_for

pytestmark = pytest.mark.e2e

STRONG_PASSWORD = "Mariposas-del-monarca-2026"


# --- 1. the journey -----------------------------------------------------------


def test_signup_verify_login_and_switch_language(app, browser, base_url, mail_dir, tmp_path):
    env = {"BASE_URL": base_url}
    worker_log = tmp_path / "worker.log"
    email = "ana.lopez@example.org"
    name = "Ana López Hernández"

    with ExitStack() as stack:
        stack.enter_context(dump_logs_on_failure(worker_log))
        stack.enter_context(celery_worker(env, log=worker_log))
        context, page = open_page(browser, base_url)
        stack.callback(context.close)
        page_errors: list[str] = []
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))

        # Sign up.
        page.goto("/signup")
        page.fill("#name", name)
        page.fill("#email", email)
        page.fill("#password", STRONG_PASSWORD)
        sector = page.locator("#sector option").nth(1).get_attribute("value")
        page.select_option("#sector", sector)
        state = page.locator("#state option").nth(1).get_attribute("value")
        page.select_option("#state", state)
        page.check("#accept_privacy")
        page.locator("form.form button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Revisa tu correo", page.content()
        assert email in page.locator("main").inner_text()

        # The Celery worker delivers the verification email from the outbox.
        wait_for(lambda: list(mail_dir.glob("*.eml")) if mail_dir.exists() else [], timeout=30, interval=0.2)
        messages = read_mails(mail_dir)
        assert len(messages) == 1, [m["Subject"] for m in messages]
        assert email in messages[0]["To"]
        link = first_link(messages[0], "/verify/")
        assert link.startswith(base_url + "/verify/"), link

        # Follow the link: success flash on the login page.
        page.goto(link)
        success = page.locator(".flash-success")
        success.wait_for()
        assert email in success.inner_text()
        assert page.url.startswith(base_url + "/login"), page.url

        # Log in through the form: the name is in the header.
        page.fill("#email", email)
        page.fill("#password", STRONG_PASSWORD)
        page.locator("form.form button[type=submit]").click()
        page.wait_for_load_state()
        user_menu = page.locator(".user-menu")
        assert name in user_menu.inner_text(), page.content()
        assert page.locator("html").get_attribute("lang") == "es-MX"

        # Switch to English.
        page.get_by_role("button", name="English").click()
        page.wait_for_selector("html[lang=en]")
        footer = page.locator(".site-footer")
        assert footer.get_by_role("link", name="Privacy notice").is_visible()
        assert page.get_by_role("button", name="Español").is_visible()

        # Another page stays in English…
        page.goto("/profile")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator(".site-footer").get_by_role("link", name="Privacy notice").is_visible()

        # …and the choice is in the profile: a fresh browser session gets English after login.
        fresh, fresh_page = open_page(browser, base_url)
        stack.callback(fresh.close)
        fresh_page.goto("/login")
        assert fresh_page.locator("html").get_attribute("lang") == "es-MX"
        fresh_page.fill("#email", email)
        fresh_page.fill("#password", STRONG_PASSWORD)
        fresh_page.locator("form.form button[type=submit]").click()
        fresh_page.wait_for_load_state()
        assert name in fresh_page.locator(".user-menu").inner_text()
        assert fresh_page.locator("html").get_attribute("lang") == "en"
        assert fresh_page.locator(".site-footer").get_by_role("link", name="Privacy notice").is_visible()

        assert not page_errors, page_errors


# --- 2. accessibility ---------------------------------------------------------


@BOTH_WIDTHS
def test_pages_have_no_serious_accessibility_violations(page):
    axe = Axe()
    for path in ("/", "/signup", "/login"):
        response = page.goto(path)
        assert response is not None and response.ok, (path, response and response.status)
        axe.check(page, path)

    # The sign-up form after an empty submission: errors shown and tied to their fields.
    page.goto("/signup")
    page.locator("form.form button[type=submit]").click()
    page.wait_for_selector(".field-error")
    errors = page.locator(".field-error")
    assert errors.count() >= 4, page.content()  # name, email, password, sector, privacy
    for i in range(errors.count()):
        error_id = errors.nth(i).get_attribute("id")
        assert error_id and error_id.endswith("-error"), error_id
        control = page.locator(f"#{error_id.removesuffix('-error')}")
        assert control.count() == 1, f"no control for error #{error_id}"
        described = (control.get_attribute("aria-describedby") or "").split()
        assert error_id in described, f"#{error_id} is not in aria-describedby of its field: {described}"
        assert control.get_attribute("aria-invalid") == "true", error_id
        label = page.locator(f"label[for='{control.get_attribute('id')}']")
        assert label.count() == 1, f"field {control.get_attribute('id')} has no label"
    summary = page.locator("main .error-summary[role=alert]")
    assert summary.count() == 1 and re.search(r"\d", summary.inner_text()), page.content()
    assert summary.locator("a[href^='#']").count() == errors.count()  # one link per error
    axe.check(page, "/signup (after submitting the empty form)")
    axe.assert_clean()
