"""Shared set-up of the browser tests: one live server, one Chromium, pages at a width, axe.

Fixtures (their names are stable; other test files build on them):

- `live_server`: the app served by `flask run` on a free port (a `LiveServer`: `.base_url`,
  `.log`). On PostgreSQL one server serves the whole session: every test still starts with
  empty tables and an empty Redis db (tests/conftest.py), and the server reads them live.
  On the SQLite fallback each test gets its own server (the file is replaced between tests).
- `base_url`: `live_server.base_url`.
- `browser`: headless Debian Chromium (CHROMIUM_PATH), launched once per session.
- `width`: "desktop" (1280 px) unless a test is parametrised with `BOTH_WIDTHS` (desktop and
  phone, 360 px); `viewport` is its size.
- `new_page(**options)`: a fresh browser context (es-MX, the test's viewport, axe allowed
  through the CSP) and its page, closed after the test. JavaScript errors of every page it made
  are in `page_errors`.
- `page`: one such page.
- `axe_check(page, label=None)`: asserts that axe-core finds no serious or critical WCAG 2.0/2.1
  A/AA violation on the page as it is now. `Axe` collects findings over several pages instead.
- `log_in(page, email, password=PASSWORD)`: signs in through the login form.

Plain helpers to import: `sign_in` (what `log_in` returns), `nav_link(page, name)` (a header
link reached as a person does: through "Menú" on a phone), `no_sideways_scroll(page)`,
`open_page`, `axe_violations`, `format_violations`, `check_axe`, `Axe`, `dump_logs_on_failure`.

When a test fails, the tail of the server log written during it is printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IS_POSTGRES, WORKDIR, free_port
from tests.factories import PASSWORD
from tests.processes import web_server

AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = {"serious", "critical"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}
WIDTHS = ["desktop", "phone"]
# @BOTH_WIDTHS on a test that uses `width`, `viewport`, `page` or `new_page`: it runs at both.
BOTH_WIDTHS = pytest.mark.parametrize("width", WIDTHS, indirect=True)
# Given to every server: files the app writes during the tests stay in the test work dir.
SERVER_ENV = {"CHALLENGES_FILES_DIR": str(WORKDIR / "challenge-files")}


# --- Chromium ---------------------------------------------------------------------------------


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    message = f"Chromium not found at {path} (set CHROMIUM_PATH)"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def open_page(browser, base_url: str, **context_options):
    """A new context (es-MX unless `locale` is given) and its page: (context, page)."""
    context_options.setdefault("locale", "es-MX")
    context = browser.new_context(base_url=base_url, **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    return context, page


# --- the live server --------------------------------------------------------------------------


@dataclass
class LiveServer:
    base_url: str
    log: Path


@contextmanager
def dump_logs_on_failure(*logs: Path):
    """Print the server/worker logs when the block fails (pytest shows captured stdout)."""
    try:
        yield
    except BaseException:
        for log in logs:
            if log.exists():
                print(f"\n===== {log.name} =====\n{log.read_text(errors='replace')[-20_000:]}")
        raise


@contextmanager
def _serve(log: Path):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with web_server(port, {**SERVER_ENV, "BASE_URL": base_url}, log=log):
        yield LiveServer(base_url, log)


@pytest.fixture(scope="session")
def _shared_server(app, tmp_path_factory):
    if not IS_POSTGRES:
        yield None
        return
    with _serve(tmp_path_factory.mktemp("live-server") / "web.log") as server:
        yield server


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"_e2e_report_{report.when}", report)
    return report


@pytest.fixture
def live_server(request, app, _shared_server, tmp_path):
    with ExitStack() as stack:
        server = _shared_server or stack.enter_context(_serve(tmp_path / "web.log"))
        start = server.log.stat().st_size if server.log.exists() else 0
        yield server
        report = getattr(request.node, "_e2e_report_call", None)
        if report is not None and report.failed and server.log.exists():
            with server.log.open("rb") as handle:
                handle.seek(start)
                text = handle.read().decode(errors="replace")
            print(f"\n===== web server log during {request.node.name} =====\n{text[-20_000:]}")


@pytest.fixture
def base_url(live_server) -> str:
    return live_server.base_url


# --- pages at a width -------------------------------------------------------------------------


@pytest.fixture
def width(request) -> str:
    return getattr(request, "param", "desktop")


@pytest.fixture
def viewport(width) -> dict:
    return dict(VIEWPORTS[width])


@pytest.fixture
def page_errors() -> list[str]:
    return []


@pytest.fixture
def new_page(browser, base_url, viewport, page_errors) -> Callable:
    """new_page(**context_options) -> page; bypass_csp (for axe) and the viewport by default."""
    with ExitStack() as stack:

        def make(**context_options):
            context_options.setdefault("viewport", viewport)
            context_options.setdefault("bypass_csp", True)  # the CSP forbids the injected axe
            context, page = open_page(browser, base_url, **context_options)
            stack.callback(context.close)
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            return page

        yield make


@pytest.fixture
def page(new_page):
    return new_page()


# --- axe-core ---------------------------------------------------------------------------------


def axe_violations(page) -> list[dict]:
    """Run axe-core (WCAG 2.0/2.1 A and AA rules) on the current page."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE_JS.read_text(encoding="utf-8"))
    return page.evaluate(
        """async (tags) => {
            const results = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({
                    target: n.target.join(' '), html: n.html, summary: n.failureSummary,
                })),
            }));
        }""",
        WCAG_TAGS,
    )


def format_violations(label: str, violations: list[dict]) -> str:
    lines = [f"{label}:"]
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"]:
            lines.append(f"      target: {node['target']}")
            lines.append(f"        html: {node['html'][:200]}")
            if node["summary"]:
                lines.append("        " + node["summary"].replace("\n", "\n        "))
    return "\n".join(lines)


def check_axe(page, label: str | None = None) -> None:
    """Fail now if axe finds a serious or critical violation on the page."""
    blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING_IMPACTS]
    where = label or f"{page.url} at {page.viewport_size['width']}px"
    assert not blocking, "Serious or critical WCAG violations:\n" + format_violations(where, blocking)


class Axe:
    """Collects the findings of every page checked: serious and critical ones fail at
    `assert_clean()`, the others are printed."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.minor: list[str] = []

    def check(self, page, label: str | None = None) -> None:
        label = label or f"{page.url} at {page.viewport_size['width']}px"
        violations = axe_violations(page)
        blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
        if blocking:
            self.failures.append(format_violations(label, blocking))
        others = [v for v in violations if v["impact"] not in BLOCKING_IMPACTS]
        if others:
            self.minor.append(format_violations(label, others))

    def assert_clean(self) -> None:
        if self.minor:
            print("Minor/moderate axe findings (not failing):\n" + "\n".join(self.minor))
        assert not self.failures, "Serious or critical WCAG violations:\n" + "\n".join(self.failures)


@pytest.fixture
def axe_check() -> Callable:
    return check_axe


# --- signing in -------------------------------------------------------------------------------


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".user-menu").count() == 1, page.content()


@pytest.fixture
def log_in() -> Callable:
    return sign_in


# --- moving around ----------------------------------------------------------------------------


def nav_link(page, name: str):
    """The header link called `name`, reached as a person does: on a phone the "Menú"
    disclosure is opened first; on a desktop the "Gestión" or account dropdown holding it."""
    menu = page.locator(".nav-menu")
    if menu.count() and menu.locator("summary").is_visible():
        if menu.get_attribute("open") is None:
            menu.locator("summary").click()
        return menu.locator(".nav-menu-panel").get_by_role("link", name=name, exact=True)
    link = page.locator(".header-bar .wide-only").get_by_role("link", name=name, exact=True).first
    if not link.is_visible():
        # The link is not in the accessibility tree while its dropdown is closed.
        holder = page.get_by_role("link", name=name, exact=True, include_hidden=True)
        page.locator(".header-bar details.dropdown", has=holder).locator("summary").first.click()
    return link


def no_sideways_scroll(page) -> None:
    """Fail if the page is wider than its viewport (it would scroll sideways)."""
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} scrolls sideways: {width}px"
