"""Runs one benchmark script under two builds of undertow, alternating, each in a subprocess.

Shared by `compare_builds.py` and `compare_matrix_builds.py`: each run is `SCRIPT --one ARGS
FIRST` with PYTHONPATH set to a build's `python/` directory and prints one JSON line last;
FIRST is "1" on the first repetition only (the extra, slow checks run once per build).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


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
