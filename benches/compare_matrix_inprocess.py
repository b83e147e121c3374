"""Builds of undertow timed in ONE process: each build's `_core` extension is loaded under its
own package name, and their matrix fits alternate on the same array (A B C A B C ...), beside
numpy's read pass. On a VM whose speed moves by tens of percent from minute to minute and from
process to process, the per-round ratio of two builds is the steadiest comparison there is.

    python benches/compare_matrix_inprocess.py NAME=PATH_TO__core.abi3.so ... [--rows N] [--rounds R]

Prints per build the median fit time, its share of the read rate, and the median of the
per-round ratios to the first build; every build's fitted reference (edges and counts) must
serialize to the same bytes as the first build's.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

BENCHES = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHES))

from _common import make_matrices  # noqa: E402
from _read_pass import read_pass_threads  # noqa: E402


def load(tag: str, path: str):
    # The init symbol follows the last name component (`PyInit__core`), so the same extension
    # file loads under any package name; each copy has its own statics.
    spec = importlib.util.spec_from_file_location(f"{tag}._core", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a loadable extension")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("builds", nargs="+", help="NAME=PATH of a _core.abi3.so")
    parser.add_argument("--rows", type=float, default=1e6)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    builds = {}
    for item in args.builds:
        name, _, path = item.partition("=")
        builds[name] = load(name, path)
    reference, _ = make_matrices(int(args.rows))
    names = [str(j) for j in range(reference.shape[1])]
    times: dict[str, list[float]] = {name: [] for name in builds}
    reads: list[float] = []
    fitted_bytes: dict[str, bytes] = {}
    for _ in range(args.rounds):
        for name, core in builds.items():
            start = time.perf_counter()
            fitted = core.fit_numeric_rows_f32(names, reference, 10, "quantile", None, "raise")
            times[name].append(time.perf_counter() - start)
            # Each build serializes its own reference: edges and counts, compared below.
            reference_bytes = core.PsiReference(fitted, "raise", 1e-4, 0.1, 0.25).to_bytes()
            fitted_bytes[name] = bytes(reference_bytes)
        start = time.perf_counter()
        read_pass_threads(reference)
        reads.append(time.perf_counter() - start)
    first = next(iter(builds))
    read = float(np.median(reads))
    print(f"{int(args.rows):,} x {reference.shape[1]} float32, {args.rounds} rounds")
    for name in builds:
        assert fitted_bytes[name] == fitted_bytes[first], f"{name}: the fit differs from {first}"
        fit = float(np.median(times[name]))
        ratio = float(np.median(np.array(times[name]) / np.array(times[first])))
        print(
            f"{name}: fit {fit * 1e3:.1f} ms, {read / fit:.3f} of the read rate "
            f"(read pass {read * 1e3:.1f} ms); per-round ratio to {first} {ratio:.3f}"
        )


if __name__ == "__main__":
    main()
