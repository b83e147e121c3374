"""Bad values raise ValueError, bad dtypes TypeError, and the message names the argument."""

import numpy as np
import polars as pl
import pytest

import undertow as ut

GOOD = np.random.default_rng(0).normal(size=200)
GOOD2 = np.random.default_rng(1).normal(size=150)

BAD_DTYPES = {
    "complex": np.array([1 + 2j, 3 + 0j, 0.5j]),
    "str": np.array(["1.0", "2.0", "3.0"]),
    "bytes": np.array([b"a", b"b"]),
    "object-str": np.array(["a", "b", "c"], dtype=object),
    "object-mixed": np.array([1.0, "b", None], dtype=object),
    "object-objects": np.array([object(), object()], dtype=object),
}


def test_undertow_error_subclasses_value_error():
    assert issubclass(ut.UndertowError, ValueError)


# --------------------------------------------------------------------------------------------
# dtypes -> TypeError naming the argument


@pytest.mark.parametrize("name", list(BAD_DTYPES))
def test_psi_bad_dtype_expected(name):
    with pytest.raises(TypeError, match="expected"):
        ut.psi(BAD_DTYPES[name], GOOD)


@pytest.mark.parametrize("name", list(BAD_DTYPES))
def test_psi_bad_dtype_actual(name):
    with pytest.raises(TypeError, match="actual"):
        ut.psi(GOOD, BAD_DTYPES[name])


@pytest.mark.parametrize("name", list(BAD_DTYPES))
def test_histogram_bad_dtype(name):
    with pytest.raises(TypeError, match=r"\bx\b"):
        ut.histogram(BAD_DTYPES[name])


def test_fit_complex_table_is_type_error():
    with pytest.raises(TypeError):
        ut.Reference.fit(np.ones((5, 2), dtype=np.complex128))
    with pytest.raises(TypeError):
        ut.Reference.fit({"a": np.array([1j, 2j])})


# --------------------------------------------------------------------------------------------
# shapes and sizes


def test_psi_rejects_2d_and_3d():
    with pytest.raises(ValueError, match="expected"):
        ut.psi(np.ones((10, 2)), GOOD)
    with pytest.raises(ValueError, match="actual"):
        ut.psi(GOOD, np.ones((10, 2)))
    with pytest.raises(ValueError, match="expected"):
        ut.psi(np.ones((4, 3, 2)), GOOD)
    with pytest.raises(ValueError, match="actual"):
        ut.psi(GOOD, np.ones((4, 3, 2)))


def test_fit_rejects_3d_table():
    with pytest.raises(ValueError, match="table"):
        ut.Reference.fit(np.ones((4, 3, 2)))


def test_fit_rejects_non_table_type():
    with pytest.raises((TypeError, ValueError), match="table"):
        ut.Reference.fit("not a table")


def test_psi_rejects_empty_arrays():
    with pytest.raises(ValueError, match="expected"):
        ut.psi(np.array([], dtype=np.float64), GOOD)
    with pytest.raises(ValueError, match="actual"):
        ut.psi(GOOD, np.array([], dtype=np.float64))
    with pytest.raises(ValueError, match="expected"):
        ut.psi(np.array([], dtype=np.float32), GOOD.astype(np.float32))


def test_fit_rejects_empty_table():
    with pytest.raises(ValueError):
        ut.Reference.fit(np.empty((0, 2)))
    with pytest.raises(ValueError):
        ut.Reference.fit({})


# --------------------------------------------------------------------------------------------
# bins, binning, eps, nan_policy, thresholds


@pytest.mark.parametrize("bins", [1, 0, -3])
def test_psi_bins_below_two(bins):
    with pytest.raises(ValueError, match="bins"):
        ut.psi(GOOD, GOOD2, bins=bins)
    with pytest.raises(ValueError, match="bins"):
        ut.Reference.fit(GOOD.reshape(-1, 1), bins=bins)


@pytest.mark.parametrize("bins", [2.5, "10", None])
def test_psi_bins_not_int(bins):
    with pytest.raises((TypeError, ValueError), match="bins"):
        ut.psi(GOOD, GOOD2, bins=bins)


@pytest.mark.parametrize("bins", [0, -1])
def test_histogram_bins_not_positive(bins):
    with pytest.raises(ValueError, match="bins"):
        ut.histogram(GOOD, bins=bins)


@pytest.mark.parametrize("bins", [2.5, None])
def test_histogram_bins_not_int(bins):
    with pytest.raises((TypeError, ValueError), match="bins"):
        ut.histogram(GOOD, bins=bins)


def test_histogram_bins_array_not_increasing():
    with pytest.raises(ValueError, match="bins"):
        ut.histogram(GOOD, bins=np.array([0.0, 2.0, 1.0]))


@pytest.mark.parametrize("rng_arg", [(0, np.inf), (np.nan, 1), (-np.inf, 0), (0, np.nan)])
def test_histogram_non_finite_range(rng_arg):
    with pytest.raises(ValueError, match="range"):
        ut.histogram(GOOD, bins=5, range=rng_arg)


def test_histogram_range_min_greater_than_max():
    with pytest.raises(ValueError, match="range"):
        ut.histogram(GOOD, bins=5, range=(2.0, 1.0))


def test_histogram_nan_input_without_range():
    with pytest.raises(ValueError):
        ut.histogram(np.array([0.0, np.nan]), bins=5)


@pytest.mark.parametrize("binning", ["quantiles", "equal", "", "QUANTILE?"])
def test_unknown_binning_string(binning):
    with pytest.raises(ValueError, match="binning"):
        ut.psi(GOOD, GOOD2, binning=binning)
    with pytest.raises(ValueError, match="binning"):
        ut.Reference.fit(GOOD.reshape(-1, 1), binning=binning)


@pytest.mark.parametrize(
    "edges",
    [
        np.array([0.0, 1.0]),  # too short: one bin
        np.array([1.0]),
        np.array([0.0, 2.0, 1.0, 3.0]),  # not increasing
        np.array([0.0, 1.0, 1.0, 3.0]),  # not strictly increasing
        np.array([3.0, 2.0, 1.0]),
        np.array([0.0, np.nan, 2.0]),
    ],
)
def test_bad_explicit_edges(edges):
    # the message names the argument holding the edges
    with pytest.raises(ValueError, match="bin"):
        ut.psi(GOOD, GOOD2, binning=edges)
    with pytest.raises(ValueError, match="bin"):
        ut.Reference.fit(GOOD.reshape(-1, 1), binning=edges)


@pytest.mark.parametrize("eps", [0.0, -1e-4, 1.0, 2.0, np.nan])
def test_bad_eps(eps):
    with pytest.raises(ValueError, match="eps"):
        ut.psi(GOOD, GOOD2, eps=eps)
    with pytest.raises(ValueError, match="eps"):
        ut.Reference.fit(GOOD.reshape(-1, 1), eps=eps)


@pytest.mark.parametrize("policy", ["ignore", "", "RAISE", "drop"])
def test_unknown_nan_policy(policy):
    with pytest.raises(ValueError, match="nan_policy"):
        ut.psi(GOOD, GOOD2, nan_policy=policy)
    with pytest.raises(ValueError, match="nan_policy"):
        ut.Reference.fit(GOOD.reshape(-1, 1), nan_policy=policy)


@pytest.mark.parametrize("thresholds", [(0.3, 0.1), (np.nan, 0.2), (0.1, np.nan)])
def test_bad_thresholds(thresholds):
    with pytest.raises(ValueError, match="thresholds"):
        ut.psi(GOOD, GOOD2, thresholds=thresholds)


# --------------------------------------------------------------------------------------------
# missing values that leave nothing to fit


def test_all_nan_expected_with_omit():
    with pytest.raises(ValueError, match="expected"):
        ut.psi(np.full(10, np.nan), GOOD, nan_policy="omit")
    with pytest.raises(ValueError, match="expected"):
        ut.psi(np.array([np.inf, -np.inf, np.nan], dtype=np.float32), GOOD, nan_policy="omit")


def test_all_nan_reference_column_with_omit():
    with pytest.raises(ValueError):
        ut.Reference.fit({"a": np.full(10, np.nan), "b": GOOD[:10]}, nan_policy="omit")


# --------------------------------------------------------------------------------------------
# tables


def test_column_sets_differ():
    ref = ut.Reference.fit(pl.DataFrame({"price": GOOD, "quantity": GOOD}))
    with pytest.raises(ValueError, match="quantity"):
        ref.psi(pl.DataFrame({"price": GOOD2}))
    with pytest.raises(ValueError, match="extra_col"):
        ref.psi(pl.DataFrame({"price": GOOD2, "quantity": GOOD2, "extra_col": GOOD2}))
    with pytest.raises(ValueError, match=r"quantity|renamed"):
        ref.psi(pl.DataFrame({"price": GOOD2, "renamed": GOOD2}))


def test_bad_state_bytes():
    with pytest.raises(ValueError):
        ut.Reference.from_bytes(b"\x00\x01garbage")
    with pytest.raises(ValueError):
        ut.PsiAccumulator.from_bytes(b"\x00\x01garbage")


# --------------------------------------------------------------------------------------------
# accepted unusual layouts (compared with the contiguous native float64 version)


def test_non_contiguous_big_endian_float16_int_accepted_in_psi():
    base = np.random.default_rng(3).normal(size=3000)
    ref = ut.psi(base[::3].copy(), base[1::3].copy())
    got = ut.psi(base[::3], base[1::3])
    assert got.value == ref.value
    np.testing.assert_array_equal(got.actual_counts, ref.actual_counts)
    be = ut.psi(base.astype(">f8")[::3], base.astype(">f8")[1::3])
    assert be.value == ref.value
    np.testing.assert_array_equal(be.expected_counts, ref.expected_counts)
    h = (base * 4).astype(np.float16)
    r16 = ut.psi(h[::2], h[1::2])
    r64 = ut.psi(h[::2].astype(np.float64), h[1::2].astype(np.float64))
    assert r16.value == r64.value
    np.testing.assert_array_equal(r16.edges, r64.edges)
    i = (base * 10).astype(np.int32)
    ri = ut.psi(i[::2], i[1::2])
    rf = ut.psi(i[::2].astype(np.float64), i[1::2].astype(np.float64))
    assert ri.value == rf.value
    np.testing.assert_array_equal(ri.expected_counts, rf.expected_counts)
