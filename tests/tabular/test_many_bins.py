"""Quantile edges with as many bins as values cost a sort, not a pass per target (issue 10, item 12).

Before: `psi(bins=10**6)` on 1e6 values took ~60 s (radix selection refined/gathered a bucket per
target). Now many distinct ranks (more than one per 1,024 finite values) are read off one sorted
copy. The edges stay numpy's linear-method quantiles bit for bit, deduplicated as in the reference.
"""

import time

import numpy as np
import pytest
from reference_impl import interior_edges_reference

import undertow as ut

N = 1_000_000


def _data(kind: str) -> np.ndarray:
    rng = np.random.default_rng(12)
    if kind == "continuous":
        return rng.normal(3.0, 2.0, N)
    # heavy ties: many equal quantiles, deduplicated into fewer edges
    return np.round(rng.exponential(1.0, N), 2) + 0.5


@pytest.mark.parametrize("bins", [1_000, 100_000, 1_000_000])
@pytest.mark.parametrize("kind", ["continuous", "ties"])
def test_many_bins_match_numpy_bit_for_bit(bins, kind):
    x = _data(kind)
    start = time.perf_counter()
    r = ut.psi(x, x[::-1], bins=bins)
    elapsed = time.perf_counter() - start
    print(f"\npsi(bins={bins}) on {N} {kind} values: {elapsed:.2f} s")
    got = np.asarray(r.edges)
    assert got[0] == -np.inf and got[-1] == np.inf
    interior = got[1:-1]
    assert np.all(np.diff(interior) > 0)  # sorted, deduplicated
    if bins <= 1_000:
        want = interior_edges_reference(x, bins=bins)
        np.testing.assert_array_equal(interior.view(np.uint64), want.view(np.uint64))
    else:
        # np.quantile with 1e5-1e6 levels at once takes minutes: check 1,000 of the levels bit
        # for bit (each numpy quantile is one of the edges), and the edge count.
        levels = np.linspace(0, 1, bins + 1)[1:-1]
        sample = np.random.default_rng(bins).choice(levels.size, 1_000, replace=False)
        want = np.quantile(x, levels[sample])
        assert np.isin(want.view(np.uint64), interior.view(np.uint64)).all()
        assert interior.size <= bins - 1
        if kind == "continuous":  # 1e6 distinct values: (nearly) every level gives its own edge
            assert interior.size >= 0.999 * (bins - 1)
    # the same values against themselves (reversed) are no drift
    assert r.value == pytest.approx(0.0, abs=1e-12)


def test_many_bins_with_non_finite_values_use_the_finite_ones():
    x = _data("continuous")[:200_000].copy()
    x[::97] = np.nan
    x[5] = np.inf
    x[6] = -np.inf
    r = ut.psi(x, x, bins=50_000, nan_policy="bin")
    want = interior_edges_reference(x, bins=50_000)
    np.testing.assert_array_equal(np.asarray(r.edges)[1:-1].view(np.uint64), want.view(np.uint64))
