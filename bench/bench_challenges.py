"""Submissions in the last minute before a challenge closes: 1,000 new solutions through the
API against gunicorn (4 workers) on PostgreSQL, then new versions until after the close,
beside `GET /healthz` measured by the same clients in the same run.

    make bench BENCH=challenges      # or: .venv/bin/python bench/bench_challenges.py

Phases, over loopback HTTP with 20 client threads (one connection per request):
  1. baseline: `GET /healthz`;
  2. the rush: the challenge closes 60 s ahead; 250 one-person teams send 4 solutions each
     (`POST /api/v1/teams/<id>/submissions`, submission limit 4) -> submissions/s, p50, p95;
  3. the close: the same clients keep sending new versions (`PUT /api/v1/submissions/<id>`)
     until 3 s after the close. Every version accepted must have been committed before the
     close (the database refuses a later commit); the answers after it are 409
     `submissions_closed`.

Environment: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/promueve_bench_challenges,
created when missing; its `public` schema is DROPPED and migrated), BENCH_REDIS_URL (default
redis://127.0.0.1:6379/8, flushed), BENCH_CLIENTS (20), BENCH_TEAMS (250), BENCH_WORKERS (4),
BENCH_CLOSE_SECONDS (60).
"""

from __future__ import annotations

import http.client
import json
import os
import platform
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
RESULTS = ROOT / "bench" / "results" / "challenges.json"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/promueve_bench_challenges"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 20))
TEAMS = int(os.environ.get("BENCH_TEAMS", 250))
WORKERS = int(os.environ.get("BENCH_WORKERS", 4))
CLOSE_SECONDS = float(os.environ.get("BENCH_CLOSE_SECONDS", 60))
PER_TEAM = 4


def call(port: int, method: str, path: str, token: str | None = None, body: dict | None = None):
    """One request on a fresh connection: (status, parsed body, seconds, finished at)."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    try:
        parsed = json.loads(payload) if payload else {}
    except ValueError:
        parsed = {}
    return response.status, parsed, time.perf_counter() - started, datetime.now(UTC)


def summary(samples: list, seconds: float, ok_status: int) -> dict:
    latencies = [s[2] for s in samples]
    statuses: dict[str, int] = {}
    for status, *_rest in samples:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "requests": len(samples),
        "ok": statuses.get(str(ok_status), 0),
        "statuses": statuses,
        "seconds": round(seconds, 3),
        "per_second": round(len(samples) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
    }


def in_threads(work) -> float:
    """Run work(index) in CLIENTS threads started together; the seconds it took."""
    barrier = threading.Barrier(CLIENTS + 1)

    def run(index: int) -> None:
        barrier.wait()
        work(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def submission(n: int) -> dict:
    return {
        "title": f"Solución {n}",
        "summary": "Una app que cruza los datos del reto y avisa a la gente a tiempo.",
        "repository_url": f"https://github.com/bench/solucion-{n}",
        "licence": "MIT",
        "accept_terms": True,
    }


def seed(app) -> tuple[int, list[tuple[int, str]]]:
    """A challenge open now and TEAMS one-person teams with tokens: (challenge id, [(team, token)])."""
    from sqlalchemy import insert, select

    from accounts import services as accounts
    from challenges import services
    from core.extensions import db
    from core.models import User
    from core.security import hash_password
    from core.timeutil import utcnow

    with app.app_context():
        now = utcnow().replace(microsecond=0)
        password_hash = hash_password("Bench-retos-2026")
        emails = [f"equipo{i}@bench.example.org" for i in range(TEAMS)]
        db.session.execute(
            insert(User),
            [
                {
                    "email": email,
                    "name": f"Equipo {i}",
                    "password_hash": password_hash,
                    "sector": "private_sector",
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
        institution = accounts.create_institution(None, slug="semovi-bench", name="Movilidad de prueba")
        challenge = services.create_challenge(
            None,
            institution,
            {
                "title": "Reto de la última hora",
                "problem": "¿Cómo llegar a tiempo?",
                "terms": "Bases del reto de prueba.",
                "opens_at": now - timedelta(hours=1),
                "closes_at": now + timedelta(days=1),
                "team_max": 1,
                "submission_limit": PER_TEAM,
                "rubric": [{"criterion": "Impacto", "weight": 1}],
            },
        )
        services.publish_challenge(None, challenge)
        challenge = services.get_challenge(challenge.id)
        teams = []
        for user in db.session.execute(select(User).order_by(User.id)).scalars().all():
            team = services.create_team(user, challenge, user.name)
            _, token = accounts.issue_api_token(user, "bench")
            teams.append((team.id, token))
        challenge_id = challenge.id
        db.session.remove()
    return challenge_id, teams


def move_close(app, challenge_id: int, seconds: float) -> datetime:
    from sqlalchemy import update

    from challenges.models import Challenge
    from core.extensions import db
    from core.timeutil import utcnow

    closes_at = utcnow() + timedelta(seconds=seconds)
    with app.app_context():
        db.session.execute(update(Challenge).where(Challenge.id == challenge_id).values(closes_at=closes_at))
        db.session.commit()
        db.session.remove()
    return closes_at


def check_close(app, challenge_id: int, closes_at: datetime) -> dict:
    from sqlalchemy import func, select

    from challenges.models import Submission, SubmissionVersion
    from core.extensions import db

    with app.app_context():
        versions = db.session.execute(
            select(func.count(), func.max(SubmissionVersion.submitted_at))
            .join(Submission, Submission.id == SubmissionVersion.submission_id)
            .where(Submission.challenge_id == challenge_id)
        ).one()
        late = db.session.execute(
            select(func.count())
            .select_from(SubmissionVersion)
            .join(Submission, Submission.id == SubmissionVersion.submission_id)
            .where(Submission.challenge_id == challenge_id, SubmissionVersion.submitted_at >= closes_at)
        ).scalar_one()
        db.session.remove()
    return {
        "versions_in_database": versions[0],
        "last_accepted_at": versions[1],
        "accepted_after_close": late,
    }


def main() -> int:
    if not DATABASE_URL.startswith("postgres"):
        print("this benchmark needs PostgreSQL (BENCH_DATABASE_URL)")
        return 2
    import redis

    workdir = Path(tempfile.mkdtemp(prefix="promueve-bench-challenges-"))
    port = free_port()
    env = bench_env(port, workdir, DATABASE_URL, REDIS_URL, ARGON2_TIME_COST="1", ARGON2_MEMORY_COST="8192")
    redis.Redis.from_url(REDIS_URL).flushdb()
    print(f"migrating {DATABASE_URL.rsplit('/', 1)[-1]} and seeding {TEAMS} teams")
    fresh_database(DATABASE_URL, env)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from app import create_app

    app = create_app()
    challenge_id, teams = seed(app)
    load = os.getloadavg()[0]
    server = start_gunicorn(
        port, env, workdir / "gunicorn.log", workers=WORKERS, extra_args=("--backlog", "2048")
    )
    try:
        # Untimed warm-up: every worker imports, renders and marks tokens used.
        warm: list = []
        in_threads(
            lambda i: [
                warm.append(call(port, "GET", "/api/v1/me/assignments", t)) for _, t in teams[i::CLIENTS]
            ]
        )

        base: list = []
        seconds = in_threads(lambda i: [base.append(call(port, "GET", "/healthz")) for _ in range(50)])
        baseline = summary(base, seconds, 200)
        print(f"baseline GET /healthz: {baseline['per_second']}/s, p95 {baseline['p95_ms']} ms")

        closes_at = move_close(app, challenge_id, CLOSE_SECONDS)
        rush: list = []
        created: dict[str, list[int]] = {}

        def send_solutions(index: int) -> None:
            mine = created.setdefault(str(index), [])
            for team_id, token in teams[index::CLIENTS]:
                for n in range(PER_TEAM):
                    sample = call(port, "POST", f"/api/v1/teams/{team_id}/submissions", token, submission(n))
                    rush.append(sample)
                    if sample[0] == 201:
                        mine.append((sample[1]["id"], token))

        seconds = in_threads(send_solutions)
        rush_figures = summary(rush, seconds, 201)
        rush_figures["finished_before_close_s"] = round((closes_at - datetime.now(UTC)).total_seconds(), 1)
        print(
            f"rush: {rush_figures['ok']} of {rush_figures['requests']} solutions accepted, "
            f"{rush_figures['per_second']}/s, p50 {rush_figures['p50_ms']} ms, "
            f"p95 {rush_figures['p95_ms']} ms, "
            f"{rush_figures['finished_before_close_s']} s before the close"
        )

        tail: list = []
        # Until 3 s after the close (at least 3 s, should the rush itself have run past it).
        stop_at = max(closes_at, datetime.now(UTC)) + timedelta(seconds=3)

        def send_versions(index: int) -> None:
            mine = created.get(str(index), [])
            n = 0
            while mine and datetime.now(UTC) < stop_at:
                submission_id, token = mine[n % len(mine)]
                tail.append(call(port, "PUT", f"/api/v1/submissions/{submission_id}", token, submission(n)))
                n += 1

        seconds = in_threads(send_versions)
        tail_figures = summary(tail, seconds, 200)
        after = [s for s in tail if s[3] > closes_at + timedelta(seconds=1)]
        tail_figures["answers_more_than_1s_after_close"] = len(after)
        tail_figures["of_which_409_submissions_closed"] = sum(
            1 for s in after if s[0] == 409 and s[1].get("error", {}).get("code") == "submissions_closed"
        )
        close = check_close(app, challenge_id, closes_at)
        expected = rush_figures["ok"] + tail_figures["ok"]
        ok_close = (
            close["accepted_after_close"] == 0
            and close["versions_in_database"] == expected
            and tail_figures["answers_more_than_1s_after_close"]
            == tail_figures["of_which_409_submissions_closed"]
            and tail_figures["of_which_409_submissions_closed"] > 0
        )
        print(
            f"close: {tail_figures['ok']} versions accepted before it, "
            f"{tail_figures['statuses'].get('409', 0)} refused with 409; accepted after the close: "
            f"{close['accepted_after_close']}; versions in the database {close['versions_in_database']} "
            f"(answered 201/200: {expected}); none accepted after the close: {ok_close}"
        )
    finally:
        stop(server)
    redis.Redis.from_url(REDIS_URL).flushdb()
    result = {
        "benchmark": "challenges",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average_at_start": round(load, 2),
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "database": "PostgreSQL",
        "gunicorn_workers": WORKERS,
        "clients": CLIENTS,
        "teams": TEAMS,
        "baseline_healthz": baseline,
        "rush": rush_figures,
        "versions_until_after_close": tail_figures,
        "close": {
            **close,
            "last_accepted_at": str(close["last_accepted_at"]),
            "closes_at": closes_at.isoformat(),
        },
        "none_accepted_after_close": ok_close,
        "ratio_to_baseline": round(rush_figures["per_second"] / baseline["per_second"], 3),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    write_readme_section(result)
    print(
        f"figure: {rush_figures['per_second']} submissions/s beside GET /healthz {baseline['per_second']}/s; "
        f"none accepted after the close: {ok_close}; results in {RESULTS.relative_to(ROOT)}"
    )
    return 0 if ok_close and rush_figures["ok"] == TEAMS * PER_TEAM else 1


def write_readme_section(result: dict) -> None:
    start, end = "<!-- challenges:start -->", "<!-- challenges:end -->"
    base, rush, tail, close = (
        result["baseline_healthz"],
        result["rush"],
        result["versions_until_after_close"],
        result["close"],
    )

    def line(title: str, figures: dict, bold: bool = False) -> str:
        mark = "**" if bold else ""
        return table_row(
            title,
            f"{figures['requests']:,}",
            f"{mark}{figures['per_second']:,}{mark}",
            f"{figures['p50_ms']} ms",
            f"{figures['p95_ms']} ms",
            ", ".join(f"{k}: {v}" for k, v in sorted(figures["statuses"].items())),
        )

    rows = [
        table_row("run", "requests", "per second", "p50", "p95", "statuses"),
        table_row(*["---"] * 6),
        line("baseline `GET /healthz`", base),
        line(f"new solutions, {result['teams']} teams × {PER_TEAM}, close 60 s ahead", rush, bold=True),
        line("new versions until 3 s after the close", tail),
    ]
    section = f"""{start}
## Submissions before a close (`bench_challenges.py`)

gunicorn with {result["gunicorn_workers"]} sync workers on PostgreSQL; {result["clients"]} client
threads over loopback HTTP. Each submission takes the challenge row FOR SHARE and the team row
FOR UPDATE, re-counts the team's solutions, inserts, and commits; a deferred constraint trigger
refuses a commit that lands at or after the close.

{chr(10).join(rows)}

Versions accepted with a commit after the close: **{close["accepted_after_close"]}** (versions in the
database {close["versions_in_database"]}, last accepted {close["last_accepted_at"][:23]}, close
{close["closes_at"][:23]}); answers more than 1 s after the close: {tail["answers_more_than_1s_after_close"]},
all 409 `submissions_closed`: **{"yes" if result["none_accepted_after_close"] else "NO"}**. Measured
{result["measured_at"][:10]} on {result["cpus"]} CPUs ({result["machine"]}), load average
{result["load_average_at_start"]} at the start; clients, gunicorn and PostgreSQL share the CPUs.
Raw result: `bench/results/challenges.json`.
{end}"""
    replace_section(start, end, section)


if __name__ == "__main__":
    sys.exit(main())
