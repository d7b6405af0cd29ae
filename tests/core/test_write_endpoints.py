"""Writes need a body: every API write that takes a JSON body refuses a missing or non-JSON
one, and a caller without a token gets 401 before any validation."""

from __future__ import annotations

import re
from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import select

from core.extensions import db
from core.models import Institution
from events import services as event_services
from tests.factories import PASSWORD, make_event, make_institution, make_liaison, make_user

API = "/api/v1"
WRITES = ("post", "put", "patch")


def _headers(client, email: str) -> dict[str, str]:
    response = client.post(f"{API}/tokens", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json['token']}"}


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    return response.json["error"]


def test_an_outcome_put_without_a_json_body_keeps_the_minutes(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        event = make_event(inegi)
        event_id, after_the_end = event.id, event.ends_at + timedelta(hours=1)
    headers = _headers(client, "enlace@example.org")
    path = f"{API}/events/{event_id}/outcome"
    with freeze_time(after_the_end):
        saved = client.put(path, json={"minutes": "Acordamos publicar el padrón."}, headers=headers)
        assert saved.status_code == 200
        assert "JSON" in _error(client.put(path, headers=headers), 400)["message"]
        form = client.put(path, data="minutes=", headers=headers)
        assert _error(form, 415)["code"] == "unsupported_media_type"
        plain = client.put(path, data='{"minutes": ""}', content_type="text/plain", headers=headers)
        _error(plain, 415)
        _error(client.put(path, data="", content_type="application/json", headers=headers), 400)
    with app.app_context():
        assert event_services.get_event(event_id).outcome.minutes == "Acordamos publicar el padrón."


def test_401_comes_before_validation(app, client):
    with app.app_context():
        make_institution("inegi")
    for method, path in (("put", f"{API}/events/1/outcome"), ("post", f"{API}/events")):
        for kwargs in ({}, {"json": {"title": 7}}, {"data": "{", "content_type": "application/json"}):
            assert _error(client.open(path, method=method, **kwargs), 401)["code"] == "unauthorized"


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in WRITES:
                concrete = re.sub(r"\{[^}]*slug[^}]*\}", "inegi", path)
                yield method, re.sub(r"\{[^}]+\}", "1", concrete), operation


def test_every_write_endpoint_refuses_a_missing_or_non_json_body_after_authenticating(app, client):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
        make_user("admin@example.org", admin=True)
        institution = db.session.execute(select(Institution)).scalar_one()
        make_event(institution)
    admin = _headers(client, "admin@example.org")
    spec = client.get(f"{API}/openapi.json").json
    with_body = 0
    for method, path, operation in _operations(spec):
        secured = bool(operation.get("security"))
        for kwargs in ({}, {"data": "x=1"}, {"data": "[[[", "content_type": "application/json"}):
            anonymous = client.open(path, method=method, **kwargs)
            if secured:
                assert anonymous.status_code == 401, (method, path, kwargs, anonymous.status_code)
        body = operation.get("requestBody")
        if body is None:
            continue
        with_body += 1
        if list(body["content"]) == ["multipart/form-data"]:  # image uploads (core.images)
            _check_multipart_body(client, method, path, admin)
            continue
        assert list(body["content"]) == ["application/json"], (method, path)
        missing = client.open(path, method=method, headers={**admin, "Accept-Language": "en"})
        if body.get("required"):
            assert missing.status_code == 400, (method, path, missing.status_code)
            assert "JSON body" in missing.json["error"]["message"]
        not_json = client.open(path, method=method, data="a=1", content_type="text/plain", headers=admin)
        assert not_json.status_code == 415, (method, path, not_json.status_code)
        broken = client.open(path, method=method, data="{", content_type="application/json", headers=admin)
        assert broken.status_code == 400, (method, path, broken.status_code)
        assert broken.json["error"]["code"] == "bad_request"
    assert with_body >= 10


def _check_multipart_body(client, method: str, path: str, headers: dict[str, str]) -> None:
    """An upload refuses a missing body (400) and one that is not multipart/form-data (415)."""
    missing = client.open(path, method=method, headers=headers)
    assert missing.status_code == 400, (method, path, missing.status_code)
    assert "multipart/form-data" in missing.json["error"]["message"]
    for kwargs in ({"data": "a=1", "content_type": "text/plain"}, {"json": {"alt": "x"}}):
        refused = client.open(path, method=method, headers=headers, **kwargs)
        assert refused.status_code == 415, (method, path, kwargs, refused.status_code)


def test_every_api_write_route_is_in_the_openapi_document(app, client):
    """The walk above covers every write endpoint only if each one is documented."""
    documented = {
        (method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
        for path, item in client.get(f"{API}/openapi.json").json["paths"].items()
        for method in item
    }
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        path = re.sub(r"<[^>]+>", "{}", rule.rule)
        for method in (rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}:
            assert (method, path) in documented, (method, rule.rule)


def test_an_optional_body_may_be_left_out_but_not_sent_as_text(app, client):
    """Registering without questions needs no body; a body that is not JSON is still refused."""
    with app.app_context():
        inegi = make_institution("inegi")
        event_id = make_event(inegi).id
        make_user("ana@example.org")
    headers = _headers(client, "ana@example.org")
    path = f"{API}/events/{event_id}/registration"
    _error(client.post(path, data="answers", content_type="text/plain", headers=headers), 415)
    assert client.post(path, data="", content_type="application/json", headers=headers).status_code == 201
    assert client.post(path, headers=headers).status_code == 409  # already registered, body or not


def test_the_openapi_document_describes_the_errors_and_the_pagination_header(app, client):
    from openapi_spec_validator import validate

    spec = client.get(f"{API}/openapi.json").json
    validate(spec)
    responses = spec["components"]["responses"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            documented = operation["responses"]
            expected = {"400", "401"}
            if operation.get("security"):
                expected.add("403")
            if "{" in path:
                expected.add("404")
            if "requestBody" in operation:
                expected |= {"413", "415", "422"}
            if method != "get":
                expected.add("409")
            assert expected <= set(documented), (method, path, expected - set(documented))
            for status in expected:
                name = documented[status]["$ref"].rsplit("/", 1)[-1]
                schema = responses[name]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
            paginated = any(p.get("name") == "page_size" for p in operation.get("parameters", []))
            if paginated:
                header = documented["200"]["headers"]["X-Pagination"]
                assert header == {"$ref": "#/components/headers/PAGINATION"}
    pagination = spec["components"]["headers"]["PAGINATION"]
    assert pagination["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PaginationMetadata"
    }


def test_list_endpoints_answer_the_documented_pagination_header(app, client):
    import json

    with app.app_context():
        inegi = make_institution("inegi")
        for _ in range(3):
            make_event(inegi)
    answer = client.get(f"{API}/events?page=2&page_size=2")
    assert answer.status_code == 200 and len(answer.json) == 1
    metadata = json.loads(answer.headers["X-Pagination"])
    assert metadata == {
        "total": 3,
        "total_pages": 2,
        "first_page": 1,
        "last_page": 2,
        "page": 2,
        "previous_page": 1,
        "total_exact": True,
    }
    stories = client.get(f"{API}/stories")
    assert json.loads(stories.headers["X-Pagination"]) == {"total": 0, "total_pages": 0, "total_exact": True}
