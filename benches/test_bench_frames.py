"""The dataframe adapter's cost (python/undertow/_frames.py): Reference.fit + ref.psi on the same
rows x 100 float64 table as a pandas DataFrame (numpy-backed), as an Arrow-backed pandas
DataFrame and as a polars DataFrame (the internal representation: no conversion).

* frames_polars        Reference.fit(reference) then ref.psi(current), polars frames;
* frames_pandas        the same on numpy-backed pandas frames (numeric columns reach the kernel
                       zero-copy through narwhals' to_numpy);
* frames_pandas_arrow  the same on pandas frames with dtype_backend="pyarrow" (one Arrow chunk
                       per column: zero-copy too).

The three reports are cross-checked bit for bit. Rows: UNDERTOW_BENCH_MATRIX_ROWS (default 1e6,
quick 1e5, see conftest.py); every column of the current table is shifted by j * 0.002 standard
deviations. Because the guest's 2 cores are shared, a second measurement alternates the three
inputs call by call (5 rounds each) and its median ratios are in the summary beside the
pytest-benchmark medians: contention then hits all inputs alike. Run alone:

    python -m pytest benches/test_bench_frames.py --benchmark-only -q -s
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from _common import MATRIX_COLUMNS, RESULTS, matrix_rows, note, record, size_label

import undertow as ut
from undertow._frames import frame_items

ROUNDS = 5
INPUTS = ("polars", "pandas", "pandas_arrow")


def _group(rows: int) -> tuple[str, str]:
    return (
        f"frames:{rows}",
        f"Reference.fit + ref.psi, {size_label(rows)} x {MATRIX_COLUMNS} float64 table "
        f"({rows * MATRIX_COLUMNS * 8 / 1e6:,.0f} MB per table): pandas vs polars input",
    )


def _make(rows: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    reference = rng.standard_normal((rows, MATRIX_COLUMNS))
    current = rng.standard_normal((rows, MATRIX_COLUMNS))
    current += np.arange(MATRIX_COLUMNS) * 0.002
    return reference, current


@pytest.fixture(scope="module")
def tables() -> dict[str, tuple[Any, Any]]:
    reference, current = _make(matrix_rows())
    names = [f"c{j}" for j in range(MATRIX_COLUMNS)]

    def pandas(x: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(x, columns=names)  # copies into pandas' own 2-D block

    def polars(x: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame({n: x[:, j].copy() for j, n in enumerate(names)})  # owns its buffers

    out = {
        "polars": (polars(reference), polars(current)),
        "pandas": (pandas(reference), pandas(current)),
    }
    out["pandas_arrow"] = tuple(f.convert_dtypes(dtype_backend="pyarrow") for f in out["pandas"])
    del reference, current
    return out


def _fit_psi(pair: tuple[Any, Any]) -> ut.PsiReport:
    reference, current = pair
    return ut.Reference.fit(reference).psi(current)


def _bench(benchmark: Any, tables: dict[str, tuple[Any, Any]], kind: str) -> None:
    benchmark.group = "frames"
    rows = len(tables[kind][0])
    report = benchmark.pedantic(_fit_psi, args=(tables[kind],), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    if kind != "polars":
        want = _fit_psi(tables["polars"])
        assert report.values == want.values  # bit for bit
        for name in want.columns:
            np.testing.assert_array_equal(report[name].actual_counts, want[name].actual_counts)
    record(benchmark, *_group(rows), f"frames_{kind}", 2 * rows * MATRIX_COLUMNS)


def test_frames_polars(benchmark: Any, tables: dict[str, tuple[Any, Any]]) -> None:
    _bench(benchmark, tables, "polars")


def test_frames_pandas(benchmark: Any, tables: dict[str, tuple[Any, Any]]) -> None:
    _bench(benchmark, tables, "pandas")


def test_frames_pandas_arrow(benchmark: Any, tables: dict[str, tuple[Any, Any]]) -> None:
    _bench(benchmark, tables, "pandas_arrow")


def test_frames_interleaved_ratio(benchmark: Any, tables: dict[str, tuple[Any, Any]]) -> None:
    """The three inputs call by call, so shared-CPU contention falls on each alike."""
    rows = len(tables["polars"][0])
    times: dict[str, list[float]] = {k: [] for k in INPUTS}
    adapter: dict[str, list[float]] = {k: [] for k in INPUTS}

    def run() -> None:
        for _ in range(ROUNDS):
            for kind in INPUTS:
                start = time.perf_counter()
                _fit_psi(tables[kind])
                times[kind].append(time.perf_counter() - start)
                start = time.perf_counter()
                frame_items(tables[kind][0], "table")  # the adapter alone, one table
                adapter[kind].append(time.perf_counter() - start)

    benchmark.group = "frames"
    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    group, title = _group(rows)
    med = {k: float(np.median(v)) for k, v in times.items()}
    for kind in INPUTS:
        note(group, title, f"interleaved median {kind}", f"{med[kind]:.3f} s")
        note(group, title, f"adapter alone ({kind}, one table)", f"{np.median(adapter[kind]) * 1e3:.1f} ms")
    for kind in INPUTS[1:]:
        ratio = med[kind] / med["polars"]
        benchmark.extra_info[f"ratio_{kind}_vs_polars"] = ratio
        note(group, title, f"{kind} / polars (interleaved medians)", f"{ratio:.3f}")
    entries = RESULTS[group].entries if group in RESULTS else {}
    base = entries.get("frames_polars")
    for kind in INPUTS[1:]:
        entry = entries.get(f"frames_{kind}")
        if base is not None and entry is not None:
            ratio = entry.median_s / base.median_s
            note(group, title, f"{kind} / polars (benchmark medians)", f"{ratio:.3f}")
