"""Answering: validation per kind, show-if, one answer set per person, edits, retries,
withdrawal, the close, invitations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.exceptions import DomainError
from core.extensions import db
from core.timeutil import utcnow
from surveys import services
from surveys.models import SurveyAnswer, SurveyResponse
from tests.factories import make_institution, make_user
from tests.surveys.factories import EVERY_KIND, choice_id, make_dataset, make_survey


def full_answers(survey, dataset_id):
    q = survey.questions
    return {
        str(q[0].id): choice_id(survey, 0, "Cada semana"),
        str(q[1].id): [choice_id(survey, 1, "CSV"), choice_id(survey, 1, "API")],
        str(q[2].id): [
            choice_id(survey, 2, "Salud"),
            choice_id(survey, 2, "Seguridad"),
            choice_id(survey, 2, "Educación"),
        ],
        str(q[3].id): 4,
        str(q[4].id): "Periodista",
        str(q[5].id): "Más datos por municipio.",
        str(q[6].id): 12.5,
        str(q[7].id): {
            "datasets": [dataset_id],
            "new": [{"title": "Padrón de pozos", "description": "Ubicación"}],
            "intended_use": "journalism",
        },
    }


def test_every_kind_is_stored_and_normalised(ctx):
    inst = make_institution("conagua")
    dataset = make_dataset(inst)
    survey = make_survey(inst, questions=EVERY_KIND)
    user = make_user()
    result = services.submit_response(user, survey, full_answers(survey, dataset.id))
    assert result.created and result.changed
    rows = (
        db.session.execute(select(SurveyAnswer).where(SurveyAnswer.response_id == result.response.id))
        .scalars()
        .all()
    )
    assert len(rows) == 1 + 2 + 3 + 1 + 1 + 1 + 1 + 2
    ranking = sorted((r.position, r.choice_id) for r in rows if r.question_id == survey.questions[2].id)
    assert [c for _, c in ranking] == [
        choice_id(survey, 2, "Salud"),
        choice_id(survey, 2, "Seguridad"),
        choice_id(survey, 2, "Educación"),
    ]
    assert result.response.intended_use == "journalism"
    assert services.response_of(user, survey).id == result.response.id


@pytest.mark.parametrize(
    ("index", "value"),
    [
        (0, 999999),
        (0, "hola"),
        (1, "CSV"),
        (3, 9),
        (3, 2.5),
        (6, 81),
        (6, "nan"),
        (4, "x" * 301),
        (7, {"datasets": [1]}),
    ],
)
def test_wrong_values_name_the_question(ctx, index, value):
    inst = make_institution("conagua")
    survey = make_survey(inst, questions=EVERY_KIND)
    q0 = survey.questions[0]
    answers = {str(q0.id): choice_id(survey, 0, "Diario")}
    target = survey.questions[index]
    answers[str(target.id)] = value
    with pytest.raises(DomainError) as caught:
        services.submit_response(make_user(), survey, answers)
    assert caught.value.status == 422
    assert caught.value.field == str(target.id)


def test_required_and_multiple_choice_limits(ctx):
    survey = make_survey(make_institution("conagua"), questions=EVERY_KIND)
    with pytest.raises(DomainError) as caught:
        services.submit_response(make_user(), survey, {})
    assert caught.value.field == str(survey.questions[0].id)
    answers = {
        str(survey.questions[0].id): choice_id(survey, 0, "Diario"),
        str(survey.questions[1].id): [c.id for c in survey.questions[1].choices],
    }
    with pytest.raises(DomainError) as caught:
        services.submit_response(make_user(), survey, answers)
    assert caught.value.field == str(survey.questions[1].id)


def test_show_if_hides_and_drops_answers(ctx):
    questions = [
        {"kind": "single_choice", "prompt": "¿Usas datos?", "required": True, "choices": ["Sí", "No"]},
        {
            "kind": "short_text",
            "prompt": "¿Cuáles?",
            "required": True,
            "show_if": {"question": 1, "choices": ["Sí"]},
        },
    ]
    survey = make_survey(make_institution("conagua"), questions=questions)
    q0, q1 = survey.questions
    assert q1.show_if == {"question": q0.id, "choices": [choice_id(survey, 0, "Sí")]}
    user = make_user()
    # "No": the follow-up is hidden, so not required, and a stray value is dropped.
    result = services.submit_response(
        user, survey, {str(q0.id): choice_id(survey, 0, "No"), str(q1.id): "INEGI"}
    )
    assert result.response.answers == {str(q0.id): choice_id(survey, 0, "No")}
    with pytest.raises(DomainError) as caught:
        services.submit_response(user, survey, {str(q0.id): choice_id(survey, 0, "Sí")})
    assert caught.value.field == str(q1.id)


def test_edit_retry_and_withdraw(ctx):
    survey = make_survey(make_institution("conagua"))
    q0 = survey.questions[0]
    user = make_user()
    yes, no = choice_id(survey, 0, "Sí"), choice_id(survey, 0, "No")
    first = services.submit_response(user, survey, {str(q0.id): yes})
    retry = services.submit_response(user, survey, {str(q0.id): yes})
    assert (retry.created, retry.changed) == (False, False)
    changed = services.submit_response(user, survey, {str(q0.id): no})
    assert (changed.created, changed.changed) == (False, True)
    assert changed.response.id == first.response.id
    assert db.session.execute(select(func.count()).select_from(SurveyResponse)).scalar_one() == 1
    assert db.session.execute(select(SurveyAnswer.choice_id)).scalars().all() == [no]
    services.withdraw_response(user, survey)
    assert services.response_of(user, survey) is None
    assert db.session.execute(select(func.count()).select_from(SurveyAnswer)).scalar_one() == 0


def test_closed_and_unverified_are_refused(ctx):
    survey = make_survey(make_institution("conagua"))
    q0 = survey.questions[0]
    with pytest.raises(DomainError) as caught:
        services.submit_response(make_user(verified=False), survey, {str(q0.id): choice_id(survey, 0, "Sí")})
    assert caught.value.code == "email_not_verified"
    user = make_user()
    services.submit_response(user, survey, {str(q0.id): choice_id(survey, 0, "Sí")})
    services.close_survey(None, survey)
    with pytest.raises(DomainError) as caught:
        services.submit_response(user, survey, {str(q0.id): choice_id(survey, 0, "No")})
    assert caught.value.code == "survey_closed"
    with pytest.raises(DomainError) as caught:
        services.withdraw_response(user, survey)
    assert caught.value.code == "survey_closed"


def test_invitation_only_single_use_links(ctx):
    survey = make_survey(make_institution("conagua"), invitation_only=True)
    q0 = survey.questions[0]
    answers = {str(q0.id): choice_id(survey, 0, "Sí")}
    alice, bob = make_user(), make_user()
    with pytest.raises(DomainError) as caught:
        services.submit_response(alice, survey, answers)
    assert caught.value.code == "invitation_required"
    (token,) = services.create_invitations(None, survey, 1, "Mesa de diálogo de agua")
    services.redeem_invitation(alice, token)
    services.redeem_invitation(alice, token)  # the same person again: fine
    with pytest.raises(DomainError) as caught:
        services.redeem_invitation(bob, token)
    assert caught.value.code == "invitation_used"
    with pytest.raises(DomainError) as caught:
        services.redeem_invitation(bob, token[:-3] + "abc")
    assert caught.value.code == "invalid_invitation"
    assert services.submit_response(alice, survey, answers).created
    assert services.invitation_counts(survey) == (1, 1)


def test_identified_keeps_the_person_and_pseudonymous_does_not(ctx):
    inst = make_institution("conagua")
    identified = make_survey(inst, privacy="identified")
    pseudonymous = make_survey(inst, privacy="pseudonymous")
    user = make_user()
    for survey in (identified, pseudonymous):
        services.submit_response(user, survey, {str(survey.questions[0].id): choice_id(survey, 0, "Sí")})
    rows = {r.survey_id: r for r in db.session.execute(select(SurveyResponse)).scalars()}
    assert rows[identified.id].user_id == user.id
    assert rows[pseudonymous.id].user_id is None
    assert rows[identified.id].respondent_key != rows[pseudonymous.id].respondent_key  # per-survey keys


def test_closing_time_is_checked_not_only_the_status(ctx):
    survey = make_survey(make_institution("conagua"), closes_at=utcnow() + timedelta(seconds=2))
    survey.closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    with pytest.raises(DomainError) as caught:
        services.submit_response(
            make_user(), survey, {str(survey.questions[0].id): choice_id(survey, 0, "Sí")}
        )
    assert caught.value.code == "survey_closed"
