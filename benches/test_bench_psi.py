"""undertow.psi beside numpy and a memory-read pass, in one run.

For each size n (float32 values per side, see conftest.py):

* undertow_psi         ut.psi(expected, actual): 10 quantile bins fitted on expected;
* undertow_fit_only    its first half alone: Reference.fit on expected (quantile edges, counts);
* undertow_count_only  its second half alone: ut.histogram(actual) with the fitted edges;
* numpy_seed_snippet   the usual snippet: each side histogrammed over its *own* min..max (flawed:
                       the two sides use different edges, so a shift goes unseen);
* numpy_correct        the same statistic as undertow in numpy: quantile edges of expected, outer
                       edges open, both sides counted with those edges, proportions floored at 1e-4;
* read_pass_single     np.add.reduce over both arrays (one thread);
* read_pass_threads    np.sum(half, dtype=float32) of each half in a pool of 2 threads (numpy
                       releases the GIL in reductions); the faster of the two read passes is the
                       memory-bandwidth yardstick.

Per-column PSI of a C-ordered rows x 100 float32 matrix: Reference.fit and ref.psi beside numpy
column by column, and a read pass over the current matrix.

Each undertow benchmark cross-checks its value (and counts) against the numpy version in the
same run, to 1e-9 relative; no assertion is made on time. Peak extra RSS of the undertow calls
is measured with benches/_memory.py. The GIL benchmark runs benches/_gil_child.py in a
subprocess with RAYON_NUM_THREADS=1.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _common import (
    MATRIX_COLUMNS,
    SMALL,
    _is_quick,
    interleaved,
    is_big,
    keep_baseline,
    note,
    record,
    size_label,
)
from _memory import peak_rss_growth
from _read_pass import READ_THREADS, read_pass_single, read_pass_threads

import undertow as ut

BINS = 10
EPS = 1e-4
REL_TOL = 1e-9

# ---------------------------------------------------------------------------------------------
# The numpy versions


def seed_snippet_psi(expected: np.ndarray, actual: np.ndarray, buckets: int = 10) -> float:
    """Verbatim from the issue (flawed: each side gets its own equal-width edges)."""
    expected_pct = np.histogram(expected, bins=buckets)[0] / len(expected)
    actual_pct = np.histogram(actual, bins=buckets)[0] / len(actual)
    expected_pct = np.clip(expected_pct, 1e-6, None)
    actual_pct = np.clip(actual_pct, 1e-6, None)
    return float(np.sum((actual_pct - expected_pct) * np.log(actual_pct / expected_pct)))


def numpy_edges(expected: np.ndarray, bins: int = BINS) -> np.ndarray:
    interior = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1))[1:-1])
    return np.r_[-np.inf, interior, np.inf]


def numpy_psi_from_counts(expected_counts: np.ndarray, actual_counts: np.ndarray, eps: float = EPS) -> float:
    e = np.maximum(expected_counts / expected_counts.sum(), eps)
    a = np.maximum(actual_counts / actual_counts.sum(), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def numpy_correct_psi(
    expected: np.ndarray, actual: np.ndarray, bins: int = BINS
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The correct statistic in numpy: (psi, edges, expected counts, actual counts)."""
    edges = numpy_edges(expected, bins)
    expected_counts = np.histogram(expected, bins=edges)[0]
    actual_counts = np.histogram(actual, bins=edges)[0]
    return numpy_psi_from_counts(expected_counts, actual_counts), edges, expected_counts, actual_counts


# ---------------------------------------------------------------------------------------------
# Read passes


def _fast_rounds(n: int) -> int:
    return 400 if n < SMALL else 50 if n <= 10**6 else 30 if n <= 10**7 else 10


def _numpy_rounds(n: int, small: int) -> int:
    # Small calls take a fraction of a millisecond: enough rounds for a steady median.
    return 1 if is_big(n) else 200 if n < SMALL else small


def _matrix_rounds(rows: int, large: int) -> int:
    return 50 if rows * MATRIX_COLUMNS < 4 * SMALL else large


def _group(n: int) -> tuple[str, str]:
    return f"psi:{n}", f"1-D PSI, {size_label(n)} float32 values per side ({2 * n * 4 / 1e6:,.0f} MB read)"


# The correct numpy result per size, computed once (by test_numpy_correct, or lazily).
_CORRECT: dict[int, tuple[float, np.ndarray, np.ndarray, np.ndarray]] = {}


def _correct(expected: np.ndarray, actual: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    n = len(expected)
    if n not in _CORRECT:
        _CORRECT[n] = numpy_correct_psi(expected, actual)
    return _CORRECT[n]


def _rss_note(extra_bytes: int, input_bytes: int) -> str:
    extra = f"{extra_bytes / 1e6:.1f} MB" if extra_bytes >= 1e6 else f"{extra_bytes / 1e3:.0f} kB"
    return f"{extra} extra for {input_bytes / 1e6:,.0f} MB of input ({100 * extra_bytes / input_bytes:.2f}%)"


# ---------------------------------------------------------------------------------------------
# 1-D PSI


def test_numpy_correct(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    expected, actual = pair
    n = len(expected)
    benchmark.group = f"psi n={size_label(n)}"
    result = benchmark.pedantic(
        numpy_correct_psi, args=(expected, actual), rounds=_numpy_rounds(n, 3), iterations=1
    )
    _CORRECT[n] = result
    group, title = _group(n)
    record(benchmark, group, title, "numpy_correct", 2 * n)
    benchmark.extra_info["psi"] = result[0]
    _, rss = peak_rss_growth(numpy_correct_psi, expected, actual)
    benchmark.extra_info["peak_extra_rss_mb"] = rss.extra_mb
    note(group, title, "peak extra RSS, numpy_correct", _rss_note(rss.extra_bytes, expected.nbytes * 2))


def test_numpy_seed_snippet(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    expected, actual = pair
    n = len(expected)
    benchmark.group = f"psi n={size_label(n)}"
    value = benchmark.pedantic(
        seed_snippet_psi, args=(expected, actual), rounds=_numpy_rounds(n, 5), iterations=1
    )
    group, title = _group(n)
    record(benchmark, group, title, "numpy_seed_snippet", 2 * n)
    benchmark.extra_info["psi"] = value
    correct = _correct(expected, actual)[0]
    benchmark.extra_info["correct_psi"] = correct
    note(
        group, title, "seed snippet PSI (own edges per side) vs correct PSI", f"{value:.6f} vs {correct:.6f}"
    )


def test_undertow_psi(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    expected, actual = pair
    n = len(expected)
    benchmark.group = f"psi n={size_label(n)}"
    # Small calls: the correct numpy version runs before each round too (harness.py gates on it).
    setup, baseline = interleaved(benchmark, lambda: numpy_correct_psi(expected, actual))
    result = benchmark.pedantic(
        ut.psi,
        args=(expected, actual),
        setup=setup if n < SMALL else None,
        rounds=_fast_rounds(n),
        iterations=1,
        warmup_rounds=1,
    )
    group, title = _group(n)
    record(benchmark, group, title, "undertow_psi", 2 * n)
    keep_baseline(benchmark, baseline)
    benchmark.extra_info["psi"] = result.value

    # Correctness cross-check against the numpy version, in the same run.
    value, edges, expected_counts, actual_counts = _correct(expected, actual)
    np.testing.assert_array_equal(result.edges, edges)
    np.testing.assert_array_equal(result.expected_counts, expected_counts)
    np.testing.assert_array_equal(result.actual_counts, actual_counts)
    assert math.isclose(result.value, value, rel_tol=REL_TOL, abs_tol=1e-15), (result.value, value)

    # Peak extra memory: undertow must not copy its input.
    again, rss = peak_rss_growth(ut.psi, expected, actual)
    assert again.value == result.value
    input_bytes = expected.nbytes + actual.nbytes
    benchmark.extra_info["input_mb"] = input_bytes / 1e6
    benchmark.extra_info["peak_extra_rss_mb"] = rss.extra_mb
    benchmark.extra_info["rss_samples"] = rss.samples
    note(group, title, "peak extra RSS, undertow_psi", _rss_note(rss.extra_bytes, input_bytes))


def test_undertow_fit_only(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    """The first half of ut.psi on its own: quantile edges and counts of the expected side."""
    expected, _ = pair
    n = len(expected)
    benchmark.group = f"psi n={size_label(n)}"
    ref = benchmark.pedantic(
        ut.Reference.fit, args=({"x": expected},), rounds=_fast_rounds(n), iterations=1, warmup_rounds=1
    )
    record(benchmark, *_group(n), "undertow_fit_only", n)
    np.testing.assert_array_equal(ref.edges("x"), _correct(expected, pair[1])[1])


def test_undertow_fit_float64(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    """`Reference.fit` of the expected side as float64 (pandas' default dtype), beside
    np.quantile of the same array timed round for round. Recorded in float32 units (two per
    value: its bytes / 4), so its rate compares with the group's float32 read pass per byte."""
    expected = pair[0].astype(np.float64)
    n = len(expected)
    benchmark.group = f"psi n={size_label(n)}"
    setup, baseline = interleaved(benchmark, lambda: numpy_edges(expected))
    ref = benchmark.pedantic(
        ut.Reference.fit, args=({"x": expected},), setup=setup, rounds=_fast_rounds(n), iterations=1
    )
    record(benchmark, *_group(n), "undertow_fit_float64", 2 * n)
    keep_baseline(benchmark, baseline)
    np.testing.assert_array_equal(ref.edges("x"), numpy_edges(expected))


def test_undertow_reference_psi(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    """Fit once, score many: `ref.psi` of a one-column table against a fitted Reference (the
    nightly job's path). Its update counts the column in one pass, missing values included:
    it used to check them first with np.isfinite, a second read and an n-byte array."""
    expected, actual = pair
    n = len(actual)
    benchmark.group = f"psi n={size_label(n)}"
    ref = ut.Reference.fit({"x": expected})
    table = {"x": actual}
    report = benchmark.pedantic(ref.psi, args=(table,), rounds=_fast_rounds(n), iterations=1, warmup_rounds=1)
    record(benchmark, *_group(n), "undertow_reference_psi", n)
    np.testing.assert_array_equal(report["x"].actual_counts, _correct(expected, actual)[3])


def test_undertow_count_only(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    """The second half of ut.psi on its own: counting the actual side with fixed edges."""
    expected, actual = pair
    n = len(actual)
    benchmark.group = f"psi n={size_label(n)}"
    edges = _correct(expected, actual)[1]
    counts, _ = benchmark.pedantic(
        ut.histogram,
        args=(actual,),
        kwargs={"bins": edges},  # the same open outer edges as ut.psi
        rounds=_fast_rounds(n),
        iterations=1,
        warmup_rounds=1,
    )
    record(benchmark, *_group(n), "undertow_count_only", n)
    np.testing.assert_array_equal(counts, _correct(expected, actual)[3])


def test_read_pass_single(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    expected, actual = pair
    n = len(expected)
    benchmark.group = f"psi n={size_label(n)}"
    benchmark.pedantic(
        read_pass_single, args=(expected, actual), rounds=_fast_rounds(n), iterations=1, warmup_rounds=1
    )
    record(benchmark, *_group(n), "read_pass_single", 2 * n)


def test_read_pass_threads(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    expected, actual = pair
    n = len(expected)
    benchmark.group = f"psi n={size_label(n)}"
    benchmark.pedantic(
        read_pass_threads, args=(expected, actual), rounds=_fast_rounds(n), iterations=1, warmup_rounds=1
    )
    record(benchmark, *_group(n), "read_pass_threads", 2 * n)
    benchmark.extra_info["threads"] = READ_THREADS


# ---------------------------------------------------------------------------------------------
# Per-column PSI of a C-ordered matrix

# The numpy fit per matrix shape: per column (edges, expected counts).
_NP_FIT: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = {}
_NP_PSI: dict[tuple[int, int], list[tuple[float, np.ndarray]]] = {}


def numpy_fit_by_column(reference: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """What Reference.fit holds, in numpy: quantile edges and expected counts, column by column."""
    fitted = []
    for j in range(reference.shape[1]):
        column = reference[:, j]
        edges = numpy_edges(column)
        fitted.append((edges, np.histogram(column, bins=edges)[0]))
    return fitted


def numpy_psi_by_column(
    current: np.ndarray, fitted: list[tuple[np.ndarray, np.ndarray]]
) -> list[tuple[float, np.ndarray]]:
    """What ref.psi does, in numpy: count each current column with the fitted edges, then PSI."""
    out = []
    for j, (edges, expected_counts) in enumerate(fitted):
        actual_counts = np.histogram(current[:, j], bins=edges)[0]
        out.append((numpy_psi_from_counts(expected_counts, actual_counts), actual_counts))
    return out


def _matrix_group(shape: tuple[int, int]) -> tuple[str, str]:
    rows, cols = shape
    return (
        f"matrix:{rows}",
        f"per-column PSI, C-ordered {size_label(rows)} x {cols} float32 matrix "
        f"({rows * cols * 4 / 1e6:,.0f} MB per matrix)",
    )


def _np_fit(reference: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    if reference.shape not in _NP_FIT:
        _NP_FIT[reference.shape] = numpy_fit_by_column(reference)
    return _NP_FIT[reference.shape]


def test_matrix_numpy_fit_by_column(benchmark: Any, matrices: tuple[np.ndarray, np.ndarray]) -> None:
    reference, _ = matrices
    benchmark.group = "matrix"
    fitted = benchmark.pedantic(
        numpy_fit_by_column, args=(reference,), rounds=_matrix_rounds(len(reference), 1), iterations=1
    )
    _NP_FIT[reference.shape] = fitted
    record(benchmark, *_matrix_group(reference.shape), "numpy_fit_by_column", reference.size)


def test_matrix_numpy_psi_by_column(benchmark: Any, matrices: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = matrices
    benchmark.group = "matrix"
    fitted = _np_fit(reference)
    out = benchmark.pedantic(
        numpy_psi_by_column, args=(current, fitted), rounds=_matrix_rounds(len(current), 1), iterations=1
    )
    _NP_PSI[current.shape] = out
    record(benchmark, *_matrix_group(current.shape), "numpy_psi_by_column", current.size)


def test_matrix_undertow_fit(benchmark: Any, matrices: tuple[np.ndarray, np.ndarray]) -> None:
    reference, _ = matrices
    benchmark.group = "matrix"
    small = reference.size < 4 * SMALL
    setup, baseline = interleaved(benchmark, lambda: numpy_fit_by_column(reference))
    ref = benchmark.pedantic(
        ut.Reference.fit,
        args=(reference,),
        setup=setup if small else None,
        rounds=_matrix_rounds(len(reference), 3),
        iterations=1,
    )
    group, title = _matrix_group(reference.shape)
    record(benchmark, group, title, "undertow_fit", reference.size)
    keep_baseline(benchmark, baseline)
    # Against numpy in float64, the documented semantics: numpy's own float32 path subtracts the
    # two order statistics in float32 before interpolating, which differs in the last bits when
    # they are far apart (2 of 100 columns at 1,000 rows; none at 1e5).
    for j in range(reference.shape[1]):
        edges = numpy_edges(reference[:, j].astype(np.float64))
        np.testing.assert_array_equal(ref.edges(str(j)), edges)
    _, rss = peak_rss_growth(ut.Reference.fit, reference)
    benchmark.extra_info["peak_extra_rss_mb"] = rss.extra_mb
    note(group, title, "peak extra RSS, undertow_fit", _rss_note(rss.extra_bytes, reference.nbytes))


def test_matrix_undertow_ref_psi(benchmark: Any, matrices: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = matrices
    benchmark.group = "matrix"
    ref = ut.Reference.fit(reference)
    fitted = _np_fit(reference)
    setup, baseline = interleaved(benchmark, lambda: numpy_psi_by_column(current, fitted))
    report = benchmark.pedantic(
        ref.psi,
        args=(current,),
        setup=setup if current.size < 4 * SMALL else None,
        rounds=_matrix_rounds(len(current), 10),
        iterations=1,
        warmup_rounds=1,
    )
    group, title = _matrix_group(current.shape)
    record(benchmark, group, title, "undertow_ref_psi", current.size)
    keep_baseline(benchmark, baseline)

    # Cross-check every column against numpy, in the same run.
    expected = _NP_PSI.get(current.shape) or numpy_psi_by_column(current, _np_fit(reference))
    worst = 0.0
    for j, ((value, actual_counts), (_, expected_counts)) in enumerate(
        zip(expected, _np_fit(reference), strict=True)
    ):
        column = report[str(j)]
        np.testing.assert_array_equal(column.expected_counts, expected_counts)
        np.testing.assert_array_equal(column.actual_counts, actual_counts)
        assert math.isclose(column.value, value, rel_tol=REL_TOL, abs_tol=1e-15), (j, column.value, value)
        worst = max(worst, abs(column.value - value) / max(abs(value), 1e-300))
    benchmark.extra_info["worst_rel_diff_vs_numpy"] = worst

    _, rss = peak_rss_growth(ref.psi, current)
    benchmark.extra_info["peak_extra_rss_mb"] = rss.extra_mb
    note(group, title, "peak extra RSS, undertow_ref_psi", _rss_note(rss.extra_bytes, current.nbytes))


def test_matrix_read_pass_single(benchmark: Any, matrices: tuple[np.ndarray, np.ndarray]) -> None:
    _, current = matrices
    benchmark.group = "matrix"
    benchmark.pedantic(read_pass_single, args=(current,), rounds=20, iterations=1, warmup_rounds=1)
    record(benchmark, *_matrix_group(current.shape), "read_pass_single", current.size)


def test_matrix_read_pass_threads(benchmark: Any, matrices: tuple[np.ndarray, np.ndarray]) -> None:
    _, current = matrices
    benchmark.group = "matrix"
    benchmark.pedantic(read_pass_threads, args=(current,), rounds=20, iterations=1, warmup_rounds=1)
    record(benchmark, *_matrix_group(current.shape), "read_pass_threads", current.size)
    benchmark.extra_info["threads"] = READ_THREADS


# ---------------------------------------------------------------------------------------------
# GIL: two Python threads calling ut.psi at once, in a child with RAYON_NUM_THREADS=1


def _run_gil_child(n: int) -> dict[str, Any]:
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    child = Path(__file__).with_name("_gil_child.py")
    proc = subprocess.run(
        [sys.executable, str(child), str(n)], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"GIL child failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_gil_two_threads(benchmark: Any) -> None:
    """The benchmark's own time is the whole child process (data generation included); the
    figures that matter are measured inside the child and reported in extra_info/summary."""
    n = 10**6 if _is_quick() else 10**7
    benchmark.group = "gil"
    out = benchmark.pedantic(_run_gil_child, args=(n,), rounds=1, iterations=1)
    benchmark.extra_info.update({k: v for k, v in out.items() if not k.endswith("_all_s")})
    title = (
        f"GIL: two Python threads calling ut.psi at once, {size_label(n)} values per side each, "
        "RAYON_NUM_THREADS=1"
    )
    group = f"gil:{n}"
    note(group, title, "one call (median)", f"{out['single_median_s'] * 1e3:.1f} ms")
    note(group, title, "two concurrent calls (median wall)", f"{out['concurrent_median_s'] * 1e3:.1f} ms")
    note(group, title, "concurrent / single", f"{out['concurrent_over_single']:.2f}x (2x = serialized)")
    note(
        group,
        title,
        "GIL probe: Python loop rate during ut.psi / idle",
        f"{out['gil_probe_busy_over_idle']:.2f} (about 1 = GIL released)",
    )
    note(
        group,
        title,
        "concurrent / single, parts of ut.psi alone",
        f"fit (Reference.fit) {out['fit_concurrent_over_single']:.2f}x, "
        f"count (histogram, fixed edges) {out['count_concurrent_over_single']:.2f}x",
    )
