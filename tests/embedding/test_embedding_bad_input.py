"""Embedding API input handling: bad values raise ValueError (UndertowError), bad dtypes TypeError,
naming the argument; float16 / integer / non-contiguous / polars input equals float64 input;
corrupted bytes are refused."""

import pickle
import re

import numpy as np
import polars as pl
import pytest

import undertow as ut

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 6)) + 1.0
Y = RNG.normal(size=(30, 6)) + 1.2


def _cos(a, b):
    return ut.cosine_drift(a, b)


def _pca(a, b):
    return ut.PCA.fit(a, components=2)


def _mmd(a, b):
    return ut.mmd(a, b, permutations=10)


def _rff(a, b):
    return ut.mmd(a, b, estimator="rff", features=8)


def _emb(a, b):
    return ut.EmbeddingDrift.fit(a, components=2, permutations=10).compare(b)


# (function, name of the first argument, name of the second argument or None)
CALLS = {
    "cosine_drift": (_cos, "reference", "current"),
    "mmd": (_mmd, r"\bx\b", r"\by\b"),
    "mmd-rff": (_rff, r"\bx\b", r"\by\b"),
    "EmbeddingDrift": (_emb, "reference", "current"),
}
PAIR_CALLS = list(CALLS)


def test_undertow_error_is_value_error():
    assert issubclass(ut.UndertowError, ValueError)


# --------------------------------------------------------------------------------------------
# dimensions, row counts, array rank


@pytest.mark.parametrize("name", PAIR_CALLS)
def test_dimensions_differ(name):
    f, first, second = CALLS[name]
    with pytest.raises(ValueError, match=f"{first}|{second}"):
        f(X, Y[:, :5])
    with pytest.raises(ValueError, match=f"{first}|{second}"):
        f(X[:, :5], Y)


@pytest.mark.parametrize("name", PAIR_CALLS)
@pytest.mark.parametrize("rows", [0, 1])
def test_fewer_than_two_rows(name, rows):
    f, first, second = CALLS[name]
    with pytest.raises(ValueError, match=second):
        f(X, Y[:rows])
    with pytest.raises(ValueError, match=first):
        f(X[:rows], Y)


@pytest.mark.parametrize("rows", [0, 1])
def test_pca_fewer_than_two_rows(rows):
    with pytest.raises(ValueError, match=r"\bx\b|reference"):
        ut.PCA.fit(X[:rows], components=1)


@pytest.mark.parametrize("name", PAIR_CALLS)
@pytest.mark.parametrize("shape", [(40,), (4, 10, 6), ()])
def test_wrong_rank(name, shape):
    f, first, second = CALLS[name]
    bad = np.ones(shape)
    with pytest.raises(ValueError, match=first):
        f(bad, Y)
    with pytest.raises(ValueError, match=second):
        f(X, bad if shape != (4, 10, 6) else np.ones((3, 10, 6)))


def test_pca_wrong_rank():
    with pytest.raises(ValueError):
        ut.PCA.fit(np.ones(10), components=1)
    with pytest.raises(ValueError):
        ut.PCA.fit(np.ones((3, 4, 5)), components=1)
    p = ut.PCA.fit(X, components=2)
    with pytest.raises(ValueError):
        p.transform(np.ones(6))
    with pytest.raises(ValueError):
        p.transform(np.ones((5, 4)))  # wrong dimension


# --------------------------------------------------------------------------------------------
# NaN / inf: UndertowError naming the argument, the count and the first rows


@pytest.mark.parametrize("name", PAIR_CALLS)
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_non_finite_values(name, bad_value, dtype):
    f, first, second = CALLS[name]
    a = X.astype(dtype)
    b = Y.astype(dtype)
    # two bad values in rows 3 and 17
    b[3, 2] = bad_value
    b[17, 0] = bad_value
    with pytest.raises(ut.UndertowError, match=second) as info:
        f(a, b)
    msg = str(info.value)
    assert all(re.search(rf"\b{v}\b", msg) for v in ("2", "3", "17")), msg
    a = X.astype(dtype)
    a[5, 1] = bad_value
    with pytest.raises(ut.UndertowError, match=first) as info:
        f(a, Y.astype(dtype))
    assert re.search(r"\b5\b", str(info.value)), str(info.value)


def test_non_finite_in_pca_and_accumulators():
    bad = X.copy()
    bad[7, 3] = np.nan
    bad[11, 0] = np.inf
    with pytest.raises(ut.UndertowError, match=r"\bx\b") as info:
        ut.PCA.fit(bad, components=2)
    msg = str(info.value)
    assert all(re.search(rf"\b{v}\b", msg) for v in ("2", "7", "11")), msg  # count, first rows
    with pytest.raises(ut.UndertowError):
        ut.CovarianceAccumulator(6).update(bad)
    with pytest.raises(ut.UndertowError):
        ut.PCA.fit(X, components=2).transform(bad)
    acc = ut.RffAccumulator(6, 1.0, features=8)
    with pytest.raises(ut.UndertowError):
        acc.update_x(bad)
    with pytest.raises(ut.UndertowError):
        acc.update_y(bad)
    emb = ut.EmbeddingDrift.fit(X, components=2, permutations=5)
    with pytest.raises(ut.UndertowError):
        emb.accumulator().update(bad)


# --------------------------------------------------------------------------------------------
# zero rows in cosine_drift


def test_zero_rows_named_with_count_and_indices():
    cur = Y.copy()
    cur[[1, 4, 6]] = 0.0
    with pytest.raises(ut.UndertowError, match="current") as info:
        ut.cosine_drift(X, cur)
    msg = str(info.value)
    assert all(re.search(rf"\b{v}\b", msg) for v in ("3", "1", "4", "6")), msg
    ref = X.copy()
    ref[[2]] = 0.0
    with pytest.raises(ut.UndertowError, match="reference") as info:
        ut.cosine_drift(ref, Y)
    assert re.search(r"\b2\b", str(info.value)), str(info.value)


def test_zero_rows_first_five_indices():
    ref = np.ones((20, 3))
    zero_rows = [10, 12, 14, 16, 18, 19, 11]
    ref[zero_rows] = 0.0
    with pytest.raises(ut.UndertowError, match="reference") as info:
        ut.cosine_drift(ref, np.ones((5, 3)))
    msg = str(info.value)
    assert re.search(r"\b7\b", msg), msg  # the count
    for i in (10, 11, 12, 14, 16):  # the first five, in row order
        assert re.search(rf"\b{i}\b", msg), msg


def test_zero_rows_in_embedding_drift():
    ref = X.copy()
    ref[0] = 0.0
    with pytest.raises(ValueError, match="reference"):
        ut.EmbeddingDrift.fit(ref, components=2)


# --------------------------------------------------------------------------------------------
# dtypes


BAD_DTYPES = {
    "bool": np.ones((10, 3), dtype=bool),
    "complex": np.ones((10, 3), dtype=np.complex128),
    "object": np.ones((10, 3), dtype=object),
    "str": np.full((10, 3), "1.0"),
}


@pytest.mark.parametrize("name", PAIR_CALLS)
@pytest.mark.parametrize("dtype", list(BAD_DTYPES))
def test_bad_dtype_is_type_error(name, dtype):
    f, first, second = CALLS[name]
    good = np.ones((10, 3)) + np.arange(30).reshape(10, 3) % 4
    with pytest.raises(TypeError, match=first):
        f(BAD_DTYPES[dtype], good)
    with pytest.raises(TypeError, match=second):
        f(good, BAD_DTYPES[dtype])


@pytest.mark.parametrize("dtype", list(BAD_DTYPES))
def test_bad_dtype_pca_and_accumulators(dtype):
    bad = BAD_DTYPES[dtype]
    with pytest.raises(TypeError):
        ut.PCA.fit(bad, components=1)
    with pytest.raises(TypeError):
        ut.CovarianceAccumulator(3).update(bad)
    with pytest.raises(TypeError):
        ut.RffAccumulator(3, 1.0).update_x(bad)


# --------------------------------------------------------------------------------------------
# conversions: the result equals the float64 result of the same values


def _as_f64(a):
    return np.ascontiguousarray(a, dtype=np.float64)


CONVERSIONS = {
    "float16": lambda a: a.astype(np.float16),
    "int64": lambda a: np.round(a * 10).astype(np.int64),
    "int32": lambda a: np.round(a * 10).astype(np.int32),
    "uint8": lambda a: np.round(np.abs(a) * 10).astype(np.uint8),
    "fortran": lambda a: np.asfortranarray(a),
    "strided": lambda a: np.repeat(a, 2, axis=1)[:, ::2],
    "big-endian": lambda a: a.astype(">f8"),
    "strided-float32": lambda a: np.repeat(a.astype(np.float32), 2, axis=1)[:, ::2],
}


@pytest.mark.parametrize("kind", list(CONVERSIONS))
def test_cosine_drift_conversions_equal_float64(kind):
    a, b = CONVERSIONS[kind](X), CONVERSIONS[kind](Y)
    got = ut.cosine_drift(a, b).to_dict()
    want = ut.cosine_drift(_as_f64(a), _as_f64(b)).to_dict()
    assert got == want


def _as_kernel_input(a):
    """The documented conversion: float32 stays float32 (a contiguous copy when strided), since
    the exact MMD keeps a float32 kernel for float32 input; everything else becomes float64."""
    dtype = np.float32 if a.dtype == np.float32 else np.float64
    return np.ascontiguousarray(a, dtype=dtype)


@pytest.mark.parametrize("kind", list(CONVERSIONS))
def test_mmd_conversions_equal_documented_layout(kind):
    a, b = CONVERSIONS[kind](X), CONVERSIONS[kind](Y)
    ca, cb = _as_kernel_input(a), _as_kernel_input(b)
    assert ut.mmd(a, b, permutations=20).to_dict() == ut.mmd(ca, cb, permutations=20).to_dict()
    assert (
        ut.mmd(a, b, estimator="rff", features=16).to_dict()
        == ut.mmd(ca, cb, estimator="rff", features=16).to_dict()
    )


@pytest.mark.parametrize("kind", list(CONVERSIONS))
def test_pca_conversions_equal_float64(kind):
    a = CONVERSIONS[kind](X)
    p, q = ut.PCA.fit(a, components=3), ut.PCA.fit(_as_f64(a), components=3)
    np.testing.assert_array_equal(p.components, q.components)
    np.testing.assert_array_equal(p.explained_variance, q.explained_variance)
    np.testing.assert_array_equal(p.mean, q.mean)


@pytest.mark.parametrize("kind", ["float16", "int64", "fortran", "strided"])
def test_embedding_drift_conversions_equal_float64(kind):
    a, b = CONVERSIONS[kind](X), CONVERSIONS[kind](Y)
    got = ut.EmbeddingDrift.fit(a, components=2, permutations=20).compare(b).to_dict()
    want = ut.EmbeddingDrift.fit(_as_f64(a), components=2, permutations=20).compare(_as_f64(b)).to_dict()
    assert got == want


def test_polars_series_array_and_list_equal_numpy():
    a32, b32 = X.astype(np.float32), Y.astype(np.float32)
    sa = pl.Series("e", a32, dtype=pl.Array(pl.Float32, 6))
    sb = pl.Series("e", b32.tolist(), dtype=pl.List(pl.Float32))
    assert ut.cosine_drift(sa, sb).to_dict() == ut.cosine_drift(a32, b32).to_dict()
    assert ut.mmd(sa, sb, permutations=10).to_dict() == ut.mmd(a32, b32, permutations=10).to_dict()
    p, q = ut.PCA.fit(sa, components=2), ut.PCA.fit(a32, components=2)
    np.testing.assert_array_equal(p.components, q.components)


def test_polars_ragged_list_is_value_error():
    s = pl.Series("e", [[1.0, 2.0], [1.0, 2.0, 3.0], [0.5, 0.5]], dtype=pl.List(pl.Float32))
    with pytest.raises(ValueError, match="reference"):
        ut.cosine_drift(s, np.ones((3, 2)))


# --------------------------------------------------------------------------------------------
# parameters


@pytest.mark.parametrize("k", [0, -1, 7, 100])
def test_components_out_of_range(k):
    with pytest.raises(ValueError, match="components"):
        ut.PCA.fit(X, components=k)
    with pytest.raises(ValueError, match="components"):
        ut.EmbeddingDrift.fit(X, components=k)
    acc = ut.CovarianceAccumulator(6)
    acc.update(X)
    with pytest.raises(ValueError, match="components"):
        acc.finalize(k)


def test_components_equal_dim_allowed():
    assert ut.PCA.fit(X, components=6).components.shape == (6, 6)


@pytest.mark.parametrize("bandwidth", [0.0, -1.0, np.nan, np.inf, -np.inf])
def test_bad_bandwidth(bandwidth):
    with pytest.raises(ValueError, match="bandwidth"):
        ut.mmd(X, Y, bandwidth=bandwidth)
    with pytest.raises(ValueError, match="bandwidth"):
        ut.mmd(X, Y, bandwidth=bandwidth, estimator="rff")
    with pytest.raises(ValueError, match="bandwidth"):
        ut.RffAccumulator(6, bandwidth)


@pytest.mark.parametrize("bandwidth", ["mean", "", "MEDIAN?"])
def test_unknown_bandwidth_string(bandwidth):
    with pytest.raises(ValueError, match="bandwidth"):
        ut.mmd(X, Y, bandwidth=bandwidth)


def test_median_bandwidth_zero_is_error():
    same = np.ones((5, 3))
    with pytest.raises(ValueError, match="bandwidth"):
        ut.mmd(same, same.copy())
    # more than half of the pairwise distances are 0
    x = np.zeros((6, 2))
    y = np.zeros((6, 2))
    y[0] = 1.0
    with pytest.raises(ValueError, match="bandwidth"):
        ut.mmd(x, y)


@pytest.mark.parametrize("permutations", [-1, -200])
def test_negative_permutations(permutations):
    with pytest.raises(ValueError, match="permutations"):
        ut.mmd(X, Y, permutations=permutations)


@pytest.mark.parametrize("kernel", ["linear", "laplace", "", "gaussian"])
def test_unknown_kernel(kernel):
    with pytest.raises(ValueError, match="kernel"):
        ut.mmd(X, Y, kernel=kernel)


@pytest.mark.parametrize("estimator", ["fast", "", "linear", "RFF?"])
def test_unknown_estimator(estimator):
    with pytest.raises(ValueError, match="estimator"):
        ut.mmd(X, Y, estimator=estimator)


@pytest.mark.parametrize("features", [0, -5])
def test_bad_features(features):
    with pytest.raises(ValueError, match="features"):
        ut.mmd(X, Y, estimator="rff", features=features)
    with pytest.raises(ValueError, match="features"):
        ut.RffAccumulator(6, 1.0, features=features)


@pytest.mark.parametrize("bins", [1, 0, -3])
def test_cosine_bins_below_two(bins):
    with pytest.raises(ValueError, match="bins"):
        ut.cosine_drift(X, Y, bins=bins)


def test_accumulator_dimension_mismatches():
    acc = ut.CovarianceAccumulator(6)
    with pytest.raises(ValueError):
        acc.update(np.ones((4, 5)))
    with pytest.raises(ValueError):
        acc.merge(ut.CovarianceAccumulator(5))
    with pytest.raises(ValueError):
        ut.CovarianceAccumulator(0)
    one_row = ut.CovarianceAccumulator(6)
    one_row.update(X[:1])
    with pytest.raises(ValueError):
        one_row.finalize(2)  # fewer than 2 rows
    rff = ut.RffAccumulator(6, 1.0, features=8, seed=1)
    with pytest.raises(ValueError):
        rff.update_x(np.ones((4, 5)))
    with pytest.raises(ValueError):
        rff.update_y(np.ones((4, 7)))
    for other in (
        ut.RffAccumulator(5, 1.0, features=8, seed=1),
        ut.RffAccumulator(6, 2.0, features=8, seed=1),
        ut.RffAccumulator(6, 1.0, features=16, seed=1),
        ut.RffAccumulator(6, 1.0, features=8, seed=2),
    ):
        # another random basis cannot be merged
        with pytest.raises(ValueError):
            rff.merge(other)
    rff.update_x(X[:1])
    rff.update_y(Y)
    with pytest.raises(ValueError):
        rff.finalize()  # one x row
    emb = ut.EmbeddingDrift.fit(X, components=2, permutations=5)
    with pytest.raises(ValueError, match=r"current|batch"):
        emb.compare(np.ones((5, 5)))
    with pytest.raises(ValueError):
        emb.accumulator().update(np.ones((5, 7)))
    with pytest.raises(ValueError):
        emb.accumulator().finalize()  # no current rows


# --------------------------------------------------------------------------------------------
# bytes: every truncation and flipped byte of a small state is refused


def _all_corruptions(b, positions=None):
    positions = range(len(b)) if positions is None else positions
    for cut in positions:
        yield f"truncated to {cut}", b[:cut]
    for i in positions:
        for mask in (0x01, 0x80, 0xFF):
            flipped = bytearray(b)
            flipped[i] ^= mask
            yield f"byte {i} ^ {mask:#x}", bytes(flipped)


def _small_states():
    x = np.random.default_rng(1).normal(size=(8, 3))
    cov = ut.CovarianceAccumulator(3)
    cov.update(x)
    rff = ut.RffAccumulator(3, 1.0, features=4, seed=2)
    rff.update_x(x[:4])
    rff.update_y(x[4:])
    emb = ut.EmbeddingDrift.fit(x + 2.0, components=2, sample=4, permutations=5)
    acc = emb.accumulator()
    acc.update(x[:3] + 2.5)
    return {
        "CovarianceAccumulator": (cov.to_bytes(), ut.CovarianceAccumulator.from_bytes),
        "PCA": (ut.PCA.fit(x, components=2).to_bytes(), ut.PCA.from_bytes),
        "RffAccumulator": (rff.to_bytes(), ut.RffAccumulator.from_bytes),
        "EmbeddingDrift": (emb.to_bytes(), ut.EmbeddingDrift.from_bytes),
        "EmbeddingAccumulator": (acc.to_bytes(), type(acc).from_bytes),
    }


@pytest.mark.parametrize("kind", list(_small_states()))
def test_every_truncation_and_flipped_byte_refused(kind):
    blob, load = _small_states()[kind]
    load(blob)  # the intact bytes load
    positions = None
    if len(blob) > 20_000:
        # the accumulator's state holds a dense 65,536-cell cosine grid (~0.5 MB even for three
        # rows; each load takes ~3 ms): every byte would take minutes, so take the first and last
        # 150 bytes (headers, lengths, checksums) and 150 seeded positions in between
        rng = np.random.default_rng(0)
        middle = rng.choice(np.arange(150, len(blob) - 150), 150, replace=False)
        positions = sorted({*range(150), *range(len(blob) - 150, len(blob)), *middle.tolist()})
    for what, bad in _all_corruptions(blob, positions):
        with pytest.raises(ValueError):
            load(bad)
            pytest.fail(f"{kind}: accepted {what}")


def test_wrong_kind_and_foreign_bytes_refused():
    states = _small_states()
    for kind, (_, load) in states.items():
        for other, (blob, _) in states.items():
            if other != kind:
                with pytest.raises(ValueError):
                    load(blob)
                    pytest.fail(f"{kind} accepted the bytes of {other}")
        for foreign in (b"", b"hello", b"\x00" * 64, pickle.dumps({"a": 1})):
            with pytest.raises(ValueError):
                load(foreign)
        # psi states are not embedding states
        ref = ut.Reference.fit(np.random.default_rng(0).normal(size=(20, 2)))
        with pytest.raises(ValueError):
            load(ref.to_bytes())
