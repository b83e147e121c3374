"""eval_coverage: time, share of the f32 FMA peak (search and k-means) and peak memory.

    UNDERTOW_BENCH_QUICK=1 python -m pytest benches/test_bench_coverage.py --benchmark-only -q
    python -m pytest benches/test_bench_coverage.py --benchmark-only -q   # 1e6 x 384, 10k eval

Sizes: UNDERTOW_BENCH_COV_ROWS (production rows; 2e4 quick, 1e6 full) and
UNDERTOW_BENCH_COV_EVAL (eval items; 1,000 quick, 10,000 full), 384 float32 dimensions, unit
vectors around 64 random directions. Targets (issue 15): under 40 s at 1e6 x 384 with 10k eval,
peak extra RSS under 1.3x the production matrix.

The f32 FMA peak is measured in the same run (benches/_fma_peak.py: every core runs a
register-only FMA loop; 2 flops per FMA); the search does 2 x rows x eval x dim flops, the k-means
2 x sample x k x dim per Lloyd iteration plus one assignment of every row.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pytest
from _common import _is_quick, note, record
from _fma_peak import fma_peak
from _memory import peak_rss_growth

import undertow as ut
from undertow import _core
from undertow.coverage import kmeans
from undertow.coverage._vectors import unit_rows

DIM = 384


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(float(raw)) if raw else default


def rows() -> int:
    return _env_int("UNDERTOW_BENCH_COV_ROWS", 20_000 if _is_quick() else 10**6)


def eval_items() -> int:
    return _env_int("UNDERTOW_BENCH_COV_EVAL", 1_000 if _is_quick() else 10_000)


def peak_gflops() -> tuple[float, str]:
    gfma, how = fma_peak()
    return 2.0 * gfma, how


def make_traffic(n: int, seed: int) -> np.ndarray:
    """n float32 rows around 64 fixed directions (the same for every seed: eval and traffic
    share a distribution), built in chunks (no float64 temporary)."""
    centers = np.random.default_rng(0).standard_normal((64, DIM), dtype=np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(start + 100_000, n)
        out[start:stop] = centers[rng.integers(0, 64, stop - start)]
        out[start:stop] += rng.standard_normal((stop - start, DIM), dtype=np.float32)
    return out


@pytest.fixture(scope="module")
def traffic() -> tuple[np.ndarray, np.ndarray]:
    production = make_traffic(rows(), 1)
    evals = make_traffic(eval_items(), 2)
    return evals, production


def test_eval_coverage(benchmark: Any, traffic: tuple[np.ndarray, np.ndarray]) -> None:
    evals, production = traffic
    n, m = production.shape[0], evals.shape[0]
    group, title = f"coverage:{n}", f"eval_coverage: {n:,} x {DIM} production, {m:,} eval (float32)"

    def run() -> Any:
        return ut.eval_coverage(evals, production, keep_queries=False)

    report, rss = peak_rss_growth(run)
    extra = max(rss.sampled_extra_bytes, rss.hwm_extra_bytes or 0)
    note(group, title, "peak extra RSS / production matrix", f"{extra / production.nbytes:.2f}x "
         f"({extra / 1e6:.0f} MB of {production.nbytes / 1e6:.0f} MB)")  # fmt: skip
    benchmark.pedantic(run, rounds=1, iterations=1)
    record(benchmark, group, title, "undertow_eval_coverage", production.size)
    note(group, title, "coverage / clusters", f"{report.coverage:.3f} / {len(report.clusters)}")

    # Where the time goes: the exact search alone, and the k-means fit on its sample.
    peak, peak_how = peak_gflops()
    note(group, title, "f32 FMA peak", f"{peak:.0f} GFLOP/s, {peak_how}")
    eval_unit = unit_rows(evals, "eval")
    start = time.perf_counter()
    for a in range(0, n, 16_384):
        _core.nearest(eval_unit, unit_rows(production[a : a + 16_384], "p"), "ip")
    search_s = time.perf_counter() - start
    search_gflops = 2.0 * n * m * DIM / search_s / 1e9
    note(group, title, "search alone", f"{search_s:.2f} s, {search_gflops:.0f} GFLOP/s = "
         f"{search_gflops / peak:.0%} of the f32 FMA peak ({peak:.0f} GFLOP/s)")  # fmt: skip
    k = report.kmeans["k"]
    sample = unit_rows(production[: report.kmeans["sample_rows"]], "p")
    start = time.perf_counter()
    fit = kmeans(sample, k, max_iter=25)
    kmeans_s = time.perf_counter() - start
    flops = 2.0 * (fit.iterations + 1) * sample.shape[0] * k * DIM
    note(group, title, "k-means fit alone", f"{kmeans_s:.2f} s, {fit.iterations} iterations, "
         f"{flops / kmeans_s / 1e9:.0f} GFLOP/s = {flops / kmeans_s / 1e9 / peak:.0%} of peak "
         f"(k={k}, {sample.shape[0]:,} sample rows)")  # fmt: skip
    floor = 2.0 * n * m * DIM / (peak * 1e9)
    note(group, title, "search time at 100% of peak (lower bound)", f"{floor:.1f} s")
