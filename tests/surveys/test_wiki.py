"""Wiki surveys: pairs favour less-compared ideas, tokens count once, ideas go through
moderation, Bradley–Terry scores with an interval, ranking after enough comparisons."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.exceptions import DomainError
from core.extensions import db
from surveys.models import ChoiceStatus, VoteChoice, WikiPair, WikiVote
from surveys.services import wiki
from tests.factories import make_institution, make_user
from tests.surveys.factories import make_survey

IDEAS = ["Contratos", "Escuelas", "Aire", "Presupuesto"]


def wiki_survey(minimum: int = 5):
    survey = make_survey(
        make_institution("conagua"),
        questions=[
            {"kind": "pairwise", "prompt": "¿Qué publicar primero?", "choices": IDEAS, "min": minimum}
        ],
    )
    return survey, survey.questions[0]


def ideas(question) -> dict[str, int]:
    return {c.label: c.id for c in question.choices}


def record(question, winner: int, loser: int, times: int) -> None:
    for _ in range(times):
        pair = WikiPair(
            token=f"t{WikiPair.__table__.name}{winner}{loser}{_}{id(question)}{times}",
            question_id=question.id,
            left_id=winner,
            right_id=loser,
            respondent_key="k",
        )
        db.session.add(pair)
        db.session.flush()
        db.session.add(
            WikiVote(
                question_id=question.id,
                pair_id=pair.id,
                left_id=winner,
                right_id=loser,
                choice=VoteChoice.left,
                respondent_key="k",
            )
        )
    db.session.commit()


def test_pairs_favour_the_least_compared_ideas(ctx):
    survey, question = wiki_survey()
    ids = ideas(question)
    record(question, ids["Contratos"], ids["Escuelas"], 20)
    record(question, ids["Aire"], ids["Escuelas"], 20)
    record(question, ids["Contratos"], ids["Aire"], 20)
    user = make_user()
    for _ in range(10):
        pair = wiki.next_pair(user, survey, question)
        assert ids["Presupuesto"] in (pair.left_id, pair.right_id)  # never compared yet


def test_a_token_counts_once_and_belongs_to_its_holder(ctx):
    survey, question = wiki_survey()
    alice, bob = make_user(), make_user()
    pair = wiki.next_pair(alice, survey, question)
    with pytest.raises(DomainError) as caught:
        wiki.vote(bob, survey, question, pair.token, "left")
    assert caught.value.code == "invalid_pair"
    wiki.vote(alice, survey, question, pair.token, "skip")
    with pytest.raises(DomainError) as caught:
        wiki.vote(alice, survey, question, pair.token, "left")
    assert (caught.value.status, caught.value.code) == (409, "pair_used")
    assert db.session.execute(select(WikiVote.choice)).scalars().all() == [VoteChoice.skip]


def test_ideas_wait_for_moderation_before_joining_pairs(ctx):
    survey, question = wiki_survey()
    user = make_user()
    idea = wiki.submit_idea(user, survey, question, "  Padrón   de pozos ")
    assert idea.label == "Padrón de pozos" and idea.status == ChoiceStatus.pending
    with pytest.raises(DomainError):
        wiki.submit_idea(user, survey, question, "padrón de pozos")
    seen = set()
    for _ in range(30):
        pair = wiki.next_pair(user, survey, question)
        seen |= {pair.left_id, pair.right_id}
        wiki.vote(user, survey, question, pair.token, "skip")
    assert idea.id not in seen
    wiki.moderate_idea(None, idea, True)
    db.session.expire_all()
    question = survey.question(question.id)
    for _ in range(3):  # the new idea has the fewest comparisons: it is in the next pairs
        pair = wiki.next_pair(user, survey, question)
        assert idea.id in (pair.left_id, pair.right_id)
        wiki.vote(user, survey, question, pair.token, "left")


def test_bradley_terry_scores_intervals_and_minimum(ctx):
    _survey, question = wiki_survey(minimum=10)
    ids = ideas(question)
    record(question, ids["Contratos"], ids["Escuelas"], 9)
    record(question, ids["Escuelas"], ids["Contratos"], 1)
    record(question, ids["Contratos"], ids["Aire"], 8)
    record(question, ids["Aire"], ids["Contratos"], 2)
    record(question, ids["Escuelas"], ids["Aire"], 6)
    record(question, ids["Aire"], ids["Escuelas"], 4)
    record(question, ids["Presupuesto"], ids["Aire"], 1)
    scores = wiki.idea_scores(question)
    by_text = {s["text"]: s for s in scores}
    ranked = [s["text"] for s in scores if s["ranked"]]
    assert ranked == ["Contratos", "Escuelas", "Aire"]
    assert by_text["Presupuesto"]["ranked"] is False and scores[-1]["text"] == "Presupuesto"
    for entry in scores:
        assert 0 <= entry["low"] <= entry["score"] <= entry["high"] <= 100 or not entry["ranked"]
    assert by_text["Contratos"]["score"] > 50 > by_text["Aire"]["score"]
    assert by_text["Contratos"]["comparisons"] == 20 and by_text["Contratos"]["wins"] == 17
    # Scores are chances against a random other idea: they average to 50.
    assert abs(sum(s["score"] for s in scores) / len(scores) - 50) < 1
