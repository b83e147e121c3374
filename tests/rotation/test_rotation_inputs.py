"""rotation_preview on bad and awkward input: clear errors naming the argument, or a right answer."""

import numpy as np
import pytest

import undertow as ut
from undertow import UndertowError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    old = rng.normal(size=(300, 12)).astype(np.float32)
    new = (old @ rng.normal(size=(12, 8))).astype(np.float32)
    return old, new


def test_different_dims_work_and_match_brute_force(data):
    old, new = data
    report = ut.rotation_preview(
        old, new, old[:30] + 0.1, (old[:30] + 0.1) @ np.eye(12, 8, dtype=np.float32), k=4
    )
    assert report.settings["dims"] == [12, 8]
    w = report.compatibility.numbers
    assert w["dims"] == [12, 8] and "self_cosine_median" not in w
    assert report.verdict in ("alignable", "incompatible")


def test_unaligned_ids_and_counts(data):
    old, new = data
    ids = np.arange(300)
    with pytest.raises(UndertowError, match="new_docs: ids are not aligned with old_docs: 1 of"):
        ut.rotation_preview(old, new, doc_ids=(ids, np.r_[ids[:-1], 999]))
    with pytest.raises(UndertowError, match="new_docs: has 299 rows, old_docs 300"):
        ut.rotation_preview(old, new[:-1])
    with pytest.raises(UndertowError, match="old_docs: id 5 appears more than once"):
        ut.rotation_preview(old, new, doc_ids=np.r_[ids[:-1], 5])
    with pytest.raises(UndertowError, match=r"old_docs: 3 ids for 300"):
        ut.rotation_preview(old, new, doc_ids=[1, 2, 3])
    with pytest.raises(UndertowError, match="old_queries: vectors have 8 dimensions, old_docs 12"):
        ut.rotation_preview(old, new, new[:5], new[:5])
    with pytest.raises(UndertowError, match="give both old_queries and new_queries"):
        ut.rotation_preview(old, new, old[:5])


@pytest.mark.parametrize("k", [0, -1])
def test_k_must_be_positive(data, k):
    old, new = data
    with pytest.raises(UndertowError, match=f"k: must be between 1 and 10000, got {k}"):
        ut.rotation_preview(old, new, k=k)


def test_k_larger_than_corpus(data):
    old, new = data
    report = ut.rotation_preview(old[:6], new[:6], old[:3], new[:3], k=10, sample=6)
    # 6 documents: 6 valid ids per query, the rest padded; the self-excluded documents see 5
    assert (report.churn.old_top >= 0).sum(axis=1).tolist() == [6, 6, 6]
    assert (report.neighbourhood.old_top >= 0).sum(axis=1).tolist() == [5] * 6
    assert np.all(report.neighbourhood.overlap <= 1.0)


def test_nan_rows_are_left_out_of_both_sides(data):
    old, new = data
    old_nan, new_nan = old.copy(), new.copy()
    old_nan[[3, 40]] = np.nan
    new_nan[77, 2] = np.inf
    queries = (old[:25] + 0.05, new[:25] + 0.05)
    report = ut.rotation_preview(old_nan, new_nan, *queries, k=5, metric="ip")
    assert report.settings["dropped_documents"] == 3
    for top in (report.churn.old_top, report.churn.new_top, report.neighbourhood.old_top):
        assert not np.isin(top, [3, 40, 77]).any()
    # independent: the same preview on the documents without those rows, ids kept
    keep = np.setdiff1d(np.arange(300), [3, 40, 77])
    clean = ut.rotation_preview(old[keep], new[keep], *queries, doc_ids=keep, k=5, metric="ip")
    np.testing.assert_array_equal(report.churn.old_top, clean.churn.old_top)
    np.testing.assert_array_equal(report.churn.new_top, clean.churn.new_top)
    with pytest.raises(UndertowError, match="old_queries: 1 rows hold NaN or inf"):
        bad = queries[0].copy()
        bad[4, 0] = np.nan
        ut.rotation_preview(old, new, bad, queries[1])


def test_many_nan_rows_take_the_compact_path(data, monkeypatch):
    from undertow.rotation import search

    old, new = data
    monkeypatch.setattr(search, "MAX_FILTERED", 2)
    old_nan = old.copy()
    old_nan[[1, 2, 3, 50]] = np.nan
    report = ut.rotation_preview(
        old_nan, new, old[:10], new[:10] @ np.eye(8, dtype=np.float32), k=5, metric="ip"
    )
    keep = np.setdiff1d(np.arange(300), [1, 2, 3, 50])
    clean = ut.rotation_preview(old[keep], new[keep], old[:10], new[:10], doc_ids=keep, k=5, metric="ip")
    np.testing.assert_array_equal(report.churn.old_top, clean.churn.old_top)
    np.testing.assert_array_equal(report.churn.new_top, clean.churn.new_top)


def test_other_arguments(data):
    old, new = data
    with pytest.raises(UndertowError, match="metric: must be one of ip, cosine, l2"):
        ut.rotation_preview(old, new, metric="dot")
    with pytest.raises(UndertowError, match="cutoffs: expected a list of finite numbers"):
        ut.rotation_preview(old, new, cutoffs=[0.5, np.nan])
    with pytest.raises(UndertowError, match="thresholds: unknown key 'nope'"):
        ut.rotation_preview(old, new, thresholds={"nope": 1})
    with pytest.raises(TypeError, match="old_docs"):
        ut.rotation_preview(np.array([["a", "b"]]), new)
    with pytest.raises(UndertowError, match=r"1 of 300 documents are finite"):
        all_nan = np.full_like(old, np.nan)
        all_nan[:1] = 1
        ut.rotation_preview(all_nan, new)
