"""The two-sample tests against scipy (ks_2samp, kstwo, wasserstein_distance, jensenshannon,
chi2_contingency) on adversarial inputs: ties, constants, one-value samples, n = 1, huge vs tiny n,
float32, NaN policy; and bad input with named arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

import undertow as ut
from undertow import _core

RTOL = 1e-10


def close(got: float, want: float, rtol: float = RTOL, atol: float = 0.0) -> bool:
    return math.isclose(got, want, rel_tol=rtol, abs_tol=atol) or (got == want)


def check_ks(x: np.ndarray, y: np.ndarray, method: str = "auto", rtol: float = RTOL) -> None:
    ours = ut.ks(x, y, method=method)
    theirs = stats.ks_2samp(x, y, method=method)
    assert ours.statistic == float(theirs.statistic), (ours, theirs)
    # p-values below ~1e-300 underflow differently; compare absolutely there
    assert close(ours.pvalue, float(theirs.pvalue), rtol, atol=1e-300), (ours, theirs)
    assert ours.location == float(theirs.statistic_location)
    assert ours.sign == int(theirs.statistic_sign)


RNG = np.random.default_rng(20261130)

KS_CASES = {
    "normal shift": (RNG.normal(size=300), RNG.normal(0.3, 1, size=200)),
    "equal sizes": (RNG.normal(size=500), RNG.normal(0.1, 1, size=500)),
    "heavy ties": (RNG.integers(0, 5, 400).astype(float), RNG.integers(0, 6, 300).astype(float)),
    "constant vs constant": (np.zeros(50), np.zeros(70)),
    "constant vs other constant": (np.zeros(50), np.ones(70)),
    "n = 1 each": (np.array([1.0]), np.array([2.0])),
    "n = 1 vs many": (np.array([0.5]), RNG.uniform(size=999)),
    "one value repeated vs spread": (np.full(20, 0.5), RNG.uniform(size=37)),
    "disjoint": (np.arange(10.0), np.arange(10.0) + 100),
    "coprime sizes": (RNG.normal(size=97), RNG.normal(size=89)),
    "multiple sizes": (RNG.normal(size=100), RNG.normal(size=300)),
    "signed zeros": (np.array([-0.0, 0.0, 1.0, -1.0]), np.array([0.0, 0.0, -0.0, 2.0])),
    "tiny vs 10000": (RNG.normal(size=3), RNG.normal(size=10_000)),
}


@pytest.mark.parametrize("name", KS_CASES)
def test_ks_matches_scipy_auto(name: str) -> None:
    x, y = KS_CASES[name]
    check_ks(x, y)
    check_ks(y, x)


@pytest.mark.parametrize("name", ["normal shift", "heavy ties", "coprime sizes", "n = 1 vs many"])
def test_ks_matches_scipy_asymptotic(name: str) -> None:
    x, y = KS_CASES[name]
    check_ks(x, y, method="asymp")


@pytest.mark.parametrize(
    ("n", "m", "shift"),
    [(10_001, 10_001, 0.05), (20_000, 3, 0.0), (30_000, 150, 0.2), (50_000, 40_000, 0.02), (10_500, 60, 1.0)],
)
def test_ks_large_samples_use_the_asymptotic_path_like_scipy(n: int, m: int, shift: float) -> None:
    rng = np.random.default_rng(n + m)
    x, y = rng.normal(size=n), rng.normal(shift, 1, size=m)
    assert ut.ks(x, y).method == "asymp"
    check_ks(x, y)


@pytest.mark.parametrize(
    "n", [1, 2, 3, 5, 10, 37, 100, 140, 141, 500, 5_000, 40_000, 100_000, 200_000, 1_000_000, 2_000_000]
)
def test_kstwo_sf_matches_scipy_on_every_branch(n: int) -> None:
    # x from below 1/(2n) (sf 1) through the Durbin, Pomeranz, Pelz-Good and Smirnov regions to 1
    xs = sorted({0.4 / n, 0.75 / n, 1.0 / n, 1.5 / n, 0.3 / math.sqrt(n), 0.6 / math.sqrt(n),
                 0.9 / math.sqrt(n), 1.2 / math.sqrt(n), 1.6 / math.sqrt(n), 2.5 / math.sqrt(n),
                 4.0 / math.sqrt(n), 0.45, 0.5, 0.7, 1.0 - 0.5 / n, 1.0})  # fmt: skip
    for x in xs:
        if not 0 < x <= 1:
            continue
        got, want = _core.kstwo_sf(float(n), x), float(stats.kstwo.sf(x, n))
        assert close(got, want, 1e-10, atol=1e-300), (n, x, got, want)


def test_ks_float32_is_widened_exactly() -> None:
    x = RNG.normal(size=200).astype(np.float32)
    y = RNG.normal(size=150).astype(np.float32)
    check_ks(x, y)
    check_ks(x.astype(np.float64), y)


def test_ks_nan_policy() -> None:
    x = np.array([1.0, np.nan, 2.0, np.inf, 3.0])
    y = np.array([2.0, 5.0])
    with pytest.raises(ut.UndertowError, match="expected: 2 missing values"):
        ut.ks(x, y)
    got = ut.ks(x, y, nan_policy="omit")
    want = stats.ks_2samp(x[np.isfinite(x)], y)
    assert got.statistic == want.statistic and close(got.pvalue, want.pvalue)
    assert got.n_expected == 3


def test_ks_bad_input_names_the_argument() -> None:
    with pytest.raises(ut.UndertowError, match="actual"):
        ut.ks(np.arange(3.0), np.array([]))
    with pytest.raises(ut.UndertowError, match="expected: has no finite values"):
        ut.ks(np.array([np.nan]), np.arange(3.0), nan_policy="omit")
    with pytest.raises(ut.UndertowError, match="method"):
        ut.ks(np.arange(3.0), np.arange(3.0), method="fast")
    with pytest.raises(TypeError, match="expected"):
        ut.ks(np.array(["a", "b"]), np.arange(3.0))
    with pytest.raises(ut.UndertowError, match="test"):
        ut.two_sample(np.arange(3.0), np.arange(3.0), test="anderson")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=40),
    st.lists(st.integers(-5, 5), min_size=1, max_size=40),
)
def test_ks_and_wasserstein_match_scipy_on_random_tied_samples(a: list[int], b: list[int]) -> None:
    x, y = np.array(a, dtype=float), np.array(b, dtype=float)
    check_ks(x, y)
    assert close(ut.wasserstein(x, y).statistic, stats.wasserstein_distance(x, y), 1e-12, atol=1e-15)


WASSERSTEIN_CASES = {
    "normal": (RNG.normal(size=1000), RNG.normal(1, 2, size=700)),
    "ties": (RNG.integers(0, 4, 100).astype(float), RNG.integers(1, 3, 50).astype(float)),
    "constants": (np.zeros(10), np.full(3, 2.5)),
    "same": (np.arange(5.0), np.arange(5.0)),
    "n = 1": (np.array([3.0]), np.array([-1.0])),
    "huge vs tiny": (RNG.normal(size=100_000), np.array([0.25])),
    "large magnitudes": (RNG.normal(1e12, 1e3, size=500), RNG.normal(1e12 + 10, 1e3, size=400)),
}


@pytest.mark.parametrize("name", WASSERSTEIN_CASES)
def test_wasserstein_matches_scipy(name: str) -> None:
    x, y = WASSERSTEIN_CASES[name]
    assert close(ut.wasserstein(x, y).statistic, stats.wasserstein_distance(x, y), 1e-11, atol=1e-15)


def test_wasserstein_float32_and_symmetry() -> None:
    x = RNG.normal(size=300).astype(np.float32)
    y = RNG.normal(size=200)
    got = ut.wasserstein(x, y).statistic
    assert close(got, stats.wasserstein_distance(x.astype(np.float64), y), 1e-12)
    assert got == ut.wasserstein(y, x).statistic


def _bin_counts(x: np.ndarray, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """An independent numpy binning: PSI's quantile edges with open outer edges, right-open."""
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1))[1:-1])
    ex = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1)
    ey = np.bincount(np.searchsorted(edges, y, side="right"), minlength=len(edges) + 1)
    return ex, ey


BINNED_CASES = {
    "shift": (RNG.normal(size=5000), RNG.normal(0.4, 1, size=3000)),
    "same": (RNG.normal(size=2000), RNG.normal(size=2000)),
    "outside the range": (RNG.uniform(size=1000), RNG.uniform(2, 3, size=100)),
    "few values": (RNG.integers(0, 3, 500).astype(float), RNG.integers(0, 3, 700).astype(float)),
    "tiny actual": (RNG.normal(size=1000), np.array([0.1])),
}


@pytest.mark.parametrize("name", BINNED_CASES)
def test_count_tests_match_scipy_on_psi_bins(name: str) -> None:
    x, y = BINNED_CASES[name]
    ex, ey = _bin_counts(x, y, 10)
    assert np.array_equal(ut.psi(x, y).expected_counts, ex)  # the bins are PSI's
    p, q = ex / ex.sum(), ey / ey.sum()
    js = ut.jensen_shannon(x, y)
    assert close(js.statistic, float(jensenshannon(p, q)), 1e-12, atol=1e-15)
    assert close(
        ut.jensen_shannon(x, y, base=2).statistic, float(jensenshannon(p, q, base=2)), 1e-12, atol=1e-15
    )
    hel = ut.hellinger(x, y).statistic
    assert close(hel, float(np.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2) / 2)), 1e-12, atol=1e-15)
    keep = (ex + ey) > 0
    table = np.vstack([ex[keep], ey[keep]])
    chi = ut.chi_square(x, y)
    if table.shape[1] < 2:
        assert (chi.statistic, chi.pvalue, chi.dof) == (0.0, 1.0, 0)
        return
    want = stats.chi2_contingency(table)
    assert close(chi.statistic, float(want.statistic), 1e-11)
    assert close(chi.pvalue, float(want.pvalue), 1e-9, atol=1e-300)
    assert chi.dof == int(want.dof)


@pytest.mark.parametrize("correction", [True, False])
def test_chi_square_one_degree_of_freedom_yates_like_scipy(correction: bool) -> None:
    x = np.r_[np.zeros(30), np.ones(70)]
    y = np.r_[np.zeros(50), np.ones(40)]
    got = ut.chi_square(x, y, bins=2, correction=correction)
    ex, ey = np.array([30, 70]), np.array([50, 40])
    assert np.array_equal(ut.psi(x, y, bins=2).expected_counts[ut.psi(x, y, bins=2).expected_counts > 0], ex)
    want = stats.chi2_contingency(np.vstack([ex, ey]), correction=correction)
    assert close(got.statistic, float(want.statistic), 1e-12)
    assert close(got.pvalue, float(want.pvalue), 1e-10)
    assert got.method == ("yates" if correction else "pearson")


@pytest.mark.parametrize("dof", [1, 2, 9, 30, 99, 400])
@pytest.mark.parametrize("quantile", [1e-6, 0.05, 0.5, 0.95, 1 - 1e-9, 1 - 1e-15])
def test_chi2_survival_matches_scipy(dof: int, quantile: float) -> None:
    x = float(stats.chi2.ppf(quantile, dof))
    assert close(_core.chi2_survival(x, float(dof)), float(stats.chi2.sf(x, dof)), 1e-10, atol=1e-300)


def test_count_tests_with_missing_bin_and_empty_bins() -> None:
    x = np.r_[RNG.normal(size=100), [np.nan] * 5]
    y = np.r_[RNG.normal(3, 1, size=50), [np.nan] * 20]
    r = ut.psi(x, y, nan_policy="bin")
    p = r.expected_counts / r.expected_counts.sum()
    q = r.actual_counts / r.actual_counts.sum()
    assert close(ut.jensen_shannon(x, y, nan_policy="bin").statistic, float(jensenshannon(p, q)), 1e-12)
    keep = (r.expected_counts + r.actual_counts) > 0
    want = stats.chi2_contingency(np.vstack([r.expected_counts[keep], r.actual_counts[keep]]))
    got = ut.chi_square(x, y, nan_policy="bin")
    assert close(got.statistic, float(want.statistic), 1e-11) and got.dof == int(want.dof)
    with pytest.raises(ut.UndertowError, match="missing"):
        ut.chi_square(x, y)


def test_identical_and_disjoint_extremes() -> None:
    x = np.arange(100.0)
    assert ut.jensen_shannon(x, x).statistic == 0.0
    assert ut.hellinger(x, x).statistic == 0.0
    # all actual mass beyond the reference's range lands in the open top bin, which holds 10% of
    # the reference: p = (0.1, ..., 0.1), q = (0, ..., 0, 1)
    p = np.full(10, 0.1)
    q = np.r_[np.zeros(9), 1.0]
    assert close(ut.hellinger(x, x + 1000).statistic, math.sqrt(1 - math.sqrt(0.1)), 1e-14)
    assert close(ut.jensen_shannon(x, x + 1000).statistic, float(jensenshannon(p, q)), 1e-14)
    # disjoint supports (explicit edges): Hellinger 1, JS sqrt(ln 2), base 2 gives 1
    edges = [-np.inf, 0.5, np.inf]
    zeros, ones = np.zeros(10), np.ones(10)
    assert ut.hellinger(zeros, ones, bins=edges).statistic == 1.0
    assert close(ut.jensen_shannon(zeros, ones, bins=edges).statistic, math.sqrt(math.log(2)), 1e-15)
    assert close(ut.jensen_shannon(zeros, ones, bins=edges, base=2).statistic, 1.0, 1e-15)


def test_results_have_the_result_faces() -> None:
    r = ut.ks(np.arange(10.0), np.arange(10.0) + 3)
    d = r.to_dict()
    assert d["test"] == "ks" and d["pvalue"] == r.pvalue and d["method"] == "exact"
    assert "ks" in repr(r) and float(r) == r.statistic
    assert ut.two_sample(np.arange(10.0), np.arange(10.0) + 3, test="ks").statistic == r.statistic
