"""Support under concurrency, proven on PostgreSQL with real parallel API clients.

50 different people at once → 50 supporters, each once; one person 20 times at once →
1. The control run counts with a read-then-write instead of the atomic UPDATE and must
lose supporters, so we know the test can see a race.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from accounts.services import issue_api_token
from core.extensions import db
from demand.models import DemandItem, DemandSignal
from tests.conftest import IS_POSTGRES
from tests.demand.helpers import citizen, request
from tests.factories import make_institution

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
