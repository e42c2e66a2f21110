"""Wall time of the default `mlengine` run and of `mlengine --help`, against their targets.

    python benchmarks/bench_default_run.py [--repeats-help 5]

Each command runs in a fresh temporary folder (a new MLflow store and study each time),
exactly as a newcomer's first run does. Prints a table; exits non-zero if a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

TARGETS = {"mlengine (default experiment)": 90.0, "mlengine --help": 2.0}


def timed(args: list[str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mlengine", *args],
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats-help", type=int, default=5)
    repeats = parser.parse_args().repeats_help
    with tempfile.TemporaryDirectory() as folder:
        helps = [timed(["--help"], folder) for _ in range(repeats)]
        default = timed([], folder)
    measured = {
        "mlengine (default experiment)": default,
        "mlengine --help": statistics.median(helps),
    }
    print(f"{'command':32} {'seconds':>8} {'target':>8} {'ok':>4}")
    failed = False
    for name, seconds in measured.items():
        ok = seconds <= TARGETS[name]
        failed |= not ok
        print(f"{name:32} {seconds:8.2f} {TARGETS[name]:8.1f} {'yes' if ok else 'NO':>4}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
