"""ut.PCA and ut.CovarianceAccumulator against numpy's SVD of the centred float64 data."""

import pickle

import numpy as np
import pytest
from embedding_reference import pca_reference, principal_angles, sign_convention, transform_reference
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import undertow as ut


def _data(seed, n, d, dtype=np.float64, offset=0.0, decay=None):
    """Anisotropic data with a separated spectrum (scales decay geometrically), rotated.

    By default the scales span a factor 20 whatever d, so every requested eigenvalue is
    computed to ~1e-14 relative (the 1e-9 checks test the method, not float64's limits).
    """
    rng = np.random.default_rng(seed)
    if decay is None:
        decay = min(0.8, 0.05 ** (1.0 / max(d - 1, 1)))
    scales = 3.0 * decay ** np.arange(d)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    x = (rng.normal(size=(n, d)) * scales) @ q.T + offset + rng.normal(size=d)
    return x.astype(dtype)


def assert_pca_matches(p, want, k, angle_tol=1e-6):
    assert isinstance(p.mean, np.ndarray) and p.mean.dtype == np.float64
    assert isinstance(p.components, np.ndarray) and p.components.dtype == np.float64
    assert p.explained_variance.dtype == np.float64
    assert p.explained_variance_ratio.dtype == np.float64
    d = want["dim"]
    assert p.mean.shape == (d,)
    assert p.components.shape == (k, d)
    assert p.explained_variance.shape == (k,)
    assert p.explained_variance_ratio.shape == (k,)
    assert p.n_samples == want["n_samples"]
    assert p.dim == d
    np.testing.assert_allclose(p.mean, want["mean"], rtol=1e-12, atol=1e-12 * np.abs(want["mean"]).max())
    np.testing.assert_allclose(p.explained_variance, want["explained_variance"], rtol=1e-9)
    np.testing.assert_allclose(p.explained_variance_ratio, want["explained_variance_ratio"], rtol=1e-9)
    assert p.total_variance == pytest.approx(want["total_variance"], rel=1e-9)
    angles = principal_angles(p.components, want["components"])
    assert angles.max() < angle_tol, angles
    # rows are unit, orthogonal, ordered by decreasing variance
    np.testing.assert_allclose(p.components @ p.components.T, np.eye(k), atol=1e-10)
    assert np.all(np.diff(p.explained_variance) <= 0)


# --------------------------------------------------------------------------------------------
# fit against the SVD reference


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, d, k", [(500, 10, 3), (2000, 64, 16), (300, 5, 5), (3000, 384, 32), (2, 3, 1)])
def test_fit_matches_svd(n, d, k, dtype):
    x = _data(n + d, n, d, dtype)
    p = ut.PCA.fit(x, components=k)
    want = pca_reference(x, k)
    assert_pca_matches(p, want, k)
    if n > 2:
        # well separated spectrum: every axis matches one by one, signs included
        np.testing.assert_allclose(p.components, want["components"], atol=1e-6)


def test_default_components_is_32():
    x = _data(1, 400, 40)
    p = ut.PCA.fit(x)
    assert p.components.shape == (32, 40)
    assert_pca_matches(p, pca_reference(x, 32), 32)


def test_large_offset_is_centred_by_a_shift():
    # mean 1e6, spread ~3: a naive E[x^2] - E[x]^2 covariance loses every digit here
    x = _data(2, 3000, 12, offset=1e6)
    want = pca_reference(x, 4)
    p = ut.PCA.fit(x, components=4)
    assert_pca_matches(p, want, 4)


def test_sign_convention_largest_entry_positive():
    x = _data(3, 1000, 20)
    p = ut.PCA.fit(x, components=10)
    idx = np.argmax(np.abs(p.components), axis=1)
    assert np.all(p.components[np.arange(10), idx] > 0)
    np.testing.assert_allclose(p.components, sign_convention(p.components), rtol=0, atol=0)
    # flipping the data flips no sign of the result (convention, not chance)
    q = ut.PCA.fit(-x, components=10)
    np.testing.assert_allclose(q.components, p.components, atol=1e-9)
    np.testing.assert_allclose(q.mean, -p.mean, rtol=1e-12)


def test_hand_computed_axis_aligned():
    # variance 4 along axis 2, 1 along axis 0, 0 along axis 1 (ddof=1)
    x = np.array([[1.0, 5.0, -2.0], [-1.0, 5.0, 2.0], [1.0, 5.0, 2.0], [-1.0, 5.0, -2.0]])
    p = ut.PCA.fit(x, components=2)
    np.testing.assert_allclose(p.mean, [0.0, 5.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(p.explained_variance, [16.0 / 3.0, 4.0 / 3.0], rtol=1e-12)
    assert p.total_variance == pytest.approx(20.0 / 3.0, rel=1e-12)
    np.testing.assert_allclose(p.explained_variance_ratio, [0.8, 0.2], rtol=1e-12)
    np.testing.assert_allclose(p.components, [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(p.transform(x), x[:, [2, 0]], atol=1e-12)


def test_components_may_exceed_rows_minus_one():
    # 3 rows in 6 dims: rank 2; components up to d are allowed and orthonormal
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 6))
    p = ut.PCA.fit(x, components=6)
    assert p.components.shape == (6, 6)
    np.testing.assert_allclose(p.components @ p.components.T, np.eye(6), atol=1e-10)
    want = pca_reference(x, 2)
    np.testing.assert_allclose(p.explained_variance[:2], want["explained_variance"], rtol=1e-9)
    np.testing.assert_allclose(p.explained_variance[2:], 0.0, atol=1e-12 * want["total_variance"])
    assert principal_angles(p.components[:2], want["components"]).max() < 1e-6
    assert p.explained_variance_ratio.sum() == pytest.approx(1.0, rel=1e-9)


def test_ratio_sums_to_one_with_all_components():
    x = _data(5, 600, 9)
    p = ut.PCA.fit(x, components=9)
    assert p.explained_variance_ratio.sum() == pytest.approx(1.0, rel=1e-12)
    assert p.explained_variance.sum() == pytest.approx(p.total_variance, rel=1e-12)


# --------------------------------------------------------------------------------------------
# transform


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transform_is_centred_projection(dtype):
    x = _data(6, 800, 30, dtype)
    p = ut.PCA.fit(x, components=7)
    y = _data(7, 333, 30, dtype)
    got = p.transform(y)
    assert isinstance(got, np.ndarray)
    assert got.dtype == dtype
    assert got.shape == (333, 7)
    want = transform_reference(y, p.mean, p.components)
    if dtype == np.float64:
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    else:
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    # projections of the fitted data have the explained variances (ddof=1) and zero mean
    z = p.transform(x).astype(np.float64)
    tol = 1e-9 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(z.var(axis=0, ddof=1), p.explained_variance, rtol=tol)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=tol * np.sqrt(p.explained_variance.max()))


def test_transform_other_input_kinds_equal_float64():
    x = _data(8, 300, 6)
    p = ut.PCA.fit(x, components=3)
    ints = np.arange(60, dtype=np.int64).reshape(10, 6) % 7
    np.testing.assert_array_equal(p.transform(ints), p.transform(ints.astype(np.float64)))
    wide = np.asfortranarray(x[:50])
    np.testing.assert_array_equal(p.transform(wide), p.transform(np.ascontiguousarray(wide)))


# --------------------------------------------------------------------------------------------
# CovarianceAccumulator


def _assert_pca_equal(a, b, rtol=0.0, atol_components=0.0):
    """Two fits equal: arrays to `rtol` relative to their largest entry (entries near 0 inherit the
    absolute rounding of the large ones), components to `atol_components`."""

    def close(x, y, what):
        y = np.asarray(y, dtype=np.float64)
        scale = float(np.max(np.abs(y))) if y.size else 0.0
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * scale, err_msg=what)

    close(a.mean, b.mean, "mean")
    close(a.explained_variance, b.explained_variance, "explained_variance")
    close(a.explained_variance_ratio, b.explained_variance_ratio, "explained_variance_ratio")
    close(a.total_variance, b.total_variance, "total_variance")
    np.testing.assert_allclose(a.components, b.components, rtol=0, atol=atol_components)
    assert a.n_samples == b.n_samples
    assert a.dim == b.dim


@pytest.mark.parametrize("n_batches", [1, 2, 5, 17])
def test_accumulator_batches_equal_one_fit(n_batches):
    x = _data(9, 4000, 24, offset=50.0)
    one = ut.PCA.fit(x, components=8)
    acc = ut.CovarianceAccumulator(24)
    assert acc.n_samples == 0
    cuts = np.sort(np.random.default_rng(n_batches).choice(np.arange(1, 4000), n_batches - 1, replace=False))
    for part in np.split(x, cuts):
        acc.update(part)
    assert acc.n_samples == 4000
    _assert_pca_equal(acc.finalize(8), one, rtol=1e-12, atol_components=1e-10)
    assert_pca_matches(acc.finalize(8), pca_reference(x, 8), 8)


@pytest.mark.parametrize("n_workers", [2, 3, 8])
def test_accumulator_merge_equals_one_fit(n_workers):
    x = _data(10, 3000, 16, dtype=np.float32, offset=-20.0)
    parts = np.array_split(x, n_workers)
    accs = []
    for part in parts:
        a = ut.CovarianceAccumulator(16)
        for chunk in np.array_split(part, 3):
            a.update(chunk)
        accs.append(a)
    total = accs[0]
    for other in accs[1:]:
        total.merge(other)
    assert total.n_samples == 3000
    one = ut.PCA.fit(x, components=5)
    _assert_pca_equal(total.finalize(5), one, rtol=1e-12, atol_components=1e-10)


def test_accumulator_merge_with_empty_and_tiny_batches():
    x = _data(11, 100, 4)
    a = ut.CovarianceAccumulator(4)
    for row in x:
        a.update(row[None, :])
    b = ut.CovarianceAccumulator(4)
    a.merge(b)  # merging an empty accumulator changes nothing
    assert a.n_samples == 100
    _assert_pca_equal(a.finalize(4), ut.PCA.fit(x, components=4), rtol=1e-12, atol_components=1e-10)
    c = ut.CovarianceAccumulator(4)
    c.merge(a)  # merging into an empty one copies
    _assert_pca_equal(c.finalize(2), ut.PCA.fit(x, components=2), rtol=1e-12, atol_components=1e-10)


def test_accumulator_bytes_round_trip_and_pickle():
    x = _data(12, 500, 8)
    acc = ut.CovarianceAccumulator(8)
    acc.update(x[:300])
    b = acc.to_bytes()
    assert isinstance(b, bytes)
    restored = ut.CovarianceAccumulator.from_bytes(b)
    assert restored.n_samples == 300
    assert restored.to_bytes() == b
    _assert_pca_equal(restored.finalize(3), acc.finalize(3))
    # a restored accumulator keeps working
    restored.update(x[300:])
    acc.update(x[300:])
    _assert_pca_equal(restored.finalize(3), acc.finalize(3))
    unpickled = pickle.loads(pickle.dumps(acc))
    _assert_pca_equal(unpickled.finalize(3), acc.finalize(3))
    assert unpickled.to_bytes() == acc.to_bytes()


def test_pca_bytes_round_trip_and_pickle():
    x = _data(13, 400, 10)
    p = ut.PCA.fit(x, components=4)
    b = p.to_bytes()
    assert isinstance(b, bytes)
    q = ut.PCA.from_bytes(b)
    _assert_pca_equal(q, p)
    assert q.to_bytes() == b
    y = _data(14, 50, 10)
    np.testing.assert_array_equal(q.transform(y), p.transform(y))
    r = pickle.loads(pickle.dumps(p))
    _assert_pca_equal(r, p)
    np.testing.assert_array_equal(r.transform(y), p.transform(y))


# --------------------------------------------------------------------------------------------
# property: random shapes


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 200),
    d=st.integers(1, 24),
    data=st.data(),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_subspace_matches_svd(n, d, data, dtype, seed):
    k = data.draw(st.integers(1, min(d, n - 1)))
    x = _data(seed, n, d, dtype)
    p = ut.PCA.fit(x, components=k)
    want = pca_reference(x, k)
    full = pca_reference(x, min(d, n))["explained_variance"]
    lam1 = full[0]
    np.testing.assert_allclose(p.explained_variance, want["explained_variance"], rtol=1e-9, atol=1e-12 * lam1)
    assert p.total_variance == pytest.approx(want["total_variance"], rel=1e-9)
    # the top-k subspace is determined to ~eps * lam1 / gap: compare it when the sample's gap
    # after component k is not degenerate (random small samples can have near-equal eigenvalues)
    gap = full[k - 1] - (full[k] if k < len(full) else 0.0)
    assume(gap > 1e-6 * lam1)
    assert principal_angles(p.components, want["components"]).max() < 1e-6
    # batches give the same fit
    acc = ut.CovarianceAccumulator(d)
    for part in np.array_split(x, data.draw(st.integers(1, 5))):
        if len(part):
            acc.update(part)
    _assert_pca_equal(acc.finalize(k), p, rtol=1e-12, atol_components=1e-10)
