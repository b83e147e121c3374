"""Two builds of undertow timing `ut.rotation_preview` on the rotation bench's data, each in its
own process (the two document matrices are 3.1 GB at 1e6), one after the other:

    python benches/compare_rotation_builds.py OLD_PYTHON_DIR NEW_PYTHON_DIR [rows] [rounds]

Each directory holds an `undertow` package with its `_core.abi3.so` (e.g. a worktree's
`python/`). The data are those of benches/test_bench_rotation.py (seed 11: unit vectors, the new
encoder a random rotation plus noise, 2,000 queries, k = 10). Prints wall and CPU time per
round, and checks that both builds give the same top-k of every query.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

DIM = 384
QUERIES = 2_000


def one_build(path: str, rows: int, rounds: int) -> dict:
    sys.path.insert(0, path)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _rotation_data import rotation_spaces

    import undertow as ut

    spaces = rotation_spaces(rows, QUERIES)
    old, new, q_old, q_new = (spaces[n] for n in ("old", "new", "q_old", "q_new"))
    times = []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        report = ut.rotation_preview(old, new, q_old, q_new, k=10)
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    frame = report.churn_frame("queries")
    tops = [list(map(int, v)) for v in frame["old_top"].to_list()]
    return {"file": ut.__file__, "times": times, "tops": tops, "verdict": report.verdict}


def main() -> None:
    if sys.argv[1] == "--one":
        print(json.dumps(one_build(sys.argv[2], int(float(sys.argv[3])), int(sys.argv[4]))))
        return
    old_dir, new_dir = sys.argv[1], sys.argv[2]
    rows = sys.argv[3] if len(sys.argv) > 3 else "2e5"
    rounds = sys.argv[4] if len(sys.argv) > 4 else "2"
    results = []
    for path in (old_dir, new_dir):
        out = subprocess.run(
            [sys.executable, __file__, "--one", path, rows, rounds],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    for name, r in zip(("old", "new"), results, strict=True):
        runs = ", ".join(f"{w:.2f} s wall / {c:.1f} s CPU" for w, c in r["times"])
        print(f"{name}: {r['file']}\n  rotation_preview {rows} x {DIM}: {runs}; {r['verdict']}")
    same = results[0]["tops"] == results[1]["tops"]
    print(f"old-side top-k of every query identical across builds: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
