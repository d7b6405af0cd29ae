"""Start real Promueve processes (Celery worker, web server) for tests that need them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    env["PYTHONPATH"] = str(ROOT)
    return env


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def celery_worker(extra_env: dict[str, str] | None = None, *, pool: str = "solo", log: Path | None = None):
    """A `celery -A worker worker` process consuming the mail and default queues."""
    log_handle = open(log or os.devnull, "w")
    process = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "worker",
            "worker",
            "-Q",
            "mail,default",
            "--pool",
            pool,
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=_env(extra_env),
        stdout=log_handle,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        _stop(process)
        log_handle.close()


@contextmanager
def web_server(port: int, extra_env: dict[str, str] | None = None, log: Path | None = None):
    """The app served by `flask run` on 127.0.0.1:`port`, ready when /healthz answers."""
    log_handle = open(log or os.devnull, "w")
    process = subprocess.Popen(
        [
            str(BIN / "flask"),
            "--app",
            "wsgi",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-reload",
        ],
        cwd=ROOT,
        env=_env(extra_env),
        stdout=log_handle,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"web server did not start (exit {process.poll()})") from None
                time.sleep(0.2)
        yield process
    finally:
        _stop(process)
        log_handle.close()


def wait_for(predicate, timeout: float = 30, interval: float = 0.1):
    """Poll `predicate` until it returns something truthy, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
