"""ref.psi of a C-ordered matrix (the row kernel, rust/core/src/count/rows.rs) against a float64
numpy count per column, on adversarial values: values equal to edges, edges a float32 cannot
hold, -0.0 against a 0.0 edge, +-inf, NaN; at the widths where the kernel's layout changes (1,
7, 8, 9, 100 columns, and 1001, wider than its super-rows), one row, and enough rows to span
several tasks with rows left after the last whole super-row. Counts must be exact and the same
for any thread count."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import undertow as ut

# 0.1 and 1/3 are not float32 values; 0.0 meets -0.0; 1e-45 is float32's smallest subnormal
EDGES = np.array([-1.5, -1 / 3, 0.0, 1e-45, 0.1, 0.5, 1.0, 2.0, 3e38])  # interior edges
BINNING = np.r_[-4.0, EDGES, 3.3e38]  # explicit edges; the outer two are opened to -inf, inf
SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 0.1, 1 / 3, -1 / 3, 3e38, 5e-324, 1.5, 2.0])


def _matrix(rows: int, cols: int, dtype: type, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 1.2, size=(rows, cols))
    # a third of the values are edges, their float32 roundings or special values
    pool = np.concatenate([EDGES, EDGES.astype(np.float32).astype(np.float64), SPECIAL])
    mask = rng.random(x.shape) < 0.35
    x[mask] = rng.choice(pool, size=int(mask.sum()))
    return x.astype(dtype)


def _numpy_counts(column: np.ndarray) -> tuple[np.ndarray, int]:
    """Finite values per bin [e_i, e_i+1) with open outer bins, and the missing (NaN, +-inf)."""
    x = column.astype(np.float64)
    finite = x[np.isfinite(x)]
    bins = np.bincount(np.searchsorted(EDGES, finite, side="right"), minlength=len(EDGES) + 1)
    return bins, int(x.size - finite.size)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("rows", "cols"),
    [(1, 1), (1, 7), (1, 100), (3001, 1), (4099, 7), (2100, 8), (5003, 9), (7877, 100), (75, 1001)],
)
def test_row_counts_equal_a_float64_numpy_count(rows: int, cols: int, dtype: type) -> None:
    y = _matrix(rows, cols, dtype, seed=rows * 1009 + cols)
    assert y.flags.c_contiguous
    ref = ut.Reference.fit(np.zeros((2, cols), dtype), binning=BINNING, nan_policy="bin")
    report = ref.psi(y)
    for j in range(cols):
        want, missing = _numpy_counts(y[:, j])
        got = report[str(j)]
        np.testing.assert_array_equal(got.actual_counts[:-1], want, err_msg=f"column {j}")
        assert got.actual_counts[-1] == missing == got.actual_missing, j


def test_row_counts_match_the_column_path() -> None:
    """The same matrix C-ordered (row kernel) and Fortran-ordered (1-D kernel per column)."""
    y = _matrix(6000, 37, np.float32, seed=3)
    ref = ut.Reference.fit(np.zeros((2, 37), np.float32), binning=BINNING, nan_policy="bin")
    by_rows, by_columns = ref.psi(y), ref.psi(np.asfortranarray(y))
    for j in range(37):
        np.testing.assert_array_equal(by_rows[str(j)].actual_counts, by_columns[str(j)].actual_counts)


SCRIPT = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_row_kernel_counts import BINNING, _matrix
import undertow as ut
out = {}
for dtype in (np.float32, np.float64):
    for rows, cols in ((30011, 100), (9001, 9), (20000, 3)):
        y = _matrix(rows, cols, dtype, seed=cols)
        ref = ut.Reference.fit(np.zeros((2, cols), dtype), binning=BINNING, nan_policy="bin")
        report = ref.psi(y)
        out[f"{dtype.__name__}-{rows}x{cols}"] = [report[str(j)].actual_counts.tolist() for j in range(cols)]
print(json.dumps(out))
"""


def test_row_counts_do_not_depend_on_the_thread_count() -> None:
    found = []
    for threads in (1, 2, 3):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        here = os.path.dirname(__file__)
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, here], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        found.append(json.loads(done.stdout))
    assert found[0] == found[1] == found[2]
    assert len(found[0]) == 6
