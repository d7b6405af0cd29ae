"""One answer set per person, proven on PostgreSQL with parallel clients.

50 parallel submissions by one person end as one answer set; 50 people at once end as
50. The control run drops the unique constraint and must show duplicates, so we know
the test can see the race the constraint prevents.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text

from accounts.services import issue_api_token
from core.extensions import db
from surveys.models import SurveyAnswer, SurveyResponse
from tests.conftest import IS_POSTGRES
from tests.factories import make_institution, make_user
from tests.surveys.factories import choice_id, make_survey

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="concurrency is proven on PostgreSQL")

CLIENTS = 50
CONSTRAINT = "uq_survey_response_survey_id_respondent_key"


def token_for(user) -> str:
    _, raw = issue_api_token(user, "burst")
    db.session.commit()
    return raw


def burst(app, survey_id: int, calls: list[tuple[str, dict]]) -> list[tuple[int, dict]]:
    """Fire every PUT at once (a barrier releases them together), each from its own client."""
    barrier = threading.Barrier(len(calls))

    def call(token: str, answers: dict):
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            response = client.put(
                f"/api/v1/surveys/{survey_id}/response",
                json={"answers": answers},
                headers={"Authorization": f"Bearer {token}"},
            )
            return response.status_code, response.get_json(silent=True) or {}

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda job: call(*job), calls))


def counts(survey_id: int) -> tuple[int, int]:
    db.session.expire_all()
    responses = db.session.execute(
        select(func.count()).select_from(SurveyResponse).where(SurveyResponse.survey_id == survey_id)
    ).scalar_one()
    answers = db.session.execute(
        select(func.count()).select_from(SurveyAnswer).where(SurveyAnswer.survey_id == survey_id)
    ).scalar_one()
    db.session.rollback()
    return responses, answers


@pytest.fixture
def unlimited(app):
    app.config["RATELIMIT_ENABLED"] = False
    from core.extensions import limiter

    limiter.enabled = False
    yield
    limiter.enabled = True


def test_fifty_parallel_submissions_by_one_person_make_one_answer_set(app, ctx, unlimited):
    survey = make_survey(make_institution("conagua"))
    token = token_for(make_user())
    q0 = survey.questions[0]
    yes, no = choice_id(survey, 0, "Sí"), choice_id(survey, 0, "No")
    calls = [(token, {str(q0.id): yes if i % 2 else no}) for i in range(CLIENTS)]
    results = burst(app, survey.id, calls)
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {200, 201}
    assert counts(survey.id) == (1, 1)  # one set, and its answers replaced, never doubled


def test_fifty_people_at_once_make_fifty_answer_sets(app, ctx, unlimited):
    survey = make_survey(make_institution("conagua"))
    q0 = survey.questions[0]
    yes = choice_id(survey, 0, "Sí")
    calls = [(token_for(make_user()), {str(q0.id): yes}) for _ in range(CLIENTS)]
    results = burst(app, survey.id, calls)
    assert [status for status, _ in results] == [201] * CLIENTS
    assert counts(survey.id) == (CLIENTS, CLIENTS)


def test_control_run_without_the_constraint_duplicates(app, ctx, unlimited):
    """Proof that the first test could see a race: without the unique constraint, one
    person's parallel first submissions insert several answer sets."""
    db.session.execute(text(f"ALTER TABLE survey_response DROP CONSTRAINT {CONSTRAINT}"))
    db.session.commit()
    try:
        seen = []
        for attempt in range(3):
            survey = make_survey(make_institution(f"control{attempt}"))
            token = token_for(make_user())
            q0 = survey.questions[0]
            yes = choice_id(survey, 0, "Sí")
            burst(app, survey.id, [(token, {str(q0.id): yes})] * CLIENTS)
            responses, _ = counts(survey.id)
            seen.append(responses)
            if responses > 1:
                break
        assert max(seen) > 1, f"no race seen without the constraint: {seen}"
    finally:
        db.session.rollback()
        db.session.execute(text("DELETE FROM survey_answer"))
        db.session.execute(text("DELETE FROM survey_response"))
        db.session.execute(
            text(
                f"ALTER TABLE survey_response ADD CONSTRAINT {CONSTRAINT} UNIQUE (survey_id, respondent_key)"
            )
        )
        db.session.commit()
