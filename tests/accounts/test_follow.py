"""Following an institution: page button, API, one row per person."""

from __future__ import annotations

from accounts import services
from core.extensions import db
from core.models import InstitutionFollow
from tests.factories import PASSWORD, login, make_institution, make_user


def test_follow_and_unfollow_from_the_page(app, client):
    with app.app_context():
        make_institution("inegi", name="Instituto Nacional de Estadística")
        make_user("ana@example.org")
    login(client, "ana@example.org")
    page = client.get("/institutions/inegi").get_data(as_text=True)
    assert "Seguir a la institución" in page
    client.post("/institutions/inegi/follow", data={"action": "follow"})
    client.post("/institutions/inegi/follow", data={"action": "follow"})  # twice: still one
    page = client.get("/institutions/inegi").get_data(as_text=True)
    assert "Dejar de seguir" in page
    with app.app_context():
        assert db.session.query(InstitutionFollow).count() == 1
        follow = db.session.query(InstitutionFollow).one()
        assert services.follower_ids(follow.institution_id) == [follow.user_id]
    client.post("/institutions/inegi/follow", data={"action": "unfollow"})
    with app.app_context():
        assert db.session.query(InstitutionFollow).count() == 0


def test_follow_through_the_api(app, client):
    with app.app_context():
        make_institution("inegi")
        make_user("ana@example.org")
    token = client.post("/api/v1/tokens", json={"email": "ana@example.org", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    assert client.post("/api/v1/institutions/inegi/follow", headers=headers).status_code == 201
    again = client.post("/api/v1/institutions/inegi/follow", headers=headers)
    assert again.status_code == 200 and again.get_json() == {"following": True}
    assert client.delete("/api/v1/institutions/inegi/follow", headers=headers).status_code == 204
    assert client.post("/api/v1/institutions/nope/follow", headers=headers).status_code == 404
    assert client.post("/api/v1/institutions/inegi/follow").status_code == 401
