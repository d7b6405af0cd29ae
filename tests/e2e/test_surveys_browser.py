"""Surveys in headless Chromium (Playwright): a citizen answers a survey with every kind of
question through the page, edits the answers, compares ideas in the wiki survey, and reads
the published results; axe-core finds no serious or critical violation on the survey pages
(list, answering, my answers, results, wiki voting, builder, preview, moderation, invitations).

Data is seeded with the services; the live server reads it (see tests/e2e/conftest.py).
"""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest

from core.extensions import db
from surveys import services
from surveys.models import SurveyResponse
from tests.e2e.conftest import (
    BLOCKING_IMPACTS,
    axe_violations,
    format_violations,
    open_page,
    sign_in,
)
from tests.factories import make_institution, make_liaison, make_user
from tests.surveys.factories import EVERY_KIND, make_dataset, make_survey

pytestmark = pytest.mark.e2e


def _seed(app) -> dict:
    with app.app_context():
        conagua = make_institution("conagua", name="Comisión Nacional del Agua")
        make_dataset(conagua, "Calidad del agua superficial")
        liaison = make_liaison(conagua, "enlace@conagua.example.org")
        citizen = make_user("lucia.ramirez@example.org", name="Lucía Ramírez")
        citizen.sector, citizen.state = "academia", "Jalisco"
        db.session.commit()
        survey = make_survey(conagua, questions=EVERY_KIND, title="¿Qué datos del agua necesitas?")
        return {
            "liaison": liaison.email,
            "citizen": citizen.email,
            "survey": survey.id,
            "questions": [q.id for q in survey.questions],
        }


def test_citizen_answers_every_kind_edits_and_reads_the_results(app, browser, base_url):
    seeded = _seed(app)
    q = seeded["questions"]
    with ExitStack() as stack:
        context, page = open_page(browser, base_url)
        stack.callback(context.close)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(page, seeded["citizen"])

        page.get_by_role("link", name="Encuestas", exact=True).first.click()
        page.wait_for_load_state()
        page.get_by_role("link", name="¿Qué datos del agua necesitas?").click()
        page.wait_for_load_state()
        assert "Privacidad: Seudónima" in page.locator("main").inner_text()

        # Every kind, by its accessible label, as a keyboard or screen-reader user would find it.
        page.get_by_label("Cada semana").check()
        page.get_by_label("CSV").check()
        page.get_by_label("API").check()
        page.get_by_label("Educación").select_option("1")
        page.get_by_label("Salud").select_option("2")
        page.get_by_label("Seguridad").select_option("3")
        page.get_by_label("4", exact=True).check()
        page.fill(f"#q{q[4]}", "Investigadora en hidrología")
        page.fill(f"#q{q[5]}", "Series diarias por estación y municipio.")
        page.fill(f"#q{q[6]}", "12")
        page.get_by_label("Calidad del agua superficial").check()
        page.fill(f"#q{q[7]}-new-title", "Padrón de pozos")
        page.select_option(f"#q{q[7]}-use", "research")
        page.get_by_role("button", name="Enviar respuestas").click()
        page.wait_for_load_state()
        assert "Gracias" in page.locator(".flash-success").inner_text(), page.content()
        assert page.locator("#my-answers").is_visible()

        # Edit: the form comes back filled in; change the rating and save.
        assert page.get_by_label("4", exact=True).is_checked()
        page.locator(f"#q{q[3]}-2").check()
        page.get_by_role("button", name="Guardar cambios").click()
        page.wait_for_load_state()
        assert "Actualizamos" in page.locator(".flash-success").inner_text()

        # The wiki survey: compare one pair.
        page.get_by_role("link", name="Ir a comparar ideas").click()
        page.wait_for_load_state()
        page.get_by_role("button", name=re.compile("No sé")).click()
        page.wait_for_load_state()
        assert "Voto registrado" in page.locator(".flash-success").inner_text()

        with app.app_context():
            stored = db.session.execute(db.select(SurveyResponse)).scalar_one()
            assert stored.answers[str(q[3])] == 2 and stored.answers[str(q[6])] == 12
            survey = services.get_survey(seeded["survey"])
            services.close_survey(None, survey)
            services.publish_results(None, services.get_survey(seeded["survey"]))
            db.session.remove()

        page.goto("/surveys/mine")
        # The first results page of a process loads the Bradley–Terry fitter (SciPy): slow on a
        # loaded machine, so this navigation gets more time than the others.
        href = page.get_by_role("link", name="Resultados").get_attribute("href")
        page.goto(href, timeout=90_000)
        main = page.locator("main").inner_text()
        assert "1 persona respondió" in main, main
        assert page.locator("figure.chart svg[role=img]").count() >= 3
        assert "Cada semana" in page.locator("table").first.inner_text()
        assert not errors, errors


def test_survey_pages_have_no_serious_accessibility_violations(app, browser, base_url):
    seeded = _seed(app)
    failures: list[str] = []
    minor: list[str] = []
    survey, wiki_question = seeded["survey"], seeded["questions"][8]
    with ExitStack() as stack:

        def check(page, path: str, label: str | None = None) -> None:
            if path:
                response = page.goto(path)
                assert response is not None and response.ok, (path, response and response.status)
            violations = axe_violations(page)
            blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
            if blocking:
                failures.append(format_violations(label or path, blocking))
            others = [v for v in violations if v["impact"] not in BLOCKING_IMPACTS]
            if others:
                minor.append(format_violations(label or path, others))

        anonymous_context, anonymous = open_page(browser, base_url, bypass_csp=True)
        stack.callback(anonymous_context.close)
        for path in ("/surveys", f"/surveys/{survey}"):
            check(anonymous, path)

        citizen_context, citizen = open_page(browser, base_url, bypass_csp=True)
        stack.callback(citizen_context.close)
        sign_in(citizen, seeded["citizen"])
        check(citizen, f"/surveys/{survey}", "answering page")
        citizen.get_by_role("button", name="Enviar respuestas").click()
        citizen.wait_for_selector(".field-error")
        check(citizen, "", "answering page with an error")
        check(citizen, f"/surveys/{survey}/questions/{wiki_question}/compare")
        check(citizen, "/surveys/mine")

        liaison_context, liaison = open_page(browser, base_url, bypass_csp=True)
        stack.callback(liaison_context.close)
        sign_in(liaison, seeded["liaison"])
        for path in (
            "/surveys/manage",
            "/surveys/new?institution=conagua",
            f"/surveys/{survey}/edit",
            f"/surveys/{survey}/preview",
            f"/surveys/{survey}/questions/{seeded['questions'][0]}/edit",
            f"/surveys/{survey}/moderation",
            f"/surveys/{survey}/invitations",
        ):
            check(liaison, path)
        liaison.goto(f"/surveys/{survey}/results", timeout=90_000)
        check(liaison, "", "results (managers see them before publication)")

    if minor:
        print("Minor/moderate axe findings (not failing):\n" + "\n".join(minor))
    assert not failures, "Serious or critical WCAG violations:\n" + "\n".join(failures)
