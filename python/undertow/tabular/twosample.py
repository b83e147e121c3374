"""The classic two-sample tests of one numeric column: Kolmogorov–Smirnov, Wasserstein-1,
chi-square, Jensen–Shannon and Hellinger (math in rust/core/src/twosample).

KS and Wasserstein compare the two empirical CDFs exactly (both samples sorted: O(n) memory).
Chi-square, Jensen–Shannon and Hellinger compare bin counts over PSI's bins (the reference's
quantile bins with open outer edges; a missing-values bin under ``nan_policy="bin"``), so they
cost O(bins) memory and merge like PSI. See docs/two_sample.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from undertow import _core
from undertow._args import check_nan_policy
from undertow._core import UndertowError
from undertow._inputs import as_float_array

TESTS = ("ks", "wasserstein", "chi_square", "jensen_shannon", "hellinger")
#: Tests that need both whole samples (sorted) rather than bin counts.
SAMPLE_TESTS = ("ks", "wasserstein")
#: Tests computed from PSI's bin counts.
COUNT_TESTS = ("chi_square", "jensen_shannon", "hellinger")


@dataclass(frozen=True, eq=False)
class TwoSampleResult:
    """One two-sample test of one column.

    ``statistic`` is the KS D, the Wasserstein-1 distance, the chi-square statistic, the
    Jensen–Shannon distance or the Hellinger distance; ``pvalue`` is None for the distances.
    ``method`` says how the p-value was computed ("exact" / "asymp" for KS, "pearson" / "yates"
    for chi-square); ``location`` and ``sign`` are scipy's statistic_location / statistic_sign
    for KS; ``dof`` the chi-square degrees of freedom. ``n_expected`` / ``n_actual`` count the
    values the test used (after nan_policy).
    """

    test: str
    statistic: float
    pvalue: float | None
    n_expected: int
    n_actual: int
    method: str | None = None
    dof: int | None = None
    location: float | None = None
    sign: int | None = None
    name: str = "x"

    @property
    def value(self) -> float:
        return self.statistic

    def __float__(self) -> float:
        return float(self.statistic)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.name,
            "test": self.test,
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "method": self.method,
            "dof": self.dof,
            "location": self.location,
            "sign": self.sign,
            "n_expected": self.n_expected,
            "n_actual": self.n_actual,
        }

    def __repr__(self) -> str:
        p = "" if self.pvalue is None else f", pvalue={self.pvalue:.6g}"
        m = "" if self.method is None else f", method={self.method!r}"
        return (
            f"TwoSampleResult(test={self.test!r}, statistic={self.statistic:.6g}{p}{m}, "
            f"n={self.n_expected}/{self.n_actual})"
        )


def check_ks_method(method: Any) -> str:
    if method not in ("auto", "exact", "asymp"):
        raise UndertowError(f"method: must be 'auto', 'exact' or 'asymp', got {method!r}")
    return str(method)


def sorted_sample(values: Any, argument: str, nan_policy: str) -> Any:
    """A float array (any input ut.psi takes) sorted in Rust: the KS / Wasserstein state."""
    array = as_float_array(values, argument)
    return _core.SortedSample.from_values(array, nan_policy, argument)


def ks_from_sorted(expected: Any, actual: Any, method: str, name: str) -> TwoSampleResult:
    out = _core.ks_2samp(expected, actual, method, ("expected", "actual"))
    return TwoSampleResult(
        test="ks",
        statistic=float(out["statistic"]),
        pvalue=float(out["pvalue"]),
        n_expected=expected.size,
        n_actual=actual.size,
        method=out["method"],
        location=float(out["location"]),
        sign=int(out["sign"]),
        name=name,
    )


def wasserstein_from_sorted(expected: Any, actual: Any, name: str) -> TwoSampleResult:
    value = _core.wasserstein(expected, actual, ("expected", "actual"))
    return TwoSampleResult("wasserstein", float(value), None, expected.size, actual.size, name=name)


def count_test(
    test: str,
    expected_counts: np.ndarray,
    actual_counts: np.ndarray,
    name: str,
    base: float | None = None,
    correction: bool = True,
) -> TwoSampleResult:
    """A count-based test over the same bins (uint64 counts)."""
    e = [int(c) for c in expected_counts]
    a = [int(c) for c in actual_counts]
    n_e, n_a = sum(e), sum(a)
    if test == "chi_square":
        statistic, pvalue, dof = _core.chi_square(e, a, correction)
        yates = correction and dof == 1
        return TwoSampleResult(
            test, statistic, pvalue, n_e, n_a, method="yates" if yates else "pearson", dof=int(dof), name=name
        )
    if test == "jensen_shannon":
        return TwoSampleResult(test, _core.jensen_shannon(e, a, base), None, n_e, n_a, name=name)
    if test == "hellinger":
        return TwoSampleResult(test, _core.hellinger(e, a), None, n_e, n_a, name=name)
    raise UndertowError(f"test: must be one of {list(COUNT_TESTS)}, got {test!r}")


def ks(expected: Any, actual: Any, method: str = "auto", nan_policy: str = "raise") -> TwoSampleResult:
    """Two-sided two-sample Kolmogorov–Smirnov test, as ``scipy.stats.ks_2samp``.

    D = max |F_e(x) - F_a(x)| over the pooled values, ties consumed together (scipy's
    ``searchsorted(side="right")``). P-value ``method="auto"`` (scipy's rule): exact lattice-path
    count when both samples have at most 10 000 values, else the distribution of the one-sample
    statistic D_n at n = round(n_e n_a / (n_e + n_a)) (scipy's ``kstwo.sf``); "exact" and
    "asymp" force one (exact falls back to asymp when lcm(n_e, n_a) exceeds 2^31, as scipy).
    No full sort: key-range buckets bound F_e - F_a and only the values of buckets that can hold
    the maximum are sorted (docs/two_sample.md); the result is bit-identical to sorting both.
    NaN and +-inf:
    ``nan_policy="raise"`` refuses them naming the side and count; "omit" (and "bin", which has
    no meaning for an ECDF) drops them. float32 input is widened exactly.

    >>> import numpy as np, undertow as ut
    >>> ut.ks(np.arange(10.0), np.arange(10.0) + 5).statistic
    0.5
    """
    method = check_ks_method(method)
    nan_policy = check_nan_policy(nan_policy)
    e = as_float_array(expected, "expected")
    a = as_float_array(actual, "actual")
    if e.dtype != a.dtype:  # one key space for both: float32 widens to float64 exactly
        e, a = e.astype(np.float64), a.astype(np.float64)
    out = _core.ks_values(e, a, method, nan_policy, ("expected", "actual"))
    return TwoSampleResult(
        test="ks",
        statistic=float(out["statistic"]),
        pvalue=float(out["pvalue"]),
        n_expected=int(out["n_expected"]),
        n_actual=int(out["n_actual"]),
        method=out["method"],
        location=float(out["location"]),
        sign=int(out["sign"]),
        name="x",
    )


def wasserstein(expected: Any, actual: Any, nan_policy: str = "raise") -> TwoSampleResult:
    """Wasserstein-1 (earth mover's) distance of two 1-D samples, as
    ``scipy.stats.wasserstein_distance``: the integral of |F_e - F_a|, summed exactly over the
    gaps between consecutive pooled values (compensated summation). Same units as the data;
    no p-value. Sorting, memory and nan_policy as `ks`.

    >>> import numpy as np, undertow as ut
    >>> ut.wasserstein(np.zeros(5), np.full(5, 2.0)).statistic
    2.0
    """
    nan_policy = check_nan_policy(nan_policy)
    e = sorted_sample(expected, "expected", nan_policy)
    a = sorted_sample(actual, "actual", nan_policy)
    return wasserstein_from_sorted(e, a, "x")


def _binned(test: str, expected: Any, actual: Any, bins: Any, binning: Any, nan_policy: str, **options: Any):
    # PSI's own binning and counting: the same bins, edges and missing-value handling as ut.psi
    from undertow.tabular.psi import psi

    counted = psi(expected, actual, bins=bins, binning=binning, nan_policy=nan_policy)
    return count_test(test, counted.expected_counts, counted.actual_counts, "x", **options)


def chi_square(
    expected: Any,
    actual: Any,
    bins: Any = 10,
    binning: Any = "quantile",
    nan_policy: str = "raise",
    correction: bool = True,
) -> TwoSampleResult:
    """Chi-square test of homogeneity of the 2 x k table of bin counts [expected; actual], as
    ``scipy.stats.chi2_contingency`` (Pearson; Yates' continuity correction when there is one
    degree of freedom and ``correction``). Bins are PSI's (see `undertow.psi`); bins
    empty on both sides are dropped first (scipy refuses a zero expected frequency), so
    dof = (bins counted on either side) - 1; a single such bin gives statistic 0, p-value 1.

    >>> import numpy as np, undertow as ut
    >>> ut.chi_square(np.arange(100.0), np.arange(100.0), bins=4).pvalue
    1.0
    """
    return _binned("chi_square", expected, actual, bins, binning, nan_policy, correction=bool(correction))


def jensen_shannon(
    expected: Any,
    actual: Any,
    bins: Any = 10,
    binning: Any = "quantile",
    nan_policy: str = "raise",
    base: float | None = None,
) -> TwoSampleResult:
    """Jensen–Shannon distance (the square root of the JS divergence) between the bin
    proportions p (expected) and q (actual), as ``scipy.spatial.distance.jensenshannon``:
    sqrt((KL(p || m) + KL(q || m)) / 2) with m = (p + q) / 2, natural log by default (bounded by
    sqrt(ln 2) ~ 0.833); ``base=2`` bounds it by 1. Empty bins need no floor (0 ln 0 = 0).
    Bins are PSI's (see `undertow.psi`).

    >>> import numpy as np, undertow as ut
    >>> ut.jensen_shannon(np.arange(100.0), np.arange(100.0), bins=4).statistic
    0.0
    """
    if base is not None:
        base = float(base)
    return _binned("jensen_shannon", expected, actual, bins, binning, nan_policy, base=base)


def hellinger(
    expected: Any, actual: Any, bins: Any = 10, binning: Any = "quantile", nan_policy: str = "raise"
) -> TwoSampleResult:
    """Hellinger distance between the bin proportions p and q: sqrt(sum (sqrt p - sqrt q)^2 / 2),
    in [0, 1] (0 identical, 1 disjoint). Bins are PSI's (see `undertow.psi`).

    >>> import numpy as np, undertow as ut
    >>> ut.hellinger(np.zeros(10), np.ones(10)).statistic
    1.0
    """
    return _binned("hellinger", expected, actual, bins, binning, nan_policy)


def two_sample(expected: Any, actual: Any, test: str = "ks", **options: Any) -> TwoSampleResult:
    """Runs one of the tests by name: "ks", "wasserstein", "chi_square", "jensen_shannon",
    "hellinger"; ``options`` go to that function.

    >>> import numpy as np, undertow as ut
    >>> ut.two_sample(np.arange(10.0), np.arange(10.0), test="ks").pvalue
    1.0
    """
    functions = {
        "ks": ks,
        "wasserstein": wasserstein,
        "chi_square": chi_square,
        "jensen_shannon": jensen_shannon,
        "hellinger": hellinger,
    }
    if test not in functions:
        raise UndertowError(f"test: must be one of {list(TESTS)}, got {test!r}")
    return functions[test](expected, actual, **options)


__all__ = [
    "TwoSampleResult",
    "chi_square",
    "hellinger",
    "jensen_shannon",
    "ks",
    "two_sample",
    "wasserstein",
]
