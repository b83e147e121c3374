"""The one-pass quantile fit (float32 inputs of 2**19 values or more, and float64 ones on CPUs
with AVX-512) against numpy.

Below 2**19 values the fit takes the radix selection, so most other tests never reach this
path. Edges must equal np.quantile's linear method bit for bit, the expected counts
np.histogram's, for inputs where the sample is right and where it misleads (the fallback).
Every float32 case runs as float64 too, beside cases only float64 can hold.
"""

import numpy as np
import pytest

import undertow as ut

N = (1 << 20) + 3


def _cases():
    rng = np.random.default_rng(5)
    normal = rng.standard_normal(N).astype(np.float32)
    with_missing = normal.copy()
    with_missing[::101] = np.nan
    with_missing[5::1009] = np.inf
    with_missing[7::1013] = -np.inf
    ties = np.floor(rng.uniform(0, 7, N)).astype(np.float32)
    spike = np.where(rng.uniform(size=N) < 0.6, np.float32(0.25), rng.uniform(size=N).astype(np.float32))
    return {
        "normal": normal,
        "uniform": rng.uniform(-3, 5, N).astype(np.float32),
        "sorted": np.sort(normal),
        "reverse sorted": np.sort(normal)[::-1].copy(),
        "missing values": with_missing,
        "heavy ties": ties,
        "spike": spike.astype(np.float32),
        "outliers": np.where(np.arange(N) % 50_000 == 0, np.float32(3e38), normal),
        # The float32 pass widens the intervals onto a grid of key codes: a narrow range away
        # from zero (fine grid), signed zeros and denormals at the quantiles, a heavy tail.
        "narrow off zero": (100 + rng.standard_normal(N) * 1e-4).astype(np.float32),
        "signed zeros": np.where(
            rng.uniform(size=N) < 0.3,
            np.where(rng.uniform(size=N) < 0.5, np.float32(-0.0), np.float32(0.0)),
            (rng.standard_normal(N) * 1e-42).astype(np.float32),
        ),
        "lognormal": rng.lognormal(0, 3, N).astype(np.float32),
        # The selection among the gathered keys: many equal keys in the bucket of a wanted
        # rank, and a key span so wide (1e-30 to 1e30) that its buckets are whole binades.
        "rounded": np.round(normal, 2).astype(np.float32),
        "far clusters": np.where(
            rng.uniform(size=N) < 0.5,
            (rng.uniform(1, 2, N) * 1e-30).astype(np.float32),
            (rng.uniform(1, 2, N) * 1e30).astype(np.float32),
        ),
    }


def _float64_cases():
    rng = np.random.default_rng(6)
    normal = rng.standard_normal(N)
    return {
        **{f"{name} (float64)": x.astype(np.float64) for name, x in _cases().items()},
        # Spacings float32 cannot hold: the codes and the gathered keys are float64's own.
        "below float32 spacing": 1.0 + normal * 1e-12,
        "float64 range": np.where(np.arange(N) % 7 == 0, normal * 1e300, normal * 1e-300),
        "subnormals": normal * 5e-320,
        "float64 outliers": np.where(np.arange(N) % 40_000 == 0, 1e308, normal),
    }


CASES = {**_cases(), **_float64_cases()}


@pytest.mark.parametrize("name", list(CASES))
def test_edges_and_counts_match_numpy(name):
    x = CASES[name]
    finite = x[np.isfinite(x)]
    edges = np.r_[-np.inf, np.unique(np.quantile(finite, np.linspace(0, 1, 11))[1:-1]), np.inf]
    ref = ut.Reference.fit({"x": x}, nan_policy="omit")
    np.testing.assert_array_equal(ref.edges("x"), edges)
    r = ut.psi(x, x[::-1].copy(), nan_policy="omit")
    np.testing.assert_array_equal(r.edges, edges)
    np.testing.assert_array_equal(r.expected_counts, np.histogram(finite, edges)[0])
    assert r.expected_missing == x.size - finite.size
