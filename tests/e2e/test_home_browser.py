"""The home page in headless Chromium, at 1280 and 360 px (issue 11, item 1): the next six
activities with their kind, institution, date and seats left (or "Lleno"), the latest stories
and the programme's numbers; a signed-in citizen sees their next registrations first; the
same page in English after pressing "English". axe-core runs on every page visited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from core.extensions import db
from core.timeutil import utcnow
from events import services
from events.models import Registration
from tests.e2e.conftest import BOTH_WIDTHS, no_sideways_scroll
from tests.factories import make_event, make_institution, make_liaison, make_user

pytestmark = [pytest.mark.e2e, BOTH_WIDTHS]

KINDS = ["datathon", "dialogue_table", "data_for_development"]
KIND_NAMES = {
    "es": {
        "datathon": "Datatón",
        "dialogue_table": "Mesa de diálogo",
        "data_for_development": "Datos para el desarrollo",
    },
    "en": {
        "datathon": "Datathon",
        "dialogue_table": "Dialogue table",
        "data_for_development": "Data for development",
    },
}


def _seed(app) -> dict:
    """Eight upcoming activities of two institutions (the first full, the second with 3 of 10
    seats taken), a citizen registered in the eighth, and a concluded collaboration with 2
    people checked in, a published dataset, 1 of 2 commitments met and a published story."""
    with app.app_context():
        inegi = make_institution(
            "inegi", name="Instituto Nacional de Estadística y Geografía", acronym="INEGI"
        )
        agua = make_institution("conagua", name="Comisión Nacional del Agua", acronym="CONAGUA")
        liaisons = {inegi.id: make_liaison(inegi, "enlace@inegi.example.org")}
        liaisons[agua.id] = make_liaison(agua, "enlace@conagua.example.org")
        citizen = make_user("lucia.ramirez@example.org", name="Lucía Ramírez")
        now = utcnow().replace(microsecond=0)
        upcoming = []
        for n in range(8):
            institution = (inegi, agua)[n % 2]
            kind = KINDS[n % 3]
            extra = {"academic_partner": "Universidad Veracruzana"} if kind == "data_for_development" else {}
            event = make_event(
                institution,
                actor=liaisons[institution.id],
                kind=kind,
                title=f"Actividad número {n + 1} de datos abiertos",
                starts_at=now + timedelta(days=2 + n, hours=1),
                capacity=(1, 10)[n] if n < 2 else 20,
                **extra,
            )
            upcoming.append(event)
        services.register(make_user(), upcoming[0])  # full
        for _ in range(3):
            services.register(make_user(), upcoming[1])
        services.register(citizen, upcoming[7])

        start = now - timedelta(days=20)
        with freeze_time(start - timedelta(days=10)):
            done = make_event(
                inegi,
                actor=liaisons[inegi.id],
                kind="data_for_development",
                title="Colaboración sobre pobreza municipal",
                academic_partner="Universidad Autónoma de Yucatán",
                starts_at=start,
                ends_at=start + timedelta(hours=4),
            )
            for _ in range(3):
                services.register(make_user(), done)
        with freeze_time(start + timedelta(hours=1)):
            registrations = db.session.execute(
                select(Registration).where(Registration.event_id == done.id).order_by(Registration.id)
            ).scalars()
            for registration in list(registrations)[:2]:
                registration.checked_in_at = utcnow()
            db.session.commit()
        with freeze_time(start + timedelta(days=1)):
            liaison = liaisons[inegi.id]
            services.record_outcome(
                liaison,
                done,
                attendance_count=2,
                published_datasets=[
                    {"title": "Pobreza municipal 2020", "url": "https://datos.gob.mx/pobreza"}
                ],
            )
            services.add_commitment(
                liaison,
                done,
                {"text": "Publicar la serie", "responsible_institution": "inegi", "status": "done"},
            )
            services.add_commitment(
                liaison, done, {"text": "Revisar la metodología", "responsible_name": "UADY"}
            )
            story = services.save_story(
                liaison,
                done,
                title="Datos de pobreza para todos",
                body="La serie municipal ya es pública.",
                publish=True,
            )
        return {
            "citizen": citizen.email,
            "upcoming": [
                {"id": e.id, "title": e.title, "kind": e.kind, "starts_at": e.starts_at.isoformat()}
                for e in upcoming
            ],
            "acronyms": ["INEGI", "CONAGUA"],
            "story": story.title,
        }


def _cards(page):
    return page.locator("section[aria-labelledby=upcoming-title] li.event-card")


def _check_upcoming(page, seeded: dict, language: str) -> None:
    cards = _cards(page)
    assert cards.count() == 6, page.locator("main").inner_text()
    for n, event in enumerate(seeded["upcoming"][:6]):
        card = cards.nth(n)
        assert card.locator("h3").inner_text() == event["title"]  # the next six, soonest first
        meta = card.locator(".event-meta").inner_text()
        assert KIND_NAMES[language][event["kind"]] in meta, meta
        assert seeded["acronyms"][n % 2] in card.locator(".muted").first.inner_text()
        assert card.locator("time").get_attribute("datetime") == event["starts_at"]
        assert card.locator("time").inner_text().strip()
    full, left = (
        ("Lleno", "Quedan 7 lugares de 10") if language == "es" else ("Full", "7 spots left out of 10")
    )
    assert cards.nth(0).locator(".badge-danger").inner_text() == full
    assert left in cards.nth(1).inner_text(), cards.nth(1).inner_text()
    for n in range(1, 6):
        assert cards.nth(n).locator(".badge-danger").count() == 0


def test_home_shows_the_next_activities_stories_and_numbers_in_both_languages(app, new_page, axe_check):
    seeded = _seed(app)
    page = new_page()
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "es-MX"
    _check_upcoming(page, seeded, "es")
    stories = page.locator("section[aria-labelledby=stories-title]")
    assert stories.locator("h2").inner_text() == "Historias recientes"
    assert stories.get_by_role("link", name=seeded["story"]).is_visible()
    figures = page.locator("section[aria-labelledby=figures-title] .figure")
    texts = [" ".join(t.split()) for t in figures.all_inner_texts()]
    for expected in (
        "1 actividad realizada",
        "2 personas participaron",
        "1 conjunto de datos publicado como resultado",
        "1/2 acuerdos cumplidos",
    ):
        assert expected in texts, texts
    assert page.locator("section[aria-labelledby=mine-title]").count() == 0  # nobody signed in
    no_sideways_scroll(page)
    axe_check(page, f"/ (es-MX) at {page.viewport_size['width']}px")

    # The language switch, as a visitor uses it: the same page, in English.
    page.get_by_role("button", name="English").click()
    page.wait_for_selector("html[lang=en]")
    assert page.locator("#upcoming-title").inner_text() == "Upcoming activities"
    _check_upcoming(page, seeded, "en")
    assert page.locator("#stories-title").inner_text() == "Recent stories"
    texts = [" ".join(t.split()) for t in page.locator(".figure").all_inner_texts()]
    for expected in (
        "1 activity held",
        "2 people took part",
        "1 dataset published as a result",
        "1/2 commitments met",
    ):
        assert expected in texts, texts
    no_sideways_scroll(page)
    axe_check(page, f"/ (en) at {page.viewport_size['width']}px")


def test_a_signed_in_citizen_sees_their_next_registrations_first(
    app, new_page, log_in, axe_check, page_errors
):
    seeded = _seed(app)
    page = new_page()
    log_in(page, seeded["citizen"])
    page.goto("/")
    mine = page.locator("section[aria-labelledby=mine-title]")
    assert mine.locator("h2").inner_text() == "Tus próximas actividades"
    eighth = seeded["upcoming"][7]
    assert mine.locator("li h3").all_inner_texts() == [eighth["title"]]  # not among the next six
    assert mine.locator(".badge-success").inner_text() == "Confirmado"
    upcoming = page.locator("section[aria-labelledby=upcoming-title]")
    assert mine.bounding_box()["y"] < upcoming.bounding_box()["y"], "their registrations are not first"
    assert page.locator("#mine-title + ul li").count() == 1
    no_sideways_scroll(page)
    axe_check(page, f"/ (signed in) at {page.viewport_size['width']}px")

    # Their activity opens from there; "Ver todas mis actividades" leads to the full list.
    mine.get_by_role("link", name=eighth["title"]).click()
    page.wait_for_url(f"**/events/{eighth['id']}")
    assert page.locator(".event-aside .badge-success").inner_text() == "Tu lugar está confirmado"
    page.go_back()
    page.get_by_role("link", name="Ver todas mis actividades").click()
    page.wait_for_url("**/events/mine")
    assert eighth["title"] in page.locator("main").inner_text()
    axe_check(page, f"/events/mine at {page.viewport_size['width']}px")

    # In English too (the choice is kept in the profile).
    page.goto("/")
    page.get_by_role("button", name="English").click()
    page.wait_for_selector("html[lang=en]")
    assert page.locator("#mine-title").inner_text() == "Your next activities"
    assert page.locator("section[aria-labelledby=mine-title] .badge-success").inner_text() == "Confirmed"
    axe_check(page, f"/ (signed in, en) at {page.viewport_size['width']}px")
    assert not page_errors, page_errors
