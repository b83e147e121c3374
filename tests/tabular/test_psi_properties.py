"""Hypothesis: every field of ut.psi equals the independent numpy reference, plus invariants."""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reference_impl import (
    assert_psi_matches,
    assert_same_result,
    make_sample,
    psi_reference,
    sprinkle_missing,
)

import undertow as ut

KINDS = ["normal", "ties", "lognormal", "scales", "constant", "two", "narrow"]


@st.composite
def psi_case(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    n_e = draw(st.integers(1, 2000))
    n_a = draw(st.integers(1, 2000))
    kind_e = draw(st.sampled_from(KINDS))
    kind_a = draw(st.sampled_from([*KINDS, "same"]))
    expected = make_sample(rng, n_e, kind_e, np.float64)
    if kind_a == "same":
        actual = expected[rng.integers(0, n_e, n_a)]
    else:
        actual = make_sample(rng, n_a, kind_a, np.float64)
        actual = actual * draw(st.sampled_from([1.0, 1.5, -1.0])) + draw(st.sampled_from([0.0, 0.25, 3.0]))
    expected = expected.astype(dtype)
    actual = actual.astype(dtype)
    nan_policy = draw(st.sampled_from(["raise", "omit", "bin"]))
    if nan_policy != "raise":
        # keep at least one finite value on each side
        e_nan = draw(st.integers(0, max(0, n_e - 1)).map(lambda k: min(k, 50)))
        a_nan = draw(st.integers(0, max(0, n_a - 1)).map(lambda k: min(k, 50)))
        e_split = draw(st.integers(0, 2))
        a_split = draw(st.integers(0, 2))
        expected = sprinkle_missing(
            rng, expected, e_nan - e_nan // 3 * (e_split > 0), e_nan // 3 * (e_split > 0)
        )
        actual = sprinkle_missing(
            rng, actual, a_nan - a_nan // 3 * (a_split > 0), 0, a_nan // 3 * (a_split > 0)
        )
    bins = draw(st.integers(2, 40))
    binning = draw(st.sampled_from(["quantile", "uniform"]))
    eps = draw(st.sampled_from([1e-4, 1e-6, 0.01]))
    return expected, actual, bins, binning, eps, nan_policy


@settings(max_examples=100, deadline=None)
@given(psi_case())
def test_psi_matches_reference(case):
    expected, actual, bins, binning, eps, nan_policy = case
    got = ut.psi(expected, actual, bins=bins, binning=binning, eps=eps, nan_policy=nan_policy)
    want = psi_reference(expected, actual, bins=bins, binning=binning, eps=eps, nan_policy=nan_policy)
    assert_psi_matches(got, want)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 1500),
    n_edges=st.integers(3, 25),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float64, np.float32]),
    nan_policy=st.sampled_from(["omit", "bin"]),
)
def test_psi_explicit_edges_matches_reference(n, n_edges, seed, dtype, nan_policy):
    rng = np.random.default_rng(seed)
    edges = np.unique(np.round(rng.normal(0, 1.5, n_edges), 3))
    assume(edges.size >= 3)
    expected = rng.normal(0, 1, n).astype(dtype)
    actual = rng.normal(0.2, 1.3, n + 7).astype(dtype)
    # values exactly on the edges
    k = min(n, edges.size)
    actual[:k] = edges[:k]
    actual = sprinkle_missing(rng, actual, 2, 1, 1)
    got = ut.psi(expected, actual, binning=edges, nan_policy=nan_policy)
    want = psi_reference(expected, actual, binning=edges, nan_policy=nan_policy)
    assert_psi_matches(got, want)


finite_f64 = st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False)
finite_f32 = st.floats(-(2.0**100), 2.0**100, allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    dtype=st.sampled_from([np.float64, np.float32]),
    bins=st.integers(2, 12),
    binning=st.sampled_from(["quantile", "uniform"]),
)
def test_psi_adversarial_floats_match_reference(data, dtype, bins, binning):
    """Small arrays of arbitrary finite floats: subnormals, -0.0, huge magnitudes."""
    elements = finite_f64 if dtype == np.float64 else finite_f32
    expected = data.draw(hnp.arrays(dtype, st.integers(1, 30), elements=elements))
    actual = data.draw(hnp.arrays(dtype, st.integers(1, 30), elements=elements))
    e64 = expected.astype(np.float64)
    if binning == "uniform":
        # numpy's linspace itself overflows when max - min is not finite
        assume(np.isfinite(e64.max() - e64.min()))
    got = ut.psi(expected, actual, bins=bins, binning=binning)
    want = psi_reference(expected, actual, bins=bins, binning=binning)
    assert_psi_matches(got, want)


@settings(max_examples=50, deadline=None)
@given(case=psi_case(), perm_seed=st.integers(0, 2**32 - 1))
def test_psi_invariants(case, perm_seed):
    expected, actual, bins, binning, eps, nan_policy = case
    r = ut.psi(expected, actual, bins=bins, binning=binning, eps=eps, nan_policy=nan_policy)
    # non-negative (every term (a-e)ln(a/e) >= 0)
    assert r.value >= 0.0
    # proportions sum to one
    assert abs(r.expected_proportions.sum() - 1.0) < 1e-9
    assert abs(r.actual_proportions.sum() - 1.0) < 1e-9
    # the order of the rows does not matter, bit for bit
    rng = np.random.default_rng(perm_seed)
    r2 = ut.psi(
        expected[rng.permutation(expected.size)],
        actual[rng.permutation(actual.size)],
        bins=bins,
        binning=binning,
        eps=eps,
        nan_policy=nan_policy,
    )
    assert_same_result(r, r2)
    # a sample compared with itself has zero drift
    r3 = ut.psi(expected, expected, bins=bins, binning=binning, eps=eps, nan_policy=nan_policy)
    assert r3.value == 0.0
    assert r3.status == "stable"


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 2000),
    seed=st.integers(0, 2**32 - 1),
    bins=st.integers(2, 40),
    binning=st.sampled_from(["quantile", "uniform"]),
)
def test_float32_same_as_its_float64_values(n, seed, bins, binning):
    rng = np.random.default_rng(seed)
    e = rng.normal(0, 1, n).astype(np.float32)
    a = (rng.normal(0, 1, n) * 1.2).astype(np.float32)
    r32 = ut.psi(e, a, bins=bins, binning=binning)
    r64 = ut.psi(e.astype(np.float64), a.astype(np.float64), bins=bins, binning=binning)
    assert_same_result(r32, r64)
