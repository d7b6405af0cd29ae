"""Event reminders with a real Celery worker: exactly one reminder per (registration,
offset) when beat fires twice, a fire task is duplicated, or a worker dies mid-send."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select, update

from core.extensions import db
from core.timeutil import utcnow
from events import reminders, services
from notifications import services as notifications
from notifications.models import Notification, ScheduledNotification
from tests.factories import deliver_outbox, make_event, make_institution, make_user, read_mails
from tests.notifications.smtp_sink import SmtpServer
from tests.processes import celery_worker, wait_for

pytestmark = pytest.mark.worker


def due_event_with(people: int):
    """A published event with `people` confirmed and their reminders due now."""
    event = make_event(make_institution("inegi"), starts_at=utcnow() + timedelta(hours=2))
    for _ in range(people):
        services.register(make_user(), event)
    db.session.execute(
        update(ScheduledNotification)
        .where(ScheduledNotification.subject == reminders.subject_of(event))
        .values(fire_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    return event


def sent_reminders() -> int:
    count = db.session.execute(
        select(func.count())
        .select_from(Notification)
        .where(Notification.kind == reminders.REMINDER_KIND, Notification.status == "sent")
    ).scalar_one()
    db.session.rollback()  # hold no transaction (nor SQLite's write lock) while the worker writes
    return count


def test_beat_twice_and_a_duplicated_task_send_one_reminder_each(app, ctx, mail_dir, tmp_path):
    event = due_event_with(3)
    ids = [r.id for r in notifications.scheduled_for(reminders.subject_of(event))]
    assert len(ids) == 3  # 60 min before the start (the 24 h offset had passed at registration)
    assert notifications.dispatch_due_reminders() == 3
    assert notifications.dispatch_due_reminders() == 0  # beat again: already handed out
    later = utcnow() + timedelta(seconds=app.config["REMINDER_STUCK_AFTER_SECONDS"] + 1)
    with freeze_time(later):
        assert notifications.dispatch_due_reminders() == 3  # a beat that thinks they are stuck
    app.extensions["celery"].send_task(notifications.FIRE_TASK, args=[ids])  # and a redelivery
    db.session.commit()
    log = tmp_path / "worker.log"
    with celery_worker(log=log):
        wait_for(lambda: sent_reminders() == 3, timeout=60)
        wait_for(lambda: log.read_text().count("notifications.fire_reminders") >= 3, timeout=30)
        time.sleep(0.5)  # let any straggling duplicate finish before counting
    mails = [m for m in read_mails(mail_dir) if m["X-Promueve-Kind"] == reminders.REMINDER_KIND]
    assert len(mails) == 3
    assert len({m["To"].addresses[0].addr_spec for m in mails}) == 3


def test_worker_killed_mid_send_still_sends_each_reminder_once(app, ctx, tmp_path):
    with SmtpServer() as smtp:
        env = {"SMTP_URL": smtp.url, "CELERY_VISIBILITY_TIMEOUT": "2"}
        app.config["SMTP_URL"] = smtp.url
        due_event_with(1)
        deliver_outbox()  # the confirmation goes out first; only the reminder will be held
        confirmations = len(smtp.sink.messages)
        smtp.sink.hold = threading.Event()
        smtp.sink.hold.set()
        assert notifications.dispatch_due_reminders() == 1
        with celery_worker(env, log=tmp_path / "first.log") as worker:
            wait_for(lambda: smtp.sink.holding.is_set(), timeout=60)
            worker.send_signal(signal.SIGKILL)  # dies while the SMTP server holds the message
            worker.wait()
        smtp.sink.hold.clear()
        time.sleep(2.5)  # past the visibility timeout: the next worker gets the task back
        assert len(smtp.sink.messages) == confirmations
        with celery_worker(env, log=tmp_path / "second.log"):
            later = utcnow() + timedelta(seconds=app.config["OUTBOX_STUCK_AFTER_SECONDS"] + 1)
            with freeze_time(later):
                notifications.sweep_outbox()
            wait_for(lambda: sent_reminders() == 1, timeout=60)
            time.sleep(0.5)
        reminder_messages = [m for m in smtp.sink.messages if m["X-Promueve-Kind"] == reminders.REMINDER_KIND]
        assert len(reminder_messages) == 1
