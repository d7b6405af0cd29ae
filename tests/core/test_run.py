"""`make run` keeps its processes up: each runs under bin/respawn inside honcho."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

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
