"""Results: counts and percents, Borda, rating mean, number quartiles, moderated texts,
breakdowns with small-cell suppression (the same on SQLite and PostgreSQL)."""

from __future__ import annotations

from core.extensions import db
from surveys import services
from surveys.services.results import compute_results
from surveys.suppression import SUPPRESSED
from tests.factories import make_institution, make_user
from tests.surveys.factories import EVERY_KIND, choice_id, make_survey


def people(n, sector, state):
    result = []
    for _ in range(n):
        user = make_user()
        user.sector, user.state = sector, state
        result.append(user)
    db.session.commit()
    return result


def test_figures_per_kind_and_suppressed_breakdowns(ctx):
    survey = make_survey(make_institution("conagua"), questions=EVERY_KIND[:7])
    q = survey.questions
    daily, weekly = choice_id(survey, 0, "Diario"), choice_id(survey, 0, "Cada semana")
    salud, educacion, seguridad = (choice_id(survey, 2, x) for x in ("Salud", "Educación", "Seguridad"))
    academics = people(8, "academia", "Jalisco")
    journalists = people(3, "journalism", "Jalisco")
    for i, person in enumerate(academics + journalists):
        answers = {
            str(q[0].id): daily if i < 6 else weekly,
            str(q[2].id): [salud, educacion, seguridad] if i % 2 else [educacion, salud],
            str(q[3].id): 5 if i < 4 else 3,
            str(q[6].id): i,
        }
        if i == 0:
            answers[str(q[4].id)] = "Investigadora"
        if i == 1:
            answers[str(q[4].id)] = "Texto que no pasa moderación"
        services.submit_response(person, survey, answers)
    results = compute_results(services.get_survey(survey.id))
    assert results["respondents"] == 11
    single = results["questions"][0]
    assert single["answered"] == 11
    counts = {o["label"]: (o["count"], o["percent"]) for o in single["options"]}
    assert counts == {"Diario": (6, 54.5), "Cada semana": (5, 45.5), "Rara vez": (0, 0.0)}
    ranking = results["questions"][2]
    # Borda with 3 options: first 2 points, second 1, third 0.
    borda = {o["label"]: o["borda"] for o in ranking["options"]}
    assert borda == {"Educación": 6 * 2 + 5 * 1, "Salud": 5 * 2 + 6 * 1, "Seguridad": 0}
    assert next(o["label"] for o in ranking["options"]) == "Educación"
    rating = results["questions"][3]
    assert rating["mean"] == round((4 * 5 + 7 * 3) / 11, 2)
    assert {o["id"]: o["count"] for o in rating["options"]} == {1: 0, 2: 0, 3: 7, 4: 0, 5: 4}
    number = results["questions"][6]
    assert (number["median"], number["q1"], number["q3"], number["answered"]) == (5.0, 2.5, 7.5, 11)
    # Free text appears only after moderation.
    assert results["questions"][4]["texts"] == []
    from surveys.services.moderation import moderate_text, pending_texts

    pending = pending_texts(survey)
    approve = next(answer for answer, _q in pending if answer.text == "Investigadora")
    moderate_text(None, survey, approve.id, True)
    assert compute_results(services.get_survey(survey.id))["questions"][4]["texts"] == ["Investigadora"]
    # Breakdowns: 3 journalists are under 5, and the academics' count is then hidden too
    # (the total, 11, would give it away).
    sectors = results["breakdowns"]["sector"]
    assert sectors["journalism"]["respondents"] == "<5"
    assert sectors["academia"]["respondents"] == SUPPRESSED
    by_state = results["breakdowns"]["state"]
    assert by_state["Jalisco"]["respondents"] == 11
    academic_single = {o["label"]: o["count"] for o in sectors["academia"]["questions"][0]["options"]}
    assert academic_single["Diario"] == 6  # 6 academics answered "Diario": big enough to show
    journalist_single = {o["label"]: o["count"] for o in sectors["journalism"]["questions"][0]["options"]}
    assert journalist_single["Cada semana"] == "<5"


def test_profile_key_grouping_matches_the_strings(ctx, monkeypatch):
    """On PostgreSQL the tally groups by `profile_key` (one integer per sector and state);
    the document is the same as grouping by the strings, including when an answer's profile
    is one no answer set has (then the strings are used)."""
    from sqlalchemy import update

    from surveys.models import SurveyAnswer
    from surveys.services import results as module

    survey = make_survey(make_institution("conagua"), questions=EVERY_KIND[:7])
    q = survey.questions
    daily, weekly = choice_id(survey, 0, "Diario"), choice_id(survey, 0, "Cada semana")
    groups = [("academia", "Jalisco"), ("journalism", "Jalisco"), ("academia", "Oaxaca"), (None, None)]
    for g, (sector, state) in enumerate(groups):
        for i, person in enumerate(people(6 + g, sector, state)):
            services.submit_response(
                person,
                survey,
                {
                    str(q[0].id): daily if i % 3 else weekly,
                    str(q[3].id): 1 + (i + g) % 5,
                    str(q[6].id): i * g,
                },
            )
    keyed = db.engine.dialect.name == "postgresql"
    assert (module._profiles(services.get_survey(survey.id))[2] is not None) == keyed

    def by_strings() -> dict:
        with monkeypatch.context() as patch:
            original = module._profiles
            patch.setattr(module, "_profiles", lambda s: (*original(s)[:2], None))
            return compute_results(services.get_survey(survey.id))

    results = compute_results(services.get_survey(survey.id))
    assert results == by_strings()
    sectors = results["breakdowns"]["sector"]
    assert sectors["academia"]["respondents"] == 6 + 8
    assert sectors["unstated"]["respondents"] == 9
    # An answer row whose profile differs from every answer set's.
    db.session.execute(
        update(SurveyAnswer)
        .where(SurveyAnswer.survey_id == survey.id, SurveyAnswer.question_id == q[0].id)
        .values(state="Colima")
    )
    db.session.commit()
    moved = compute_results(services.get_survey(survey.id))
    assert moved == by_strings()
    # Overall figures stand; Jalisco's 13 answer sets no longer count in its first question.
    assert moved["questions"] == results["questions"]
    assert moved["breakdowns"] != results["breakdowns"]
    jalisco = moved["breakdowns"]["state"]["Jalisco"]
    assert jalisco["respondents"] == 13
    assert all(o["count"] in (0, SUPPRESSED) for o in jalisco["questions"][0]["options"])
