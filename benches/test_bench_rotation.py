"""The encoder rotation preview (docs/rotation.md) beside numpy and faiss, in one run.

Data: `ROWS` documents x 384 float32 unit vectors per encoder (the new encoder: a random
orthogonal rotation of the old one plus noise, so the result lists are realistic) and `QUERIES`
queries, k=10, the default neighbourhood sample (500 documents) and Procrustes sample (20,000).

* rotation-preview: ``ut.rotation_preview(...)`` end to end, one round; peak extra RSS of the call
  (benches/_memory.py) against the two document matrices;
* rotation-search: the search part alone, ``ut.exact_search`` of the queries plus the sampled
  documents against each document matrix; its rate in multiply-adds (query x row x dim) per
  second against the machine's f32 FMA peak (measured in the same run by benches/_fma_peak.py:
  every core runs a register-only FMA loop, 512-bit where the CPU has AVX-512) and numpy's sgemm
  rate measured in the same run. On a CPU with AVX-512 VNNI the search's products run in int8
  (an exact prefilter, rescored in float64): the rate then also goes against the `vpdpbusd`
  peak, and can pass the f32 FMA peak;
* rotation-baselines: the same two searches with numpy (blocked ``q @ x.T`` + ``argpartition``)
  and faiss ``IndexFlatIP.search``; their top-k must match undertow's (>= 99.9% of slots).

Sizes: ``UNDERTOW_BENCH_QUICK=1``: 20,000 documents, 200 queries. Default: 200,000 documents,
2,000 queries. ``UNDERTOW_BENCH_ROTATION_ROWS=1e6`` for the issue's size (3.1 GB of matrices).

    python -m pytest benches/test_bench_rotation.py --benchmark-only -q -s
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pytest
from _common import _is_quick, _parse_size
from _fma_peak import fma_peak, vnni_peak
from _memory import peak_rss_growth
from _rotation_data import DIM, rotation_spaces

import undertow as ut

faiss = pytest.importorskip("faiss")

K = 10
SAMPLE = 500


def _rows() -> int:
    raw = os.environ.get("UNDERTOW_BENCH_ROTATION_ROWS")
    if raw:
        return _parse_size(raw)
    return 20_000 if _is_quick() else 200_000


ROWS = _rows()
QUERIES = 200 if _is_quick() else 2_000


@pytest.fixture(scope="module")
def spaces() -> dict[str, np.ndarray]:
    return rotation_spaces(ROWS, QUERIES)


def _sgemm_gfma() -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, DIM), dtype=np.float32)
    b = rng.standard_normal((DIM, 8192), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2048 * DIM * 8192 / best / 1e9


def _probes(spaces: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.sort(np.random.default_rng(0).choice(ROWS, SAMPLE, replace=False))
    old = np.concatenate([spaces["q_old"], spaces["old"][rows]])
    new = np.concatenate([spaces["q_new"], spaces["new"][rows]])
    exclude = np.concatenate([np.full(QUERIES, -1), rows]).astype(np.int64)
    return old, new, exclude


def test_rotation_preview(benchmark: Any, spaces: dict[str, np.ndarray]) -> None:
    def run() -> Any:
        return peak_rss_growth(
            ut.rotation_preview, spaces["old"], spaces["new"], spaces["q_old"], spaces["q_new"]
        )

    report, peak = benchmark.pedantic(run, rounds=1, iterations=1)
    matrices = spaces["old"].nbytes + spaces["new"].nbytes
    benchmark.extra_info.update(
        {
            "rows": ROWS,
            "queries": QUERIES,
            "seconds": report.seconds,
            "peak_extra_mb": peak.extra_mb,
            "peak_extra_over_matrices": peak.extra_bytes / matrices,
            "peak_total_over_matrices": (peak.before_bytes + peak.extra_bytes) / matrices,
            "verdict": report.verdict,
            "overlap_mean": report["result_churn"].value,
            "loadavg_1min": os.getloadavg()[0],
        }
    )
    print(
        f"\nrotation_preview {ROWS} x {DIM}, {QUERIES} queries: {report.seconds:.2f} s, peak extra RSS "
        f"{peak.extra_mb:.0f} MB = {peak.extra_bytes / matrices:.3f} of the two matrices "
        f"({matrices / 1e9:.2f} GB); verdict {report.verdict}, overlap {report['result_churn'].value:.3f}"
    )
    assert report.verdict in ("alignable", "drop-in")


def test_rotation_search_share_of_peak(benchmark: Any, spaces: dict[str, np.ndarray]) -> None:
    old, new, exclude = _probes(spaces)

    def run() -> None:
        ut.exact_search(spaces["old"], old, k=K, metric="ip", exclude=exclude)
        ut.exact_search(spaces["new"], new, k=K, metric="ip", exclude=exclude)

    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    seconds = float(benchmark.stats.stats.median)
    fma = 2 * len(old) * ROWS * DIM
    (peak, peak_how), sgemm, vnni = fma_peak(), _sgemm_gfma(), vnni_peak()
    rate = fma / seconds / 1e9
    benchmark.extra_info.update(
        {
            "seconds": seconds,
            "gfma_per_s": rate,
            "peak_gfma": peak,
            "peak_source": peak_how,
            "vnni_peak_gmac": vnni,
            "numpy_sgemm_gfma": sgemm,
        }
    )
    int8 = (
        f"; the products ran in int8: {rate / vnni:.1%} of the vpdpbusd peak ({vnni:.0f} G/s)"
        if vnni > 0
        else ""
    )
    print(
        f"\nsearch part: {seconds:.2f} s for {fma / 1e12:.2f} T multiply-adds = {rate:.1f} G/s; "
        f"{rate / peak:.1%} of the f32 FMA peak ({peak:.0f} GFMA/s, {peak_how}), "
        f"{rate / sgemm:.1%} of numpy's sgemm rate in this run ({sgemm:.1f} GFMA/s){int8}"
    )


def _numpy_topk(x: np.ndarray, q: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    best_s = np.full((len(q), K), -np.inf, dtype=np.float32)
    best_i = np.full((len(q), K), -1, dtype=np.int64)
    for start in range(0, len(x), 65_536):
        scores = q @ x[start : start + 65_536].T
        local = exclude - start
        hit = (local >= 0) & (local < scores.shape[1])
        scores[np.flatnonzero(hit), local[hit]] = -np.inf
        s = np.concatenate([best_s, scores], axis=1)
        i = np.concatenate(
            [best_i, np.arange(start, start + scores.shape[1])[None, :].repeat(len(q), 0)], axis=1
        )
        top = np.argpartition(-s, K, axis=1)[:, :K]
        best_s, best_i = np.take_along_axis(s, top, 1), np.take_along_axis(i, top, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1)


@pytest.mark.parametrize("who", ["numpy", "faiss"])
def test_rotation_search_baselines(benchmark: Any, spaces: dict[str, np.ndarray], who: str) -> None:
    old, new, exclude = _probes(spaces)
    if who == "faiss":
        indexes = {}
        for side in ("old", "new"):
            indexes[side] = faiss.IndexFlatIP(DIM)
            indexes[side].add(spaces[side])

        def run() -> tuple[np.ndarray, np.ndarray]:
            # faiss has no per-query exclusion: one extra neighbour, the self match dropped after
            a = indexes["old"].search(old, K + 1)[1]
            b = indexes["new"].search(new, K + 1)[1]
            return a, b
    else:

        def run() -> tuple[np.ndarray, np.ndarray]:
            return _numpy_topk(spaces["old"], old, exclude), _numpy_topk(spaces["new"], new, exclude)

    a, _ = benchmark.pedantic(run, rounds=1, iterations=1)
    want = ut.exact_search(spaces["old"], old, k=K, metric="ip", exclude=exclude)[1]
    if who == "faiss":
        a = np.array([[v for v in row if v != e][:K] for row, e in zip(a, exclude, strict=True)])
    same = np.mean([len(set(x) & set(y)) / K for x, y in zip(a, want, strict=True)])
    benchmark.extra_info.update({"seconds": float(benchmark.stats.stats.median), "same_topk_share": same})
    print(
        f"\n{who} search of both sides: {benchmark.stats.stats.median:.2f} s; "
        f"top-k equal to undertow's: {same:.4f}"
    )
    assert same >= 0.999
