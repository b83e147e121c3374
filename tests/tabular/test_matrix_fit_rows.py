"""Reference.fit of a C-ordered matrix from passes over its rows (rust/core/src/matrix_quantiles.rs).

Per column, the edges must equal np.quantile's linear method bit for bit and the expected counts
np.histogram's, for columns of every awkward kind side by side in one matrix; the fit must equal
the per-column fit of the same data (a dict of columns, a Fortran-ordered copy), be the same for
1, 2 and 4 threads, raise the per-column fit's errors, and hold no copy that grows with the rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import undertow as ut

ROWS = 30_011


def _columns(n: int, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    special = rng.uniform(-5, 5, n)
    special[::97] = np.nan
    special[1::89] = np.inf
    special[2::83] = -np.inf
    special[3::79] = -0.0
    special[4::73] = 0.0
    outliers = rng.standard_normal(n)
    outliers[:: n // 7 + 1] = 1e30
    mostly_nan = np.full(n, np.nan)
    mostly_nan[[n // 3, n // 2]] = [2.5, -1.0]
    ramp = np.arange(n, dtype=np.float64) * 0.5
    return {
        "normal": rng.standard_normal(n),
        "ties": np.floor(rng.uniform(0, 7, n)),
        "spike": np.where(rng.uniform(size=n) < 0.6, 0.25, rng.uniform(size=n)),
        "sorted": ramp,
        "reverse": -ramp * 1e-3,
        "outliers": outliers,
        "narrow": 1.0 + rng.uniform(size=n) * 1e-5,
        "heavy tail": rng.pareto(0.7, n),
        "nan inf zeros": special,
        "constant": np.full(n, 3.25),
        "mostly nan": mostly_nan,
        "two values": np.where(rng.uniform(size=n) < 0.93, -1.0, 1e-40),
    }


def _by_column(matrix: np.ndarray) -> dict[str, np.ndarray]:
    return {str(j): matrix[:, j].copy() for j in range(matrix.shape[1])}


def _matrix(dtype: type) -> tuple[list[str], np.ndarray]:
    columns = _columns(ROWS)
    return list(columns), np.ascontiguousarray(np.column_stack(list(columns.values())).astype(dtype))


def _numpy_fit(column: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, int]:
    finite = column[np.isfinite(column)]
    quantiles = np.quantile(finite.astype(np.float64), np.linspace(0, 1, bins + 1))
    interior = np.unique(quantiles[1:-1])
    if quantiles[0] == quantiles[-1]:  # a constant column: bins below / equal / above
        interior = np.array([quantiles[0], np.nextafter(quantiles[0], np.inf)])
    edges = np.r_[-np.inf, interior, np.inf]
    return edges, np.histogram(finite, edges)[0], column.size - finite.size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bins", [2, 10, 25])
def test_every_column_matches_numpy_bit_for_bit(dtype, bins) -> None:
    names, matrix = _matrix(dtype)
    ref = ut.Reference.fit(matrix, bins=bins, nan_policy="bin")
    for j, name in enumerate(names):
        edges, _, _ = _numpy_fit(matrix[:, j], bins)
        got = np.asarray(ref.edges(str(j)), dtype=np.float64)
        # + 0.0: numpy's sign of a zero quantile depends on its partition order (quantile.rs).
        assert got.tobytes() == (edges + 0.0).tobytes(), (name, got, edges)
    report = ref.psi(matrix)
    for j, name in enumerate(names):
        _, counts, missing = _numpy_fit(matrix[:, j], bins)
        np.testing.assert_array_equal(report[str(j)].expected_counts[:-1], counts, err_msg=name)
        assert report[str(j)].expected_counts[-1] == missing, name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_the_per_column_fit(dtype) -> None:
    _, matrix = _matrix(dtype)
    by_rows = ut.Reference.fit(matrix, nan_policy="omit")
    by_columns = ut.Reference.fit(_by_column(matrix), nan_policy="omit")
    fortran = ut.Reference.fit(np.asfortranarray(matrix), nan_policy="omit")
    assert by_rows.to_bytes() == by_columns.to_bytes() == fortran.to_bytes()


@pytest.mark.parametrize("rows", [20, 333, 2048, 2049])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_tables_match_numpy_and_the_per_column_fit(rows, dtype) -> None:
    # Up to 2,048 rows the columns are fitted one by one (state.rs, SMALL_ROWS); 2,049 takes
    # the row passes. Both must give numpy's edges and counts.
    columns = _columns(rows, seed=rows)
    matrix = np.ascontiguousarray(np.column_stack(list(columns.values())).astype(dtype))
    ref = ut.Reference.fit(matrix, bins=10, nan_policy="bin")
    report = ref.psi(matrix)
    for j, name in enumerate(columns):
        edges, counts, missing = _numpy_fit(matrix[:, j], 10)
        got = np.asarray(ref.edges(str(j)), dtype=np.float64)
        assert got.tobytes() == (edges + 0.0).tobytes(), (rows, name, got, edges)
        np.testing.assert_array_equal(report[str(j)].expected_counts[:-1], counts, err_msg=name)
        assert report[str(j)].expected_counts[-1] == missing, name
    assert ref.to_bytes() == ut.Reference.fit(_by_column(matrix), bins=10, nan_policy="bin").to_bytes()
    with pytest.raises(ut.UndertowError) as by_rows:
        ut.Reference.fit(matrix, nan_policy="raise")
    with pytest.raises(ut.UndertowError) as by_columns:
        ut.Reference.fit(_by_column(matrix), nan_policy="raise")
    assert str(by_rows.value) == str(by_columns.value)
    assert '"8"' in str(by_rows.value)


_CHILD = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from tabular.test_matrix_fit_rows import _matrix
    import undertow as ut
    out = []
    for dtype in (np.float32, np.float64):
        _, matrix = _matrix(dtype)
        for bins in (3, 10, 40):
            ref = ut.Reference.fit(matrix, bins=bins, nan_policy="bin")
            out.append(hashlib.sha256(ref.to_bytes()).hexdigest())
    print(" ".join(out))
    """
)


def test_same_result_for_one_two_and_four_threads() -> None:
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = _CHILD.format(tests=tests)
    digests = set()
    for threads in ("1", "2", "4"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        digests.add(done.stdout.strip())
    assert len(digests) == 1


def test_errors_name_the_first_bad_column_like_the_column_fit() -> None:
    _, matrix = _matrix(np.float32)
    with pytest.raises(ut.UndertowError) as by_rows:
        ut.Reference.fit(matrix, nan_policy="raise")
    with pytest.raises(ut.UndertowError) as by_columns:
        ut.Reference.fit(_by_column(matrix), nan_policy="raise")
    assert str(by_rows.value) == str(by_columns.value)
    assert '"8"' in str(by_rows.value) and "missing values" in str(by_rows.value)

    empty = matrix[:, :3].copy()
    empty[:, 1] = np.nan
    with pytest.raises(ut.UndertowError, match='column "1" has no finite values'):
        ut.Reference.fit(empty, nan_policy="omit")


_MEMORY_CHILD = textwrap.dedent(
    """
    import re
    import numpy as np
    import undertow as ut
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((400_000, 50), dtype=np.float32)
    ut.Reference.fit(matrix[:1000].copy())  # warm up the pool and the allocator
    def hwm():
        text = open("/proc/self/status").read()
        return int(re.search(r"VmHWM:\\s+(\\d+)", text).group(1)) * 1024
    def rss():
        text = open("/proc/self/status").read()
        return int(re.search(r"VmRSS:\\s+(\\d+)", text).group(1)) * 1024
    open("/proc/self/clear_refs", "w").write("5")
    before = rss()
    ut.Reference.fit(matrix)
    print(hwm() - before, matrix.nbytes)
    """
)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_no_copy_that_grows_with_the_rows() -> None:
    # The transposing fit held 16 columns x rows (25.6 MB here); the row passes hold a histogram
    # per column and part and the few values near each quantile (about 2% of 80 MB here).
    done = subprocess.run([sys.executable, "-c", _MEMORY_CHILD], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    extra, size = map(int, done.stdout.split())
    assert extra < 0.08 * size, (extra, size)


@pytest.mark.parametrize(("bins", "binning"), [(100, "quantile"), (10, "uniform")])
def test_other_binnings_still_equal_the_per_column_fit(bins, binning) -> None:
    _, matrix = _matrix(np.float32)
    by_rows = ut.Reference.fit(matrix, bins=bins, binning=binning, nan_policy="bin")
    by_columns = ut.Reference.fit(
        _by_column(matrix),
        bins=bins,
        binning=binning,
        nan_policy="bin",
    )
    assert by_rows.to_bytes() == by_columns.to_bytes()
