"""cohort_balance against Reference.fit + psi of the same data (target: within 2x).

    UNDERTOW_BENCH_QUICK=1 python -m pytest benches/test_bench_cohorts.py --benchmark-only -q
    python -m pytest benches/test_bench_cohorts.py --benchmark-only -q   # 1e7 rows x 20

Rows: UNDERTOW_BENCH_COHORT_ROWS (1e5 quick, 1e7 full); 20 covariates: 17 float32 numeric,
one integer count and two categorical (String) columns; two arms by a good hash.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import polars as pl
import pytest
from _common import _is_quick, note, record

import undertow as ut

NUMERIC = [f"x{i}" for i in range(17)]
COVARIATES = [*NUMERIC, "count", "country", "plan"]


def rows() -> int:
    raw = os.environ.get("UNDERTOW_BENCH_COHORT_ROWS")
    return int(float(raw)) if raw else (10**5 if _is_quick() else 10**7)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    n = rows()
    rng = np.random.default_rng(0)
    data: dict[str, Any] = {name: rng.standard_normal(n, dtype=np.float32) for name in NUMERIC}
    data["count"] = rng.poisson(5, n)
    data["country"] = pl.Series(rng.choice(np.array(["de", "fr", "us", "jp", "br"]), n))
    data["plan"] = pl.Series(rng.choice(np.array(["free", "pro", "team"]), n))
    data["arm"] = pl.Series(np.where(rng.random(n) < 0.5, "control", "treatment"))
    return pl.DataFrame(data)


def test_reference_fit_and_psi(benchmark: Any, frame: pl.DataFrame) -> None:
    table = frame.select(COVARIATES)

    def run() -> Any:
        return ut.Reference.fit(table).psi(table)

    benchmark.pedantic(run, rounds=1 if frame.height >= 10**7 else 3, iterations=1)
    n = frame.height
    record(benchmark, f"cohorts:{n}", f"cohort_balance: {n:,} rows x 20 covariates", "reference_fit_psi",
           n * len(COVARIATES))  # fmt: skip


def test_cohort_balance(benchmark: Any, frame: pl.DataFrame) -> None:
    def run() -> Any:
        return ut.cohort_balance(frame, "arm", COVARIATES)

    report = benchmark.pedantic(run, rounds=1 if frame.height >= 10**7 else 3, iterations=1)
    n = frame.height
    group, title = f"cohorts:{n}", f"cohort_balance: {n:,} rows x 20 covariates"
    entry = record(benchmark, group, title, "undertow_cohort_balance", n * len(COVARIATES))
    from _common import RESULTS

    base = RESULTS[group].entries.get("reference_fit_psi")
    if entry is not None and base is not None:
        note(group, title, "cohort_balance / (Reference.fit + psi)", f"{entry.median_s / base.median_s:.2f}x")
    note(group, title, "status", report.status)
