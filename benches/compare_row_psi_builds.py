"""Two builds of undertow timed interleaved (A B A B ...) on `ref.psi` of a C-ordered rows x 100
float32 matrix (the row kernel), beside the 1-D kernel on the same values as one array and a
read pass of the matrix (benches/_read_pass.py), so each build's share of the read rate can be
set against the 1-D kernel's share measured in the same run.

    python benches/compare_row_psi_builds.py OLD_PYTHON_DIR NEW_PYTHON_DIR [rows] [repetitions] [rounds]

Each directory holds an `undertow` package with its `_core.abi3.so`. Each build runs in its own
subprocess (benches/_alternate.py); set RAYON_NUM_THREADS to fix the thread count. Per build:
`ref.psi` (the whole call), the row count alone (the binding's update, no PSI math), the 1-D
count of all values, and the read pass. The first repetition checks every column's counts
against numpy (np.searchsorted on the float64 values); both builds must give the same counts.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np
from _alternate import main as alternate_main
from _alternate import median_time

BENCHES = Path(__file__).resolve().parent
COLUMNS = 100


def _check_numpy(ref, current: np.ndarray, report) -> None:
    for j in range(current.shape[1]):
        edges = np.asarray(ref.edges(str(j)), dtype=np.float64)[1:-1]  # without the open -inf, inf
        column = current[:, j].astype(np.float64)
        want = np.bincount(np.searchsorted(edges, column, side="right"), minlength=edges.size + 1)
        assert np.array_equal(report[str(j)].actual_counts, want), j


def one_build(rows: int, rounds: int, first: bool) -> dict:
    sys.path.insert(0, str(BENCHES))
    from _common import make_matrices
    from _read_pass import read_pass_threads

    import undertow as ut

    reference, current = make_matrices(rows)
    ref = ut.Reference.fit(reference)
    flat = ut.Reference.fit({"x": reference[:, 0].copy()})
    values = current.reshape(-1)

    def row_count() -> None:
        ref.accumulator()._core.update_rows_f32(list(range(COLUMNS)), current)

    def flat_count() -> None:
        flat.accumulator()._core.update_f32(0, values)

    out = {
        "file": ut.__file__,
        "psi": median_time(ref.psi, current, rounds=rounds),
        "rows": median_time(row_count, rounds=rounds),
        "flat": median_time(flat_count, rounds=rounds),
        "read": median_time(read_pass_threads, current, rounds=rounds),
    }
    report = ref.psi(current)
    h = hashlib.sha256()
    for j in range(COLUMNS):
        h.update(np.asarray(report[str(j)].actual_counts, dtype=np.int64).tobytes())
    out["digest"] = h.hexdigest()
    if first:
        _check_numpy(ref, current, report)
    return out


def main() -> None:
    parsed = alternate_main(__file__, one_build, 10**6, 5)
    if parsed is None:
        return
    found, rows, reps, rounds = parsed
    digests = {r["digest"] for runs in found.values() for r in runs}
    threads = os.environ.get("RAYON_NUM_THREADS", "all")
    print(
        f"{rows:,} x {COLUMNS} float32, {reps} repetitions x {rounds} rounds, RAYON_NUM_THREADS={threads}; "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(f"counts identical across builds and runs, and equal to numpy: {len(digests) == 1}")
    for name, runs in found.items():
        m = {k: float(np.median([r[k] for r in runs])) for k in ("psi", "rows", "flat", "read")}
        share = {k: m["read"] / m[k] for k in ("psi", "rows", "flat")}
        print(f"{name}: {runs[0]['file']}")
        print(
            f"  ref.psi {m['psi'] * 1e3:.1f} ms ({share['psi']:.3f} of the read rate); row count "
            f"{m['rows'] * 1e3:.1f} ms ({share['rows']:.3f}); 1-D count of the same values "
            f"{m['flat'] * 1e3:.1f} ms ({share['flat']:.3f}); read pass {m['read'] * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
