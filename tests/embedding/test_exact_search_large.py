"""ut.exact_search at sizes where the int8 prefilter runs (float32, >= 8,192 rows, >= 32 queries,
on CPUs with AVX-512 VNNI; elsewhere the float32 products): the answer must be the float64 brute
force's either way, on real sentence vectors, NaN and inf rows, excluded rows and mass ties."""

from pathlib import Path

import numpy as np
import pytest

import undertow as ut

DATA = Path(__file__).resolve().parents[1] / "data" / "sentences.npz"


def brute_force(x: np.ndarray, q: np.ndarray, k: int, metric: str, exclude=None):
    """Best first, ties to the lower row; NaN scores never enter."""
    x64, q64 = x.astype(np.float64), q.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        dots = q64 @ x64.T
        if metric == "ip":
            scores = dots
        else:
            scores = dots - 0.5 * (x64 * x64).sum(axis=1)[None, :]
    scores = np.where(np.isnan(scores), -np.inf, scores)
    if exclude is not None:
        for i, row in enumerate(exclude):
            if row >= 0:
                scores[i, row] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(scores, order, axis=1)
    if metric == "l2":
        best = np.maximum((q64 * q64).sum(axis=1)[:, None] - 2.0 * best, 0.0)
    return best, order


def real_vectors() -> tuple[np.ndarray, np.ndarray]:
    """11,010 real sentence vectors (minilm, m2v zero-padded to the same width is not needed:
    both are 384-d) and 64 queries near some of them."""
    data = np.load(DATA)
    minilm = data["minilm"].astype(np.float32)
    m2v = data["m2v"].astype(np.float32)
    rng = np.random.default_rng(0)
    noisy = minilm + np.float32(0.05) * rng.standard_normal(minilm.shape, dtype=np.float32)
    x = np.concatenate([minilm, m2v, noisy])
    q = minilm[rng.choice(len(minilm), 64, replace=False)]
    q = q + np.float32(0.1) * rng.standard_normal(q.shape, dtype=np.float32)
    return x, q


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_real_sentence_vectors_match_float64(metric):
    x, q = real_vectors()
    assert len(x) >= 8192
    d, labels = ut.exact_search(x, q, k=10, metric=metric)
    want_d, want_labels = brute_force(x, q, 10, metric)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_allclose(d, want_d, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_nan_inf_and_excluded_rows(metric):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((12_000, 40), dtype=np.float32)
    x[17, 3] = np.nan
    x[5000] = np.nan
    x[9000, 0] = np.inf
    x[9001, 1] = -np.inf
    x[100] *= np.float32(1e-30)
    x[101] *= np.float32(1e25)
    q = rng.standard_normal((48, 40), dtype=np.float32)
    exclude = np.full(48, -1, dtype=np.int64)
    exclude[::3] = rng.integers(0, 12_000, 16)
    d, labels = ut.exact_search(x, q, k=6, metric=metric, exclude=exclude)
    want_d, want_labels = brute_force(x, q, 6, metric, exclude)
    np.testing.assert_array_equal(labels, want_labels)
    finite = np.isfinite(want_d)
    np.testing.assert_allclose(d[finite], want_d[finite], rtol=1e-5)
    np.testing.assert_array_equal(d[~finite], want_d[~finite])
    for i, row in enumerate(exclude):
        assert row < 0 or row not in labels[i]


def test_thousands_of_tied_rows_still_give_the_exact_answer():
    # 3,000 copies of one row: a query equal to it cannot prune them (the prefilter gives it
    # up to the float32 products); the other queries go on through the prefilter
    rng = np.random.default_rng(6)
    x = rng.standard_normal((20_000, 32), dtype=np.float32)
    x[1000:4000] = x[7]
    q = rng.standard_normal((40, 32), dtype=np.float32)
    q[0] = x[7]
    d, labels = ut.exact_search(x, q, k=5, metric="ip")
    want_d, want_labels = brute_force(x, q, 5, "ip")
    copies = set([7, *range(1000, 4000)])
    assert set(labels[0].tolist()) <= copies
    np.testing.assert_allclose(d[0], want_d[0], rtol=1e-6)
    np.testing.assert_array_equal(labels[1:], want_labels[1:])
    np.testing.assert_allclose(d[1:], want_d[1:], rtol=1e-5)


def test_a_memory_limit_the_int8_codes_exceed_takes_the_float32_route(monkeypatch):
    # the codes of 180,000 x 384 rows take 69 MB; under a 68 MB ceiling the search must still
    # answer (through the float32 products, which need only their small heaps), not refuse
    rng = np.random.default_rng(7)
    x = rng.standard_normal((180_000, 384), dtype=np.float32)
    q = rng.standard_normal((64, 384), dtype=np.float32)
    monkeypatch.setenv("UNDERTOW_MEMORY_LIMIT", str(68_000_000))
    d, labels = ut.exact_search(x, q, k=5, metric="ip")
    want_d, want_labels = brute_force(x, q, 5, "ip")
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_allclose(d, want_d, rtol=1e-5)
