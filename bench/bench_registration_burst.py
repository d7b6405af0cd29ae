"""Registration burst: concurrent HTTP clients registering through the API against gunicorn
(4 workers) on PostgreSQL, beside the same clients hitting `GET /healthz` in the same run.

    make bench BENCH=registration      # or: .venv/bin/python bench/bench_registration_burst.py

Phases, all over loopback HTTP with 20 client threads (one connection per request, as
gunicorn's sync workers close them):
  1. baseline: `GET /healthz` (the framework's floor: routing, one SELECT 1, one Redis PING);
  2. spread: 20 distinct verified users, each registering for the same 100 events in its own
     random order (`POST /api/v1/events/<id>/registration`) -> registrations/s, p50, p95;
  3. one popular event: 600 distinct users (30 per client) registering for one event, so
     every request waits for the same row lock;
  4. overbooking: 80 simultaneous requests (a barrier releases them together) against a
     10-seat event with a waitlist: exactly 10 confirmed, 70 waitlisted with distinct positions.
Also reported: gunicorn worker CPU per registration and SQL statements per registration.

Environment: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/promueve_bench,
created with psql when missing; its `public` schema is DROPPED and migrated), BENCH_REDIS_URL
(default redis://127.0.0.1:6379/14, flushed), BENCH_CLIENTS (20), BENCH_EVENTS (100),
BENCH_HOT_USERS (600), BENCH_BURST (80), BENCH_WORKERS (4).
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import (
    bench_env,
    free_port,
    fresh_database,
    percentile,
    replace_section,
    start_gunicorn,
    stop,
    table_row,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "registration_burst.json"
README = ROOT / "bench" / "README.md"
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/promueve_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 20))
EVENTS = int(os.environ.get("BENCH_EVENTS", 100))
HOT_USERS = int(os.environ.get("BENCH_HOT_USERS", 600))
BURST = int(os.environ.get("BENCH_BURST", 80))
WORKERS = int(os.environ.get("BENCH_WORKERS", 4))
SEATS = 10
PASSWORD = "Bench-registro-2026"
TARGET_RATE, TARGET_P95_MS = 300, 100


# --- processes and the database ------------------------------------------------------------


def workers_cpu_seconds(master: subprocess.Popen) -> float:
    """User + system CPU of the gunicorn workers so far."""
    import psutil

    total = 0.0
    for child in psutil.Process(master.pid).children():
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


# --- the HTTP clients ---------------------------------------------------------------------


def call(port: int, method: str, path: str, token: str | None = None, body: bytes | None = None):
    """One request on a fresh connection: (status, body bytes, seconds)."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    return response.status, data, time.perf_counter() - started


def run_clients(port: int, plans: list[list[tuple[str, str, str | None]]]) -> dict:
    """One thread per plan (a list of (method, path, token)); all start together."""
    barrier = threading.Barrier(len(plans) + 1)
    samples: list[list[tuple[int, bytes, float]]] = [[] for _ in plans]

    def client(index: int) -> None:
        barrier.wait()
        for method, path, token in plans[index]:
            try:
                samples[index].append(call(port, method, path, token))
            except OSError as exc:
                samples[index].append((0, str(exc).encode(), 0.0))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(plans))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    flat = [sample for per_client in samples for sample in per_client]
    return {"seconds": seconds, "samples": flat}


def summary(run: dict, ok_status: int) -> dict:
    latencies = [seconds for _status, _body, seconds in run["samples"]]
    statuses: dict[str, int] = {}
    for status, _body, _seconds in run["samples"]:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "requests": len(latencies),
        "ok": statuses.get(str(ok_status), 0),
        "statuses": statuses,
        "seconds": round(run["seconds"], 3),
        "per_second": round(len(latencies) / run["seconds"], 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }


# --- data -----------------------------------------------------------------------------------


def seed(app, users: int) -> tuple[list[str], dict[str, int]]:
    """Verified users (bulk insert) and published events; returns emails and event ids."""
    from sqlalchemy import insert, select

    from accounts import services as accounts
    from core.choices import Sector
    from core.extensions import db
    from core.models import User
    from core.security import hash_password
    from core.timeutil import utcnow
    from events import services

    with app.app_context():
        now = utcnow()
        password_hash = hash_password(PASSWORD)
        sectors = [str(s) for s in Sector]
        emails = [f"persona{i}@bench.example.org" for i in range(users)]
        db.session.execute(
            insert(User),
            [
                {
                    "email": email,
                    "name": f"Persona {i}",
                    "password_hash": password_hash,
                    "sector": sectors[i % len(sectors)],
                    "locale": "es_MX",
                    "timezone": "America/Mexico_City",
                    "is_admin": False,
                    "email_verified_at": now,
                    "created_at": now,
                }
                for i, email in enumerate(emails)
            ],
        )
        db.session.commit()
        institution = accounts.create_institution(
            None, slug="inegi-bench", name="Instituto de Datos de Prueba", acronym="IDP"
        )
        starts = now.replace(microsecond=0) + timedelta(days=14)

        def event(title: str, capacity: int | None) -> int:
            created = services.create_event(
                None,
                institution,
                {
                    "kind": "datathon",
                    "title": title,
                    "summary": "Un día para trabajar con datos abiertos.",
                    "format": "hybrid",
                    "venue": "Biblioteca Vasconcelos",
                    "address": "Eje 1 Norte s/n, Buenavista, Cuauhtémoc",
                    "state": "Ciudad de México",
                    "online_url": "https://meet.example.org/datos",
                    "starts_at": starts,
                    "ends_at": starts + timedelta(hours=6),
                    "capacity": capacity,
                    "waitlist": True,
                },
            )
            services.publish_event(None, created)
            return created.id

        ids = {
            "warmup": event("Datatón de calentamiento", None),
            "hot": event("Datatón muy solicitado", HOT_USERS),
            "seats": event("Mesa de diálogo de 10 lugares", SEATS),
        }
        for index in range(EVENTS):
            ids[f"spread{index}"] = event(f"Datatón {index}", 1000)
        assert db.session.execute(select(User.id)).first()
        db.session.remove()
    return emails, ids


def issue_tokens(port: int, emails: list[str]) -> list[str]:
    """A token per person through `POST /api/v1/tokens` (the public contract), 20 at a time."""
    tokens: list[str | None] = [None] * len(emails)

    def worker(offset: int) -> None:
        for index in range(offset, len(emails), CLIENTS):
            body = json.dumps({"email": emails[index], "password": PASSWORD, "name": "bench"}).encode()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request(
                "POST", "/api/v1/tokens", body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            payload = response.read()
            connection.close()
            if response.status != 201:
                raise RuntimeError(f"token for {emails[index]}: {response.status} {payload[:200]!r}")
            tokens[index] = json.loads(payload)["token"]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(token is None for token in tokens):
        raise RuntimeError("some tokens were not issued")
    return tokens  # type: ignore[return-value]


def registration_counts(app, event_id: int) -> dict[str, int]:
    from sqlalchemy import func, select

    from core.extensions import db
    from events.models import Registration

    with app.app_context():
        rows = db.session.execute(
            select(Registration.status, func.count())
            .where(Registration.event_id == event_id)
            .group_by(Registration.status)
        ).all()
        db.session.remove()
    return {str(status): count for status, count in rows}


def queries_per_registration(app, event_id: int, token: str) -> tuple[int, int]:
    """SQL statements and status of one registration, run in-process through the test client."""
    from sqlalchemy import event as sa_event

    from core.extensions import db

    statements = 0

    def count(*_args, **_kwargs):
        nonlocal statements
        statements += 1

    with app.app_context():
        engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        response = app.test_client().post(
            f"/api/v1/events/{event_id}/registration", headers={"Authorization": f"Bearer {token}"}
        )
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    return statements, response.status_code


def check_burst(app, event_id: int, run: dict) -> dict:
    """Exactly SEATS confirmed, the rest waitlisted with distinct positions 1..n, none lost."""
    from sqlalchemy import select

    from core.extensions import db
    from events.models import Registration, RegistrationStatus

    answers = [json.loads(body) for status, body, _s in run["samples"] if status == 201]
    confirmed = [a for a in answers if a["status"] == "confirmed"]
    waitlisted = [a for a in answers if a["status"] == "waitlisted"]
    positions = sorted(a["waitlist_position"] for a in waitlisted)
    with app.app_context():
        rows = db.session.execute(
            select(Registration.status).where(Registration.event_id == event_id).order_by(Registration.id)
        ).scalars()
        statuses = [str(s) for s in rows]
        db.session.remove()
    db_confirmed = statuses.count(RegistrationStatus.confirmed)
    # Arrival order: the first SEATS rows (by id) are the confirmed ones.
    in_order = statuses[:SEATS] == [RegistrationStatus.confirmed] * SEATS
    ok = (
        len(confirmed) == SEATS
        and db_confirmed == SEATS
        and len(answers) == len(run["samples"])
        and len(statuses) == len(run["samples"])
        and positions == list(range(1, len(waitlisted) + 1))
        and in_order
    )
    return {
        "requests": len(run["samples"]),
        "answered_201": len(answers),
        "confirmed": len(confirmed),
        "confirmed_in_database": db_confirmed,
        "waitlisted": len(waitlisted),
        "waitlist_positions_distinct_1_to_n": positions == list(range(1, len(waitlisted) + 1)),
        "confirmed_first_in_arrival_order": in_order,
        "capacity": SEATS,
        "zero_overbooking": ok,
    }


# --- the run ------------------------------------------------------------------------------


def main() -> int:
    if not DATABASE_URL.startswith("postgres"):
        print("this benchmark needs PostgreSQL (BENCH_DATABASE_URL)")
        return 2
    import redis

    workdir = Path(tempfile.mkdtemp(prefix="promueve-bench-registration-"))
    port = free_port()
    env = bench_env(
        port,
        workdir,
        DATABASE_URL,
        REDIS_URL,
        # Cheap password hashing for the set-up; the token endpoint is rate-limited.
        ARGON2_TIME_COST="1",
        ARGON2_MEMORY_COST="8192",
        ARGON2_PARALLELISM="1",
        LIMIT_AUTH_PER_IP="100000 per minute",
        LIMIT_AUTH_PER_ACCOUNT="100000 per minute",
    )
    redis.Redis.from_url(REDIS_URL).flushdb()
    print(f"migrating {DATABASE_URL.rsplit('/', 1)[-1]} and seeding")
    fresh_database(DATABASE_URL, env)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from app import create_app

    app = create_app()
    emails, ids = seed(app, CLIENTS + HOT_USERS + BURST + 1)
    load = os.getloadavg()[0]
    server = start_gunicorn(
        port, env, workdir / "gunicorn.log", workers=WORKERS, extra_args=("--backlog", "2048")
    )
    try:
        started = time.perf_counter()
        tokens = issue_tokens(port, emails)
        print(f"{len(tokens)} tokens via POST /api/v1/tokens in {time.perf_counter() - started:.1f} s")
        spread_tokens = tokens[:CLIENTS]
        hot_tokens = tokens[CLIENTS : CLIENTS + HOT_USERS]
        burst_tokens = tokens[CLIENTS + HOT_USERS : CLIENTS + HOT_USERS + BURST]
        spare_token = tokens[-1]

        # Untimed: every worker imports and renders once, and every token is "recently used"
        # (the API writes last_used_at at most every 5 minutes; that write is not the subject here).
        run_clients(
            port, [[("GET", "/api/v1/tokens", t) for t in tokens[i::CLIENTS]] for i in range(CLIENTS)]
        )
        run_clients(
            port,
            [[("POST", f"/api/v1/events/{ids['warmup']}/registration", t)] for t in spread_tokens],
        )

        baseline = summary(
            run_clients(port, [[("GET", "/healthz", None)] * max(EVENTS, 50) for _ in range(CLIENTS)]), 200
        )
        print(
            f"baseline GET /healthz: {baseline['per_second']}/s, "
            f"p50 {baseline['p50_ms']} ms, p95 {baseline['p95_ms']} ms"
        )

        spread_ids = [ids[f"spread{i}"] for i in range(EVENTS)]
        plans = []
        for token in spread_tokens:
            order = spread_ids[:]
            random.Random(token).shuffle(order)
            plans.append([("POST", f"/api/v1/events/{event_id}/registration", token) for event_id in order])
        cpu_before = workers_cpu_seconds(server)
        spread = summary(run_clients(port, plans), 201)
        spread["worker_cpu_ms_per_request"] = round(
            (workers_cpu_seconds(server) - cpu_before) * 1000 / spread["requests"], 1
        )
        spread["confirmed_in_database"] = sum(
            registration_counts(app, event_id).get("confirmed", 0) for event_id in spread_ids
        )
        print(
            f"registrations (20 users x {EVENTS} events): {spread['per_second']}/s, "
            f"p50 {spread['p50_ms']} ms, p95 {spread['p95_ms']} ms, "
            f"{spread['worker_cpu_ms_per_request']} ms worker CPU each, statuses {spread['statuses']}"
        )

        hot_path = f"/api/v1/events/{ids['hot']}/registration"
        cpu_before = workers_cpu_seconds(server)
        hot = summary(
            run_clients(
                port, [[("POST", hot_path, t) for t in hot_tokens[i::CLIENTS]] for i in range(CLIENTS)]
            ),
            201,
        )
        hot["worker_cpu_ms_per_request"] = round(
            (workers_cpu_seconds(server) - cpu_before) * 1000 / hot["requests"], 1
        )
        hot["confirmed_in_database"] = registration_counts(app, ids["hot"]).get("confirmed", 0)
        print(
            f"one popular event ({HOT_USERS} users): {hot['per_second']}/s, "
            f"p50 {hot['p50_ms']} ms, p95 {hot['p95_ms']} ms, statuses {hot['statuses']}"
        )

        seats_path = f"/api/v1/events/{ids['seats']}/registration"
        burst_run = run_clients(port, [[("POST", seats_path, t)] for t in burst_tokens])
        burst = {**summary(burst_run, 201), **check_burst(app, ids["seats"], burst_run)}
        print(
            f"{BURST} simultaneous requests on {SEATS} seats: {burst['confirmed']} confirmed "
            f"({burst['confirmed_in_database']} in the database), {burst['waitlisted']} waitlisted, "
            f"zero overbooking: {burst['zero_overbooking']}"
        )
    finally:
        stop(server)
    statements, status = queries_per_registration(app, ids["spread0"], spare_token)
    redis.Redis.from_url(REDIS_URL).flushdb()

    result = {
        "benchmark": "registration_burst",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average_at_start": round(load, 2),
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "database": "PostgreSQL",
        "gunicorn_workers": WORKERS,
        "clients": CLIENTS,
        "baseline_healthz": baseline,
        "registrations_spread": spread,
        "registrations_one_event": hot,
        "overbooking_burst": burst,
        "sql_statements_per_registration": statements if status == 201 else None,
        "ratio_to_baseline": round(spread["per_second"] / baseline["per_second"], 3),
        "targets": {"per_second": TARGET_RATE, "p95_ms": TARGET_P95_MS, "overbooking": 0},
        "meets_targets": spread["per_second"] >= TARGET_RATE
        and spread["p95_ms"] <= TARGET_P95_MS
        and burst["zero_overbooking"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    write_readme_section(result)
    print(
        f"figure: {spread['per_second']} registrations/s (target >= {TARGET_RATE}), "
        f"p95 {spread['p95_ms']} ms (target <= {TARGET_P95_MS}) beside GET /healthz "
        f"{baseline['per_second']}/s, p95 {baseline['p95_ms']} ms; "
        f"{statements if status == 201 else f'(in-process registration failed: {status})'} SQL statements "
        f"per registration; results in {RESULTS.relative_to(ROOT)}"
    )
    return 0 if burst["zero_overbooking"] and spread["ok"] == spread["requests"] else 1


def write_readme_section(result: dict) -> None:
    start, end = "<!-- registration-burst:start -->", "<!-- registration-burst:end -->"
    base, spread, hot, burst = (
        result["baseline_healthz"],
        result["registrations_spread"],
        result["registrations_one_event"],
        result["overbooking_burst"],
    )

    def cpu(figures: dict) -> str:
        return f"{figures['worker_cpu_ms_per_request']} ms" if "worker_cpu_ms_per_request" in figures else ""

    def line(title: str, figures: dict, bold: bool = False) -> str:
        mark = "**" if bold else ""
        return table_row(
            title,
            f"{figures['requests']:,}",
            f"{mark}{figures['per_second']:,}{mark}",
            f"{figures['p50_ms']} ms",
            f"{mark}{figures['p95_ms']} ms{mark}",
            cpu(figures),
        )

    rows = [
        table_row("run", "requests", "per second", "p50", "p95", "worker CPU / request"),
        table_row(*["---"] * 6),
        line("baseline `GET /healthz`", base),
        line(f"registrations, {result['clients']} users × {EVENTS} events", spread, bold=True),
        line(f"registrations, {hot['requests']} users on one event", hot),
        line(f"{burst['requests']} simultaneous on a {burst['capacity']}-seat event", burst),
    ]
    section = f"""{start}
## Registration burst (`bench_registration_burst.py`)

gunicorn with {result["gunicorn_workers"]} sync workers on PostgreSQL; {result["clients"]} client
threads over loopback HTTP, one connection per request. Registrations are
`POST /api/v1/events/<id>/registration` by distinct verified users with bearer tokens
(issued through `POST /api/v1/tokens`); each one locks the event row, re-counts, inserts, and
writes the confirmation email (QR code and `.ics` attached) and its reminders in the same
transaction. Baseline in the same run: the same clients on `GET /healthz`.

{chr(10).join(rows)}

Targets: ≥ {result["targets"]["per_second"]} registrations/s and p95 ≤ {result["targets"]["p95_ms"]} ms
(**{"met" if result["meets_targets"] else "not met"}**). Overbooking: {burst["confirmed"]} confirmed of
{burst["capacity"]} seats ({burst["confirmed_in_database"]} in the database), {burst["waitlisted"]} waitlisted
with positions 1–{burst["waitlisted"]}, zero overbooking: **{"yes" if burst["zero_overbooking"] else "NO"}**.
SQL statements per registration: {result["sql_statements_per_registration"]}. Measured
{result["measured_at"][:10]} on {result["cpus"]} CPUs ({result["machine"]}), load average
{result["load_average_at_start"]} at the start; clients, gunicorn and PostgreSQL share the CPUs.
Raw result: `bench/results/registration_burst.json`.
{end}"""
    replace_section(start, end, section)


if __name__ == "__main__":
    sys.exit(main())
