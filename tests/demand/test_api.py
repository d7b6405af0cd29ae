"""The demand API: the contract's names, status codes and error shape."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from flask import g
from openapi_spec_validator import validate
from sqlalchemy import event as sa_event

from core.extensions import db
from demand import items
from tests.demand.helpers import citizen, dataset
from tests.factories import PASSWORD, make_institution, make_liaison, make_user


class _FreshClient:
    """The test client, forgetting the previous request's bearer user.

    Requests made while the test holds an app context share its `g`, where the API
    caches the authenticated user; each call here starts clean, as a real request does.
    """

    def __init__(self, client):
        self._client = client

    def __getattr__(self, method):
        call = getattr(self._client, method)

        def fresh(*args, **kwargs):
            g.pop("api_user", None)
            return call(*args, **kwargs)

        return fresh


@pytest.fixture
def client(app, ctx):
    return _FreshClient(app.test_client())


def token_for(client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/tokens", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def error_of(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.json["error"]
    if code:
        assert error["code"] == code
    return error


BODY = {
    "institution": "inegi",
    "kind": "publish",
    "title": "Accidentes de tránsito por municipio",
    "description": "Mensual.",
    "intended_use": "journalism",
}


def _setup(client):
    inegi = make_institution("inegi")
    make_liaison(inegi, "enlace@inegi.example.org")
    citizen("lucia@example.org")
    citizen("ana@example.org")
    dataset(inegi, "Accidentes de tránsito terrestre en zonas urbanas")
    return inegi, token_for(client, "lucia@example.org"), token_for(client, "enlace@inegi.example.org")


def test_request_support_follow_answer_round_trip(client, ctx):
    _inegi, lucia, liaison = _setup(client)
    created = client.post("/api/v1/demand", json=BODY, headers=lucia)
    assert created.status_code == 201, created.json
    body = created.json
    assert body["status"] == "received" and body["supporters"] == 1
    assert date.fromisoformat(body["due_on"]) > date.today()
    assert any(s["type"] == "dataset" for s in body["similar"])
    item_id = body["id"]

    ana = token_for(client, "ana@example.org")
    assert client.post(f"/api/v1/demand/{item_id}/support", headers=ana).status_code == 201
    again = client.post(f"/api/v1/demand/{item_id}/support", headers=ana)
    assert again.status_code == 200 and again.json["supporters"] == 2
    assert client.delete(f"/api/v1/demand/{item_id}/support", headers=ana).json["supporters"] == 1
    # Supporting made Ana a follower; she stays one until she unfollows.
    assert client.post(f"/api/v1/demand/{item_id}/follow", headers=ana).status_code == 200
    assert client.delete(f"/api/v1/demand/{item_id}/follow", headers=ana).json == {"following": False}
    assert client.post(f"/api/v1/demand/{item_id}/follow", headers=ana).status_code == 201

    error_of(
        client.post(f"/api/v1/demand/{item_id}/answer", json={"status": "under_review"}, headers=lucia), 403
    )
    error_of(
        client.post(f"/api/v1/demand/{item_id}/answer", json={"status": "scheduled"}, headers=liaison), 422
    )
    error_of(
        client.post(
            f"/api/v1/demand/{item_id}/answer",
            json={"status": "not_possible", "reason_code": "other"},
            headers=liaison,
        ),
        422,
    )
    committed = (date.today() + timedelta(days=20)).isoformat()
    answered = client.post(
        f"/api/v1/demand/{item_id}/answer",
        json={"status": "scheduled", "committed_on": committed},
        headers=liaison,
    )
    assert answered.status_code == 200 and answered.json["status"] == "scheduled"
    assert answered.json["answer"]["committed_on"] == committed
    error = error_of(
        client.post(
            f"/api/v1/demand/{item_id}/answer",
            json={"status": "answered", "explanation": "x"},
            headers=liaison,
        ),
        409,
        "illegal_transition",
    )
    assert error["message"]

    detail = client.get(f"/api/v1/demand/{item_id}").json
    assert detail["signals"] == {"request": 1, "support": 0, "event": 0, "survey": 0}
    assert [h["action"] for h in detail["history"]] == ["created", "status"]
    assert detail["history"][1]["to_status"] == "scheduled"


def test_list_filters_and_sorts(client, ctx):
    inegi, _lucia, _liaison = _setup(client)
    other = make_institution("salud")
    a = items.file_request(citizen(), inegi, kind="publish", title="Uno", intended_use="research")[0]
    b = items.file_request(citizen(), inegi, kind="publish", title="Dos distinto", intended_use="research")[0]
    items.support(citizen(), b)
    items.file_request(citizen(), other, kind="publish", title="Tres", intended_use="research")
    by_support = client.get("/api/v1/demand?institution=inegi&sort=supporters").json
    assert [i["id"] for i in by_support["items"]] == [b.id, a.id]
    assert by_support["items"][0]["signals"]["support"] == 1 and by_support["has_more"] is False
    recent = client.get("/api/v1/demand?institution=inegi&sort=recent&per_page=1").json
    assert [i["id"] for i in recent["items"]] == [b.id] and recent["has_more"] is True
    assert client.get("/api/v1/demand?status=scheduled").json["items"] == []
    error_of(client.get("/api/v1/demand?sort=loudest"), 422)
    error_of(client.get("/api/v1/demand?institution=nope"), 422)


SEVEN_TITLES = [
    "Calidad del aire por estación",
    "Presupuesto ejercido por escuela",
    "Camas de hospital por clínica rural",
    "Cortes de agua potable por colonia",
    "Delitos denunciados por municipio",
    "Precios de vivienda nueva",
    "Rutas de transporte concesionado",
]


def _pagination(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.headers["X-Pagination"])


def test_the_list_has_x_pagination_and_page_size_like_its_neighbours(client, ctx, monkeypatch):
    """The events list's header and parameters, counted two pages ahead (instead of 10) here;
    the body keeps its shape and `per_page` still works for the clients that send it."""
    monkeypatch.setattr(items, "COUNTED_PAGES_AHEAD", 2)
    inegi = make_institution("inegi")
    person = citizen()
    ids = [
        items.file_request(person, inegi, kind="publish", title=title, intended_use="research")[0].id
        for title in SEVEN_TITLES
    ]
    newest_first = ids[::-1]
    first = client.get("/api/v1/demand?sort=recent&page_size=2")
    assert _pagination(first) == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 1,
        "next_page": 2,
        "total_exact": False,
    }
    assert set(first.json) == {"items", "page", "per_page", "has_more"}
    assert (first.json["page"], first.json["per_page"], first.json["has_more"]) == (1, 2, True)
    third = _pagination(client.get("/api/v1/demand?sort=recent&page_size=2&page=3"))
    assert (third["total"], third["last_page"], third["next_page"], third["total_exact"]) == (7, 4, 4, True)
    # Following next_page reaches every item exactly once.
    seen, page = [], 1
    while page is not None:
        response = client.get(f"/api/v1/demand?sort=recent&page_size=2&page={page}")
        seen += [item["id"] for item in response.json["items"]]
        page = _pagination(response).get("next_page")
    assert seen == newest_first
    # The former parameter name still sizes the page (and the header); page_size wins.
    old = client.get("/api/v1/demand?sort=recent&per_page=3")
    assert [i["id"] for i in old.json["items"]] == newest_first[:3] and old.json["per_page"] == 3
    assert _pagination(old)["next_page"] == 2
    both = client.get("/api/v1/demand?sort=recent&per_page=3&page_size=4").json
    assert both["per_page"] == 4 and len(both["items"]) == 4
    empty = _pagination(client.get("/api/v1/demand?status=scheduled"))
    assert empty == {"total": 0, "total_pages": 0, "total_exact": True}
    for bad in ("page_size=0", "page_size=101", "per_page=0", "page=0", "page=100001"):
        error_of(client.get(f"/api/v1/demand?{bad}"), 422)


def test_the_list_counts_a_bounded_number_of_rows(client, ctx):
    """The count is LIMITed to the pages ahead plus one row, not a count of every item."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert client.get("/api/v1/demand?page_size=2").status_code == 200
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
    counts = [s for s in statements if "count(" in s.lower() and "FROM demand_item" in s]
    assert len(counts) == 1 and "LIMIT" in counts[0].upper()


def test_the_openapi_document_describes_the_list_pagination(client):
    operation = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/demand"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"page", "page_size", "per_page"} <= names
    assert "X-Pagination" in operation["responses"]["200"]["headers"]
    assert "X-Pagination" in operation["description"] + operation.get("summary", "")


def test_bad_requests_are_clear_4xx(client, ctx):
    _inegi, lucia, _liaison = _setup(client)
    error_of(client.post("/api/v1/demand", json=BODY), 401)
    error_of(client.post("/api/v1/demand", json={**BODY, "kind": "wish"}, headers=lucia), 422)
    error_of(client.post("/api/v1/demand", json={**BODY, "institution": "nadie"}, headers=lucia), 422)
    error_of(client.post("/api/v1/demand", json={**BODY, "kind": "question"}, headers=lucia), 422)
    error_of(client.post("/api/v1/demand", json={**BODY, "dataset": 99999}, headers=lucia), 422)
    error_of(client.post("/api/v1/demand", data="{", content_type="application/json", headers=lucia), 400)
    error_of(client.get("/api/v1/demand/999999"), 404)
    error_of(client.post("/api/v1/demand/999999/support", headers=lucia), 404)
    # Unverified accounts get no token today; one issued while the address was confirmed
    # (then unconfirmed) must still be refused.
    unverified = make_user("nuevo@example.org", verified=True)
    headers = token_for(client, "nuevo@example.org")
    unverified.email_verified_at = None
    db.session.commit()
    error_of(client.post("/api/v1/demand", json=BODY, headers=headers), 403)


def test_merge_over_the_api(client, ctx):
    _inegi, lucia, liaison = _setup(client)
    a = client.post("/api/v1/demand", json=BODY, headers=lucia).json["id"]
    b = client.post("/api/v1/demand", json={**BODY, "title": "Siniestros viales"}, headers=lucia).json["id"]
    error_of(client.post(f"/api/v1/demand/{b}/merge", json={"into": a}, headers=lucia), 403)
    error_of(client.post(f"/api/v1/demand/{b}/merge", json={"into": 999999}, headers=liaison), 422)
    merged = client.post(f"/api/v1/demand/{b}/merge", json={"into": a}, headers=liaison)
    assert merged.status_code == 200 and merged.json["id"] == a and merged.json["supporters"] == 1
    assert client.get(f"/api/v1/demand/{b}").json["merged_into"] == a
    error_of(client.post(f"/api/v1/demand/{b}/support", headers=liaison), 409, "merged")


def test_comments_flag_hide(client, ctx, app):
    inegi, lucia, liaison = _setup(client)
    census = dataset(inegi, "Censo 2020")
    item_id = client.post("/api/v1/demand", json=BODY, headers=lucia).json["id"]
    posted = client.post(
        f"/api/v1/demand/{item_id}/comments", json={"body": "¿Para **cuándo**?"}, headers=lucia
    )
    assert posted.status_code == 201 and posted.json["official"] is False
    official = client.post(f"/api/v1/demand/{item_id}/comments", json={"body": "En enero."}, headers=liaison)
    assert official.json["official"] is True
    on_dataset = client.post(f"/api/v1/datasets/{census.id}/comments", json={"body": "Útil."}, headers=lucia)
    assert on_dataset.status_code == 201
    assert [c["body"] for c in client.get(f"/api/v1/datasets/{census.id}/comments").json] == ["Útil."]
    error_of(client.post(f"/api/v1/demand/{item_id}/comments", json={"body": "x" * 5001}, headers=lucia), 422)
    comment_id = posted.json["id"]
    ana = token_for(client, "ana@example.org")
    assert client.post(f"/api/v1/comments/{comment_id}/flag", headers=ana).status_code == 201
    assert client.post(f"/api/v1/comments/{comment_id}/flag", headers=ana).status_code == 200
    error_of(
        client.post(f"/api/v1/comments/{comment_id}/hide", json={"reason": "Ofensivo"}, headers=ana), 403
    )
    error_of(client.post(f"/api/v1/comments/{comment_id}/hide", json={}, headers=liaison), 422)
    hidden = client.post(
        f"/api/v1/comments/{comment_id}/hide", json={"reason": "Fuera de tema"}, headers=liaison
    )
    assert hidden.status_code == 200 and hidden.json["hidden"] is True and hidden.json["body"] is None
    listed = client.get(f"/api/v1/demand/{item_id}/comments").json
    assert listed[0] == {**listed[0], "body": None, "hidden": True, "hidden_reason": "Fuera de tema"}
    assert listed[1]["body"] == "En enero."
    # Editing: the author, within 15 minutes.
    edited = client.patch(
        f"/api/v1/comments/{official.json['id']}", json={"body": "En febrero."}, headers=liaison
    )
    assert edited.status_code == 200 and edited.json["edited_at"]
    error_of(client.patch(f"/api/v1/comments/{official.json['id']}", json={"body": "No"}, headers=lucia), 403)


def test_comments_are_rate_limited_per_person(client, ctx, app):
    _inegi, lucia, _liaison = _setup(client)
    app.config["LIMIT_COMMENTS_PER_PERSON"] = "3 per minute"
    item_id = client.post("/api/v1/demand", json=BODY, headers=lucia).json["id"]
    statuses = [
        client.post(f"/api/v1/demand/{item_id}/comments", json={"body": f"n{i}"}, headers=lucia).status_code
        for i in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    # Someone else still may.
    ana = token_for(client, "ana@example.org")
    assert (
        client.post(f"/api/v1/demand/{item_id}/comments", json={"body": "hola"}, headers=ana).status_code
        == 201
    )


def test_report_and_accountability(client, ctx):
    inegi, lucia, liaison = _setup(client)
    client.post("/api/v1/demand", json=BODY, headers=lucia)
    error_of(client.get("/api/v1/institutions/inegi/demand-report", headers=liaison), 404, "no_report")
    error_of(client.post("/api/v1/institutions/inegi/demand-report", headers=lucia), 403)
    assert client.post("/api/v1/institutions/inegi/demand-report", headers=liaison).status_code == 202
    from demand import reports

    reports.compute_report(inegi.id)
    db.session.commit()
    report = client.get("/api/v1/institutions/inegi/demand-report", headers=liaison).json
    assert report["computed_at"] and report["items"][0]["title"] == BODY["title"]
    assert report["items"][0]["supporters"] == 1 and report["items"][0]["signals"]["request"] == 1
    assert report["breakdowns"]["sector"]["cells"] == {"academia": None}
    figures = client.get("/api/v1/institutions/inegi/accountability").json
    assert figures == {
        "institution": "inegi",
        "received": 1,
        "answered": 0,
        "response_rate": 0.0,
        "median_working_days_to_answer": None,
        "within_deadline_rate": None,
        "overdue": 0,
    }
    national = client.get("/api/v1/accountability").json
    assert national[0]["institution"] == "inegi"


def test_openapi_document_is_valid_and_names_the_endpoints(client, ctx):
    spec = client.get("/api/v1/openapi.json").json
    validate(spec)
    for path in (
        "/api/v1/demand",
        "/api/v1/demand/{item_id}",
        "/api/v1/demand/{item_id}/support",
        "/api/v1/demand/{item_id}/follow",
        "/api/v1/demand/{item_id}/answer",
        "/api/v1/demand/{item_id}/merge",
        "/api/v1/demand/{item_id}/comments",
        "/api/v1/datasets/{dataset_id}/comments",
        "/api/v1/comments/{comment_id}/flag",
        "/api/v1/comments/{comment_id}/hide",
        "/api/v1/institutions/{slug}/demand-report",
        "/api/v1/institutions/{slug}/accountability",
    ):
        assert path in spec["paths"], path
