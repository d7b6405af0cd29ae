"""Demand in headless Chromium (Playwright): a citizen files a request (seeing the similar
catalogue dataset first), the institution's liaison answers it through the item page, and
the citizen sees the answer on the page and in an email. axe-core finds no serious or
critical violation on the demand pages.

Data is seeded with the services inside the `app` fixture; the live server reads it (see
tests/e2e/conftest.py for the browser, the axe-core injection and Chromium discovery).
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import date, timedelta

import pytest
from babel.dates import format_date

from core.extensions import db
from demand import reports
from demand.models import Dataset
from tests.e2e.conftest import (
    BLOCKING_IMPACTS,
    axe_violations,
    format_violations,
    open_page,
    sign_in,
)
from tests.factories import deliver_outbox, mails_to, make_institution, make_liaison, make_user

pytestmark = pytest.mark.e2e

TITLE = "Accidentes de tránsito por municipio, mensual"


def _seed(app) -> dict:
    with app.app_context():
        inegi = make_institution("inegi", name="Instituto Nacional de Estadística y Geografía")
        liaison = make_liaison(inegi, "enlace@inegi.example.org")
        citizen = make_user("lucia.ramirez@example.org", name="Lucía Ramírez")
        citizen.sector, citizen.state = "journalism", "Oaxaca"
        db.session.add(
            Dataset(
                institution_id=inegi.id,
                source_id="atus",
                title="Accidentes de tránsito terrestre por municipio",
                url="https://www.inegi.org.mx/datosabiertos/atus",
            )
        )
        db.session.commit()
        return {"liaison": liaison.email, "citizen": citizen.email, "institution": inegi.id}


def test_citizen_requests_liaison_answers_citizen_sees_it(app, browser, base_url, mail_dir):
    seeded = _seed(app)
    committed_day = date.today() + timedelta(days=40)
    committed = committed_day.isoformat()  # typed into the date field
    committed_words = format_date(committed_day, "long", locale="es_MX")  # read on pages and in mail
    with ExitStack() as stack:
        context, page = open_page(browser, base_url)
        stack.callback(context.close)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        # The citizen finds "Pedir datos" from the header and files a request.
        sign_in(page, seeded["citizen"])
        page.get_by_role("link", name="Solicitudes", exact=True).first.click()
        page.wait_for_load_state()
        page.get_by_role("link", name="Pedir datos").first.click()
        page.wait_for_load_state()
        page.select_option("#institution", "inegi")
        page.check("#kind-0")
        page.fill("#title", TITLE)
        page.fill("#description", "Con el tipo de vehículo y la hora, para un reportaje.")
        page.select_option("#intended_use", "journalism")
        page.get_by_role("button", name="Enviar solicitud").click()
        page.wait_for_load_state()
        # Similar catalogue titles come first; it is none of them, so she sends it anyway.
        assert "¿Es alguna de estas?" in page.content()
        assert page.get_by_role("link", name="Accidentes de tránsito terrestre por municipio").is_visible()
        page.get_by_role("button", name="No es ninguna: enviar mi solicitud").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == TITLE, page.content()
        assert "Recibimos tu solicitud" in page.locator(".flash-success").inner_text()
        assert "1 persona apoya" in page.locator(".event-aside").inner_text()
        item_url = page.url

        # The liaison answers it from the institution's list.
        liaison_context, liaison = open_page(browser, base_url)
        stack.callback(liaison_context.close)
        sign_in(liaison, seeded["liaison"])
        liaison.goto("/demand?institution=inegi")
        liaison.get_by_role("link", name=TITLE).click()
        liaison.wait_for_load_state()
        liaison.select_option("#status", "scheduled")
        liaison.fill("#committed_on", committed)
        liaison.fill("#explanation", "Lo publicaremos con la actualización anual del catálogo.")
        liaison.get_by_role("button", name="Publicar la respuesta").click()
        liaison.wait_for_load_state()
        assert "Publicamos la respuesta" in liaison.locator(".flash-success").inner_text(), liaison.content()

        # The citizen sees the answer on the page...
        page.goto(item_url)
        answer = page.locator("#official-answer").inner_text()
        assert f"se comprometió a publicar los datos el {committed_words}" in answer, answer
        assert "Lo publicaremos con la actualización anual del catálogo." in answer
        assert "Programada" in page.locator(".page-header").inner_text()
        assert "Recibida → Programada" in page.locator(".history").inner_text()
        assert not errors, errors

    # ... and in an email (the worker's send step, run here).
    with app.app_context():
        deliver_outbox()
    (mail,) = mails_to(mail_dir, seeded["citizen"])
    assert mail["Subject"] == f"«{TITLE}»: Programada"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert committed_words in body and "Lo publicaremos con la actualización anual del catálogo." in body
    assert item_url.split("/demand/")[1] in body


def test_demand_pages_have_no_serious_accessibility_violations(app, browser, base_url):
    seeded = _seed(app)
    from demand import items
    from tests.demand.helpers import citizen, request

    with app.app_context():
        from core.models import Institution

        inegi = db.session.get(Institution, seeded["institution"])
        item = request(citizen(), inegi, title=TITLE)
        items.support(citizen(sector="academia"), item)
        dataset_id = db.session.execute(db.select(Dataset.id)).scalar_one()
        reports.compute_report(inegi.id)
        item_id = item.id
    failures: list[str] = []
    with ExitStack() as stack:

        def check(page, path: str) -> None:
            response = page.goto(path)
            assert response is not None and response.ok, (path, response and response.status)
            blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING_IMPACTS]
            if blocking:
                failures.append(format_violations(path, blocking))

        anonymous_context, anonymous = open_page(browser, base_url, bypass_csp=True)
        stack.callback(anonymous_context.close)
        for path in (
            "/demand",
            f"/demand/{item_id}",
            f"/datasets/{dataset_id}",
            "/accountability",
            "/institutions/inegi/accountability",
        ):
            check(anonymous, path)
        liaison_context, liaison = open_page(browser, base_url, bypass_csp=True)
        stack.callback(liaison_context.close)
        sign_in(liaison, seeded["liaison"])
        for path in (
            f"/demand/{item_id}",
            "/demand/new?institution=inegi",
            "/institutions/inegi/demand/report",
            "/institutions/inegi/demand/moderation",
        ):
            check(liaison, path)
    assert not failures, "\n\n".join(failures)
