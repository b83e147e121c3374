"""rotation_preview's statistics against independent float64 numpy/scipy computations."""

import numpy as np
import pytest
import scipy.linalg
from reference_impl import psi_reference

import undertow as ut
from undertow.rotation.compatibility import procrustes
from undertow.rotation.overlap import overlap_at_k, rbo


def brute_topk(docs, queries, k, metric, exclude=None):
    """Exact top-k in float64 by full sort; ties to the lower row (as the kernel)."""
    d = docs.astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "l2":
        key = ((q[:, None, :] - d[None, :, :]) ** 2).sum(axis=2)
    else:
        key = -(q @ d.T)
    if exclude is not None:
        key[np.arange(len(q)), exclude] = np.inf
    order = np.lexsort((np.broadcast_to(np.arange(len(d)), key.shape), key), axis=1)[:, :k]
    scores = np.take_along_axis(key, order, axis=1)
    return (scores if metric == "l2" else -scores), order


@pytest.fixture(scope="module")
def spaces():
    rng = np.random.default_rng(7)
    n, d_old, d_new = 600, 24, 16
    old = rng.normal(size=(n, d_old)).astype(np.float32)
    # the new encoder: a noisy linear image of the old one (other dimension)
    new = (old @ rng.normal(size=(d_old, d_new)) / 5 + rng.normal(scale=0.3, size=(n, d_new))).astype(
        np.float32
    )
    q_old = rng.normal(size=(40, d_old)).astype(np.float32)
    q_new = (q_old @ rng.normal(size=(d_old, d_new)) / 5).astype(np.float32)
    return old, new, q_old, q_new


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_churn_scores_and_cutoffs_match_numpy(spaces, metric):
    old, new, q_old, q_new = spaces
    k = 7
    cutoffs = [-1.0, 0.5, 3.0] if metric != "cosine" else [0.2, 0.5]
    report = ut.rotation_preview(
        old, new, q_old, q_new, k=k, metric=metric, cutoffs=cutoffs, sample=50, seed=3
    )
    prep = (
        (lambda x: x / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True))
        if metric == "cosine"
        else (lambda x: x)
    )
    kernel = "l2" if metric == "l2" else "ip"
    s_old, r_old = brute_topk(prep(old), prep(q_old), k, kernel)
    s_new, r_new = brute_topk(prep(new), prep(q_new), k, kernel)
    np.testing.assert_array_equal(report.churn.old_top, r_old)
    np.testing.assert_array_equal(report.churn.new_top, r_new)
    want_overlap = np.array([len(set(a) & set(b)) / k for a, b in zip(r_old, r_new, strict=True)])
    np.testing.assert_allclose(report.churn.overlap, want_overlap, rtol=0, atol=1e-15)
    check = report["result_churn"]
    assert check.value == pytest.approx(want_overlap.mean(), abs=1e-12)
    assert check.detail["overlap_p10"] == pytest.approx(np.quantile(want_overlap, 0.1), abs=1e-12)
    assert check.detail["share_overlap_below_half"] == pytest.approx((want_overlap < 0.5).mean())
    np.testing.assert_array_equal(np.sort(check.ids), np.flatnonzero(want_overlap < 0.5))
    # PSI of top-1 and top-k scores: undertow's quantile binning from the old scores
    for key, old_s, new_s in (("top1", s_old[:, 0], s_new[:, 0]), ("topk", s_old.ravel(), s_new.ravel())):
        assert report.scores[f"psi_{key}"] == pytest.approx(
            psi_reference(old_s, new_s)["value"], rel=1e-6, abs=1e-9
        )
    larger = metric != "l2"
    old_flat, new_flat = s_old.ravel(), s_new.ravel()
    for remap, c in zip(report.cutoffs, cutoffs, strict=True):
        passes = (old_flat >= c) if larger else (old_flat <= c)
        rate = passes.mean()
        assert remap.pass_rate_old == pytest.approx(rate, abs=1e-12)
        assert remap.pass_rate_new == pytest.approx(
            ((new_flat >= c) if larger else (new_flat <= c)).mean(), abs=1e-12
        )
        q = np.quantile(new_flat, 1 - rate if larger else rate)
        assert remap.quantile_cutoff == pytest.approx(q, rel=1e-5, abs=1e-6)
        # the set cutoff: brute force over every distinct new score
        old_pairs = {
            (i, j)
            for i in range(len(r_old))
            for s, j in zip(s_old[i], r_old[i], strict=True)
            if (s >= c if larger else s <= c)
        }
        best = (-1.0, None)
        for t in np.unique(new_flat)[:: -1 if larger else 1]:
            kept = {
                (i, j)
                for i in range(len(r_new))
                for s, j in zip(s_new[i], r_new[i], strict=True)
                if (s >= t if larger else s <= t)
            }
            jac = len(old_pairs & kept) / len(old_pairs | kept) if old_pairs | kept else 1.0
            if jac > best[0] + 1e-12:
                best = (jac, t)
        if old_pairs:
            assert remap.set_jaccard == pytest.approx(best[0], abs=1e-6)
    table = report.cutoff_frame()
    np.testing.assert_allclose(
        table["old_cutoff"].to_numpy(), np.quantile(old_flat, np.linspace(0, 1, 21)), rtol=1e-5, atol=1e-6
    )


def test_neighbourhood_matches_brute_force(spaces):
    old, new, q_old, q_new = spaces
    report = ut.rotation_preview(old, new, q_old, q_new, k=5, metric="ip", sample=60, seed=1)
    rows = report.neighbourhood.ids  # ids are the row numbers here
    _, r_old = brute_topk(old, old[rows], 5, "ip", exclude=rows)
    _, r_new = brute_topk(new, new[rows], 5, "ip", exclude=rows)
    np.testing.assert_array_equal(report.neighbourhood.old_top, r_old)
    np.testing.assert_array_equal(report.neighbourhood.new_top, r_new)
    np.testing.assert_allclose(report.neighbourhood.rbo, rbo(r_old, r_new, 0.9), atol=1e-15)
    assert report["neighbourhood"].value == pytest.approx(overlap_at_k(r_old, r_new).mean())


def test_procrustes_matches_scipy_and_rectangular_optimum():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 12))
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    y = x @ q + rng.normal(scale=0.05, size=x.shape)
    want, _ = scipy.linalg.orthogonal_procrustes(x, y)
    np.testing.assert_allclose(procrustes(x, y), want, atol=1e-10)
    # rectangular: W^T W = I (12 -> 8) and tr(W^T X^T Y) reaches the nuclear norm of X^T Y
    y8 = rng.normal(size=(200, 8))
    w = procrustes(x, y8)
    np.testing.assert_allclose(w.T @ w, np.eye(8), atol=1e-12)
    assert np.trace(w.T @ x.T @ y8) == pytest.approx(scipy.linalg.svdvals(x.T @ y8).sum(), rel=1e-12)
    w = procrustes(y8, x)  # 8 -> 12: W W^T = I
    np.testing.assert_allclose(w @ w.T, np.eye(8), atol=1e-12)


def test_aligned_by_id_equals_aligned_by_position(spaces):
    old, new, q_old, q_new = spaces
    rng = np.random.default_rng(4)
    ids = rng.permutation(len(old)) * 3 + 11
    shuffle = rng.permutation(len(old))
    by_position = ut.rotation_preview(old, new, q_old, q_new, doc_ids=ids, k=5, sample=40, seed=2)
    by_id = ut.rotation_preview(
        old, new[shuffle], q_old, q_new, doc_ids=(ids, ids[shuffle]), k=5, sample=40, seed=2
    )
    np.testing.assert_array_equal(by_position.churn.old_top, by_id.churn.old_top)
    np.testing.assert_array_equal(by_position.churn.new_top, by_id.churn.new_top)
    assert by_position.to_dict()["checks"] == by_id.to_dict()["checks"]
