"""Helpers shared by the benchmarks: a scratch PostgreSQL database, processes, figures."""

from __future__ import annotations

import http.client
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
README = ROOT / "bench" / "README.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def psql(url: str, sql: str, database: str | None = None) -> str:
    """Run SQL with psql as the URL's user (on its host), return the unaligned output."""
    parts = urlsplit(url)
    command = [
        "psql",
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
        "-d",
        database or parts.path.lstrip("/"),
        "-v",
        "ON_ERROR_STOP=1",
        "-qtAc",
        sql,
    ]
    env = {**os.environ, **({"PGPASSWORD": parts.password} if parts.password else {})}
    return subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout.strip()


def fresh_database(url: str, env: dict[str, str]) -> None:
    """Create the bench database if missing, drop its schema and migrate it."""
    name = urlsplit(url).path.lstrip("/")
    if psql(url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'", database="postgres") != "1":
        psql(url, f'CREATE DATABASE "{name}"', database="postgres")
    psql(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def table_row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def replace_section(start: str, end: str, section: str) -> None:
    """Rewrite this benchmark's marked section of bench/README.md (others are left alone)."""
    text = (
        README.read_text()
        if README.exists()
        else "# Benchmarks\n\n`make bench` runs every `bench/bench_*.py`.\n"
    )
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    README.write_text(text)


def bench_env(port: int, workdir: Path, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of the app processes a benchmark starts (its own database and Redis db)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-secret-key",
        "BASE_URL": f"http://127.0.0.1:{port}",
        "SMTP_URL": "",
        "MAIL_DIR": str(workdir / "mail"),
        "RATELIMIT_KEY_PREFIX": "promueve-bench",
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    for name in ("FLASK_ENV", "PROMUEVE_ENV"):
        env.pop(name, None)
    return env


def _healthz(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


def start_gunicorn(
    port: int, env: dict[str, str], log: Path, *, workers: int = 1, extra_args: tuple[str, ...] = ()
) -> subprocess.Popen:
    """gunicorn serving the app on 127.0.0.1:`port`, returned once /healthz answers 200."""
    command = [str(BIN / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{port}", *extra_args]
    process = subprocess.Popen(
        [*command, "--log-level", "warning", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if _healthz(port) == 200:
                return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not start; see {log}")
        time.sleep(0.2)
