"""Surveys: 10,000 answer sets submitted over HTTP beside the raw insert ceiling of the same
rows, and results over 1,000,000 answers beside a bare SQL GROUP BY, in the same run.

    make bench BENCH=surveys      # or: .venv/bin/python bench/bench_surveys.py

Phases (PostgreSQL, gunicorn with 4 workers, 20 client threads on loopback HTTP):
  1. submissions: 10,000 verified people (bulk-inserted, each with an API token) each
     `PUT /api/v1/surveys/<id>/response` once with a five-question answer set (single choice,
     multiple choice, rating, number, dataset demand) -> answer sets/s, p50, p95; checked:
     exactly 10,000 answer sets and 50,000 answer rows;
  2. raw insert ceiling: the same 10,000 answer sets and their answer rows written to a second
     survey with SQLAlchemy Core `executemany` in batches of 1,000 (no HTTP, no validation, no
     locks) -> answer sets/s;
  3. results: 200,000 answer sets x 5 answers = 1,000,000 answer rows (generated in SQL), then
     `compute_results` (the API's results: counts, Borda, rating mean, quartiles, breakdowns by
     sector and state with suppression) beside the bare `SELECT question_id, choice_id, count(*)
     ... GROUP BY question_id, choice_id` on the same rows; median of 5 runs each. Target <= 2x.

Environment: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/promueve_bench_surveys,
created when missing; its `public` schema is DROPPED and migrated), BENCH_REDIS_URL (default
redis://127.0.0.1:6379/7, flushed), BENCH_CLIENTS (20), BENCH_SUBMISSIONS (10000),
BENCH_RESULT_SETS (200000), BENCH_WORKERS (4).

`--results-only` (or BENCH_ONLY=results) seeds 100 people and runs phase 3 alone, printing its
figures without writing bench/results or the README (to iterate on `compute_results`);
`--reuse` with it skips the migration and generation and times the survey already there.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import platform
import random
import statistics
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
RESULTS = ROOT / "bench" / "results" / "surveys.json"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/promueve_bench_surveys"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 20))
SUBMISSIONS = int(os.environ.get("BENCH_SUBMISSIONS", 10_000))
RESULT_SETS = int(os.environ.get("BENCH_RESULT_SETS", 200_000))
WORKERS = int(os.environ.get("BENCH_WORKERS", 4))
SECTORS = ["academia", "civil_society", "private_sector", "government", "journalism", "citizen"]
STATES = ["Ciudad de México", "Jalisco", "Nuevo León", "Puebla", "Oaxaca", "Yucatán", "Colima"]
START, END = "<!-- bench:surveys -->", "<!-- /bench:surveys -->"
QUESTIONS = [
    {"kind": "single_choice", "prompt": "¿Con qué frecuencia usas datos abiertos?", "required": True,
     "choices": ["Diario", "Cada semana", "Cada mes", "Rara vez"]},
    {"kind": "multiple_choice", "prompt": "¿Qué formatos prefieres?",
     "choices": ["CSV", "JSON", "XLSX", "API"],
     "max": 3},
    {"kind": "rating", "prompt": "¿Qué tan fácil es encontrarlos?", "scale_min": 1, "scale_max": 5},
    {"kind": "number", "prompt": "¿Cuántas horas a la semana?", "min": 0, "max": 80},
    {"kind": "dataset_demand", "prompt": "¿Qué datos necesitas?"},
]  # fmt: skip


def seed(app) -> dict:
    """People with tokens (bulk), datasets and three open surveys with the same questions."""
    from sqlalchemy import insert

    from accounts import services as accounts
    from core.extensions import db
    from core.models import ApiToken, User
    from core.security import token_digest
    from core.timeutil import utcnow
    from demand.models import Dataset
    from surveys import services

    with app.app_context():
        now = utcnow()
        users = [
            {
                "email": f"persona{i}@bench.example.org",
                "name": f"Persona {i}",
                "password_hash": "!unusable",
                "sector": SECTORS[i % len(SECTORS)],
                "state": STATES[i % len(STATES)],
                "locale": "es_MX",
                "timezone": "America/Mexico_City",
                "is_admin": False,
                "email_verified_at": now,
                "created_at": now,
                "auth_id": f"bench-{i}",
            }
            for i in range(SUBMISSIONS)
        ]
        db.session.execute(insert(User), users)
        db.session.commit()
        user_ids = [row[0] for row in db.session.execute(db.select(User.id).order_by(User.id))]
        tokens = [
            f"bench-token-{i}-{hashlib.sha256(str(i).encode()).hexdigest()[:16]}" for i in range(SUBMISSIONS)
        ]
        db.session.execute(
            insert(ApiToken),
            [
                {
                    "user_id": uid,
                    "name": "bench",
                    "token_hash": token_digest(raw),
                    "prefix": raw[:8],
                    "created_at": now,
                    "last_used_at": now,
                }
                for uid, raw in zip(user_ids, tokens, strict=True)
            ],
        )
        institution = accounts.create_institution(
            None, slug="inegi-bench", name="Instituto de Prueba", acronym="IP"
        )
        for i in range(6):
            db.session.add(Dataset(institution_id=institution.id, source_id=f"ds{i}", title=f"Conjunto {i}"))
        db.session.commit()
        dataset_ids = [row[0] for row in db.session.execute(db.select(Dataset.id).order_by(Dataset.id))]
        surveys = {}
        for name in ("http", "raw", "results"):
            survey = services.create_survey(
                None,
                institution,
                {
                    "title": f"Encuesta {name}",
                    "privacy": "pseudonymous",
                    "closes_at": now + timedelta(days=30),
                    "questions": QUESTIONS,
                },
            )
            surveys[name] = services.open_survey(None, survey).id
        survey = services.get_survey(surveys["http"])
        layout = {
            "questions": [q.id for q in survey.questions],
            "choices": [[c.id for c in q.choices] for q in survey.questions],
        }
        db.session.remove()
    return {
        "tokens": tokens,
        "user_ids": user_ids,
        "surveys": surveys,
        "datasets": dataset_ids,
        "layout": layout,
    }


def answer_set(rng: random.Random, layout: dict, datasets: list[int]) -> dict:
    q, c = layout["questions"], layout["choices"]
    return {
        str(q[0]): rng.choice(c[0]),
        str(q[1]): rng.sample(c[1], rng.randint(1, 3)),
        str(q[2]): rng.randint(1, 5),
        str(q[3]): rng.randint(0, 40),
        str(q[4]): {"datasets": rng.sample(datasets, 1), "new": [], "intended_use": "research"},
    }


def put(port: int, path: str, token: str, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(
            "PUT",
            path,
            body=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    return response.status, time.perf_counter() - started


def submit_all(port: int, survey_id: int, jobs: list[tuple[str, bytes]]) -> dict:
    barrier = threading.Barrier(CLIENTS + 1)
    samples: list[list[tuple[int, float]]] = [[] for _ in range(CLIENTS)]

    def client(index: int) -> None:
        barrier.wait()
        for token, body in jobs[index::CLIENTS]:
            try:
                samples[index].append(put(port, f"/api/v1/surveys/{survey_id}/response", token, body))
            except OSError:
                samples[index].append((0, 0.0))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    flat = [s for per in samples for s in per]
    statuses: dict[str, int] = {}
    for status, _ in flat:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    latencies = [s for _, s in flat]
    return {
        "requests": len(flat),
        "statuses": statuses,
        "seconds": round(seconds, 2),
        "per_second": round(len(flat) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
    }


def raw_insert(app, survey_id: int, data: dict, answers: list[dict]) -> dict:
    """The same answer sets and rows, written with executemany and nothing else."""
    from sqlalchemy import insert

    from core.extensions import db
    from core.timeutil import utcnow
    from surveys.models import SurveyAnswer, SurveyResponse, random_id
    from surveys.services import get_survey
    from surveys.services.responses import _answer_rows

    with app.app_context():
        survey = get_survey(survey_id)
        http_questions = data["layout"]["questions"]
        remap_q = {str(old): str(new.id) for old, new in zip(http_questions, survey.questions, strict=True)}
        remap_c = {
            old: new.id
            for olds, q in zip(data["layout"]["choices"], survey.questions, strict=True)
            for old, new in zip(olds, q.choices, strict=True)
        }

        def moved(value):
            if isinstance(value, list):
                return [remap_c.get(v, v) for v in value]
            if isinstance(value, int) and value in remap_c:
                return remap_c[value]
            return value

        prepared = []
        for index, answer in enumerate(answers):
            translated = {remap_q[k]: moved(v) for k, v in answer.items()}
            translated[remap_q[str(http_questions[2])]] = answer[str(http_questions[2])]
            translated[remap_q[str(http_questions[3])]] = answer[str(http_questions[3])]
            profile = {"sector": SECTORS[index % 6], "state": STATES[index % 7], "intended_use": "research"}
            prepared.append((translated, profile))
        db.session.remove()
        started = time.perf_counter()
        now = utcnow()
        for start in range(0, len(prepared), 1000):
            responses, rows = [], []
            for index, (translated, profile) in enumerate(prepared[start : start + 1000], start=start):
                response_id = random_id()
                responses.append(
                    {
                        "id": response_id,
                        "survey_id": survey_id,
                        "respondent_key": f"k{index}",
                        "answers": translated,
                        "digest": "d",
                        "created_at": now,
                        "updated_at": now,
                        **profile,
                    }
                )
                rows.extend(_answer_rows(survey, response_id, translated, profile))
            db.session.execute(insert(SurveyResponse), responses)
            db.session.execute(insert(SurveyAnswer), rows)
            db.session.commit()
        seconds = time.perf_counter() - started
        db.session.remove()
    return {
        "answer_sets": len(prepared),
        "seconds": round(seconds, 2),
        "per_second": round(len(prepared) / seconds, 1),
    }


def generate_million(app, survey_id: int) -> int:
    """RESULT_SETS answer sets x 5 answers, generated inside PostgreSQL."""
    from sqlalchemy import text

    from core.extensions import db
    from surveys.services import get_survey

    with app.app_context():
        survey = get_survey(survey_id)
        q = [question.id for question in survey.questions]
        c = [[choice.id for choice in question.choices] for question in survey.questions]
        datasets = [row[0] for row in db.session.execute(text("SELECT id FROM dataset ORDER BY id"))]
        params = {"s": survey_id, "n": RESULT_SETS}
        sectors = "ARRAY[" + ",".join(f"'{s}'" for s in SECTORS) + "]"
        states = "ARRAY[" + ",".join(f"'{s}'" for s in STATES) + "]"
        db.session.execute(
            text(
                "INSERT INTO survey_response (id, survey_id, respondent_key, sector, state, intended_use, "
                "answers, "
                f"digest, created_at, updated_at) SELECT g, :s, md5(g::text), ({sectors})[1 + g % 6], "
                f"({states})[1 + (g / 3) % 7], 'research', '{{}}', md5(g::text), now(), now() "
                f"FROM generate_series(1, :n) g"
            ),
            params,
        )
        base = (
            f"SELECT g * 8 + {{k}}, g, :s, {{q}}, {{choice}}, {{position}}, {{number}}, {{dataset}}, "
            f"({sectors})[1 + g % 6], ({states})[1 + (g / 3) % 7] FROM generate_series(1, :n) g"
        )
        columns = "(id, response_id, survey_id, question_id, choice_id, position, number, dataset_id, " + (
            "sector, state)"
        )
        skew = "least(floor(power(random(), 1.6) * {n})::int, {n} - 1)"
        parts = [
            base.format(
                k=0,
                q=q[0],
                choice=f"(ARRAY{c[0]})[1 + {skew.format(n=len(c[0]))}]",
                position="NULL",
                number="NULL",
                dataset="NULL",
            ),
            base.format(
                k=1, q=q[1], choice=f"(ARRAY{c[1]})[1 + g % 4]", position="0", number="NULL", dataset="NULL"
            ),
            base.format(
                k=2, q=q[2], choice="NULL", position="NULL", number="1 + floor(random() * 5)", dataset="NULL"
            ),
            base.format(
                k=3, q=q[3], choice="NULL", position="NULL", number="floor(random() * 40)", dataset="NULL"
            ),
            base.format(
                k=4,
                q=q[4],
                choice="NULL",
                position="0",
                number="NULL",
                dataset=f"(ARRAY{datasets})[1 + g % {len(datasets)}]",
            ),
        ]
        for part in parts:
            db.session.execute(text(f"INSERT INTO survey_answer {columns} {part}"), params)
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # What autovacuum would have done by the time anyone reads results.
            connection.execute(text("VACUUM ANALYZE survey_answer"))
            connection.execute(text("VACUUM ANALYZE survey_response"))
        count = db.session.execute(
            text("SELECT count(*) FROM survey_answer WHERE survey_id = :s"), params
        ).scalar()
        db.session.commit()
        db.session.remove()
    return count


def time_results(app, survey_id: int) -> dict:
    from sqlalchemy import text

    from core.extensions import db
    from surveys.services import get_survey
    from surveys.services.results import compute_results

    with app.app_context():
        survey = get_survey(survey_id)
        compute_results(survey)  # warm: imports, caches, the table in shared buffers
        ours, bare = [], []
        for _ in range(5):
            started = time.perf_counter()
            db.session.execute(
                text(
                    "SELECT question_id, choice_id, count(*) FROM survey_answer WHERE survey_id = :s "
                    "GROUP BY question_id, choice_id"
                ),
                {"s": survey_id},
            ).all()
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            document = compute_results(survey)
            ours.append(time.perf_counter() - started)
        db.session.remove()
    return {
        "answers": None,
        "respondents": document["respondents"],
        "results_ms": round(statistics.median(ours) * 1000, 1),
        "bare_group_by_ms": round(statistics.median(bare) * 1000, 1),
        "ratio": round(statistics.median(ours) / statistics.median(bare), 2),
    }


def results_only(reuse: bool) -> int:
    """Phase 3 alone, for iterating on the results; nothing is written."""
    global SUBMISSIONS
    SUBMISSIONS = 100
    workdir = Path(tempfile.mkdtemp(prefix="promueve-bench-surveys-"))
    env = bench_env(free_port(), workdir, DATABASE_URL, REDIS_URL)
    if not reuse:
        fresh_database(DATABASE_URL, env)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import text

    from app import create_app
    from core.extensions import db

    app = create_app()
    if reuse:
        with app.app_context():
            survey_id = db.session.execute(
                text("SELECT id FROM survey WHERE title = 'Encuesta results'")
            ).scalar_one()
            million = db.session.execute(
                text("SELECT count(*) FROM survey_answer WHERE survey_id = :s"), {"s": survey_id}
            ).scalar()
            db.session.remove()
    else:
        survey_id = seed(app)["surveys"]["results"]
        million = generate_million(app, survey_id)
    timing = time_results(app, survey_id)
    print(
        f"results over {million:,} answers: {timing['results_ms']} ms beside a bare GROUP BY "
        f"{timing['bare_group_by_ms']} ms ({timing['ratio']}x; target <= 2x)"
    )
    return 0


def main() -> int:
    if not DATABASE_URL.startswith("postgres"):
        print("this benchmark needs PostgreSQL (BENCH_DATABASE_URL)")
        return 2
    if "--results-only" in sys.argv or os.environ.get("BENCH_ONLY") == "results":
        return results_only("--reuse" in sys.argv)
    import redis

    workdir = Path(tempfile.mkdtemp(prefix="promueve-bench-surveys-"))
    port = free_port()
    env = bench_env(port, workdir, DATABASE_URL, REDIS_URL)
    redis.Redis.from_url(REDIS_URL).flushdb()
    print(f"migrating {DATABASE_URL.rsplit('/', 1)[-1]} and seeding {SUBMISSIONS} people")
    fresh_database(DATABASE_URL, env)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from app import create_app

    app = create_app()
    data = seed(app)
    rng = random.Random(9)
    answers = [answer_set(rng, data["layout"], data["datasets"]) for _ in range(SUBMISSIONS)]
    jobs = [
        (token, json.dumps({"answers": a}).encode()) for token, a in zip(data["tokens"], answers, strict=True)
    ]
    load = os.getloadavg()[0]
    server = start_gunicorn(
        port, env, workdir / "gunicorn.log", workers=WORKERS, extra_args=("--backlog", "2048")
    )
    try:
        http_run = submit_all(port, data["surveys"]["http"], jobs)
    finally:
        stop(server)
    from sqlalchemy import text

    from core.extensions import db

    with app.app_context():
        sets = db.session.execute(
            text("SELECT count(*) FROM survey_response WHERE survey_id = :s"), {"s": data["surveys"]["http"]}
        ).scalar()
        rows = db.session.execute(
            text("SELECT count(*) FROM survey_answer WHERE survey_id = :s"), {"s": data["surveys"]["http"]}
        ).scalar()
        db.session.remove()
    print(
        f"HTTP: {http_run['per_second']} answer sets/s "
        f"(p50 {http_run['p50_ms']} ms, p95 {http_run['p95_ms']} ms), "
        f"statuses {http_run['statuses']}; stored {sets} sets, {rows} answer rows"
    )
    raw = raw_insert(app, data["surveys"]["raw"], data, answers)
    print(
        f"raw insert ceiling: {raw['per_second']} answer sets/s "
        f"(HTTP reaches {http_run['per_second'] / raw['per_second']:.0%} of it)"
    )
    million = generate_million(app, data["surveys"]["results"])
    timing = time_results(app, data["surveys"]["results"])
    timing["answers"] = million
    print(
        f"results over {million:,} answers: {timing['results_ms']} ms beside a bare GROUP BY "
        f"{timing['bare_group_by_ms']} ms ({timing['ratio']}x; target <= 2x)"
    )
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": round(load, 2),
        },
        "submissions_http": {**http_run, "stored_answer_sets": sets, "stored_answer_rows": rows},
        "raw_insert_ceiling": raw,
        "results": timing,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    section = "\n".join(
        [
            START,
            "## Surveys (`bench_surveys.py`)",
            "",
            f"{os.cpu_count()} cores, gunicorn {WORKERS} workers, {CLIENTS} clients, PostgreSQL; load before "
            f"{load:.2f}. Run {report['when']}.",
            "",
            table_row("Measure", "Figure", "Baseline (same run)"),
            table_row("---", "---", "---"),
            table_row(
                f"{SUBMISSIONS:,} answer sets via `PUT /api/v1/surveys/<id>/response`",
                f"{http_run['per_second']}/s, p95 {http_run['p95_ms']} ms",
                f"raw `executemany` of the same rows: {raw['per_second']}/s",
            ),
            table_row(
                "Stored", f"{sets:,} answer sets, {rows:,} answer rows", f"expected {SUBMISSIONS:,} sets"
            ),
            table_row(
                f"Results over {million:,} answers",
                f"{timing['results_ms']} ms",
                f"bare `GROUP BY`: {timing['bare_group_by_ms']} ms ({timing['ratio']}x; target <= 2x)",
            ),
            END,
        ]
    )
    replace_section(START, END, section)
    return 0 if sets == SUBMISSIONS else 1


if __name__ == "__main__":
    sys.exit(main())
