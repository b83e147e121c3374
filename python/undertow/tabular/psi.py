"""One-shot PSI of two 1-D samples."""

from __future__ import annotations

from typing import Any

from undertow import _core
from undertow._args import check_bins_and_binning, check_eps, check_nan_policy, check_thresholds
from undertow._inputs import as_float_array
from undertow.tabular._significance import DEFAULT_ALPHA, check_alpha
from undertow.tabular.reference import PsiAccumulator, fit_numeric_column
from undertow.tabular.results import PsiResult


def psi(
    expected: Any,
    actual: Any,
    bins: Any = 10,
    binning: Any = "quantile",
    eps: float = 1e-4,
    nan_policy: str = "raise",
    thresholds: tuple[float, float] = (0.1, 0.25),
    alpha: float | None = DEFAULT_ALPHA,
) -> PsiResult:
    """Population Stability Index of `actual` against `expected`.

    PSI = sum over bins of (a - e) * ln(a / e), where e and a are the bin proportions of the
    expected and actual samples, each floored at `eps` (not renormalized) so an empty bin gives a
    large finite term. Bin edges come from `expected` alone:

    * ``binning="quantile"`` (default): ``np.quantile(expected, np.linspace(0, 1, bins + 1))``
      (numpy's "linear" method, float64), duplicate edges removed;
    * ``binning="uniform"``: equal width over expected's finite min..max;
    * an array of edges (in `binning` or `bins`): used as given.

    The outer edges are open (-inf, +inf): values outside the reference range fall in the outer
    bins and count as drift. A constant reference gets three bins (below, equal, above).
    Missing values are NaN and +-inf: ``nan_policy="raise"`` (default) refuses them naming the
    side and count, ``"omit"`` drops them, ``"bin"`` counts them in an extra bin (a rising
    missing rate is drift). Status: the band (PSI < thresholds[0] "stable", <= thresholds[1]
    "moderate", above "significant"), kept as ``status_threshold``, when the drift is also
    statistically significant, ``p_value <= alpha`` (default 0.01), else "stable": a small
    sample's PSI is mostly noise, about ``noise_floor`` = (bins - 1)(1/n + 1/m) under no drift
    (0.18 at n = m = 100 with 10 bins). ``p_value``: Pearson's chi-square test of homogeneity
    of the binned counts (a Monte-Carlo permutation test when the table is sparse), see
    PsiResult and docs/calibration_psi.md. ``alpha=None`` gives the plain band. float32 input
    is compared exactly and accumulated in float64; the GIL is released and all cores are
    used; the result does not depend on the thread count.

    >>> import numpy as np, undertow as ut
    >>> rng = np.random.default_rng(0)
    >>> ut.psi(rng.normal(size=10_000), rng.normal(0.5, 1, size=10_000)).status
    'moderate'
    >>> ut.psi(rng.normal(size=100), rng.normal(size=100), alpha=None).noise_floor
    0.18
    """
    bins, binning_name, edges = check_bins_and_binning(bins, binning)
    nan_policy = check_nan_policy(nan_policy)
    eps = check_eps(eps)
    moderate, significant = check_thresholds(thresholds)
    alpha = check_alpha(alpha)
    expected_values = as_float_array(expected, "expected")
    actual_values = as_float_array(actual, "actual")
    column = fit_numeric_column("x", expected_values, bins, binning_name, edges, nan_policy)
    reference = _core.PsiReference([column], nan_policy, eps, moderate, significant)
    accumulator = _core.PsiAccumulator(reference)
    update = accumulator.update_f32 if actual_values.dtype.itemsize == 4 else accumulator.update_f64
    update(0, actual_values)
    return PsiAccumulator(accumulator).finalize(alpha).results[0]


__all__ = ["psi"]
