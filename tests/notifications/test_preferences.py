"""Preferences per category, transactional mail, one-click unsubscribe (RFC 8058), digests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from core.extensions import db
from core.models import User
from notifications import services
from notifications.models import Digest, DigestItem, InAppNotification, Notification
from tests.factories import deliver_outbox, login, make_user, read_mails


def announce(user, key: str, category: str | None = "surveys", **extra):
    row = services.notify(
        to=user,
        kind="surveys.opened",
        subject="Nueva encuesta: movilidad urbana",
        template="notifications/email/reminder",
        dedupe_key=key,
        context={"title": "Movilidad urbana", "message": "Abrió una encuesta pública."},
        category=category,
        link="/institutions",
        summary="Cierra el viernes",
        **extra,
    )
    db.session.commit()
    return row


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_every_category_starts_at_email_immediately(app, ctx):
    prefs = services.preferences_of(make_user())
    assert set(prefs) == {"events", "surveys", "challenges", "answers", "institution", "event_messages"}
    assert set(prefs.values()) == {"email"}


def test_channels_decide_where_a_categorised_message_goes(app, ctx):
    user = make_user()
    assert announce(user, "a").category == "surveys"  # email now
    services.set_preferences(user, {"surveys": "weekly"})
    assert announce(user, "b") is None
    assert db.session.execute(select(DigestItem.dedupe_key, DigestItem.frequency)).all() == [("b", "weekly")]
    services.set_preferences(user, {"surveys": "in_app"})  # the pending digest line is dropped
    assert announce(user, "c") is None
    services.set_preferences(user, {"surveys": "off"})
    assert announce(user, "d") is None
    assert count(Notification) == 1 and count(DigestItem) == 0
    # In the bell: everything except what came while the category was off.
    assert sorted(db.session.execute(select(InAppNotification.dedupe_key)).scalars()) == [
        "inapp:a",
        "inapp:b",
        "inapp:c",
    ]


def test_transactional_mail_always_goes_by_email_without_unsubscribe(app, ctx, mail_dir):
    user = make_user()
    services.set_preferences(
        user, dict.fromkeys(["events", "surveys", "challenges", "answers", "institution"], "off")
    )
    row = announce(user, "confirm", category=None)
    assert row is not None and row.is_transactional and row.unsubscribe_url == ""
    deliver_outbox()
    [mail] = read_mails(mail_dir)
    assert mail["List-Unsubscribe"] is None and mail["List-Unsubscribe-Post"] is None
    assert "/unsubscribe/" not in mail.get_body(preferencelist=("plain",)).get_content()


def test_categorised_mail_carries_rfc8058_headers_and_a_footer(app, ctx, mail_dir):
    user = make_user()
    row = announce(user, "x")
    deliver_outbox()
    [mail] = read_mails(mail_dir)
    assert mail["List-Unsubscribe"] == f"<{row.unsubscribe_url}>"
    assert row.unsubscribe_url.startswith("http://promueve.test/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Encuestas públicas" in text  # why you got it
    assert "http://promueve.test/notifications/preferences" in text and row.unsubscribe_url in text


def test_one_click_unsubscribe_needs_no_login_and_no_csrf(app, ctx):
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    user = make_user()
    row = announce(user, "x")
    path = row.unsubscribe_url.removeprefix("http://promueve.test")
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200 and "Darme de baja" in page.get_data(as_text=True)
    assert services.preferences_of(user)["surveys"] == "email"  # a GET changes nothing
    answer = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and "Listo" in answer.get_data(as_text=True)
    db.session.expire_all()
    prefs = services.preferences_of(user)
    assert prefs["surveys"] == "off" and prefs["events"] == "email"
    assert client.post("/unsubscribe/forged-token").status_code == 404


def test_preferences_page_saves_and_is_linked_from_the_profile(app, client):
    with app.app_context():
        user_id = make_user("ana@example.org").id
    login(client, "ana@example.org")
    profile = client.get("/profile").get_data(as_text=True)
    assert "/notifications/preferences" in profile
    page = client.get("/notifications/preferences").get_data(as_text=True)
    assert 'name="answers"' in page and "Resumen diario por correo" in page
    assert 'name="event_messages"' in page
    assert "Mensajes de quienes organizan las actividades en que te registraste" in page
    client.post("/language", data={"locale": "en"})
    english = client.get("/notifications/preferences").get_data(as_text=True)
    assert "Messages from the organisers of activities you registered for" in english
    client.post("/language", data={"locale": "es_MX"})
    data = {
        "events": "daily",
        "surveys": "weekly",
        "challenges": "in_app",
        "answers": "off",
        "institution": "email",
        "event_messages": "in_app",
    }
    assert client.post("/notifications/preferences", data=data).status_code == 302
    with app.app_context():
        assert services.preferences_of(db.session.get(User, user_id)) == data
    assert client.post("/notifications/preferences", data={**data, "events": "pigeon"}).status_code == 422


def test_preferences_api(app, client):
    with app.app_context():
        make_user("ana@example.org")
    token = client.post(
        "/api/v1/tokens", json={"email": "ana@example.org", "password": "Lluvia-de-datos-2026"}
    )
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    assert client.get("/api/v1/notification-preferences", headers=headers).get_json()["events"] == "email"
    changed = client.put("/api/v1/notification-preferences", json={"events": "weekly"}, headers=headers)
    assert changed.status_code == 200 and changed.get_json()["events"] == "weekly"
    organisers = client.put(
        "/api/v1/notification-preferences", json={"event_messages": "in_app"}, headers=headers
    )
    assert organisers.status_code == 200 and organisers.get_json()["event_messages"] == "in_app"
    bad = client.put("/api/v1/notification-preferences", json={"events": "fax"}, headers=headers)
    assert bad.status_code == 422 and "events" in bad.get_json()["error"]["fields"]
    assert client.get("/api/v1/notification-preferences").status_code == 401


def test_changing_a_preference_moves_or_drops_pending_digest_lines(app, ctx):
    user = make_user()
    services.set_preferences(user, {"surveys": "daily"})
    announce(user, "a")
    services.set_preferences(user, {"surveys": "weekly"})
    assert db.session.execute(select(DigestItem.frequency)).scalars().all() == ["weekly"]
    services.set_preferences(user, {"surveys": "off"})
    assert count(DigestItem) == 0


# --- digests ------------------------------------------------------------------

MEXICO_CITY_8AM = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)  # Wednesday 08:00 in Mexico City (UTC-6)


def digest_user(email, channel="daily", zone="America/Mexico_City"):
    user = make_user(email)
    user.timezone = zone
    db.session.commit()
    services.set_preferences(user, {"surveys": channel, "events": channel})
    return user


def test_daily_digest_goes_at_8_local_once_and_never_empty(app, ctx, mail_dir):
    with freeze_time(MEXICO_CITY_8AM - timedelta(hours=10)) as frozen:
        user = digest_user("ana@example.org")
        digest_user("nadie@example.org")  # nothing pending: never gets an empty digest
        announce(user, "a")
        frozen.tick(timedelta(hours=1))
        services.notify(
            to=user,
            kind="events.new",
            subject="Nuevo datatón",
            template="notifications/email/reminder",
            dedupe_key="c",
            context={"title": "Datatón", "message": "Nuevo"},
            category="events",
            link="/institutions",
        )
        db.session.commit()
        frozen.move_to(MEXICO_CITY_8AM - timedelta(minutes=1))
        assert services.send_due_digests() == 0  # 07:59 in Mexico City
        frozen.move_to(MEXICO_CITY_8AM + timedelta(seconds=30))
        assert services.send_due_digests() == 1
        assert services.send_due_digests() == 0  # never twice for the same period
        announce(user, "late")  # after 08:00: waits for tomorrow's digest
        frozen.tick(timedelta(hours=3))
        assert services.send_due_digests() == 0
        frozen.move_to(MEXICO_CITY_8AM + timedelta(days=1, seconds=5))
        assert services.send_due_digests() == 1
    digests = db.session.execute(select(Digest).order_by(Digest.id)).scalars().all()
    assert [(d.period, d.item_count) for d in digests] == [("2026-12-02", 2), ("2026-12-03", 1)]
    deliver_outbox()
    first, second = read_mails(mail_dir)
    assert first["To"].addresses[0].addr_spec == "ana@example.org"
    text = first.get_body(preferencelist=("plain",)).get_content()
    assert "Encuestas públicas" in text and "Nuevo datatón" in text and "Nueva encuesta" in text
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    last = second.get_body(preferencelist=("plain",)).get_content()
    assert "(1 aviso):" in last and "1 avisos" not in last  # ngettext: one notification


@pytest.mark.parametrize(
    ("zone", "local_eight_utc"),
    [
        ("America/Tijuana", datetime(2026, 12, 2, 16, 0, tzinfo=UTC)),
        ("America/Cancun", MEXICO_CITY_8AM - timedelta(hours=1)),
    ],
)
def test_digest_hour_follows_the_persons_zone(app, ctx, zone, local_eight_utc):
    with freeze_time(local_eight_utc - timedelta(hours=12)) as frozen:
        user = digest_user("ana@example.org", zone=zone)
        announce(user, "a")
        frozen.move_to(local_eight_utc - timedelta(seconds=1))
        assert services.send_due_digests() == 0
        frozen.move_to(local_eight_utc)
        assert services.send_due_digests() == 1


def test_weekly_digest_goes_on_monday_morning(app, ctx):
    monday_8 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    with freeze_time(monday_8 - timedelta(days=3)) as frozen:
        user = digest_user("ana@example.org", channel="weekly")
        announce(user, "a")
        for hours in (24, 24, 23):
            frozen.tick(timedelta(hours=hours))
            assert services.send_due_digests() == 0  # Saturday, Sunday, Monday 07:00
        frozen.move_to(monday_8)
        assert services.send_due_digests() == 1
    [digest] = db.session.execute(select(Digest)).scalars().all()
    assert (digest.frequency, digest.period, digest.item_count) == ("weekly", "2026-W50", 1)


def test_digest_period_names(app, ctx):
    just_before = MEXICO_CITY_8AM - timedelta(minutes=1)
    start, period = services.digest_period(just_before, "America/Mexico_City", "daily")
    assert period == "2026-12-01" and start == MEXICO_CITY_8AM - timedelta(days=1)
    start, period = services.digest_period(MEXICO_CITY_8AM, "America/Mexico_City", "weekly")
    assert period == "2026-W49" and start == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
