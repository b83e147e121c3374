"""The two-sample KS test beside scipy.stats.ks_2samp and a memory-read pass, in one run.

For each size n (float32 values per side, see conftest.py; UNDERTOW_BENCH_SIZES):

* undertow_ks        ut.ks(expected, actual): bucket refinement in Rust (parallel): one or two
                     histogram reads of each sample, then only the values of the buckets that can
                     hold the maximum are sorted and walked; the asymptotic p-value;
* undertow_ks_by_sorting  the path it replaced (still the comparator's): both samples sorted
                     (_core.SortedSample), one merge walk;
* scipy_ks_2samp     scipy.stats.ks_2samp(expected, actual) (numpy sorts, then searchsorted);
* undertow_wasserstein / scipy_wasserstein  the same pair for the Wasserstein-1 distance;
* read_pass_single / read_pass_threads  the memory-bandwidth yardstick (benches/_read_pass.py).

Each undertow benchmark cross-checks its statistic (exactly) and p-value (1e-10 relative)
against scipy in the same run; no assertion is made on time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from _common import is_big, note, record, size_label
from _read_pass import read_pass_single, read_pass_threads
from scipy import stats

import undertow as ut
from undertow import _core

GROUP_TITLE = "two-sample KS / Wasserstein, n values per side (float32)"


def _group(n: int) -> str:
    return f"twosample n={size_label(n)}"


def _rounds(n: int) -> dict[str, int]:
    return {"rounds": 1, "iterations": 1} if is_big(n) else {"rounds": 3, "iterations": 1}


def _title(n: int) -> str:
    return f"{GROUP_TITLE}: n={size_label(n)}"


def test_undertow_ks(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    expected, actual = pair
    n = expected.size
    result = benchmark.pedantic(ut.ks, args=(expected, actual), **_rounds(n))
    record(benchmark, _group(n), _title(n), "undertow_ks", 2 * n)
    want = _scipy_results.get(n) or stats.ks_2samp(expected, actual)
    _scipy_results[n] = want
    assert result.statistic == float(want.statistic)
    assert math.isclose(result.pvalue, float(want.pvalue), rel_tol=1e-10, abs_tol=1e-300)
    note(_group(n), _title(n), "ks statistic / p-value", f"{result.statistic:.6g} / {result.pvalue:.3g}")


def test_undertow_ks_by_sorting(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    expected, actual = pair
    n = expected.size

    def sort_both_and_walk() -> dict[str, Any]:
        e = _core.SortedSample.from_values(expected, "raise", "expected")
        a = _core.SortedSample.from_values(actual, "raise", "actual")
        return _core.ks_2samp(e, a, "auto", ("expected", "actual"))

    out = benchmark.pedantic(sort_both_and_walk, **_rounds(n))
    record(benchmark, _group(n), _title(n), "undertow_ks_by_sorting", 2 * n)
    # the bucket kernel must give the same bits
    assert out["statistic"] == ut.ks(expected, actual).statistic


_scipy_results: dict[int, Any] = {}


def test_scipy_ks_2samp(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    expected, actual = pair
    n = expected.size
    _scipy_results[n] = benchmark.pedantic(stats.ks_2samp, args=(expected, actual), **_rounds(n))
    record(benchmark, _group(n), _title(n), "scipy_ks_2samp", 2 * n)


def test_undertow_wasserstein(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    expected, actual = pair
    n = expected.size
    result = benchmark.pedantic(ut.wasserstein, args=(expected, actual), **_rounds(n))
    record(benchmark, _group(n), _title(n), "undertow_wasserstein", 2 * n)
    want = stats.wasserstein_distance(expected, actual)
    assert math.isclose(result.statistic, want, rel_tol=1e-9)


def test_scipy_wasserstein(benchmark: Any, pair: tuple[np.ndarray, np.ndarray]) -> None:
    expected, actual = pair
    n = expected.size
    benchmark.pedantic(stats.wasserstein_distance, args=(expected, actual), **_rounds(n))
    record(benchmark, _group(n), _title(n), "scipy_wasserstein", 2 * n)


@pytest.mark.parametrize("kind", ["single", "threads"])
def test_read_pass_twosample(benchmark: Any, pair: tuple[np.ndarray, np.ndarray], kind: str) -> None:
    expected, actual = pair
    n = expected.size
    function = read_pass_single if kind == "single" else read_pass_threads
    benchmark.pedantic(function, args=(expected, actual), rounds=5, iterations=1)
    record(benchmark, _group(n), _title(n), f"read_pass_{kind}", 2 * n)
    if kind == "threads":  # the last benchmark of the size: write the ratios into the summary
        _summarize(n)


def _summarize(n: int) -> None:
    """Writes the ratios of this size's group into the end-of-run summary."""
    from _common import RESULTS

    group = RESULTS.get(_group(n))
    if group is None:  # --benchmark-disable
        return
    e = group.entries
    reads = [v for k, v in e.items() if k.startswith("read_pass")]
    if "undertow_ks" in e and "scipy_ks_2samp" in e:
        ratio = e["scipy_ks_2samp"].median_s / e["undertow_ks"].median_s
        note(_group(n), _title(n), "undertow ks vs scipy ks_2samp", f"{ratio:.1f}x faster")
    if "undertow_wasserstein" in e and "scipy_wasserstein" in e:
        ratio = e["scipy_wasserstein"].median_s / e["undertow_wasserstein"].median_s
        note(_group(n), _title(n), "undertow wasserstein vs scipy", f"{ratio:.1f}x faster")
    if "undertow_ks" in e and "undertow_ks_by_sorting" in e:
        ratio = e["undertow_ks_by_sorting"].median_s / e["undertow_ks"].median_s
        note(_group(n), _title(n), "undertow ks vs sorting both samples", f"{ratio:.1f}x faster")
    if reads and "undertow_ks" in e:
        read = min(reads, key=lambda r: r.median_s)
        share = e["undertow_ks"].rate / read.rate
        note(_group(n), _title(n), "undertow ks rate / read-pass rate", f"{share:.3f}")
