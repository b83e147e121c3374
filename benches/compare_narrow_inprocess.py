"""`benches/compare_matrix_inprocess.py` for narrow matrices: builds' `_core` extensions loaded
side by side in one process, `Reference.fit`'s kernel (`fit_numeric_rows_f32` / `_f64`) of
C-ordered matrices of 1 to 8 columns and about `--values` values, the builds alternating.

    python benches/compare_narrow_inprocess.py NAME=PATH_TO__core.abi3.so ... \
        [--values N] [--rounds R] [--dtype float32|float64]

Prints per shape each build's median fit and the median of its per-round ratios to the first
build; every build's fitted reference must serialize to the same bytes as the first build's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_matrix_inprocess import load


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("builds", nargs="+", help="NAME=PATH of a _core.abi3.so")
    parser.add_argument("--values", type=float, default=2e7)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    builds = {name: load(name, path) for name, _, path in (b.partition("=") for b in args.builds)}
    suffix = "f32" if args.dtype == "float32" else "f64"
    first = next(iter(builds))
    for ncols in (1, 2, 3, 4, 5, 8):
        rows = int(args.values) // ncols
        matrix = np.random.default_rng(0).standard_normal((rows, ncols)).astype(args.dtype)
        names = [f"c{j}" for j in range(ncols)]
        times: dict[str, list[float]] = {name: [] for name in builds}
        results: dict[str, bytes] = {}
        for _ in range(args.rounds):
            for name, core in builds.items():
                fit = getattr(core, f"fit_numeric_rows_{suffix}")
                start = time.perf_counter()
                fitted = fit(names, matrix, 10, "quantile", None, "raise")
                times[name].append(time.perf_counter() - start)
                results[name] = bytes(core.PsiReference(fitted, "raise", 1e-4, 0.1, 0.25).to_bytes())
        line = [f"{rows:,} x {ncols} {args.dtype}:"]
        for name in builds:
            assert results[name] == results[first], f"{name}: the fit differs from {first}"
            ratio = np.median(np.array(times[name]) / np.array(times[first]))
            line.append(f"{name} {np.median(times[name]) * 1e3:.1f} ms (ratio {ratio:.3f})")
        print(" ".join(line))


if __name__ == "__main__":
    main()
