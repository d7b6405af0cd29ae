"""Bad input and abuse get clear refusals, never a 500 or a side door."""

from __future__ import annotations

import io
import threading

from sqlalchemy import func, select

from accounts import services
from core.extensions import db
from core.models import Institution, Membership, User
from notifications.models import Notification
from tests.factories import PASSWORD, deliver_outbox, login, make_institution, make_liaison, make_user


def test_huge_ids_are_404_not_database_errors(app, client):
    with app.app_context():
        make_user("a@example.org")
        make_institution("inegi")
    login(client, "a@example.org")
    assert client.post("/profile/tokens/3000000000/revoke").status_code == 404
    assert client.post("/institutions/inegi/members/99999999999999999999/remove").status_code == 404
    token = client.post("/api/v1/tokens", json={"email": "a@example.org", "password": PASSWORD}).json["token"]
    response = client.delete("/api/v1/tokens/3000000000", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_nul_characters_are_refused_with_400(app, client):
    form = {
        "name": "Ana\x00",
        "email": "a@example.org",
        "password": "Mariposa-monarca-2026",
        "sector": "citizen",
        "accept_privacy": "y",
    }
    assert client.post("/signup", data=form).status_code == 400
    response = client.post("/api/v1/tokens", json={"email": "a@example.org", "password": "x\u0000y"})
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_request"
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 0


def test_line_breaks_in_a_name_cannot_inject_mail_headers(app, client, mail_dir):
    form = {
        "name": "Ana\r\nBcc: x@evil.example",
        "email": "a@example.org",
        "password": "Mariposa-monarca-2026",
        "sector": "citizen",
        "accept_privacy": "y",
    }
    refused = client.post("/signup", data=form)
    assert refused.status_code == 422
    assert "Escríbelo en una sola línea" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(User.name)).scalar_one_or_none() is None
    assert client.post("/signup", data={**form, "name": "Ana"}).status_code == 200
    with app.app_context():
        deliver_outbox()
    raw = next(mail_dir.glob("*.eml")).read_bytes()
    assert b"\nBcc:" not in raw


def test_international_domains_are_stored_as_punycode(app, client, mail_dir):
    form = {
        "name": "Ana",
        "email": "ana@ñandú.mx",
        "password": "Mariposa-monarca-2026",
        "sector": "citizen",
        "accept_privacy": "y",
    }
    assert client.post("/signup", data=form).status_code == 200
    with app.app_context():
        assert db.session.execute(select(User.email)).scalar_one() == "ana@xn--and-6ma2c.mx"
        deliver_outbox()
        assert db.session.execute(select(Notification.status)).scalar_one() == "sent"
    refused = client.post("/signup", data={**form, "email": "ñandú@example.org"})
    assert refused.status_code == 422


def test_a_message_that_cannot_be_built_fails_for_good(app, ctx):
    from notifications.services import send_notification

    user = make_user("a@example.org")
    row = Notification(
        user_id=user.id,
        to_email="a@example.org\r\nBcc: b@example.org",
        to_name="A",
        kind="x",
        locale="es_MX",
        subject="S",
        body_text="t",
        body_html="h",
        dedupe_key="broken",
    )
    db.session.add(row)
    db.session.commit()
    assert send_notification(row.id) == ("failed", None)
    assert send_notification(row.id) == ("skipped", None)


def test_logo_must_really_be_an_image(app, client):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
    login(client, "enlace@example.org")
    response = client.post(
        "/institutions/inegi/edit",
        data={
            "name": "INEGI",
            "slug": "inegi",
            "government_order": "autonomous",
            "timezone": "America/Mexico_City",
            "logo": (io.BytesIO(b"<html><script>alert(1)</script>"), "logo.png", "image/png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "Sube una imagen JPEG, PNG o WebP." in response.get_data(
        as_text=True
    )
    assert client.get("/institutions/inegi/logo").status_code == 404


def test_resending_verification_is_rate_limited(app, client):
    app.config["LIMIT_AUTH_PER_ACCOUNT"] = "3 per minute"
    with app.app_context():
        make_user("a@example.org", verified=False)
    login(client, "a@example.org")  # the login counts against the same account budget
    codes = [client.post("/profile/verify").status_code for _ in range(3)]
    assert codes == [302, 302, 429]


def test_password_guessing_budget_is_shared_by_web_and_api(app, client):
    app.config["LIMIT_AUTH_PER_ACCOUNT"] = "3 per minute"
    with app.app_context():
        make_user("a@example.org")
    for _ in range(2):
        client.post("/login", data={"email": "a@example.org", "password": "equivocada-1"})
    assert client.post("/api/v1/tokens", json={"email": "a@example.org", "password": "x"}).status_code == 401
    assert client.post("/api/v1/tokens", json={"email": "a@example.org", "password": "x"}).status_code == 429


def test_cli_refuses_a_bad_slug(app):
    result = app.test_cli_runner().invoke(args=["institutions", "create", "Bad Slug/x", "--name", "X"])
    assert result.exit_code != 0
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Institution)).scalar_one() == 0


def test_deleting_an_account_erases_invitations_to_its_address(app, client):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
    login(client, "enlace@example.org")
    client.post("/institutions/inegi/members", data={"email": "nueva@example.org", "role": "staff"})
    with app.app_context():
        user = make_user("nueva@example.org")
        exported = services.export_personal_data(user)
        assert len(exported["emails"]) == 1 and exported["invitations"][0]["institution"] == "inegi"
        services.delete_account(user, PASSWORD)
        addresses = db.session.execute(select(Notification.to_email)).scalars().all()
        assert "nueva@example.org" not in addresses
        from accounts.models import Invitation

        assert db.session.execute(select(Invitation.email)).scalar_one().endswith("@invalid")


def test_two_liaisons_removing_each_other_at_once_leave_one(app):
    with app.app_context():
        inegi = make_institution("inegi")
        a = make_liaison(inegi, "a@example.org")
        b = make_liaison(inegi, "b@example.org")
        pairs = [(a.id, b.id), (b.id, a.id)]
    barrier = threading.Barrier(2)
    outcomes = []

    def remove(actor_id, target_id):
        with app.app_context():
            actor = db.session.get(User, actor_id)
            membership = db.session.execute(
                select(Membership).where(Membership.user_id == target_id)
            ).scalar_one()
            db.session.rollback()  # start the race from a clean transaction
            barrier.wait()
            try:
                membership = db.session.merge(membership)
                services.remove_member(db.session.merge(actor), membership)
                outcomes.append("removed")
            except services.DomainError:
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=remove, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Membership)).scalar_one() == 1
    assert sorted(outcomes) == ["refused", "removed"]
