"""ut.psi against the independent numpy reference and hand-computed values."""

import math
import zlib

import numpy as np
import pytest
from reference_impl import (
    assert_psi_matches,
    assert_same_result,
    make_sample,
    psi_reference,
    sprinkle_missing,
    status_reference,
)

import undertow as ut

EPS = 1e-4


def check(expected, actual, **kw):
    got = ut.psi(expected, actual, **kw)
    want = psi_reference(expected, actual, **kw)
    assert_psi_matches(got, want)
    return got, want


# --------------------------------------------------------------------------------------------
# hand-computed values


def test_hand_computed_two_bins_explicit_edges():
    expected = np.array([0.0] * 50 + [1.0] * 50)
    actual = np.array([0.0] * 25 + [1.0] * 75)
    r = ut.psi(expected, actual, binning=np.array([-1.0, 0.5, 2.0]))
    want = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert r.value == pytest.approx(want, rel=1e-12)
    np.testing.assert_array_equal(r.edges, [-np.inf, 0.5, np.inf])
    np.testing.assert_array_equal(r.expected_counts, [50, 50])
    np.testing.assert_array_equal(r.actual_counts, [25, 75])
    np.testing.assert_array_equal(r.expected_proportions, [0.5, 0.5])
    np.testing.assert_array_equal(r.actual_proportions, [0.25, 0.75])
    assert want > 0.25
    assert r.status == "significant"
    assert r.expected_missing == 0 and r.actual_missing == 0


def test_identical_inputs_give_exactly_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(size=5000)
    for binning in ("quantile", "uniform"):
        r = ut.psi(x, x, binning=binning)
        assert r.value == 0.0
        assert r.status == "stable"
        np.testing.assert_array_equal(r.expected_counts, r.actual_counts)


def test_empty_actual_bin_floored_at_eps_hand_computed():
    expected = np.array([0.0] * 50 + [1.0] * 50)
    actual = np.array([1.0] * 10)
    r = ut.psi(expected, actual, binning=np.array([-1.0, 0.5, 2.0]))
    want = (EPS - 0.5) * math.log(EPS / 0.5) + (1.0 - 0.5) * math.log(1.0 / 0.5)
    assert r.value == pytest.approx(want, rel=1e-12)
    # proportions are reported unfloored
    np.testing.assert_array_equal(r.actual_proportions, [0.0, 1.0])
    assert r.status == "significant"


def test_empty_expected_bin_floored_at_eps_hand_computed():
    expected = np.array([0.0] * 40 + [5.0] * 60)
    actual = np.array([0.0] * 30 + [2.0] * 20 + [5.0] * 50)
    r = ut.psi(expected, actual, binning=np.array([-1.0, 1.0, 3.0, 9.0]))
    np.testing.assert_array_equal(r.expected_counts, [40, 0, 60])
    np.testing.assert_array_equal(r.actual_counts, [30, 20, 50])
    np.testing.assert_array_equal(r.expected_proportions, [0.4, 0.0, 0.6])
    want = (
        (0.3 - 0.4) * math.log(0.3 / 0.4)
        + (0.2 - EPS) * math.log(0.2 / EPS)
        + (0.5 - 0.6) * math.log(0.5 / 0.6)
    )
    assert r.value == pytest.approx(want, rel=1e-12)
    check(expected, actual, binning=np.array([-1.0, 1.0, 3.0, 9.0]))


def test_eps_changes_the_floor():
    expected = np.array([0.0] * 50 + [1.0] * 50)
    actual = np.array([1.0] * 10)
    for eps in (1e-6, 1e-3, 0.05):
        r = ut.psi(expected, actual, binning=np.array([-1.0, 0.5, 2.0]), eps=eps)
        want = (eps - 0.5) * math.log(eps / 0.5) + 0.5 * math.log(2.0)
        assert r.value == pytest.approx(want, rel=1e-12)


# --------------------------------------------------------------------------------------------
# named cases


def test_constant_reference_actual_equal_is_zero():
    expected = np.full(200, 7.5)
    r, _ = check(expected, np.full(50, 7.5))
    assert r.value == 0.0
    assert r.status == "stable"
    np.testing.assert_array_equal(r.edges, [-np.inf, 7.5, np.nextafter(7.5, np.inf), np.inf])
    np.testing.assert_array_equal(r.expected_counts, [0, 200, 0])


@pytest.mark.parametrize("binning", ["quantile", "uniform"])
@pytest.mark.parametrize("shift, hot_bin", [(1.0, 2), (-1.0, 0)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_constant_reference_shift_is_significant(binning, shift, hot_bin, dtype):
    expected = np.full(100, 7.5, dtype=dtype)
    actual = np.full(100, 7.5 + shift, dtype=dtype)
    r, _ = check(expected, actual, binning=binning)
    counts = [0, 0, 0]
    counts[hot_bin] = 100
    np.testing.assert_array_equal(r.actual_counts, counts)
    # two bins move from eps to 1 and from 1 to eps
    want = 2 * (1 - EPS) * math.log(1 / EPS)
    assert r.value == pytest.approx(want, rel=1e-12)
    assert r.value > 0.25
    assert r.status == "significant"


def test_constant_reference_small_rise_counts_as_drift():
    expected = np.full(100, 1.0)
    actual = np.full(100, np.nextafter(1.0, 2.0))
    r, _ = check(expected, actual)
    np.testing.assert_array_equal(r.actual_counts, [0, 0, 100])
    assert r.status == "significant"


def test_constant_reference_zero_value():
    r, _ = check(np.zeros(30), np.array([0.0, -0.0, 1e-300, -1e-300]))
    np.testing.assert_array_equal(r.actual_counts, [1, 2, 1])


def test_two_valued_reference_hand_computed():
    expected = np.array([0.0] * 50 + [1.0] * 50)
    actual = np.array([0.0] * 20 + [1.0] * 80)
    r, _ = check(expected, actual, bins=10)
    # quantiles 0.1..0.9 of fifty 0s and fifty 1s: 0 (x4), 0.5, 1 (x4)
    np.testing.assert_array_equal(r.edges, [-np.inf, 0.0, 0.5, 1.0, np.inf])
    np.testing.assert_array_equal(r.expected_counts, [0, 50, 0, 50])
    np.testing.assert_array_equal(r.actual_counts, [0, 20, 0, 80])
    want = (0.2 - 0.5) * math.log(0.2 / 0.5) + (0.8 - 0.5) * math.log(0.8 / 0.5)
    assert r.value == pytest.approx(want, rel=1e-12)
    check(expected, actual, bins=10, binning="uniform")


def test_every_actual_value_above_reference_max():
    rng = np.random.default_rng(1)
    expected = rng.normal(size=1000)
    actual = expected.max() + 1.0 + rng.random(500)
    r, _ = check(expected, actual)
    assert r.value > 1.0
    assert r.status == "significant"
    np.testing.assert_array_equal(r.actual_counts, [0] * 9 + [500])


def test_every_actual_value_below_reference_min_uniform():
    rng = np.random.default_rng(2)
    expected = rng.random(1000)
    actual = -5.0 - rng.random(300)
    r, _ = check(expected, actual, binning="uniform", bins=5)
    assert r.value > 1.0
    np.testing.assert_array_equal(r.actual_counts, [300, 0, 0, 0, 0])


def test_reference_max_lands_in_last_bin_and_min_in_first():
    expected = np.arange(10.0)
    r, _ = check(expected, np.array([0.0, 9.0]), binning="uniform", bins=3)
    np.testing.assert_array_equal(r.edges, [-np.inf, 3.0, 6.0, np.inf])
    np.testing.assert_array_equal(r.actual_counts, [1, 0, 1])


def test_ties_on_edges_go_right():
    expected = np.array([1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 4.0, 5.0])
    actual = np.array([2.0, 2.0, 3.0, 5.0, 5.0])
    check(expected, actual, bins=4)
    check(expected, actual, bins=4, binning="uniform")
    r, _ = check(expected, actual, binning=np.array([0.0, 2.0, 3.0, 6.0]))
    np.testing.assert_array_equal(r.expected_counts, [1, 4, 3])
    np.testing.assert_array_equal(r.actual_counts, [0, 2, 3])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("binning", ["quantile", "uniform"])
@pytest.mark.parametrize("bins", [2, 3, 10, 37, 100])
def test_heavy_ties_match_reference(dtype, binning, bins):
    rng = np.random.default_rng(bins)
    expected = rng.poisson(2.0, 5000).astype(dtype)
    actual = rng.poisson(2.5, 3000).astype(dtype)
    check(expected, actual, bins=bins, binning=binning)


# --------------------------------------------------------------------------------------------
# binning modes, dtypes


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("binning", ["quantile", "uniform"])
@pytest.mark.parametrize("kind", ["normal", "lognormal", "scales", "narrow", "ties"])
def test_distributions_match_reference(dtype, binning, kind):
    rng = np.random.default_rng(zlib.crc32(f"{kind}-{binning}-{dtype.__name__}".encode()))
    expected = make_sample(rng, 4000, kind, dtype)
    actual = (make_sample(rng, 3000, kind, np.float64) * 1.1 + 0.05).astype(dtype)
    check(expected, actual, bins=10, binning=binning)
    check(expected, actual, bins=23, binning=binning)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_explicit_edges_match_reference(dtype):
    rng = np.random.default_rng(3)
    expected = rng.normal(size=4000).astype(dtype)
    actual = rng.normal(0.3, 1.2, size=2000).astype(dtype)
    edges = np.array([-10.0, -1.0, -0.25, 0.0, 0.1, 0.75, 2.0, 10.0])
    r, _ = check(expected, actual, binning=edges)
    np.testing.assert_array_equal(r.edges, np.r_[-np.inf, edges[1:-1], np.inf])
    # the bins argument is ignored with explicit edges
    r2 = ut.psi(expected, actual, bins=3, binning=edges)
    assert_same_result(r, r2)


def test_explicit_edges_list_and_outer_values_counted():
    expected = np.array([-100.0, 0.0, 1.0, 2.0, 100.0])
    actual = np.array([-1e9, 1e9, 1.5])
    r, _ = check(expected, actual, binning=[0.0, 1.0, 2.0])
    # interior edge 1.0 only: (-inf, 1) and [1, inf); outer edges 0 and 2 are open
    np.testing.assert_array_equal(r.expected_counts, [2, 3])
    np.testing.assert_array_equal(r.actual_counts, [1, 2])


def test_explicit_edges_on_constant_reference_not_special_cased():
    expected = np.full(20, 1.0)
    r, _ = check(expected, np.array([0.5, 1.5, 2.5]), binning=np.array([0.0, 1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(r.edges, [-np.inf, 1.0, 2.0, np.inf])


def test_float32_equals_float64_of_the_same_values():
    rng = np.random.default_rng(4)
    e32 = rng.normal(size=20000).astype(np.float32)
    a32 = rng.normal(0.1, 1, size=10000).astype(np.float32)
    for binning in ("quantile", "uniform"):
        r32, _ = check(e32, a32, binning=binning, bins=17)
        r64 = ut.psi(e32.astype(np.float64), a32.astype(np.float64), binning=binning, bins=17)
        assert_same_result(r32, r64)


def test_float32_actual_values_near_float64_edges():
    # edges that are not representable in float32: values straddling them must be binned by
    # their exact float64 value
    expected = np.array([0.1, 0.2, 0.30000000000000004, 0.7], dtype=np.float64)
    interior = np.array([0.1, 0.2, 0.3])
    e = np.r_[-1.0, interior, 1.0]
    a = np.array(
        [
            np.float32(0.1),
            np.nextafter(np.float32(0.1), np.float32(0)),
            np.float32(0.3),
            np.nextafter(np.float32(0.3), np.float32(0)),
            np.float32(0.2),
        ],
        dtype=np.float32,
    )
    check(expected, a, binning=e)
    check(expected.astype(np.float32), a, binning=e)
    check(expected.astype(np.float32), a, bins=3)


def test_mixed_dtypes_between_sides():
    rng = np.random.default_rng(5)
    expected = rng.normal(size=3000)
    actual = rng.normal(size=2000).astype(np.float32)
    check(expected, actual)
    check(expected.astype(np.float32), actual.astype(np.float64), binning="uniform")


def test_large_input_uses_exact_quantiles():
    rng = np.random.default_rng(6)
    # narrow range: many values share the leading bits, forcing refinement in a radix select
    expected = 1.0 + rng.random(1_000_000) * 1e-4
    actual = 1.0 + rng.random(500_000) * 1.2e-4
    check(expected, actual, bins=20)
    # heavy ties at scale
    e2 = rng.integers(0, 3, 1_000_000).astype(np.float64)
    check(e2, e2[::-1].copy(), bins=10)
    check(e2.astype(np.float32), rng.integers(0, 4, 300_000).astype(np.float32), bins=7)


def test_large_float32_quantiles():
    rng = np.random.default_rng(7)
    expected = rng.standard_cauchy(1_000_000).astype(np.float32)
    actual = rng.standard_cauchy(400_000).astype(np.float32)
    check(expected, actual, bins=40)
    check(expected, actual, bins=40, binning="uniform")


# --------------------------------------------------------------------------------------------
# missing values


def _with_missing(seed=8, dtype=np.float64):
    rng = np.random.default_rng(seed)
    expected = sprinkle_missing(rng, rng.normal(size=1000).astype(dtype), 3, 2, 1)
    actual = sprinkle_missing(rng, rng.normal(0.2, 1, size=800).astype(dtype), 10, 0, 4)
    return expected, actual


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_policy_raise_names_side_and_count(dtype):
    rng = np.random.default_rng(9)
    clean = rng.normal(size=100).astype(dtype)
    bad = clean.copy()
    bad[[3, 50, 70]] = [np.nan, np.inf, -np.inf]
    with pytest.raises(ValueError, match="expected") as info:
        ut.psi(bad, clean)
    assert "3" in str(info.value)
    bad2 = clean.copy()
    bad2[[1, 2, 4, 5, 6, 7, 8]] = np.nan
    with pytest.raises(ValueError, match="actual") as info:
        ut.psi(clean, bad2, nan_policy="raise")
    assert "7" in str(info.value)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("binning", ["quantile", "uniform"])
def test_nan_policy_omit(dtype, binning):
    expected, actual = _with_missing(dtype=dtype)
    r, _ = check(expected, actual, nan_policy="omit", binning=binning)
    assert r.expected_counts.sum() == 1000 - 6
    assert r.actual_counts.sum() == 800 - 14
    assert len(r.expected_counts) == len(r.edges) - 1
    # omitting is the same as dropping them by hand
    clean = ut.psi(expected[np.isfinite(expected)], actual[np.isfinite(actual)], binning=binning)
    assert clean.value == r.value
    np.testing.assert_array_equal(clean.actual_counts, r.actual_counts)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("binning", ["quantile", "uniform"])
def test_nan_policy_bin(dtype, binning):
    expected, actual = _with_missing(dtype=dtype)
    r, _ = check(expected, actual, nan_policy="bin", binning=binning)
    assert len(r.expected_counts) == len(r.edges)  # one extra trailing missing bin
    assert r.expected_counts[-1] == 6 and r.expected_missing == 6
    assert r.actual_counts[-1] == 14 and r.actual_missing == 14
    assert r.expected_counts.sum() == 1000


def test_nan_policy_bin_rising_missing_rate_is_drift():
    rng = np.random.default_rng(10)
    x = rng.normal(size=2000)
    y = x.copy()
    y[:1000] = np.nan
    r, _ = check(x, y, nan_policy="bin")
    assert r.expected_counts[-1] == 0
    assert r.actual_counts[-1] == 1000
    assert r.status == "significant"


def test_nan_policy_bin_without_missing_values():
    rng = np.random.default_rng(11)
    x = rng.normal(size=500)
    r, _ = check(x, x + 0.1, nan_policy="bin")
    assert r.expected_counts[-1] == 0 and r.actual_counts[-1] == 0


def test_only_inf_missing_values():
    expected = np.array([1.0, 2.0, 3.0, np.inf, 4.0, -np.inf])
    actual = np.array([np.inf, np.inf, 2.5])
    r, _ = check(expected, actual, nan_policy="bin", bins=2)
    assert r.expected_missing == 2 and r.actual_missing == 2
    check(expected, actual, nan_policy="omit", bins=2)


def test_missing_values_do_not_affect_quantile_edges():
    rng = np.random.default_rng(12)
    x = rng.normal(size=999)
    with_nan = np.r_[x, np.nan, np.nan, np.inf, -np.inf]
    r1 = ut.psi(with_nan, x, nan_policy="omit")
    r2 = ut.psi(x, x)
    np.testing.assert_array_equal(r1.edges, r2.edges)


# --------------------------------------------------------------------------------------------
# status, thresholds, result object


def test_status_follows_thresholds():
    rng = np.random.default_rng(13)
    x = rng.normal(size=3000)
    y = rng.normal(0.3, 1, size=3000)
    v = ut.psi(x, y).value
    assert v > 0
    assert ut.psi(x, y, thresholds=(v, 2 * v)).status == "moderate"  # v < v is false
    assert ut.psi(x, y, thresholds=(v / 2, v)).status == "moderate"  # v <= v
    assert ut.psi(x, y, thresholds=(v / 4, v / 2)).status == "significant"
    assert ut.psi(x, y, thresholds=(2 * v, 3 * v)).status == "stable"
    assert ut.psi(x, y).status == status_reference(v)


def test_result_object_fields_to_dict_and_repr():
    rng = np.random.default_rng(14)
    x = rng.normal(size=1000)
    y = rng.normal(1.0, 1, size=1000)
    r = ut.psi(x, y)
    ref = psi_reference(x, y)
    assert_psi_matches(r, ref)
    assert isinstance(r.expected_missing, int) and isinstance(r.actual_missing, int)
    d = r.to_dict()
    assert isinstance(d, dict)
    for key in ("value", "status", "edges", "expected_counts", "actual_counts"):
        assert key in d
    assert d["value"] == r.value
    assert d["status"] == r.status
    np.testing.assert_array_equal(np.asarray(d["edges"], dtype=np.float64), ref["edges"])
    np.testing.assert_array_equal(np.asarray(d["expected_counts"]), ref["expected_counts"])
    np.testing.assert_array_equal(np.asarray(d["actual_counts"]), ref["actual_counts"])
    text = repr(r)
    assert "psi" in text.lower()
    assert r.status in text


def test_edges_have_open_outer_ends():
    rng = np.random.default_rng(15)
    r = ut.psi(rng.normal(size=100), rng.normal(size=100), bins=4)
    assert r.edges[0] == -np.inf and r.edges[-1] == np.inf
    assert np.all(np.diff(r.edges) > 0)
    assert len(r.expected_counts) == len(r.edges) - 1


def test_psi_is_not_symmetric_but_both_directions_match_reference():
    rng = np.random.default_rng(16)
    x = rng.normal(size=2000)
    y = rng.exponential(size=2000)
    check(x, y)
    check(y, x)


# --------------------------------------------------------------------------------------------
# accepted unusual inputs: same result as the contiguous native float64 version


def _base_pair(seed=17):
    rng = np.random.default_rng(seed)
    return rng.normal(size=9000), rng.normal(0.2, 1.1, size=6000)


def test_non_contiguous_input():
    x, y = _base_pair()
    r = ut.psi(x[::3], y[::2])
    assert_psi_matches(r, psi_reference(x[::3].copy(), y[::2].copy()))
    assert_same_result(r, ut.psi(np.ascontiguousarray(x[::3]), np.ascontiguousarray(y[::2])))
    r_rev = ut.psi(x[::-1], y[::-1])
    assert_same_result(r_rev, ut.psi(x[::-1].copy(), y[::-1].copy()))


@pytest.mark.parametrize("dt", [">f8", ">f4"])
def test_big_endian_input(dt):
    x, y = _base_pair()
    xb, yb = x.astype(dt), y.astype(dt)
    native = dt.replace(">", "<")
    r = ut.psi(xb, yb)
    assert_psi_matches(r, psi_reference(xb.astype(native), yb.astype(native)))
    assert_same_result(r, ut.psi(xb.astype(native), yb.astype(native)))


def test_float16_input():
    x, y = _base_pair()
    x16, y16 = x.astype(np.float16), y.astype(np.float16)
    r = ut.psi(x16, y16, nan_policy="omit")
    assert_psi_matches(r, psi_reference(x16, y16, nan_policy="omit"))
    assert_same_result(r, ut.psi(x16.astype(np.float64), y16.astype(np.float64)))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32])
def test_integer_input(dtype):
    rng = np.random.default_rng(18)
    x = rng.integers(0, 100, 5000).astype(dtype)
    y = rng.integers(10, 110, 4000).astype(dtype)
    for binning in ("quantile", "uniform"):
        r = ut.psi(x, y, binning=binning)
        assert_psi_matches(r, psi_reference(x, y, binning=binning))
        assert_same_result(r, ut.psi(x.astype(np.float64), y.astype(np.float64), binning=binning))


def test_large_integers_exact_in_float64():
    x = np.array([2**40, 2**40 + 1, 2**40 + 2, 2**40 + 3] * 10, dtype=np.int64)
    y = np.array([2**40 + 3] * 7, dtype=np.int64)
    r, _ = check(x, y, bins=4)
    np.testing.assert_array_equal(r.actual_counts[-1], 7)
