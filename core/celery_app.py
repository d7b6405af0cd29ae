"""Celery bound to the Flask app the way Flask's Celery pattern does."""

from __future__ import annotations

import logging
import threading

from celery import Celery, Task
from flask import Flask, current_app

log = logging.getLogger(__name__)


def survive_closed_redis_transport() -> None:
    """Make kombu's Redis transport fail a closed connection with a connection error.

    Works around a kombu fault (present in kombu 5.7.0, the latest release; reported as
    celery/kombu#582 and #970): when the broker goes away while a task is unacknowledged,
    the worker's consumer calls `Connection.collect()`, whose `close_connection()` stops at
    the first channel that raises (the BRPOP read that `Channel.close()` does since
    celery/kombu#1733), then clears `transport.client`. Closing the connection afterwards
    closes the default channel again, which restores its unacknowledged message through
    `Channel._connparams()`, which reads `transport.client.hostname` and raises
    `AttributeError("'NoneType' object has no attribute 'hostname'")`: not a connection
    error, so Celery stops the worker ("Unrecoverable error") instead of reconnecting.
    Raising redis' ConnectionError there lets Celery ignore it and reconnect. The message
    is not lost: it stays in Redis' unacked set (restored after the visibility timeout)
    or, if Redis lost it, the outbox sweeper re-queues its rows.
    """
    from kombu.transport import redis as kombu_redis

    channel = kombu_redis.Channel
    if getattr(channel._connparams, "survives_closed_transport", False):
        return
    connparams = channel._connparams

    def _connparams(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:
            raise kombu_redis.get_redis_ConnectionError()("the broker connection is already closed")
        return connparams(self, asynchronous=asynchronous)

    _connparams.survives_closed_transport = True
    channel._connparams = _connparams


def wake_event_loop_for_callbacks_queued_in_it() -> None:
    """Make a callback that the worker's event loop queues for itself run at once.

    Works around a kombu fault (present in kombu 5.7.0, the latest release; reported as
    celery/celery#7718, fix proposed in celery/kombu#1587 and never merged): the event
    loop runs the callbacks queued with `Hub.call_soon()`, then polls its sockets for as
    long as its next timer allows (up to 10 s), without looking whether those callbacks
    queued more. With late acknowledgement and a prefetch of one, the acknowledgement of
    a task is such a callback: when the task was itself read by a queued callback (the
    read that follows a read, which is how a worker drains a queue that has work), its
    acknowledgement waits for that poll, and the broker sends nothing more until it comes.
    After a reconnection to RabbitMQ, which redelivers the unacknowledged tasks at once,
    this happens often: the worker looks idle for up to 10 s with a full queue. A call
    from another thread already wakes the poll through the hub's waker; this makes a call
    from the loop itself do the same, so the poll returns at once and the callback runs.
    """
    from kombu.asynchronous.hub import Hub

    if getattr(Hub.call_soon, "wakes_own_loop", False):
        return
    call_soon = Hub.call_soon

    def _call_soon(self, callback, *args):
        promise = call_soon(self, callback, *args)
        if threading.get_ident() == self._loop_thread:
            with self._ready_lock:
                wake, self._wake_pending = not self._wake_pending, True
            waker = self._waker
            if wake and waker is not None:
                waker.wake()
        return promise

    _call_soon.wakes_own_loop = True
    Hub.call_soon = _call_soon


def reuse_redis_client_per_pool() -> None:
    """Make kombu's Redis channel reuse one client over its connection pool.

    kombu (5.7.0) builds a new `redis.Redis` object for every publish (`conn_or_acquire`
    without a client calls `_create_client()`), and building one sets up its response
    callbacks: about 0.5 ms of CPU per task sent, a noticeable share of a registration
    request. The client holds no connection of its own (each command borrows one from the
    pool), so one client per pool serves every publish; a new pool (after a reconnection)
    gets a new client.
    """
    from kombu.transport import redis as kombu_redis

    channel = kombu_redis.Channel
    if getattr(channel._create_client, "reuses_client", False):
        return
    create_client = channel._create_client

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return create_client(self, asynchronous=True)
        pool = self.pool
        cached = self.__dict__.get("_promueve_client")
        if cached is None or cached[0] is not pool:
            cached = (pool, create_client(self))
            self.__dict__["_promueve_client"] = cached
        return cached[1]

    _create_client.reuses_client = True
    channel._create_client = _create_client


# How a web request (or anything that must not wait) reaches the broker: two tries, 0.2 s
# apart (just one if it took a second, as a connect timeout does), then the caller's own
# fallback runs (the outbox sweeper, a status saying it is not queued, …). Kombu's own way
# when a publish needs a connection tries again 2 s, then 4 s later, until
# broker_connection_timeout (3 s) has passed: a request writing mail with the broker down
# hung 6 s per publish (12 s with the second try below), and the demo seed of a first
# `make run` (before its Redis ran) for minutes. Only `publish` uses it:
# broker_transport_options, and with them the worker's patient reconnection, stay as they are.
PUBLISH_CONNECT_POLICY = {
    "max_retries": 1,
    "interval_start": 0.2,
    "interval_step": 0.2,
    "interval_max": 0.2,
    "timeout": 1,
}


def publish(task: str, args: list, **options) -> None:
    """Publish one task by name on a pooled connection, or on a fresh one if the pooled one
    turns out dead (a broker restart); raises at once when the broker cannot be reached."""
    celery = current_app.extensions["celery"]
    with celery.producer_or_acquire() as producer:
        # Connects the pooled connection if it is not (the broker cannot be reached: no
        # second try); one it holds is taken as it is.
        producer.connection.ensure_connection(**PUBLISH_CONNECT_POLICY)
        try:
            celery.send_task(task, args=args, retry=False, producer=producer, **options)
            return
        except Exception as exc:  # noqa: BLE001 - the pooled connection may be one a restart dropped
            # After a broker restart, the first publish on the connection the pool kept
            # fails; one more try on a fresh connection sends it now rather than at the
            # caller's fallback.
            log.info("publishing %s %s failed (%s); trying once on a new connection", task, args, exc)
    with celery.connection_for_write() as connection:
        connection.ensure_connection(**PUBLISH_CONNECT_POLICY)
        celery.send_task(task, args=args, retry=False, connection=connection, **options)


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app; every task runs inside `app.app_context()`."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    survive_closed_redis_transport()
    wake_event_loop_for_callbacks_queued_in_it()
    reuse_redis_client_per_pool()
    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object(app.config["CELERY"])
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
