"""Celery bound to the Flask app the way Flask's Celery pattern does."""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask


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


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app; every task runs inside `app.app_context()`."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    survive_closed_redis_transport()
    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object(app.config["CELERY"])
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
