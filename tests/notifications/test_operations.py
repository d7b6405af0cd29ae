"""Delivery operations: the admin outbox, template previews, pacing, batches and bounces."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from core.extensions import db
from core.models import AuditEntry, User
from notifications import delivery, services
from notifications.models import MailboxHealth, Notification
from notifications.services import previews
from tests.factories import deliver_outbox, login, make_user, read_mails
from tests.notifications.smtp_sink import SmtpServer


def message(user, key, *, category=None, kind="account.verify"):
    row = services.notify(
        to=user,
        kind=kind,
        subject="Confirma tu correo",
        template="accounts/email/verify",
        dedupe_key=key,
        context={"verify_url": "http://promueve.test/verify/x", "hours": 48},
        category=category,
    )
    db.session.commit()
    return row


@pytest.fixture
def admin_client(app, client):
    with app.app_context():
        make_user("admin@example.org", admin=True)
    login(client, "admin@example.org")
    return client


# --- the admin outbox -------------------------------------------------------------


def test_outbox_page_filters_and_shows_the_last_error(app, admin_client):
    with app.app_context():
        user = make_user("ana@example.org")
        failed = message(user, "f")
        failed.status, failed.last_error = "failed", "SMTP 550: 5.1.1 Mailbox unavailable"
        message(user, "q", kind="surveys.opened", category="surveys")
        db.session.commit()
        failed_id = failed.id
    page = admin_client.get("/admin/outbox?status=failed").get_data(as_text=True)
    assert "SMTP 550: 5.1.1 Mailbox unavailable" in page and "surveys.opened</code>" not in page
    page = admin_client.get("/admin/outbox?kind=surveys.opened").get_data(as_text=True)
    assert "surveys.opened</code>" in page and "account.verify</code>" not in page
    assert admin_client.get(f"/admin/outbox/{failed_id}").status_code == 200


def test_outbox_pages_are_for_admins_only(app, client):
    with app.app_context():
        make_user("ana@example.org")
    login(client, "ana@example.org")
    for path in ("/admin/outbox", "/admin/outbox/1", "/admin/email-templates"):
        assert client.get(path).status_code == 403
    assert client.post("/admin/outbox/1/retry").status_code == 403


def test_retry_failed_and_withhold_queued_are_audited(app, admin_client, mail_dir):
    with app.app_context():
        user = make_user("ana@example.org")
        failed = message(user, "f")
        failed.status, failed.attempts = "failed", 8
        queued = message(user, "q")
        db.session.commit()
        failed_id, queued_id = failed.id, queued.id
    assert admin_client.post(f"/admin/outbox/{failed_id}/retry").status_code == 302
    assert admin_client.post(f"/admin/outbox/{queued_id}/withhold").status_code == 302
    # Withholding twice, or retrying a queued message, is refused with a message.
    answer = admin_client.post(f"/admin/outbox/{queued_id}/withhold", follow_redirects=True)
    assert "siguen en cola" in answer.get_data(as_text=True)
    with app.app_context():
        assert deliver_outbox() == 1
        assert db.session.get(Notification, failed_id).status == "sent"
        assert db.session.get(Notification, queued_id).status == "withheld"
        actions = db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
        assert actions[-2:] == ["outbox.retry", "outbox.withhold"]
        assert "ana@example.org" not in str(db.session.execute(select(AuditEntry.details)).scalars().all())
    assert len(read_mails(mail_dir)) == 1


def test_retry_all_failed(app, admin_client):
    with app.app_context():
        user = make_user()
        for key in ("a", "b"):
            message(user, key).status = "failed"
        db.session.commit()
    admin_client.post("/admin/outbox/retry-failed")
    with app.app_context():
        assert set(db.session.execute(select(Notification.status)).scalars()) == {"queued"}


def test_outbox_api(app, client):
    with app.app_context():
        make_user("admin@example.org", admin=True)
        make_user("ana@example.org")
        row_id = message(make_user(), "q").id

    def bearer(email):
        answer = client.post("/api/v1/tokens", json={"email": email, "password": "Lluvia-de-datos-2026"})
        return {"Authorization": f"Bearer {answer.get_json()['token']}"}

    admin, ana = bearer("admin@example.org"), bearer("ana@example.org")
    listing = client.get("/api/v1/outbox?status=queued", headers=admin).get_json()
    assert listing["total"] == 1 and listing["by_status"]["queued"] == 1
    assert client.get("/api/v1/outbox", headers=ana).status_code == 403
    assert client.post(f"/api/v1/outbox/{row_id}/withhold", headers=admin).get_json()["status"] == "withheld"
    assert client.post(f"/api/v1/outbox/{row_id}/withhold", headers=admin).status_code == 409
    assert client.post(f"/api/v1/outbox/{row_id}/retry", headers=admin).get_json()["status"] == "queued"
    assert client.post("/api/v1/outbox/999999/retry", headers=admin).status_code == 404
    assert client.get("/api/v1/outbox?status=lost", headers=admin).status_code == 422


# --- template previews ----------------------------------------------------------------


def test_admins_preview_every_email_template_in_each_language(app, admin_client):
    listing = admin_client.get("/admin/email-templates").get_data(as_text=True)
    with app.app_context():
        templates = services.email_templates()
    assert {"accounts/email/verify", "notifications/email/digest", "notifications/email/reminder"} <= set(
        templates
    )
    for name in templates:
        assert name in listing
        for locale in ("es_MX", "en"):
            page = admin_client.get(f"/admin/email-templates/preview?template={name}&locale={locale}")
            assert page.status_code == 200, name
            if name.startswith(("accounts/", "notifications/")):
                assert "no se pudo mostrar" not in page.get_data(as_text=True), name
    digest = admin_client.get("/admin/email-templates/preview?template=notifications/email/digest")
    assert "CONAGUA respondió" in digest.get_data(as_text=True)
    raw = admin_client.get("/admin/email-templates/raw?template=notifications/email/reminder&locale=en")
    assert raw.status_code == 200 and "<html" in raw.get_data(as_text=True)
    assert "style-src 'unsafe-inline'" in raw.headers["Content-Security-Policy"]
    assert "script-src" not in raw.headers["Content-Security-Policy"]  # default-src 'none' covers it
    assert admin_client.get("/admin/email-templates/preview?template=../../etc/passwd").status_code == 404


def test_unregistered_templates_preview_with_placeholders(app, ctx):
    previews._PREVIEWS.pop("accounts/email/reset", None)
    try:
        preview = services.render_preview("accounts/email/reset", locale="es_MX")
        assert not preview.registered and "[reset_url]" in preview.text
    finally:
        previews._register_foundation_previews()


# --- rendering ------------------------------------------------------------------------


def test_message_in_recipient_language_and_zone_naming_the_institution(app, ctx, mail_dir):
    from datetime import UTC, datetime

    user = make_user("ana@example.org")
    user.locale, user.timezone = "en", "America/Tijuana"
    db.session.commit()
    services.notify(
        to=user,
        kind="events.reminder",
        subject="Reminder",
        template="notifications/email/reminder",
        dedupe_key="r",
        context={
            "title": "Mesa",
            "message": "Soon",
            "starts_at": datetime(2026, 12, 3, 18, 0, tzinfo=UTC),
            "institution_name": "Comisión Nacional del Agua (CONAGUA)",
        },
        category="events",
    )
    db.session.commit()
    deliver_outbox()
    [mail] = read_mails(mail_dir)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "Dec 3, 2026, 10:00\u202fAM PST" in text  # 18:00 UTC in Tijuana, in English, to the minute
    assert "Comisión Nacional del Agua (CONAGUA)" in text and "Comisión Nacional del Agua (CONAGUA)" in html
    assert mail["Content-Language"] == "en" and 'lang="en"' in html


# --- sending: batches, pacing -----------------------------------------------------------


def test_a_batch_shares_one_smtp_connection(app, ctx):
    with SmtpServer() as smtp:
        app.config["SMTP_URL"] = smtp.url
        user = make_user()
        ids = [message(user, f"k{n}").id for n in range(5)]
        results = services.send_notifications(ids)
        assert [outcome for _, outcome, _ in results] == ["sent"] * 5
        assert services.send_notifications(ids)[0][1] == "skipped"
        assert len(smtp.sink.messages) == 5 and len(smtp.sink.connections) == 1


def test_outgoing_rate_is_paced_across_senders(app, ctx, mail_dir):
    user = make_user()
    ids = [message(user, f"k{n}").id for n in range(6)]
    app.config["MAIL_RATE_PER_MINUTE"] = 600  # one every 0.1 s
    started = time.monotonic()
    services.send_notifications(ids[:3])
    services.send_notifications(ids[3:])
    assert time.monotonic() - started >= 0.45  # 5 intervals after the first slot
    app.config["MAIL_RATE_PER_MINUTE"] = 0
    more = [message(user, f"m{n}").id for n in range(6)]
    started = time.monotonic()
    services.send_notifications(more)
    assert time.monotonic() - started < 0.45
    assert len(read_mails(mail_dir)) == 12


def test_a_paced_batch_never_claims_more_than_it_can_send_before_looking_stuck(app, ctx):
    from notifications.delivery import _claim_size

    app.config.update(MAIL_BATCH_SIZE=100, OUTBOX_STUCK_AFTER_SECONDS=300, MAIL_RATE_PER_MINUTE=0)
    assert _claim_size() == 100
    app.config["MAIL_RATE_PER_MINUTE"] = 60  # one a second: 75 s of a 300 s budget
    assert _claim_size() == 75
    app.config["MAIL_RATE_PER_MINUTE"] = 1
    assert _claim_size() == 1


def test_an_unreachable_server_hands_the_rest_of_the_batch_back_at_once(app, ctx):
    from tests.conftest import free_port

    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    user = make_user()
    ids = [message(user, f"k{n}").id for n in range(5)]
    results = services.send_notifications(ids)
    assert {outcome for _, outcome, _ in results} == {"retry"}
    assert len({delay for _, _, delay in results}) == 1  # one backoff for the whole batch
    rows = db.session.execute(select(Notification).order_by(Notification.id)).scalars().all()
    assert [r.attempts for r in rows] == [1, 0, 0, 0, 0]  # only the first was tried
    assert {r.status for r in rows} == {"queued"} and all(r.next_attempt_at for r in rows)


def test_a_slow_batch_hands_back_what_it_could_not_send_in_time(app, ctx, mail_dir):
    app.config.update(OUTBOX_STUCK_AFTER_SECONDS=0, MAIL_RATE_PER_MINUTE=0)  # every message "too long"
    user = make_user()
    ids = [message(user, f"k{n}").id for n in range(3)]
    results = services.send_notifications(ids)
    assert [outcome for _, outcome, _ in results] == ["sent", "retry", "retry"]
    statuses = db.session.execute(select(Notification.status).order_by(Notification.id)).scalars().all()
    assert statuses == ["sent", "queued", "queued"]
    assert services.send_notifications(ids[1:2])[0][1] == "sent"


# --- bounces ------------------------------------------------------------------------------


def test_three_permanent_failures_make_an_address_undeliverable(app, client, mail_dir):
    with SmtpServer() as smtp, app.app_context():
        app.config["SMTP_URL"] = smtp.url
        smtp.sink.refuse_with = "550 5.1.1 Mailbox unavailable"
        user = make_user("ana@example.org")
        for n in range(2):
            assert services.send_notification(message(user, f"b{n}", category="events").id)[0] == "failed"
        assert services.mailbox_problem(user) is None  # two is not enough
        queued = message(user, "waiting", category="events")
        assert services.send_notification(message(user, "b2").id)[0] == "failed"
        health = db.session.execute(select(MailboxHealth)).scalar_one()
        assert health.permanent_failures == 3 and health.undeliverable_since is not None
        smtp.sink.refuse_with = None
        # Non-transactional mail stops: already queued is withheld, new goes to the bell only.
        assert services.send_notification(queued.id)[0] == "withheld"
        assert message(user, "new", category="events") is None
        # Transactional mail is still attempted.
        assert services.send_notification(message(user, "reset").id)[0] == "sent"
    app.config["SMTP_URL"] = ""  # the sink is gone: back to .eml files
    login(client, "ana@example.org")
    home = client.get("/").get_data(as_text=True)
    assert "rechaza nuestros mensajes" in home and "/notifications/mailbox" in home
    assert "550: 5.1.1" in client.get("/notifications/mailbox").get_data(as_text=True)
    # The person fixed the mailbox: a check message goes out and the banner goes away.
    assert client.post("/notifications/mailbox").status_code == 302
    assert "rechaza nuestros mensajes" not in client.get("/").get_data(as_text=True)
    with app.app_context():
        assert deliver_outbox() == 1
        assert db.session.execute(select(MailboxHealth)).scalar_one_or_none() is None  # delivered: cleared
        assert any(m["X-Promueve-Kind"] == "notifications.mailbox_check" for m in read_mails(mail_dir))


def test_refused_login_is_not_a_bounce_and_is_retried(app, ctx):
    import smtplib

    from notifications.transport import _smtp_error

    auth = _smtp_error(smtplib.SMTPAuthenticationError(535, b"bad credentials"))
    assert not auth.permanent and not auth.bounce
    sender = _smtp_error(smtplib.SMTPSenderRefused(550, b"no relay", "x@y"))
    assert sender.permanent and not sender.bounce
    data = _smtp_error(smtplib.SMTPDataError(550, b"rejected"))
    assert data.permanent and data.bounce
    temp = _smtp_error(smtplib.SMTPRecipientsRefused({"a@b": (450, b"try later")}))
    assert not temp.permanent and not temp.bounce


def test_erasure_removes_the_notification_data_of_a_person(app, ctx):
    user = make_user("ana@example.org")
    message(user, "x", category="events")
    services.set_preferences(user, {"surveys": "daily"})
    delivery.record_bounce("ana@example.org", "550")
    db.session.commit()
    services.erase_recipient(user.id, "ana@example.org", "deleted-1@invalid")
    db.session.commit()
    assert db.session.execute(select(MailboxHealth)).scalar_one_or_none() is None
    row = db.session.execute(select(Notification)).scalar_one()
    assert row.to_email == "deleted-1@invalid" and row.status == "withheld" and row.unsubscribe_url == ""
    assert services.preferences_of(db.session.get(User, user.id))["surveys"] == "email"
    assert services.unread_count(user) == 0
