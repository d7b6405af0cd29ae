"""Forms that say everything at once, lists as rows, confirmation steps and duplicating an event,
in headless Chromium at desktop width and at 360 px, with axe-core on every page visited (no
serious or critical violation). See tests/e2e/conftest.py for the browser and axe helpers."""

from __future__ import annotations

import re
from contextlib import ExitStack
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts import services as accounts_services
from core.extensions import db
from core.models import ApiToken, AuditEntry, Membership
from core.timeutil import to_zone, utcnow
from events import services
from events.models import Event, EventStatus, Registration, RegistrationStatus
from tests.e2e.conftest import (
    BOTH_WIDTHS,
    Axe,
    open_page,
    sign_in,
)
from tests.factories import make_event, make_institution, make_liaison, make_user

pytestmark = [pytest.mark.e2e, BOTH_WIDTHS]

ZONE = "America/Mexico_City"


def _page(stack: ExitStack, browser, base_url: str, viewport, **options):
    context, page = open_page(browser, base_url, viewport=viewport, **options)
    stack.callback(context.close)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(message) -> None:
        # A form with errors answers 422 on purpose; anything else logged as an error counts.
        if message.type == "error" and "status of 422" not in message.text:
            errors.append(message.text)

    page.on("console", on_console)
    return page, errors


def _local(days: int, hour: int):
    moment = to_zone(utcnow(), ZONE) + timedelta(days=days)
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0)


def _fill_basics(page, title: str) -> None:
    start = _local(21, 10)
    page.fill("#title", title)
    page.fill("#starts_at", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#ends_at", (start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    page.select_option("#format", "in_person")
    page.fill("#venue", "Sala de juntas")


def _no_horizontal_scroll(page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} scrolls sideways: {width}px"


# --- 1. seven mistakes, seven errors ----------------------------------------------------------


def test_seven_mistakes_give_seven_errors_in_one_submission(app, browser, base_url, viewport):
    with app.app_context():
        make_liaison(make_institution("inegi", name="INEGI"), "enlace@inegi.example.org")
    axe = Axe()
    with ExitStack() as stack:
        page, errors = _page(stack, browser, base_url, viewport, bypass_csp=True)
        sign_in(page, "enlace@inegi.example.org")
        page.goto("/events/new")
        axe.check(page, "/events/new")
        start = _local(21, 10)
        page.fill("#title", "")  # 1. no title
        page.fill("#starts_at", start.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#ends_at", (start - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))  # 2. ends first
        page.fill("#venue", "Sala de juntas")
        page.fill("#online_url", "datos.gob.mx")  # 3. not a web address
        page.fill("#capacity", "0")  # 4. no seats
        page.fill("#reminder_offsets", "mañana")  # 5. not minutes
        page.fill("#agenda-0-time", "25:00")  # 6. no such hour
        page.fill("#agenda-0-title", "Registro")
        page.fill("#questions-0-prompt", "¿Tu nivel?")
        page.fill("#questions-0-choices", "Básico")  # 7. one option only
        page.get_by_role("button", name="Guardar").click()
        page.wait_for_load_state()

        summary = page.locator(".error-summary")
        assert summary.is_visible()
        assert summary.get_by_role("heading").inner_text() == "Hay un problema"
        links = summary.get_by_role("link")
        assert links.count() == 7, summary.inner_text()
        expected = {
            "title": "Título",
            "ends_at": "posterior al inicio",
            "online_url": "https://",
            "capacity": "Cupo",
            "reminder_offsets": "minutos",
            "agenda-0-time": "HH:MM",
            "questions-0-choices": "2 a 20 opciones",
        }
        targets = {}
        for n in range(links.count()):
            href = links.nth(n).get_attribute("href")
            targets[href.lstrip("#")] = links.nth(n).inner_text()
        assert set(targets) == set(expected), targets
        for field_id, words in expected.items():
            assert words in targets[field_id], (field_id, targets[field_id])
            # Each field says what is wrong next to it, tied to it for screen readers.
            control = page.locator(f"#{field_id}")
            assert control.get_attribute("aria-invalid") == "true", field_id
            assert f"{field_id}-error" in control.get_attribute("aria-describedby"), field_id
            assert page.locator(f"#{field_id}-error").is_visible(), field_id
        assert page.locator(".field-error").count() == 7
        # The summary has the focus; its links take you to the field.
        assert page.evaluate("() => document.activeElement.classList.contains('error-summary')")
        summary.get_by_role("link", name=re.compile("HH:MM")).click()
        assert page.evaluate("() => document.activeElement.id") == "agenda-0-time"
        # What was typed is still there.
        assert page.input_value("#agenda-0-title") == "Registro"
        assert page.input_value("#questions-0-prompt") == "¿Tu nivel?"
        axe.check(page, "/events/new (seven errors)")
        _no_horizontal_scroll(page)

        # All fixed in one go: saved.
        _fill_basics(page, "Mesa de datos de empleo")
        page.fill("#online_url", "")
        page.fill("#capacity", "20")
        page.fill("#reminder_offsets", "1440")
        page.fill("#agenda-0-time", "10:00")
        page.fill("#questions-0-choices", "Básico\nAvanzado")
        page.get_by_role("button", name="Guardar").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Mesa de datos de empleo", page.content()
        assert not errors, errors
    axe.assert_clean()


# --- 2. rows: added, removed and moved with JavaScript; blank rows without ------------------------


def _agenda_titles(app, title: str) -> list[str]:
    with app.app_context():
        event = db.session.execute(select(Event).where(Event.title == title)).scalar_one()
        return [item.title for item in event.agenda]


def test_agenda_rows_are_added_removed_and_moved_and_work_without_javascript(
    app, browser, base_url, viewport
):
    with app.app_context():
        make_liaison(make_institution("inegi", name="INEGI"), "enlace@inegi.example.org")
    title = "Datatón de agua"
    axe = Axe()
    with ExitStack() as stack:
        # The site's real CSP (no bypass): the rows script is a static file and runs under it.
        page, errors = _page(stack, browser, base_url, viewport)
        sign_in(page, "enlace@inegi.example.org")
        page.goto("/events/new")
        _fill_basics(page, title)
        agenda = page.locator("#agenda")
        rows = agenda.locator("[data-row]")
        assert rows.count() == 3  # blank rows to start with
        page.fill("#agenda-0-time", "10:00")
        page.fill("#agenda-0-title", "Bienvenida")
        page.fill("#agenda-1-time", "10:00")
        page.fill("#agenda-1-title", "Presentación de los datos")
        page.fill("#agenda-1-speaker", "Conagua")

        agenda.get_by_role("button", name="Agregar un punto").click()
        assert rows.count() == 4
        assert page.evaluate("() => document.activeElement.id") == "agenda-3-time"
        page.keyboard.type("11:30")
        page.fill("#agenda-3-title", "Cierre")
        rows.nth(2).get_by_role("button", name="Quitar").click()  # the blank third row
        assert rows.count() == 3
        assert rows.nth(2).locator("input").first.get_attribute("name") == "agenda-2-time"
        assert page.input_value("#agenda-2-title") == "Cierre"
        # "Presentación" goes first: fields renumbered, legends too.
        rows.nth(1).get_by_role("button", name="Subir").click()
        assert page.input_value("#agenda-0-title") == "Presentación de los datos"
        assert page.input_value("#agenda-0-speaker") == "Conagua"
        assert page.input_value("#agenda-1-title") == "Bienvenida"
        assert rows.nth(0).locator("legend").inner_text() == "Punto 1"
        assert page.locator("label[for=agenda-0-title]").count() == 1
        rows.nth(0).get_by_role("button", name="Bajar").click()
        rows.nth(1).get_by_role("button", name="Subir").click()
        assert page.input_value("#agenda-0-title") == "Presentación de los datos"
        _no_horizontal_scroll(page)
        page.get_by_role("button", name="Guardar").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == title, page.content()
        # Same time: the order chosen is kept (the agenda is sorted by time, stably).
        assert _agenda_titles(app, title) == ["Presentación de los datos", "Bienvenida", "Cierre"]
        event_id = int(re.search(r"/events/(\d+)$", page.url).group(1))
        assert not errors, errors

        # Without JavaScript: no buttons, three blank rows after the filled ones.
        plain, _ = _page(stack, browser, base_url, viewport, java_script_enabled=False)
        sign_in(plain, "enlace@inegi.example.org")
        plain.goto(f"/events/{event_id}/edit")
        plain_rows = plain.locator("#agenda [data-row]")
        assert plain_rows.count() == 6
        assert plain.locator("#agenda").get_by_role("button").count() == 0
        assert plain.input_value("#agenda-5-title") == ""
        plain.fill("#agenda-1-time", "")  # a row emptied is a row removed
        plain.fill("#agenda-1-title", "")
        plain.fill("#agenda-3-time", "13:00")
        plain.fill("#agenda-3-title", "Comida")
        plain.get_by_role("button", name="Guardar").click()
        plain.wait_for_load_state()
        assert "Guardamos los cambios" in plain.locator(".flash-success").inner_text(), plain.content()
        assert _agenda_titles(app, title) == ["Presentación de los datos", "Cierre", "Comida"]

        checked, _ = _page(stack, browser, base_url, viewport, bypass_csp=True)
        sign_in(checked, "enlace@inegi.example.org")
        checked.goto(f"/events/{event_id}/edit")
        checked.locator("#agenda").get_by_role("button", name="Agregar un punto").click()
        axe.check(checked, f"/events/{event_id}/edit (rows)")
    axe.assert_clean()


# --- 3. confirmation steps ------------------------------------------------------------------------


def _confirm(page, axe: Axe, label: str, says: str, button: str) -> None:
    """On a confirmation page: it names what will happen; axe; then confirm."""
    page.wait_for_load_state()
    assert says in page.locator("main").inner_text(), page.locator("main").inner_text()
    assert page.get_by_role("link", name="No, volver").is_visible()
    axe.check(page, label)
    _no_horizontal_scroll(page)
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


def test_destructive_actions_ask_first_and_say_what_happens(app, browser, base_url, viewport):
    with app.app_context():
        inegi = make_institution("inegi", name="INEGI")
        liaison = make_liaison(inegi, "enlace@inegi.example.org")
        make_liaison(inegi, "equipo@inegi.example.org", role="staff")
        citizen = make_user("lucia@example.org", name="Lucía")
        waiting = make_user("pablo@example.org", name="Pablo")
        full = make_event(inegi, title="Mesa con cupo de uno", capacity=1)
        services.register(citizen, full)
        services.register(waiting, full)
        to_cancel = make_event(inegi, title="Datatón que no será")
        services.register(waiting, to_cancel)
        draft = make_event(inegi, title="Borrador olvidado", publish=False)
        accounts_services.issue_api_token(liaison, "Tablero de la oficina")
        ids = {"full": full.id, "to_cancel": to_cancel.id, "draft": draft.id}
    axe = Axe()
    with ExitStack() as stack:
        # A citizen gives up her place: the page says it goes to the first person waiting.
        page, errors = _page(stack, browser, base_url, viewport, bypass_csp=True)
        sign_in(page, "lucia@example.org")
        page.goto(f"/events/{ids['full']}")
        page.get_by_role("link", name="Cancelar mi registro").click()
        page.wait_for_load_state()
        # "No, volver" changes nothing.
        page.get_by_role("link", name="No, volver").click()
        page.wait_for_load_state()
        assert page.url.endswith(f"/events/{ids['full']}")
        page.get_by_role("link", name="Cancelar mi registro").click()
        _confirm(
            page,
            axe,
            "cancel registration",
            "Tu lugar pasará a la primera persona en lista de espera",
            "Sí, cancelar mi registro",
        )
        assert "Cancelaste tu registro." in page.locator(".flash-success").inner_text()
        with app.app_context():
            statuses = {
                r.user.email: r.status
                for r in db.session.execute(select(Registration).where(Registration.event_id == ids["full"]))
                .scalars()
                .all()
            }
            assert statuses == {
                "lucia@example.org": RegistrationStatus.cancelled,
                "pablo@example.org": RegistrationStatus.confirmed,
            }
        # Her private calendar link: a <details> step on the same page, without JavaScript too.
        page.goto("/profile/calendar")
        page.get_by_role("button", name="Crear mi enlace de calendario").click()
        page.wait_for_load_state()
        confirm = page.get_by_role("button", name="Sí, desactivar el enlace")
        assert not confirm.is_visible()
        page.locator("summary", has_text="Desactivar el enlace").click()
        assert confirm.is_visible()
        assert "dejarán de recibir tus actividades" in page.locator("details.confirm-step").inner_text()
        axe.check(page, "calendar link (confirmation open)")
        confirm.click()
        page.wait_for_load_state()
        assert "Desactivamos tu enlace de calendario." in page.locator(".flash-success").inner_text()
        assert not errors, errors

        liaison_page, liaison_errors = _page(stack, browser, base_url, viewport, bypass_csp=True)
        sign_in(liaison_page, "enlace@inegi.example.org")

        # Cancelling an event: how many people are told, then a reason.
        liaison_page.goto(f"/events/{ids['to_cancel']}")
        liaison_page.get_by_role("link", name="Cancelar actividad").first.click()
        liaison_page.wait_for_load_state()
        assert "Avisaremos por correo a 1 persona confirmada" in liaison_page.locator("main").inner_text()
        axe.check(liaison_page, "cancel event")
        liaison_page.fill("#reason", "La sede no estará disponible.")
        liaison_page.get_by_role("button", name="Cancelar la actividad").click()
        liaison_page.wait_for_load_state()
        assert "Esta actividad se canceló." in liaison_page.locator("main").inner_text()

        # Deleting a draft.
        liaison_page.goto(f"/events/{ids['draft']}")
        liaison_page.get_by_role("link", name="Eliminar borrador").first.click()
        _confirm(liaison_page, axe, "delete draft", "No se puede deshacer", "Sí, eliminarla")
        assert "Eliminamos el borrador" in liaison_page.locator(".flash-success").inner_text()

        # Removing a member.
        liaison_page.goto("/institutions/inegi/members")
        liaison_page.locator("tr", has_text="equipo@inegi.example.org").get_by_role(
            "link", name="Quitar"
        ).click()
        _confirm(liaison_page, axe, "remove member", "dejará de ser parte de INEGI", "Sí, quitar del equipo")
        assert "ya no es parte de la institución" in liaison_page.locator(".flash-success").inner_text()
        with app.app_context():
            members = db.session.execute(select(Membership)).scalars().all()
            assert [m.user.email for m in members] == ["enlace@inegi.example.org"]

        # Revoking an API token.
        liaison_page.goto("/profile/tokens")
        liaison_page.get_by_role("link", name=re.compile("Revocar")).click()
        _confirm(
            liaison_page, axe, "revoke token", "dejarán de tener acceso de inmediato", "Sí, revocar el token"
        )
        assert (
            "Revocaste el token «Tablero de la oficina»."
            in liaison_page.locator(".flash-success").inner_text()
        )
        with app.app_context():
            assert db.session.execute(select(ApiToken.revoked_at)).scalar_one() is not None
        assert not liaison_errors, liaison_errors
    axe.assert_clean()


# --- 4. duplicating an event ------------------------------------------------------------------


def test_a_liaison_duplicates_an_event_with_new_dates(app, browser, base_url, viewport):
    with app.app_context():
        inegi = make_institution("inegi", name="INEGI")
        make_liaison(inegi, "enlace@inegi.example.org")
        source = make_event(
            inegi,
            title="Mesa de datos de agua",
            kind="dialogue_table",
            starts_at=_local(7, 10),
            ends_at=_local(7, 14),
            capacity=15,
            topics=["agua"],
            agenda=[
                {"time": "10:00", "title": "Bienvenida", "speaker": "Conagua"},
                {"time": "11:00", "title": "Mesas de trabajo"},
            ],
            questions=[{"kind": "short_text", "prompt": "¿Qué datos usas?", "required": True}],
        )
        source_id = source.id
    new_start = _local(60, 9)
    axe = Axe()
    with ExitStack() as stack:
        page, errors = _page(stack, browser, base_url, viewport, bypass_csp=True)
        sign_in(page, "enlace@inegi.example.org")
        page.goto(f"/events/{source_id}")
        page.get_by_role("link", name="Duplicar").click()
        page.wait_for_load_state()
        assert "Mesa de datos de agua" in page.locator("h1").inner_text()
        axe.check(page, "duplicate")
        _no_horizontal_scroll(page)
        page.fill("#starts_at", new_start.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#ends_at", (new_start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name="Crear la copia").click()
        page.wait_for_load_state()

        # The copy's form, prefilled: a new draft with everything but the dates copied.
        assert "/edit" in page.url, page.url
        assert "borrador" in page.locator(".flash-success").inner_text()
        assert page.input_value("#title") == "Mesa de datos de agua"
        assert page.input_value("#capacity") == "15"
        assert page.input_value("#agenda-0-time") == "09:00"  # moved with the new start
        assert page.input_value("#agenda-1-title") == "Mesas de trabajo"
        assert page.input_value("#questions-0-prompt") == "¿Qué datos usas?"
        assert page.input_value("#starts_at") == new_start.strftime("%Y-%m-%dT%H:%M")
        axe.check(page, "duplicate's form")
        copy_id = int(re.search(r"/events/(\d+)/edit", page.url).group(1))
        with app.app_context():
            copy = db.session.get(Event, copy_id)
            assert copy.status == EventStatus.draft and copy.published_at is None
            assert copy.starts_at == new_start.astimezone(copy.starts_at.tzinfo)
            assert [item.title for item in copy.agenda] == ["Bienvenida", "Mesas de trabajo"]
            entry = db.session.execute(
                select(AuditEntry).where(AuditEntry.action == "event.duplicate")
            ).scalar_one()
            assert entry.object_id == str(copy_id) and entry.details["source_event_id"] == source_id
        assert not errors, errors
    axe.assert_clean()
