"""Issue 17, item 5 (embedding parts): mean-centred embeddings are detected and their
meaningless centroid distance is not used; drifted_share sees a topic change the MMD test sees;
the RFF p-value is floored, never 0.0; the report says which rule set its status."""

import numpy as np
import pytest
from sentences_data import load_sentences, unit_float32

import undertow as ut


@pytest.fixture(scope="module")
def sentences():
    s = load_sentences()
    return {"minilm": unit_float32(s["minilm"]).astype(np.float64), "docs": s["source"] == "python-docs"}


def test_mean_centred_embeddings_are_detected_and_never_severe_by_centroid(sentences):
    x = sentences["minilm"]
    centred = x - x.mean(axis=0)  # what many pipelines do before storing vectors
    distances = []
    for seed in range(6):
        order = np.random.default_rng(seed).permutation(len(x))
        ref, cur = centred[order[:2000]], centred[order[2000:4000]]
        report = ut.EmbeddingDrift.fit(ref, permutations=100).compare(cur)
        assert report.mean_centred
        assert report.reference_centroid_norm < 0.05
        distances.append(report.cosine.centroid_distance)
        # no drift: the centroid distance is noise and must not make a report severe
        assert report.status != "severe" or report.domain_auc >= 0.9
        assert "mean-centred" in repr(report)
        assert report.to_dict()["mean_centred"] is True
        flags = dict(zip(report.to_polars()["metric"], report.to_polars()["flagged"], strict=True))
        assert flags["centroid_distance"] is False
    # the old rule's trap: no-drift halves of centred data sit far beyond the 0.25 threshold
    assert min(distances) > 0.25
    # uncentred sentence embeddings are not flagged as centred (MiniLM's centroid norm ~0.3-0.5)
    plain = ut.EmbeddingDrift.fit(x[:2000], permutations=50).compare(x[2000:4000])
    assert not plain.mean_centred and plain.reference_centroid_norm > 0.2


def test_centred_reference_with_drift_is_drift_not_severe_from_centroid():
    # a small real drift on centred data: flagged by the MMD test, labelled "drift" (the
    # classifier cannot separate the sides), the reason naming the ignored centroid rule
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(3000, 64))
    cur = rng.normal(size=(3000, 64))
    cur[:, 0] += 0.15
    report = ut.EmbeddingDrift.fit(ref, components=8, permutations=100).compare(cur)
    assert report.mean_centred
    assert report.mmd.p_value < 0.05 and report.domain_auc < 0.9
    assert report.cosine.centroid_distance >= 0.25  # noise that the old rule called severe
    assert report.status == "drift"
    assert "mean-centred" in report.reason and "not used" in report.reason


def test_drifted_share_sees_a_topic_change_and_stays_zero_without_one(sentences):
    x, docs = sentences["minilm"], sentences["docs"]
    shares_drift, shares_null = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(x))
        ref, rest = order[:1500], order[1500:]
        base = rest[:1200]
        extra = np.setdiff1d(rest[docs[rest]], base)[:300]  # 20% of the rows from python-docs
        drift = ut.EmbeddingDrift.fit(x[ref], permutations=100)
        changed = drift.compare(x[np.concatenate([base, extra])])
        assert changed.status != "stable"
        shares_drift.append(changed.drifted_share)
        shares_null.append(drift.compare(x[rest[1200:2700]]).drifted_share)
        p = changed.component_p_values
        assert p.shape == (32,) and np.all((p >= 0) & (p <= 1))
        ranked = np.sort(p)
        passing = np.flatnonzero(ranked <= 0.05 * np.arange(1, 33) / 32)  # Benjamini-Hochberg
        want = 0.0 if passing.size == 0 else np.mean(p <= ranked[passing[-1]])
        assert changed.drifted_share == want
    # before: PSI >= 0.25 on no component, drifted_share 0 on every replicate. A 20% change of
    # 1,500 rows moves each component a little: the per-component KS tests see it in most runs
    # (the joint MMD test in all; all 5 of these with KS, 4 with the binned chi-square it
    # replaced); without drift they stay silent
    assert sum(s > 0 for s in shares_drift) >= 4, shares_drift
    assert sum(s > 0 for s in shares_null) <= 1, shares_null


def test_component_p_values_are_scipy_ks_of_the_holdout_against_the_current_sample(sentences):
    from scipy.stats import ks_2samp

    x, docs = sentences["minilm"], sentences["docs"]
    rng = np.random.default_rng(11)
    order = rng.permutation(len(x))
    rest = order[1500:]
    cur_rows = np.concatenate([rest[:1200], np.setdiff1d(rest[docs[rest]], rest[:1200])[:300]])
    drift = ut.EmbeddingDrift.fit(x[order[:1500]], permutations=50)
    report = drift.compare(x[cur_rows])  # 1,500 rows: the test sample is every current row
    holdout = drift._holdout  # the projections of the rows held out of the PCA fit
    current = np.asarray(drift.pca.transform(x[cur_rows]), dtype=np.float64)
    want = np.array([ks_2samp(holdout[:, j], current[:, j]).pvalue for j in range(holdout.shape[1])])
    np.testing.assert_allclose(report.component_p_values, want, rtol=1e-9, atol=1e-300)
    if report.drifted_share == 0:
        assert "no single one of the 32 PCA components" in report.reason


def test_rff_p_value_is_floored_not_zero():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4000, 8))
    y = rng.normal(size=(4000, 8)) + 3.0
    r = ut.mmd(x, y, estimator="rff", features=64)
    assert r.p_value == np.finfo(np.float64).tiny  # the F tail underflowed: the floor, not 0.0
    mild = ut.mmd(x, rng.normal(size=(4000, 8)) + 0.05, estimator="rff", features=64)
    assert 0 < mild.p_value < 1


def test_reason_names_the_rule():
    rng = np.random.default_rng(6)
    ref = rng.normal(size=(1000, 16)) + 1.0
    stable = ut.EmbeddingDrift.fit(ref, components=4, permutations=50).compare(
        rng.normal(size=(800, 16)) + 1.0
    )
    assert stable.status == "stable" and stable.reason.startswith("MMD p-value")
    assert ">= alpha 0.05" in stable.reason and "no evidence of drift" in stable.reason
    # a move along the mean direction leaves a PCA of the centred rows blind: move one coordinate
    far = rng.normal(size=(800, 16)) + 1.0
    far[:, 0] += 8.0
    severe = ut.EmbeddingDrift.fit(ref, components=4, permutations=50).compare(far)
    assert severe.status == "severe"
    assert "< alpha 0.05" in severe.reason and "AUC" in severe.reason
    assert severe.reason in repr(severe)


def test_rows_re_sent_from_the_reference_are_counted_and_the_reason_warns(sentences):
    # A batch that repeats reference rows is partly the reference: the copies always sit on
    # opposite sides of the test and pull it towards "no drift" (issue 17 item 1; plain ut.mmd
    # does the same, scripts/calibration/overlap_null.py). The report must say so.
    x = sentences["minilm"]
    order = np.random.default_rng(21).permutation(len(x))
    ref = x[order[:1500]]
    copies = ref[np.random.default_rng(22).choice(1500, 600, replace=False)]
    batch = np.vstack([copies, x[order[1500:2400]]])
    drift = ut.EmbeddingDrift.fit(ref, permutations=50)
    report = drift.compare(batch)
    # independent count: rows of the tested current sample (every row: 1,500 <= sample) that
    # occur among the tested reference rows
    tested_ref = drift._sample
    want = sum(bool(np.any(np.all(tested_ref == row, axis=1))) for row in batch)
    assert report.n_tested_current == len(batch)
    assert report.n_shared_rows == want and want > 0
    assert f"{want:,} of the {len(batch):,} tested current rows are exact copies" in report.reason
    assert report.to_dict()["n_shared_rows"] == want
    # fresh rows: the corpus' own identical vectors only (a few), under the 1% of the warning
    fresh_rows = x[order[1500:2400]]
    fresh = drift.compare(fresh_rows)
    chance = sum(bool(np.any(np.all(tested_ref == row, axis=1))) for row in fresh_rows)
    assert fresh.n_shared_rows == chance < 9 and "exact copies" not in fresh.reason
