"""Independent float64 numpy reference for undertow's PSI contract.

Nothing here imports undertow: every expected value in the suite comes from these functions,
from numpy/scipy directly, or from a hand computation in the test itself.
"""

from __future__ import annotations

import numpy as np

STATUS_ORDER = {"stable": 0, "moderate": 1, "significant": 2}


def as_f64(x) -> np.ndarray:
    """The values of a 1-D input as native float64 (float32/float16/int values are exact)."""
    return np.asarray(x).astype(np.float64)


def interior_edges_reference(expected, bins=10, binning="quantile") -> np.ndarray:
    """Interior bin edges fitted on the finite values of `expected` (float64)."""
    if not isinstance(binning, str):
        edges = np.asarray(binning, dtype=np.float64)
        return edges[1:-1].copy()
    e = as_f64(expected)
    e64 = e[np.isfinite(e)]
    if e64.size == 0:
        raise ValueError("expected has no finite values")
    lo, hi = e64.min(), e64.max()
    if lo == hi:
        return np.array([lo, np.nextafter(lo, np.inf)], dtype=np.float64)
    if binning == "quantile":
        return np.unique(np.quantile(e64, np.linspace(0, 1, bins + 1))[1:-1])
    if binning == "uniform":
        return np.unique(np.linspace(lo, hi, bins + 1)[1:-1])
    raise ValueError(f"unknown binning {binning!r}")


def bin_counts_reference(x, interior) -> tuple[np.ndarray, int]:
    """(counts of finite values per bin, number of non-finite values)."""
    v = as_f64(x)
    finite = np.isfinite(v)
    idx = np.searchsorted(np.asarray(interior, dtype=np.float64), v[finite], side="right")
    counts = np.bincount(idx, minlength=len(interior) + 1).astype(np.int64)
    return counts, int((~finite).sum())


def psi_value_reference(expected_proportions, actual_proportions, eps) -> float:
    e = np.maximum(np.asarray(expected_proportions, dtype=np.float64), eps)
    a = np.maximum(np.asarray(actual_proportions, dtype=np.float64), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def status_reference(value: float, thresholds=(0.1, 0.25)) -> str:
    if value < thresholds[0]:
        return "stable"
    if value <= thresholds[1]:
        return "moderate"
    return "significant"


def worst_status(statuses) -> str:
    return max(statuses, key=lambda s: STATUS_ORDER[s])


def _finish(e_counts, a_counts, e_missing, a_missing, nan_policy, eps, thresholds, extra):
    if nan_policy == "raise":
        if e_missing:
            raise ValueError(f"expected has {e_missing} missing values")
        if a_missing:
            raise ValueError(f"actual has {a_missing} missing values")
    elif nan_policy == "bin":
        e_counts = np.r_[e_counts, e_missing].astype(np.int64)
        a_counts = np.r_[a_counts, a_missing].astype(np.int64)
    elif nan_policy != "omit":
        raise ValueError(f"unknown nan_policy {nan_policy!r}")
    e_prop = e_counts / e_counts.sum()
    a_prop = a_counts / a_counts.sum()
    value = psi_value_reference(e_prop, a_prop, eps)
    out = {
        "value": value,
        "status": status_reference(value, thresholds),
        "expected_counts": e_counts,
        "actual_counts": a_counts,
        "expected_proportions": e_prop,
        "actual_proportions": a_prop,
        "expected_missing": e_missing,
        "actual_missing": a_missing,
        "thresholds": tuple(thresholds),
    }
    out.update(extra)
    return out


def psi_reference(
    expected,
    actual,
    bins=10,
    binning="quantile",
    eps=1e-4,
    nan_policy="raise",
    thresholds=(0.1, 0.25),
) -> dict:
    """Every field of ut.psi's result, computed independently in float64 numpy."""
    interior = interior_edges_reference(expected, bins, binning)
    e_counts, e_missing = bin_counts_reference(expected, interior)
    a_counts, a_missing = bin_counts_reference(actual, interior)
    edges = np.r_[-np.inf, interior, np.inf].astype(np.float64)
    return _finish(e_counts, a_counts, e_missing, a_missing, nan_policy, eps, thresholds, {"edges": edges})


def categorical_psi_reference(expected, actual, eps=1e-4, nan_policy="raise", thresholds=(0.1, 0.25)) -> dict:
    """PSI of a categorical column: `expected`/`actual` are lists of str, None = missing.

    Bins: sorted distinct reference values, then one "unseen" bin, then (nan_policy="bin")
    the missing bin.
    """
    categories = sorted({v for v in expected if v is not None})
    index = {c: i for i, c in enumerate(categories)}

    def count(values):
        counts = np.zeros(len(categories) + 1, dtype=np.int64)
        missing = 0
        for v in values:
            if v is None:
                missing += 1
            else:
                counts[index.get(v, len(categories))] += 1
        return counts, missing

    e_counts, e_missing = count(expected)
    a_counts, a_missing = count(actual)
    return _finish(
        e_counts,
        a_counts,
        e_missing,
        a_missing,
        nan_policy,
        eps,
        thresholds,
        {"categories": categories},
    )


# ---------------------------------------------------------------------------------------------
# comparison helpers


def assert_counts_equal(got, want, what=""):
    got = np.asarray(got)
    np.testing.assert_array_equal(got, want, err_msg=what)


def assert_psi_matches(result, ref: dict, *, check_types: bool = True, categorical=False):
    """Compare every field of an undertow PsiResult/ColumnPsi with a reference dict."""
    if check_types:
        for name in ("expected_counts", "actual_counts"):
            arr = getattr(result, name)
            assert isinstance(arr, np.ndarray), f"{name} is {type(arr)}"
            assert arr.dtype == np.int64, f"{name} dtype {arr.dtype}"
        for name in ("expected_proportions", "actual_proportions"):
            arr = getattr(result, name)
            assert isinstance(arr, np.ndarray), f"{name} is {type(arr)}"
            assert arr.dtype == np.float64, f"{name} dtype {arr.dtype}"
        if not categorical:
            assert isinstance(result.edges, np.ndarray)
            assert result.edges.dtype == np.float64
        assert isinstance(result.value, float)
        assert isinstance(result.status, str)
    if categorical:
        assert list(result.categories) == ref["categories"]
    else:
        np.testing.assert_array_equal(np.asarray(result.edges), ref["edges"], err_msg="edges")
    assert_counts_equal(result.expected_counts, ref["expected_counts"], "expected_counts")
    assert_counts_equal(result.actual_counts, ref["actual_counts"], "actual_counts")
    np.testing.assert_array_equal(
        np.asarray(result.expected_proportions),
        ref["expected_proportions"],
        err_msg="expected_proportions",
    )
    np.testing.assert_array_equal(
        np.asarray(result.actual_proportions),
        ref["actual_proportions"],
        err_msg="actual_proportions",
    )
    assert int(result.expected_missing) == ref["expected_missing"]
    assert int(result.actual_missing) == ref["actual_missing"]
    np.testing.assert_allclose(result.value, ref["value"], rtol=1e-9, atol=1e-12)
    # the band follows the value undertow returned (it may sit within 1e-9 of a threshold)
    assert result.status_threshold == status_reference(result.value, ref["thresholds"])
    if all(abs(ref["value"] - t) > 1e-9 * max(1.0, t) for t in ref["thresholds"]):
        assert result.status_threshold == ref["status"]
    # the status is the band when significant (tests/tabular/test_psi_significance.py)
    significant = result.alpha is None or result.p_value <= result.alpha
    assert result.status == (result.status_threshold if significant else "stable")


def assert_same_result(a, b, categorical=False):
    """Two undertow results identical bit for bit (value, counts, proportions, edges, and the
    significance fields derived from the counts)."""
    assert a.value == b.value or (np.isnan(a.value) and np.isnan(b.value))
    assert a.status == b.status
    assert a.status_threshold == b.status_threshold
    assert a.noise_floor == b.noise_floor
    assert a.p_value == b.p_value and a.p_value_method == b.p_value_method
    np.testing.assert_array_equal(np.asarray(a.expected_counts), np.asarray(b.expected_counts))
    np.testing.assert_array_equal(np.asarray(a.actual_counts), np.asarray(b.actual_counts))
    np.testing.assert_array_equal(np.asarray(a.expected_proportions), np.asarray(b.expected_proportions))
    np.testing.assert_array_equal(np.asarray(a.actual_proportions), np.asarray(b.actual_proportions))
    assert int(a.expected_missing) == int(b.expected_missing)
    assert int(a.actual_missing) == int(b.actual_missing)
    if categorical:
        assert list(a.categories) == list(b.categories)
    else:
        np.testing.assert_array_equal(np.asarray(a.edges), np.asarray(b.edges))


def make_sample(rng: np.random.Generator, n: int, kind: str, dtype=np.float64) -> np.ndarray:
    """Test data of a given shape of distribution."""
    if kind == "normal":
        x = rng.normal(0.0, 1.0, n)
    elif kind == "ties":
        x = rng.integers(0, 5, n).astype(np.float64)
    elif kind == "lognormal":
        x = rng.lognormal(0.0, 2.0, n)
    elif kind == "scales":
        x = rng.normal(0.0, 1.0, n) * 10.0 ** rng.integers(-8, 9, n)
    elif kind == "constant":
        x = np.full(n, 3.25)
    elif kind == "two":
        x = rng.integers(0, 2, n).astype(np.float64)
    elif kind == "narrow":
        x = 1.0 + rng.random(n) * 1e-3
    else:
        raise ValueError(kind)
    return x.astype(dtype)


def sprinkle_missing(rng, x: np.ndarray, n_nan: int, n_posinf: int = 0, n_neginf: int = 0):
    """A copy of x with the given numbers of NaN/+inf/-inf at random positions."""
    x = x.copy()
    total = n_nan + n_posinf + n_neginf
    total = min(total, x.size)
    pos = rng.permutation(x.size)[:total]
    vals = [np.nan] * n_nan + [np.inf] * n_posinf + [-np.inf] * n_neginf
    x[pos] = np.array(vals[:total], dtype=x.dtype)
    return x


def assert_reports_identical(a, b):
    """Two PsiReports with the same columns, statuses, values and counts."""
    assert list(a.columns) == list(b.columns)
    assert a.status == b.status
    for name in a.columns:
        assert a[name].kind == b[name].kind
        assert_same_result(a[name], b[name], categorical=a[name].kind == "categorical")
