"""`benches/compare_matrix_inprocess.py` for the counting kernel (`count_at_least`, the dense
strategy): builds' `_core` extensions loaded side by side in one process, the same column of
normal values counted against 10 fitted bins (12 thresholds with the sentinels) by each build in
turn, beside numpy's read pass of the column.

    python benches/compare_count_inprocess.py NAME=PATH_TO__core.abi3.so ... [--n N] [--rounds R]
        [--dtype float32|float64]

Two callers of the kernel are timed, each alternating between the builds every round:

* score: the fit-once / score-many path, `PsiAccumulator.count_f32` / `count_f64` of the column
  against a reference fitted once (from another sample of the same distribution) by each build:
  what `Reference.psi` / `Reference.update` run per numeric column;
* histogram: `histogram_counts_f32` / `_f64` with 10 equal-width bins (what `ut.histogram(x,
  bins=10)` runs after numpy's min/max).

Prints per path and build the median time, its share of the read rate, and the median of the
per-round ratios to the first build; every build's counts must equal the first build's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

BENCHES = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHES))

from _read_pass import read_pass_threads  # noqa: E402
from compare_matrix_inprocess import alternate, parse, report  # noqa: E402

BINS = 10


def as_bytes(counted) -> bytes:
    # score gives (bin counts, missing), histogram a numpy array
    return repr(counted.tolist() if isinstance(counted, np.ndarray) else counted).encode()


def main() -> None:
    builds, n, rounds, args = parse(
        "n", 1e8, 7, lambda p: p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    )
    rng = np.random.default_rng(0)
    column = rng.standard_normal(n, dtype=np.float32 if args.dtype == "float32" else np.float64)
    expected = rng.standard_normal(min(n, 1_000_000)).astype(args.dtype)
    suffix = "f32" if args.dtype == "float32" else "f64"
    # each build fits its own reference (the fits must agree) and scores against it
    accumulators = {}
    for name, core in builds.items():
        fitted = getattr(core, f"fit_numeric_{suffix}")("x", expected, BINS, "quantile", None, "raise")
        accumulators[name] = core.PsiAccumulator(core.PsiReference([fitted], "raise", 1e-4, 0.1, 0.25))
    by_core = {id(core): accumulators[name] for name, core in builds.items()}
    edges = np.histogram_bin_edges(column[:1_000_000], bins=BINS).astype(np.float64).tolist()

    def score(core):
        return getattr(by_core[id(core)], f"count_{suffix}")(0, column)

    def histogram(core):
        return getattr(core, f"histogram_counts_{suffix}")(column, edges)

    print(f"{n:,} {args.dtype}, {rounds} rounds, {BINS} bins")
    for label, count in (("score", score), ("histogram", histogram)):
        times, read = alternate(
            builds,
            rounds,
            count,
            lambda core, counted: as_bytes(counted),
            lambda: read_pass_threads(column),
        )
        print(f"{label} (read pass {read * 1e3:.2f} ms):")
        report(
            times,
            read,
            lambda t, read: f"  {t * 1e3:.2f} ms, {read / t:.3f} of the read rate",
        )


if __name__ == "__main__":
    main()
