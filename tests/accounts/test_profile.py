"""Profile, language, data download and account deletion (ARCO)."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from core.extensions import db
from core.models import AuditEntry, Membership, User
from notifications.models import Notification
from tests.factories import (
    PASSWORD,
    deliver_outbox,
    login,
    make_institution,
    make_liaison,
    make_user,
    run_queued_tasks,
)


def test_profile_edit_changes_language_and_time_zone(app, client):
    with app.app_context():
        make_user("luis@example.org", name="Luis")
    login(client, "luis@example.org")
    response = client.post(
        "/profile",
        data={
            "name": "Luis Ángel",
            "sector": "journalism",
            "state": "",
            "locale": "en",
            "timezone": "America/Tijuana",
        },
    )
    assert response.status_code == 302
    page = client.get("/profile").get_data(as_text=True)
    assert "My profile" in page and 'lang="en"' in page
    with app.app_context():
        user = db.session.execute(select(User)).scalar_one()
        assert (user.name, user.locale, user.timezone, user.sector) == (
            "Luis Ángel",
            "en",
            "America/Tijuana",
            "journalism",
        )


def test_profile_refuses_unknown_time_zone(app, client):
    with app.app_context():
        make_user("luis@example.org")
    login(client, "luis@example.org")
    response = client.post(
        "/profile", data={"name": "Luis", "sector": "citizen", "locale": "es_MX", "timezone": "Mars/Olympus"}
    )
    assert response.status_code == 200
    assert 'id="timezone-error"' in response.get_data(as_text=True)


def test_download_my_data_holds_everything_about_me(app, client):
    with app.app_context():
        institution = make_institution("inegi")
        make_liaison(institution, "luis@example.org")
    login(client, "luis@example.org")
    client.post("/profile/tokens", data={"name": "reportes"})
    response = client.get("/profile/data.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["account"]["email"] == "luis@example.org"
    assert data["account"]["privacy_notice"]["version"] is None  # created by an operator, not by sign-up
    assert data["memberships"] == [
        {"institution": "inegi", "role": "liaison", "since": data["memberships"][0]["since"]}
    ]
    assert data["api_tokens"][0]["name"] == "reportes"
    assert "token_hash" not in json.dumps(data)
    assert set(data["notifications"]["preferences"]) >= {
        "events",
        "surveys",
        "challenges",
        "answers",
        "institution",
    }


def test_delete_account_erases_personal_data_and_keeps_counts(app, client):
    with app.app_context():
        institution = make_institution("inegi")
        make_liaison(institution, "jefa@example.org")
        make_liaison(institution, "luis@example.org", role="staff")
    login(client, "luis@example.org")
    client.post("/password/forgot", data={"email": "luis@example.org"})
    with app.app_context():
        run_queued_tasks()  # the reset email: its copy in the outbox must be erased too
    wrong = client.post("/profile/delete", data={"password": "no-es-la-buena", "confirm": "y"})
    assert wrong.status_code == 200 and "no es correcta" in wrong.get_data(as_text=True)

    response = client.post("/profile/delete", data={"password": PASSWORD, "confirm": "y"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 2
        erased = db.session.execute(select(User).where(User.deleted_at.is_not(None))).scalar_one()
        assert erased.name == "" and erased.email.endswith("@invalid") and erased.state is None
        assert db.session.execute(select(func.count()).select_from(Membership)).scalar_one() == 1
        mail = db.session.execute(select(Notification).where(Notification.user_id == erased.id)).scalar_one()
        assert mail.to_email == erased.email and mail.body_text == ""
        actions = db.session.execute(select(AuditEntry.action)).scalars().all()
        assert "user.delete" in actions
        deliver_outbox()
    assert client.get("/profile").status_code == 302
    assert login(client, "luis@example.org").status_code == 422


def test_api_tokens_page_creates_and_revokes(app, client):
    with app.app_context():
        make_user("luis@example.org")
    login(client, "luis@example.org")
    page = client.post("/profile/tokens", data={"name": "script"}).get_data(as_text=True)
    assert "pmv_" in page
    token = page.split("<code>")[1].split("</code>")[0]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with app.app_context():
        from core.models import ApiToken

        stored = db.session.execute(select(ApiToken)).scalar_one()
        assert token not in (stored.token_hash, stored.prefix)
        token_id = stored.id
    client.post(f"/profile/tokens/{token_id}/revoke")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_someone_elses_token_cannot_be_revoked(app, client):
    with app.app_context():
        from accounts.services import issue_api_token

        owner = make_user("owner@example.org")
        token, _ = issue_api_token(owner, "mine")
        token_id = token.id
        make_user("luis@example.org")
    login(client, "luis@example.org")
    client.get("/profile")  # shows (and so clears) the welcome message
    # Exactly like a token that does not exist: the answer does not reveal that it does.
    theirs = client.post(f"/profile/tokens/{token_id}/revoke")
    missing = client.post("/profile/tokens/999999/revoke")
    assert theirs.status_code == missing.status_code == 404
    # The same page but for the address itself (the language switch returns to it).
    from tests.factories import without_csrf

    def page(response, path):
        return without_csrf(response.get_data(as_text=True).replace(path, "P"))

    assert page(theirs, f"/profile/tokens/{token_id}/revoke") == page(
        missing, "/profile/tokens/999999/revoke"
    )
    with app.app_context():
        from core.models import ApiToken

        assert db.session.get(ApiToken, token_id).revoked_at is None
