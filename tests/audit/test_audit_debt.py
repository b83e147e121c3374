"""ut.audit_index on planted retrieval debt: a clean index of every supported kind is all clear,
and each planted problem is reported with exactly the planted ids and the expected status.

Expected ids are the planted ones; recalls, norms, cosines, imbalance factors and score
distributions are recomputed here with numpy (float64) and faiss's own structures.
"""

import faiss
import numpy as np
import polars as pl
import pytest
from audit_corpus import (
    DIM,
    KINDS,
    NLIST,
    N,
    clustered,
    corpus,
    cosines64,
    docs_table,
    exact_topk64,
    imbalance64,
    invlist_sizes,
    ivf_assignment,
    make_index,
    sorted_ids,
    train_index,
    unit,
)
from reference_impl import psi_reference

import undertow as ut
from undertow.audit import CHECKS

ID_CHECKS = ("orphaned_vectors", "missing_vectors", "duplicate_ids", "content_stale", "encoder_mix")


@pytest.fixture(scope="module")
def data():
    return corpus()


def assert_ok(report, *names):
    for name in names:
        check = report[name]
        assert check.status == "ok", check
        assert check.ids.size == 0 and check.count == 0, check


# ---------------------------------------------------------------------------------------------
# a clean index


@pytest.mark.parametrize("kind", list(KINDS))
def test_clean_index_is_all_clear(data, kind):
    index, ids = make_index(kind, data.vectors, data.ids)
    sample = np.sort(np.random.default_rng(1).choice(N, 300, replace=False))
    report = ut.audit_index(
        index, docs_table(ids), encoder_version="enc-v1", fresh=(ids[sample], data.vectors[sample])
    )
    assert report.status == "ok", report.summary()
    is_ivf = "IVF" in kind
    # encoder_mix_vectors: the corpus's Gaussian clusters around random centres share no mean
    # direction (real encoders' do), so the check cannot judge them and says so
    expected_not_run = {"score_shift", "encoder_mix_vectors"} | (
        set() if is_ivf else {"ivf_imbalance", "ivf_residual_drift"}
    )
    assert {name for name, c in report.checks.items() if c.status == "not_run"} == expected_not_run
    assert all(c.status == "ok" for name, c in report.checks.items() if name not in expected_not_run)
    assert list(report.checks) == list(CHECKS)
    assert_ok(report, *ID_CHECKS, "fresh_cosine", "norm_profile", "tombstone_pollution")
    assert report.index["type"] == kind and report.index["ntotal"] == N and report.index["dim"] == DIM
    assert report.index["metric"] == ("l2" if "L2" in kind or kind == "IndexIVFPQ" else "ip")
    lossy = kind in ("IndexIVFPQ", "IndexScalarQuantizer")
    assert report.index["lossy"] is lossy

    # unchanged vectors pass, lossy codes included (compared with the index's encode-decode)
    fresh = report["fresh_cosine"]
    assert fresh.sample_size == 300 and fresh.detail["not_in_index"] == 0
    assert fresh.detail["lossy_compare"] is lossy
    assert fresh.detail["min_cosine"] > 0.9999

    recall = report["ann_recall"]
    # a lossy index with fresh vectors is queried with them (decoded vectors are too easy)
    assert recall.detail["queries"] == ("fresh" if lossy else "stored")
    assert recall.sample_size == (300 if lossy else 500) and recall.direction == "min"
    if KINDS[kind] and kind != "IndexHNSWFlat":
        assert recall.value == 1.0  # exhaustive search over exactly stored vectors
    else:
        assert recall.value >= recall.threshold == 0.9
    if is_ivf:
        imbalance = report["ivf_imbalance"]
        assert imbalance.value == pytest.approx(imbalance64(index), rel=1e-12)
        assert imbalance.value == pytest.approx(index.invlists.imbalance_factor(), rel=1e-9)
        assert report["ivf_residual_drift"].value < 1.5
    else:
        assert "not an IVF index" in report["ivf_imbalance"].message


def test_without_fresh_vectors_or_baseline_those_checks_do_not_run(data):
    index, ids = make_index("IndexFlatIP", data.vectors)
    report = ut.audit_index(index, docs_table(ids))
    assert report.status == "ok"
    assert report["fresh_cosine"].status == "not_run" and "fresh" in report["fresh_cosine"].message
    assert report["score_shift"].status == "not_run" and "baseline" in report["score_shift"].message
    assert report["fresh_cosine"].value is None and report["score_shift"].value is None


# ---------------------------------------------------------------------------------------------
# planted debt


@pytest.mark.parametrize("kind", ["IndexIDMap(IndexFlatIP)", "IndexIVFFlat"])
def test_deleted_documents_left_in_the_index(data, kind):
    rng = np.random.default_rng(2)
    picked = rng.choice(N, 50, replace=False)
    flagged, absent = picked[:30], picked[30:]
    index, ids = make_index(kind, data.vectors, data.ids)
    docs = docs_table(ids)
    docs = docs.with_columns(deleted=pl.Series(np.isin(np.arange(N), flagged)))
    docs = docs.filter(pl.Series(~np.isin(np.arange(N), absent)))
    # queries next to the deleted documents: a deleted document is what they get back
    queries = unit(data.vectors[picked] + 0.02 * rng.normal(size=(50, DIM)))
    report = ut.audit_index(index, docs, queries=queries, k=10)

    orphans = sorted_ids(ids[picked])
    check = report["orphaned_vectors"]
    assert check.status == "fail"
    np.testing.assert_array_equal(np.sort(check.ids), orphans)
    assert check.count == 50 and check.value == pytest.approx(50 / N)
    assert check.detail == {"rows": 50, "flagged_deleted": 30}
    assert "30 flagged deleted, 20 absent from docs" in check.message
    # deleted documents are not owed a vector
    assert_ok(report, "missing_vectors", "duplicate_ids", "content_stale", "encoder_mix")
    # a tolerated share: the same ids, judged ok
    lenient = ut.audit_index(
        index, docs, queries=queries, thresholds={"orphaned_vectors": 0.05, "tombstone_pollution": 1.0}
    )
    assert lenient.status == "ok" and lenient["orphaned_vectors"].threshold == 0.05
    np.testing.assert_array_equal(np.sort(lenient["orphaned_vectors"].ids), orphans)

    tombstones = report["tombstone_pollution"]
    assert tombstones.status == "fail"
    assert tombstones.ids.size > 0 and np.isin(tombstones.ids, orphans).all()
    _, found = index.search(queries, 10)
    polluted = np.isin(found, orphans)
    assert tombstones.value == pytest.approx(polluted.mean(), rel=1e-12)
    assert tombstones.detail["top1_share"] == pytest.approx(polluted[:, 0].mean(), rel=1e-12)
    np.testing.assert_array_equal(np.sort(tombstones.ids), np.unique(found[polluted]))


def test_documents_never_added(data):
    rng = np.random.default_rng(3)
    picked = rng.choice(N, 50, replace=False)
    never_added, deleted_unindexed = picked[:40], picked[40:]
    kept = ~np.isin(np.arange(N), picked)
    index, _ = make_index("IndexIDMap(IndexFlatIP)", data.vectors[kept], data.ids[kept])
    docs = docs_table(data.ids).with_columns(deleted=pl.Series(np.isin(np.arange(N), deleted_unindexed)))
    report = ut.audit_index(index, docs)

    check = report["missing_vectors"]
    assert check.status == "fail"
    np.testing.assert_array_equal(np.sort(check.ids), sorted_ids(data.ids[never_added]))
    assert check.sample_size == N - 10 and check.value == pytest.approx(40 / (N - 10))
    assert_ok(
        report, "orphaned_vectors", "duplicate_ids", "content_stale", "encoder_mix", "tombstone_pollution"
    )
    assert report.status == "fail" and report.failed == ["missing_vectors"]


@pytest.mark.parametrize("kind", ["IndexIDMap2(IndexFlatL2)", "IndexIVFFlat"])
def test_duplicate_adds(data, kind):
    rng = np.random.default_rng(4)
    picked = rng.choice(N, 26, replace=False)
    same, stale, thrice = picked[:15], picked[15:25], picked[25:]
    index, ids = make_index(kind, data.vectors, data.ids)
    # the same vector added again, an old vector left beside the current one, three copies
    old = unit(rng.normal(size=(len(stale), DIM)))
    index.add_with_ids(data.vectors[same], ids[same])
    index.add_with_ids(old, ids[stale])
    index.add_with_ids(data.vectors[np.r_[thrice, thrice]], ids[np.r_[thrice, thrice]])
    # fresh vectors (the current ones) for a sample holding every duplicated id
    sample = np.union1d(rng.choice(N, 200, replace=False), picked)
    report = ut.audit_index(index, docs_table(ids), fresh=(ids[sample], data.vectors[sample]))

    check = report["duplicate_ids"]
    assert check.status == "fail"
    np.testing.assert_array_equal(np.sort(check.ids), sorted_ids(ids[picked]))
    assert check.detail == {"extra_vectors": 27, "max_copies": 3}
    assert check.value == pytest.approx(27 / (N + 27))
    assert_ok(report, "orphaned_vectors", "missing_vectors", "content_stale", "encoder_mix")

    # only the stale copies disagree with the fresh vectors
    assert (cosines64(old, data.vectors[stale]) < 0.98).all()
    fresh = report["fresh_cosine"]
    assert fresh.status == "fail"
    np.testing.assert_array_equal(np.sort(fresh.ids), sorted_ids(ids[stale]))
    assert fresh.value == pytest.approx(10 / len(sample))


@pytest.mark.parametrize("kind", ["IndexIDMap2(IndexFlatL2)", "IndexIVFPQ", "IndexScalarQuantizer"])
def test_edited_documents_not_re_embedded(data, kind):
    rng = np.random.default_rng(5)
    edited = rng.choice(N, 35, replace=False)
    index, ids = make_index(kind, data.vectors, data.ids)
    docs = docs_table(ids)
    is_edited = np.isin(np.arange(N), edited)
    flag = pl.Series(is_edited)
    docs = docs.with_columns(
        content_hash=pl.when(flag).then(pl.col("content_hash") + "-edited").otherwise("content_hash"),
        updated_at=pl.when(flag).then(pl.col("updated_at") + pl.duration(days=3)).otherwise("updated_at"),
    )
    # fresh embeddings of a sample: the 20 edited documents in it moved, the rest did not
    moved = edited[:20]
    unchanged = rng.choice(np.flatnonzero(~is_edited), 280, replace=False)
    sample = np.r_[unchanged, moved]
    fresh = data.vectors[sample].copy()
    fresh[-20:] = unit(rng.normal(size=(20, DIM)))
    assert (cosines64(fresh[-20:], data.vectors[moved]) < 0.7).all()  # a big move
    # two documents whose embedding was never recorded are stale too
    unrecorded = rng.choice(np.setdiff1d(np.flatnonzero(~is_edited), unchanged), 2, replace=False)
    docs = docs.with_columns(
        embedded_hash=pl.when(pl.Series(np.isin(np.arange(N), unrecorded)))
        .then(None)
        .otherwise("embedded_hash")
    )
    report = ut.audit_index(index, docs, fresh=(ids[sample], fresh))

    stale = report["content_stale"]
    assert stale.status == "fail"
    np.testing.assert_array_equal(np.sort(stale.ids), sorted_ids(ids[np.r_[edited, unrecorded]]))
    assert stale.value == pytest.approx(37 / N)
    assert stale.detail["max_stale_seconds"] == stale.detail["median_stale_seconds"] == 3 * 86400
    check = report["fresh_cosine"]
    assert check.status == "fail" and check.sample_size == 300
    np.testing.assert_array_equal(np.sort(check.ids), sorted_ids(ids[moved]))
    assert check.detail["lossy_compare"] is (kind != "IndexIDMap2(IndexFlatL2)")
    assert_ok(report, "orphaned_vectors", "missing_vectors", "duplicate_ids", "encoder_mix")


def test_vectors_from_a_second_encoder(data):
    rng = np.random.default_rng(6)
    picked = rng.choice(N, 65, replace=False)
    second, second_unindexed = picked[:60], picked[60:]
    kept = ~np.isin(np.arange(N), second_unindexed)
    index, _ = make_index("IndexIDMap(IndexFlatIP)", data.vectors[kept], data.ids[kept])
    docs = docs_table(data.ids).with_columns(
        encoder_version=pl.Series(np.where(np.isin(np.arange(N), picked), "enc-v2", "enc-v1"))
    )
    for expected in ("enc-v1", None):  # None: the most common version is the expected one
        report = ut.audit_index(index, docs, encoder_version=expected)
        check = report["encoder_mix"]
        assert check.status == "fail"
        np.testing.assert_array_equal(np.sort(check.ids), sorted_ids(data.ids[second]))
        assert check.value == pytest.approx(60 / (N - 5)) and check.sample_size == N - 5
        assert check.detail == {"expected": "enc-v1", "versions": {"enc-v1": N - 65, "enc-v2": 60}}
        # an enc-v2 document that was never added is missing, not mixed
        np.testing.assert_array_equal(
            np.sort(report["missing_vectors"].ids), sorted_ids(data.ids[second_unindexed])
        )
        assert_ok(report, "orphaned_vectors", "duplicate_ids", "content_stale")
    # expecting the newer encoder, everything else is off
    check = ut.audit_index(index, docs, encoder_version="enc-v2")["encoder_mix"]
    indexed_v1 = np.flatnonzero(kept & ~np.isin(np.arange(N), picked))
    np.testing.assert_array_equal(np.sort(check.ids), sorted_ids(data.ids[indexed_v1]))


def drifted_ivf(data, train_on_all: bool, *, n_new=None, spread=0.25):
    """An IVFFlat trained on the old clusters (or on everything), fed the old vectors and then
    vectors of a new, far-away cluster embedded a month later. By default the new rows are
    exactly the latest 20% by embedded_at. Returns the index before and after the new rows."""
    rng = np.random.default_rng(8)
    old = np.flatnonzero(data.labels < 14)
    old = old[: len(old) // 4 * 4]
    new, _ = clustered(rng, n_new or len(old) // 4, rng.normal(size=(1, DIM)), spread)
    vectors = np.vstack([data.vectors[old], new])
    ids = np.arange(len(vectors), dtype=np.int64) * 3 + 1
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, NLIST, faiss.METRIC_INNER_PRODUCT)
    index.nprobe = NLIST
    train_index(index, vectors if train_on_all else data.vectors[old])
    index.add_with_ids(vectors[: len(old)], ids[: len(old)])
    before = faiss.clone_index(index)
    index.add_with_ids(new, ids[len(old) :])
    minutes = np.r_[np.arange(len(old)), 30 * 24 * 60 + np.arange(len(new))]
    return before, index, vectors, ids, docs_table(ids, minutes=minutes), len(old)


def test_ivf_trained_on_old_clusters_then_fed_new_ones(data):
    before, index, vectors, ids, docs, n_old = drifted_ivf(data, train_on_all=False)
    old_docs = docs.head(n_old)
    clean_report = ut.audit_index(before, old_docs)
    assert clean_report.status == "ok", clean_report.summary()
    report = ut.audit_index(index, docs)
    drift = report["ivf_residual_drift"]
    assert drift.status == "warn" and drift.value > 1.5
    assert drift.count == len(ids) - n_old  # the recent vectors are the new ones
    assert drift.ids.size == 20 and np.isin(drift.ids, ids[n_old:]).all()
    # independent: distance of every vector to the centroid of the list faiss put it in
    list_ids, lists = ivf_assignment(index)
    order = np.argsort(list_ids)
    centroids = index.quantizer.reconstruct_n(0, NLIST).astype(np.float64)
    distance = np.linalg.norm(vectors.astype(np.float64) - centroids[lists[order]], axis=1)
    ratio = np.median(distance[n_old:]) / np.median(distance[:n_old])
    assert drift.value == pytest.approx(ratio, rel=1e-5)
    assert drift.detail["recent_vectors"] == len(ids) - n_old

    # the new cluster piles into the lists nearest to it
    for ivf, audited in ((before, clean_report), (index, report)):
        check = audited["ivf_imbalance"]
        assert check.value == pytest.approx(imbalance64(ivf), rel=1e-12)
        assert check.value == pytest.approx(ivf.invlists.imbalance_factor(), rel=1e-9)
        assert check.status == "ok" and check.value < 3.0
    assert report["ivf_imbalance"].value > clean_report["ivf_imbalance"].value + 0.1
    assert_ok(report, *ID_CHECKS)

    # a quantizer trained on everything still fits
    _, retrained, *_ = drifted_ivf(data, train_on_all=True)
    fits = ut.audit_index(retrained, docs)["ivf_residual_drift"]
    assert fits.status == "ok" and fits.value < 1.5 and "still fits" in fits.message


def test_ivf_imbalance_warns_when_a_few_lists_hold_most_vectors(data):
    # as many new vectors as old ones, in one tight cluster: one list takes nearly all of them
    _, index, _, ids, docs, _ = drifted_ivf(data, train_on_all=False, n_new=3000, spread=0.05)
    check = ut.audit_index(index, docs)["ivf_imbalance"]
    sizes = invlist_sizes(index)
    assert check.status == "warn" and check.value > 3.0
    assert check.value == pytest.approx(index.nlist * (sizes**2).sum() / len(ids) ** 2, rel=1e-12)
    assert check.detail["empty_lists"] == int((sizes == 0).sum())
    biggest = int(np.argmax(sizes))
    assert check.detail["largest_lists"][biggest] == sizes.max() > 2500


def test_norm_profile(data):
    rng = np.random.default_rng(8)
    picked = rng.choice(N, 28, replace=False)
    scaled, broken = picked[:25], picked[25:]
    vectors = data.vectors.copy()
    vectors[scaled] *= 3
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
    off = np.abs(norms - 1.0) > 0.01
    np.testing.assert_array_equal(np.flatnonzero(off), np.sort(scaled))
    docs = docs_table(data.ids)

    index, ids = make_index("IndexIDMap(IndexFlatIP)", vectors, data.ids)
    check = ut.audit_index(index, docs)["norm_profile"]
    assert check.status == "fail"
    np.testing.assert_array_equal(np.sort(check.ids), sorted_ids(ids[off]))
    assert check.value == pytest.approx(25 / N)
    assert check.detail["norm_quantiles"]["1.0"] == pytest.approx(norms.max(), rel=1e-6)

    # L2 ranks by distance, norms included: off-unit norms are not judged, NaN vectors are
    index, ids = make_index("IndexIDMap2(IndexFlatL2)", vectors, data.ids)
    check = ut.audit_index(index, docs)["norm_profile"]
    assert check.status == "ok" and check.ids.size == 0 and check.value == 0.0
    assert check.detail["off_unit_share"] == pytest.approx(25 / N)
    vectors[broken] = np.nan
    index, ids = make_index("IndexIDMap2(IndexFlatL2)", vectors, data.ids)
    check = ut.audit_index(index, docs)["norm_profile"]
    assert check.status == "fail" and check.detail["nonfinite_vectors"] == 3
    np.testing.assert_array_equal(np.sort(check.ids), sorted_ids(ids[broken]))
    assert check.value == pytest.approx(3 / N)


@pytest.mark.parametrize(
    ("kind", "metric"), [("IndexIDMap(IndexFlatIP)", "ip"), ("IndexIDMap2(IndexFlatL2)", "l2")]
)
def test_encoder_upgrade_that_shifts_scores(data, kind, metric):
    rng = np.random.default_rng(9)
    queries = unit(data.vectors[rng.choice(N, 400, replace=False)] + 0.05 * rng.normal(size=(400, DIM)))
    index, ids = make_index(kind, data.vectors, data.ids)
    docs = docs_table(ids)
    before = ut.audit_index(index, docs, queries=queries)
    # the upgraded encoder: every vector moved (the queries were cached from the old one)
    upgraded, _ = make_index(kind, unit(data.vectors + 0.15 * rng.normal(size=(N, DIM))), ids)
    after = ut.audit_index(upgraded, docs, queries=queries, baseline=before)
    shift = after["score_shift"]
    assert shift.status == "warn" and shift.value > 0.25
    as_json = ut.audit_index(upgraded, docs, queries=queries, baseline=before.to_json())["score_shift"]
    assert as_json.status == "warn" and as_json.value == shift.value

    # independent: the scores faiss returns, PSI from the reference implementation
    old_k, _ = index.search(queries, 10)
    new_k, _ = upgraded.search(queries, 10)
    old_k, new_k = old_k.astype(np.float64), new_k.astype(np.float64)
    old1, new1 = old_k[:, 0], new_k[:, 0]
    assert shift.detail["psi_top1"] == pytest.approx(psi_reference(old1, new1)["value"], rel=1e-9)
    assert shift.detail["psi_topk"] == pytest.approx(
        psi_reference(old_k.ravel(), new_k.ravel())["value"], rel=1e-9
    )
    assert shift.value == max(shift.detail["psi_top1"], shift.detail["psi_topk"])
    cutoff = np.median(old1)
    assert shift.detail["cutoff"] == pytest.approx(cutoff, rel=1e-12)
    passes = (lambda s, c: s >= c) if metric == "ip" else (lambda s, c: s <= c)
    rate = passes(old1, cutoff).mean()
    assert shift.detail["pass_rate_baseline"] == pytest.approx(rate, abs=1e-12)
    assert shift.detail["pass_rate_now"] == pytest.approx(passes(new1, cutoff).mean(), abs=1e-12)
    assert abs(rate - passes(new1, cutoff).mean()) > 0.2  # the cutoff no longer means what it did
    moved = shift.detail["cutoff_for_same_pass_rate"]
    assert abs(passes(new1, moved).mean() - rate) <= 1 / len(queries)

    # a cutoff of one's own: pass rates at it, before and after
    own = float(np.quantile(old1, 0.25 if metric == "ip" else 0.75))
    fixed = ut.audit_index(upgraded, docs, queries=queries, baseline=before, thresholds={"score_cutoff": own})
    assert fixed["score_shift"].detail["cutoff"] == own
    assert fixed["score_shift"].detail["pass_rate_baseline"] == pytest.approx(passes(old1, own).mean())
    assert fixed["score_shift"].detail["pass_rate_now"] == pytest.approx(passes(new1, own).mean())

    # the same index against its own audit: nothing moved
    same = ut.audit_index(index, docs, queries=queries, baseline=before)["score_shift"]
    assert same.status == "ok" and same.value == 0.0
    assert same.detail["pass_rate_now"] == same.detail["pass_rate_baseline"]


def test_ann_recall_against_float64_brute_force(data):
    rng = np.random.default_rng(10)
    index, ids = make_index("IndexIVFFlat", data.vectors, data.ids)
    index.nprobe = 1
    queries = unit(data.vectors[rng.choice(N, 200, replace=False)] + 0.1 * rng.normal(size=(200, DIM)))
    report = ut.audit_index(index, docs_table(ids), queries=queries, k=10)
    check = report["ann_recall"]

    _, exact_rows = exact_topk64(data.vectors, queries, 10, "ip")
    _, found = index.search(queries, 10)
    hits = np.array([np.isin(f[f >= 0], ids[e]).sum() for f, e in zip(found, exact_rows, strict=True)])
    recall = hits.sum() / found.size
    assert recall < 1.0  # one probe on clustered data misses neighbours across list borders
    assert check.value == pytest.approx(recall, abs=1e-12)
    assert check.count == found.size - hits.sum() and check.sample_size == 200
    assert check.status == ("warn" if recall < 0.9 else "ok")
    assert check.detail["per_query_min"] == pytest.approx(hits.min() / 10, abs=1e-12)
    lost = np.concatenate([np.setdiff1d(ids[e], f) for f, e in zip(found, exact_rows, strict=True)])
    assert check.ids.size == min(100, len(lost)) and np.isin(check.ids, lost).all()
    # every probe searched: exact again
    index.nprobe = NLIST
    assert ut.audit_index(index, docs_table(ids), queries=queries, k=10)["ann_recall"].value == 1.0
