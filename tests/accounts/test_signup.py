"""Sign-up, verification, login, logout and password reset, as a person meets them."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import func, select

from core.extensions import db
from core.models import User
from core.timeutil import utcnow
from tests.factories import (
    PASSWORD,
    deliver_outbox,
    first_link,
    login,
    make_user,
    read_mails,
    run_queued_tasks,
    without_csrf,
)

GOOD = {
    "name": "Ana Pérez",
    "email": "Ana.Perez@Example.org",
    "password": "Mariposa-monarca-2026",
    "sector": "academia",
    "state": "Oaxaca",
    "accept_privacy": "y",
}


def user_count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(User)).scalar_one()


def test_signup_sends_verification_link_that_verifies(app, client, mail_dir):
    response = client.post("/signup", data=GOOD)
    assert response.status_code == 200
    assert "Revisa tu correo" in response.get_data(as_text=True)
    with app.app_context():
        user = db.session.execute(select(User)).scalar_one()
        assert user.email == "ana.perez@example.org"
        assert user.email_verified_at is None
        assert user.privacy_version == app.config["PRIVACY_NOTICE_VERSION"]
        assert user.privacy_accepted_at is not None
        assert user.state == "Oaxaca"
        assert user.password_hash.startswith("$argon2id$")
        assert deliver_outbox() == 1
    [message] = read_mails(mail_dir)
    assert message["To"].addresses[0].addr_spec == "ana.perez@example.org"
    assert message["Content-Language"] == "es-MX"
    link = first_link(message, "/verify/")
    response = client.get(link.replace("http://promueve.test", ""), follow_redirects=True)
    assert "quedó verificado" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(User)).scalar_one().email_verified_at is not None


def test_verification_link_expires_after_48_hours(app, client, mail_dir):
    with freeze_time(utcnow()) as frozen:
        client.post("/signup", data=GOOD)
        with app.app_context():
            deliver_outbox()
        link = first_link(read_mails(mail_dir)[0], "/verify/").replace("http://promueve.test", "")
        frozen.tick(timedelta(hours=48, minutes=1))
        response = client.get(link, follow_redirects=True)
    assert "caducó" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(User)).scalar_one().email_verified_at is None


def test_tampered_verification_link_is_refused(app, client):
    response = client.get("/verify/not-a-real-token", follow_redirects=True)
    assert "no es válido" in response.get_data(as_text=True)


def test_signup_bad_input_shows_errors_tied_to_fields_and_saves_nothing(app, client):
    response = client.post(
        "/signup",
        data={**GOOD, "email": "no-es-correo", "password": "corta", "accept_privacy": ""},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="email-error"' in html and 'aria-describedby="email-error"' in html
    assert "al menos 10 caracteres" in html
    assert 'aria-describedby="password-help password-error"' in html
    assert "aviso de privacidad" in html
    assert user_count(app) == 0


def test_common_password_is_refused(app, client):
    response = client.post("/signup", data={**GOOD, "password": "contrasena123"})
    assert response.status_code == 422
    assert "demasiado común" in response.get_data(as_text=True)
    assert user_count(app) == 0


def test_signup_with_taken_email_answers_the_same_and_tells_the_owner(app, client, mail_dir):
    with app.app_context():
        make_user("ana.perez@example.org")
    response = client.post("/signup", data=GOOD)
    assert response.status_code == 200
    assert "Revisa tu correo" in response.get_data(as_text=True)
    assert user_count(app) == 1
    with app.app_context():
        deliver_outbox()
    [message] = read_mails(mail_dir)
    assert "ya tienes una" in message.get_body(preferencelist=("plain",)).get_content()


def test_login_starts_a_new_session_and_logout_ends_it(app, client):
    with app.app_context():
        make_user("luis@example.org", name="Luis")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    response = login(client, "luis@example.org")
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("_user_id")
    assert "Luis" in client.get("/").get_data(as_text=True)
    client.post("/logout")
    assert client.get("/profile").status_code == 302


def test_wrong_password_and_unknown_email_get_the_same_answer(app, client):
    with app.app_context():
        make_user("luis@example.org")
    wrong = login(client, "luis@example.org", "Otra-contrasena-999")
    unknown = login(client, "nadie@example.org", "Otra-contrasena-999")
    assert wrong.status_code == unknown.status_code == 422
    message = "El correo o la contraseña no son correctos."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)


def test_login_rehashes_when_argon2_parameters_change(app, client):
    with app.app_context():
        make_user("luis@example.org")
        old_hash = db.session.execute(select(User.password_hash)).scalar_one()
    app.config["ARGON2_TIME_COST"] = 2
    assert login(client, "luis@example.org").status_code == 302
    with app.app_context():
        new_hash = db.session.execute(select(User.password_hash)).scalar_one()
    assert new_hash != old_hash and "t=2" in new_hash


def test_login_redirects_only_to_local_next(app, client):
    with app.app_context():
        make_user("luis@example.org")
    response = client.post(
        "/login?next=https://evil.example/steal", data={"email": "luis@example.org", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"


def _reset_link(app, client, mail_dir, email="luis@example.org") -> str:
    client.post("/password/forgot", data={"email": email})
    with app.app_context():
        assert run_queued_tasks() == ["accounts.send_password_reset"]
        deliver_outbox()
    return first_link(read_mails(mail_dir)[-1], "/password/reset/").replace("http://promueve.test", "")


def test_password_reset_is_single_use_and_signs_out_other_sessions(app, client, mail_dir):
    with app.app_context():
        make_user("luis@example.org")
    other_device = app.test_client()
    login(other_device, "luis@example.org")
    assert other_device.get("/profile").status_code == 200

    link = _reset_link(app, client, mail_dir)
    new = "Nuevo-jaguar-de-Chiapas-7"
    response = client.post(link, data={"password": new, "confirm": new})
    assert response.status_code == 302
    assert login(client, "luis@example.org", new).status_code == 302
    assert other_device.get("/profile").status_code == 302  # old session is gone

    reused = app.test_client().post(
        link, data={"password": "Otra-vez-la-misma-9", "confirm": "Otra-vez-la-misma-9"}
    )
    assert reused.headers["Location"].endswith("/password/forgot")
    assert login(app.test_client(), "luis@example.org", "Otra-vez-la-misma-9").status_code == 422


def test_password_reset_link_expires_after_one_hour(app, client, mail_dir):
    with app.app_context():
        make_user("luis@example.org")
    with freeze_time(utcnow()) as frozen:
        link = _reset_link(app, client, mail_dir)
        frozen.tick(timedelta(minutes=61))
        response = client.get(link, follow_redirects=True)
    assert "caducó" in response.get_data(as_text=True)


def test_reset_request_does_not_reveal_whether_an_account_exists(app, client, mail_dir):
    with app.app_context():
        make_user("luis@example.org")
    known = client.post("/password/forgot", data={"email": "luis@example.org"}).get_data(as_text=True)
    unknown = client.post("/password/forgot", data={"email": "nadie@example.org"}).get_data(as_text=True)
    assert without_csrf(known.replace("luis@example.org", "X")) == without_csrf(
        unknown.replace("nadie@example.org", "X")
    )
    with app.app_context():
        run_queued_tasks()  # the worker's part: only the known address gets a message
        assert deliver_outbox() == 1


def test_reset_with_mismatched_or_weak_password_keeps_the_old_one(app, client, mail_dir):
    with app.app_context():
        make_user("luis@example.org")
    link = _reset_link(app, client, mail_dir)
    response = client.post(link, data={"password": "Nuevo-jaguar-1", "confirm": "Nuevo-jaguar-2"})
    assert response.status_code == 200 and "no coinciden" in response.get_data(as_text=True)
    response = client.post(link, data={"password": "1234567890", "confirm": "1234567890"})
    assert "demasiado común" in response.get_data(as_text=True)
    assert login(client, "luis@example.org").status_code == 302
