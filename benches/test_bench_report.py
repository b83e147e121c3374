"""The HTML report's render time against the job that produced its results.

The job: `Reference.fit` + `psi` of the 100-column benchmark matrix (1e6 rows; 1e5 in quick
mode), `EmbeddingDrift.fit` + `compare` of 1e5 x 384 float32 embeddings per side (2e4 in quick
mode), and the audit of the demo index. The render: `ut.report(psi, embedding, audit)`, the page
of 100 columns + one embedding section + one audit. Target: render under 5% of the job. Run:

    python -m pytest benches/test_bench_report.py --benchmark-only -q -s              # full
    UNDERTOW_BENCH_QUICK=1 python -m pytest benches/test_bench_report.py --benchmark-only -q -s
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from _common import _is_quick, make_matrices, matrix_rows, note

import undertow as ut

GROUP, TITLE = "report", "HTML report: render vs the job"


def _embeddings(rows: int, seed: int, shift: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((rows, 384), dtype=np.float32) * np.float32(0.05)
    out[:, 0] += np.float32(1.0)
    out[:, 1] += np.float32(shift)
    return out


@pytest.fixture(scope="module")
def job() -> dict[str, Any]:
    from undertow.cli.demo_audit import planted_index

    reference, current = make_matrices(matrix_rows())
    emb_rows = 2 * 10**4 if _is_quick() else 10**5
    ref_vectors, cur_vectors = _embeddings(emb_rows, 1, 0.0), _embeddings(emb_rows, 2, 0.01)
    case = planted_index()
    seconds = {}
    start = time.perf_counter()
    psi = ut.Reference.fit(reference).psi(current)
    seconds["psi"] = time.perf_counter() - start
    start = time.perf_counter()
    embedding = ut.EmbeddingDrift.fit(ref_vectors).compare(cur_vectors)
    seconds["embedding"] = time.perf_counter() - start
    start = time.perf_counter()
    audit = ut.audit_index(case["index"], case["docs"], fresh=case["fresh"])
    seconds["audit"] = time.perf_counter() - start
    return {
        "results": (psi, embedding, audit),
        "seconds": seconds,
        "rows": matrix_rows(),
        "emb_rows": emb_rows,
    }


def test_report_render_vs_job(benchmark: Any, job: dict[str, Any]) -> None:
    html = benchmark.pedantic(ut.report, args=job["results"], rounds=5, iterations=1)
    assert len(job["results"][0]) == 100
    size = len(html.encode())
    job_s = sum(job["seconds"].values())
    render_s = float(benchmark.stats.stats.median) if getattr(benchmark, "stats", None) else float("nan")
    share, psi_share = render_s / job_s, render_s / job["seconds"]["psi"]
    benchmark.extra_info.update(size_bytes=size, job_s=job_s, render_s=render_s, **job["seconds"])
    notes = {
        "size": f"{size / 1e6:.2f} MB",
        "render": f"{render_s * 1e3:.0f} ms",
        "job": " + ".join(f"{k} {v:.2f} s" for k, v in job["seconds"].items()),
        "render / job": f"{share:.2%}",
        "render / PSI part alone": f"{psi_share:.2%}",
    }
    for key, value in notes.items():
        note(GROUP, TITLE, key, value)
    print(
        f"\nreport: {size} bytes, render {render_s * 1e3:.0f} ms; job {job_s:.2f} s "
        f"({job['rows']} x 100 PSI, {job['emb_rows']} x 384 embeddings, demo audit: {job['seconds']}); "
        f"render / job {share:.2%}, render / PSI part {psi_share:.2%}"
    )
