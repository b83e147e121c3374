"""`ut.psi` of small samples beside the correct numpy version, in one process: the per-call
costs a feature-by-cohort job pays once per call.

    python benches/small_psi_calls.py [--calls 1500] [SIZE ...]      # default 100 1000 16384

Prints per size the median time of `ut.psi` and of numpy (`np.quantile` edges, `np.histogram`
of both sides, PSI with proportions floored at 1e-4) over `--calls` calls each, and the ratio.
Run it with ``PYTHONPATH=python`` to time a worktree's build instead of the installed one.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

import undertow as ut


def median_us(f: Callable[[], object], calls: int) -> float:
    f()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def numpy_psi(e: np.ndarray, a: np.ndarray) -> float:
    interior = np.unique(np.quantile(e, np.linspace(0, 1, 11))[1:-1])
    edges = np.r_[-np.inf, interior, np.inf]
    pe = np.maximum(np.histogram(e, edges)[0] / e.size, 1e-4)
    pa = np.maximum(np.histogram(a, edges)[0] / a.size, 1e-4)
    return float(((pa - pe) * np.log(pa / pe)).sum())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000, 16384])
    parser.add_argument("--calls", type=int, default=1500)
    args = parser.parse_args()
    print(f"undertow from {ut.__file__}")
    for size in args.sizes:
        rng = np.random.default_rng(size)
        e = rng.normal(size=size).astype(np.float32)
        a = rng.normal(0.1, size=size).astype(np.float32)
        assert abs(ut.psi(e, a).value - numpy_psi(e, a)) <= 1e-9 * max(1.0, numpy_psi(e, a))
        ours = median_us(lambda: ut.psi(e, a), args.calls)  # noqa: B023
        theirs = median_us(lambda: numpy_psi(e, a), args.calls)  # noqa: B023
        print(f"{size:>8,} values: ut.psi {ours:8.1f} us, numpy {theirs:8.1f} us, {theirs / ours:5.2f}x")


if __name__ == "__main__":
    main()
