"""The auditor on real sentence embeddings (tests/data/sentences.npz, see tests/data/README.md).

A silent encoder swap: a few documents were re-embedded with the second encoder (m2v, same
dimension, another coordinate system) while the docs table still says minilm. Only the vectors
know. Fresh minilm embeddings of a sample expose exactly those documents; a clean index passes.
"""

import faiss
import numpy as np
import polars as pl
import pytest
from sentences_data import load_sentences

import undertow as ut


@pytest.fixture(scope="module")
def corpus():
    s = load_sentences()
    ids = s["ids"] * 10 + 3
    docs = pl.DataFrame(
        {
            "id": ids,
            "content_hash": [f"c{i}" for i in ids],
            "embedded_hash": [f"c{i}" for i in ids],
            "encoder_version": ["all-MiniLM-L6-v2"] * len(ids),
        }
    )
    # m2v is shipped for the python-docs rows (m2v_rows) only
    return ids, s["minilm"], (s["m2v_rows"], s["m2v"]), docs


def _index(vectors, ids):
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    index.add_with_ids(np.ascontiguousarray(vectors), ids)
    return index


def test_clean_real_index_is_all_clear(corpus):
    ids, minilm, _, docs = corpus
    sample = np.random.default_rng(0).choice(len(ids), 500, replace=False)
    report = ut.audit_index(_index(minilm, ids), docs, fresh=(ids[sample], minilm[sample]))
    assert report.status == "ok", report.summary()
    assert report["fresh_cosine"].detail["min_cosine"] > 0.9999
    assert report["ann_recall"].value == 1.0


def test_silent_encoder_swap_is_found_by_fresh_vectors(corpus):
    ids, minilm, (m2v_rows, m2v), docs = corpus
    rng = np.random.default_rng(1)
    pick = rng.choice(len(m2v_rows), 40, replace=False)
    swapped = m2v_rows[pick]
    stored = minilm.copy()
    stored[swapped] = m2v[pick]
    # the fresh sample: 300 random documents plus half of the swapped ones, embedded now (minilm)
    sample = np.union1d(rng.choice(len(ids), 300, replace=False), swapped[:20])
    report = ut.audit_index(_index(stored, ids), docs, fresh=(ids[sample], minilm[sample]))
    check = report["fresh_cosine"]
    expected = np.sort(ids[np.intersect1d(sample, swapped)])
    assert check.status == "fail"
    np.testing.assert_array_equal(np.sort(check.ids), expected)
    # the metadata says one encoder, so encoder_mix cannot see it; the vectors are unit norm
    assert report["encoder_mix"].status == "ok"
    assert report["norm_profile"].status == "ok"
    # independent: cosine of stored vs fresh in float64
    cos = np.einsum("ij,ij->i", stored[sample].astype(np.float64), minilm[sample].astype(np.float64))
    assert check.count == int((cos < 0.98).sum())
