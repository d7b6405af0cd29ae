"""No overbooking, proven: many concurrent clients against a few seats on PostgreSQL.

Each client is a thread with its own test client (its own request, app context,
session and database connection) calling the public API. The control run turns the
capacity lock off and must show the race, so we know the test can see one.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from accounts.services import issue_api_token
from core.extensions import db
from events.models import Registration, RegistrationStatus
from tests.conftest import IS_POSTGRES
from tests.factories import make_event, make_institution, make_user

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="concurrency is proven on PostgreSQL")

CLIENTS = 50
SEATS = 10


def tokens_for(n: int) -> list[tuple[int, str]]:
    result = []
    for _ in range(n):
        user = make_user()
        _, raw = issue_api_token(user, "burst")
        result.append((user.id, raw))
    return result


def burst(
    app, event_id: int, registering: list[str], cancelling: list[str] = ()
) -> list[tuple[str, int, dict]]:
    """Fire every request at once (a barrier releases them together)."""
    barrier = threading.Barrier(len(registering) + len(cancelling))

    def call(kind: str, token: str):
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        barrier.wait()
        if kind == "register":
            response = client.post(f"/api/v1/events/{event_id}/registration", headers=headers)
        else:
            response = client.delete(f"/api/v1/events/{event_id}/registration", headers=headers)
        return kind, response.status_code, response.get_json(silent=True) or {}

    jobs = [("register", t) for t in registering] + [("cancel", t) for t in cancelling]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(lambda job: call(*job), jobs))


def active_registrations(event_id: int) -> list[Registration]:
    db.session.expire_all()
    rows = db.session.execute(
        select(Registration)
        .where(Registration.event_id == event_id, Registration.status != RegistrationStatus.cancelled)
        .order_by(Registration.id)
    ).scalars()
    result = list(rows)
    db.session.rollback()
    return result


def assert_arrival_order(rows: list[Registration]) -> None:
    """Confirmed people are the earliest arrivals; waitlist positions follow arrival."""
    statuses = [r.status for r in rows]
    confirmed = statuses.count(RegistrationStatus.confirmed)
    assert statuses == [RegistrationStatus.confirmed] * confirmed + [RegistrationStatus.waitlisted] * (
        len(rows) - confirmed
    )


def test_fifty_clients_ten_seats_exactly_ten_confirmed(app, ctx):
    event = make_event(make_institution("inegi"), capacity=SEATS)
    people = tokens_for(CLIENTS)
    results = burst(app, event.id, [token for _, token in people])
    assert [status for _, status, _ in results] == [201] * CLIENTS
    answers = [body for _, _, body in results]
    assert sum(a["status"] == "confirmed" for a in answers) == SEATS
    positions = sorted(a["waitlist_position"] for a in answers if a["status"] == "waitlisted")
    assert positions == list(range(1, CLIENTS - SEATS + 1))
    rows = active_registrations(event.id)
    assert len(rows) == CLIENTS  # none lost
    assert {r.user_id for r in rows} == {user_id for user_id, _ in people}
    assert sum(r.status == RegistrationStatus.confirmed for r in rows) == SEATS
    assert_arrival_order(rows)
    # Each waitlisted answer named the place its row holds in arrival order.
    by_code = {a["code"]: a["waitlist_position"] for a in answers}
    waiting = [r for r in rows if r.status == RegistrationStatus.waitlisted]
    assert [by_code[r.code] for r in waiting] == list(range(1, len(waiting) + 1))


def test_with_cancellations_interleaved_nobody_is_lost_or_overbooked(app, ctx):
    event = make_event(make_institution("inegi"), capacity=SEATS)
    holders = tokens_for(SEATS)
    # Filled one by one first, each from its own thread (a request on this thread would
    # share the test's app context and its signed-in user).
    for _, token in holders:
        (result,) = burst(app, event.id, [token])
        assert result[2]["status"] == "confirmed"
    newcomers = tokens_for(CLIENTS)
    leaving = holders[:5]
    results = burst(app, event.id, [t for _, t in newcomers], [t for _, t in leaving])
    assert sorted(status for kind, status, _ in results if kind == "register") == [201] * CLIENTS
    assert sorted(status for kind, status, _ in results if kind == "cancel") == [204] * len(leaving)
    rows = active_registrations(event.id)
    assert len(rows) == SEATS - len(leaving) + CLIENTS  # none lost
    assert sum(r.status == RegistrationStatus.confirmed for r in rows) == SEATS  # none overbooked
    left = {user_id for user_id, _ in leaving}
    assert not left & {r.user_id for r in rows}
    newcomer_rows = [r for r in rows if r.user_id in {user_id for user_id, _ in newcomers}]
    assert sum(r.status == RegistrationStatus.confirmed for r in newcomer_rows) == len(leaving)
    assert_arrival_order(newcomer_rows)


def test_control_run_without_the_lock_overbooks(app, ctx):
    """Proof that the tests above could see a race: count-then-insert without the lock."""
    app.config["EVENTS_CAPACITY_LOCK"] = False
    overbooked = []
    for attempt in range(3):
        event = make_event(make_institution(f"control{attempt}"), capacity=SEATS)
        people = tokens_for(CLIENTS)
        results = burst(app, event.id, [token for _, token in people])
        assert {status for _, status, _ in results} == {201}
        rows = active_registrations(event.id)
        confirmed = sum(r.status == RegistrationStatus.confirmed for r in rows)
        overbooked.append(confirmed - SEATS)
        if confirmed > SEATS:
            break
    assert max(overbooked) > 0, f"no race seen without the lock: {overbooked}"
