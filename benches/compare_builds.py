"""Two builds of undertow timed interleaved on the same arrays (A B A B ...), so that a loaded
machine slows both alike: `Reference.fit` of the expected side, one-shot `ut.psi`, `ref.psi` of
a fitted Reference, the read pass of both arrays and of the expected side, and (first
repetition) the correct numpy version.

    python benches/compare_builds.py OLD_PYTHON_DIR NEW_PYTHON_DIR [n] [repetitions] [rounds]

Each directory is one that holds an `undertow` package with its `_core.abi3.so` (e.g. a
worktree's `python/`). Prints medians per build; the psi results are checked against numpy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from _alternate import main as alternate_main
from _alternate import median_time

BENCHES = Path(__file__).resolve().parent


def _numpy_correct(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    edges = np.r_[-np.inf, np.unique(np.quantile(x, np.linspace(0, 1, 11))[1:-1]), np.inf]
    return np.histogram(x, edges)[0], np.histogram(y, edges)[0], edges


def one_build(n: int, rounds: int, with_numpy: bool) -> dict:
    sys.path.insert(0, str(BENCHES))
    from _read_pass import read_pass_threads

    import undertow as ut

    rng = np.random.default_rng(0)
    e = rng.standard_normal(n).astype(np.float32)
    a = (rng.standard_normal(n) * 1.1 + 0.1).astype(np.float32)
    cpu: list[float] = []
    out = {
        "file": ut.__file__,
        "fit": median_time(ut.Reference.fit, {"x": e}, rounds=rounds, cpu=cpu),
        "psi": median_time(ut.psi, e, a, rounds=rounds, cpu=cpu),
        "read2": median_time(read_pass_threads, e, a, rounds=rounds),
        "read1": median_time(read_pass_threads, e, rounds=rounds),
    }
    out["fit_cpu"], out["psi_cpu"] = cpu
    # Fit once, score many: a fitted Reference scoring a one-column table.
    ref = ut.Reference.fit({"x": e})
    out["ref_psi"] = median_time(ref.psi, {"x": a}, rounds=rounds)
    assert np.array_equal(ref.psi({"x": a})["x"].actual_counts, ut.psi(e, a).actual_counts)
    if with_numpy:
        out["numpy"] = median_time(_numpy_correct, e, a, rounds=3)
        expected_counts, actual_counts, edges = _numpy_correct(e, a)
        result = ut.psi(e, a)
        assert np.array_equal(result.edges, edges)
        assert np.array_equal(result.expected_counts, expected_counts)
        assert np.array_equal(result.actual_counts, actual_counts)
    return out


def main() -> None:
    parsed = alternate_main(__file__, one_build, 10**7, 9)
    if parsed is None:
        return
    rows, *_ = parsed
    for name, found in rows.items():
        keys = ("fit", "psi", "read2", "read1", "fit_cpu", "psi_cpu", "ref_psi")
        m = {k: float(np.median([r[k] for r in found])) for k in keys}
        numpy_time = found[0]["numpy"]
        print(f"{name}: {found[0]['file']}")
        print(
            f"  fit {m['fit'] * 1e3:.1f} ms ({m['fit'] / m['read1']:.2f} read passes of expected); "
            f"psi {m['psi'] * 1e3:.1f} ms ({m['read2'] / m['psi']:.2f} of the read-pass rate); "
            f"read pass of both {m['read2'] * 1e3:.1f} ms; numpy correct {numpy_time * 1e3:.0f} ms "
            f"({numpy_time / m['psi']:.1f}x psi); CPU time (all threads): fit "
            f"{m['fit_cpu'] * 1e3:.1f} ms, psi {m['psi_cpu'] * 1e3:.1f} ms; ref.psi of a fitted "
            f"Reference {m['ref_psi'] * 1e3:.1f} ms ({m['read1'] / m['ref_psi']:.2f} of the read-pass "
            "rate of actual)"
        )


if __name__ == "__main__":
    main()
