"""Lossy indexes are decoded block by block, never whole: the exact top-k merged across decoded
blocks must equal one brute-force pass over all decoded vectors (float64 numpy)."""

import faiss
import numpy as np
import polars as pl
import pytest

import undertow as ut
from undertow.audit._index import _DECODE_BLOCK, open_index
from undertow.audit._search import _exact


@pytest.fixture(scope="module")
def sq_index():
    rng = np.random.default_rng(11)
    n = _DECODE_BLOCK + 4_000  # two blocks
    x = rng.normal(size=(n, 8)).astype(np.float32)
    index = faiss.IndexScalarQuantizer(8, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2)
    index.train(x)
    index.add(x)
    return index, n


def test_merged_blocks_equal_one_pass_over_the_decoded_vectors(sq_index):
    index, n = sq_index
    view = open_index(index)
    assert view.vectors is None  # held as codes, decoded on demand
    decoded = index.sa_decode(faiss.vector_to_array(index.codes).reshape(n, -1)).astype(np.float64)
    rows = np.array([3, _DECODE_BLOCK - 1, _DECODE_BLOCK, n - 1])
    q = decoded[rows].astype(np.float32)
    scores, labels = _exact(view, q, 7, rows)
    d2 = ((decoded[None, :, :] - q.astype(np.float64)[:, None, :]) ** 2).sum(axis=2)
    d2[np.arange(len(rows)), rows] = np.inf  # self-matches excluded
    want = np.sort(d2, axis=1)[:, :7]
    np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-6)
    assert not np.isin(rows, labels[np.arange(len(rows))]).any()
    np.testing.assert_allclose(d2[np.arange(len(rows))[:, None], labels], want, rtol=1e-5, atol=1e-6)


def test_audit_of_a_two_block_lossy_index(sq_index):
    index, n = sq_index
    ids = np.arange(n, dtype=np.int64)
    docs = pl.DataFrame(
        {"id": ids, "content_hash": ["h"] * n, "embedded_hash": ["h"] * n, "encoder_version": ["e"] * n}
    )
    report = ut.audit_index(index, docs, query_sample=50)
    # IndexScalarQuantizer searches exhaustively over its codes: recall against the merged
    # exact search over the decoded blocks is 1 (to the tie tolerance)
    assert report["ann_recall"].value == 1.0
    assert report.status == "ok", report.summary()


def test_fresh_vectors_are_the_queries_of_a_lossy_index():
    rng = np.random.default_rng(12)
    n = 3000
    x = rng.normal(size=(n, 8)).astype(np.float32)
    index = faiss.IndexScalarQuantizer(8, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2)
    index.train(x)
    index.add(x)
    ids = np.arange(n, dtype=np.int64)
    docs = pl.DataFrame(
        {"id": ids, "content_hash": ["h"] * n, "embedded_hash": ["h"] * n, "encoder_version": ["e"] * n}
    )
    # 40 known ids, and one id the index does not hold whose vector sits on the last stored row:
    # its search must keep that row (only a query's own id is dropped)
    fresh_ids = np.append(np.arange(0, 400, 10), n + 7)
    fresh = np.vstack([x[:400:10], x[n - 1 : n] + np.float32(1e-4)])
    report = ut.audit_index(index, docs, fresh=(fresh_ids, fresh), k=5)
    recall = report["ann_recall"]
    assert recall.detail["queries"] == "fresh" and recall.sample_size == len(fresh_ids)
    assert recall.value == 1.0  # exhaustive search: the index's results are the exact ones
    assert report["fresh_cosine"].detail["not_in_index"] == 1
