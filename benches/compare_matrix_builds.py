"""Two builds of undertow timed interleaved on the same C-ordered matrix (A B A B ...), so that a
loaded machine slows both alike: `Reference.fit` of the rows x 100 float32 matrix, `ref.psi` of
a second one, and the read pass of one matrix (the yardstick of benches/_read_pass.py).

    python benches/compare_matrix_builds.py OLD_PYTHON_DIR NEW_PYTHON_DIR [rows] [repetitions] [rounds]

Each directory is one that holds an `undertow` package with its `_core.abi3.so` (e.g. a
worktree's `python/`). Each build runs in its own subprocess; the first repetition also measures
the peak extra RSS of one fit (benches/_memory.py) and checks every column's edges and counts
against numpy (np.quantile, np.histogram). Both builds must give the same edges and counts.
Prints medians per build and the fit's share of the read rate.
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


def _matrices(rows: int) -> tuple[np.ndarray, np.ndarray]:
    sys.path.insert(0, str(BENCHES))
    from _common import make_matrices

    return make_matrices(rows)


def _check_numpy(ref, reference: np.ndarray) -> None:
    for j in range(reference.shape[1]):
        column = reference[:, j]
        edges = np.r_[-np.inf, np.unique(np.quantile(column, np.linspace(0, 1, 11))[1:-1]), np.inf]
        got = ref.edges(str(j))
        assert np.array_equal(np.asarray(got).view(np.int64), edges.view(np.int64)), j


def one_build(rows: int, rounds: int, first: bool) -> dict:
    sys.path.insert(0, str(BENCHES))
    from _memory import peak_rss_growth
    from _read_pass import read_pass_threads

    import undertow as ut

    reference, current = _matrices(rows)
    ref = ut.Reference.fit(reference)
    out = {
        "file": ut.__file__,
        "fit": median_time(ut.Reference.fit, reference, rounds=rounds),
        "read": median_time(read_pass_threads, reference, rounds=rounds),
        "psi": median_time(ref.psi, current, rounds=rounds),
    }
    report = ref.psi(current)
    h = hashlib.sha256()
    for j in range(COLUMNS):
        h.update(np.asarray(ref.edges(str(j)), dtype=np.float64).tobytes())
        h.update(np.asarray(report[str(j)].expected_counts, dtype=np.int64).tobytes())
        h.update(np.asarray(report[str(j)].actual_counts, dtype=np.int64).tobytes())
    out["digest"] = h.hexdigest()
    if first:
        _, rss = peak_rss_growth(ut.Reference.fit, reference)
        out["fit_rss_mb"] = rss.extra_mb
        _check_numpy(ref, reference)
    return out


def main() -> None:
    parsed = alternate_main(__file__, one_build, 10**6, 5)
    if parsed is None:
        return
    found, rows, reps, rounds = parsed
    digests = {r["digest"] for runs in found.values() for r in runs}
    print(
        f"{rows:,} x {COLUMNS} float32, {reps} repetitions x {rounds} rounds; load {os.getloadavg()[0]:.1f}"
    )
    print(f"edges and counts identical across builds and runs: {len(digests) == 1}")
    for name, runs in found.items():
        m = {k: float(np.median([r[k] for r in runs])) for k in ("fit", "read", "psi")}
        fits = ", ".join(f"{r['fit'] * 1e3:.0f}" for r in runs)
        print(f"{name}: {runs[0]['file']}")
        print(
            f"  fit {m['fit'] * 1e3:.1f} ms ({m['read'] / m['fit']:.3f} of the read rate; all "
            f"{fits} ms), peak extra RSS "
            f"{runs[0]['fit_rss_mb']:.1f} MB; ref.psi {m['psi'] * 1e3:.1f} ms "
            f"({m['read'] / m['psi']:.3f} of the read rate); read pass {m['read'] * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
