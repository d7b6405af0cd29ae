"""Public feeds read their events once: without If-None-Match the ETag is computed from the
rows being rendered (no separate aggregate query), and it is the ETag the aggregate gives."""

from __future__ import annotations

import pytest
from sqlalchemy import event as sa_event

from core.extensions import db
from tests.factories import make_event, make_institution


def statements_of(app, client, url: str, **headers: str) -> tuple[object, list[str]]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(url, headers=headers)
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    return response, seen


FEEDS = ["/events.ics", "/institutions/inegi/events.ics", "/events.ics?kind=datathon"]


@pytest.mark.parametrize("url", FEEDS)
@pytest.mark.parametrize("events", [0, 3])
def test_one_query_for_the_feed_and_the_same_etag_as_the_aggregate(app, client, url, events):
    with app.app_context():
        inegi = make_institution("inegi")
        for n in range(events):
            make_event(inegi, title=f"Datatón {n}")
    response, seen = statements_of(app, client, url)
    assert response.status_code == 200
    assert not [s for s in seen if "count(" in s.lower()], seen  # no aggregate on a plain GET
    assert response.get_data(as_text=True).count("BEGIN:VEVENT") == events
    # The conditional path asks the aggregate, and it agrees with the ETag computed from rows.
    repeat, seen = statements_of(app, client, url, **{"If-None-Match": response.headers["ETag"]})
    assert repeat.status_code == 304 and repeat.headers["ETag"] == response.headers["ETag"]
    assert [s for s in seen if "count(" in s.lower()]
