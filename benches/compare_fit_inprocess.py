"""`benches/compare_matrix_inprocess.py` for the one-column fit: builds' `_core` extensions
loaded side by side in one process, `Reference.fit`'s kernel (`fit_numeric_f32`) of the same
normal float32 column alternating between them, beside numpy's read pass of the column (the
yardstick of issue 16's "the fit <= 2 read passes").

    python benches/compare_fit_inprocess.py NAME=PATH_TO__core.abi3.so ... [--n N] [--rounds R]
        [--dtype float32|float64] [--data normal|repeated|half-nan|calm-window]

`--data`: normal values (the default), each normal value repeated on 8 consecutive rows (a
user's feature on each of the user's rows: the sample's runs are alike), half the values NaN,
or `calm-window`: uniform values, each aligned block of 8 rows holding one value per eighth of
[0, 1) on the first eighth of every n/32 rows, and each value on 8 rows elsewhere (a sample
variance taken from the first eighth only was misled by it).

Prints per build the median fit time, in read passes of the column, and the median of the
per-round ratios to the first build; every build's fitted column must serialize to the same
bytes as the first build's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

BENCHES = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHES))

from _read_pass import read_pass_threads  # noqa: E402
from compare_matrix_inprocess import alternate, parse, report  # noqa: E402


def main() -> None:
    def options(p):
        p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
        p.add_argument("--data", choices=("normal", "repeated", "half-nan", "calm-window"), default="normal")

    builds, n, rounds, args = parse("n", 1e7, 60, options)
    rng = np.random.default_rng(0)
    column = rng.standard_normal(n)
    if args.data == "repeated":
        column = np.repeat(column[: n // 8 + 1], 8)[:n]
    elif args.data == "half-nan":
        column[rng.random(n) < 0.5] = np.nan
    elif args.data == "calm-window":
        rows, period, uniform = np.arange(n), max(n // 32, 8), rng.random(n)
        calm = rows % period < period // 8 + 64
        column = np.where(calm, (rows % 8 + uniform) / 8, np.repeat(uniform[: n // 8 + 1], 8)[:n])
    column = np.ascontiguousarray(column.astype(args.dtype))
    policy = "omit" if args.data == "half-nan" else "raise"
    suffix = "f32" if args.dtype == "float32" else "f64"
    times, read = alternate(
        builds,
        rounds,
        lambda core: getattr(core, f"fit_numeric_{suffix}")("x", column, 10, "quantile", None, policy),
        lambda core, fitted: core.PsiReference([fitted], policy, 1e-4, 0.1, 0.25).to_bytes(),
        lambda: read_pass_threads(column),
    )
    print(f"{n:,} {args.dtype} ({args.data}), {rounds} rounds; read pass {read * 1e3:.2f} ms")
    report(times, read, lambda fit, read: f"fit {fit * 1e3:.2f} ms = {fit / read:.2f} read passes")


if __name__ == "__main__":
    main()
