"""Fixtures, sizes and the end-of-session summary of the undertow benches.

Run (not part of the normal test run: pyproject's testpaths is ["tests"]):

    python -m pytest benches --benchmark-only -q

Environment:

* UNDERTOW_BENCH_SIZES  comma-separated 1-D sizes per side, default "1e7,1e8";
* UNDERTOW_BENCH_QUICK=1  1,000, 1e6 and 2^21 values per side and 1,000 x 100 and 1e5 x 100
  matrices (CI smoke run);
* UNDERTOW_BENCH_MATRIX_ROWS  rows of the per-column matrix, default 1e6 (1e5 in quick mode);
  the matrix always has 100 float32 columns.

Each benchmark stores its median and the number of values it reads in RESULTS; the summary at
the end prints the ratios (undertow vs the correct numpy version, vs the seed snippet, and
undertow's rate as a share of the read-pass rate), the peak extra RSS and the GIL test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _common import (
    RESULTS,
    Entry,
    Group,
    bench_sizes,
    make_matrices,
    make_pair,
    matrix_row_sizes,
    size_label,
)


@pytest.fixture(scope="session", params=bench_sizes(), ids=lambda n: f"n={size_label(n)}")
def pair(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    """One (expected, actual) pair per size. Session scope with params makes pytest run all the
    benchmarks of one size together, so only one size is in memory at a time."""
    return make_pair(request.param)


@pytest.fixture(scope="session", params=matrix_row_sizes(), ids=lambda n: f"rows={size_label(n)}")
def matrices(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    return make_matrices(request.param)


# ---------------------------------------------------------------------------------------------
# Summary


def _fmt_rate(rate: float) -> str:
    return f"{rate / 1e9:.3f} G/s" if rate >= 1e8 else f"{rate / 1e6:.1f} M/s"


def _ratio(num: Entry | None, den: Entry | None) -> str:
    if num is None or den is None:
        return "n/a"
    return f"{num.median_s / den.median_s:.1f}x"


def _read_entry(group: Group) -> tuple[str, Entry] | None:
    reads = [(k, e) for k, e in group.entries.items() if k.startswith("read_pass")]
    return min(reads, key=lambda kv: kv[1].median_s) if reads else None


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's tables
def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    tr = terminalreporter
    tr.write_sep("=", "undertow benchmark summary (medians)")
    for key in sorted(RESULTS, key=_group_order):
        group = RESULTS[key]
        tr.write_line("")
        tr.write_line(group.title)
        for name, e in group.entries.items():
            tr.write_line(
                f"  {name:<28} median {e.median_s:>10.5f} s  {_fmt_rate(e.rate):>12}  "
                f"({e.values:,} values, {e.rounds} round{'s' if e.rounds != 1 else ''})"
            )
        read = _read_entry(group)
        if key.startswith("psi"):
            ut_e = group.entries.get("undertow_psi")
            tr.write_line(
                f"  undertow vs correct numpy: {_ratio(group.entries.get('numpy_correct'), ut_e)} faster; "
                f"vs seed snippet: {_ratio(group.entries.get('numpy_seed_snippet'), ut_e)} faster"
            )
            fit = group.entries.get("undertow_fit_only")
            count = group.entries.get("undertow_count_only")
            if read is not None and fit is not None and count is not None:
                one_side = read[1].median_s / 2  # the read pass reads both sides
                tr.write_line(
                    f"  where the time goes: fit of expected {fit.median_s:.5f} s "
                    f"(= {fit.median_s / one_side:.1f} read passes of one side), counting actual "
                    f"{count.median_s:.5f} s (= {count.median_s / one_side:.1f} read passes)"
                )
        elif key.startswith("matrix"):
            ut_e = group.entries.get("undertow_ref_psi")
            ut_fit = group.entries.get("undertow_fit")
            np_fit = group.entries.get("numpy_fit_by_column")
            np_psi = group.entries.get("numpy_psi_by_column")
            tr.write_line(
                f"  ref.psi vs numpy column by column (counts + PSI): {_ratio(np_psi, ut_e)} faster; "
                f"fit vs numpy fit: {_ratio(np_fit, ut_fit)} faster"
            )
            if None not in (ut_e, ut_fit, np_fit, np_psi):
                total = (np_fit.median_s + np_psi.median_s) / (ut_fit.median_s + ut_e.median_s)
                tr.write_line(f"  fit + psi vs numpy fit + psi: {total:.1f}x faster")
        else:
            ut_e = None
        if ut_e is not None and read is not None:
            tr.write_line(
                f"  undertow rate / read-pass rate ({read[0]}): {ut_e.rate / read[1].rate:.2f} "
                f"(read pass {_fmt_rate(read[1].rate)}, {read[1].rate * 4 / 1e9:.1f} GB/s)"
            )
        for k, v in group.notes.items():
            tr.write_line(f"  {k}: {v}")


def _group_order(key: str) -> tuple[int, int, str]:
    kind, _, rest = key.partition(":")
    order = {"psi": 0, "matrix": 1, "gil": 2}.get(kind, 3)
    try:
        n = int(rest)
    except ValueError:
        n = 0
    return order, n, key
