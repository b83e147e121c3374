"""eval_coverage on the real sentence embeddings (tests/data/sentences.npz): chatterbot-corpus
and python-docs sentences, all-MiniLM-L6-v2 vectors. Every number is checked against an
independent float64 numpy computation."""

from __future__ import annotations

import numpy as np
import pytest
from sentences_data import load_sentences

import undertow as ut


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    return load_sentences()


def unit64(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_nearest(eval_x: np.ndarray, prod_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sims = unit64(prod_x) @ unit64(eval_x).T
    return sims.argmax(1), sims.max(1)


def nearest_other_sims(eval_x: np.ndarray) -> np.ndarray:
    e = unit64(eval_x)
    sims = e @ e.T
    np.fill_diagonal(sims, -np.inf)
    return sims.max(1)


def hand_psi(expected: np.ndarray, actual: np.ndarray, eps: float = 1e-4) -> float:
    e = np.maximum(expected / expected.sum(), eps)
    a = np.maximum(actual / actual.sum(), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def check_against_numpy(
    report: ut.CoverageReport, eval_x: np.ndarray, prod_x: np.ndarray, quantile: float | None
):
    """Nearest neighbours, similarities, radius, cluster counts and the mix PSI, recomputed."""
    q = report.queries
    nearest, sims = brute_nearest(eval_x, prod_x)
    # Exact search: the same nearest item except where two eval items tie to float32 precision.
    same = q["nearest_eval_id"].to_numpy() == nearest
    if not same.all():
        alt = (unit64(prod_x[~same]) * unit64(eval_x[q["nearest_eval_id"].to_numpy()[~same]])).sum(1)
        np.testing.assert_allclose(alt, sims[~same], atol=2e-6)
    np.testing.assert_allclose(q["similarity"].to_numpy(), sims, atol=2e-6)
    if quantile is not None:
        assert report.radius == pytest.approx(np.quantile(nearest_other_sims(eval_x), quantile), abs=2e-6)
    np.testing.assert_array_equal(q["covered"].to_numpy(), q["similarity"].to_numpy() >= report.radius)
    assert report.covered == int(q["covered"].sum())
    # Cluster: the nearest centroid (float64) of each unit row, up to float32 near-ties.
    clusters = q["cluster"].to_numpy()
    d = ((unit64(prod_x)[:, None, :] - report.centroids[None]) ** 2).sum(-1)
    wrong = clusters != d.argmin(1)
    assert np.all(d[wrong, clusters[wrong]] - d.min(1)[wrong] < 1e-5)
    assert wrong.mean() < 1e-3
    k = len(report.clusters)
    counts = np.bincount(clusters, minlength=k)
    covered = np.bincount(clusters[q["covered"].to_numpy()], minlength=k)
    for c in report.clusters:
        assert c.rows == counts[c.cluster]
        assert c.covered == covered[c.cluster]
        assert c.coverage == pytest.approx(covered[c.cluster] / counts[c.cluster])
        assert c.gap_score == pytest.approx(counts[c.cluster] / len(prod_x) * (1 - c.coverage))
    eval_counts = np.array([c.eval_items for c in report.clusters])
    assert report.mix_psi.value == pytest.approx(hand_psi(eval_counts, counts), rel=1e-12)


def test_python_docs_traffic_is_the_gap(data) -> None:
    x, source = data["minilm"], data["source"]
    chat = source == "chatterbot-corpus"
    eval_x = x[chat]
    report = ut.eval_coverage(eval_x, x, ids=data["ids"], clusters=12)
    check_against_numpy(report, eval_x, x, 0.1)
    q = report.queries
    covered = q["covered"].to_numpy()
    docs = source == "python-docs"
    assert covered[chat].all()  # every chatterbot query is an eval item: similarity 1
    # Far below the 0.9 a representative suite gets (measured: 0.405).
    assert covered[docs].mean() < 0.5, covered[docs].mean()
    assert report.null_coverage == pytest.approx(0.9)
    assert report.status == "gaps"
    clusters = q["cluster"].to_numpy()
    top = report.flagged[:3]
    assert len(top) >= 3
    for c in top:
        share_docs = docs[clusters == c.cluster].mean()
        assert share_docs >= 0.9, (c, share_docs)
    for c in report.clusters:  # the chatterbot clusters are covered
        if docs[clusters == c.cluster].mean() < 0.1:
            assert c.coverage > 0.9 and not c.flagged
        # Representatives are real production ids of that cluster.
        assert set(c.representatives) <= set(data["ids"][clusters == c.cluster].tolist())
    assert report.mix_psi.status == "significant"


def test_eval_a_random_half_of_production_flags_nothing(data) -> None:
    x = data["minilm"]
    rng = np.random.default_rng(0)
    half = np.sort(rng.choice(len(x), len(x) // 2, replace=False))
    eval_x = x[half]
    report = ut.eval_coverage(eval_x, x, clusters=12)
    check_against_numpy(report, eval_x, x, 0.1)
    held_out = np.setdiff1d(np.arange(len(x)), half)
    held_cov = report.queries["covered"].to_numpy()[held_out].mean()
    # The rule's null: a held-out query is covered about as often as 1 - quantile.
    assert 0.85 <= held_cov <= 0.97, held_cov
    assert report.coverage >= 0.93
    assert report.flagged == [] and report.status == "covered"
    assert report.mix_psi.value < 0.1


def test_explicit_radius_overrides_the_rule(data) -> None:
    x = data["minilm"][:800]
    report = ut.eval_coverage(x[:300], x, radius=0.6, clusters=4)
    check_against_numpy(report, x[:300], x, None)
    assert report.radius == 0.6 and report.radius_rule == "given"
    _, sims = brute_nearest(x[:300], x)
    assert report.covered == int((sims >= 0.6).sum())
