"""ut.EmbeddingDrift: the report's sections against references, the status rule, calibration,
bytes, and the accumulator (batches and merges equal one compare)."""

import dataclasses
import json
import pickle

import numpy as np
import polars as pl
import pytest
from embedding_reference import binomial_interval, cosine_drift_reference
from reference_impl import psi_reference, status_reference

import undertow as ut


def _cloud(seed, n, d=16, shift=0.0, scales=None, dtype=np.float64):
    """Anisotropic embedding-like vectors around a common direction (a realistic cloud)."""
    rng = np.random.default_rng(seed)
    if scales is None:
        scales = np.linspace(1.0, 0.2, d)
    x = rng.normal(size=(n, d)) * scales + 2.0 / np.sqrt(d)
    x[:, 0] += shift
    return x.astype(dtype)


def assert_status_rule(report, alpha=0.05):
    """stable iff p >= alpha; else severe iff auc >= 0.9 or (for a reference that is not
    mean-centred) centroid distance >= 0.25."""
    p = report.mmd.p_value
    if p >= alpha:
        assert report.status == "stable"
    elif report.domain_auc >= 0.9 or (not report.mean_centred and report.cosine.centroid_distance >= 0.25):
        assert report.status == "severe"
    else:
        assert report.status == "drift"


def assert_reports_equal(a, b):
    assert a.to_dict() == b.to_dict()
    np.testing.assert_array_equal(a.component_psi, b.component_psi)


# --------------------------------------------------------------------------------------------
# sections of one report


def test_cosine_section_is_cosine_drift():
    ref, cur = _cloud(0, 600), _cloud(1, 400, shift=0.3)
    emb = ut.EmbeddingDrift.fit(ref, components=4, permutations=50)
    rep = emb.compare(cur)
    want = cosine_drift_reference(ref, cur)
    direct = ut.cosine_drift(ref, cur)
    for name in (
        "centroid_distance",
        "cosine_psi",
        "reference_mean_norm",
        "current_mean_norm",
        "reference_off_norm_share",
        "current_off_norm_share",
    ):
        np.testing.assert_allclose(getattr(rep.cosine, name), want[name], rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(getattr(rep.cosine, name), getattr(direct, name), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(rep.cosine.reference_quantiles, want["reference_quantiles"], rtol=1e-9)
    np.testing.assert_allclose(rep.cosine.current_quantiles, want["current_quantiles"], rtol=1e-9)
    assert rep.cosine.n_reference == 600 and rep.cosine.n_current == 400
    assert rep.cosine.status == status_reference(rep.cosine.cosine_psi)


def test_mmd_section_shapes_and_pvalue():
    ref, cur = _cloud(2, 900), _cloud(3, 700)
    emb = ut.EmbeddingDrift.fit(ref, components=5, sample=300, permutations=60, seed=4)
    rep = emb.compare(cur)
    m = rep.mmd
    assert m.estimator == "exact"
    assert m.permutations == 60
    # at most `sample` rows per side; the current side has more, so exactly `sample`
    assert m.n_y == 300
    assert 2 <= m.n_x <= 300
    hits = m.p_value * 61 - 1
    assert 1 / 61 - 1e-12 <= m.p_value <= 1.0 and abs(hits - round(hits)) < 1e-9
    # fewer current rows than `sample`: every current row is used
    rep = emb.compare(cur[:120])
    assert rep.mmd.n_y == 120


def test_component_psi_and_drifted_share():
    d, k = 12, 4
    ref = _cloud(5, 2000, d)
    emb = ut.EmbeddingDrift.fit(ref, components=k, permutations=20)
    pca = emb.pca
    # move the current data along the first principal axis by 3 standard deviations
    cur = _cloud(6, 1500, d) + 3.0 * np.sqrt(pca.explained_variance[0]) * pca.components[0]
    rep = emb.compare(cur)
    psi = rep.component_psi
    assert isinstance(psi, np.ndarray) and psi.dtype == np.float64 and psi.shape == (k,)
    assert np.all(psi >= 0)
    assert psi[0] > 1.0  # that axis moved a lot
    assert np.all(psi[1:] < 0.1)  # the others did not
    # drifted: the component's KS test (hold-out vs current sample) is rejected by
    # Benjamini-Hochberg at alpha (issue 17; it was PSI >= 0.25): only the moved axis
    p = rep.component_p_values
    assert p[0] < 1e-12 and np.all(p[1:] > 0.05 * 2 / k)
    assert rep.drifted_share == pytest.approx(1 / k)
    # the component PSI is the 1-D PSI of the projections (quantile bins from the reference side):
    # check it against the reference on the full projections, up to which reference rows fit bins
    cur_proj = pca.transform(cur)
    ref_proj = pca.transform(ref)
    for j in range(k):
        want = psi_reference(ref_proj[:, j], cur_proj[:, j])["value"]
        assert psi[j] == pytest.approx(want, rel=0.5, abs=0.05), (j, psi[j], want)


def test_component_threshold_parameter():
    # the PSI threshold flags the largest component PSI in to_polars (drifted_share is the
    # components' KS tests since issue 17, whatever the threshold)
    ref = _cloud(7, 1500, 10)
    cur = _cloud(8, 1000, 10, shift=0.5)
    rep_default = ut.EmbeddingDrift.fit(ref, components=6, permutations=10).compare(cur)
    psi = rep_default.component_psi
    flagged = dict(zip(rep_default.to_polars()["metric"], rep_default.to_polars()["flagged"], strict=True))
    assert flagged["max_component_psi"] == (psi.max() >= 0.25)
    t = float(np.median(psi))
    rep = ut.EmbeddingDrift.fit(ref, components=6, permutations=10, component_threshold=t).compare(cur)
    np.testing.assert_array_equal(rep.component_psi, psi)
    assert rep.component_threshold == t and rep.drifted_share == rep_default.drifted_share
    flagged = dict(zip(rep.to_polars()["metric"], rep.to_polars()["flagged"], strict=True))
    assert flagged["max_component_psi"] is True


def test_domain_auc_range_and_meaning():
    ref = _cloud(9, 1500)
    emb = ut.EmbeddingDrift.fit(ref, components=8, permutations=20)
    same = emb.compare(_cloud(10, 1500))
    assert 0.0 <= same.domain_auc <= 1.0
    assert abs(same.domain_auc - 0.5) < 0.1
    far = emb.compare(_cloud(11, 1500, shift=4.0))
    assert far.domain_auc >= 0.95
    assert far.status == "severe"
    assert_status_rule(same)
    assert_status_rule(far)


@pytest.mark.parametrize("shift", [0.0, 0.15, 0.4, 1.0, 5.0])
def test_status_rule(shift):
    ref = _cloud(12, 800, 8)
    emb = ut.EmbeddingDrift.fit(ref, components=4, permutations=100, seed=1)
    rep = emb.compare(_cloud(13, 800, 8, shift=shift))
    assert rep.status in ("stable", "drift", "severe")
    assert_status_rule(rep)
    if shift >= 1.0:
        assert rep.mmd.p_value == pytest.approx(1 / 101)
        assert rep.status in ("drift", "severe")


def test_alpha_parameter():
    ref, cur = _cloud(14, 600, 8), _cloud(15, 600, 8, shift=0.2)
    reps = {a: ut.EmbeddingDrift.fit(ref, components=3, alpha=a).compare(cur) for a in (0.01, 0.5, 0.99)}
    p = reps[0.5].mmd.p_value
    assert all(r.mmd.p_value == p for r in reps.values())  # alpha does not change the test
    for a, r in reps.items():
        assert_status_rule(r, alpha=a)


def test_severe_when_centroid_moves_far_even_if_auc_low():
    # the current cloud points elsewhere (centroid distance >= 0.25)
    ref = _cloud(16, 800, 8)
    cur = -_cloud(17, 800, 8)
    rep = ut.EmbeddingDrift.fit(ref, components=4, permutations=50).compare(cur)
    assert rep.cosine.centroid_distance >= 0.25
    assert rep.status == "severe"


def test_same_seed_same_report_and_fields():
    ref, cur = _cloud(18, 500), _cloud(19, 400, shift=0.2)
    a = ut.EmbeddingDrift.fit(ref, components=6, seed=3).compare(cur)
    b = ut.EmbeddingDrift.fit(ref, components=6, seed=3).compare(cur)
    assert_reports_equal(a, b)
    assert a.mmd.permutations == 200  # the default
    assert a.component_psi.shape == (6,)


# --------------------------------------------------------------------------------------------
# output forms


def test_to_dict_to_polars_repr():
    ref, cur = _cloud(20, 400), _cloud(21, 300, shift=0.3)
    rep = ut.EmbeddingDrift.fit(ref, components=3, permutations=30).compare(cur)
    d = rep.to_dict()
    json.dumps(d)  # plain python values only
    assert d["status"] == rep.status
    assert d["domain_auc"] == rep.domain_auc
    assert d["drifted_share"] == rep.drifted_share
    assert d["component_psi"] == [float(v) for v in rep.component_psi]
    assert d["mmd"] == rep.mmd.to_dict()
    assert d["cosine"] == rep.cosine.to_dict()
    df = rep.to_polars()
    assert isinstance(df, pl.DataFrame)
    assert df.height >= 4
    text = repr(rep)
    assert " object at 0x" not in text
    assert rep.status in text
    assert dataclasses.is_dataclass(rep.mmd)


# --------------------------------------------------------------------------------------------
# calibration (no drift -> the share of non-stable reports is the test's level)


@pytest.mark.parametrize("isotropic", [False, True])
def test_status_calibration_no_drift(isotropic):
    # 200 runs of two samples of one distribution; both anisotropic (realistic) and isotropic
    # data, where a PCA fitted on the very reference rows the test then uses would inflate
    # their variance along its axes and make the MMD fire on no drift (a numpy simulation of
    # that in-sample design flagged 41% of isotropic null runs)
    runs = 200
    d = 16
    scales = np.ones(d) if isotropic else np.linspace(3.0, 0.5, d)
    flagged = 0
    for s in range(runs):
        ref = _cloud(10_000 + s, 200, d, scales=scales)
        cur = _cloud(20_000 + s, 200, d, scales=scales)
        rep = ut.EmbeddingDrift.fit(ref, components=4, permutations=100, seed=s).compare(cur)
        assert_status_rule(rep)
        flagged += rep.status != "stable"
    lo, hi = binomial_interval(runs, 0.05, 0.99)
    assert lo <= flagged / runs <= hi, flagged / runs


# --------------------------------------------------------------------------------------------
# bytes and pickle


def test_bytes_round_trip_and_pickle():
    ref, cur = _cloud(22, 300, 8), _cloud(23, 250, 8, shift=0.2)
    emb = ut.EmbeddingDrift.fit(ref, components=3, permutations=40, seed=2)
    b = emb.to_bytes()
    assert isinstance(b, bytes)
    restored = ut.EmbeddingDrift.from_bytes(b)
    assert restored.to_bytes() == b
    assert_reports_equal(restored.compare(cur), emb.compare(cur))
    unpickled = pickle.loads(pickle.dumps(emb))
    assert_reports_equal(unpickled.compare(cur), emb.compare(cur))


# --------------------------------------------------------------------------------------------
# accumulator


def _assert_finalize_matches_compare(fin, one):
    """finalize() after batches == compare() on all rows (cosine quantiles of a stream may be
    approximate; every other number is the same)."""
    assert fin.status == one.status
    assert fin.mmd.to_dict() == one.mmd.to_dict()
    np.testing.assert_array_equal(fin.component_psi, one.component_psi)
    assert fin.drifted_share == one.drifted_share
    assert fin.domain_auc == one.domain_auc
    for name in (
        "centroid_distance",
        "cosine_psi",
        "current_mean_norm",
        "current_off_norm_share",
        "reference_mean_norm",
    ):
        np.testing.assert_allclose(
            getattr(fin.cosine, name), getattr(one.cosine, name), rtol=1e-12, atol=1e-14
        )
    assert fin.cosine.n_current == one.cosine.n_current
    np.testing.assert_array_equal(fin.cosine.reference_quantiles, one.cosine.reference_quantiles)
    np.testing.assert_allclose(fin.cosine.current_quantiles, one.cosine.current_quantiles, atol=1e-4)


@pytest.mark.parametrize("n_batches", [1, 4, 13])
def test_accumulator_batches_equal_compare(n_batches):
    ref, cur = _cloud(24, 700, 10), _cloud(25, 900, 10, shift=0.1)
    emb = ut.EmbeddingDrift.fit(ref, components=4, sample=500, permutations=50, seed=7)
    one = emb.compare(cur)
    acc = emb.accumulator()
    for part in np.array_split(cur, n_batches):
        acc.update(part)
    _assert_finalize_matches_compare(acc.finalize(), one)


def test_accumulator_merge_and_bytes():
    ref, cur = _cloud(26, 500, 6), _cloud(27, 600, 6, shift=0.2)
    emb = ut.EmbeddingDrift.fit(ref, components=3, sample=400, permutations=30)
    one = emb.compare(cur)
    # parallel parts start at their rows' global positions (the sample is keyed by position)
    a, b, c = emb.accumulator(), emb.accumulator(start=100), emb.accumulator(start=350)
    a.update(cur[:100])
    b.update(cur[100:101])  # a single row is a valid batch
    b.update(cur[101:350])
    c.update(cur[350:])
    a.merge(b)
    a.merge(c)
    _assert_finalize_matches_compare(a.finalize(), one)
    blob = a.to_bytes()
    assert isinstance(blob, bytes)
    restored = type(a).from_bytes(blob)
    assert_reports_equal(restored.finalize(), a.finalize())
    unpickled = pickle.loads(pickle.dumps(a))
    assert_reports_equal(unpickled.finalize(), a.finalize())
    # a restored accumulator keeps working
    part = emb.accumulator()
    part.update(cur[:300])
    part = type(part).from_bytes(part.to_bytes())
    part.update(cur[300:])
    _assert_finalize_matches_compare(part.finalize(), one)


def test_polars_series_input_equals_numpy():
    ref, cur = _cloud(28, 300, 8, dtype=np.float32), _cloud(29, 200, 8, shift=0.3, dtype=np.float32)
    s_ref = pl.Series("v", ref, dtype=pl.Array(pl.Float32, 8))
    s_cur = pl.Series("v", cur.tolist(), dtype=pl.List(pl.Float32))
    a = ut.EmbeddingDrift.fit(s_ref, components=3, permutations=20).compare(s_cur)
    b = ut.EmbeddingDrift.fit(ref, components=3, permutations=20).compare(cur)
    assert_reports_equal(a, b)
