"""Challenges in headless Chromium (Playwright): a person signs up, confirms the address,
forms a team, sends a solution with a file and accepts the terms, sends its final version
before the close; then a juror scores it. axe-core finds no serious or critical violation
on the challenge, team, submission and jury pages."""

from __future__ import annotations

import re
from contextlib import ExitStack
from datetime import timedelta

import pytest
from sqlalchemy import update

from challenges import services
from challenges.models import Challenge
from core.extensions import db
from core.timeutil import utcnow
from tests.challenges.helpers import make_challenge
from tests.e2e.conftest import (
    Axe,
    open_page,
    sign_in,
)
from tests.factories import (
    deliver_outbox,
    first_link,
    mails_to,
    make_institution,
    make_liaison,
    make_user,
)

pytestmark = pytest.mark.e2e

STRONG_PASSWORD = "Nopal-azul-en-bicicleta-77"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_team_from_sign_up_to_final_submission_and_a_juror_scoring_it(app, browser, base_url, mail_dir):
    with app.app_context():
        institution = make_institution("semovi", name="Secretaría de Movilidad")
        liaison = make_liaison(institution, "enlace@semovi.example.org")
        challenge = make_challenge(institution, actor=liaison, title="Reto de movilidad segura")
        juror = make_user("jurado@universidad.example.org", name="Ana Jurado")
        challenge_id, liaison_id, juror_email = challenge.id, liaison.id, juror.email
        db.session.remove()
    axe = Axe()
    with ExitStack() as stack:
        context, page = open_page(browser, base_url, bypass_csp=True)
        stack.callback(context.close)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        # Sign up and confirm the address.
        email = "valeria.mendez@example.org"
        page.goto("/signup")
        page.fill("#name", "Valeria Méndez")
        page.fill("#email", email)
        page.fill("#password", STRONG_PASSWORD)
        page.select_option("#sector", page.locator("#sector option").nth(1).get_attribute("value"))
        page.select_option("#state", page.locator("#state option").nth(1).get_attribute("value"))
        page.check("#accept_privacy")
        page.locator("form.form button[type=submit]").click()
        page.wait_for_load_state()
        with app.app_context():
            deliver_outbox()
            db.session.remove()
        page.goto(first_link(mails_to(mail_dir, email)[0], "/verify/"))
        page.wait_for_load_state()
        sign_in(page, email, STRONG_PASSWORD)

        # Find the challenge and form a team.
        page.get_by_role("link", name="Retos", exact=True).first.click()
        page.wait_for_load_state()
        page.get_by_role("link", name="Reto de movilidad segura").click()
        page.wait_for_load_state()
        axe.check(page, "/challenges/<id>")
        page.fill("#team-name", "Ruta Clara")
        page.get_by_role("button", name="Crear equipo").click()
        page.wait_for_load_state()
        assert "Ruta Clara" in page.locator("h1").inner_text(), page.content()
        axe.check(page, "/challenges/teams/<id>")

        # Send a solution with a file: without the terms accepted it is refused.
        page.get_by_role("link", name="Enviar una solución").click()
        page.wait_for_load_state()
        page.fill("#f-title", "Rutas seguras")
        page.fill("#f-summary", "Un mapa de cruces peligrosos con datos de hechos de tránsito.")
        page.fill("#f-repository_url", "https://github.com/ruta-clara/rutas")
        page.select_option("#f-licence", "Apache-2.0")
        page.set_input_files(
            "#f-attachments", files=[{"name": "informe.pdf", "mimeType": "application/pdf", "buffer": PDF}]
        )
        page.get_by_role("button", name="Enviar", exact=True).click()
        page.wait_for_load_state()
        assert "Acepta las bases" in page.content()
        axe.check(page, "/challenges/teams/<id>/submit (refused)")
        page.set_input_files(
            "#f-attachments", files=[{"name": "informe.pdf", "mimeType": "application/pdf", "buffer": PDF}]
        )
        page.check("#f-accept_terms")
        page.get_by_role("button", name="Enviar", exact=True).click()
        page.wait_for_load_state()
        assert "versión 1" in page.locator(".flash-success").inner_text(), page.content()
        submission_id = int(re.search(r"/challenges/submissions/(\d+)$", page.url).group(1))

        # A new version before the close: the final one.
        page.get_by_role("link", name="Enviar una nueva versión").click()
        page.wait_for_load_state()
        page.fill("#f-title", "Rutas seguras 2.0")
        page.check("#f-accept_terms")
        page.get_by_role("button", name="Enviar", exact=True).click()
        page.wait_for_load_state()
        assert "versión 2" in page.locator(".flash-success").inner_text()
        assert page.get_by_role("link", name="informe.pdf").count() == 2  # carried into version 2
        axe.check(page, "/challenges/submissions/<id>")

        # The close passes and the beat closes the challenge: version 2 is final.
        with app.app_context():
            db.session.execute(
                update(Challenge)
                .where(Challenge.id == challenge_id)
                .values(closes_at=utcnow() - timedelta(seconds=1))
            )
            db.session.commit()
            services.close_due_challenges()
            liaison = db.session.get(type(juror), liaison_id)
            services.start_judging(liaison, services.get_challenge(challenge_id))
            services.add_juror(liaison, services.get_challenge(challenge_id), juror_email)
            services.assign(liaison, services.get_challenge(challenge_id), 1, 11)
            services.set_eligibility(liaison, services.get_submission(submission_id), True, "")
            db.session.remove()
        page.reload()
        assert "versión final" in page.content()
        assert page.get_by_role("link", name="Enviar una nueva versión").count() == 0

        # The juror scores it.
        juror_context, juror_page = open_page(browser, base_url, bypass_csp=True)
        stack.callback(juror_context.close)
        sign_in(juror_page, juror_email)
        juror_page.goto(f"/challenges/{challenge_id}/jury")
        assert "Rutas seguras 2.0" in juror_page.content()
        axe.check(juror_page, "/challenges/<id>/jury")
        inputs = juror_page.locator(f"#s{submission_id} input[type=number]")
        for index in range(inputs.count()):
            inputs.nth(index).fill("8")
        juror_page.fill(f"#comment-{submission_id}", "Muy útil para la ciudad.")
        juror_page.get_by_role("button", name="Guardar calificación").click()
        juror_page.wait_for_load_state()
        assert "Calificación guardada" in juror_page.locator(".flash-success").inner_text()
        assert juror_page.locator(f"#s{submission_id} input[type=number]").first.input_value() == "8"
        assert not errors, errors
    with app.app_context():
        scores = services.scores_of(db.session.get(type(juror), juror.id), challenge_id)
        assert scores[submission_id].comment == "Muy útil para la ciudad."
        db.session.remove()
    axe.assert_clean()
