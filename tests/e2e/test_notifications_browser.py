"""Notifications in headless Chromium (Playwright), at 1280 and 360 px: the bell counts unread
entries and leads to the centre, an entry opens its object; axe-core finds no serious or
critical violation on the centre, the preferences, the unsubscribe and mailbox pages, and the
admin pages.

Data is seeded with the services inside the `app` fixture; the live server reads it (see
tests/e2e/conftest.py for the browser, the axe-core injection and Chromium discovery).
"""

from __future__ import annotations

import pytest

from core.extensions import db
from notifications import services
from notifications.delivery import record_bounce
from tests.e2e.conftest import BOTH_WIDTHS, Axe, no_sideways_scroll, sign_in
from tests.factories import make_user

pytestmark = pytest.mark.e2e


def _seed(app) -> dict:
    with app.app_context():
        admin = make_user("admin@example.org", admin=True, name="Admin")
        ana = make_user("ana@example.org", name="Ana Pérez")
        for n, link in enumerate(("/privacy", "/institutions", "/accessibility")):
            services.notify_in_app(
                to=ana, kind="answers.answered", title=f"Aviso número {n}", link=link, dedupe_key=f"k{n}"
            )
        row = services.notify(
            to=ana,
            kind="surveys.opened",
            subject="Nueva encuesta",
            template="notifications/email/reminder",
            dedupe_key="survey",
            context={"title": "Movilidad", "message": "Abrió una encuesta."},
            category="surveys",
            link="/institutions",
        )
        failed = services.notify(
            to=admin,
            kind="account.verify",
            subject="Confirma tu correo",
            template="accounts/email/verify",
            dedupe_key="failed",
            context={"verify_url": "http://x/verify", "hours": 48},
        )
        failed.status, failed.last_error = "failed", "SMTP 550: 5.1.1 Mailbox unavailable"
        luis = make_user("luis@example.org", name="Luis")
        for _ in range(3):
            record_bounce("luis@example.org", "SMTP 550: 5.1.1 Mailbox unavailable")
        db.session.commit()
        return {
            "admin": admin.email,
            "ana": ana.email,
            "luis": luis.email,
            "unsubscribe": row.unsubscribe_url.split("/unsubscribe/")[1],
        }


@BOTH_WIDTHS
def test_bell_leads_to_the_centre_and_an_entry_to_its_object(app, page, width, page_errors):
    seeded = _seed(app)
    axe = Axe()
    sign_in(page, seeded["ana"])
    bell = page.locator("a.bell")  # in the header at every width, outside the phone's "Menú"
    assert bell.is_visible()
    assert bell.locator(".bell-count").inner_text().startswith("4")
    bell.click()
    page.wait_for_url("**/notifications")
    no_sideways_scroll(page)
    axe.check(page, f"/notifications at {width}")
    page.get_by_role("link", name="Aviso número 1").click()
    page.wait_for_url("**/institutions")
    assert page.locator("a.bell .bell-count").inner_text().startswith("3")
    axe.check(page, f"/institutions at {width}")
    page.goto("/notifications")
    page.get_by_role("button", name="Marcar todas como leídas").click()
    page.wait_for_load_state()
    assert page.locator("a.bell .bell-count").count() == 0
    axe.check(page, f"/notifications (all read) at {width}")
    axe.assert_clean()
    assert not page_errors, page_errors


@BOTH_WIDTHS
def test_notification_pages_have_no_serious_accessibility_violations(app, new_page, width):
    seeded = _seed(app)
    axe = Axe()

    def check(page, path: str) -> None:
        response = page.goto(path)
        assert response is not None and response.status < 500, (path, response and response.status)
        axe.check(page, f"{path} at {width}")

    # The site's CSP forbids inline scripts: new_page bypasses it to inject axe-core.
    anonymous = new_page()
    check(anonymous, f"/unsubscribe/{seeded['unsubscribe']}")
    check(anonymous, "/unsubscribe/not-a-token")

    luis = new_page()
    sign_in(luis, seeded["luis"])
    check(luis, "/")  # the undeliverable-address banner
    check(luis, "/notifications/mailbox")

    # The centre, the preferences and the outbox pages at 360 px are in test_layout_browser.py.
    if width == "desktop":
        ana = new_page()
        sign_in(ana, seeded["ana"])
        for path in ("/notifications", "/notifications?unread=1", "/notifications/preferences"):
            check(ana, path)

        admin = new_page()
        sign_in(admin, seeded["admin"])
        for path in (
            "/admin/outbox",
            "/admin/outbox?status=failed",
            "/admin/outbox/1",
            "/admin/email-templates",
            "/admin/email-templates/preview?template=notifications/email/digest&locale=es_MX",
        ):
            check(admin, path)
    axe.assert_clean()
