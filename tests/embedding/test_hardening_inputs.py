"""Embedding arguments and values whose errors named the wrong cause or let a wrong answer
through (issue 10, items 9, 10, 11). Every expected value comes from float64 numpy or from the
same call with a plain Python argument."""

from __future__ import annotations

import re

import numpy as np
import pytest
from embedding_reference import centroid_distance_reference, cosines_to, unit_rows

import undertow as ut

RNG = np.random.default_rng(5)
X = RNG.normal(size=(300, 8)) + 0.5
Y = RNG.normal(size=(300, 8)) + 0.6


# --- item 10: numpy scalars wherever Python numbers are -----------------------------------------


@pytest.mark.parametrize("bandwidth", [np.float32(1.5), np.float64(1.5), np.int64(2), np.float16(1.5)])
def test_numpy_scalar_bandwidth_equals_the_python_number(bandwidth):
    plain = float(bandwidth)
    assert ut.mmd(X, Y, bandwidth=bandwidth, permutations=20) == ut.mmd(
        X, Y, bandwidth=plain, permutations=20
    )
    a, b = ut.RffAccumulator(8, bandwidth, features=16), ut.RffAccumulator(8, plain, features=16)
    a.update_x(X), a.update_y(Y), b.update_x(X), b.update_y(Y)
    assert a.finalize() == b.finalize()


@pytest.mark.parametrize("bandwidth", [np.bool_(True), True])
def test_bool_bandwidth_is_refused(bandwidth):
    with pytest.raises(TypeError, match="bandwidth"):
        ut.mmd(X, Y, bandwidth=bandwidth)


def test_numpy_scalar_settings_of_embedding_drift_equal_python_numbers():
    plain = ut.EmbeddingDrift.fit(X, 3, bins=np.int64(8), permutations=20, alpha=0.1,
                                  component_threshold=0.2, norm_tolerance=0.05)  # fmt: skip
    numpy = ut.EmbeddingDrift.fit(X, np.int64(3), bins=np.int64(8), permutations=np.int32(20),
                                  alpha=np.float32(0.1), component_threshold=np.float64(0.2),
                                  norm_tolerance=np.float32(0.05), seed=np.uint64(0))  # fmt: skip
    assert numpy.compare(Y).to_dict() == ut.EmbeddingDrift.from_bytes(numpy.to_bytes()).compare(Y).to_dict()
    p, n = plain.compare(Y).to_dict(), numpy.compare(Y).to_dict()
    # float32(0.1) is not 0.1: compare what does not depend on the exact threshold value
    assert p["cosine"] == {**n["cosine"], "norm_tolerance": p["cosine"]["norm_tolerance"]}
    assert p["mmd"] == n["mmd"]


# --- item 11 / 10: strings are not numbers ------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs", [{"alpha": "0.05"}, {"component_threshold": "0.25"}, {"norm_tolerance": "0.01"}]
)
def test_string_numbers_are_refused_by_embedding_drift(kwargs):
    (name,) = kwargs
    with pytest.raises(TypeError, match=name):
        ut.EmbeddingDrift.fit(X, 3, permutations=20, **kwargs)


def test_string_norm_tolerance_is_refused_by_cosine_drift():
    with pytest.raises(TypeError, match="norm_tolerance"):
        ut.cosine_drift(X, Y, norm_tolerance="0.01")


@pytest.mark.parametrize(
    "load", [ut.PCA.from_bytes, ut.CovarianceAccumulator.from_bytes, ut.RffAccumulator.from_bytes]
)
@pytest.mark.parametrize("data", ["abc", 5, None])
def test_state_bytes_of_the_wrong_type_name_the_argument(load, data):
    # bytes(5) would be five zero bytes, bytes("abc") "string argument without an encoding"
    with pytest.raises(TypeError, match=r"^data: expected bytes"):
        load(data)


# --- item 11: a centroid that cancels up to rounding has no direction ---------------------------


def _cancelling(n: int = 150) -> np.ndarray:
    z = RNG.normal(size=(n, 8))
    return np.vstack([z, -z])


def test_reference_centroid_at_rounding_level_is_refused():
    ref = _cancelling()
    norm = np.linalg.norm(unit_rows(ref).mean(axis=0))
    assert 0 < norm < 1e-15  # the premise: rounding, not an exact zero
    for call in (lambda: ut.cosine_drift(ref, Y), lambda: ut.EmbeddingDrift.fit(ref, 3, permutations=20)):
        with pytest.raises(ut.UndertowError, match=r"reference: the centroid .* cancel"):
            call()


def test_current_centroid_at_rounding_level_is_refused():
    cur = _cancelling()
    with pytest.raises(ut.UndertowError, match=r"current: the centroid .* cancel"):
        ut.cosine_drift(X, cur)
    drift = ut.EmbeddingDrift.fit(X, 3, permutations=20)
    with pytest.raises(ut.UndertowError, match=r"current: the centroid .* cancel"):
        drift.compare(cur)
    acc = drift.accumulator()
    acc.update(cur)
    with pytest.raises(ut.UndertowError, match=r"current: the centroid .* cancel"):
        acc.finalize()


def test_small_but_real_centroid_is_kept():
    """A reference whose centroid is short (1e-3) but far above rounding still has a direction."""
    z = RNG.normal(size=(2000, 8))
    ref = np.vstack([z, -z, np.tile([1.0] + [0.0] * 7, (8, 1))])
    result = ut.cosine_drift(ref, Y)
    assert result.centroid_distance == pytest.approx(centroid_distance_reference(ref, Y), rel=1e-9)


# --- item 9: the right cause for finite huge and subnormal rows ---------------------------------


@pytest.mark.parametrize("scale", [1e200, 1e160])
def test_finite_huge_rows_are_too_large_not_nan(scale):
    big = X * scale
    assert np.isfinite(big).all()
    calls = {
        "reference": lambda: ut.cosine_drift(big, Y),
        "current": lambda: ut.cosine_drift(X, big),
    }
    for argument, call in calls.items():
        with pytest.raises(ut.UndertowError, match=rf"^{argument}: values are too large") as info:
            call()
        assert "NaN" not in str(info.value)
    drift = ut.EmbeddingDrift.fit(X, 3, permutations=20)
    with pytest.raises(ut.UndertowError, match=r"^current: values are too large"):
        drift.compare(big)
    with pytest.raises(ut.UndertowError, match=r"^reference: values are too large"):
        ut.EmbeddingDrift.fit(big, 3, permutations=20)


def test_embedding_drift_rows_whose_covariance_overflows_name_the_cause():
    # rows of norm ~1e153 normalise fine, but their covariance sums overflow: the error used to
    # tell the user to pass nan_policy="omit", a parameter EmbeddingDrift.fit does not have
    big = RNG.normal(size=(2000, 8)) * 1e152
    with pytest.raises(ut.UndertowError, match=r"^reference: values are too large") as info:
        ut.EmbeddingDrift.fit(big, 3, permutations=20)
    assert "nan_policy" not in str(info.value)


def test_pca_of_rows_whose_squares_overflow_is_refused_not_nan():
    with pytest.raises(ut.UndertowError, match=r"^x: values are too large"):
        ut.PCA.fit(X * 1e200, 3)


def test_mmd_median_of_overflowing_distances_names_x_y_not_bandwidth():
    for call in (lambda: ut.mmd(X * 1e200, Y), lambda: ut.median_bandwidth(X * 1e200, Y)):
        with pytest.raises(ut.UndertowError, match=r"^x, y: values are too large"):
            call()


def test_subnormal_float64_rows_are_too_small_not_zero_vectors():
    tiny = X * 1e-310
    assert tiny.any(axis=1).all()  # no row is a zero vector
    with pytest.raises(ut.UndertowError, match=r"^reference: 300 rows are too small") as info:
        ut.cosine_drift(tiny, Y)
    assert "zero vectors" not in str(info.value)
    with pytest.raises(ut.UndertowError, match=r"^current: 300 rows are too small"):
        ut.cosine_drift(X, tiny)


def test_subnormal_float32_rows_are_normalised_in_float64():
    """float32 subnormals have float64 squares that are normal: the answer is the float64 one."""
    ref, cur = (X * 1e-41).astype(np.float32), (Y * 1e-41).astype(np.float32)
    assert (np.abs(ref) < np.finfo(np.float32).tiny).all()
    result = ut.cosine_drift(ref, cur)
    assert result.centroid_distance == pytest.approx(
        centroid_distance_reference(ref, cur), rel=1e-6, abs=1e-12
    )
    direction = unit_rows(ref).mean(axis=0)
    expected = np.quantile(cosines_to(cur, direction), result.quantile_levels)
    np.testing.assert_allclose(result.current_quantiles, expected, rtol=1e-6, atol=1e-9)


def test_subnormal_rows_in_mmd_name_the_underflow():
    tiny = X * 1e-310
    with pytest.raises(ut.UndertowError, match=r"^x, y: .*underflows"):
        ut.mmd(tiny, Y * 1e-310)
    with pytest.raises(ut.UndertowError, match=r"^bandwidth: .*too small"):
        ut.mmd(X, Y, bandwidth=1e-310)


def test_messages_never_name_a_parameter_the_function_lacks():
    cases = [
        lambda: ut.EmbeddingDrift.fit(np.vstack([X, [np.nan] * 8]), 3, permutations=20),
        lambda: ut.EmbeddingDrift.fit(RNG.normal(size=(2000, 8)) * 1e152, 3, permutations=20),
        lambda: ut.cosine_drift(X * 1e200, Y),
    ]
    for call in cases:
        with pytest.raises(ut.UndertowError) as info:
            call()
        assert not re.search(r"nan_policy|pass a number", str(info.value))
