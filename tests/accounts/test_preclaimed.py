"""No pre-claimed accounts: an unverified account gets no API token and cannot join an
institution, and a password reset or change revokes every API token and private calendar
link (the person is told by email and in the notification centre, and can make new ones)."""

from __future__ import annotations

from sqlalchemy import func, select

from accounts import services
from core.extensions import db
from core.models import ApiToken, AuditEntry, Membership
from events import feed_services
from events.feed_models import CalendarFeedToken
from notifications.models import InAppNotification
from tests.factories import (
    PASSWORD,
    deliver_outbox,
    first_link,
    login,
    mails_to,
    make_institution,
    make_liaison,
    make_user,
    read_mails,
    run_queued_tasks,
)

NEW_PASSWORD = "Nuevo-jaguar-de-Chiapas-7"
OFFICIAL = "titular@inegi.example.org"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_unverified_account_gets_no_api_token(app, client):
    with app.app_context():
        make_user(OFFICIAL, verified=False)
    response = client.post("/api/v1/tokens", json={"email": OFFICIAL, "password": PASSWORD})
    assert response.status_code == 403 and response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "email_not_verified" and "Confirma tu correo" in error["message"]
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(ApiToken)).scalar_one() == 0


def test_the_tokens_page_refuses_an_unverified_account(app, client):
    with app.app_context():
        make_user(OFFICIAL, verified=False)
    login(client, OFFICIAL)
    page = client.get("/profile/tokens").get_data(as_text=True)
    assert "Confirma tu correo electrónico antes de crear tokens de la API" in page
    assert 'name="name"' not in page  # no creation form
    refused = client.post("/profile/tokens", data={"name": "script"})
    assert refused.status_code == 403
    body = refused.get_data(as_text=True)
    assert "Confirma tu correo electrónico antes de crear tokens de la API." in body and "pmv_" not in body
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(ApiToken)).scalar_one() == 0


def test_an_unverified_account_gets_no_calendar_link(app, client):
    with app.app_context():
        make_user(OFFICIAL, verified=False)
    login(client, OFFICIAL)
    page = client.post("/profile/calendar", data={}, follow_redirects=True).get_data(as_text=True)
    assert "Confirma tu correo electrónico antes de crear tu enlace de calendario." in page
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(CalendarFeedToken)).scalar_one() == 0
    token_refused = client.post("/api/v1/tokens", json={"email": OFFICIAL, "password": PASSWORD})
    assert token_refused.status_code == 403


def test_an_unverified_account_cannot_accept_an_invitation(app, client, mail_dir):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
        make_user(OFFICIAL, verified=False)
    login(client, "enlace@example.org")
    client.post("/institutions/inegi/members", data={"email": OFFICIAL, "role": "liaison"})
    with app.app_context():
        deliver_outbox()
    link = first_link(mails_to(mail_dir, OFFICIAL)[0], "/invitations/").replace("http://promueve.test", "")

    squatter = app.test_client()
    login(squatter, OFFICIAL)
    page = squatter.get(link).get_data(as_text=True)
    assert "Confirma tu correo electrónico antes de aceptar la invitación" in page
    assert "Aceptar invitación" not in page
    refused = squatter.post(link, follow_redirects=True).get_data(as_text=True)
    assert "Confirma tu correo electrónico antes de aceptar la invitación" in refused
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Membership)).scalar_one() == 1
        user = services.find_user(OFFICIAL)
        assert not user.is_verified  # the invitation did not verify the squatter either


def _credentials_of(app, client, email: str) -> tuple[str, str]:
    """An API token (through the API) and a private calendar link (through the page)."""
    token = client.post("/api/v1/tokens", json={"email": email, "password": PASSWORD}).get_json()["token"]
    login(client, email)
    client.post("/profile/calendar")
    with app.app_context():
        user = services.find_user(email)
        raw = feed_services.shown_token(feed_services.active_feed_token(user))
    client.post("/logout")
    return token, raw


def test_a_password_reset_revokes_every_token_and_calendar_link(app, client, mail_dir):
    # Someone signed up with the official's address before the official, kept its token
    # and calendar link; the official resets the password and takes the account back.
    with app.app_context():
        make_user(OFFICIAL, verified=True)
    token, calendar = _credentials_of(app, client, OFFICIAL)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert client.get(f"/calendar/{calendar}.ics").status_code == 200

    owner = app.test_client()
    owner.post("/password/forgot", data={"email": OFFICIAL})
    with app.app_context():
        run_queued_tasks()
        deliver_outbox()
    link = first_link(mails_to(mail_dir, OFFICIAL)[-1], "/password/reset/").replace(
        "http://promueve.test", ""
    )
    assert owner.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302

    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert client.get(f"/calendar/{calendar}.ics").status_code == 404
    _assert_told_and_can_start_again(app, mail_dir, reason="password_reset")


def test_a_password_change_revokes_every_token_and_calendar_link(app, client, mail_dir):
    with app.app_context():
        make_user(OFFICIAL)
    token, calendar = _credentials_of(app, client, OFFICIAL)
    login(client, OFFICIAL)
    response = client.post(
        "/profile/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    flashed = client.get("/profile").get_data(as_text=True)
    assert "revocamos tus tokens de la API y tu enlace privado de calendario" in flashed
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert client.get(f"/calendar/{calendar}.ics").status_code == 404
    _assert_told_and_can_start_again(app, mail_dir, reason="password_changed")


def _assert_told_and_can_start_again(app, mail_dir, *, reason: str) -> None:
    with app.app_context():
        deliver_outbox()
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "credentials.revoke")
        ).scalar_one()
        assert entry.details["reason"] == reason
        assert entry.details["api_tokens"] == 1 and entry.details["calendar_links"] == 1
        notice = db.session.execute(select(InAppNotification)).scalar_one()
        assert notice.kind == "account.password_changed" and notice.link.endswith("/profile/tokens")
    [mail] = [m for m in mails_to(mail_dir, OFFICIAL) if m["Subject"].startswith("La contraseña de tu")]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "tokens de la API revocados: 1" in text and "enlaces privados de calendario revocados: 1" in text
    assert "http://promueve.test/profile/tokens" in text and "http://promueve.test/profile/calendar" in text

    # New ones work.
    fresh = app.test_client()
    created = fresh.post("/api/v1/tokens", json={"email": OFFICIAL, "password": NEW_PASSWORD})
    assert created.status_code == 201
    assert fresh.get("/api/v1/me", headers=bearer(created.get_json()["token"])).status_code == 200
    login(fresh, OFFICIAL, NEW_PASSWORD)
    assert fresh.post("/profile/calendar").status_code == 302
    with app.app_context():
        raw = feed_services.shown_token(feed_services.active_feed_token(services.find_user(OFFICIAL)))
    assert fresh.get(f"/calendar/{raw}.ics").status_code == 200


def test_the_password_changed_email_is_in_english_for_english_speakers(app, ctx, mail_dir):
    user = make_user("luis@example.org")
    user.locale = "en"
    db.session.commit()
    services.change_password(user, PASSWORD, NEW_PASSWORD)
    deliver_outbox()
    [mail] = read_mails(mail_dir)
    assert mail["Subject"] == "The password of your Promueve account changed"
    assert "API tokens revoked: 0" in mail.get_body(preferencelist=("plain",)).get_content()
