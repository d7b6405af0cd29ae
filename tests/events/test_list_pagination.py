"""The events list counts its matches only some pages past the one asked for: beyond, the
page and the API say "more than N" instead of counting every event on each request."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event

from core.extensions import db
from core.timeutil import utcnow
from events import services
from events.services import listing
from tests.factories import make_event, make_institution


@pytest.fixture
def seven_events(app, monkeypatch):
    """Seven public events and two pages counted ahead (instead of 10), two per page."""
    monkeypatch.setattr(listing, "COUNTED_PAGES_AHEAD", 2)
    with app.app_context():
        inegi = make_institution("inegi")
        make_event(inegi, publish=False, title="Borrador")  # never counted
        for n in range(7):
            make_event(inegi, title=f"Mesa {n}", starts_at=utcnow() + timedelta(days=n + 1))


def pagination(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.headers["X-Pagination"])


def test_the_service_stops_counting_past_the_pages_ahead(app, seven_events):
    with app.app_context():
        first = services.list_events(services.EventFilters(per_page=2))
        assert [e.title for e in first.items] == ["Mesa 0", "Mesa 1"]
        # Counted up to 2 pages (4 events) and one more: at least 5, 3 pages known to exist.
        assert (first.total, first.total_exact, first.pages, first.has_next) == (5, False, 3, True)
        third = services.list_events(services.EventFilters(per_page=2, page=3))
        assert [e.title for e in third.items] == ["Mesa 4", "Mesa 5"]
        assert (third.total, third.total_exact, third.pages) == (7, True, 4)
        # A page past the end is clamped to the last one, counted exactly.
        beyond = services.list_events(services.EventFilters(per_page=2, page=99))
        assert (beyond.page, beyond.total, beyond.total_exact, [e.title for e in beyond.items]) == (
            4,
            7,
            True,
            ["Mesa 6"],
        )


def test_a_short_list_is_counted_exactly(app, seven_events):
    with app.app_context():
        page = services.list_events(services.EventFilters(per_page=20))
        assert (page.total, page.total_exact, page.pages, page.has_next) == (7, True, 1, False)


def test_the_count_reads_a_bounded_number_of_rows(app, seven_events):
    """The count is LIMITed to the pages ahead plus one row, not a count of every match."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        sa_event.listen(db.engine, "before_cursor_execute", record)
        try:
            services.list_events(services.EventFilters(per_page=2))
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", record)
    counts = [s for s in statements if "count(" in s.lower() and "FROM event" in s]
    assert len(counts) == 1 and "LIMIT" in counts[0].upper()


def test_the_api_header_says_when_the_total_is_a_lower_bound(client, seven_events):
    first = pagination(client.get("/api/v1/events?page_size=2"))
    assert first == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 1,
        "next_page": 2,
        "total_exact": False,
    }
    third = pagination(client.get("/api/v1/events?page_size=2&page=3"))
    assert (third["total"], third["last_page"], third["next_page"], third["total_exact"]) == (7, 4, 4, True)
    # Following next_page reaches every event exactly once.
    titles, page = [], 1
    while page is not None:
        response = client.get(f"/api/v1/events?page_size=2&page={page}")
        titles += [e["title"] for e in response.json]
        page = pagination(response).get("next_page")
    assert titles == [f"Mesa {n}" for n in range(7)]


def test_the_openapi_document_describes_the_lower_bound(client):
    spec = client.get("/api/v1/openapi.json").json
    header = spec["components"]["headers"]["PAGINATION"]
    assert "total_exact" in header["description"]
    properties = spec["components"]["schemas"]["PaginationMetadata"]["properties"]
    assert properties["total_exact"]["type"] == "boolean"


def test_the_page_says_more_than_and_links_on(app, client, monkeypatch):
    """The HTML list (20 a page): 45 events, two pages counted ahead."""
    monkeypatch.setattr(listing, "COUNTED_PAGES_AHEAD", 2)
    with app.app_context():
        inegi = make_institution("inegi")
        for n in range(45):
            make_event(inegi, title=f"Mesa {n}", starts_at=utcnow() + timedelta(days=n + 1))
    first = client.get("/events?when=&page=1").get_data(as_text=True)
    assert "Más de 40 actividades" in first
    assert "Página 1 de 3 o más" in first
    assert 'rel="next"' in first
    third = client.get("/events?when=&page=3").get_data(as_text=True)
    assert "45 actividades" in third and "Página 3 de 3" in third and "o más" not in third
    assert 'rel="next"' not in third
    english = client.get("/events?when=&page=1", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "More than 40 activities" in english and "Page 1 of 3 or more" in english
