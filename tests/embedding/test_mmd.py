"""ut.mmd (exact and rff) and ut.RffAccumulator against float64 kernel-matrix references,
hand-computed values, the permutation p-value's properties, calibration and power."""

import dataclasses
import itertools
import json
import math
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from embedding_reference import (
    binomial_interval,
    median_bandwidth_reference,
    mmd2_unbiased_from_kernel,
    mmd2_unbiased_reference,
    permutation_pvalue_reference,
    rbf_kernel,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import undertow as ut
from undertow import _core


def _pair(seed, n, m, d, shift=0.0, dtype=np.float64, scale=1.0):
    rng = np.random.default_rng(seed)
    x = scale * rng.normal(size=(n, d))
    y = scale * rng.normal(size=(m, d))
    y[:, 0] += shift
    return x.astype(dtype), y.astype(dtype)


def assert_value_close(got, want, dtype):
    """The contract's precision: float64 input within 1e-9 relative of the float64 reference;
    float32 input (kernel kept in float32) within 1e-5 * |value| + 1e-6 of it."""
    if dtype == np.float64:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    else:
        assert abs(got - want) <= 1e-5 * abs(want) + 1e-6, (got, want)


def assert_valid_pvalue(p, permutations):
    """(1 + hits) / (1 + P): in [1/(P+1), 1] and a multiple of 1/(P+1)."""
    assert isinstance(p, float)
    assert 1.0 / (permutations + 1) - 1e-12 <= p <= 1.0
    hits = p * (permutations + 1) - 1
    assert abs(hits - round(hits)) < 1e-9, p


# --------------------------------------------------------------------------------------------
# hand-computed values


def test_hand_computed_two_points_each():
    # x = {0, 0}, y = {1, 1} in 1-D, bandwidth 1: k(x,x) = k(y,y) = 1, k(x,y) = e^-1/2
    x = np.zeros((2, 1))
    y = np.ones((2, 1))
    r = ut.mmd(x, y, bandwidth=1.0, permutations=0)
    assert r.value == pytest.approx(2.0 - 2.0 * math.exp(-0.5), rel=1e-14)
    assert r.bandwidth == 1.0
    assert r.p_value is None
    assert r.permutations == 0
    r = ut.mmd(x, y, bandwidth=2.0, permutations=0)
    assert r.value == pytest.approx(2.0 - 2.0 * math.exp(-1.0 / 8.0), rel=1e-14)


def test_hand_computed_median_bandwidth_even_count():
    # pooled 1-D points 0, 1, 3, 7: distances 1, 3, 7, 2, 6, 4 -> median (3 + 4) / 2
    x = np.array([[0.0], [1.0]])
    y = np.array([[3.0], [7.0]])
    r = ut.mmd(x, y, permutations=0)
    assert r.bandwidth == pytest.approx(3.5, rel=1e-15)
    h = 2 * 3.5**2
    want = (
        math.exp(-1 / h)  # x pair, both orders / (2 * 1)
        + math.exp(-16 / h)  # y pair
        - 2 * (math.exp(-9 / h) + math.exp(-49 / h) + math.exp(-4 / h) + math.exp(-36 / h)) / 4
    )
    assert r.value == pytest.approx(want, rel=1e-13)


def test_hand_computed_median_bandwidth_ties_and_odd_count():
    # pooled 0, 1, 3, 3: distances 1, 3, 3, 2, 2, 0 -> sorted 0 1 2 2 3 3 -> median 2
    x = np.array([[0.0], [1.0]])
    y = np.array([[3.0], [3.0]])
    assert ut.mmd(x, y, permutations=0).bandwidth == pytest.approx(2.0, rel=1e-15)
    # pooled 0, 1, 4, 4, 4: 1, 4 (x3), 3 (x3), 0 (x3) -> 0 0 0 1 3 3 3 4 4 4 -> median 3
    y = np.array([[4.0], [4.0], [4.0]])
    assert ut.mmd(x, y, permutations=0).bandwidth == pytest.approx(3.0, rel=1e-15)
    # 6 points, 15 distances (odd): 1 1 1 1 2 2 8 [9] 9 10 10 10 11 11 12 -> median 9
    x = np.array([[0.0], [1.0], [2.0]])
    y = np.array([[10.0], [11.0], [12.0]])
    assert ut.mmd(x, y, permutations=0).bandwidth == pytest.approx(9.0, rel=1e-15)


def test_hand_computed_pythagorean_distance():
    # 2-D: the distance is Euclidean (3-4-5), not per coordinate
    x = np.array([[0.0, 0.0], [0.0, 0.0]])
    y = np.array([[3.0, 4.0], [3.0, 4.0]])
    r = ut.mmd(x, y, bandwidth=5.0, permutations=0)
    assert r.value == pytest.approx(2.0 - 2.0 * math.exp(-0.5), rel=1e-14)


# --------------------------------------------------------------------------------------------
# value and bandwidth against the kernel-matrix reference


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "n, m, d, shift",
    [(2, 2, 1, 0.0), (2, 3, 4, 1.0), (50, 70, 3, 0.0), (200, 150, 16, 0.3), (300, 300, 384, 0.5)],
)
def test_value_and_median_bandwidth_match_reference(n, m, d, shift, dtype):
    x, y = _pair(n + m + d, n, m, d, shift, dtype)
    r = ut.mmd(x, y, permutations=0)
    bw = median_bandwidth_reference(x, y)
    assert isinstance(r.bandwidth, float)
    assert r.bandwidth == pytest.approx(bw, rel=1e-9)
    assert isinstance(r.value, float)
    assert_value_close(r.value, mmd2_unbiased_reference(x, y, bw), dtype)
    assert r.n_x == n and r.n_y == m
    assert r.estimator == "exact"
    assert r.features is None


@pytest.mark.parametrize("bandwidth", [0.05, 0.7, 3.0, 1e3])
def test_given_bandwidth_matches_reference(bandwidth):
    x, y = _pair(1, 120, 90, 5, shift=0.4)
    r = ut.mmd(x, y, bandwidth=bandwidth, permutations=0)
    assert r.bandwidth == bandwidth
    assert r.value == pytest.approx(mmd2_unbiased_reference(x, y, bandwidth), rel=1e-9, abs=1e-12)


def test_identical_samples_value_is_the_unbiased_formula():
    # x against itself: not 0 for the unbiased estimator, but exactly the reference value
    x, _ = _pair(2, 40, 2, 3)
    r = ut.mmd(x, x, bandwidth=1.5, permutations=0)
    assert r.value == pytest.approx(mmd2_unbiased_reference(x, x, 1.5), rel=1e-9, abs=1e-12)
    assert r.value < 0


def test_symmetric_translation_and_rotation_invariant():
    x, y = _pair(3, 80, 60, 6, shift=0.5)
    base = ut.mmd(x, y, permutations=0)
    swapped = ut.mmd(y, x, permutations=0)
    assert swapped.value == pytest.approx(base.value, rel=1e-12)
    assert swapped.bandwidth == pytest.approx(base.bandwidth, rel=1e-12)
    q, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(6, 6)))
    moved = ut.mmd(x @ q + 10.0, y @ q + 10.0, permutations=0)
    assert moved.value == pytest.approx(base.value, rel=1e-9)
    assert moved.bandwidth == pytest.approx(base.bandwidth, rel=1e-9)


def test_median_bandwidth_subsamples_above_1000_rows():
    # more than 1000 rows per side: 1000 rows each (seeded) -> close to the all-pairs median
    x, y = _pair(5, 1500, 1200, 8)
    r1 = ut.mmd(x, y, permutations=0, seed=1)
    r1b = ut.mmd(x, y, permutations=0, seed=1)
    assert r1.bandwidth == r1b.bandwidth
    full = median_bandwidth_reference(x, y)
    assert r1.bandwidth == pytest.approx(full, rel=0.02)
    # exactly 1000 rows per side: no subsampling, the exact all-pairs median
    x, y = x[:1000], y[:1000]
    assert ut.mmd(x, y, permutations=0, seed=7).bandwidth == pytest.approx(
        median_bandwidth_reference(x, y), rel=1e-9
    )
    # the value for the chosen bandwidth is still the exact one on all rows
    x, y = _pair(6, 1100, 40, 3)
    r = ut.mmd(x, y, permutations=0)
    assert r.value == pytest.approx(mmd2_unbiased_reference(x, y, r.bandwidth), rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 40),
    m=st.integers(2, 40),
    d=st.integers(1, 10),
    bandwidth=st.floats(0.1, 20.0),
    shift=st.floats(-2.0, 2.0),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_value_matches_reference(n, m, d, bandwidth, shift, dtype, seed):
    x, y = _pair(seed, n, m, d, shift, dtype)
    r = ut.mmd(x, y, bandwidth=bandwidth, permutations=0)
    assert_value_close(r.value, mmd2_unbiased_reference(x, y, bandwidth), dtype)
    r = ut.mmd(x, y, permutations=0)
    bw = median_bandwidth_reference(x, y)
    assert r.bandwidth == pytest.approx(bw, rel=1e-9)
    assert_value_close(r.value, mmd2_unbiased_reference(x, y, bw), dtype)


# --------------------------------------------------------------------------------------------
# the permutation p-value


@pytest.mark.parametrize("permutations", [1, 7, 100, 200])
def test_pvalue_formula_properties(permutations):
    x, y = _pair(7, 60, 50, 4, shift=0.2)
    r = ut.mmd(x, y, permutations=permutations, seed=3)
    assert r.permutations == permutations
    assert_valid_pvalue(r.p_value, permutations)
    again = ut.mmd(x, y, permutations=permutations, seed=3)
    assert dataclasses.asdict(again) == dataclasses.asdict(r)


def test_default_permutations_and_seed():
    x, y = _pair(8, 40, 40, 3)
    r = ut.mmd(x, y)
    assert r.permutations == 200
    assert_valid_pvalue(r.p_value, 200)
    assert dataclasses.asdict(ut.mmd(x, y, permutations=200, seed=0)) == dataclasses.asdict(r)


def test_different_seeds_may_differ_and_agree_in_distribution():
    # a borderline case (p around 0.2-0.5): Monte Carlo p-values vary with the seed
    x, y = _pair(9, 60, 60, 3, shift=0.25)
    ps = [ut.mmd(x, y, permutations=200, seed=s).p_value for s in range(6)]
    for p in ps:
        assert_valid_pvalue(p, 200)
    assert len(set(ps)) > 1, ps
    values = {ut.mmd(x, y, permutations=200, seed=s).value for s in range(3)}
    assert len(values) == 1  # the statistic itself does not depend on the seed


def test_pvalue_agrees_with_numpy_permutation_test():
    # the same test run independently in numpy with 2000 permutations: the two Monte Carlo
    # p-values estimate the same exact p; allow 5 standard errors of their difference
    x, y = _pair(10, 40, 30, 2, shift=0.4)
    bw = median_bandwidth_reference(x, y)
    observed, p_ref = permutation_pvalue_reference(x, y, bw, 2000, np.random.default_rng(0))
    r = ut.mmd(x, y, permutations=2000, seed=5)
    assert r.value == pytest.approx(observed, rel=1e-9, abs=1e-12)
    se = math.sqrt(2 * max(p_ref * (1 - p_ref), 0.01) / 2000)
    assert abs(r.p_value - p_ref) < 5 * se + 1e-3, (r.p_value, p_ref)
    assert 0.02 < p_ref < 0.9  # the case is informative


def _labelling_statistics(x, y, bandwidth):
    """The unbiased MMD^2 of every split of the pooled rows into len(x) and len(y) rows
    (float64, from the kernel matrix), sorted."""
    pooled = np.vstack([x, y]).astype(np.float64)
    k = rbf_kernel(pooled, pooled, bandwidth)
    n, total = len(x), len(pooled)
    out = []
    for side in itertools.combinations(range(total), n):
        order = list(side) + [i for i in range(total) if i not in side]
        out.append(mmd2_unbiased_from_kernel(k[np.ix_(order, order)], n))
    return np.sort(out)


def test_tied_permutations_count_against_the_observed_value():
    # Both sides {0, 1, 0, 1}: 36 of the 70 splits have the observed statistic, all others a
    # larger one, so the exact p-value is 1 whatever permutations are drawn. The tied
    # statistics sum the same kernel values in another order; before ties were counted with
    # a rounding tolerance, those computed a bit below the observed value were left out
    # (p = 0.91 for float64).
    x = np.array([[0.0], [1.0], [0.0], [1.0]])
    y = np.array([[1.0], [0.0], [1.0], [0.0]])
    stats = _labelling_statistics(x, y, 1.0)
    observed = mmd2_unbiased_reference(x, y, 1.0)
    assert np.all(stats >= observed - 1e-12)
    assert np.sum(np.abs(stats - observed) < 1e-12) == 36
    for dtype in (np.float64, np.float32):
        for seed in range(5):
            r = ut.mmd(x.astype(dtype), y.astype(dtype), bandwidth=1.0, permutations=200, seed=seed)
            assert r.p_value == 1.0, (dtype, seed, r.p_value)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [4, 3])
def test_pvalue_with_duplicated_rows_is_the_exact_count(dtype, n):
    # 8 rows, copies of 3 points: few distinct statistics, many exact ties. Every permuted
    # statistic must be one of the enumerated splits', and p must be (1 + #{permuted split's
    # statistic >= observed}) / (1 + B) with ties decided exactly (the classes are far apart).
    rng = np.random.default_rng(n)
    points = rng.normal(size=(3, 2))
    for trial in range(8):
        rows = points[rng.permutation([0, 0, 0, 1, 1, 1, 2, 2])]
        x, y = rows[:n].astype(dtype), rows[n:].astype(dtype)
        stats = _labelling_statistics(x, y, 1.0)
        classes = stats[np.r_[True, np.diff(stats) > 1e-9]]  # one value per group of ties
        assert np.min(np.diff(classes)) > 1e-6
        raw = _core.mmd_exact(x, y, 1.0, 200, trial)  # the null statistics with the p-value
        null = np.asarray(raw["null"])
        observed = classes[np.argmin(np.abs(classes - raw["value"]))]
        nearest = classes[np.argmin(np.abs(null[:, None] - classes[None, :]), axis=1)]
        assert np.max(np.abs(null - nearest)) < (1e-12 if dtype == np.float64 else 1e-5)
        assert abs(raw["value"] - observed) < (1e-12 if dtype == np.float64 else 1e-5)
        want = (1 + int(np.sum(nearest >= observed))) / 201
        assert raw["p_value"] == want, (trial, raw["p_value"], want)
        assert ut.mmd(x, y, bandwidth=1.0, permutations=200, seed=trial).p_value == want


def test_strong_drift_gives_smallest_pvalue():
    x, y = _pair(11, 100, 100, 4, shift=3.0)
    r = ut.mmd(x, y, permutations=99)
    assert r.p_value == pytest.approx(1 / 100, rel=1e-12)


def test_calibration_no_drift():
    # 200 runs of two samples of one distribution: the share of p < 0.05 lies in the binomial
    # 99% interval around 5% (the permutation test is exact: P(p < 0.05) = 5/101 here)
    runs = 200
    rejections = 0
    for s in range(runs):
        x, y = _pair(1000 + s, 100, 100, 8)
        r = ut.mmd(x, y, permutations=100, seed=s)
        rejections += r.p_value < 0.05
    lo, hi = binomial_interval(runs, 0.05, 0.99)
    assert lo <= rejections / runs <= hi, rejections / runs


def test_power_small_mean_shift_in_384_dims():
    # N(0, 1) features (a realistic per-dimension scale for centred, unnormalised embeddings),
    # +0.05 in every one of 384 dims: the shift's norm is 0.05 * sqrt(384) ~ 0.98 against a
    # per-sample spread of sqrt(384) ~ 19.6. A numpy simulation of this design puts the observed
    # MMD^2 ~48 null standard deviations above the permutation mean, so p = 1/201 is expected.
    rng = np.random.default_rng(2024)
    x = rng.normal(size=(5000, 384))
    y = rng.normal(size=(5000, 384)) + 0.05
    r = ut.mmd(x, y)
    assert r.p_value < 0.01
    assert r.value > 0


# --------------------------------------------------------------------------------------------
# the result object


def test_result_is_frozen_dataclass_with_plain_dict():
    x, y = _pair(12, 30, 20, 3)
    r = ut.mmd(x, y, permutations=10, seed=1)
    assert dataclasses.is_dataclass(r)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.value = 1.0  # type: ignore[misc]
    d = r.to_dict()
    assert set(d) >= {"value", "p_value", "bandwidth", "permutations", "n_x", "n_y", "estimator", "features"}
    json.dumps(d)  # plain python values
    assert d["value"] == r.value and d["p_value"] == r.p_value and d["bandwidth"] == r.bandwidth
    assert d["n_x"] == 30 and d["n_y"] == 20 and d["estimator"] == "exact" and d["features"] is None


# --------------------------------------------------------------------------------------------
# threads


SCRIPT = r"""
import json, sys
import numpy as np
import undertow as ut
rng = np.random.default_rng(3)
x = rng.normal(size=(1300, 12)); y = rng.normal(size=(700, 12)) + 0.05
out = {}
r = ut.mmd(x, y, permutations=50, seed=4)
out["exact"] = [repr(r.value), repr(r.p_value), repr(r.bandwidth)]
r = ut.mmd(x, y, estimator="rff", features=64, seed=4)
out["rff"] = [repr(r.value), repr(r.p_value), repr(r.bandwidth)]
print(json.dumps(out))
"""


def test_thread_count_does_not_change_results():
    outs = []
    for threads in (1, 2, 3):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(json.loads(proc.stdout))
    assert outs[0] == outs[1] == outs[2]


# --------------------------------------------------------------------------------------------
# random Fourier features


def test_rff_result_fields():
    x, y = _pair(13, 200, 150, 5, shift=0.3)
    r = ut.mmd(x, y, estimator="rff", features=128, seed=2)
    assert r.estimator == "rff"
    assert r.features == 128
    assert r.permutations == 0
    assert r.n_x == 200 and r.n_y == 150
    assert isinstance(r.p_value, float) and 0.0 <= r.p_value <= 1.0
    assert r.bandwidth == pytest.approx(median_bandwidth_reference(x, y), rel=1e-9)
    assert ut.mmd(x, y, estimator="rff").features == 256
    again = ut.mmd(x, y, estimator="rff", features=128, seed=2)
    assert dataclasses.asdict(again) == dataclasses.asdict(r)
    other = ut.mmd(x, y, estimator="rff", features=128, seed=3)
    assert other.value != r.value  # another seed draws other features


def test_rff_is_unbiased_for_the_exact_value_over_seeds():
    # E_W[z(a) . z(b)] = k(a, b), so the mean over seeds of the RFF value is the exact unbiased
    # MMD^2 of the same sample; allow 5 standard errors of the mean over 60 seeds
    x, y = _pair(14, 100, 100, 4, shift=0.3)
    bw = median_bandwidth_reference(x, y)
    exact = mmd2_unbiased_reference(x, y, bw)
    vals = np.array([ut.mmd(x, y, estimator="rff", bandwidth=bw, seed=s).value for s in range(60)])
    se = vals.std(ddof=1) / math.sqrt(len(vals))
    assert abs(vals.mean() - exact) < 5 * se, (vals.mean(), exact, se)


def test_rff_approaches_exact_as_features_grow():
    x, y = _pair(15, 300, 300, 5, shift=0.5)
    bw = median_bandwidth_reference(x, y)
    exact = mmd2_unbiased_reference(x, y, bw)

    def mean_error(features):
        v = [ut.mmd(x, y, estimator="rff", bandwidth=bw, features=features, seed=s).value for s in range(8)]
        return float(np.mean(np.abs(np.array(v) - exact)))

    # (the Hotelling p-value costs O(D^3), so stay at D <= 1024 to keep the suite fast)
    small, large = mean_error(16), mean_error(1024)
    # the error shrinks like 1/sqrt(D): 8x less at 64x the features, ask for 2.5x
    assert large < small / 2.5, (small, large)
    assert large < 0.15 * abs(exact), (large, exact)


def test_rff_calibration_no_drift():
    # Hotelling's T^2 against chi^2 is a large-sample test: with 16 features and 1000 rows per
    # side the chi^2 approximation is good (a numpy implementation of the same formula rejected
    # 5.4% of 1000 null runs of this design); 200 runs must land in the binomial 99% interval
    runs = 200
    rejections = 0
    for s in range(runs):
        x, y = _pair(5000 + s, 1000, 1000, 8)
        r = ut.mmd(x, y, estimator="rff", features=16, bandwidth=4.0, seed=s)
        rejections += r.p_value < 0.05
    lo, hi = binomial_interval(runs, 0.05, 0.99)
    assert lo <= rejections / runs <= hi, rejections / runs


def test_rff_power():
    x, y = _pair(16, 2000, 2000, 8, shift=0.3)
    r = ut.mmd(x, y, estimator="rff", features=64, seed=1)
    assert r.p_value < 0.01
    assert r.value > 0


# --------------------------------------------------------------------------------------------
# RffAccumulator


def _rff_acc(x, y, bw, features, seed, n_batches):
    acc = ut.RffAccumulator(x.shape[1], bw, features=features, seed=seed)
    for part in np.array_split(x, n_batches):
        acc.update_x(part)
    for part in np.array_split(y, n_batches):
        acc.update_y(part)
    return acc


def _assert_mmd_close(a, b, rtol=1e-10):
    assert a.value == pytest.approx(b.value, rel=rtol, abs=1e-14)
    assert a.p_value == pytest.approx(b.p_value, rel=1e-8, abs=1e-14)
    assert a.bandwidth == b.bandwidth
    assert a.n_x == b.n_x and a.n_y == b.n_y
    assert a.features == b.features
    assert a.estimator == b.estimator == "rff"


@pytest.mark.parametrize("n_batches", [1, 3, 10])
def test_rff_accumulator_batches_equal_one_shot(n_batches):
    x, y = _pair(17, 900, 700, 6, shift=0.1)
    one = _rff_acc(x, y, 2.5, 64, 3, 1).finalize()
    acc = _rff_acc(x, y, 2.5, 64, 3, n_batches).finalize()
    _assert_mmd_close(acc, one)
    # the accumulator is the rff estimator of ut.mmd with the same bandwidth, features and seed
    direct = ut.mmd(x, y, estimator="rff", bandwidth=2.5, features=64, seed=3)
    _assert_mmd_close(one, direct)


def test_rff_accumulator_merge_equals_one_shot():
    x, y = _pair(18, 1200, 800, 5, shift=0.2)
    workers = []
    for xs, ys in zip(np.array_split(x, 4), np.array_split(y, 4), strict=True):
        a = ut.RffAccumulator(5, 1.7, features=32, seed=9)
        a.update_x(xs)
        a.update_y(ys)
        workers.append(a)
    # a worker may have seen only one side, or nothing at all
    only_x = ut.RffAccumulator(5, 1.7, features=32, seed=9)
    only_x.update_x(x[:10])
    empty = ut.RffAccumulator(5, 1.7, features=32, seed=9)
    total = workers[0]
    for w in workers[1:]:
        total.merge(w)
    total.merge(empty)
    total.merge(only_x)
    x = np.vstack([x, x[:10]])
    _assert_mmd_close(total.finalize(), _rff_acc(x, y, 1.7, 32, 9, 1).finalize())


def test_rff_accumulator_bytes_round_trip_and_pickle():
    x, y = _pair(19, 300, 200, 4, shift=0.2)
    acc = ut.RffAccumulator(4, 1.2, features=24, seed=5)
    acc.update_x(x[:150])
    acc.update_y(y)
    b = acc.to_bytes()
    assert isinstance(b, bytes)
    restored = ut.RffAccumulator.from_bytes(b)
    assert restored.to_bytes() == b
    assert dataclasses.asdict(restored.finalize()) == dataclasses.asdict(acc.finalize())
    restored.update_x(x[150:])
    acc.update_x(x[150:])
    assert dataclasses.asdict(restored.finalize()) == dataclasses.asdict(acc.finalize())
    unpickled = pickle.loads(pickle.dumps(acc))
    assert dataclasses.asdict(unpickled.finalize()) == dataclasses.asdict(acc.finalize())
