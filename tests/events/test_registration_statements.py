"""A registration is a lean transaction: at most 8 SQL statements, none repeated, no lazy
load, on PostgreSQL, through the API and through the HTML form alike. The statements
are counted with a `before_cursor_execute` listener on the engine (the whole request:
authentication, the event, the lock, the count, the inserts)."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from accounts.services import issue_api_token
from core.extensions import db
from events.models import Registration, RegistrationStatus
from notifications.models import InAppNotification, Notification, ScheduledNotification
from tests.conftest import IS_POSTGRES
from tests.factories import login, make_event, make_institution, make_user

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="statements are counted on PostgreSQL")

MAX_STATEMENTS = 8


class Statements:
    """Every SQL statement the engine sends while the block runs."""

    def __init__(self, engine):
        self.engine = engine
        self.sent: list[str] = []

    def _record(self, _conn, _cursor, statement, _parameters, _context, _executemany):
        self.sent.append(statement)

    def __enter__(self):
        sa_event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        sa_event.remove(self.engine, "before_cursor_execute", self._record)

    def repeated(self) -> list[str]:
        return [statement for statement, n in Counter(self.sent).items() if n > 1]

    def report(self) -> str:
        return "\n".join(f"{i}. {s.splitlines()[0][:160]}" for i, s in enumerate(self.sent, 1))


def _warm(client, path: str, **kwargs) -> None:
    """One request first, so lazily built things (the mapper, the templates) are not counted."""
    client.get(path, **kwargs)


def _engine(app):
    with app.app_context():
        return db.engine


def _check_registered(user_id: int, event_id: int) -> None:
    registration = db.session.execute(
        select(Registration).where(Registration.event_id == event_id, Registration.user_id == user_id)
    ).scalar_one()
    assert registration.status == RegistrationStatus.confirmed
    outbox = db.session.execute(select(Notification).where(Notification.user_id == user_id)).scalars().all()
    assert [row.kind for row in outbox] == ["events.registration_confirmed"]
    assert db.session.execute(
        select(InAppNotification.id).where(InAppNotification.user_id == user_id)
    ).scalar_one()
    reminders = db.session.execute(
        select(ScheduledNotification.offset_key).where(ScheduledNotification.recipient_id == user_id)
    ).scalars()
    assert sorted(reminders) == ["1440m", "60m"]


# The requests run outside the test's app context, as in a server: nothing they load is
# already in the test's session or `g`.


def test_an_api_registration_takes_at_most_eight_statements_none_repeated(app):
    with app.app_context():
        event_id = make_event(make_institution("inegi"), capacity=100, reminder_offsets=[1440, 60]).id
        person = make_user()
        person_id = person.id
        _, token = issue_api_token(person, "tests")
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    _warm(client, f"/api/v1/events/{event_id}/registration", headers=headers)
    with Statements(_engine(app)) as statements:
        response = client.post(f"/api/v1/events/{event_id}/registration", headers=headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "confirmed"
    assert len(statements.sent) <= MAX_STATEMENTS, statements.report()
    assert statements.repeated() == [], statements.report()
    with app.app_context():
        _check_registered(person_id, event_id)


def test_an_html_registration_takes_at_most_eight_statements_none_repeated(app):
    with app.app_context():
        event_id = make_event(make_institution("inegi"), capacity=100, reminder_offsets=[1440, 60]).id
        person = make_user()
        person_id, email = person.id, person.email
    client = app.test_client()
    login(client, email)
    _warm(client, f"/events/{event_id}")
    with Statements(_engine(app)) as statements:
        response = client.post(f"/events/{event_id}/register")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/events/{event_id}")
    assert len(statements.sent) <= MAX_STATEMENTS, statements.report()
    assert statements.repeated() == [], statements.report()
    with app.app_context():
        _check_registered(person_id, event_id)
