"""Run every benchmark in bench/ (files named bench_*.py), one after another.

Each benchmark prints its figure beside the baseline it measured in the same run and
writes a JSON result under bench/results/. `make bench` calls this.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if len(sys.argv) > 1:
        scripts = [path for path in scripts if any(name in path.name for name in sys.argv[1:])]
    failed = 0
    for script in scripts:
        print(f"== {script.name}", flush=True)
        failed += subprocess.call([sys.executable, str(script)], cwd=HERE.parent) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
