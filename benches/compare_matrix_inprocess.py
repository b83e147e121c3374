"""Builds of undertow timed in ONE process: each build's `_core` extension is loaded under its
own package name, and their matrix fits alternate on the same array (A B C A B C ...), beside
numpy's read pass. On a VM whose speed moves by tens of percent from minute to minute and from
process to process, the per-round ratio of two builds is the steadiest comparison there is.

    python benches/compare_matrix_inprocess.py NAME=PATH_TO__core.abi3.so ... [--rows N] [--rounds R]
        [--cols C] [--float64]

The matrix is `benches/_common.make_matrices`' reference (100 normal float32 columns) unless
`--cols` or `--float64` asks for another width or type (normal values, seed 3).

Prints per build the median fit time, its share of the read rate, and the median of the
per-round ratios to the first build; every build's fitted reference (edges and counts) must
serialize to the same bytes as the first build's.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable
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


def parse(
    size: str, size_default: float, rounds_default: int, extra: Callable | None = None
) -> tuple[dict, int, int, argparse.Namespace]:
    """The command line `NAME=PATH ... [--SIZE N] [--rounds R]` (and what `extra(parser)`
    adds): each build's `_core` (in the given order), the size, the rounds and all arguments."""
    parser = argparse.ArgumentParser()
    parser.add_argument("builds", nargs="+", help="NAME=PATH of a _core.abi3.so")
    parser.add_argument(f"--{size}", type=float, default=size_default)
    parser.add_argument("--rounds", type=int, default=rounds_default)
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    items = (item.partition("=") for item in args.builds)
    builds = {name: load(name, path) for name, _, path in items}
    return builds, int(getattr(args, size)), args.rounds, args


def alternate(
    builds: dict, rounds: int, fit: Callable, serialize: Callable, read: Callable
) -> tuple[dict[str, np.ndarray], float]:
    """Per build its fit times (the builds in turn each round, then the read pass), and the
    median read pass. `serialize(core, fitted)` must give the same bytes for every build."""
    times: dict[str, list[float]] = {name: [] for name in builds}
    reads: list[float] = []
    results: dict[str, bytes] = {}
    for _ in range(rounds):
        for name, core in builds.items():
            start = time.perf_counter()
            fitted = fit(core)
            times[name].append(time.perf_counter() - start)
            results[name] = bytes(serialize(core, fitted))
        start = time.perf_counter()
        read()
        reads.append(time.perf_counter() - start)
    first = next(iter(builds))
    for name in builds:
        assert results[name] == results[first], f"{name}: the fit differs from {first}"
    return {name: np.array(t) for name, t in times.items()}, float(np.median(reads))


def report(times: dict[str, np.ndarray], read: float, describe: Callable) -> None:
    """A line per build: `describe(median fit, median read)` and the median per-round ratio
    to the first build."""
    first = next(iter(times))
    for name, t in times.items():
        ratio = float(np.median(t / times[first]))
        print(f"{name}: {describe(float(np.median(t)), read)}; per-round ratio to {first} {ratio:.3f}")


def shape_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cols", type=int, default=None, help="columns (default: 100)")
    parser.add_argument("--float64", action="store_true")


def main() -> None:
    builds, rows, rounds, args = parse("rows", 1e6, 12, shape_options)
    if args.cols is None and not args.float64:
        reference, _ = make_matrices(rows)
    else:
        dtype = np.float64 if args.float64 else np.float32
        shape = (rows, args.cols or 100)
        reference = np.random.default_rng(3).standard_normal(shape, dtype=dtype)
    names = [str(j) for j in range(reference.shape[1])]
    fit_name = "fit_numeric_rows_f64" if args.float64 else "fit_numeric_rows_f32"
    times, read = alternate(
        builds,
        rounds,
        lambda core: getattr(core, fit_name)(names, reference, 10, "quantile", None, "raise"),
        # Each build serializes its own reference: edges and counts.
        lambda core, fitted: core.PsiReference(fitted, "raise", 1e-4, 0.1, 0.25).to_bytes(),
        lambda: read_pass_threads(reference),
    )
    print(f"{rows:,} x {reference.shape[1]} {reference.dtype}, {rounds} rounds")
    report(
        times,
        read,
        lambda fit, read: (
            f"fit {fit * 1e3:.1f} ms, {read / fit:.3f} of the read rate (read pass {read * 1e3:.1f} ms)"
        ),
    )


if __name__ == "__main__":
    main()
