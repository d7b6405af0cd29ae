"""Demand: the hourly aggregation over 1,000,000 signals against a bare SQL GROUP BY of the
same rows in the same run (target <= 2x), and the demand list p95 with 100 institutions x
10,000 items against the same list on an empty database (target <= 2x).

    make bench BENCH=demand       # or: .venv/bin/python bench/bench_demand.py

Aggregation: `demand.reports.compute_all()` in this process (every institution's ranked
report with sources, 7/30-day trend, suppressed breakdowns by sector, state and intended
use, unique supporters, daily series, stored as snapshots) versus
`SELECT item_id, source, count(*), sum(weight) FROM demand_signal GROUP BY item_id, source`
fetched to the client; best of BENCH_ROUNDS each. List: one client, sequential requests over
loopback HTTP to gunicorn (1 sync worker per database) on PostgreSQL for `GET /api/v1/demand` (most
supported first, all institutions and one institution) and the HTML page `GET /demand`.
Data is generated in PostgreSQL with INSERT ... SELECT generate_series, the items' running
totals backfilled from the signals, then VACUUM ANALYZEd.

Environment: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/promueve_bench_demand,
created when missing; its `public` schema is DROPPED and migrated), BENCH_REDIS_URL
(default redis://127.0.0.1:6379/13), BENCH_REQUESTS (200), BENCH_ITEMS_PER_INSTITUTION
(10000), BENCH_SIGNALS (1000000), BENCH_ROUNDS (3), BENCH_REUSE_DATA=1 (keep the generated data
when the database is already at the migrations' head with the signals in it). The list's
baseline is a second database, `<name>_empty`, served by its own gunicorn at the same time; the
requests alternate between the two.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

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
RESULTS = ROOT / "bench" / "results" / "demand.json"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/promueve_bench_demand"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
# The list's baseline: a database of its own with the same schema and no items.
EMPTY_DATABASE_URL = DATABASE_URL + "_empty"
REUSE = os.environ.get("BENCH_REUSE_DATA") == "1"
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 200))
INSTITUTIONS = 100
ITEMS_PER_INSTITUTION = int(os.environ.get("BENCH_ITEMS_PER_INSTITUTION", 10_000))
SIGNALS = int(os.environ.get("BENCH_SIGNALS", 1_000_000))
USERS = 20_000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
WARMUP = 20
TARGET = 2.0
START = "<!-- bench:demand:start -->"
END = "<!-- bench:demand:end -->"


def verdict(ratio: float) -> str:
    return "**pass**" if ratio <= TARGET else "**fail**"


def get(port: int, path: str) -> float:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers={"Accept-Language": "es-MX"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} -> {response.status}")
    finally:
        connection.close()
    return time.perf_counter() - started


PATHS = {
    "api_all": "/api/v1/demand?sort=supporters",
    "api_institution": "/api/v1/demand?institution=inst-7&sort=supporters",
    "api_recent": "/api/v1/demand?sort=recent&page=5",
    "html": "/demand?institution=inst-7",
}


def list_latencies(port_empty: int, port_full: int) -> tuple[dict, dict]:
    """p50/p95 of each path on the empty and the full database, requests interleaved (empty,
    full, full, empty, ...) so a change of load on the shared machine weighs on both alike."""
    empty, full = {}, {}
    for name, path in PATHS.items():
        for _ in range(WARMUP):
            get(port_empty, path)
            get(port_full, path)
        samples: dict[int, list[float]] = {port_empty: [], port_full: []}
        for index in range(REQUESTS):
            order = (port_empty, port_full) if index % 2 == 0 else (port_full, port_empty)
            for port in order:
                samples[port].append(get(port, path) * 1000)
        for figures, port in ((empty, port_empty), (full, port_full)):
            figures[name] = {
                "p50_ms": percentile(samples[port], 0.5),
                "p95_ms": percentile(samples[port], 0.95),
            }
    return empty, full


def generate(url: str) -> None:
    """100 institutions, users, 1,000,000 items and 1,000,000 signals, made in the database."""
    total_items = INSTITUTIONS * ITEMS_PER_INSTITUTION
    psql(
        url,
        "INSERT INTO institution (slug, name, acronym, government_order, timezone, answer_days, created_at) "
        f"SELECT 'inst-' || g, 'Institución ' || g, 'I' || g, 'federal', 'America/Mexico_City', 10, now() "
        f"FROM generate_series(0, {INSTITUTIONS - 1}) g",
    )
    psql(
        url,
        'INSERT INTO "user" (email, name, password_hash, sector, state, locale, timezone, is_admin, auth_id, '
        "created_at, email_verified_at) SELECT 'p' || g || '@bench.example.org', 'Persona ' || g, '!', "
        "(ARRAY['academia','civil_society','private_sector','journalism','government','citizen'])"
        "[1 + g % 6], "
        "(ARRAY['Jalisco','Oaxaca','Ciudad de México','Nuevo León','Yucatán'])[1 + g % 5], 'es_MX', "
        f"'America/Mexico_City', false, 'bench-' || g, now(), now() FROM generate_series(1, {USERS}) g",
    )
    psql(
        url,
        "INSERT INTO demand_item (institution_id, kind, title, description, status, due_on, "
        "created_at, updated_at) SELECT (SELECT min(id) FROM institution) + g % "
        f"{INSTITUTIONS}, CASE WHEN g % 10 = 0 THEN 'question' ELSE 'publish' END, "
        "'Datos solicitados número ' || g, 'Descripción de la solicitud ' || g, "
        "(ARRAY['received','under_review','scheduled','published','not_possible','received'])"
        "[1 + g % 6], "
        "current_date + (g % 20), now() - (g % 90) * interval '1 day', now() "
        f"FROM generate_series(0, {total_items - 1}) g",
    )
    psql(
        url,
        "INSERT INTO demand_signal (item_id, institution_id, source, ref, weight, user_id, sector, state, "
        "intended_use, created_at) "
        "SELECT g.item_id, i.institution_id, g.source, g.ref, g.weight, g.user_id, g.sector, g.state, "
        "g.intended_use, g.created_at FROM ("
        "SELECT g AS n, (SELECT min(id) FROM demand_item) + ((g::bigint * 2654435761) % 1000003) % "
        f"{total_items} AS item_id, (ARRAY['request','support','support','support','event','survey'])"
        "[1 + g % 6] AS source, "
        "'bench:' || g AS ref, CASE WHEN g % 6 = 5 THEN 3 ELSE 1 END AS weight, "
        f'CASE WHEN g % 6 < 4 THEN (SELECT min(id) FROM "user") + g % {USERS} END AS user_id, '
        "(ARRAY['academia','civil_society','private_sector','journalism','government','citizen', NULL])"
        "[1 + g % 7] AS sector, "
        "(ARRAY['Jalisco','Oaxaca','Ciudad de México','Nuevo León','Yucatán', NULL])[1 + g % 6] AS state, "
        "(ARRAY['research','journalism','app_or_service','public_policy','teaching','personal','other'])"
        "[1 + g % 7] AS intended_use, "
        "now() - (g % 75) * interval '1 day' - (g % 24) * interval '1 hour' AS created_at "
        f"FROM generate_series(1, {SIGNALS}) g) g "
        # Each signal carries its item's institution, as the services write it.
        "JOIN demand_item i ON i.id = g.item_id ORDER BY g.n ON CONFLICT DO NOTHING",
    )
    # Each item's running totals, as the services keep them (the migration's backfill, in one pass).
    psql(url, TOTALS_BACKFILL)
    # As autovacuum leaves a table after a bulk load: statistics and the visibility map.
    psql(url, "VACUUM ANALYZE")


TOTALS_BACKFILL = (
    "UPDATE demand_item d SET signals_total = t.total, signals_request = t.request, "
    "signals_support = t.support, signals_event = t.event, signals_survey = t.survey, "
    "supporters_count = t.supporters FROM (SELECT item_id, sum(weight) AS total, "
    + ", ".join(
        f"coalesce(sum(weight) FILTER (WHERE source = '{source}'), 0) AS {source}"
        for source in ("request", "support", "event", "survey")
    )
    + ", count(*) FILTER (WHERE source IN ('request', 'support')) AS supporters "
    "FROM demand_signal GROUP BY item_id) t WHERE t.item_id = d.id"
)


def _generated(url: str) -> bool:
    """Whether the database already holds this benchmark's data at the migrations' head."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(ROOT / "migrations")).get_current_head()
    try:
        found = psql(
            url, "SELECT (SELECT version_num FROM alembic_version), (SELECT count(*) FROM demand_signal)"
        )
    except Exception:  # noqa: BLE001 - no database or no schema yet: generate
        return False
    version, signals = found.split("|")
    return version == head and int(signals) > 0.99 * SIGNALS


def aggregation(app) -> dict[str, float]:
    from sqlalchemy import text

    from core.extensions import db
    from demand import reports

    def bare() -> float:
        with app.app_context():
            connection = db.engine.raw_connection()
            try:
                cursor = connection.cursor()
                started = time.perf_counter()
                cursor.execute(
                    "SELECT item_id, source, count(*), sum(weight) FROM demand_signal "
                    "GROUP BY item_id, source"
                )
                rows = cursor.fetchall()
                elapsed = time.perf_counter() - started
                connection.rollback()
            finally:
                connection.close()
        assert rows
        return elapsed

    def ours() -> float:
        with app.app_context():
            started = time.perf_counter()
            count = reports.compute_all()
            elapsed = time.perf_counter() - started
            db.session.remove()
        assert count == INSTITUTIONS
        return elapsed

    with app.app_context():
        rows = db.session.execute(text("SELECT count(*) FROM demand_signal")).scalar_one()
        db.session.remove()
    bare_times, our_times = [], []
    for _ in range(ROUNDS):
        bare_times.append(bare())
        our_times.append(ours())
    return {
        "signals": rows,
        "bare_group_by_s": min(bare_times),
        "aggregation_s": min(our_times),
        "ratio": min(our_times) / min(bare_times),
    }


def main() -> int:
    load_at_start = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="promueve-bench-demand-"))
    port = free_port()
    env = bench_env(port, workdir, DATABASE_URL, REDIS_URL, RATELIMIT_ENABLED="0")
    os.environ.update(
        {k: v for k, v in env.items() if k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "MAIL_DIR")}
    )
    port_empty = free_port()
    env_empty = bench_env(port_empty, workdir, EMPTY_DATABASE_URL, REDIS_URL, RATELIMIT_ENABLED="0")
    fresh_database(EMPTY_DATABASE_URL, env_empty)
    # The empty database: one institution (so `?institution=inst-7` answers), no items.
    psql(
        EMPTY_DATABASE_URL,
        "INSERT INTO institution (slug, name, acronym, government_order, timezone, answer_days, created_at) "
        "VALUES ('inst-7', 'Institución 7', 'I7', 'federal', 'America/Mexico_City', 10, now())",
    )
    started = time.perf_counter()
    if REUSE and _generated(DATABASE_URL):
        generated_s = None
    else:
        fresh_database(DATABASE_URL, env)
        generate(DATABASE_URL)
        generated_s = round(time.perf_counter() - started, 1)
    sys.path.insert(0, str(ROOT))
    from app import create_app

    app = create_app({"RATELIMIT_ENABLED": False})
    server_empty = start_gunicorn(port_empty, env_empty, workdir / "gunicorn-empty.log")
    try:
        server_full = start_gunicorn(port, env, workdir / "gunicorn-full.log")
        try:
            empty, full = list_latencies(port_empty, port_full=port)
        finally:
            stop(server_full)
    finally:
        stop(server_empty)
    agg = aggregation(app)
    ratios = {name: full[name]["p95_ms"] / max(empty[name]["p95_ms"], 0.001) for name in PATHS}
    result = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": load_at_start,
        "load_average_end": os.getloadavg()[0],
        "measured_at": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "institutions": INSTITUTIONS,
        "items": INSTITUTIONS * ITEMS_PER_INSTITUTION,
        "generated_in_s": generated_s,
        "aggregation": agg,
        "list_empty": empty,
        "list_full": full,
        "list_ratio_p95": ratios,
        "targets": {"aggregation_ratio": TARGET, "list_ratio_p95": TARGET},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(
        f"aggregation over {agg['signals']:,} signals: {agg['aggregation_s']:.2f} s; bare GROUP BY "
        f"{agg['bare_group_by_s']:.2f} s; ratio {agg['ratio']:.2f} (target <= {TARGET})"
    )
    for name, path in PATHS.items():
        print(
            f"{path}: p95 {full[name]['p95_ms']:.1f} ms with {result['items']:,} items vs "
            f"{empty[name]['p95_ms']:.1f} ms empty; ratio {ratios[name]:.2f} (target <= {TARGET})"
        )
    lines = [
        START,
        "## Demand (`bench_demand.py`)",
        "",
        f"{result['items']:,} items of {INSTITUTIONS} institutions, {agg['signals']:,} signals; "
        f"{result['cpus']} CPUs; measured {result['measured_at']} UTC.",
        "",
        table_row("Measure", "Ours", "Baseline (same run)", "Ratio", "Target", "Result"),
        table_row("---", "---", "---", "---", "---", "---"),
        table_row(
            "Aggregation (all reports) vs bare GROUP BY",
            f"{agg['aggregation_s']:.2f} s",
            f"{agg['bare_group_by_s']:.2f} s",
            f"{agg['ratio']:.2f}",
            f"<= {TARGET}",
            verdict(agg["ratio"]),
        ),
        *[
            table_row(
                f"`GET {path}` p95",
                f"{full[name]['p95_ms']:.1f} ms",
                f"{empty[name]['p95_ms']:.1f} ms (empty)",
                f"{ratios[name]:.2f}",
                f"<= {TARGET}",
                verdict(ratios[name]),
            )
            for name, path in PATHS.items()
        ],
        "",
        "Each item keeps running totals of its signals (per source, in all, supporters), moved in the "
        "transaction that changes a signal under the item's row lock, so the ranking reads the top "
        "100 of an index per institution instead of grouping every signal by item. The signals are "
        "read once, for what only they tell: one scan with GROUPING SETS (institution × sector × state "
        "× use, rolled up in Python; institution × source × time interval, where the intervals are cut "
        "at every trend-window edge and midnight, so the 7/30-day trend and the daily series are sums "
        "of intervals), the ranked items' trend from their signals by index, and unique supporters "
        "from a partial index alone. Generated data: items' totals backfilled from the signals, then "
        "`VACUUM ANALYZE` (what autovacuum leaves after a bulk load). List: the empty database is a "
        "second one served by its own gunicorn (1 sync worker each) during the same minutes, the "
        "requests alternating between the two, so load on the shared machine weighs on both; lists "
        "read the items' totals (no signal query per page). "
        f"Load average at the start: {result['load_average']:.2f}, "
        f"at the end: {result['load_average_end']:.2f}.",
        END,
    ]
    replace_section(START, END, "\n".join(lines))
    ok = agg["ratio"] <= TARGET and all(r <= TARGET for r in ratios.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
