"""The day of an event under concurrent requests on PostgreSQL: undoing a check-in, confirming
waitlisted people by hand at capacity, sending the same message twice at once. Each client
is a thread with its own test client and connection; control runs turn the lock off and
must show the race, so we know the tests can see one."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts.services import issue_api_token
from core.extensions import db
from core.models import AuditEntry
from core.timeutil import utcnow
from events import services
from events.dayof_models import EventMessage
from events.models import Event, Registration, RegistrationStatus
from notifications.models import Notification
from tests.conftest import IS_POSTGRES
from tests.factories import make_event, make_institution, make_liaison, make_user

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="concurrency is proven on PostgreSQL")

API = "/api/v1"
CLIENTS = 8


def _token(user) -> str:
    _, raw = issue_api_token(user, "burst")
    db.session.commit()
    return raw


def burst(app, calls: list[tuple[str, str, str, dict | None]]) -> list[tuple[int, dict]]:
    """Fire (method, path, token, json) requests at once (a barrier releases them together)."""
    barrier = threading.Barrier(len(calls))

    def call(method: str, path: str, token: str, body: dict | None):
        client = app.test_client()
        barrier.wait()
        response = client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.get_json(silent=True) or {}

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda args: call(*args), calls))


def _count(query) -> int:
    db.session.expire_all()
    value = db.session.execute(query).scalar_one()
    db.session.rollback()
    return value


def _audits(action: str) -> int:
    return _count(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


def _checked_in_event(slug: str):
    inegi = make_institution(slug)
    token = _token(make_liaison(inegi))
    start = utcnow().replace(microsecond=0) + timedelta(hours=1)
    event = make_event(inegi, starts_at=start, ends_at=start + timedelta(hours=3))
    registration = services.register(make_user(), event)
    services.check_in(make_liaison(inegi), event, registration.code)
    return event.id, registration.id, token


def test_undoing_one_check_in_many_times_at_once_undoes_it_once(app, ctx):
    event_id, registration_id, token = _checked_in_event("inegi")
    path = f"{API}/events/{event_id}/checkins/{registration_id}"
    results = burst(app, [("DELETE", path, token, None)] * CLIENTS)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (CLIENTS - 1), results
    assert {body["error"]["code"] for status, body in results if status == 409} == {"not_checked_in"}
    assert _audits("registration.check_in_undone") == 1


def test_check_in_and_undo_at_once_end_in_a_state_one_of_them_left(app, ctx):
    event_id, registration_id, token = _checked_in_event("inegi")
    path = f"{API}/events/{event_id}/checkins/{registration_id}"
    calls = [("DELETE", path, token, None), ("POST", path, token, None)] * (CLIENTS // 2)
    results = burst(app, calls)
    assert all(status in (200, 409) for status, _ in results), results
    undone = sum(
        1
        for (method, *_), (status, _) in zip(calls, results, strict=True)
        if method == "DELETE" and status == 200
    )
    assert _audits("registration.check_in_undone") == undone >= 1
    # Each undo reversed a check-in that was there: never two undos of one check-in.
    checked_in_again = sum(
        1
        for (method, *_), (status, body) in zip(calls, results, strict=True)
        if method == "POST" and status == 200 and not body["already_checked_in"]
    )
    assert undone - checked_in_again in (0, 1)


def test_control_run_without_the_lock_undoes_twice(app, ctx):
    app.config[services.LOCK_SETTING] = False
    seen = []
    for attempt in range(3):
        event_id, registration_id, token = _checked_in_event(f"control{attempt}")
        before = _audits("registration.check_in_undone")
        path = f"{API}/events/{event_id}/checkins/{registration_id}"
        results = burst(app, [("DELETE", path, token, None)] * CLIENTS)
        seen.append(sum(status == 200 for status, _ in results))
        assert _audits("registration.check_in_undone") - before == seen[-1]
        if seen[-1] > 1:
            break
    assert max(seen) > 1, f"no race seen without the lock: {seen}"


def _full_event_with_waitlist(slug: str, waiting: int):
    """Capacity 3 full, `waiting` people on the waitlist, then one more seat (set directly,
    so nobody is promoted automatically)."""
    inegi = make_institution(slug)
    token = _token(make_liaison(inegi))
    event = make_event(inegi, capacity=3)
    for _ in range(3 + waiting):
        services.register(make_user(), event)
    db.session.get(Event, event.id).capacity = 4
    db.session.commit()
    ids = [
        r.id
        for r in db.session.execute(
            select(Registration).where(
                Registration.event_id == event.id, Registration.status == RegistrationStatus.waitlisted
            )
        ).scalars()
    ]
    return event.id, ids, token


def _confirmed(event_id: int) -> int:
    return _count(
        select(func.count())
        .select_from(Registration)
        .where(Registration.event_id == event_id, Registration.status == RegistrationStatus.confirmed)
    )


def test_promoting_by_hand_at_once_fills_the_last_seat_once(app, ctx):
    event_id, waiting, token = _full_event_with_waitlist("inegi", CLIENTS)
    calls = [("POST", f"{API}/events/{event_id}/registrations/{rid}/promote", token, {}) for rid in waiting]
    results = burst(app, calls)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (CLIENTS - 1), results
    assert {body["error"]["code"] for status, body in results if status == 409} == {"event_full"}
    assert _confirmed(event_id) == 4
    assert _audits("registration.promote_by_hand") == 1
    # Raising the capacity is explicit: several organisers doing it at once each add one seat.
    rest = [rid for (_, body), rid in zip(results, waiting, strict=True) if "error" in body][:3]
    raised = burst(
        app,
        [
            ("POST", f"{API}/events/{event_id}/registrations/{rid}/promote", token, {"raise_capacity": True})
            for rid in rest
        ],
    )
    assert [status for status, _ in raised] == [200] * 3
    assert _confirmed(event_id) == 7
    db.session.expire_all()
    assert db.session.get(Event, event_id).capacity == 7
    assert _audits("event.capacity_raised") == 3


def test_control_run_without_the_lock_overbooks_by_hand(app, ctx):
    app.config[services.LOCK_SETTING] = False
    seen = []
    for attempt in range(3):
        event_id, waiting, token = _full_event_with_waitlist(f"control{attempt}", CLIENTS)
        calls = [
            ("POST", f"{API}/events/{event_id}/registrations/{rid}/promote", token, {}) for rid in waiting
        ]
        burst(app, calls)
        seen.append(_confirmed(event_id) - 4)
        if seen[-1] > 0:
            break
    assert max(seen) > 0, f"no overbooking seen without the lock: {seen}"


def test_the_same_message_sent_at_once_goes_out_once(app, ctx):
    inegi = make_institution("inegi")
    token = _token(make_liaison(inegi))
    event = make_event(inegi)
    for _ in range(5):
        services.register(make_user(), event)
    body = {"audience": "confirmed", "subject": "Cambio de sala", "body": "Sala 3, segundo piso."}
    results = burst(app, [("POST", f"{API}/events/{event.id}/messages", token, body)] * CLIENTS)
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (CLIENTS - 1), results
    assert _count(select(func.count()).select_from(EventMessage)) == 1
    rows = _count(
        select(func.count()).select_from(Notification).where(Notification.kind == "events.organiser_message")
    )
    assert rows == 5
