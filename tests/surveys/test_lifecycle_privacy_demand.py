"""Lifecycle (409 on illegal moves, beat open/close), privacy modes (the anonymous close
leaves no way back to accounts) and demand feeding through demand.services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from core.exceptions import DomainError
from core.extensions import db
from core.timeutil import utcnow
from demand.models import DemandItem, DemandSignal
from surveys import services
from surveys.models import Survey, SurveyStatus
from tests.factories import make_institution, make_user
from tests.surveys.factories import EVERY_KIND, choice_id, make_dataset, make_survey


def demand_answer(survey, datasets=(), new=(), use="research"):
    q0, q1 = survey.questions
    return {
        str(q0.id): choice_id(survey, 0, "Sí"),
        str(q1.id): {"datasets": list(datasets), "new": [{"title": t} for t in new], "intended_use": use},
    }


def test_illegal_transitions_are_409(ctx):
    survey = make_survey(make_institution("conagua"), open_now=False)
    for move in (services.close_survey, services.publish_results):
        with pytest.raises(DomainError) as caught:
            move(None, survey)
        assert (caught.value.status, caught.value.code) == (409, "illegal_transition")
    survey = services.open_survey(None, survey)
    with pytest.raises(DomainError) as caught:
        services.open_survey(None, survey)
    assert caught.value.code == "illegal_transition"
    survey = services.close_survey(None, survey)
    survey = services.publish_results(None, survey)
    assert survey.status == SurveyStatus.published
    with pytest.raises(DomainError) as caught:
        services.close_survey(None, survey)
    assert caught.value.code == "illegal_transition"


def test_questions_freeze_at_the_first_answer(ctx):
    survey = make_survey(make_institution("conagua"))
    services.update_survey(None, survey, {"questions": EVERY_KIND})
    survey = services.get_survey(survey.id)
    services.submit_response(
        make_user(), survey, {str(survey.questions[0].id): choice_id(survey, 0, "Diario")}
    )
    with pytest.raises(DomainError) as caught:
        services.update_survey(None, survey, {"questions": EVERY_KIND[:2]})
    assert caught.value.code == "questions_locked"
    with pytest.raises(DomainError):
        services.add_question(None, survey, {"kind": "short_text", "prompt": "¿Otra?"})
    services.update_survey(None, survey, {"title": "Nuevo título"})  # settings still change


def test_beat_opens_scheduled_and_closes_due_surveys(ctx):
    inst = make_institution("conagua")
    later = make_survey(inst, open_now=False, opens_at=utcnow() + timedelta(hours=1))
    later = services.open_survey(None, later)
    assert later.status == SurveyStatus.scheduled
    running = make_survey(inst)
    db.session.execute(
        Survey.__table__.update()
        .where(Survey.id == later.id)
        .values(opens_at=utcnow() - timedelta(minutes=1))
    )
    db.session.execute(
        Survey.__table__.update()
        .where(Survey.id == running.id)
        .values(closes_at=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()
    assert services.run_schedule() == {"opened": 1, "closed": 1}
    assert services.get_survey(later.id).status == SurveyStatus.open
    assert services.get_survey(running.id).status == SurveyStatus.closed
    assert services.run_schedule() == {"opened": 0, "closed": 0}


def test_duplicate_copies_questions_and_conditions(ctx):
    questions = [
        {"kind": "single_choice", "prompt": "¿Usas datos?", "choices": ["Sí", "No"]},
        {"kind": "short_text", "prompt": "¿Cuáles?", "show_if": {"question": 1, "choices": ["Sí"]}},
    ]
    survey = make_survey(make_institution("conagua"), questions=questions)
    copy = services.duplicate_survey(None, survey)
    assert copy.status == SurveyStatus.draft and copy.id != survey.id
    assert [q.prompt for q in copy.questions] == ["¿Usas datos?", "¿Cuáles?"]
    assert copy.questions[1].show_if == {
        "question": copy.questions[0].id,
        "choices": [copy.questions[0].choices[0].id],
    }


def test_identified_and_pseudonymous_demand_signals(ctx):
    inst = make_institution("conagua")
    air = make_dataset(inst, "Calidad del aire")
    water = make_dataset(inst, "Calidad del agua")
    identified = make_survey(inst, privacy="identified")
    pseudo = make_survey(inst, privacy="pseudonymous")
    alice = make_user()
    alice.sector, alice.state = "journalism", "Jalisco"
    db.session.commit()
    services.submit_response(
        alice, identified, demand_answer(identified, [air.id], ["Pozos de agua"], "journalism")
    )
    services.submit_response(alice, pseudo, demand_answer(pseudo, [air.id]))
    services.sync_survey_demand(identified.id)
    services.sync_survey_demand(pseudo.id)
    signals = db.session.execute(select(DemandSignal).order_by(DemandSignal.id)).scalars().all()
    key_i = services.respondent_key_for(identified, alice)
    key_p = services.respondent_key_for(pseudo, alice)
    by_ref = {}
    for s in signals:
        by_ref.setdefault(s.ref, []).append(s)
    assert {s.user_id for s in by_ref[f"survey:{identified.id}:{key_i}"]} == {alice.id}
    assert {s.sector for s in by_ref[f"survey:{identified.id}:{key_i}"]} == {"journalism"}
    assert {s.user_id for s in by_ref[f"survey:{pseudo.id}:{key_p}"]} == {None}
    titles = {i.title for i in db.session.execute(select(DemandItem)).scalars()}
    assert titles == {"Calidad del aire", "Pozos de agua"}
    # A changed answer moves the signal; a withdrawn one removes it.
    services.submit_response(alice, pseudo, demand_answer(pseudo, [water.id]))
    services.sync_survey_demand(pseudo.id)
    moved = (
        db.session.execute(select(DemandSignal).where(DemandSignal.ref == f"survey:{pseudo.id}:{key_p}"))
        .scalars()
        .all()
    )
    assert [s.item.dataset_id for s in moved] == [water.id]
    services.withdraw_response(alice, pseudo)
    assert not db.session.execute(
        select(DemandSignal).where(DemandSignal.ref == f"survey:{pseudo.id}:{key_p}")
    ).first()


def all_rows() -> dict[str, list[dict]]:
    """Every row of every table, as plain dicts."""
    result = {}
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(text(f'SELECT * FROM "{table.name}"')).mappings().all()
        result[table.name] = [dict(r) for r in rows]
    return result


def test_anonymous_close_leaves_no_way_back_to_accounts(ctx):
    inst = make_institution("conagua")
    air = make_dataset(inst, "Calidad del aire")
    survey = make_survey(
        inst,
        privacy="anonymous",
        questions=[
            {"kind": "single_choice", "prompt": "¿Usas datos?", "required": True, "choices": ["Sí", "No"]},
            {"kind": "dataset_demand", "prompt": "¿Qué datos necesitas?"},
            {"kind": "short_text", "prompt": "¿A qué te dedicas?"},
            {"kind": "pairwise", "prompt": "¿Qué publicar primero?", "choices": ["A", "B", "C"]},
        ],
        invitation_only=True,
    )
    from surveys.services import wiki

    people = [make_user() for _ in range(6)]
    tokens = services.create_invitations(None, survey, 6)
    keys = []
    for i, (person, token) in enumerate(zip(people, tokens, strict=True)):
        person.sector, person.state = "academia", "Oaxaca"
        db.session.commit()
        services.redeem_invitation(person, token)
        q = survey.questions
        services.submit_response(
            person,
            survey,
            {
                str(q[0].id): choice_id(survey, 0, "Sí"),
                str(q[1].id): {
                    "datasets": [air.id],
                    "new": [{"title": "Pozos"}] if i % 2 else [],
                    "intended_use": "research",
                },
                str(q[2].id): f"Profesión {i}",
            },
        )
        pair = wiki.next_pair(person, survey, q[3])
        wiki.vote(person, survey, q[3], pair.token, "left")
        wiki.submit_idea(person, survey, q[3], f"Idea {i}")
        keys.append(services.respondent_key_for(survey, person))
    services.sync_survey_demand(survey.id)
    before = all_rows()
    assert any(k in str(before) for k in keys)  # the keys are there while open
    services.close_survey(None, survey)
    assert services.sync_survey_demand(survey.id) == 0  # a late sync writes nothing personal
    db.session.expire_all()
    after = all_rows()
    dump = str(after)
    # The secret is gone, no respondent key survives anywhere, and no answer row names a person.
    assert after["survey"][0]["hmac_key"] is None
    for key in keys:
        assert key not in dump
    for row in after["survey_response"]:
        assert row["user_id"] is None
        assert row["created_at"] == row["updated_at"]
    assert len({r["created_at"] for r in after["survey_response"]}) == 1
    # Demand: counts without any person.
    signals = after["demand_signal"]
    assert signals and all(s["user_id"] is None for s in signals)
    assert {s["weight"] for s in signals if s["ref"].endswith(f"d{air.id}:research")} == {6}
    assert all(":total:" in s["ref"] for s in signals)
    # Anything else that still names a person (the respondents' list for the results email)
    # carries no time and no key: it cannot be joined to an answer set.
    for row in after["survey_start"]:
        assert row["started_at"] is None
    for name in ("survey_invitation", "wiki_pair", "wiki_vote", "survey_choice"):
        for row in after[name]:
            assert row.get("respondent_key") is None and row.get("submitted_key") is None
    # Recomputing a key is impossible: the person can no longer find their answers.
    survey = services.get_survey(survey.id)
    assert services.respondent_key_for(survey, people[0]) is None
    assert services.response_of(people[0], survey) is None
    # No audit entry or outbox row ties a person to an answer set either.
    response_ids = {str(r["id"]) for r in after["survey_response"]}
    for row in after["audit_log"]:
        assert row["object_id"] not in response_ids
    # Results survive intact.
    from surveys.services.results import compute_results

    results = compute_results(survey)
    assert results["respondents"] == 6
