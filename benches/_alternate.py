"""Runs one benchmark script under two builds of undertow, alternating, each in a subprocess.

Shared by `compare_builds.py`, `compare_matrix_builds.py` and `compare_row_psi_builds.py`
(`main` parses their common command line, `median_time` times a call): each run is `SCRIPT --one ARGS
FIRST` with PYTHONPATH set to a build's `python/` directory and prints one JSON line last;
FIRST is "1" on the first repetition only (the extra, slow checks run once per build).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np


def median_time(f, *args, rounds: int, cpu: list | None = None) -> float:
    """Median wall time; with `cpu`, also appends the median process CPU time (all threads),
    which a loaded machine inflates far less than the wall time."""
    f(*args)
    times, cpus = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        f(*args)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    if cpu is not None:
        cpu.append(float(np.median(cpus)))
    return float(np.median(times))


def alternate(script: str, builds: dict[str, str], args: list[str], reps: int) -> dict[str, list[dict]]:
    """The JSON results of `reps` runs per build, builds alternating within each repetition."""
    found: dict[str, list[dict]] = {name: [] for name in builds}
    for rep in range(reps):
        for name, path in builds.items():
            env = dict(os.environ, PYTHONPATH=path)
            command = [sys.executable, script, "--one", *args, "1" if rep == 0 else "0"]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            found[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return found


def main(
    script: str, one_build: Callable[[int, int, bool], dict], size: int, rounds: int
) -> tuple[dict[str, list[dict]], int, int, int] | None:
    """`SCRIPT OLD NEW [size] [repetitions] [rounds]`: the results of `alternate` with the size,
    repetitions and rounds used; or, in a child (`SCRIPT --one SIZE ROUNDS FIRST`), prints
    `one_build`'s JSON line and returns None."""
    if sys.argv[1] == "--one":
        print(json.dumps(one_build(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1")))
        return None
    builds = {"old": sys.argv[1], "new": sys.argv[2]}
    size = int(float(sys.argv[3])) if len(sys.argv) > 3 else size
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else rounds
    return alternate(script, builds, [str(size), str(rounds)], reps), size, reps, rounds
