"""The outbox with a real Celery worker process on Redis."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from core.extensions import db
from core.timeutil import utcnow
from notifications import services
from notifications.models import Notification
from tests.factories import make_user, read_mails
from tests.notifications.smtp_sink import SmtpServer
from tests.processes import celery_worker, wait_for

pytestmark = pytest.mark.worker


def notify(user, key: str) -> int:
    row = services.notify(
        to=user,
        kind="account.verify",
        subject="Confirma tu correo",
        template="accounts/email/verify",
        dedupe_key=key,
        context={"verify_url": "http://promueve.test/verify/x", "hours": 48},
    )
    notification_id = row.id
    db.session.commit()  # and hold no transaction open while the worker writes
    return notification_id


def status_of(notification_id: int) -> str:
    # End the read at once: on SQLite an open transaction would hold the write lock.
    status = db.session.execute(
        select(Notification.status).where(Notification.id == notification_id)
    ).scalar_one()
    db.session.rollback()
    return status


def test_worker_delivers_and_a_duplicated_task_sends_once(app, ctx, mail_dir, tmp_path):
    notification_id = notify(make_user("a@example.org"), "dup")
    # The same task delivered again (as a broker redelivery looks to a worker).
    celery = app.extensions["celery"]
    celery.send_task(services.SEND_TASK, args=[notification_id])
    celery.send_task(services.SEND_TASK, args=[notification_id])
    log = tmp_path / "worker.log"
    with celery_worker(log=log):
        wait_for(lambda: status_of(notification_id) == "sent")
        wait_for(lambda: log.read_text().count("succeeded in") == 3, timeout=20)
    assert len(read_mails(mail_dir)) == 1
    text = log.read_text()
    assert text.count("'sent'") == 1 and text.count("'skipped'") == 2


def test_worker_killed_mid_send_loses_nothing_and_sends_once(app, ctx, tmp_path):
    env = {"CELERY_VISIBILITY_TIMEOUT": "2"}
    with SmtpServer() as smtp:
        env["SMTP_URL"] = smtp.url
        app.config["SMTP_URL"] = smtp.url
        smtp.sink.hold = threading.Event()
        smtp.sink.hold.set()
        notification_id = notify(make_user("a@example.org"), "killed")
        with celery_worker(env, log=tmp_path / "first.log") as worker:
            wait_for(lambda: smtp.sink.holding.is_set(), timeout=30)
            worker.send_signal(signal.SIGKILL)  # dies holding an unacknowledged task
            worker.wait()
        smtp.sink.hold.clear()
        time.sleep(2.5)  # past the visibility timeout: the next worker restores the task
        db.session.rollback()
        assert status_of(notification_id) == "sending" and smtp.sink.messages == []

        log = tmp_path / "second.log"
        with celery_worker(env, log=log):
            # The broker redelivers the unacknowledged task; the row is still claimed,
            # so that run skips. The sweeper then re-queues the stuck row.
            wait_for(lambda: "'skipped'" in log.read_text(), timeout=30)
            later = utcnow() + timedelta(seconds=app.config["OUTBOX_STUCK_AFTER_SECONDS"] + 1)
            with freeze_time(later):
                assert services.sweep_outbox() == 1
            wait_for(lambda: status_of(notification_id) == "sent", timeout=30)
        assert len(smtp.sink.messages) == 1
