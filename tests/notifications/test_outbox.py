"""The outbox: written with its cause, enqueued after commit, sent at most once."""

from __future__ import annotations

from datetime import timedelta

import redis
from freezegun import freeze_time
from sqlalchemy import func, select

from core.extensions import db
from core.timeutil import utcnow
from notifications import services
from notifications.models import Notification
from notifications.transport import parse_smtp_url
from tests.conftest import REDIS_URL, free_port
from tests.factories import make_user, read_mails
from tests.notifications.smtp_sink import SmtpServer


def queued_message(user, key="k1") -> Notification:
    row = services.notify(
        to=user,
        kind="account.verify",
        subject="Confirma tu correo",
        template="accounts/email/verify",
        dedupe_key=key,
        context={"verify_url": "http://promueve.test/verify/x", "hours": 48},
    )
    db.session.commit()
    return row


def mail_queue_length() -> int:
    return redis.Redis.from_url(REDIS_URL).llen("mail")


def test_rolled_back_change_writes_and_sends_nothing(app, ctx):
    user = make_user("a@example.org")
    services.notify(
        to=user,
        kind="x",
        subject="S",
        template="accounts/email/verify",
        dedupe_key="rolled",
        context={"verify_url": "u", "hours": 1},
    )
    assert mail_queue_length() == 0  # nothing is published before commit
    db.session.rollback()
    assert db.session.execute(select(func.count()).select_from(Notification)).scalar_one() == 0
    assert mail_queue_length() == 0


def test_send_task_is_published_only_after_commit(app, ctx):
    user = make_user("a@example.org")
    services.notify(
        to=user,
        kind="x",
        subject="S",
        template="accounts/email/verify",
        dedupe_key="after-commit",
        context={"verify_url": "u", "hours": 1},
    )
    assert mail_queue_length() == 0
    db.session.commit()
    assert mail_queue_length() == 1


def test_same_dedupe_key_makes_one_row(app, ctx):
    user = make_user("a@example.org")
    first = queued_message(user, "same")
    second = queued_message(user, "same")
    assert first.id == second.id
    assert db.session.execute(select(func.count()).select_from(Notification)).scalar_one() == 1


def test_running_the_send_task_twice_sends_once(app, ctx, mail_dir):
    row = queued_message(make_user("a@example.org"))
    assert services.send_notification(row.id) == ("sent", None)
    assert services.send_notification(row.id) == ("skipped", None)
    assert len(read_mails(mail_dir)) == 1
    db.session.refresh(row)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None


def test_message_is_rendered_in_the_recipients_language(app, ctx, mail_dir):
    user = make_user("a@example.org")
    user.locale = "en"
    db.session.commit()
    row = services.notify(
        to=user,
        kind="account.verify",
        subject=services_subject(),
        template="accounts/email/verify",
        dedupe_key="en",
        context={"verify_url": "http://x/verify/1", "hours": 48},
    )
    db.session.commit()
    services.send_notification(row.id)
    [message] = read_mails(mail_dir)
    assert message["Subject"] == "Confirm your email on Promueve"
    assert message["Content-Language"] == "en"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "valid for 48 hours" in text or "48 hours" in text
    assert message.get_body(preferencelist=("html",)) is not None
    assert message["Message-ID"] == row.message_id


def services_subject():
    from flask_babel import lazy_gettext as _l

    return _l("Confirma tu correo en Promueve")


def test_smtp_delivery_with_stable_message_id(app, ctx):
    with SmtpServer() as smtp:
        app.config["SMTP_URL"] = smtp.url
        row = queued_message(make_user("a@example.org", name="Ana"))
        assert services.send_notification(row.id)[0] == "sent"
        [message] = smtp.sink.messages
    assert message["Message-ID"] == row.message_id
    assert message["To"].addresses[0].addr_spec == "a@example.org"


def test_smtp_5xx_fails_permanently(app, ctx):
    with SmtpServer() as smtp:
        smtp.sink.refuse_with = "550 5.1.1 Mailbox unavailable"
        app.config["SMTP_URL"] = smtp.url
        row = queued_message(make_user("a@example.org"))
        assert services.send_notification(row.id) == ("failed", None)
    db.session.refresh(row)
    assert row.status == "failed" and "550" in row.last_error


def test_unreachable_smtp_is_retried_with_growing_backoff_then_given_up(app, ctx):
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nobody listens there
    row = queued_message(make_user("a@example.org"))
    delays = []
    with freeze_time(utcnow()) as frozen:
        for _attempt in range(app.config["MAIL_MAX_ATTEMPTS"]):
            outcome, delay = services.send_notification(row.id)
            if outcome == "failed":
                break
            assert outcome == "retry"
            delays.append(delay)
            # Not due yet: a premature run does nothing.
            assert services.send_notification(row.id) == ("skipped", None)
            frozen.tick(timedelta(seconds=delay + 1))
    db.session.refresh(row)
    assert row.status == "failed" and row.attempts == app.config["MAIL_MAX_ATTEMPTS"]
    assert len(delays) == app.config["MAIL_MAX_ATTEMPTS"] - 1
    base = app.config["MAIL_RETRY_BASE_SECONDS"]
    for attempt, delay in enumerate(delays, start=1):
        nominal = min(app.config["MAIL_RETRY_MAX_SECONDS"], base * 2 ** (attempt - 1))
        assert nominal / 2 <= delay <= nominal  # jitter stays within the step
    assert delays[-1] > delays[0] * 4


def test_smtp_back_after_failure_delivers(app, ctx):
    port = free_port()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    row = queued_message(make_user("a@example.org"))
    with freeze_time(utcnow()) as frozen:
        outcome, delay = services.send_notification(row.id)
        assert outcome == "retry"
        frozen.tick(timedelta(seconds=delay + 1))
        smtp = SmtpServer()
        smtp.port = port
        from aiosmtpd.controller import Controller

        smtp.controller = Controller(smtp.sink, hostname="127.0.0.1", port=port)
        with smtp:
            assert services.send_notification(row.id)[0] == "sent"
            assert len(smtp.sink.messages) == 1


def test_sweeper_requeues_stuck_rows(app, ctx):
    user = make_user("a@example.org")
    stuck_sending = queued_message(user, "sending")
    never_enqueued = queued_message(user, "lost")
    redis.Redis.from_url(REDIS_URL).delete("mail")
    start = utcnow()
    with freeze_time(start) as frozen:
        # A worker claimed one row and died; the other row's publish was lost.
        stuck_sending.status = "sending"
        stuck_sending.claimed_at = start
        db.session.commit()
        assert services.sweep_outbox() == 0  # too early to call them stuck
        frozen.tick(timedelta(seconds=app.config["OUTBOX_STUCK_AFTER_SECONDS"] + 1))
        assert services.sweep_outbox() == 2
        assert mail_queue_length() == 2
        assert services.sweep_outbox() == 0  # just re-queued: not again
        db.session.refresh(stuck_sending)
        assert stuck_sending.status == "queued"
        assert services.send_notification(stuck_sending.id)[0] == "sent"
        assert services.send_notification(never_enqueued.id)[0] == "sent"


def test_smtp_url_parsing():
    plain = parse_smtp_url("smtp://user%40x:p%3Ass@mail.example:587?starttls=1")
    assert (plain.host, plain.port, plain.username, plain.password, plain.starttls, plain.use_ssl) == (
        "mail.example",
        587,
        "user@x",
        "p:ss",
        True,
        False,
    )
    ssl = parse_smtp_url("smtps://mail.example")
    assert ssl.use_ssl and ssl.port == 465
