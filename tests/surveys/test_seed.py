"""Demo data: a survey of every kind with answers, idempotent."""

from __future__ import annotations

from sqlalchemy import func, select

from core.extensions import db
from demo import seed_demo
from surveys.models import QuestionKind, Survey, SurveyQuestion, SurveyResponse, WikiVote


def test_seed_demo_adds_surveys_of_every_kind_with_answers(app, demo, ctx):
    # `demo`: what seed_demo() wrote on empty tables (tests/conftest.py).
    kinds = set(db.session.execute(select(SurveyQuestion.kind)).scalars())
    assert kinds == {k.value for k in QuestionKind}
    statuses = set(db.session.execute(select(Survey.status)).scalars())
    assert {"draft", "open", "published"} <= statuses
    assert db.session.execute(select(func.count()).select_from(SurveyResponse)).scalar_one() >= 30
    assert db.session.execute(select(func.count()).select_from(WikiVote)).scalar_one() > 50
    before = db.session.execute(select(func.count()).select_from(Survey)).scalar_one()
    seed_demo()
    assert db.session.execute(select(func.count()).select_from(Survey)).scalar_one() == before
