"""Worker CPU of one registration, in-process: the API path and the HTML form path through
Flask's test client, timed with `time.process_time()` (load-independent) and optionally
profiled with cProfile.

    .venv/bin/python bench/profile_registration.py            # CPU per registration
    PROFILE=api .venv/bin/python bench/profile_registration.py  # + cProfile of the API path
    PROFILE=html ...                                            # + cProfile of the HTML path

Uses BENCH_DATABASE_URL / BENCH_REDIS_URL like the burst benchmark (its `public` schema is
DROPPED and migrated, its Redis db flushed). The test client skips gunicorn's HTTP parsing,
so the figures are the application's share of the gunicorn worker CPU the burst reports.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("BENCH_EVENTS", "200")

import bench_registration_burst as burst
from common import bench_env, fresh_database

ROOT = burst.ROOT
ROUNDS = int(os.environ.get("PROFILE_ROUNDS", 150))
PROFILE = os.environ.get("PROFILE", "")


def main() -> int:
    import redis

    workdir = Path(tempfile.mkdtemp(prefix="promueve-profile-registration-"))
    env = bench_env(
        5000,
        workdir,
        burst.DATABASE_URL,
        burst.REDIS_URL,
        ARGON2_TIME_COST="1",
        ARGON2_MEMORY_COST="8192",
        ARGON2_PARALLELISM="1",
        LIMIT_AUTH_PER_IP="100000 per minute",
        LIMIT_AUTH_PER_ACCOUNT="100000 per minute",
        MAIL_RATE_PER_MINUTE="0",
    )
    redis.Redis.from_url(burst.REDIS_URL).flushdb()
    fresh_database(burst.DATABASE_URL, env)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from app import create_app

    app = create_app()
    emails, ids = burst.seed(app, 2)
    events = [ids[f"spread{i}"] for i in range(burst.EVENTS)]
    half = len(events) // 2

    api = app.test_client()
    response = api.post("/api/v1/tokens", json={"email": emails[0], "password": burst.PASSWORD, "name": "p"})
    token = response.get_json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    api.get("/api/v1/tokens", headers=headers)

    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    csrf = burst.CSRF_FIELD.search(page).group(1)
    response = browser.post(
        "/login", data={"email": emails[1], "password": burst.PASSWORD, "csrf_token": csrf}
    )
    assert response.status_code == 302, response.status_code
    page = browser.get(f"/events/{ids['warmup']}").get_data(as_text=True)
    csrf = burst.CSRF_FIELD.search(page).group(1)
    # As the burst's clients: the same signed-in cookie on every request (the flash message
    # a 302 adds is not carried into the next one).
    cookie = "; ".join(f"{c.key}={c.value}" for c in browser._cookies.values())
    browser = app.test_client(use_cookies=False)

    def api_call(event_id: int) -> None:
        response = api.post(f"/api/v1/events/{event_id}/registration", headers=headers)
        assert response.status_code == 201, response.get_data(as_text=True)[:300]

    def html_call(event_id: int) -> None:
        response = browser.post(
            f"/events/{event_id}/register",
            data={"csrf_token": csrf},
            headers={"Accept": "text/html", "Cookie": cookie},
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:300]

    def healthz(_event_id: int) -> None:
        assert api.get("/healthz").status_code == 200

    # Warm-up: imports, template compilation, first connections.
    api_call(events[-1])
    html_call(events[-1])
    healthz(0)

    def measure(name: str, call, targets: list[int]) -> None:
        """CPU per request: the median and the least of batches of 10 (the least is the
        figure least disturbed by other load on the machine)."""
        profiler = cProfile.Profile(time.process_time) if name == PROFILE else None
        batches, wall = [], time.perf_counter()
        if profiler:
            profiler.enable()
        for start in range(0, len(targets), 10):
            batch = targets[start : start + 10]
            cpu = time.process_time()
            for event_id in batch:
                call(event_id)
            batches.append((time.process_time() - cpu) * 1000 / len(batch))
        if profiler:
            profiler.disable()
        wall = (time.perf_counter() - wall) * 1000 / len(targets)
        batches.sort()
        print(
            f"{name}: {batches[len(batches) // 2]:.2f} ms CPU per request (median of batches), "
            f"{batches[0]:.2f} ms (least), {wall:.2f} ms wall"
        )
        if profiler:
            stats = pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative"))
            stats.print_stats(int(os.environ.get("PROFILE_LINES", 60)))
            for pattern in filter(None, os.environ.get("PROFILE_CALLEES", "").split(",")):
                stats.print_callees(pattern)

    rounds = min(ROUNDS, half - 1)
    measure("healthz", healthz, list(range(rounds)))
    measure("api", api_call, events[:rounds])
    measure("html", html_call, events[half : half + rounds])
    return 0


if __name__ == "__main__":
    sys.exit(main())
