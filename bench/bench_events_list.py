"""Events list: p50/p95 and SQL statements per request of the public list page (`GET /events`)
and the API list (`GET /api/v1/events`) on an empty database, with one page of events, and
with 10,000 events and 100,000 registrations, all in the same run.

    make bench BENCH=events_list       # or: .venv/bin/python bench/bench_events_list.py

Latency: one client, sequential requests over loopback HTTP to gunicorn (1 sync worker) on
PostgreSQL, so the figures are service times without queueing. The baseline runs beside the
figure: a twin database copied before any event was loaded (`<name>_empty`, CREATE DATABASE …
TEMPLATE) is served by a second gunicorn, and every timed request to the loaded database is
paired with the same request to the empty one (alternating which goes first), so load from
anything else on the machine weighs on both alike. SQL statements: the same
requests through `app.test_client()` in this process with a `before_cursor_execute` counter.
The data is bulk-loaded with COPY and ANALYZEd. The figure is p95(10k)/p95(empty) per
endpoint (target <= 2); statements per request must not grow with the data. The last page
(`/events?when=&page=<last>`) is shown too: OFFSET pagination reads every skipped row.

Environment: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/promueve_bench,
created with psql when missing; its `public` schema is DROPPED and migrated), BENCH_REDIS_URL
(default redis://127.0.0.1:6379/14, flushed), BENCH_REQUESTS (200 per endpoint and size),
BENCH_EVENTS_N (10000), BENCH_REGISTRATIONS_N (100000).
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from common import (
    bench_env,
    free_port,
    fresh_database,
    percentile,
    psql,
    replace_section,
    start_gunicorn,
    stop,
    table_row,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "events_list.json"
README = ROOT / "bench" / "README.md"
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/promueve_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 200))
N_EVENTS = int(os.environ.get("BENCH_EVENTS_N", 10_000))
N_REGISTRATIONS = int(os.environ.get("BENCH_REGISTRATIONS_N", 100_000))
N_USERS = 5_000
N_INSTITUTIONS = 40
PAGE_EVENTS = 20  # one full page of the list
WARMUP = 20
TARGET_RATIO = 2.0
KINDS = ("dialogue_table", "datathon", "data_for_development")
FORMATS = ("in_person", "online", "hybrid")
SECTORS = ("academia", "civil_society", "private_sector", "journalism", "government", None)


# --- processes and the database ------------------------------------------------------------


def get(port: int, path: str) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers={"Accept-Language": "es-MX"})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return response.status, body, time.perf_counter() - started


# --- data (COPY) -------------------------------------------------------------------------------


def copy_rows(app, table: str, columns: tuple[str, ...], rows) -> None:
    from core.extensions import db

    with app.app_context():
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            with cursor.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
            connection.commit()
        finally:
            connection.close()


def scalar_list(app, sql: str) -> list:
    from sqlalchemy import text

    from core.extensions import db

    with app.app_context():
        values = list(db.session.execute(text(sql)).scalars())
        db.session.remove()
    return values


def seed_people(app) -> None:
    """Institutions (through the service, so they are what the app expects) and users (COPY)."""
    from accounts import services as accounts
    from core.extensions import db
    from core.security import unusable_password

    with app.app_context():
        for index in range(N_INSTITUTIONS):
            accounts.create_institution(
                None, slug=f"inst-{index}", name=f"Institución de datos {index}", acronym=f"ID{index}"
            )
        password = unusable_password()
        db.session.remove()
    now = datetime.now(UTC)
    copy_rows(
        app,
        "user",
        (
            "email",
            "name",
            "password_hash",
            "sector",
            "locale",
            "timezone",
            "is_admin",
            "auth_id",
            "created_at",
            "email_verified_at",
        ),
        (
            (
                f"persona{i}@bench.example.org",
                f"Persona {i}",
                password,
                SECTORS[i % len(SECTORS)],
                "es_MX",
                "America/Mexico_City",
                False,
                f"bench-auth-{i}",
                now,
                now,
            )
            for i in range(N_USERS)
        ),
    )


EVENT_COLUMNS = (
    "institution_id",
    "kind",
    "status",
    "title",
    "summary",
    "description",
    "topics",
    "format",
    "venue",
    "address",
    "state",
    "online_url",
    "starts_at",
    "ends_at",
    "timezone",
    "capacity",
    "waitlist_enabled",
    "academic_partner",
    "reminder_offsets",
    "sequence",
    "cancel_reason",
    "created_at",
    "updated_at",
    "published_at",
    "completed_at",
    "cancelled_at",
)
REGISTRATION_COLUMNS = (
    "event_id",
    "user_id",
    "status",
    "code",
    "sector",
    "answers",
    "walk_in",
    "erased",
    "created_at",
    "confirmed_at",
    "cancelled_at",
)


def event_rows(rng: random.Random, count: int, first: int, *, upcoming_only: bool):
    from core.choices import MEXICAN_STATES

    institutions = scalar_list_cache["institutions"]
    now = datetime.now(UTC).replace(microsecond=0)
    for index in range(first, first + count):
        kind = KINDS[index % 3]
        days = rng.uniform(1, 60) if upcoming_only else rng.uniform(-365, 365)
        starts = now + timedelta(days=days)
        ends = starts + timedelta(hours=rng.choice((2, 3, 4, 8)))
        roll = rng.random()
        if upcoming_only:
            status = "published"
        elif ends < now:
            status = "completed" if roll < 0.6 else "cancelled" if roll < 0.7 else "published"
        else:
            status = "draft" if roll < 0.08 else "cancelled" if roll < 0.15 else "published"
        created = starts - timedelta(days=30)
        yield (
            rng.choice(institutions),
            kind,
            status,
            f"Actividad de datos abiertos {index}",
            "Mesa de trabajo con personas usuarias de datos abiertos para priorizar conjuntos.",
            "Descripción **larga** de la actividad.\n\n- agenda\n- datos",
            '["salud", "presupuesto"]',
            FORMATS[index % 3],
            "Centro de datos",
            "Av. Reforma 1, Cuauhtémoc",
            rng.choice(MEXICAN_STATES),
            "https://meet.example.org/sala" if index % 3 else None,
            starts,
            ends,
            "America/Mexico_City",
            rng.choice((None, 20, 50, 100, 200)),
            True,
            "Universidad Nacional" if kind == "data_for_development" else None,
            "[1440, 60]",
            rng.randint(0, 3),
            "Cambio de sede." if status == "cancelled" else None,
            created,
            created,
            created if status != "draft" else None,
            ends if status == "completed" else None,
            created + timedelta(days=1) if status == "cancelled" else None,
        )


def registration_rows(rng: random.Random, event_ids: list[int], total: int, first_code: int):
    users = scalar_list_cache["users"]
    per_event, extra = divmod(total, len(event_ids))
    code = first_code
    now = datetime.now(UTC)
    for position, event_id in enumerate(event_ids):
        for user_id in rng.sample(users, per_event + (1 if position < extra else 0)):
            roll = rng.random()
            status = "confirmed" if roll < 0.85 else "waitlisted" if roll < 0.95 else "cancelled"
            yield (
                event_id,
                user_id,
                status,
                f"{code:08X}",
                SECTORS[user_id % len(SECTORS)],
                "{}",
                False,
                False,
                now,
                now if status == "confirmed" else None,
                now if status == "cancelled" else None,
            )
            code += 1


scalar_list_cache: dict[str, list] = {}


def add_events(app, rng: random.Random, events: int, registrations: int, *, upcoming_only: bool) -> None:
    scalar_list_cache["institutions"] = scalar_list(app, "SELECT id FROM institution ORDER BY id")
    scalar_list_cache["users"] = scalar_list(app, 'SELECT id FROM "user" ORDER BY id')
    before = scalar_list(app, "SELECT coalesce(max(id), 0) FROM event")[0]
    first = scalar_list(app, "SELECT count(*) FROM event")[0]
    copy_rows(app, "event", EVENT_COLUMNS, event_rows(rng, events, first, upcoming_only=upcoming_only))
    new_ids = scalar_list(app, f"SELECT id FROM event WHERE id > {before} ORDER BY id")
    first_code = scalar_list(app, "SELECT count(*) FROM registration")[0]
    copy_rows(
        app, "registration", REGISTRATION_COLUMNS, registration_rows(rng, new_ids, registrations, first_code)
    )
    psql(DATABASE_URL, "ANALYZE")


def twin_database(app) -> str:
    """A copy of the bench database as it is now (people, no events), for the baseline."""
    from core.extensions import db

    with app.app_context():
        db.engine.dispose()  # CREATE DATABASE … TEMPLATE needs the template without sessions
    name = urlsplit(DATABASE_URL).path.lstrip("/")
    twin = f"{name}_empty"
    psql(DATABASE_URL, f'DROP DATABASE IF EXISTS "{twin}"', database="postgres")
    psql(DATABASE_URL, f'CREATE DATABASE "{twin}" TEMPLATE "{name}"', database="postgres")
    return DATABASE_URL.rsplit("/", 1)[0] + "/" + twin


# --- measuring -------------------------------------------------------------------------------


def count_statements(app, path: str) -> tuple[int, int, list[tuple[float, str]]]:
    """(statements, status, [(ms, first line of SQL)]) of one request run in this process."""
    from sqlalchemy import event as sa_event

    from core.extensions import db

    timings: list[tuple[float, str]] = []
    started: list[float] = []

    def before(_conn, _cursor, statement, *_args):
        started.append(time.perf_counter())

    def after(_conn, _cursor, statement, *_args):
        timings.append(((time.perf_counter() - started.pop()) * 1000, " ".join(statement.split())[:160]))

    with app.app_context():
        engine = db.engine
    app.test_client().get(path)  # warm the compiled-statement cache first
    sa_event.listen(engine, "before_cursor_execute", before)
    sa_event.listen(engine, "after_cursor_execute", after)
    try:
        response = app.test_client().get(path)
    finally:
        sa_event.remove(engine, "before_cursor_execute", before)
        sa_event.remove(engine, "after_cursor_execute", after)
    return len(timings), response.status_code, timings


def last_page(app) -> int:
    """The last page of `/events?when=` (every public event)."""
    from core.extensions import db
    from events import services

    with app.app_context():
        last = services.list_events(services.EventFilters(page=10**5)).page  # clamped to the last page
        db.session.remove()
    return last


def timed_get(port: int, path: str) -> float:
    status, _body, seconds = get(port, path)
    if status != 200:
        raise RuntimeError(f"{path}: {status}")
    return seconds


def measure(app, port: int, label: str, baseline_port: int | None = None) -> dict:
    """Each endpoint's latencies; with `baseline_port`, each request paired with the same one
    to the empty twin database (the baseline measured beside the figure)."""
    page = last_page(app)
    endpoints = {
        "list_page": "/events",
        "api": "/api/v1/events",
        "list_last_page": f"/events?when=&page={page}",
    }
    figures: dict[str, dict] = {}
    for name, path in endpoints.items():
        for _ in range(WARMUP):
            get(port, path)
            if baseline_port is not None:
                get(baseline_port, path)
        latencies, baseline = [], []
        for index in range(REQUESTS):
            if baseline_port is None:
                latencies.append(timed_get(port, path))
            elif index % 2:
                latencies.append(timed_get(port, path))
                baseline.append(timed_get(baseline_port, path))
            else:
                baseline.append(timed_get(baseline_port, path))
                latencies.append(timed_get(port, path))
        statements, _status, timings = count_statements(app, path)
        figures[name] = {
            "path": path,
            "requests": REQUESTS,
            "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
            "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
            "sql_statements": statements,
            "slowest_statements": [
                {"ms": round(ms, 2), "sql": sql} for ms, sql in sorted(timings, reverse=True)[:3]
            ],
        }
        line = (
            f"  {label:>20} {path:<32} p50 {figures[name]['p50_ms']:7.2f} ms  "
            f"p95 {figures[name]['p95_ms']:7.2f} ms  {statements} SQL statements"
        )
        if baseline:
            figures[name]["baseline_empty"] = {
                "p50_ms": round(percentile(baseline, 0.5) * 1000, 2),
                "p95_ms": round(percentile(baseline, 0.95) * 1000, 2),
            }
            line += f"  (empty beside it: p95 {figures[name]['baseline_empty']['p95_ms']:.2f} ms)"
        print(line)
    return {"label": label, **counts(app), "endpoints": figures}


def counts(app) -> dict:
    return {
        "events": scalar_list(app, "SELECT count(*) FROM event")[0],
        "registrations": scalar_list(app, "SELECT count(*) FROM registration")[0],
    }


def main() -> int:
    if not DATABASE_URL.startswith("postgres"):
        print("this benchmark needs PostgreSQL (BENCH_DATABASE_URL)")
        return 2
    import redis

    workdir = Path(tempfile.mkdtemp(prefix="promueve-bench-list-"))
    port = free_port()
    env = bench_env(port, workdir, DATABASE_URL, REDIS_URL)
    redis.Redis.from_url(REDIS_URL).flushdb()
    print(f"migrating {DATABASE_URL.rsplit('/', 1)[-1]}")
    fresh_database(DATABASE_URL, env)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from app import create_app

    app = create_app()
    rng = random.Random(2026)
    seed_people(app)
    twin_url = twin_database(app)
    load = os.getloadavg()[0]
    server = start_gunicorn(port, env, workdir / "gunicorn.log")
    baseline_port = free_port()
    baseline_server = start_gunicorn(
        baseline_port,
        bench_env(baseline_port, workdir, twin_url, REDIS_URL),
        workdir / "gunicorn-empty.log",
    )
    sizes = []
    try:
        sizes.append(measure(app, port, "empty"))
        add_events(app, rng, PAGE_EVENTS, PAGE_EVENTS * 10, upcoming_only=True)
        sizes.append(measure(app, port, "one page", baseline_port))
        started = time.perf_counter()
        add_events(app, rng, N_EVENTS - PAGE_EVENTS, N_REGISTRATIONS - PAGE_EVENTS * 10, upcoming_only=False)
        seconds = time.perf_counter() - started
        print(f"  loaded {N_EVENTS:,} events / {N_REGISTRATIONS:,} registrations in {seconds:.1f} s")
        sizes.append(measure(app, port, f"{N_EVENTS // 1000}k / {N_REGISTRATIONS // 1000}k", baseline_port))
    finally:
        stop(server)
        stop(baseline_server)
        redis.Redis.from_url(REDIS_URL).flushdb()

    empty, page, large = sizes
    ratios = {
        name: {
            # The figure: p95 at 10k over the empty database's p95 measured beside it.
            "p95_large_over_empty": round(
                large["endpoints"][name]["p95_ms"] / large["endpoints"][name]["baseline_empty"]["p95_ms"], 2
            ),
            "p95_large_over_empty_run_first": round(
                large["endpoints"][name]["p95_ms"] / empty["endpoints"][name]["p95_ms"], 2
            ),
            "p95_large_over_one_page": round(
                large["endpoints"][name]["p95_ms"] / page["endpoints"][name]["p95_ms"], 2
            ),
            "statements_constant": large["endpoints"][name]["sql_statements"]
            == page["endpoints"][name]["sql_statements"],
            "statements_equal_to_empty": large["endpoints"][name]["sql_statements"]
            == empty["endpoints"][name]["sql_statements"],
        }
        for name in ("list_page", "api", "list_last_page")
    }
    result = {
        "benchmark": "events_list",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average_at_start": round(load, 2),
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "database": "PostgreSQL",
        "sizes": sizes,
        "ratios": ratios,
        "target_ratio": TARGET_RATIO,
        "meets_targets": all(
            ratios[name]["p95_large_over_empty"] <= TARGET_RATIO and ratios[name]["statements_constant"]
            for name in ("list_page", "api")
        ),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    write_readme_section(result)
    for name in ("list_page", "api"):
        print(
            f"figure {name}: p95 {large['endpoints'][name]['p95_ms']} ms at {N_EVENTS:,} events vs "
            f"{large['endpoints'][name]['baseline_empty']['p95_ms']} ms empty beside it = "
            f"{ratios[name]['p95_large_over_empty']}x "
            f"(target <= {TARGET_RATIO}); statements {empty['endpoints'][name]['sql_statements']} / "
            f"{page['endpoints'][name]['sql_statements']} / {large['endpoints'][name]['sql_statements']}"
        )
    return 0 if all(r["statements_constant"] for r in ratios.values()) else 1


def write_readme_section(result: dict) -> None:
    start, end = "<!-- events-list:start -->", "<!-- events-list:end -->"
    names = {
        "list_page": "`GET /events`",
        "api": "`GET /api/v1/events`",
        "list_last_page": "`GET /events?when=&page=<last>`",
    }
    empty, page, large = result["sizes"]
    target = result["target_ratio"]
    header = table_row(
        "request",
        f"{large['events']:,} events, {large['registrations']:,} registrations",
        "baseline: empty database, beside it",
        "p95 ratio",
        "target",
        "pass",
        f"one page ({page['events']} events)",
        "empty, run first",
    )
    rows = [header, table_row(*["---"] * 8)]

    def cell(figures: dict) -> str:
        return f"{figures['p50_ms']} / {figures['p95_ms']} ms ({figures['sql_statements']} SQL)"

    for name, title in names.items():
        ratio = result["ratios"][name]["p95_large_over_empty"]
        gated = name in ("list_page", "api")
        baseline = large["endpoints"][name]["baseline_empty"]
        rows.append(
            table_row(
                title,
                cell(large["endpoints"][name]),
                f"{baseline['p50_ms']} / {baseline['p95_ms']} ms",
                f"**{ratio}×**",
                f"≤ {target}×" if gated else "(informative)",
                ("yes" if ratio <= target else "**no**") if gated else "",
                cell(page["endpoints"][name]),
                cell(empty["endpoints"][name]),
            )
        )
    section = f"""{start}
## Events list (`bench_events_list.py`)

One client, sequential requests (no queueing) over loopback HTTP to gunicorn (1 sync worker)
on PostgreSQL; {result["sizes"][0]["endpoints"]["list_page"]["requests"]} timed requests per cell after
{WARMUP} warm-up ones, anonymous, default filters (the page shows upcoming events; the API all
public ones), page 1 of 20. Data bulk-loaded with COPY, then `ANALYZE`. The baseline is measured
beside the figure: a twin of the database copied before any event was loaded is served by a second
gunicorn, and each timed request to the loaded database is paired with the same request to the
empty one (alternating which goes first), so whatever else loads the machine weighs on both.
SQL statements counted in-process (`app.test_client()` with a `before_cursor_execute` listener).

{chr(10).join(rows)}

Cells: p50 / p95 (SQL statements per request). Target: p95 at 10k events ≤ {target}× the empty
database's p95, and statements per request constant whatever the data
(**{"met" if result["meets_targets"] else "not met"}**). The list counts its matches only 10 pages
past the one asked for (a `LIMIT`ed count; beyond it the page says "more than N" and the API's
`X-Pagination` has `"total_exact": false`), the institutions of the filter come from one
semi-join per institution, seat counts are one grouped query for the page. The empty database
sends one statement fewer (no events, so no seat-count query). The last-page row is informative:
OFFSET pagination reads every skipped row. Measured {result["measured_at"][:10]} on
{result["cpus"]} CPUs ({result["machine"]}), load average {result["load_average_at_start"]} at the start
(the machine is shared; absolute figures move with its load, the ratio much less).
Raw result (with the slowest statements of each request): `bench/results/events_list.json`.
{end}"""
    replace_section(start, end, section)


if __name__ == "__main__":
    sys.exit(main())
