"""The JSON API: tokens, me, institutions, and one error shape for every failure."""

from __future__ import annotations

from openapi_spec_validator import validate
from sqlalchemy import select

from core.extensions import db
from core.models import ApiToken
from tests.factories import PASSWORD, make_institution, make_liaison, make_user


def token_for(client, email: str) -> str:
    response = client.post("/api/v1/tokens", json={"email": email, "password": PASSWORD, "name": "tests"})
    assert response.status_code == 201, response.json
    return response.json["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert error["code"] == code and error["message"]
    return error


def test_token_lifecycle_and_me(app, client):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
    token = token_for(client, "enlace@example.org")
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json["email"] == "enlace@example.org"
    assert me.json["memberships"] == [{"institution": "inegi", "role": "liaison"}]
    listed = client.get("/api/v1/tokens", headers=bearer(token)).json
    assert [t["name"] for t in listed] == ["tests"] and "token" not in listed[0]
    with app.app_context():
        stored = db.session.execute(select(ApiToken)).scalar_one()
        assert stored.token_hash != token and len(stored.token_hash) == 64
    assert client.delete(f"/api/v1/tokens/{listed[0]['id']}", headers=bearer(token)).status_code == 204
    assert_error(client.get("/api/v1/me", headers=bearer(token)), 401, "unauthorized")


def test_malformed_json_is_400(app, client):
    response = client.post("/api/v1/tokens", data="{not json", content_type="application/json")
    error = assert_error(response, 400, "bad_request")
    assert "JSON" in error["message"]


def test_missing_and_bad_tokens_are_401(app, client):
    assert_error(client.get("/api/v1/me"), 401, "unauthorized")
    assert_error(client.get("/api/v1/me", headers=bearer("pmv_forged")), 401, "unauthorized")
    assert_error(client.get("/api/v1/me", headers={"Authorization": "Basic abc"}), 401, "unauthorized")
    response = client.get("/api/v1/me")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_credentials_are_401(app, client):
    with app.app_context():
        make_user("a@example.org")
    response = client.post("/api/v1/tokens", json={"email": "a@example.org", "password": "incorrecta-123"})
    assert_error(response, 401, "invalid_credentials")


def test_validation_errors_are_422_with_fields(app, client):
    error = assert_error(client.post("/api/v1/tokens", json={"email": "nope"}), 422, "validation_error")
    assert set(error["fields"]) == {"email", "password"}


def test_unknown_resources_are_404(app, client):
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(client.get("/api/v1/institutions/nope"), 404, "not_found")


def test_method_not_allowed_is_json(app, client):
    assert_error(client.put("/api/v1/me"), 405, "method_not_allowed")


def test_liaison_gets_403_on_another_institution(app, client):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
        make_liaison(make_institution("sep"), "enlace.sep@example.org")
    token = token_for(client, "enlace@example.org")
    assert client.get("/api/v1/institutions/inegi/members", headers=bearer(token)).status_code == 200
    assert_error(client.get("/api/v1/institutions/sep/members", headers=bearer(token)), 403, "forbidden")
    response = client.post(
        "/api/v1/institutions/sep/invitations",
        json={"email": "x@example.org", "role": "staff"},
        headers=bearer(token),
    )
    assert_error(response, 403, "forbidden")
    created = client.post(
        "/api/v1/institutions/inegi/invitations",
        json={"email": "x@example.org", "role": "staff"},
        headers=bearer(token),
    )
    assert created.status_code == 201 and created.json["email"] == "x@example.org"


def test_someone_elses_token_cannot_be_revoked(app, client):
    with app.app_context():
        make_user("a@example.org")
        make_user("b@example.org")
    token_a = token_for(client, "a@example.org")
    token_b = token_for(client, "b@example.org")
    id_b = client.get("/api/v1/tokens", headers=bearer(token_b)).json[0]["id"]
    # Exactly like a token that does not exist: the answer does not reveal that it does.
    theirs = client.delete(f"/api/v1/tokens/{id_b}", headers=bearer(token_a))
    missing = client.delete("/api/v1/tokens/999999", headers=bearer(token_a))
    assert_error(theirs, 404, "not_found")
    assert theirs.status_code == missing.status_code and theirs.get_json() == missing.get_json()
    assert client.get("/api/v1/me", headers=bearer(token_b)).status_code == 200


def test_admin_creates_institution_and_conflict_is_409(app, client):
    with app.app_context():
        make_user("admin@example.org", admin=True)
        make_user("nadie@example.org")
    admin = token_for(client, "admin@example.org")
    body = {"slug": "conagua", "name": "Comisión Nacional del Agua", "acronym": "CONAGUA"}
    created = client.post("/api/v1/institutions", json=body, headers=bearer(admin))
    assert created.status_code == 201 and created.json["slug"] == "conagua"
    error = assert_error(
        client.post("/api/v1/institutions", json=body, headers=bearer(admin)), 409, "conflict"
    )
    assert "slug" in error["fields"]
    bad = client.post("/api/v1/institutions", json={**body, "slug": "Mal Slug"}, headers=bearer(admin))
    assert "slug" in assert_error(bad, 422, "validation_error")["fields"]
    nobody = token_for(client, "nadie@example.org")
    assert_error(client.post("/api/v1/institutions", json=body, headers=bearer(nobody)), 403, "forbidden")
    assert [i["slug"] for i in client.get("/api/v1/institutions").json] == ["conagua"]


def test_openapi_document_validates(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    validate(spec)
    assert "/api/v1/tokens" in spec["paths"] and "/api/v1/me" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # An operation's own description of an error is kept (not replaced by the generic one).
    delete = spec["paths"]["/api/v1/events/{event_id}"]["delete"]["responses"]
    assert "illegal_transition" in delete["409"]["description"]
    assert delete["404"] == {"$ref": "#/components/responses/NOT_FOUND"}


def test_api_never_answers_html_on_server_error(app, client, monkeypatch):
    from accounts import services

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "active_tokens", explode)
    with app.app_context():
        make_user("a@example.org")
    token = token_for(client, "a@example.org")
    assert_error(client.get("/api/v1/tokens", headers=bearer(token)), 500, "server_error")
