"""`ut.ks` without a full sort (bucket refinement, rust/core/src/twosample/ks_buckets.rs) against
scipy.stats.ks_2samp and against the sort-then-merge path it replaced (`_core.SortedSample` +
`_core.ks_2samp`, still the state of `Reference.fit(tests=["ks"])`): statistic, location and sign
bit-identical, p-value equal, on inputs chosen to defeat the buckets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import undertow as ut
from undertow import _core


def by_sorting(x: np.ndarray, y: np.ndarray, method: str = "auto") -> dict:
    e = _core.SortedSample.from_values(x, "omit", "expected")
    a = _core.SortedSample.from_values(y, "omit", "actual")
    return _core.ks_2samp(e, a, method, ("expected", "actual"))


def bits(value: float) -> bytes:
    return np.float64(value).tobytes()


def check(x: np.ndarray, y: np.ndarray, method: str = "auto", scipy_too: bool = True) -> None:
    for a, b in ((x, y), (y, x)):
        got = ut.ks(a, b, method=method)
        old = by_sorting(a, b, method)
        # the same float64 bits as the sort path, p-value included (NaN where both give NaN)
        assert bits(got.pvalue) == bits(old["pvalue"]), (got, old)
        assert (got.statistic, got.location, got.sign, got.method) == (
            old["statistic"],
            old["location"],
            old["sign"],
            old["method"],
        ), (got, old)
        if scipy_too:
            want = stats.ks_2samp(a, b, method=method)
            assert got.statistic == float(want.statistic), (got, want)
            if math.isnan(want.pvalue):  # scipy's asymptotic p-value at n = m = 1
                assert math.isnan(got.pvalue)
            else:
                assert math.isclose(got.pvalue, float(want.pvalue), rel_tol=1e-10, abs_tol=1e-300)
            assert got.location == float(want.statistic_location)
            assert got.sign == int(want.statistic_sign)


RNG = np.random.default_rng(17)
NARROW = 1.0 + 1e-4 * RNG.uniform(size=3000)
SUB = np.finfo(np.float64).smallest_subnormal

CASES = {
    # every value in one top-16-bit cell: the kernel narrows to [min, max]
    "U(1, 1.0001)": (NARROW, 1.0 + 1e-4 * RNG.uniform(0.05, 1.0, size=2500)),
    # ... and the same with outliers that force the full key range
    "U(1, 1.0001) with outliers": (np.r_[NARROW, -1e30, 1e30], 1.0 + 1e-4 * RNG.uniform(size=2000)),
    "spike plus spread": (np.r_[np.full(4000, 0.25), RNG.normal(size=4000)], RNG.normal(size=5000)),
    "both spikes at one value": (np.r_[np.full(900, 2.0), [1.0]], np.r_[np.full(800, 2.0), [3.0]]),
    "constants": (np.full(300, 7.0), np.full(200, 7.0)),
    "one value each": (np.array([3.0]), np.array([3.0])),
    "one value vs many": (np.array([0.0]), RNG.normal(size=4000)),
    "signed zeros": (np.array([-0.0, 0.0, -0.0, 1.0]), np.array([0.0, -0.0, -1.0])),
    "subnormals": (np.array([SUB, 2 * SUB, -SUB, 0.0, 5 * SUB]), np.array([SUB, -0.0, 3 * SUB])),
    "extreme magnitudes": (
        np.array([np.finfo(float).max, np.finfo(float).min, 1e-300]),
        np.array([1.0, -1e300]),
    ),
    "sorted vs reverse sorted": (np.arange(5000.0), np.arange(5000.0)[::-1] * 1.0001),
    "identical": (RNG.normal(size=6000),) * 2,
    "heavy ties": (RNG.integers(0, 4, 20_000).astype(float), RNG.integers(0, 5, 15_000).astype(float)),
    "huge vs tiny n": (RNG.normal(size=100_000), RNG.normal(size=3)),
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_scipy_and_the_sort_path(name: str, dtype: type) -> None:
    x, y = CASES[name]
    with np.errstate(over="ignore"):  # float64 extremes overflow to inf in float32: dropped below
        x, y = x.astype(dtype), y.astype(dtype)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    check(x, y)
    check(x, y, method="asymp")


@pytest.mark.parametrize(
    ("n", "m", "shift"), [(400_000, 300_000, 0.0), (300_000, 300_000, 0.02), (200_000, 50, 0.5)]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_samples_take_the_second_level(n: int, m: int, shift: float, dtype: type) -> None:
    # at these sizes the first level keeps too many values and the kernel counts a second one
    rng = np.random.default_rng(n + m)
    x = rng.normal(size=n).astype(dtype)
    y = rng.normal(shift, 1.0, size=m).astype(dtype)
    check(x, y)


def test_infinities_and_nan_are_dropped_under_omit_like_the_sort_path() -> None:
    x = np.r_[RNG.normal(size=500), np.inf, -np.inf, np.nan]
    y = np.r_[RNG.normal(size=400), np.nan]
    got = ut.ks(x, y, nan_policy="omit")
    assert (got.n_expected, got.n_actual) == (500, 400)
    want = stats.ks_2samp(x[np.isfinite(x)], y[np.isfinite(y)])
    assert got.statistic == want.statistic and got.location == want.statistic_location
    with pytest.raises(ut.UndertowError, match="actual: 1 missing values"):
        ut.ks(np.arange(3.0), y)


def test_mixed_dtypes_widen_float32_exactly() -> None:
    x = RNG.normal(size=700).astype(np.float32)
    y = RNG.normal(0.1, 1.0, size=600)
    got = ut.ks(x, y)
    want = stats.ks_2samp(x.astype(np.float64), y)
    assert got.statistic == want.statistic and got.location == want.statistic_location


finite64 = st.floats(allow_nan=False, allow_infinity=False, width=64)
finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(finite64, min_size=1, max_size=60),
    st.lists(finite64, min_size=1, max_size=60),
    st.integers(0, 3),
)
def test_random_float64_samples_match_the_sort_path(a: list[float], b: list[float], repeat: int) -> None:
    # repeats add ties across the samples
    x = np.array(a + a[: repeat * 3])
    y = np.array(b + a[:repeat])
    check(x, y, scipy_too=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(finite32, min_size=1, max_size=60), st.lists(finite32, min_size=1, max_size=60))
def test_random_float32_samples_match_the_sort_path(a: list[float], b: list[float]) -> None:
    check(np.array(a, dtype=np.float32), np.array(b, dtype=np.float32), scipy_too=False)
