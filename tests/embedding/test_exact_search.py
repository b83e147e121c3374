"""ut.exact_search against a float64 numpy brute force and against faiss's flat indexes."""

import faiss
import numpy as np
import pytest

import undertow as ut


def brute_force(x: np.ndarray, q: np.ndarray, k: int, metric: str, exclude=None):
    x64, q64 = x.astype(np.float64), q.astype(np.float64)
    if metric == "ip":
        scores = q64 @ x64.T
    else:
        scores = -(((q64[:, None, :] - x64[None, :, :]) ** 2).sum(axis=2))
    if exclude is not None:
        for i, row in enumerate(exclude):
            if row >= 0:
                scores[i, row] = -np.inf
    # best first, ties to the lower row (a stable sort of the negated scores)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(scores, order, axis=1)
    return (best if metric == "ip" else -best), order


@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("n", [1, 7, 4096, 9001])
def test_matches_float64_brute_force(metric, n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 13))
    q = rng.normal(size=(9, 13))
    k = min(5, n)
    d, labels = ut.exact_search(x, q, k=k, metric=metric)
    want_d, want_labels = brute_force(x, q, k, metric)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_allclose(d, want_d, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_matches_faiss_flat_index(metric):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20_000, 48), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[:64] + np.float32(0.05) * rng.standard_normal((64, 48), dtype=np.float32)
    index = faiss.IndexFlatIP(48) if metric == "ip" else faiss.IndexFlatL2(48)
    index.add(x)
    want_d, want_labels = index.search(q, 10)
    d, labels = ut.exact_search(x, q, k=10, metric=metric)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_allclose(d, want_d, rtol=1e-4, atol=1e-5)


def test_self_matches_are_excluded():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(500, 6))
    rows = np.array([3, 100, 499, -1])
    q = x[[3, 100, 499, 0]]
    d, labels = ut.exact_search(x, q, k=4, metric="l2", exclude=rows)
    for i, row in enumerate(rows[:3]):
        assert row not in labels[i]
    assert labels[3, 0] == 0 and d[3, 0] == pytest.approx(0.0, abs=1e-12)
    _, want_labels = brute_force(x, q, 4, "l2", exclude=rows)
    np.testing.assert_array_equal(labels, want_labels)


def test_fewer_rows_than_k_pad_like_faiss():
    x = np.eye(3, dtype=np.float32)
    d, labels = ut.exact_search(x, x[:2], k=5, metric="l2")
    assert labels[:, 3:].tolist() == [[-1, -1], [-1, -1]]
    assert np.all(np.isinf(d[:, 3:])) and np.all(d[:, 3:] > 0)
    d, labels = ut.exact_search(x, x[:1], k=4, metric="ip")
    assert labels[0].tolist() == [0, 1, 2, -1] and d[0, 3] == -np.inf


def test_results_do_not_depend_on_block_boundaries():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(12_000, 8)).astype(np.float32)
    q = rng.normal(size=(5, 8)).astype(np.float32)
    _, full = ut.exact_search(x, q, k=7, metric="l2")
    # the same rows after one far-away row: every block boundary moves, labels move by one
    far = np.full((1, 8), 1e3, np.float32)
    _, shifted = ut.exact_search(np.vstack([far, x]), q, k=7, metric="l2")
    np.testing.assert_array_equal(shifted - 1, full)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 0}, "k"),
        ({"metric": "cosine"}, "metric"),
        ({"exclude": np.zeros(3, dtype=np.int64)}, "exclude"),
    ],
)
def test_bad_arguments(kwargs, match):
    x = np.ones((4, 2))
    with pytest.raises(ValueError, match=match):
        ut.exact_search(x, x, **kwargs)


def test_bad_inputs():
    x = np.ones((4, 2))
    with pytest.raises(ValueError, match="queries"):
        ut.exact_search(x, np.ones((2, 3)))
    q = np.ones((2, 2))
    q[1, 0] = np.nan
    with pytest.raises(ValueError, match="queries"):
        ut.exact_search(x, q)
    with pytest.raises(TypeError, match="vectors"):
        ut.exact_search(x.astype(bool), q)
