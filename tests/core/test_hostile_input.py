"""Hostile input gets a 4xx, never a 500: NUL bytes in paths, absurd JSON bodies."""

from __future__ import annotations

import re

import pytest

from tests.factories import PASSWORD, login, make_institution, make_liaison, make_user

API = "/api/v1"


PLACEHOLDER = re.compile(r"<(?:(?P<converter>[^:>]+):)?(?P<name>[^>]+)>")


def _paths_with_nul(app) -> list[tuple[str, str]]:
    """(method, path) for every rule and method, with "%00" in each variable in turn."""
    requests = []
    for rule in app.url_map.iter_rules():
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        for poisoned in sorted(rule.arguments):

            def value(match, poisoned=poisoned):
                if match["name"] == poisoned:
                    return "%00"
                return "1" if match["converter"] == "id" else "inegi"

            path = PLACEHOLDER.sub(value, rule.rule)
            requests.extend((method, path) for method in methods)
    return requests


def _send(client, method: str, path: str, headers=None):
    if method in ("POST", "PUT", "PATCH") and path.startswith(API):
        return client.open(path, method=method, json={}, headers=headers)
    return client.open(path, method=method, headers=headers)


def test_a_nul_byte_in_any_path_segment_is_a_4xx_for_anyone(app, client):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
        make_user("admin@example.org", admin=True)
    paths = _paths_with_nul(app)
    assert len(paths) > 20
    failures = []
    anonymous = app.test_client()
    for method, path in paths:
        status = _send(anonymous, method, path).status_code
        if status >= 500:
            failures.append(("anonymous", method, path, status))
    for email in ("enlace@example.org", "admin@example.org"):
        browser = app.test_client()
        login(browser, email)
        token = browser.post(f"{API}/tokens", json={"email": email, "password": PASSWORD}).json["token"]
        for method, path in paths:
            status = _send(browser, method, path, {"Authorization": f"Bearer {token}"}).status_code
            if status >= 500:
                failures.append((email, method, path, status))
    assert failures == []


def _token(client) -> dict[str, str]:
    response = client.post(f"{API}/tokens", json={"email": "enlace@example.org", "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json['token']}"}


HOSTILE_BODIES = {
    "deeply nested arrays": "[" * 100_000 + "]" * 100_000,
    "deeply nested objects": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "nested deeper than any schema": '{"email": ' + "[" * 200 + "]" * 200 + "}",
    "a 5,000-digit integer": '{"email": "a@example.org", "password": "x", "name": ' + "9" * 5000 + "}",
    "a 5,000-digit negative integer": '{"email": "a@example.org", "password": ' + "-" + "7" * 5000 + "}",
    "a 5,000-digit float": '{"email": "a@example.org", "password": "x", "name": 1.' + "5" * 5000 + "}",
    "NaN": '{"email": "a@example.org", "password": NaN}',
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_absurd_json_bodies_are_400_json_errors(app, client, body):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
    headers = _token(client)
    for path, method, auth in (
        (f"{API}/tokens", "POST", None),
        (f"{API}/events", "POST", headers),
        (f"{API}/notification-preferences", "PUT", headers),
    ):
        response = client.open(path, method=method, data=body, content_type="application/json", headers=auth)
        assert response.status_code == 400, (
            path,
            response.status_code,
            response.get_data(as_text=True)[:200],
        )
        assert response.mimetype == "application/json"
        assert response.json["error"]["code"] == "bad_request"
        assert "JSON" in response.json["error"]["message"]


def test_ordinary_numbers_and_nesting_still_work(app, client):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
    headers = _token(client)
    answer = client.put(
        f"{API}/notification-preferences", json={"events": "daily", "surveys": "email"}, headers=headers
    )
    assert answer.status_code == 200 and answer.json["events"] == "daily"
    # A number too big for any field is a validation error of that field, not a crash.
    from tests.events.test_api import payload

    big = client.post(f"{API}/events", json=payload(capacity=10**17), headers=headers)
    assert big.status_code == 422 and "capacity" in big.json["error"]["fields"]
