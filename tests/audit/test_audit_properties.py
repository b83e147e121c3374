"""Hypothesis hunts the auditor's id bookkeeping and the exact top-k kernel.

Exact search: whatever the shapes, k, metric, duplicated rows (ties) and exclusions, every
returned label's recomputed float64 distance equals the returned distance, and the returned
distances are the brute-force top-k distances. Audit: random docs tables and indexes with
planted orphans, gaps and duplicate adds give exactly the set-algebra answers.
"""

import faiss
import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

import undertow as ut


@st.composite
def search_case(draw):
    n = draw(st.integers(1, 300))
    dim = draw(st.integers(1, 9))
    nq = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # a small integer grid makes exact ties and duplicated rows common
    x = rng.integers(-3, 4, size=(n, dim)).astype(np.float64)
    q = rng.integers(-3, 4, size=(nq, dim)).astype(np.float64)
    k = draw(st.integers(1, n + 3))
    metric = draw(st.sampled_from(["ip", "l2"]))
    exclude = rng.integers(-1, n, size=nq) if draw(st.booleans()) else None
    return x, q, k, metric, exclude


@settings(max_examples=150, deadline=None)
@given(search_case())
def test_exact_search_returns_a_true_top_k(case):
    x, q, k, metric, exclude = case
    d, labels = ut.exact_search(x, q, k=k, metric=metric, exclude=exclude)
    scores = q @ x.T if metric == "ip" else ((q[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    for i in range(len(q)):
        allowed = np.ones(len(x), dtype=bool)
        if exclude is not None and exclude[i] >= 0:
            allowed[exclude[i]] = False
        want = np.sort(scores[i, allowed])
        want = want[::-1][:k] if metric == "ip" else want[:k]
        got = labels[i][labels[i] >= 0]
        assert len(got) == len(want) and len(set(got.tolist())) == len(got)
        assert allowed[got].all()
        np.testing.assert_allclose(d[i, : len(got)], scores[i, got], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(d[i, : len(got)], want, rtol=1e-12, atol=1e-12)
        pad = d[i, len(got) :]
        assert np.all(labels[i, len(got) :] == -1)
        assert np.all(np.isinf(pad)) and np.all((pad < 0) if metric == "ip" else (pad > 0))


@st.composite
def audit_case(draw):
    universe = draw(st.integers(5, 60))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(-(2**40), 2**40, 2**33), size=universe, replace=False).astype(np.int64)
    in_docs = rng.random(universe) < 0.8
    deleted = in_docs & (rng.random(universe) < 0.2)
    in_index = rng.random(universe) < 0.8
    if not in_index.any():
        in_index[0] = True
    copies = np.where(in_index, 1 + (rng.random(universe) < 0.15), 0)
    stale = rng.random(universe) < 0.2
    version = np.where(rng.random(universe) < 0.2, "v2", "v1")
    return ids, in_docs, deleted, copies, stale, version, rng


@settings(max_examples=60, deadline=None)
@given(audit_case())
def test_audit_id_checks_are_exact_set_algebra(case):
    ids, in_docs, deleted, copies, stale, version, rng = case
    stored_ids = np.repeat(ids, copies)
    vectors = rng.normal(size=(len(stored_ids), 4)).astype(np.float32)
    index = faiss.IndexIDMap2(faiss.IndexFlatL2(4))
    index.add_with_ids(vectors, stored_ids)
    docs = pl.DataFrame(
        {
            "id": ids[in_docs],
            "content_hash": np.where(stale, "new", "old")[in_docs],
            "embedded_hash": ["old"] * int(in_docs.sum()),
            "encoder_version": version[in_docs],
            "deleted": deleted[in_docs],
        }
    )
    report = ut.audit_index(index, docs, encoder_version="v1", query_sample=5)
    live = in_docs & ~deleted
    indexed = copies > 0

    def same(check, mask, idle="ok"):
        assert np.array_equal(np.sort(report[check].ids), np.sort(ids[mask])), check
        assert report[check].status == ("fail" if mask.any() else idle), check

    same("orphaned_vectors", indexed & ~live)
    same("missing_vectors", live & ~indexed)
    same("duplicate_ids", copies > 1)
    same("content_stale", live & indexed & stale)
    # with no live document in the index there is no encoder to compare: not_run
    same("encoder_mix", live & indexed & (version != "v1"), "ok" if (live & indexed).any() else "not_run")
    assert report["orphaned_vectors"].value == (copies * (indexed & ~live)).sum() / copies.sum()
    assert set(report["tombstone_pollution"].ids) <= set(ids[indexed & ~live])
