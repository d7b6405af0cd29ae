"""Layout in headless Chromium (Playwright): every main page, as an anonymous visitor, a
citizen, a liaison and an admin, at 360 px and at 1280 px, never scrolls sideways; the
header is one row at 1280 px and folds into a "Menú" disclosure on phones that opens (with
and without JavaScript); axe-core finds no serious or critical violation on any of them.

One test: one server, one browser, one context per role; the demo data (`flask seed-demo`)
gives every page realistic content: long titles, full tables, managers with several menus.
The admin outbox's search box is used on a phone too.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from sqlalchemy import func, select

from core.extensions import db
from tests.e2e.conftest import (
    BLOCKING_IMPACTS,
    axe_violations,
    check_axe,
    format_violations,
    sign_in,
)

pytestmark = pytest.mark.e2e

PHONE, DESKTOP = 360, 1280
# The gov bar (about 30 px) plus one row of the header bar (about 60 px): a second row of
# links would add at least 40 px more.
ONE_ROW_HEADER_PX = 110


def _first(statement) -> int:
    value = db.session.execute(statement.limit(1)).scalar()
    assert value is not None, f"the demo data has no row for {statement}"
    return value


def _pages(app, demo) -> dict:
    """The demo accounts and the pages each role visits, from the demo data."""
    from challenges.models import Challenge, ShowcaseItem
    from core.models import Institution
    from demand.models import Dataset, DemandItem
    from events.models import Event, EventOutcome, EventStatus, SuccessStory
    from notifications.models import Notification
    from surveys.models import Survey, SurveyStatus

    with app.app_context():
        accounts = {who: (email, password) for who, email, password in demo.accounts}
        inegi = _first(select(Institution.id).where(Institution.slug == "inegi"))
        upcoming = _first(
            select(Event.id)
            .where(
                Event.institution_id == inegi,
                Event.status == EventStatus.published,
                Event.starts_at > func.now(),
            )
            .order_by(Event.starts_at)
        )
        past = _first(select(Event.id).where(Event.institution_id == inegi, Event.starts_at < func.now()))
        concluded = _first(select(EventOutcome.event_id))
        story = _first(select(SuccessStory.id).where(SuccessStory.published_at.is_not(None)))
        survey = _first(
            select(Survey.id).where(Survey.institution_id == inegi, Survey.status != SurveyStatus.draft)
        )
        challenge = _first(select(Challenge.id).where(Challenge.institution_id == inegi))
        showcase = _first(select(ShowcaseItem.id).where(ShowcaseItem.status == "published"))
        demand_item = _first(select(DemandItem.id).where(DemandItem.institution_id == inegi))
        dataset = _first(select(Dataset.id))
        message = _first(select(Notification.id))
        db.session.remove()

    public = [
        "/",
        "/events",
        "/events/calendar",
        f"/events/{upcoming}",
        f"/events/{concluded}",
        "/stories",
        f"/stories/{story}",
        "/surveys",
        f"/surveys/{survey}",
        f"/surveys/{survey}/results",
        "/challenges",
        f"/challenges/{challenge}",
        f"/challenges/{challenge}/results",
        "/apps",
        f"/apps/{showcase}",
        "/datasets",
        f"/datasets/{dataset}",
        "/demand",
        f"/demand/{demand_item}",
        "/accountability",
        "/institutions",
        "/institutions/inegi",
        "/institutions/inegi/accountability",
        "/institutions/inegi/catalogue",
        "/privacy",
        "/accessibility",
    ]
    return {
        "anonymous": (None, [*public, "/login", "/signup", "/password/forgot"]),
        "citizen": (
            accounts["ciudadana"],
            [
                "/",
                f"/events/{upcoming}",
                "/events/mine",
                "/surveys/mine",
                "/demand/mine",
                "/demand/new",
                "/apps/new",
                "/notifications",
                "/notifications/preferences",
                "/profile",
                "/profile/tokens",
                "/profile/calendar",
            ],
        ),
        "liaison": (
            accounts["INEGI"],
            [
                "/",
                "/events/manage",
                "/events/new",
                "/events/requests",
                f"/events/{upcoming}",
                f"/events/{upcoming}/edit",
                f"/events/{upcoming}/registrations",
                f"/events/{upcoming}/checkin",
                f"/events/{upcoming}/reschedule",
                f"/events/{past}/outcome",
                "/surveys/manage",
                "/surveys/new",
                f"/surveys/{survey}/edit",
                f"/challenges/{challenge}/manage",
                "/institutions/inegi/members",
                "/institutions/inegi/edit",
                "/institutions/inegi/demand/report",
                "/institutions/inegi/demand/moderation",
            ],
        ),
        "admin": (
            accounts["admin"],
            [
                "/",
                "/events/manage",
                "/admin/outbox",
                f"/admin/outbox/{message}",
                "/admin/audit",
                "/admin/email-templates",
                "/admin/non-working-days",
                "/apps/review",
                "/institutions/new",
            ],
        ),
    }


def _log_in(page, email: str, password: str) -> None:
    sign_in(page, email, password)
    assert page.locator(".user-menu .bell").count() == 1, page.content()


def _overflow(page) -> str:
    """'' when the page fits its viewport, else the widths and the widest culprits."""
    return page.evaluate(
        """() => {
            const root = document.documentElement, width = window.innerWidth;
            if (root.scrollWidth <= width) return '';
            const culprits = [...document.body.querySelectorAll('*')]
                .filter(el => el.getBoundingClientRect().right > width + 1)
                .slice(-5).map(el => el.outerHTML.slice(0, 120));
            return `scrollWidth ${root.scrollWidth} > ${width}: ${culprits.join(' | ')}`;
        }"""
    )


def _header_rows(page) -> tuple[float, list[str]]:
    """The header's height and the visible items of its bar that sit below the first."""
    return page.evaluate(
        """() => {
            const header = document.querySelector('.site-header');
            const items = [...document.querySelector('.header-bar').children]
                .filter(el => el.getClientRects().length > 0);
            const bottom = Math.min(...items.map(el => el.getBoundingClientRect().bottom));
            const lower = items.filter(el => el.getBoundingClientRect().top >= bottom - 1)
                .map(el => el.className);
            return [header.getBoundingClientRect().height, lower];
        }"""
    )


def _every_page_fits(browser, base_url: str, roles: dict) -> None:
    """Each role's pages at 360 and 1280 px: no sideways scroll, the header in one row at
    1280 px and folded on the phone, axe clean."""
    failures: list[str] = []
    accessibility: list[str] = []
    minor: list[str] = []
    visited = 0
    with ExitStack() as stack:
        for role, (credentials, paths) in roles.items():
            # The site's CSP forbids inline scripts; bypass it to inject axe-core.
            context = browser.new_context(base_url=base_url, locale="es-MX", bypass_csp=True)
            stack.callback(context.close)
            context.set_default_timeout(15_000)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            if credentials:
                _log_in(page, *credentials)
            for width in (PHONE, DESKTOP):
                page.set_viewport_size({"width": width, "height": 800})
                for path in paths:
                    label = f"{role} {width}px {path}"
                    response = page.goto(path)
                    assert response is not None and response.ok, (label, response and response.status)
                    visited += 1
                    problem = _overflow(page)
                    if problem:
                        failures.append(f"{label}: {problem}")
                    if width == DESKTOP:
                        height, lower = _header_rows(page)
                        if height > ONE_ROW_HEADER_PX or lower:
                            failures.append(f"{label}: header {height:.0f}px high, second row: {lower}")
                        if page.locator(".nav-menu > summary").is_visible():
                            failures.append(f"{label}: the phone menu shows at 1280 px")
                    else:
                        if not page.locator(".nav-menu > summary").is_visible():
                            failures.append(f"{label}: no menu button on the phone")
                        if page.locator(".main-nav.wide-only").is_visible():
                            failures.append(f"{label}: the desktop row shows on the phone")
                    violations = axe_violations(page)
                    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
                    if blocking:
                        accessibility.append(format_violations(label, blocking))
                    others = [v for v in violations if v["impact"] not in BLOCKING_IMPACTS]
                    if others:
                        minor.append(format_violations(label, others))
            assert not errors, (role, errors)

    if minor:
        print("Minor/moderate axe findings (not failing):\n" + "\n".join(minor))
    assert visited == 2 * sum(len(paths) for _credentials, paths in roles.values())
    assert not failures, "Layout problems:\n" + "\n".join(failures)
    assert not accessibility, "Serious or critical WCAG violations:\n" + "\n".join(accessibility)


def _phone_menu_opens(browser, base_url: str, roles: dict) -> None:
    """The liaison's "Menú" on a phone, with and without JavaScript; "Gestión" at 1280 px."""
    email, password = roles["liaison"][0]
    with ExitStack() as stack:
        for javascript in (True, False):
            context = browser.new_context(
                base_url=base_url,
                locale="es-MX",
                viewport={"width": PHONE, "height": 740},
                java_script_enabled=javascript,
                bypass_csp=True,  # to inject axe-core
            )
            stack.callback(context.close)
            context.set_default_timeout(15_000)
            page = context.new_page()
            _log_in(page, email, password)
            page.goto("/events")
            menu = page.locator(".nav-menu")
            panel = menu.locator(".nav-menu-panel")
            assert not panel.is_visible()
            # The sections are behind the button, not on the page.
            assert page.get_by_role("link", name="Encuestas", exact=True).count() == 0

            menu.locator("summary").click()
            assert panel.is_visible()
            assert (
                panel.get_by_role("link", name="Actividades", exact=True).get_attribute("aria-current")
                == "page"
            )
            for name in (
                "Encuestas",
                "Retos",
                "Datos",
                "Historias",
                "Mis actividades",
                "Gestionar actividades",
            ):
                assert panel.get_by_role("link", name=name, exact=True).is_visible(), name
            assert panel.get_by_role("button", name="Cerrar sesión").is_visible()
            assert _overflow(page) == ""
            if javascript:
                check_axe(page, "liaison 360px /events, menu open")

            # The panel's links lead on; the menu is closed on the next page.
            panel.get_by_role("link", name="Gestionar actividades").click()
            page.wait_for_load_state()
            assert page.locator("h1").inner_text() == "Gestionar actividades"
            assert not page.locator(".nav-menu-panel").is_visible()

            if javascript:
                # Escape and a tap outside close it again (js/layout.js).
                page.locator(".nav-menu summary").click()
                page.keyboard.press("Escape")
                assert not page.locator(".nav-menu-panel").is_visible()
                page.locator(".nav-menu summary").click()
                page.locator(".gov-bar").click(position={"x": 4, "y": 4})
                assert not page.locator(".nav-menu-panel").is_visible()

        # At 1280 px the management links sit in the "Gestión" menu of the one-row header.
        context = browser.new_context(
            base_url=base_url, locale="es-MX", viewport={"width": DESKTOP, "height": 800}
        )
        stack.callback(context.close)
        page = context.new_page()
        _log_in(page, email, password)
        management = page.locator(".site-header .dropdown", has_text="Gestión")
        assert not management.get_by_role("link", name="Equipo INEGI").is_visible()
        management.locator("summary").click()
        assert management.get_by_role("link", name="Equipo INEGI").is_visible()
        assert management.get_by_role("link", name="Gestionar encuestas").is_visible()


def _outbox_search_on_a_phone(browser, base_url: str, roles: dict) -> None:
    """The admin finds a person's messages with the outbox's search box, at 360 px."""
    email, password = roles["admin"][0]
    citizen = roles["citizen"][0][0]
    with ExitStack() as stack:
        context = browser.new_context(
            base_url=base_url, locale="es-MX", viewport={"width": PHONE, "height": 740}, bypass_csp=True
        )
        stack.callback(context.close)
        context.set_default_timeout(15_000)
        page = context.new_page()
        _log_in(page, email, password)
        page.goto("/admin/outbox")
        search = page.get_by_role("search", name="Buscar correos")
        search.get_by_label("Buscar").fill(citizen)
        search.get_by_role("button", name="Buscar").click()
        page.wait_for_load_state()
        assert "q=" in page.url and page.locator("#q").input_value() == citizen
        rows = page.locator("table.table-stack tbody tr")
        assert rows.count() >= 1, page.content()
        for n in range(rows.count()):
            assert citizen in rows.nth(n).inner_text()
        # On the phone each message is a card: its column names are printed beside the values.
        assert rows.first.locator("td[data-label='Para']").is_visible()
        assert _overflow(page) == ""
        check_axe(page, "admin 360px /admin/outbox?q=…")


def test_layout_at_360_and_1280_px_for_every_role(app, demo, browser, base_url):
    roles = _pages(app, demo)
    _phone_menu_opens(browser, base_url, roles)
    _outbox_search_on_a_phone(browser, base_url, roles)
    _every_page_fits(browser, base_url, roles)
