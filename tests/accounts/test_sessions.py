"""Sessions that really end: every browser has a session record, checked on every request,
so logging out, a password change or reset, account deletion and "sign out everywhere else"
stop a copied session or remember-me cookie at once."""

from __future__ import annotations

import re
from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import func, select

from accounts import credentials
from accounts.models import UserSession
from core.extensions import db
from core.timeutil import utcnow
from tests.factories import (
    PASSWORD,
    deliver_outbox,
    first_link,
    login,
    make_user,
    read_mails,
    run_queued_tasks,
)

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
NEW_PASSWORD = "Nuevo-jaguar-de-Chiapas-7"


def copy_of(app, client, names=("session", "remember_token")):
    """A second browser holding a copy of the first one's cookies (a stolen cookie jar)."""
    thief = app.test_client()
    for name in names:
        cookie = client.get_cookie(name)
        if cookie is not None:
            thief.set_cookie(name, cookie.decoded_value)
    return thief


def signed_in(client) -> bool:
    return client.get("/profile").status_code == 200


def test_logout_ends_the_session_for_a_copied_cookie_too(app, client):
    with app.app_context():
        make_user("luis@example.org")
    login(client, "luis@example.org")
    thief = copy_of(app, client)
    assert signed_in(thief)
    client.post("/logout")
    assert not signed_in(client)
    assert not signed_in(thief)


def test_a_copied_remember_me_cookie_stops_working_at_logout(app, client):
    with app.app_context():
        make_user("luis@example.org")
    client.post("/login", data={"email": "luis@example.org", "password": PASSWORD, "remember": "y"})
    assert client.get_cookie("remember_token") is not None
    thief = copy_of(app, client, names=("remember_token",))
    assert signed_in(thief)  # the remember-me cookie alone opens a session
    logout = client.post("/logout")
    assert "remember_token=;" in " ".join(logout.headers.getlist("Set-Cookie"))  # the browser forgets it
    assert not signed_in(thief)
    assert not signed_in(copy_of(app, thief, names=("remember_token",)))


def test_password_change_ends_every_session_and_renews_this_one(app, client):
    with app.app_context():
        make_user("luis@example.org")
    client.post("/login", data={"email": "luis@example.org", "password": PASSWORD, "remember": "y"})
    thief = copy_of(app, client)
    other_device = app.test_client()
    login(other_device, "luis@example.org")
    response = client.post(
        "/profile/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert signed_in(client)  # this browser goes on, with a new session
    assert not signed_in(thief)  # even with an exact copy of this browser's cookies
    assert not signed_in(copy_of(app, thief, names=("remember_token",)))
    assert not signed_in(other_device)
    with app.app_context():
        reasons = db.session.execute(select(UserSession.revoked_reason)).scalars().all()
        assert sorted(reasons, key=str) == [None, "password_changed", "password_changed"]
        fresh = db.session.execute(select(UserSession).where(UserSession.revoked_at.is_(None))).scalar_one()
        assert fresh.remember  # still remembered, with a new remember-me cookie
    assert signed_in(copy_of(app, client, names=("remember_token",)))


def test_password_reset_ends_every_session(app, client, mail_dir):
    with app.app_context():
        make_user("luis@example.org")
    login(client, "luis@example.org")
    thief = copy_of(app, client)
    anonymous = app.test_client()
    anonymous.post("/password/forgot", data={"email": "luis@example.org"})
    with app.app_context():
        run_queued_tasks()
        deliver_outbox()
    link = first_link(read_mails(mail_dir)[-1], "/password/reset/").replace("http://promueve.test", "")
    assert anonymous.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert not signed_in(client)
    assert not signed_in(thief)


def test_deleting_the_account_ends_every_session_and_forgets_them(app, client):
    with app.app_context():
        make_user("luis@example.org")
    login(client, "luis@example.org")
    thief = copy_of(app, client)
    assert client.post("/profile/delete", data={"password": PASSWORD, "confirm": "y"}).status_code == 302
    assert not signed_in(client)
    assert not signed_in(thief)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(UserSession)).scalar_one() == 0


def test_sign_out_everywhere_else_keeps_only_this_browser(app, client):
    with app.app_context():
        make_user("luis@example.org")
        make_user("otra@example.org")
    login(client, "luis@example.org")
    laptop, phone, someone_else = app.test_client(), app.test_client(), app.test_client()
    login(laptop, "luis@example.org")
    phone.post("/login", data={"email": "luis@example.org", "password": PASSWORD, "remember": "y"})
    login(someone_else, "otra@example.org")
    copied_phone = copy_of(app, phone, names=("remember_token",))

    response = client.post("/profile/sessions/others/end")
    assert response.status_code == 302
    assert signed_in(client)
    assert not signed_in(laptop) and not signed_in(phone) and not signed_in(copied_phone)
    assert signed_in(someone_else)
    page = client.get("/profile", follow_redirects=True).get_data(as_text=True)
    assert "Cerrar sesión en todos los demás dispositivos" not in page  # nothing else to end


def test_sign_out_everywhere_else_needs_a_csrf_token(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    with app.app_context():
        make_user("luis@example.org")
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"email": "luis@example.org", "password": PASSWORD, "csrf_token": csrf})
    laptop = app.test_client()
    laptop_page = laptop.get("/login").get_data(as_text=True)
    laptop_csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', laptop_page).group(1)
    laptop.post("/login", data={"email": "luis@example.org", "password": PASSWORD, "csrf_token": laptop_csrf})
    assert client.post("/profile/sessions/others/end").status_code == 400
    assert signed_in(laptop)


def test_profile_lists_sessions_and_ends_one(app, client):
    with app.app_context():
        make_user("luis@example.org")
        make_user("otra@example.org")
    client.post(
        "/login",
        data={"email": "luis@example.org", "password": PASSWORD},
        headers={"User-Agent": FIREFOX},
        environ_base={"REMOTE_ADDR": "189.203.1.10"},
    )
    phone = app.test_client()
    phone.post(
        "/login", data={"email": "luis@example.org", "password": PASSWORD}, headers={"User-Agent": IPHONE}
    )
    stranger = app.test_client()
    login(stranger, "otra@example.org")

    page = client.get("/profile", headers={"User-Agent": FIREFOX}).get_data(as_text=True)
    assert "Sesiones abiertas" in page and "189.203.1.10" in page
    assert 'Firefox · Linux <span class="badge badge-success">este dispositivo</span>' in page
    assert page.count("este dispositivo") == 1 and "Safari · iOS" in page
    with app.app_context():
        records = {
            r.device: r.id for r in db.session.execute(select(UserSession).order_by(UserSession.id)).scalars()
        }
    phone_id, firefox_id = records["Safari · iOS"], records["Firefox · Linux"]
    stranger_id = max(records.values())

    # Someone else's session answers like one that does not exist.
    assert client.post(f"/profile/sessions/{stranger_id}/end").status_code == 404
    assert client.post("/profile/sessions/999999/end").status_code == 404
    assert signed_in(stranger)

    assert client.post(f"/profile/sessions/{phone_id}/end").status_code == 302
    assert not signed_in(phone) and signed_in(client)
    assert client.post(f"/profile/sessions/{phone_id}/end").status_code == 404  # already ended

    assert client.post(f"/profile/sessions/{firefox_id}/end").status_code == 302  # this one: logout
    assert not signed_in(client)


def test_the_cookie_key_is_not_stored_and_is_new_on_every_login(app, client):
    with app.app_context():
        make_user("luis@example.org")
    login(client, "luis@example.org")
    first_cookie = client.get_cookie("session").value
    client.post("/logout")
    login(client, "luis@example.org")
    with app.app_context():
        hashes = db.session.execute(select(UserSession.key_hash)).scalars().all()
    assert len(set(hashes)) == 2
    with client.session_transaction() as session:
        key = session["_user_id"]
    assert key not in hashes and str(key) != "1"  # the record's hash, never the key or the user id
    assert client.get_cookie("session").value != first_cookie


def test_a_visit_is_written_at_most_once_a_minute(app, client):
    with app.app_context():
        make_user("luis@example.org")
    start = utcnow().replace(microsecond=0)
    with freeze_time(start) as frozen:
        login(client, "luis@example.org")
        frozen.tick(timedelta(seconds=30))
        client.get("/profile")
        with app.app_context():
            record = db.session.execute(select(UserSession)).scalar_one()
            assert record.last_seen_at == start
        frozen.tick(timedelta(seconds=31))
        client.get("/profile")
        with app.app_context():
            record = db.session.execute(select(UserSession)).scalar_one()
            assert record.last_seen_at == start + timedelta(seconds=61)
            assert (
                record.expires_at == start + timedelta(seconds=61) + app.config["PERMANENT_SESSION_LIFETIME"]
            )


def test_idle_and_overlong_sessions_end(app):
    with app.app_context():
        make_user("luis@example.org")
    with freeze_time(utcnow()) as frozen:
        idle, busy, remembered = app.test_client(), app.test_client(), app.test_client()
        login(idle, "luis@example.org")
        login(busy, "luis@example.org")
        remembered.post("/login", data={"email": "luis@example.org", "password": PASSWORD, "remember": "y"})
        for days in (10, 10, 9):
            frozen.tick(timedelta(days=days))
            assert signed_in(busy)
        assert not signed_in(idle)  # 14 days without a visit
        assert signed_in(remembered)  # day 29: remember-me sessions last 30 days
        frozen.tick(timedelta(days=2))
        assert not signed_in(busy)  # no session lives longer than 30 days, however busy
        assert not signed_in(remembered)


def test_ended_sessions_are_purged_after_a_month(app, ctx):
    user = make_user("luis@example.org")
    credentials.start_session(user)
    ended = credentials.start_session(user)
    with freeze_time(utcnow() - timedelta(days=61)):
        credentials.start_session(user, remember=True)  # expired 31 days ago
    credentials.end_session(credentials.load_session_user(ended).current_session)
    assert credentials.purge_sessions() == 1  # the ended one is kept a month
    with freeze_time(utcnow() + timedelta(days=31)):
        assert credentials.purge_sessions() == 1
    assert db.session.execute(select(func.count()).select_from(UserSession)).scalar_one() == 1


def test_my_data_download_lists_my_sessions(app, client):
    with app.app_context():
        make_user("luis@example.org")
    client.post(
        "/login", data={"email": "luis@example.org", "password": PASSWORD}, headers={"User-Agent": FIREFOX}
    )
    data = client.get("/profile/data.json").get_json()
    [entry] = data["sessions"]
    assert entry["device"] == "Firefox · Linux" and entry["ended_at"] is None


def test_device_names(app):
    assert credentials.describe_device(FIREFOX) == "Firefox · Linux"
    assert credentials.describe_device(IPHONE) == "Safari · iOS"
    chrome_android = (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36"
    )
    assert credentials.describe_device(chrome_android) == "Chrome · Android"
    edge = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
    )
    assert credentials.describe_device(edge) == "Edge · Windows"
    assert credentials.describe_device("curl/8.5.0") == "curl"
    assert credentials.describe_device("") == "" and credentials.describe_device(None) == ""
