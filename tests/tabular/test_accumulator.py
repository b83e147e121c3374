"""PsiAccumulator: update/merge/finalize equals one call over all rows, bit for bit."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_impl import (
    assert_psi_matches,
    assert_reports_identical,
    assert_same_result,
    categorical_psi_reference,
    psi_reference,
)

import undertow as ut


def _numeric(seed, n, shift=0.0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.normal(shift, 1, n), rng.integers(0, 7, n).astype(np.float64)])


def _frame(seed, n, cities=("a", "b", "c")):
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "k": rng.integers(0, 5, n),
            "city": rng.choice(list(cities), n),
        }
    )


def test_update_returns_self_and_counts_rows():
    ref = ut.Reference.fit(_numeric(0, 500))
    acc = ref.accumulator()
    assert acc.rows == 0
    cur = _numeric(1, 300)
    assert acc.update(cur[:100]) is acc
    assert acc.rows == 100
    acc.update(cur[100:])
    assert acc.rows == 300
    other = ref.accumulator().update(cur[:7])
    assert acc.merge(other) is acc
    assert acc.rows == 307


@pytest.mark.parametrize("n_batches", [1, 2, 3, 7, 50])
def test_batches_equal_single_call_numpy(n_batches):
    ref_x = _numeric(2, 2000)
    cur_x = _numeric(3, 1500, shift=0.2)
    ref = ut.Reference.fit(ref_x, bins=9)
    whole = ref.psi(cur_x)
    rng = np.random.default_rng(n_batches)
    cuts = np.sort(rng.choice(np.arange(1, 1500), n_batches - 1, replace=False))
    acc = ref.accumulator()
    for part in np.split(cur_x, cuts):
        acc.update(part)
    assert acc.rows == 1500
    report = acc.finalize()
    assert_reports_identical(report, whole)
    for j, name in enumerate(report.columns):
        assert_psi_matches(report[name], psi_reference(ref_x[:, j], cur_x[:, j], bins=9), check_types=False)


def test_merge_any_order_equals_single_call_polars_mixed():
    ref_df = _frame(4, 1000)
    cur_df = _frame(5, 900, cities=("a", "b", "c", "d"))
    ref = ut.Reference.fit(ref_df, categorical=["k"])
    whole = ref.psi(cur_df)
    parts = [cur_df[i : i + 100] for i in range(0, 900, 100)]
    accs = [ref.accumulator().update(p) for p in parts]
    # left fold
    left = ref.accumulator()
    for a in accs:
        left.merge(a)
    # reversed fold
    right = ref.accumulator()
    for a in reversed(accs):
        right.merge(a)
    # tree of fresh accumulators
    fresh = [ref.accumulator().update(p) for p in parts]
    while len(fresh) > 1:
        fresh = [
            fresh[i].merge(fresh[i + 1]) if i + 1 < len(fresh) else fresh[i] for i in range(0, len(fresh), 2)
        ]
    for acc in (left, right, fresh[0]):
        assert acc.rows == 900
        assert_reports_identical(acc.finalize(), whole)
    want_city = categorical_psi_reference(ref_df["city"].to_list(), cur_df["city"].to_list())
    assert_psi_matches(left.finalize()["city"], want_city, check_types=False, categorical=True)
    want_k = categorical_psi_reference(
        [str(v) for v in ref_df["k"].to_list()], [str(v) for v in cur_df["k"].to_list()]
    )
    assert_psi_matches(left.finalize()["k"], want_k, check_types=False, categorical=True)


def test_unseen_category_only_in_some_batches():
    ref = ut.Reference.fit({"c": ["a", "b", "b"]})
    acc = ref.accumulator()
    acc.update({"c": ["a", "a"]})
    acc.update({"c": ["new", "b"]})
    acc.update({"c": ["other"]})
    col = acc.finalize()["c"]
    np.testing.assert_array_equal(np.asarray(col.actual_counts), [2, 1, 2])
    assert_same_result(col, ref.psi({"c": ["a", "a", "new", "b", "other"]})["c"], categorical=True)


@pytest.mark.parametrize("nan_policy", ["omit", "bin"])
def test_missing_values_across_batches(nan_policy):
    rng = np.random.default_rng(6)
    ref_x = rng.normal(size=(800, 2))
    ref_x[::97, 0] = np.nan
    cur = rng.normal(size=(600, 2))
    cur[::13, 1] = np.inf
    cur[5::41, 0] = np.nan
    ref = ut.Reference.fit(ref_x, nan_policy=nan_policy)
    acc = ref.accumulator()
    for part in np.array_split(cur, 5):
        acc.update(part)
    report = acc.finalize()
    assert_reports_identical(report, ref.psi(cur))
    for j, name in enumerate(report.columns):
        want = psi_reference(ref_x[:, j], cur[:, j], nan_policy=nan_policy)
        assert_psi_matches(report[name], want, check_types=False)


def test_missing_values_raise_in_update_by_default():
    ref = ut.Reference.fit(np.random.default_rng(7).normal(size=(100, 2)))
    acc = ref.accumulator()
    bad = np.ones((3, 2))
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="actual"):
        acc.update(bad)


def test_batch_forms_mix():
    rng = np.random.default_rng(8)
    x = rng.normal(size=600)
    y = rng.normal(0.1, 1, size=600)
    ref = ut.Reference.fit({"x": x})
    acc = ref.accumulator()
    acc.update({"x": y[:200]})
    acc.update(pl.DataFrame({"x": y[200:400]}))
    acc.update({"x": list(y[400:])})
    assert_reports_identical(acc.finalize(), ref.psi({"x": y}))


def test_merge_accumulators_of_different_references_raises():
    x = _numeric(9, 300)
    ref1 = ut.Reference.fit(x)
    ref2 = ut.Reference.fit(x * 2.0)  # same columns, different edges
    ref3 = ut.Reference.fit({"a": x[:, 0], "b": x[:, 1]})
    acc1 = ref1.accumulator().update(x)
    with pytest.raises(ValueError):
        acc1.merge(ref2.accumulator().update(x))
    with pytest.raises(ValueError):
        acc1.merge(ref3.accumulator().update({"a": x[:, 0], "b": x[:, 1]}))
    # the failed merges left acc1 untouched
    assert acc1.rows == 300
    assert_reports_identical(acc1.finalize(), ref1.psi(x))


def test_accumulator_column_mismatch_names_column():
    ref = ut.Reference.fit({"alpha": [1.0, 2.0, 3.0], "beta": [1.0, 2.0, 3.0]})
    acc = ref.accumulator()
    with pytest.raises(ValueError, match="beta"):
        acc.update({"alpha": [1.0]})
    with pytest.raises(ValueError, match="gamma"):
        acc.update({"alpha": [1.0], "beta": [2.0], "gamma": [3.0]})


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 1200),
    n_cuts=st.integers(0, 8),
    dtype=st.sampled_from([np.float64, np.float32]),
    nan_policy=st.sampled_from(["omit", "bin"]),
)
def test_any_split_and_merge_order_property(seed, n, n_cuts, dtype, nan_policy):
    rng = np.random.default_rng(seed)
    ref_x = rng.normal(size=(300, 2)).astype(dtype)
    cur = (rng.normal(size=(n, 2)) * 1.3).astype(dtype)
    cur[rng.random((n, 2)) < 0.05] = np.nan
    cur[0] = [0.5, -0.5]  # at least one finite value per column
    ref = ut.Reference.fit(ref_x, bins=7, nan_policy=nan_policy)
    whole = ref.psi(cur)
    cuts = np.sort(rng.integers(0, n + 1, n_cuts))
    parts = [p for p in np.split(cur, cuts) if len(p)]
    accs = [ref.accumulator().update(p) for p in parts]
    order = rng.permutation(len(accs))
    total = ref.accumulator()
    for i in order:
        total.merge(accs[i])
    assert total.rows == n
    assert_reports_identical(total.finalize(), whole)
    for j, name in enumerate(whole.columns):
        want = psi_reference(ref_x[:, j], cur[:, j], bins=7, nan_policy=nan_policy)
        assert_psi_matches(whole[name], want, check_types=False)
