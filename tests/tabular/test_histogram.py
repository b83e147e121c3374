"""ut.histogram against numpy.histogram / numpy.histogram_bin_edges (the reference)."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import undertow as ut


def assert_matches_numpy(x, bins=10, range=None):
    try:
        want_counts = np.histogram(np.asarray(x), bins, range)[0]
        want_edges = np.histogram_bin_edges(np.asarray(x), bins, range)
    except ValueError:
        # numpy refuses this input: so must undertow
        with pytest.raises(ValueError):
            ut.histogram(x, bins=bins, range=range)
        return None, None
    counts, edges = ut.histogram(x, bins=bins, range=range)
    assert isinstance(counts, np.ndarray)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, want_counts)
    assert isinstance(edges, np.ndarray)
    assert edges.dtype == want_edges.dtype, (edges.dtype, want_edges.dtype)
    np.testing.assert_array_equal(edges, want_edges)
    return counts, edges


def test_hand_computed_last_bin_closed():
    counts, edges = ut.histogram(np.array([0.0, 1.0, 2.0, 3.0]), bins=3)
    np.testing.assert_array_equal(counts, [1, 1, 2])
    np.testing.assert_array_equal(edges, [0.0, 1.0, 2.0, 3.0])


def test_hand_computed_explicit_edges_ignore_outside():
    x = np.array([-5.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 7.0])
    counts, edges = ut.histogram(x, bins=np.array([0.0, 1.0, 2.0]))
    # [0, 1) -> 0.0, 0.5 ; [1, 2] -> 1.0, 1.5, 2.0, 2.0 ; -5 and 7 ignored
    np.testing.assert_array_equal(counts, [2, 4])
    np.testing.assert_array_equal(edges, [0.0, 1.0, 2.0])


@pytest.mark.parametrize("bins", [1, 2, 3, 7, 10, 64, 1000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_int_bins_match_numpy(bins, dtype):
    rng = np.random.default_rng(bins)
    x = rng.normal(0, 3, 5000).astype(dtype)
    assert_matches_numpy(x, bins)


def test_float16_small_case_matches_numpy():
    # numpy computes float16 edges for float16 data; counts follow those edges
    x = np.array([1.057, 0.786, -4.645, 2.957, 0.4946], dtype=np.float16)
    counts, edges = assert_matches_numpy(x, 4)
    assert edges.dtype == np.float16
    np.testing.assert_array_equal(counts, [1, 0, 3, 1])


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint16])
def test_integer_input_matches_numpy(dtype):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 100, 3000).astype(dtype)
    assert_matches_numpy(x, 10)
    assert_matches_numpy(x, 7, range=(10, 60))
    assert_matches_numpy(x, np.array([0.0, 5.5, 50.0, 99.0]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_range_matches_numpy(dtype):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 20000).astype(dtype)
    assert_matches_numpy(x, 10, range=(-1.0, 1.0))
    assert_matches_numpy(x, 13, range=(0.1, 0.9))
    assert_matches_numpy(x, 5, range=(-10.0, 10.0))


def test_float32_data_with_numpy_float64_range():
    # numpy keeps float64 edges here, and float32(0.7) < 0.7 falls outside the range
    x = np.array([0.7, 0.75, 0.8, 0.9, 0.85], dtype=np.float32)
    counts, edges = assert_matches_numpy(x, 2, range=(np.float64(0.7), np.float64(0.9)))
    assert edges.dtype == np.float64
    assert counts.sum() == 4
    assert_matches_numpy(x, 2, range=(0.7, 0.9))


def test_nan_and_inf_ignored_when_range_given():
    x = np.array([np.nan, 0.5, np.inf, -np.inf, 1.5, 2.0, np.nan])
    counts, _ = assert_matches_numpy(x, 2, range=(0.0, 2.0))
    np.testing.assert_array_equal(counts, [1, 2])


def test_constant_input_widens_range_like_numpy():
    x = np.full(10, 2.0)
    _, edges = assert_matches_numpy(x, 10)
    assert edges[0] == 1.5 and edges[-1] == 2.5


def test_range_with_equal_ends_like_numpy():
    x = np.array([1.0, 3.0, 3.0, 4.0])
    assert_matches_numpy(x, 4, range=(3.0, 3.0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_explicit_edge_array_matches_numpy(dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, 10000).astype(dtype)
    assert_matches_numpy(x, np.array([-2.0, -0.3, 0.0, 0.1, 0.7, 3.0]))
    assert_matches_numpy(x, np.linspace(-1, 1, 11))


def test_explicit_integer_edges_keep_numpy_dtype():
    x = np.array([0.5, 1.5, 2.5, 2.9, 3.0])
    assert_matches_numpy(x, np.array([0, 1, 2, 3]))


def test_polars_series_accepted():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, 5000)
    for s in (pl.Series("x", x), pl.Series("x", x.astype(np.float32))):
        counts, edges = ut.histogram(s, bins=12)
        want_counts, want_edges = np.histogram(s.to_numpy(), 12)
        np.testing.assert_array_equal(counts, want_counts)
        np.testing.assert_array_equal(edges, want_edges)


def test_non_contiguous_and_big_endian():
    rng = np.random.default_rng(5)
    base = rng.normal(0, 1, 30000)
    strided = base[::3]
    c1, e1 = assert_matches_numpy(strided, 11)
    c2, e2 = ut.histogram(np.ascontiguousarray(strided), 11)
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(e1, e2)
    big = base.astype(">f8")
    c3, e3 = ut.histogram(big, 11)
    want_c, want_e = np.histogram(base, 11)
    np.testing.assert_array_equal(c3, want_c)
    np.testing.assert_array_equal(e3, want_e)


def test_large_input_matches_numpy():
    rng = np.random.default_rng(6)
    x = rng.standard_t(3, 1_500_000)
    assert_matches_numpy(x, 50)
    assert_matches_numpy(x.astype(np.float32), 33, range=(-2.0, 2.5))


def test_nan_without_range_raises_like_numpy():
    with pytest.raises(ValueError):
        np.histogram(np.array([1.0, np.nan]), 3)  # the reference behaviour
    with pytest.raises(ValueError):
        ut.histogram(np.array([1.0, np.nan, 2.0]), 3)
    with pytest.raises(ValueError):
        ut.histogram(np.array([1.0, np.inf, 2.0]), 3)
    with pytest.raises(ValueError):
        ut.histogram(np.array([1.0, -np.inf, 2.0], dtype=np.float32), 3)


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 2000),
    bins=st.integers(1, 60),
    dtype=st.sampled_from([np.float64, np.float32, np.int64]),
    kind=st.sampled_from(["normal", "ties", "scales", "lognormal"]),
    use_range=st.booleans(),
    lo=st.floats(-3, 3),
    width=st.just(0.0) | st.floats(1e-3, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_histogram_property_matches_numpy(n, bins, dtype, kind, use_range, lo, width, seed):
    rng = np.random.default_rng(seed)
    if kind == "normal":
        x = rng.normal(0, 2, n)
    elif kind == "ties":
        x = rng.integers(-3, 4, n).astype(np.float64)
    elif kind == "scales":
        x = rng.normal(0, 1, n) * 10.0 ** rng.integers(-5, 3, n)
    else:
        x = rng.lognormal(0, 1.5, n)
    if dtype == np.int64:
        x = np.round(x * 10)
    x = x.astype(dtype)
    rng_arg = (lo, lo + width) if use_range else None
    assert_matches_numpy(x, bins, rng_arg)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 500),
    n_edges=st.integers(2, 30),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_histogram_explicit_edges_property(n, n_edges, seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n).astype(dtype)
    edges = np.unique(np.round(rng.normal(0, 1.2, n_edges), 2))
    if edges.size < 2:
        edges = np.array([-1.0, 1.0])
    # put some data exactly on the edges
    x[: min(n, edges.size)] = edges[: min(n, edges.size)].astype(dtype)
    assert_matches_numpy(x, edges)
