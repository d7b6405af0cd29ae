"""Support under concurrency, proven on PostgreSQL with real parallel API clients.

50 different people at once → 50 supporters, each once; one person 20 times at once →
1. The control run counts with a read-then-write instead of the atomic UPDATE and must
lose supporters, so we know the test can see a race.

Two survey syncs over the same items, their respondents naming the items in opposite
orders, run side by side many times: every item lock is taken lowest id first across the
whole sync, so neither waits on the other in a circle (PostgreSQL would abort one with
"deadlock detected").
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from accounts.services import issue_api_token
from core.extensions import db
from demand import totals
from demand.models import DemandItem, DemandSignal, SignalSource
from surveys import services as survey_services
from surveys.models import SurveyResponse
from tests.conftest import IS_POSTGRES
from tests.demand.helpers import citizen, request
from tests.factories import make_institution
from tests.surveys.factories import choice_id, make_dataset, make_survey

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="concurrency is proven on PostgreSQL")


def _tokens(n: int) -> list[str]:
    return [issue_api_token(citizen(), "burst")[1] for _ in range(n)]


def _burst(app, item_id: int, tokens: list[str]) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(len(tokens))

    def call(token: str):
        client = app.test_client()
        barrier.wait()
        response = client.post(
            f"/api/v1/demand/{item_id}/support", headers={"Authorization": f"Bearer {token}"}
        )
        return response.status_code, response.get_json(silent=True) or {}

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        return list(pool.map(call, tokens))


def _state(item_id: int) -> tuple[int, int, int]:
    db.session.expire_all()
    counter = db.session.execute(
        select(DemandItem.supporters_count).where(DemandItem.id == item_id)
    ).scalar_one()
    signals = db.session.execute(
        select(func.count()).select_from(DemandSignal).where(DemandSignal.item_id == item_id)
    ).scalar_one()
    people = db.session.execute(
        select(func.count(func.distinct(DemandSignal.user_id))).where(DemandSignal.item_id == item_id)
    ).scalar_one()
    db.session.rollback()
    return counter, signals, people


def test_fifty_people_at_once_are_fifty_supporters(app, ctx):
    item = request(citizen(), make_institution("inegi"))
    results = _burst(app, item.id, _tokens(50))
    assert [status for status, _ in results] == [201] * 50
    assert sorted(body["supporters"] for _, body in results)[-1] == 51
    assert _state(item.id) == (51, 51, 51)  # the requester and the 50


def test_one_person_twenty_times_at_once_is_one_supporter(app, ctx):
    item = request(citizen(), make_institution("inegi"))
    (token,) = _tokens(1)
    results = _burst(app, item.id, [token] * 20)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 19 + [201]
    assert {body["supporters"] for _, body in results} == {2}
    assert _state(item.id) == (2, 2, 2)


def test_control_run_with_a_read_then_write_counter_loses_supporters(app, ctx):
    """Proof that the tests above could see a race."""
    app.config["DEMAND_ATOMIC_COUNTER"] = False
    lost = []
    for attempt in range(3):
        item = request(citizen(), make_institution(f"control{attempt}"))
        _burst(app, item.id, _tokens(50))
        counter, signals, _people = _state(item.id)
        assert signals == 51  # the constraint still keeps every signal exactly once
        lost.append(signals - counter)
        if counter < signals:
            break
    assert max(lost) > 0, f"no race seen without the atomic counter: {lost}"


# --- survey syncs over overlapping items ----------------------------------------------------------

SYNC_ITEMS = 12
SYNC_ROUNDS = 5


def _demand_answer(survey, dataset) -> dict:
    yes, wanted = survey.questions
    return {
        str(yes.id): choice_id(survey, 0, "Sí"),
        str(wanted.id): {"datasets": [dataset.id], "new": [], "intended_use": "research"},
    }


def _survey_naming(institution, datasets, people, title: str) -> int:
    """A survey whose answer sets, in the order a sync reads them, want `datasets` in turn."""
    survey = make_survey(institution, title=title)
    for person in people:
        survey_services.submit_response(person, survey, _demand_answer(survey, datasets[0]))
    # A sync reads answer sets by id, and ids are random: give the n-th of them the n-th dataset.
    by_key = {survey_services.respondent_key_for(survey, person): person for person in people}
    keys = db.session.execute(
        select(SurveyResponse.respondent_key)
        .where(SurveyResponse.survey_id == survey.id)
        .order_by(SurveyResponse.id)
    ).scalars()
    for key, dataset in zip(list(keys), datasets, strict=True):
        survey_services.submit_response(by_key[key], survey, _demand_answer(survey, dataset))
    return survey.id


def _sync_side_by_side(app, survey_ids: list[int]) -> list[str]:
    barrier = threading.Barrier(len(survey_ids))

    def sync(survey_id: int) -> str:
        with app.app_context():
            barrier.wait()
            try:
                survey_services.sync_survey_demand(survey_id)
                return "ok"
            except DBAPIError as exc:
                db.session.rollback()
                return str(exc.orig).splitlines()[0]
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=len(survey_ids)) as pool:
        return list(pool.map(sync, survey_ids))


def test_survey_syncs_naming_shared_items_in_opposite_orders_never_deadlock(app, ctx):
    inegi = make_institution("inegi")
    datasets = [make_dataset(inegi, f"Conjunto {n:02d}") for n in range(SYNC_ITEMS)]
    people = [citizen() for _ in range(SYNC_ITEMS)]
    upward = _survey_naming(inegi, datasets, people, "Encuesta A")
    downward = _survey_naming(inegi, datasets[::-1], people, "Encuesta B")
    # The items exist before the race (ids in dataset order), so every sync only locks them.
    survey_services.sync_survey_demand(upward)
    survey_services.sync_survey_demand(downward)
    item_of = dict(db.session.execute(select(DemandItem.dataset_id, DemandItem.id)).all())
    assert [item_of[dataset.id] for dataset in datasets] == sorted(item_of.values())
    failures = []
    for _round in range(SYNC_ROUNDS):
        failures += [outcome for outcome in _sync_side_by_side(app, [upward, downward]) if outcome != "ok"]
    assert failures == []
    db.session.expire_all()
    assert totals.mismatches() == []
    survey_signals = db.session.execute(
        select(DemandSignal.item_id, func.sum(DemandSignal.weight))
        .where(DemandSignal.source == SignalSource.survey)
        .group_by(DemandSignal.item_id)
    ).all()
    assert len(survey_signals) == SYNC_ITEMS and {total for _item, total in survey_signals} == {2}
    db.session.rollback()
